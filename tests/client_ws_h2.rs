//! percore's WebSocket client over HTTP/2 (RFC 8441 extended CONNECT), on
//! both drivers, against percore's server (the demo app's `/ws` echo):
//! h2c with prior knowledge (deflate on and off, messages larger than the
//! 64 KiB windows), two WebSockets and a GET multiplexed on one TCP
//! connection, TLS with ALPN `h2` (the demo binary's `--tls-self-signed`),
//! a server that does not offer extended CONNECT (fallback to HTTP/1.1
//! by default, a clear error when HTTP/2 was required), and a server
//! nobody here wrote: Node's `http2` (nghttp2) with
//! `enableConnectProtocol`, Node `ws` on each stream
//! (`tests/node/ws_h2_server.js`). nghttpd does not offer
//! SETTINGS_ENABLE_CONNECT_PROTOCOL, so it cannot be that peer.

mod common;
#[path = "client_raw/mod.rs"]
mod raw;

use common::{start_demo, TestServer};
use http::Version;
use percore::client::{Client, ErrorKind};
use percore::ws::Message;
use percore::{DriverChoice, Limits};
use raw::runtime;
use raw::ws::{close_from_client, echo_round_trips, next_data};

fn driver_name(d: DriverChoice) -> &'static str {
    match d {
        DriverChoice::Epoll => "epoll",
        _ => "uring",
    }
}

/// TCP connections of this process to `127.0.0.1:port` that are
/// established (from `/proc/self/net/tcp`: the server never sees them
/// from here, so this counts the client's own).
fn established_to(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/self/net/tcp").unwrap();
    let remote = format!("0100007F:{port:04X}");
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            cols.get(2) == Some(&remote.as_str()) && cols.get(3) == Some(&"01")
        })
        .count()
}

/// The `/ws` URL of the in-process server, as `ws://`.
fn ws_url(srv: &TestServer) -> String {
    srv.url("/ws").replacen("http://", "ws://", 1)
}

fn port_of(url: &str) -> u16 {
    percore::client::Url::parse(url).unwrap().port().unwrap()
}

/// h2c with prior knowledge: the echo session over one HTTP/2 stream, and
/// the connection it ran on shared with a GET.
fn h2c_session(d: DriverChoice, deflate: bool) {
    let srv = TestServer::start(d);
    let url = ws_url(&srv);
    let port = port_of(&url);
    runtime(d).block_on(async move {
        let client = Client::builder().http2_prior_knowledge().build().unwrap();
        let mut ws = client.ws(&url).deflate(deflate).connect().await.unwrap();
        // 70 KB texts and 1 MiB binaries: more than a 64 KiB window each way.
        echo_round_trips(&mut ws).await;
        let page = client.get(srv.url("/")).send().await.unwrap();
        assert_eq!(page.version(), Version::HTTP_2);
        assert!(page.status().is_success());
        assert_eq!(
            established_to(port),
            1,
            "the WebSocket shares the GET's connection"
        );
        close_from_client(ws).await;
    });
}

both_drivers!(h2c_prior_knowledge_with_deflate, |d| h2c_session(d, true));

both_drivers!(h2c_prior_knowledge_without_deflate, |d| h2c_session(
    d, false
));

both_drivers!(two_websockets_and_a_get_share_one_connection, |d| {
    let srv = TestServer::start(d);
    let url = ws_url(&srv);
    let port = port_of(&url);
    runtime(d).block_on(async move {
        let client = Client::new();
        let mut a = client
            .ws(&url)
            .http2(true)
            .deflate(true)
            .connect()
            .await
            .unwrap();
        let mut b = client.ws(&url).http2(true).connect().await.unwrap();
        let page = client
            .get(srv.url("/"))
            .http2_prior_knowledge()
            .send()
            .await
            .unwrap();
        assert_eq!(page.version(), Version::HTTP_2);
        // Interleaved: each stream gets its own messages back.
        for i in 0..50 {
            a.send(Message::text(format!("a{i}"))).await.unwrap();
            b.send(Message::text(format!("b{i}"))).await.unwrap();
        }
        for i in 0..50 {
            assert_eq!(next_data(&mut a).await, Message::text(format!("a{i}")));
            assert_eq!(next_data(&mut b).await, Message::text(format!("b{i}")));
        }
        assert_eq!(established_to(port), 1);
        assert_eq!(client.pool_stats().connections, 1);
        close_from_client(a).await;
        // The other stream goes on after the first one ended.
        b.send(Message::text("still here")).await.unwrap();
        assert_eq!(next_data(&mut b).await, Message::text("still here"));
        close_from_client(b).await;
    });
});

