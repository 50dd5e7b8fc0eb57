//! Lifecycle hooks: per core (the app's) and process-wide (the server's),
//! on both drivers; shutdown hooks on a real SIGTERM, after the request in
//! flight has finished.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use percore::test::TestServer;
use percore::web::{get, App, AppStateRef, Request};
use percore::{DriverChoice, Server};

#[macro_use]
#[path = "common/mod.rs"]
mod common;

type Events = Arc<Mutex<Vec<String>>>;

fn note(events: &Events, what: impl Into<String>) {
    events.lock().unwrap().push(what.into());
}

/// Each core: a startup hook that sets the state, a cleanup context and a
/// shutdown hook, all noted in `events`.
fn hooked_app(events: &Events) -> App {
    let (e1, e2, e3) = (events.clone(), events.clone(), events.clone());
    App::new()
        .state(std::cell::Cell::new("not started"))
        .on_startup(move |state: AppStateRef| {
            let events = e1.clone();
            async move {
                state.get::<std::cell::Cell<&str>>().unwrap().set("started");
                note(&events, "core startup");
                Ok(())
            }
        })
        .cleanup_ctx(move |_state: AppStateRef| {
            let events = e2.clone();
            async move {
                note(&events, "context set up");
                Ok(move || async move { note(&events, "context cleaned up") })
            }
        })
        .on_shutdown(move |_state: AppStateRef| {
            let events = e3.clone();
            async move {
                note(&events, "core shutdown");
                Ok(())
            }
        })
        .route(
            "/state",
            get(|r: Request| async move { r.state::<std::cell::Cell<&str>>().unwrap().get() }),
        )
        .route(
            "/slow",
            get(|_r: Request| async {
                println!("slow started"); // the SIGTERM test waits for it
                percore::rt::time::sleep(Duration::from_millis(600)).await;
                "slow done"
            }),
        )
}

/// GET `path` from `srv` with `TestClient`, on a runtime of driver `d`:
/// a 200's headers and body.
fn client_get(srv: &TestServer, d: DriverChoice, path: &str) -> (percore::web::HeaderMap, String) {
    let rt = percore::rt::Runtime::builder().driver(d).build().unwrap();
    rt.block_on(async {
        let resp = srv.client().get(path).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let headers = resp.headers().clone();
        (headers, resp.text().await.unwrap())
    })
}

/// GET `path` over a plain socket (from a thread of its own, at a server
/// in another process).
fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    answer
}

both_drivers!(hooks_run_in_order_around_serving, |d: DriverChoice| {
    let events: Events = Arc::default();
    let (core_events, start_events, stop_events) = (events.clone(), events.clone(), events.clone());
    let server = Server::new(move || hooked_app(&core_events))
        .cores(2)
        .driver(d)
        .on_startup(move || async move {
            note(&start_events, "process startup");
            Ok(())
        })
        .on_shutdown(move || async move {
            note(&stop_events, "process shutdown");
            Ok(())
        });
    let srv = TestServer::start_server(server);
    {
        // The process hook first, then each core's (cores interleave).
        let started = events.lock().unwrap().clone();
        assert_eq!(started[0], "process startup");
        let mut per_core = started[1..].to_vec();
        per_core.sort();
        assert_eq!(
            per_core,
            [
                "context set up",
                "context set up",
                "core startup",
                "core startup"
            ]
        );
    }
    assert_eq!(client_get(&srv, d, "/state").1, "started");
    srv.stop().unwrap();
    let all = events.lock().unwrap().clone();
    let stopping = &all[5..];
    assert_eq!(stopping.len(), 5, "{all:?}");
    assert_eq!(stopping[4], "process shutdown");
    // Each core: its shutdown hook, then its cleanup (cores interleave).
    let mut per_core = stopping[..4].to_vec();
    per_core.sort();
    assert_eq!(
        per_core,
        [
            "context cleaned up",
            "context cleaned up",
            "core shutdown",
            "core shutdown"
        ]
    );
    let first_cleanup = stopping
        .iter()
        .position(|e| e == "context cleaned up")
        .unwrap();
    assert!(stopping[..first_cleanup].contains(&"core shutdown".to_string()));
});

both_drivers!(
    a_failing_startup_hook_stops_the_server,
    |d: DriverChoice| {
        let cleaned: Events = Arc::default();
        let c = cleaned.clone();
        let server = Server::new(move || {
            let c = c.clone();
            App::new()
                .cleanup_ctx(move |_s: AppStateRef| {
                    let c = c.clone();
                    async move { Ok(move || async move { note(&c, "cleaned") }) }
                })
                .on_startup(|_s: AppStateRef| async {
                    Err::<(), _>(std::io::Error::other("no database"))
                })
        })
        .bind("127.0.0.1:0")
        .unwrap()
        .cores(1)
        .driver(d)
        .handle_signals(false);
        let err = server.run().unwrap_err();
        assert_eq!(err.to_string(), "no database");
        // The context's setup never ran (startup hooks come first), so no cleanup.
        assert!(cleaned.lock().unwrap().is_empty());
    }
);

