//! TlsAcceptor against `openssl s_client` and `curl`, TlsConnector against
//! `openssl s_server`, on both drivers.

mod common;

use std::time::Duration;

use common::*;
use percore_runtime::net::TcpStream;
use percore_tls::{TlsAcceptor, TlsConfig, TlsConnector};

const LIMIT: Duration = Duration::from_secs(5);
/// How long a peer keeps its stdin open: time to read the server's answer
/// (and its session tickets) before it closes.
const LINGER: Duration = Duration::from_millis(300);

/// A CA, certificates for "localhost", "a.test" and "b.test" (SNI), and a
/// server presenting them with `behavior`.
fn sni_server(driver: percore_runtime::DriverChoice, behavior: Behavior) -> (Pki, TlsServer) {
    let pki = Pki::new("test CA");
    let default = pki.server_cert("localhost", &["localhost"]);
    let a = pki.server_cert("a", &["a.test"]);
    let b = pki.server_cert("b", &["b.test"]);
    let config = TlsConfig::from_pem_files(&default.cert, &default.key)
        .unwrap()
        .with_sni_pem_files("a.test", &a.cert, &a.key)
        .unwrap()
        .with_sni_pem_files("B.TEST", &b.cert, &b.key)
        .unwrap();
    let server = TlsServer::start(driver, TlsAcceptor::new(config).unwrap(), LIMIT, behavior);
    (pki, server)
}

both_drivers!(s_client_speaks_tls13_and_tls12_only, |driver| {
    let (pki, server) = sni_server(driver, Behavior::Echo);
    let ca = pki.ca_file();
    let ca = ca.to_str().unwrap();
    for (flag, version) in [("-tls1_3", "TLSv1.3"), ("-tls1_2", "TLSv1.2")] {
        let out = s_client(server.port(), &[flag, "-CAfile", ca], b"ping\n", LINGER);
        assert!(
            out.text.contains(&format!("New, {version}")),
            "{flag}: {}",
            out.text
        );
        assert!(
            out.text.contains("Verify return code: 0 (ok)"),
            "{}",
            out.text
        );
        assert!(out.text.contains("ping"), "echo over {flag}: {}", out.text);
    }
    // Old versions, offered alone and for real (OpenSSL 3 needs security level 0 to
    // offer them at all), are refused by the server.
    for flag in ["-tls1_1", "-tls1"] {
        let out = s_client(
            server.port(),
            &[flag, "-cipher", "DEFAULT:@SECLEVEL=0"],
            b"",
            Duration::ZERO,
        );
        assert!(!out.success, "{flag} was accepted: {}", out.text);
        // rustls answers an offer without 1.2 or 1.3 with a
        // handshake_failure alert.
        assert!(
            out.text.contains("alert handshake failure"),
            "{flag}: {}",
            out.text
        );
    }
    let seen = server.accepted(4);
    let refused: Vec<&String> = seen
        .iter()
        .filter_map(|a| a.result.as_ref().err())
        .collect();
    assert_eq!(refused.len(), 2, "{seen:?}");
    for err in refused {
        assert!(
            err.contains("peer is incompatible") || err.contains("Incompatible"),
            "{err}"
        );
    }
});

both_drivers!(s_client_key_exchange_groups, |driver| {
    let (pki, server) = sni_server(driver, Behavior::Echo);
    let ca = pki.ca_file();
    let ca = ca.to_str().unwrap();
    // The server takes the client's first group it supports (rustls
    // follows the client's order); X25519 is among them for every version.
    for (groups, flag, temp_key) in [
        ("X25519:P-256", "-tls1_3", "X25519"),
        ("X25519:P-256", "-tls1_2", "X25519"),
        ("P-256:X25519", "-tls1_3", "ECDH, prime256v1"),
        ("P-384:X25519", "-tls1_3", "ECDH, secp384r1"),
    ] {
        let out = s_client(
            server.port(),
            &["-groups", groups, flag, "-CAfile", ca],
            b"ping\n",
            LINGER,
        );
        assert!(out.text.contains("ping"), "{groups} {flag}: {}", out.text);
        assert!(
            out.text.contains(&format!("Server Temp Key: {temp_key}")),
            "{groups} {flag}: {}",
            out.text
        );
    }
});

