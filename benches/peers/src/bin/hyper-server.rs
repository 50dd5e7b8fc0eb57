//! hyper 1.x serving the demo's routes (HTTP/1.1 and h2c prior knowledge),
//! one pinned current_thread runtime per core with SO_REUSEPORT — hyper's
//! best per-core form. `/ws` echoes with tokio-tungstenite on hyper's
//! upgrade, as hyper users serve WebSocket.

use std::convert::Infallible;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;

type Body = BoxBody<Bytes, hyper::Error>;

fn full(b: &'static [u8], ct: &'static str) -> Response<Body> {
    let mut r = Response::new(
        Full::new(Bytes::from_static(b))
            .map_err(|e: Infallible| match e {})
            .boxed(),
    );
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(ct));
    r
}

/// Answers a WebSocket upgrade with 101 and echoes on the upgraded stream.
fn websocket(mut req: Request<Incoming>) -> Response<Body> {
    use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
    use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
    let Some(key) = req.headers().get("sec-websocket-key") else {
        let mut r = full(b"not a websocket request", "text/plain");
        *r.status_mut() = StatusCode::BAD_REQUEST;
        return r;
    };
    let accept = derive_accept_key(key.as_bytes());
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let config = WebSocketConfig::default().max_message_size(Some(64 << 20));
        let mut ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
            TokioIo::new(upgraded),
            Role::Server,
            Some(config),
        )
        .await;
        while let Some(Ok(msg)) = ws.next().await {
            if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
                return;
            }
        }
    });
    let mut r = Response::new(
        Full::new(Bytes::new())
            .map_err(|e: Infallible| match e {})
            .boxed(),
    );
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    h.insert("upgrade", HeaderValue::from_static("websocket"));
    h.insert("connection", HeaderValue::from_static("upgrade"));
    h.insert(
        "sec-websocket-accept",
        HeaderValue::from_str(&accept).unwrap(),
    );
    r
}

async fn route(req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    Ok(match (req.method(), req.uri().path()) {
        (&Method::GET, "/ws") => websocket(req),
        (&Method::GET, "/plaintext") => full(b"Hello, World!", "text/plain"),
        (&Method::GET, "/json") => {
            let body =
                serde_json::to_vec(&serde_json::json!({"message": "Hello, World!"})).unwrap();
            let mut r = Response::new(
                Full::new(Bytes::from(body))
                    .map_err(|e: Infallible| match e {})
                    .boxed(),
            );
            r.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            r
        }
        (&Method::POST, "/echo") => {
            let ct = req.headers().get(CONTENT_TYPE).cloned();
            let mut r = Response::new(req.into_body().boxed());
            if let Some(ct) = ct {
                r.headers_mut().insert(CONTENT_TYPE, ct);
            }
            r
        }
        _ => {
            let mut r = full(b"not found", "text/plain");
            *r.status_mut() = StatusCode::NOT_FOUND;
            r
        }
    })
}

#[derive(Clone, Copy)]
struct LocalExec;

impl<F: std::future::Future + 'static> hyper::rt::Executor<F> for LocalExec {
    fn execute(&self, fut: F) {
        tokio::task::spawn_local(fut);
    }
}

fn main() {
    let a = percore_bench_peers::args("127.0.0.1:8080");
    let addr = a.listen;
    let multi = a.rest.iter().any(|r| r == "--multi-thread");
    if multi {
        // hyper's default form: one listener on tokio's multi-thread runtime.
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(a.cores)
            .enable_all()
            .build()
            .unwrap();
        println!(
            "listening on {addr} (cores: {}, hyper multi-thread)",
            a.cores
        );
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
            loop {
                let (s, _) = listener.accept().await.unwrap();
                s.set_nodelay(true).unwrap();
                tokio::spawn(async move {
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection_with_upgrades(
                            TokioIo::new(s),
                            hyper::service::service_fn(route),
                        )
                        .await;
                });
            }
        });
        return;
    }
    println!(
        "listening on {addr} (cores: {}, hyper per-core current_thread)",
        a.cores
    );
    percore_bench_peers::per_core(a.cores, move |_| async move {
        let local = tokio::task::LocalSet::new();
        local
            .run_until(async move {
                let listener = tokio::net::TcpListener::from_std(
                    percore_bench_peers::reuseport_listener(addr),
                )
                .unwrap();
                loop {
                    let (s, _) = listener.accept().await.unwrap();
                    s.set_nodelay(true).unwrap();
                    tokio::task::spawn_local(async move {
                        let _ = auto::Builder::new(LocalExec)
                            .serve_connection_with_upgrades(
                                TokioIo::new(s),
                                hyper::service::service_fn(route),
                            )
                            .await;
                    });
                }
            })
            .await;
    });
}