both_drivers!(over_tls_h2_by_alpn, |d: DriverChoice| {
    let (_demo, addr) = start_demo(driver_name(d), &["--tls-self-signed"]);
    let base = format!("https://localhost:{}", addr.port());
    let url = format!("wss://localhost:{}/ws", addr.port());
    runtime(d).block_on(async move {
        let client = Client::builder()
            .danger_accept_invalid_certs(true)
            .build()
            .unwrap();
        // Asked for before any request: the pool's connection chooses h2.
        let mut ws = client
            .ws(&url)
            .http2(true)
            .deflate(true)
            .connect()
            .await
            .unwrap();
        assert!(ws.send(Message::text("over h2")).await.is_ok());
        assert_eq!(next_data(&mut ws).await, Message::text("over h2"));
        let page = client.get(format!("{base}/")).send().await.unwrap();
        assert_eq!(page.version(), Version::HTTP_2);
        // By default too, now that the origin is known to speak h2.
        let mut auto = client.ws(&url).connect().await.unwrap();
        echo_round_trips(&mut auto).await;
        assert_eq!(established_to(addr.port()), 1);
        close_from_client(auto).await;
        close_from_client(ws).await;
    });
});

both_drivers!(server_without_extended_connect, |d: DriverChoice| {
    let srv = TestServer::with_limits(d, Limits::default().h2_enable_connect_protocol(false));
    let url = ws_url(&srv);
    let port = port_of(&url);
    runtime(d).block_on(async move {
        let client = Client::builder().http2_prior_knowledge().build().unwrap();
        // Required: a clear handshake error, nothing sent.
        let err = client.ws(&url).http2(true).connect().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Handshake, "{err}");
        assert!(
            err.to_string().contains("SETTINGS_ENABLE_CONNECT_PROTOCOL"),
            "{err}"
        );
        // Automatic: HTTP/1.1 on a connection of its own.
        let mut ws = client.ws(&url).deflate(true).connect().await.unwrap();
        echo_round_trips(&mut ws).await;
        assert_eq!(
            established_to(port),
            2,
            "the HTTP/2 one and the WebSocket's"
        );
        close_from_client(ws).await;
    });
});

/// Node's HTTP/2 server (nghttp2) offering extended CONNECT, with Node
/// `ws` on each stream: a server nobody here wrote. The client speaks h2c
/// with prior knowledge; the server speaks nothing else, so a fallback to
/// HTTP/1.1 could not pass.
fn node_h2_session(d: DriverChoice, mode: &str, deflate: bool) {
    let mut cmd = std::process::Command::new("node");
    cmd.current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/node"))
        .args(["ws_h2_server.js", mode]);
    let h2c = || Client::builder().http2_prior_knowledge().build().unwrap();
    raw::ws::session_at(d, cmd, deflate, h2c, |addr| format!("ws://{addr}/chat"));
}

both_drivers!(node_http2_server_with_deflate, |d| node_h2_session(
    d, "compress", true
));

both_drivers!(node_http2_server_without_deflate, |d| node_h2_session(
    d, "plain", false
));

both_drivers!(refused_extended_connect_is_a_handshake_error, |d| {
    let mut srv = TestServer::start(d);
    let port = port_of(&srv.url("/"));
    let url = format!("ws://127.0.0.1:{port}/no-such-route");
    let (page_url, echo_url) = (srv.url("/"), ws_url(&srv));
    let server = &srv;
    runtime(d).block_on(async move {
        let client = Client::builder().http2_prior_knowledge().build().unwrap();
        let err = client.ws(&url).connect().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Handshake, "{err}");
        assert!(
            err.to_string().contains("404 Not Found instead of 2xx"),
            "{err}"
        );
        // The refused stream is gone; the connection goes on.
        let page = client.get(page_url).send().await.unwrap();
        assert_eq!(page.version(), Version::HTTP_2);
        let mut ws = client.ws(echo_url).connect().await.unwrap();
        ws.send(Message::text("after")).await.unwrap();
        assert_eq!(next_data(&mut ws).await, Message::text("after"));
        assert_eq!(established_to(port), 1);
        close_from_client(ws).await;
        // The refused stream was reset, not left half open: a graceful
        // shutdown closes the idle connection at once instead of waiting
        // for that stream until its deadline (5 s).
        server.trigger_shutdown();
        let until = std::time::Instant::now() + std::time::Duration::from_secs(2);
        while established_to(port) > 0 {
            assert!(
                std::time::Instant::now() < until,
                "a stream kept the connection open"
            );
            percore::rt::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    });
    srv.join(std::time::Duration::from_secs(2));
});