both_drivers!(s_client_alpn_and_sni, |driver| {
    let (pki, server) = sni_server(driver, Behavior::Echo);
    let ca = pki.ca_file();
    let ca = ca.to_str().unwrap();
    for (offer, chosen) in [
        ("h2,http/1.1", "h2"),
        ("http/1.1", "http/1.1"),
        ("h2", "h2"),
    ] {
        let out = s_client(server.port(), &["-alpn", offer, "-CAfile", ca], b"", LINGER);
        assert!(
            out.text.contains(&format!("ALPN protocol: {chosen}")),
            "{offer}: {}",
            out.text
        );
    }
    let out = s_client(
        server.port(),
        &["-alpn", "spdy/1", "-CAfile", ca],
        b"",
        LINGER,
    );
    assert!(
        !out.success,
        "an ALPN offer with nothing in common is refused"
    );
    assert!(out.text.contains("no application protocol"), "{}", out.text);
    for (name, subject) in [
        ("a.test", "CN = a.test"),
        ("b.test", "CN = b.test"),
        ("other.test", "CN = localhost"),
    ] {
        let out = s_client(
            server.port(),
            &["-servername", name, "-CAfile", ca],
            b"",
            LINGER,
        );
        assert!(
            out.text.contains(&format!("subject={subject}")),
            "{name}: {}",
            out.text
        );
    }
});

both_drivers!(s_client_resumes_with_tickets, |driver| {
    let (pki, server) = sni_server(driver, Behavior::Echo);
    let ca = pki.ca_file();
    let ca = ca.to_str().unwrap();
    for version in ["-tls1_3", "-tls1_2"] {
        let session = pki.dir.join(format!("session{version}.pem"));
        let session = session.to_str().unwrap();
        let first = s_client(
            server.port(),
            &[version, "-CAfile", ca, "-sess_out", session],
            b"hi\n",
            LINGER,
        );
        assert!(first.text.contains("New, TLS"), "{}", first.text);
        let again = s_client(
            server.port(),
            &[version, "-CAfile", ca, "-sess_in", session],
            b"hi\n",
            LINGER,
        );
        assert!(
            again.text.contains("Reused, TLS"),
            "{version}: {}",
            again.text
        );
    }
    let resumed: Vec<bool> = server
        .accepted(4)
        .iter()
        .map(|a| a.result.as_ref().unwrap().resumed)
        .collect();
    assert_eq!(resumed, [false, true, false, true]);
});

both_drivers!(curl_over_tls_with_alpn, |driver| {
    let (pki, server) = sni_server(driver, Behavior::Http);
    let ca = pki.ca_file();
    let url = format!("https://localhost:{}/", server.port());
    let out = run_peer(
        "curl",
        &[
            "-sS",
            "-v",
            "--http1.1",
            "--cacert",
            ca.to_str().unwrap(),
            &url,
        ],
        b"",
        Duration::ZERO,
    );
    assert!(out.success, "{}", out.text);
    assert!(
        out.text.contains("ALPN: server accepted http/1.1"),
        "{}",
        out.text
    );
    assert!(
        out.text
            .contains("hello over TLS; alpn=http/1.1; sni=localhost"),
        "{}",
        out.text
    );
    // curl offers h2 first and the server takes it (the test responder
    // then answers HTTP/1.1 text, which curl rejects: only ALPN counts).
    let out = run_peer(
        "curl",
        &["-sS", "-v", "--cacert", ca.to_str().unwrap(), &url],
        b"",
        Duration::ZERO,
    );
    assert!(
        out.text.contains("ALPN: server accepted h2"),
        "{}",
        out.text
    );
    // SNI through curl: --resolve keeps the host name.
    let url = format!("https://a.test:{}/", server.port());
    let resolve = format!("a.test:{}:127.0.0.1", server.port());
    let out = run_peer(
        "curl",
        &[
            "-sS",
            "--http1.1",
            "--cacert",
            ca.to_str().unwrap(),
            "--resolve",
            &resolve,
            &url,
        ],
        b"",
        Duration::ZERO,
    );
    assert!(out.text.contains("sni=a.test"), "{}", out.text);
});

