//! A connection's slot for its handler's future: reused while requests
//! keep coming to one route, replaced when they go to another, emptied
//! when a request is dropped or panics, and not used where it must not be
//! (middleware, handlers without one).

use std::cell::Cell;
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::rc::Rc;
use std::task::Poll;

use bytes::Bytes;
use http::StatusCode;
use percore_http::h1::RawHead;
use percore_http::{ConnState, Reply, RequestBody, Service};

use super::{LastRoute, ReplySlot};
use crate::web::test_heads::{add_header, raw_request};
use crate::web::testing::catch_unwind;
use crate::web::{get, App, BoxFuture, Handler, Request, Response};

fn head(path: &str) -> RawHead {
    raw_request("GET", path)
}

/// `app`'s answer to `GET path` on the connection that keeps `conn`.
async fn call(app: &App, conn: &mut ConnState, path: &str) -> Reply {
    app.call_head_in(conn, head(path), RequestBody::empty())
        .await
}

/// A reply's status and body (an in-memory one).
async fn seen(reply: Reply) -> (StatusCode, Bytes) {
    let resp = reply.into_response();
    let status = resp.status();
    (status, resp.into_body().collect().await.expect("in memory"))
}

/// Where the connection's slot is, and whose it is.
fn kept(conn: &mut ConnState) -> Option<(*const (), *const ())> {
    let slot = conn.get_mut::<LastRoute>()?.slot()?;
    Some(((slot as *const dyn ReplySlot).cast::<()>(), slot.handler()))
}

fn run(test: impl Future<Output = ()>) {
    crate::rt::Runtime::new().unwrap().block_on(test);
}

/// Handlers answering their name.
async fn a(_req: Request) -> &'static str {
    "a"
}

async fn b(_req: Request) -> &'static str {
    "b"
}

#[test]
fn requests_to_one_route_reuse_its_slot_and_another_route_replaces_it() {
    let app = App::new().route("/a", get(a)).route(
        "/b",
        get(|req: Request| async move { format!("b {}", req.query_string().unwrap_or("")) }),
    );
    run(async {
        let mut conn = ConnState::default();
        assert!(kept(&mut conn).is_none());
        assert_eq!(seen(call(&app, &mut conn, "/a").await).await.1, "a");
        let first = kept(&mut conn).expect("a slot for /a");
        for _ in 0..3 {
            assert_eq!(seen(call(&app, &mut conn, "/a").await).await.1, "a");
            assert_eq!(kept(&mut conn), Some(first), "the same slot, reused");
        }
        // Alternating routes: each request answered by its own handler.
        for i in 0..4 {
            let b = call(&app, &mut conn, &format!("/b?{i}")).await;
            assert_eq!(seen(b).await.1, format!("b {i}"));
            let on_b = kept(&mut conn).expect("a slot for /b");
            assert_ne!(on_b.1, first.1, "another handler's slot");
            assert_eq!(seen(call(&app, &mut conn, "/a").await).await.1, "a");
            assert_eq!(kept(&mut conn).map(|k| k.1), Some(first.1));
        }
        // Unrouted requests do not touch the slot.
        let missing = call(&app, &mut conn, "/nowhere").await;
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
        assert_eq!(kept(&mut conn).map(|k| k.1), Some(first.1));
    });
}

/// Counts its drops.
struct Guard(Rc<Cell<u32>>);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

#[test]
fn a_handler_that_waits_is_polled_in_the_slot_and_a_dropped_request_empties_it() {
    let drops = Rc::new(Cell::new(0));
    let counted = drops.clone();
    let app = App::new().route(
        "/wait",
        get(move |req: Request| {
            let guard = Guard(counted.clone());
            async move {
                match req.query_string() {
                    Some("forever") => std::future::pending::<()>().await,
                    Some(n) => {
                        for _ in 0..n.parse::<u32>().unwrap() {
                            crate::rt::yield_now().await;
                        }
                    }
                    None => {}
                }
                drop(guard);
                "done"
            }
        }),
    );
    run(async {
        let mut conn = ConnState::default();
        // Pending twice, then ready: polled where it was started.
        assert_eq!(seen(call(&app, &mut conn, "/wait?2").await).await.1, "done");
        assert_eq!(drops.get(), 1);
        let slot = kept(&mut conn).expect("a slot");
        {
            let mut waiting = pin!(call(&app, &mut conn, "/wait?forever"));
            let polled = poll_fn(|cx| Poll::Ready(waiting.as_mut().poll(cx).is_pending())).await;
            assert!(polled, "the handler waits");
            assert_eq!(drops.get(), 1, "its future is alive in the slot");
        }
        // The request was dropped before its answer: its future too, now,
        // not when the slot is next used.
        assert_eq!(drops.get(), 2);
        assert_eq!(kept(&mut conn), Some(slot), "the slot stays");
        assert_eq!(seen(call(&app, &mut conn, "/wait").await).await.1, "done");
        assert_eq!(drops.get(), 3);
        assert_eq!(kept(&mut conn), Some(slot), "and is used again");
        drop(conn);
        assert_eq!(drops.get(), 3);
    });
}