both_drivers!(
    a_failing_process_hook_stops_the_server,
    |d: DriverChoice| {
        let err = Server::new(App::new)
            .bind("127.0.0.1:0")
            .unwrap()
            .driver(d)
            .handle_signals(false)
            .on_startup(|| async { Err(std::io::Error::other("bad config")) })
            .run()
            .unwrap_err();
        assert_eq!(err.to_string(), "bad config");
    }
);

/// The child of `sigterm_waits_for_requests_then_runs_shutdown_hooks`: a
/// server that handles signals, printing its events (a no-op otherwise).
#[test]
fn sigterm_child() {
    let Ok(driver) = std::env::var("PERCORE_LIFECYCLE_CHILD") else {
        return;
    };
    let driver = if driver == "epoll" {
        DriverChoice::Epoll
    } else {
        DriverChoice::Uring
    };
    let events: Events = Arc::default();
    let (core_events, printed) = (events.clone(), events.clone());
    Server::new(move || {
        let events = core_events.clone();
        hooked_app(&events).on_shutdown(move |_s: AppStateRef| {
            let events = events.clone();
            async move {
                for e in events.lock().unwrap().iter() {
                    println!("event: {e}");
                }
                Ok(())
            }
        })
    })
    .bind("127.0.0.1:0")
    .unwrap()
    .cores(1)
    .driver(driver)
    .on_ready(|info| println!("ready {}", info.addr))
    .on_shutdown(move || async move {
        println!(
            "event: process shutdown after {} events",
            printed.lock().unwrap().len()
        );
        Ok(())
    })
    .run()
    .unwrap();
}

both_drivers!(
    sigterm_waits_for_requests_then_runs_shutdown_hooks,
    |d: DriverChoice| {
        let driver = if d == DriverChoice::Epoll {
            "epoll"
        } else {
            "uring"
        };
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "sigterm_child",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("PERCORE_LIFECYCLE_CHILD", driver)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        // A child that hangs is killed after 60 s, so the test fails instead.
        let pid = child.id().to_string();
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let watched = done.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(60));
            if !watched.load(std::sync::atomic::Ordering::SeqCst) {
                let _ = Command::new("kill").args(["-KILL", &pid]).status();
            }
        });
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let addr = loop {
            let line = lines
                .next()
                .expect("the child printed its address")
                .unwrap();
            // libtest's "test sigterm_child ... " may precede it on the line.
            if let Some((_, addr)) = line.split_once("ready ") {
                break addr.trim().parse().unwrap();
            }
        };
        let slow = std::thread::spawn(move || http_get(addr, "/slow"));
        // SIGTERM once the request is in its handler (not before it is accepted).
        loop {
            let line = lines.next().expect("the child handles /slow").unwrap();
            if line.contains("slow started") {
                break;
            }
        }
        let killed = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        assert!(
            slow.join().unwrap().ends_with("slow done"),
            "the request in flight finished"
        );
        let events: Vec<String> = lines
            .map_while(Result::ok)
            .filter_map(|l| l.strip_prefix("event: ").map(str::to_owned))
            .collect();
        let status = child.wait().unwrap();
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        assert!(status.success(), "{status:?}");
        assert_eq!(
            events,
            [
                "core startup",
                "context set up",
                "core shutdown",
                "process shutdown after 4 events"
            ]
        );
    }
);

/// A plugin that brings state, a startup hook, a middleware and a route.
struct Greeter;

impl percore::web::Plugin for Greeter {
    fn install(self, app: App) -> App {
        async fn stamp(req: Request, next: percore::web::Next) -> percore::web::Response {
            let mut resp = next.run(req).await;
            resp.headers_mut().insert("x-greeter", "1".parse().unwrap());
            resp
        }
        app.state(std::cell::RefCell::new(String::new()))
            .on_startup(|state: AppStateRef| async move {
                *state
                    .get::<std::cell::RefCell<String>>()
                    .unwrap()
                    .borrow_mut() = "hello".into();
                Ok(())
            })
            .middleware(stamp)
            .route(
                "/greet",
                get(|r: Request| async move {
                    r.state::<std::cell::RefCell<String>>()
                        .unwrap()
                        .borrow()
                        .clone()
                }),
            )
    }
}

both_drivers!(
    a_plugin_adds_state_hooks_middleware_and_routes,
    |d: DriverChoice| {
        let srv = TestServer::start_server(
            Server::new(|| App::new().plugin(Greeter))
                .cores(1)
                .driver(d),
        );
        let (headers, body) = client_get(&srv, d, "/greet");
        assert_eq!(headers["x-greeter"], "1");
        assert_eq!(body, "hello");
    }
);
