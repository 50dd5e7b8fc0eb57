//! A handler's answer as the server writes it ([`IntoResponse::into_reply`],
//! `App::call_head`) is the response `into_response` and `oneshot` give,
//! and a plain reply is made only where no middleware is in between.

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, StatusCode};
use percore_http::{Body, Plain, Reply, RequestBody, Service};

use crate::web::test_heads::{add_header, raw_request};
use crate::web::{get, App, Html, HttpError, IntoResponse, Json, Request, Response, Typed};

/// The parts of a response a client sees (a streamed body is not read).
fn seen(resp: Response) -> (StatusCode, HeaderMap, Option<Bytes>) {
    let (parts, body) = resp.into_parts();
    let body = match body {
        Body::Full(b) => Some(b),
        Body::Empty => Some(Bytes::new()),
        Body::Stream(_) => None,
    };
    (parts.status, parts.headers, body)
}

/// The reply of `make`'s value, which must be plain when `plain`,
/// converted back into a response equal to its `into_response`.
fn same<T: IntoResponse>(make: impl Fn() -> T, plain: bool) {
    let reply = make().into_reply();
    assert_eq!(matches!(reply, Reply::Plain(_)), plain, "{reply:?}");
    assert_eq!(seen(reply.into_response()), seen(make().into_response()));
}

#[test]
fn replies_are_the_responses_into_response_gives() {
    same(|| "text", true);
    same(|| String::from("text"), true);
    same(|| Bytes::from_static(b"bytes"), true);
    same(|| b"vec".to_vec(), true);
    same(|| Json(serde_json::json!({"ok": true})), true);
    same(|| Html("<p>hi</p>"), true);
    same(
        || Typed(http::HeaderValue::from_static("text/plain"), "typed"),
        true,
    );
    same(|| (StatusCode::CREATED, "made"), true);
    same(
        || (StatusCode::ACCEPTED, (StatusCode::CREATED, "inner")),
        true,
    );
    same(|| Ok::<_, HttpError>("fine"), true);
    same(|| Err::<&str, _>((StatusCode::IM_A_TEAPOT, "short")), true);
    same(|| StatusCode::NOT_FOUND, true);
    same(|| HttpError::not_found("gone"), false);
    same(|| (), false);
    same(|| Body::from("a body"), false);
    let (sender, stream) = Body::channel(1);
    drop(sender);
    let reply = Html(stream).into_reply();
    assert!(
        matches!(reply, Reply::Response(_)),
        "a streamed body has a map"
    );
    assert_eq!(
        reply.into_response().headers()[CONTENT_TYPE],
        "text/html; charset=utf-8"
    );
}

/// `value`'s response, field by field, against what a client must see:
/// the impls whose `into_response` goes through `into_reply` are checked
/// against fixed values here, not against each other.
fn answers<T: IntoResponse>(value: T, status: StatusCode, content_type: &str, body: &[u8]) {
    let (got_status, headers, got_body) = seen(value.into_response());
    assert_eq!(got_status, status);
    assert_eq!(headers.len(), 1, "{headers:?}");
    assert_eq!(headers[CONTENT_TYPE], content_type);
    assert_eq!(got_body.as_deref(), Some(body));
}

#[test]
fn in_memory_answers_have_their_status_type_and_body() {
    const TEXT: &str = "text/plain; charset=utf-8";
    const BINARY: &str = "application/octet-stream";
    answers("text", StatusCode::OK, TEXT, b"text");
    answers(String::from("text"), StatusCode::OK, TEXT, b"text");
    answers(
        Bytes::from_static(b"bytes"),
        StatusCode::OK,
        BINARY,
        b"bytes",
    );
    answers(b"vec".to_vec(), StatusCode::OK, BINARY, b"vec");
    answers(
        StatusCode::NOT_FOUND,
        StatusCode::NOT_FOUND,
        TEXT,
        b"404 Not Found\n",
    );
    answers(
        (StatusCode::CREATED, "made"),
        StatusCode::CREATED,
        TEXT,
        b"made",
    );
}

#[test]
fn a_value_that_does_not_serialise_answers_500_either_way() {
    let mut map = std::collections::HashMap::new();
    map.insert(vec![1u8], 1u8); // JSON keys must be strings
    let reply = Json(map.clone()).into_reply();
    assert_eq!(reply.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(seen(reply.into_response()), seen(Json(map).into_response()));
}

/// `app`'s answer to `GET path` read as a raw head (as the server calls it).
async fn call(app: &App, path: &str) -> Reply {
    app.call_head(raw_request("GET", path), RequestBody::empty())
        .await
}

#[test]
fn the_server_gets_a_plain_reply_only_where_no_middleware_sees_the_answer() {
    async fn hi(_req: Request) -> &'static str {
        "hi"
    }
    let plain = App::new()
        .route("/", get(hi))
        .route("/mw", get(hi).middleware(add_header))
        .nest("/sub", App::new().route("/", get(hi)))
        .nest(
            "/submw",
            App::new().middleware(add_header).route("/", get(hi)),
        );
    let wrapped = App::new().middleware(add_header).route("/", get(hi));
    crate::rt::Runtime::new().unwrap().block_on(async {
        for path in ["/", "/sub/"] {
            match call(&plain, path).await {
                Reply::Plain(Plain {
                    status,
                    content_type,
                    body,
                }) => {
                    assert_eq!(status, StatusCode::OK);
                    assert_eq!(content_type, "text/plain; charset=utf-8");
                    assert_eq!(body, "hi");
                }
                other => panic!("{path}: {other:?}"),
            }
        }
        for (app, path) in [(&plain, "/mw"), (&plain, "/submw/"), (&wrapped, "/")] {
            match call(app, path).await {
                Reply::Response(resp) => {
                    assert_eq!(resp.headers()["x-seen"], "yes", "{path}");
                    assert_eq!(resp.headers()[CONTENT_TYPE], "text/plain; charset=utf-8");
                }
                other => panic!("{path}: {other:?}"),
            }
        }
        // Unrouted: the 404 as a response.
        let missing = call(&plain, "/nowhere").await;
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
        // `Service::call` (HTTP/2, `oneshot`) always answers a response.
        let resp = plain
            .oneshot(http::Request::get("/").body("").unwrap())
            .await;
        assert_eq!(resp.headers()[CONTENT_TYPE], "text/plain; charset=utf-8");
        assert_eq!(resp.into_body().collect().await.unwrap(), "hi");
    });
}

/// A handler that panics before it returns a future.
struct Explodes;

impl crate::web::Handler for Explodes {
    fn call(&self, _req: Request) -> crate::web::BoxFuture {
        panic!("at start")
    }
}

#[test]
fn a_panic_before_the_future_is_replayed_when_it_is_polled() {
    let app = App::new().route("/", get(Explodes));
    crate::rt::Runtime::new().unwrap().block_on(async {
        // Starting the answer does not panic; polling it does (where the
        // server turns it into a 500), on both `Service` methods.
        let reply = crate::web::testing::catch_unwind(call(&app, "/")).await;
        assert!(reply.is_err());
        let resp = app.oneshot(http::Request::get("/").body("").unwrap()).await;
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    });
}