#[test]
fn a_handler_that_panics_leaves_a_slot_the_next_request_can_use() {
    let app = App::new().route(
        "/p",
        get(|req: Request| {
            // A panic before the future exists (replayed when polled) ...
            assert_ne!(req.query_string(), Some("early"), "early panic");
            async move {
                // ... and one while it is polled.
                assert_ne!(req.query_string(), Some("late"), "late panic");
                "fine"
            }
        }),
    );
    run(async {
        let mut conn = ConnState::default();
        assert_eq!(seen(call(&app, &mut conn, "/p").await).await.1, "fine");
        let slot = kept(&mut conn).expect("a slot");
        for (query, message) in [("late", "late panic"), ("early", "early panic")] {
            let panicked = catch_unwind(call(&app, &mut conn, &format!("/p?{query}")))
                .await
                .expect_err("a panic");
            let text = panicked
                .downcast_ref::<String>()
                .map(String::as_str)
                .unwrap_or_default();
            assert!(text.contains(message), "{text}");
            // A fresh future for the next request, not the one that panicked.
            assert_eq!(seen(call(&app, &mut conn, "/p").await).await.1, "fine");
            assert_eq!(kept(&mut conn), Some(slot));
        }
    });
}

/// A handler of its own, without a slot.
struct Custom;

impl Handler for Custom {
    fn call(&self, _req: Request) -> BoxFuture {
        Box::pin(async { Response::new("custom".into()) })
    }
}

#[test]
fn handlers_without_a_slot_and_middleware_are_answered_as_before() {
    async fn plain(_req: Request) -> &'static str {
        "plain"
    }
    let app = App::new()
        .route("/plain", get(plain))
        .route("/custom", get(Custom))
        .route("/mw", get(plain).middleware(add_header))
        .nest("/sub", App::new().route("/", get(plain)));
    let wrapped = App::new().middleware(add_header).route("/", get(plain));
    run(async {
        let mut conn = ConnState::default();
        assert!(matches!(
            call(&app, &mut conn, "/plain").await,
            Reply::Plain(_)
        ));
        let slot = kept(&mut conn).expect("a slot");
        for _ in 0..2 {
            let custom = call(&app, &mut conn, "/custom").await;
            assert_eq!(seen(custom).await.1, "custom");
            match call(&app, &mut conn, "/mw").await {
                Reply::Response(resp) => assert_eq!(resp.headers()["x-seen"], "yes"),
                other => panic!("{other:?}"),
            }
            assert_eq!(seen(call(&app, &mut conn, "/sub/").await).await.1, "plain");
            // The route with a slot keeps it across those.
            assert_eq!(kept(&mut conn), Some(slot));
            assert_eq!(seen(call(&app, &mut conn, "/plain").await).await.1, "plain");
            assert_eq!(kept(&mut conn), Some(slot));
        }
        // App middleware sees every answer: no slot is made.
        let mut conn = ConnState::default();
        match call(&wrapped, &mut conn, "/").await {
            Reply::Response(resp) => assert_eq!(resp.headers()["x-seen"], "yes"),
            other => panic!("{other:?}"),
        }
        assert!(kept(&mut conn).is_none());
    });
}

/// `app`'s answer to `method path` on the connection that keeps `conn`.
async fn call_as(app: &App, conn: &mut ConnState, method: &str, path: &str) -> (StatusCode, Bytes) {
    let head = raw_request(method, path);
    seen(app.call_head_in(conn, head, RequestBody::empty()).await).await
}

/// Whether the connection would take `method path` to its slot without
/// routing it.
fn cached(conn: &mut ConnState, method: http::Method, path: &str) -> bool {
    conn.get_mut::<LastRoute>().is_some_and(|last| {
        last.owner
            .is_some_and(|owner| last.routed(owner, &method, path.as_bytes()))
    })
}