both_drivers!(curl_mutual_tls, |driver| {
    let pki = Pki::new("test CA");
    let leaf = pki.server_cert("localhost", &["localhost"]);
    let client = pki.client_cert("client", "service-a");
    let config = TlsConfig::from_pem_files(&leaf.cert, &leaf.key)
        .unwrap()
        .client_ca_pem_file(pki.ca_file())
        .unwrap();
    let server = TlsServer::start(
        driver,
        TlsAcceptor::new(config).unwrap(),
        LIMIT,
        Behavior::Http,
    );
    let ca = pki.ca_file();
    let url = format!("https://localhost:{}/", server.port());
    let (cert, key) = (client.cert.to_str().unwrap(), client.key.to_str().unwrap());
    let ca = ca.to_str().unwrap();
    let good = run_peer(
        "curl",
        &[
            "-sS",
            "--http1.1",
            "--cacert",
            ca,
            "--cert",
            cert,
            "--key",
            key,
            &url,
        ],
        b"",
        Duration::ZERO,
    );
    assert!(good.success, "{} {:?}", good.text, server.accepted(1));
    assert!(good.text.contains("hello over TLS"), "{}", good.text);
    let refused = run_peer(
        "curl",
        &["-sS", "--http1.1", "--cacert", ca, &url],
        b"",
        Duration::ZERO,
    );
    assert!(!refused.success, "{}", refused.text);
    // A certificate from another CA is refused too.
    let other = Pki::new("other CA");
    let stranger = other.client_cert("stranger", "intruder");
    let (cert, key) = (
        stranger.cert.to_str().unwrap(),
        stranger.key.to_str().unwrap(),
    );
    let wrong = run_peer(
        "curl",
        &[
            "-sS",
            "--http1.1",
            "--cacert",
            ca,
            "--cert",
            cert,
            "--key",
            key,
            &url,
        ],
        b"",
        Duration::ZERO,
    );
    assert!(!wrong.success, "{}", wrong.text);
    let seen = server.accepted(3);
    assert!(seen[0].result.as_ref().unwrap().client_cert.is_some());
    assert!(
        seen[1]
            .result
            .as_ref()
            .unwrap_err()
            .contains("peer sent no certificates"),
        "{seen:?}"
    );
    assert!(
        seen[2]
            .result
            .as_ref()
            .unwrap_err()
            .contains("UnknownIssuer"),
        "{seen:?}"
    );
});

/// Sends `GET /` over TLS to `port` and returns the answer as text.
async fn get(connector: &TlsConnector, port: u16) -> std::io::Result<String> {
    let tcp = TcpStream::connect(([127, 0, 0, 1], port).into()).await?;
    let tls = connector.connect("localhost", tcp, LIMIT).await?;
    tls.write_all(b"GET / HTTP/1.0\r\n\r\n".to_vec()).await.0?;
    let mut answer = Vec::new();
    loop {
        answer.reserve(16 * 1024);
        let (res, buf) = tls.read(answer).await;
        answer = buf;
        match res {
            Ok(0) => break,
            Ok(_) => {}
            // s_server -www closes without close_notify after its page.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e),
        }
    }
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

both_drivers!(connector_against_s_server, |driver| {
    let pki = Pki::new("test CA");
    let leaf = pki.server_cert("localhost", &["localhost"]);
    let client = pki.client_cert("client", "service-a");
    let (cert, key, ca) = (
        leaf.cert.to_str().unwrap(),
        leaf.key.to_str().unwrap(),
        pki.ca_file(),
    );
    let peer = SServer::start(&[
        "-cert",
        cert,
        "-key",
        key,
        "-alpn",
        "http/1.1",
        "-verify",
        "1",
        "-CAfile",
        ca.to_str().unwrap(),
    ]);
    let trusting = TlsConnector::builder()
        .without_webpki_roots()
        .root_ca_pem_file(&ca)
        .unwrap()
        .alpn(&[b"h2", b"http/1.1"])
        .client_cert_pem_files(&client.cert, &client.key)
        .unwrap()
        .build()
        .unwrap();
    let other = Pki::new("other CA");
    let distrusting = TlsConnector::builder()
        .without_webpki_roots()
        .root_ca_pem_file(other.ca_file())
        .unwrap()
        .build()
        .unwrap();
    let default_roots = TlsConnector::new().unwrap();
    run(driver, async {
        let page = get(&trusting, peer.port).await.unwrap();
        assert!(page.contains("HTTP/1.0 200 ok"), "{page}");
        // s_server's status page names what was negotiated.
        assert!(page.contains("TLSv1.3"), "{page}");
        assert!(
            page.contains("service-a"),
            "the client certificate reached s_server: {page}"
        );
        for connector in [&distrusting, &default_roots] {
            let err = get(connector, peer.port).await.unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
            assert!(err.to_string().contains("UnknownIssuer"), "{err}");
        }
    });
});
