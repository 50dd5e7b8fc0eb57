//! The client over TLS (`https://`), on both drivers, against real
//! servers: percore's demo with a certificate from a test CA (HTTP/2 and
//! HTTP/1.1 chosen by ALPN, custom CA, no CA, a wrong host name, the
//! opt-out, a stalled handshake within the connect timeout), OpenSSL's
//! `s_server` requiring a client certificate (mTLS), and the `fetch`
//! example's `--cacert` and `--insecure`.

mod common;
#[path = "client_raw/mod.rs"]
mod raw;

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::pki::Pki;
use common::{example_binary, listening_addr, start_listening, Running};
use http::Version;
use percore::client::{Client, ErrorKind, TimeoutKind};
use percore::rt::spawn_local;
use percore::tls::rustls::{CertificateError, Error as TlsError};
use percore::DriverChoice;
use raw::runtime;

fn driver_name(d: DriverChoice) -> &'static str {
    match d {
        DriverChoice::Epoll => "epoll",
        _ => "uring",
    }
}

/// The demo serving TLS with the test CA's certificate for `localhost`.
fn demo_tls(d: DriverChoice, pki: &Pki) -> (Running, SocketAddr) {
    let mut cmd = Command::new(example_binary("demo"));
    cmd.args(["--listen", "127.0.0.1:0", "--cores", "1", "--driver"])
        .arg(driver_name(d))
        .arg("--tls-cert")
        .arg(pki.path("cert.pem"))
        .arg("--tls-key")
        .arg(pki.path("key.pem"));
    let (running, line) = start_listening(&mut cmd);
    assert!(line.contains("https://"), "{line}");
    (running, listening_addr(&line))
}

/// A client trusting the test CA.
fn trusting(pki: &Pki) -> percore::client::ClientBuilder {
    Client::builder().add_root_certificate(&pki.pem("ca.pem"))
}

both_drivers!(demo_h2_and_http1_by_alpn, |d| {
    let pki = Pki::new();
    let (_demo, addr) = demo_tls(d, &pki);
    let base = format!("https://localhost:{}", addr.port());
    runtime(d).block_on(async move {
        // ALPN chooses h2: concurrent requests share one connection, the
        // first ones too (they wait for the first connection's choice).
        let client = trusting(&pki).build().unwrap();
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let (client, url) = (client.clone(), format!("{base}/echo"));
                spawn_local(async move {
                    let resp = client.post(url).body(format!("body {i}")).send().await?;
                    assert_eq!(resp.version(), Version::HTTP_2);
                    resp.text().await
                })
            })
            .collect();
        for (i, t) in tasks.into_iter().enumerate() {
            assert_eq!(t.await.unwrap().unwrap(), format!("body {i}"));
        }
        assert_eq!(
            client.pool_stats().connections,
            1,
            "one multiplexed connection"
        );
        let again = client
            .get(format!("{base}/plaintext"))
            .send()
            .await
            .unwrap();
        assert_eq!(again.version(), Version::HTTP_2);
        assert_eq!(again.text().await.unwrap(), "Hello, World!");
        assert_eq!(client.pool_stats().connections, 1);
        // A large body both ways over TLS.
        let big: Vec<u8> = (0..3 << 20).map(|i: u32| (i % 253) as u8).collect();
        let resp = client
            .post(format!("{base}/echo"))
            .body(big.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.bytes().await.unwrap(), big);

        // Offering http/1.1 only: HTTP/1.1, the connection kept alive.
        let h1 = trusting(&pki).http1_only().build().unwrap();
        for _ in 0..3 {
            let resp = h1.get(format!("{base}/plaintext")).send().await.unwrap();
            assert_eq!(resp.version(), Version::HTTP_11);
            assert_eq!(resp.text().await.unwrap(), "Hello, World!");
        }
        let stats = h1.pool_stats();
        assert_eq!((stats.connections, stats.idle), (1, 1), "keep-alive reuse");
        let resp = h1
            .post(format!("{base}/echo"))
            .body(big.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.bytes().await.unwrap(), big);
    });
});

both_drivers!(demo_verification_errors_and_opt_out, |d| {
    let pki = Pki::new();
    let (_demo, addr) = demo_tls(d, &pki);
    let port = addr.port();
    runtime(d).block_on(async move {
        // Only the built-in roots: the test CA is unknown.
        let err = Client::new()
            .get(format!("https://localhost:{port}/"))
            .send()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
        assert!(
            matches!(
                err.tls(),
                Some(TlsError::InvalidCertificate(
                    CertificateError::UnknownIssuer
                ))
            ),
            "{err}"
        );
        assert!(err.to_string().starts_with("TLS error"), "{err}");

        // The same through the HTTP/2 pool (prior knowledge over TLS).
        let h2 = Client::builder().http2_prior_knowledge().build().unwrap();
        let err = h2
            .get(format!("https://localhost:{port}/"))
            .send()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
        assert!(
            matches!(
                err.tls(),
                Some(TlsError::InvalidCertificate(
                    CertificateError::UnknownIssuer
                ))
            ),
            "{err}"
        );

        // The CA is trusted, but the certificate is for localhost only.
        let client = trusting(&pki).build().unwrap();
        let err = client
            .get(format!("https://127.0.0.1:{port}/"))
            .send()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
        assert!(
            matches!(
                err.tls(),
                Some(TlsError::InvalidCertificate(
                    CertificateError::NotValidForName
                        | CertificateError::NotValidForNameContext { .. }
                ))
            ),
            "{err}"
        );
        // Without the built-in roots and without a CA: unknown issuer too.
        let bare = Client::builder()
            .tls_built_in_root_certs(false)
            .build()
            .unwrap();
        let err = bare
            .get(format!("https://localhost:{port}/"))
            .send()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Tls, "{err}");

        // The loud opt-out accepts both.
        let insecure = Client::builder()
            .danger_accept_invalid_certs(true)
            .build()
            .unwrap();
        for host in ["127.0.0.1", "localhost"] {
            let resp = insecure
                .get(format!("https://{host}:{port}/plaintext"))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.text().await.unwrap(), "Hello, World!");
        }

        // A bad CA PEM fails the build, not a request.
        let err = Client::builder()
            .add_root_certificate(b"not a pem")
            .build()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Builder, "{err}");
        let err = Client::builder().identity(b"x", b"y").build().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Builder, "{err}");
    });
});