#[test]
fn a_request_like_the_last_goes_where_it_went_and_any_other_is_routed() {
    use http::Method;
    async fn echo(req: Request) -> String {
        format!(
            "{} {} {:?} {}",
            req.method(),
            req.path(),
            req.query_string(),
            req.param("id").unwrap_or("-")
        )
    }
    let shared = get(echo).post(echo);
    let app = App::new()
        .route("/x", shared.clone())
        .route("/y", shared)
        .route("/g", get(echo))
        .route("/u/{id}", get(echo));
    run(async {
        let mut conn = ConnState::default();
        let ok = |body: &str| (StatusCode::OK, Bytes::from(body.to_string()));
        assert_eq!(
            call_as(&app, &mut conn, "GET", "/x").await,
            ok("GET /x None -")
        );
        assert!(cached(&mut conn, Method::GET, "/x"));
        // The same path and method with a query: the same route.
        let again = call_as(&app, &mut conn, "GET", "/x?q=1").await;
        assert_eq!(again, ok("GET /x Some(\"q=1\") -"));
        // Another path to the same handler, another method on that path.
        assert_eq!(
            call_as(&app, &mut conn, "GET", "/y").await,
            ok("GET /y None -")
        );
        assert!(cached(&mut conn, Method::GET, "/y") && !cached(&mut conn, Method::GET, "/x"));
        assert_eq!(
            call_as(&app, &mut conn, "POST", "/y").await,
            ok("POST /y None -")
        );
        assert_eq!(
            call_as(&app, &mut conn, "GET", "/x").await,
            ok("GET /x None -")
        );
        // A method the route does not take is still refused after a hit.
        assert_eq!(
            call_as(&app, &mut conn, "GET", "/g").await,
            ok("GET /g None -")
        );
        let refused = call_as(&app, &mut conn, "DELETE", "/g").await;
        assert_eq!(refused.0, StatusCode::METHOD_NOT_ALLOWED);
        // HEAD finds the GET handler, and again from the kept route.
        for _ in 0..2 {
            assert_eq!(
                call_as(&app, &mut conn, "HEAD", "/g").await,
                ok("HEAD /g None -")
            );
        }
        assert!(cached(&mut conn, Method::HEAD, "/g"));
        // A route with parameters is routed every time.
        for id in ["1", "2", "1"] {
            let path = format!("/u/{id}");
            let want = format!("GET {path} None {id}");
            assert_eq!(call_as(&app, &mut conn, "GET", &path).await, ok(&want));
            assert!(!cached(&mut conn, Method::GET, &path));
        }
        let missing = call_as(&app, &mut conn, "GET", "/nowhere").await;
        assert_eq!(missing.0, StatusCode::NOT_FOUND);
    });
}

#[test]
fn a_connection_shared_by_two_apps_takes_each_request_to_its_own_app() {
    let first = App::new().route("/x", get(a));
    let second = App::new().route("/x", get(b));
    run(async {
        let mut conn = ConnState::default();
        for _ in 0..2 {
            assert_eq!(call_as(&first, &mut conn, "GET", "/x").await.1, "a");
            assert_eq!(call_as(&second, &mut conn, "GET", "/x").await.1, "b");
        }
    });
}

#[test]
fn apps_never_share_an_id() {
    // Made on several threads at once, and one after another where the
    // last was freed: every id differs.
    let threads: Vec<_> = (0..4)
        .map(|_| std::thread::spawn(|| (0..200).map(|_| App::new().id()).collect::<Vec<_>>()))
        .collect();
    let ids: Vec<_> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let distinct: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(distinct.len(), ids.len());
}

#[test]
fn a_kept_route_is_not_taken_by_an_app_made_where_a_freed_one_was() {
    run(async {
        let mut conn = ConnState::default();
        let mut same_place = 0;
        for _ in 0..8 {
            let first = App::new().route("/x", get(a));
            assert_eq!(call_as(&first, &mut conn, "GET", "/x").await.1, "a");
            let (place, id) = (first.core_address(), first.id());
            drop(first);
            // The connection still keeps the freed app's route (and its
            // handler); a new app may be made at the same address.
            let second = App::new().route("/x", get(b));
            same_place += usize::from(second.core_address() == place);
            assert_ne!(second.id(), id);
            assert_eq!(call_as(&second, &mut conn, "GET", "/x").await.1, "b");
        }
        // (Otherwise this test would not show what it is for.)
        assert!(same_place > 0, "no app was made where a freed one was");
    });
}

/// A path up to `KEPT_PATH_MAX` bytes is kept for the next request; a
/// longer one is routed every time (a connection keeps no more than that
/// many bytes of a path), and both are answered by their route.
#[test]
fn only_paths_up_to_the_bound_are_kept() {
    use http::Method;
    let longest = format!("/{}", "k".repeat(super::KEPT_PATH_MAX - 1));
    let too_long = format!("/{}", "l".repeat(super::KEPT_PATH_MAX));
    let app = App::new()
        .route(&longest, get(|_req: Request| async { "kept" }))
        .route(&too_long, get(|_req: Request| async { "routed" }));
    run(async {
        let mut conn = ConnState::default();
        for _ in 0..2 {
            let answer = call_as(&app, &mut conn, "GET", &longest).await;
            assert_eq!(answer, (StatusCode::OK, Bytes::from_static(b"kept")));
            assert!(cached(&mut conn, Method::GET, &longest));
        }
        for _ in 0..2 {
            let answer = call_as(&app, &mut conn, "GET", &too_long).await;
            assert_eq!(answer, (StatusCode::OK, Bytes::from_static(b"routed")));
            assert!(!cached(&mut conn, Method::GET, &too_long));
            assert!(!cached(&mut conn, Method::GET, &longest));
        }
        let kept_bytes = conn.get_mut::<LastRoute>().map(|last| last.path.len());
        assert!(
            kept_bytes.is_some_and(|n| n <= super::KEPT_PATH_MAX),
            "{kept_bytes:?}"
        );
    });
}