both_drivers!(stalled_handshake_ends_in_the_connect_timeout, |d| {
    // Accepts TCP and never answers the ClientHello.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    runtime(d).block_on(async move {
        let client = Client::builder()
            .connect_timeout(Duration::from_millis(300))
            .build()
            .unwrap();
        let t0 = Instant::now();
        let err = client
            .get(format!("https://localhost:{port}/"))
            .send()
            .await
            .unwrap_err();
        assert_eq!(
            err.kind(),
            ErrorKind::Timeout(TimeoutKind::Connect),
            "{err}"
        );
        assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
        // Plain HTTP to a TLS port: not a panic, an error.
        let plain_server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = plain_server.local_addr().unwrap();
        std::thread::spawn(move || {
            use std::io::{Read, Write};
            if let Ok((mut s, _)) = plain_server.accept() {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf);
                let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
            }
        });
        let err = client
            .get(format!("https://localhost:{}/", addr.port()))
            .send()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
    });
    drop(silent);
});

/// OpenSSL's `s_server` answering HTTP (`-www`), requiring a client
/// certificate signed by the test CA.
fn openssl_mtls_server(pki: &Pki) -> (Running, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("openssl")
        .args(["s_server", "-www", "-Verify", "1", "-accept"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("-cert")
        .arg(pki.path("cert.pem"))
        .arg("-key")
        .arg(pki.path("key.pem"))
        .arg("-CAfile")
        .arg(pki.path("ca.pem"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl");
    let running = Running(child);
    let t0 = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "s_server did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    (running, port)
}

both_drivers!(mtls_accepted_with_identity_refused_without, |d| {
    let pki = Pki::new();
    let (_server, port) = openssl_mtls_server(&pki);
    let url = format!("https://localhost:{port}/");
    runtime(d).block_on(async move {
        let with = trusting(&pki)
            .identity(&pki.pem("client.pem"), &pki.pem("client-key.pem"))
            .build()
            .unwrap();
        let resp = with.get(&url).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let page = resp.text().await.unwrap();
        assert!(
            page.contains("percore-client"),
            "the server saw our certificate: {page}"
        );

        // HTTP/2 insisted on, to a server without ALPN: a clear error.
        let h2 = trusting(&pki)
            .identity(&pki.pem("client.pem"), &pki.pem("client-key.pem"))
            .http2_prior_knowledge()
            .build()
            .unwrap();
        let err = h2.get(&url).send().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Protocol, "{err}");
        assert!(err.to_string().contains("ALPN"), "{err}");

        let without = trusting(&pki).build().unwrap();
        let err = without.get(&url).send().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
        // TLS 1.3: the server says so after the client's handshake ended.
        assert!(
            matches!(err.tls(), Some(TlsError::AlertReceived(_))),
            "{err}"
        );
    });
});

#[test]
fn fetch_example_cacert_and_insecure() {
    let pki = Pki::new();
    let (_demo, addr) = demo_tls(DriverChoice::Auto, &pki);
    let fetch = example_binary("fetch");
    let url = format!("https://localhost:{}/plaintext", addr.port());
    let out = common::run(
        Command::new(&fetch)
            .arg("--cacert")
            .arg(pki.path("ca.pem"))
            .arg(&url),
    );
    assert_eq!(common::stdout(&out), "Hello, World!");
    assert!(
        common::stderr(&out).starts_with("HTTP/2.0 200 OK\n"),
        "{}",
        common::stderr(&out)
    );

    // Without the CA: one line naming the kind, exit 1.
    let out = Command::new(&fetch).arg(&url).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = common::stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error: TLS error"), "{err}");
    assert!(err.contains("UnknownIssuer"), "{err}");

    // --insecure: any certificate, any name.
    let ip_url = format!("https://127.0.0.1:{}/plaintext", addr.port());
    let out = common::run(Command::new(&fetch).arg("--insecure").arg(&ip_url));
    assert_eq!(common::stdout(&out), "Hello, World!");

    // A CA file that does not exist: one line, exit 1.
    let out = Command::new(&fetch)
        .args(["--cacert", "/nonexistent/ca.pem"])
        .arg(&url)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(common::stderr(&out).lines().count(), 1);
}
