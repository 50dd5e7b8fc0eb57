//! TlsStream, TlsAcceptor and TlsConnector against each other, in one
//! process, on both drivers: echo, TLS 1.2, mTLS, verification failures,
//! reload, hostile handshakes, cancelled and concurrent reads.

mod common;

use std::future::Future;
use std::io::{Read, Write};
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use common::*;
use percore_runtime::buf::{IoBuf, IoBufMut};
use percore_runtime::io::{OwnedRead, OwnedWrite};
use percore_runtime::net::{TcpStream, UnixStream};
use percore_runtime::spawn_local;
use percore_runtime::time::timeout;
use percore_tls::rustls::{self, pki_types::CertificateDer, ClientConfig, RootCertStore};
use percore_tls::{TlsAcceptor, TlsConfig, TlsConnector, TlsStream};

const LIMIT: Duration = Duration::from_secs(5);

/// A CA, a "localhost" certificate and an echo server presenting it.
fn echo_server(driver: percore_runtime::DriverChoice) -> (Pki, CertFiles, TlsServer) {
    let pki = Pki::new("test CA");
    let leaf = pki.server_cert("localhost", &["localhost"]);
    let acceptor =
        TlsAcceptor::new(TlsConfig::from_pem_files(&leaf.cert, &leaf.key).unwrap()).unwrap();
    let server = TlsServer::start(driver, acceptor, LIMIT, Behavior::Echo);
    (pki, leaf, server)
}

fn connector(pki: &Pki, alpn: &[&[u8]]) -> TlsConnector {
    TlsConnector::builder()
        .without_webpki_roots()
        .root_ca_pem_file(pki.ca_file())
        .unwrap()
        .alpn(alpn)
        .build()
        .unwrap()
}

async fn connect(
    connector: &TlsConnector,
    server: &TlsServer,
    name: &str,
) -> std::io::Result<TlsStream> {
    let tcp = TcpStream::connect(server.addr).await?;
    connector.connect(name, tcp, LIMIT).await
}

struct Noop;
impl Wake for Noop {
    fn wake(self: Arc<Self>) {}
}

/// `len` bytes that differ from any shifted copy of themselves.
fn pattern(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i % 251) as u8 ^ (i / 251) as u8)
        .collect()
}

async fn read_exactly(tls: &TlsStream, len: usize) -> Vec<u8> {
    let mut got = Vec::with_capacity(len);
    while got.len() < len {
        got.reserve(16 * 1024);
        let (res, buf) = tls.read(got).await;
        got = buf;
        assert!(res.unwrap() > 0, "early end of stream at {}", got.len());
    }
    got
}

both_drivers!(echo_with_alpn_sni_and_close_notify, |driver| {
    let (pki, leaf, server) = echo_server(driver);
    let connector = connector(&pki, &[b"h2", b"http/1.1"]);
    run(driver, async {
        let tls = connect(&connector, &server, "localhost").await.unwrap();
        assert_eq!(tls.negotiated_alpn().as_deref(), Some(&b"h2"[..]));
        assert_eq!(
            tls.protocol_version(),
            Some(rustls::ProtocolVersion::TLSv1_3)
        );
        let chain = tls.peer_certificates().unwrap();
        assert_eq!(chain[0].as_ref(), cert_der(&leaf.cert).as_slice());
        // Many buffers per writev, more than one TLS record's worth.
        let data = pattern(300 * 1024);
        let chunks: Vec<Vec<u8>> = data.chunks(1000).map(<[u8]>::to_vec).collect();
        let mut sent = 0;
        for group in chunks.chunks(40) {
            let total: usize = group.iter().map(Vec::len).sum();
            let mut group: Vec<Vec<u8>> = group.to_vec();
            let mut done = 0;
            while done < total {
                let (res, back) = tls.writev(group).await;
                let n = res.unwrap();
                assert!(n > 0);
                done += n;
                group = back;
                // Drop what was taken, keep the rest.
                let mut skip = n;
                group.retain_mut(|c| {
                    let take = skip.min(c.len());
                    skip -= take;
                    c.drain(..take);
                    !c.is_empty()
                });
            }
            sent += total;
        }
        assert_eq!(sent, data.len());
        let echoed = read_exactly(&tls, data.len()).await;
        assert!(echoed == data, "echo differs");
        tls.shutdown().await.unwrap();
        let (res, _) = tls.read(Vec::with_capacity(16)).await;
        assert_eq!(
            res.unwrap(),
            0,
            "the server answers close_notify with close_notify"
        );
    });
    let seen = server.accepted(1);
    let session = seen[0].result.as_ref().unwrap();
    assert_eq!(session.alpn.as_deref(), Some("h2"));
    assert_eq!(session.sni.as_deref(), Some("localhost"));
    assert_eq!(session.version, "TLSv1_3");
});

both_drivers!(key_updates_keep_the_echo_going, |driver| {
    let (pki, _leaf, server) = echo_server(driver);
    let connector = connector(&pki, &[]);
    run(driver, async {
        let tls = connect(&connector, &server, "localhost").await.unwrap();
        for round in 0..5u8 {
            // The server answers each KeyUpdate with its own from its read
            // path; the echo decrypts under the new keys either way.
            tls.refresh_traffic_keys().await.unwrap();
            let data = vec![round; 20_000];
            tls.write_all(data.clone()).await.0.unwrap();
            assert!(
                read_exactly(&tls, data.len()).await == data,
                "round {round}"
            );
        }
    });
});

both_drivers!(tls12_only_client_is_served, |driver| {
    let (pki, _leaf, server) = echo_server(driver);
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from(cert_der(&pki.ca_file())))
        .unwrap();
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let connector = TlsConnector::from_client_config(Arc::new(config));
    run(driver, async {
        let tls = connect(&connector, &server, "localhost").await.unwrap();
        assert_eq!(
            tls.protocol_version(),
            Some(rustls::ProtocolVersion::TLSv1_2)
        );
        assert_eq!(tls.negotiated_alpn().as_deref(), Some(&b"http/1.1"[..]));
        let data = pattern(100_000);
        tls.write_all(data.clone()).await.0.unwrap();
        assert!(read_exactly(&tls, data.len()).await == data);
    });
    assert_eq!(
        server.accepted(1)[0].result.as_ref().unwrap().version,
        "TLSv1_2"
    );
});

both_drivers!(wrong_ca_and_wrong_name_are_refused, |driver| {
    let (_pki, _leaf, server) = echo_server(driver);
    let other = Pki::new("another CA");
    run(driver, async {
        let err = connect(&connector(&other, &[]), &server, "localhost")
            .await
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("UnknownIssuer"), "{err}");
        // The loud opt-out takes any certificate.
        let anything = TlsConnector::builder()
            .danger_accept_invalid_certs()
            .build()
            .unwrap();
        let tls = connect(&anything, &server, "localhost").await.unwrap();
        tls.write_all(b"ping".to_vec()).await.0.unwrap();
        assert_eq!(read_exactly(&tls, 4).await, b"ping");
    });
    let (pki, _leaf, server) = echo_server(driver);
    run(driver, async {
        let err = connect(&connector(&pki, &[]), &server, "not-localhost.test")
            .await
            .unwrap_err();
        assert!(err.to_string().contains("not valid for name"), "{err}");
    });
});

both_drivers!(mutual_tls_needs_a_client_certificate, |driver| {
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
        Behavior::Echo,
    );
    let with_cert = TlsConnector::builder()
        .without_webpki_roots()
        .root_ca_pem_file(pki.ca_file())
        .unwrap()
        .client_cert_pem_files(&client.cert, &client.key)
        .unwrap()
        .build()
        .unwrap();
    let without = connector(&pki, &[]);
    run(driver, async {
        let tls = connect(&with_cert, &server, "localhost").await.unwrap();
        tls.write_all(b"hello".to_vec()).await.0.unwrap();
        assert_eq!(read_exactly(&tls, 5).await, b"hello");
        // TLS 1.3 clients finish before the server judges them: the refusal
        // arrives as an alert on the first read.
        let refused = match connect(&without, &server, "localhost").await {
            Err(e) => e,
            Ok(tls) => tls.read(Vec::with_capacity(16)).await.0.unwrap_err(),
        };
        assert!(
            refused.to_string().contains("CertificateRequired"),
            "{refused}"
        );
    });
    let seen = server.accepted(2);
    let good = seen.iter().find_map(|a| a.result.as_ref().ok()).unwrap();
    assert_eq!(
        good.client_cert.as_deref(),
        Some(cert_der(&client.cert).as_slice())
    );
    let bad = seen.iter().find_map(|a| a.result.as_ref().err()).unwrap();
    assert!(bad.contains("peer sent no certificates"), "{bad}");
});

fn fresh(pki: &Pki) -> TlsConnector {
    connector(pki, &[])
}

both_drivers!(sessions_resume_with_tickets, |driver| {
    let (pki, _leaf, server) = echo_server(driver);
    let connector = connector(&pki, &[]);
    run(driver, async {
        for round in 0..3 {
            let tls = connect(&connector, &server, "localhost").await.unwrap();
            // Reading the echo also takes in the server's tickets.
            tls.write_all(b"x".to_vec()).await.0.unwrap();
            assert_eq!(read_exactly(&tls, 1).await, b"x");
            assert_eq!(tls.is_resumed(), round > 0, "round {round}");
        }
    });
    let seen = server.accepted(3);
    let resumed: Vec<bool> = seen
        .iter()
        .map(|a| a.result.as_ref().unwrap().resumed)
        .collect();
    assert_eq!(resumed, [false, true, true]);
});

both_drivers!(optional_client_certificates_are_still_checked, |driver| {
    let pki = Pki::new("test CA");
    let leaf = pki.server_cert("localhost", &["localhost"]);
    let client = pki.client_cert("client", "service-a");
    let other = Pki::new("other CA");
    let stranger = other.client_cert("stranger", "intruder");
    let config = TlsConfig::from_pem_files(&leaf.cert, &leaf.key)
        .unwrap()
        .client_ca_pem_file(pki.ca_file())
        .unwrap()
        .client_cert_optional();
    let server = TlsServer::start(
        driver,
        TlsAcceptor::new(config).unwrap(),
        LIMIT,
        Behavior::Echo,
    );
    let presenting = |cert: &CertFiles| {
        TlsConnector::builder()
            .without_webpki_roots()
            .root_ca_pem_file(pki.ca_file())
            .unwrap()
            .client_cert_pem_files(&cert.cert, &cert.key)
            .unwrap()
            .build()
            .unwrap()
    };
    run(driver, async {
        for connector in [connector(&pki, &[]), presenting(&client)] {
            let tls = connect(&connector, &server, "localhost").await.unwrap();
            tls.write_all(b"in".to_vec()).await.0.unwrap();
            assert_eq!(read_exactly(&tls, 2).await, b"in");
        }
        let refused = match connect(&presenting(&stranger), &server, "localhost").await {
            Err(e) => e,
            Ok(tls) => tls.read(Vec::with_capacity(16)).await.0.unwrap_err(),
        };
        assert!(refused.to_string().contains("UnknownCA"), "{refused}");
    });
    let seen = server.accepted(3);
    assert!(seen[0].result.as_ref().unwrap().client_cert.is_none());
    assert!(seen[1].result.as_ref().unwrap().client_cert.is_some());
    assert!(
        seen[2]
            .result
            .as_ref()
            .unwrap_err()
            .contains("UnknownIssuer"),
        "{seen:?}"
    );
});

#[test]
fn acceptor_and_connector_cross_threads() {
    // One acceptor for every core, reloaded from any thread (a SIGHUP
    // handler, an admin endpoint).
    fn send_sync<T: Send + Sync>() {}
    send_sync::<TlsAcceptor>();
    send_sync::<TlsConfig>();
    send_sync::<TlsConnector>();
}

both_drivers!(reload_reaches_new_connections_only, |driver| {
    let pki = Pki::new("test CA");
    let first = pki.server_cert("first", &["localhost"]);
    let second = pki.server_cert("second", &["localhost"]);
    let acceptor =
        TlsAcceptor::new(TlsConfig::from_pem_files(&first.cert, &first.key).unwrap()).unwrap();
    let server = TlsServer::start(driver, acceptor.clone(), LIMIT, Behavior::Echo);
    let connector = connector(&pki, &[]);
    run(driver, async {
        let old = connect(&connector, &server, "localhost").await.unwrap();
        old.write_all(b"before".to_vec()).await.0.unwrap();
        assert_eq!(read_exactly(&old, 6).await, b"before");

        acceptor
            .reload_from_pem_files(&second.cert, &second.key)
            .unwrap();
        // A fresh connector: one that resumes the old session would see no
        // certificate at all (tickets outlive reloads, on purpose).
        let new = connect(&fresh(&pki), &server, "localhost").await.unwrap();
        assert!(!new.is_resumed());
        assert_eq!(
            new.peer_certificates().unwrap()[0].as_ref(),
            cert_der(&second.cert)
        );

        // A key that does not match its certificate is refused and the
        // running configuration stays.
        let err = acceptor
            .reload_from_pem_files(&first.cert, &second.key)
            .unwrap_err();
        assert!(err.to_string().contains("certificate and key"), "{err}");
        let newer = connect(&fresh(&pki), &server, "localhost").await.unwrap();
        assert_eq!(
            newer.peer_certificates().unwrap()[0].as_ref(),
            cert_der(&second.cert)
        );

        // The old connection still works, on its old certificate.
        old.write_all(b"after".to_vec()).await.0.unwrap();
        assert_eq!(read_exactly(&old, 5).await, b"after");
        assert_eq!(
            old.peer_certificates().unwrap()[0].as_ref(),
            cert_der(&first.cert)
        );
    });
});

both_drivers!(dropped_reads_lose_and_duplicate_nothing, |driver| {
    let (pki, _leaf, server) = echo_server(driver);
    let connector = connector(&pki, &[]);
    run(driver, async {
        let tls = Rc::new(connect(&connector, &server, "localhost").await.unwrap());
        let data = pattern(2 << 20);
        let writer = {
            let (tls, data) = (tls.clone(), data.clone());
            spawn_local(async move {
                // Paced, so that the reader often finds nothing to read
                // and its reads are dropped while waiting for the socket.
                for (i, chunk) in data.chunks(5000).enumerate() {
                    tls.write_all(chunk.to_vec()).await.0.unwrap();
                    if i % 8 == 0 {
                        percore_runtime::time::sleep(Duration::from_millis(1)).await;
                    }
                }
            })
        };
        let mut got = Vec::with_capacity(data.len());
        let mut dropped = 0;
        let mut attempt = 0u64;
        let noop = Waker::from(Arc::new(Noop));
        while got.len() < data.len() {
            attempt += 1;
            let buf = Vec::with_capacity(1 + (attempt as usize * 7919) % 20_000);
            let outcome = if !attempt.is_multiple_of(3) {
                // Polled once, then dropped if not ready: the socket read it
                // started stays with the stream.
                let mut read = std::pin::pin!(tls.read(buf));
                match read.as_mut().poll(&mut Context::from_waker(&noop)) {
                    Poll::Ready(done) => Some(done),
                    Poll::Pending => None,
                }
            } else {
                // Deadlines of a few hundred microseconds at most drop reads
                // while the socket read is in flight in the kernel.
                let wait = Duration::from_micros(attempt * 37 % 400);
                timeout(wait, tls.read(buf)).await.ok()
            };
            match outcome {
                None => dropped += 1,
                Some((res, buf)) => {
                    assert!(res.unwrap() > 0, "early end of stream at {}", got.len());
                    got.extend_from_slice(&buf);
                }
            }
            if !attempt.is_multiple_of(3) {
                // Let the socket read complete now and then.
                percore_runtime::yield_now().await;
            }
        }
        writer.await.unwrap();
        assert_eq!(got.len(), data.len());
        assert!(got == data, "bytes lost, duplicated or reordered");
        assert!(
            dropped > 20,
            "only {dropped} reads were dropped: the test did not test"
        );
    });
});

both_drivers!(concurrent_reader_and_writer_tasks, |driver| {
    let (pki, _leaf, server) = echo_server(driver);
    let connector = connector(&pki, &[]);
    run(driver, async {
        let tls = Rc::new(connect(&connector, &server, "localhost").await.unwrap());
        // More than the socket buffers hold: without a reader running at
        // the same time as the writer, the echo would stall.
        let data = pattern(8 << 20);
        let writer = {
            let (tls, data) = (tls.clone(), data.clone());
            spawn_local(async move {
                for chunk in data.chunks(100_000) {
                    let parts: Vec<Vec<u8>> = chunk.chunks(30_000).map(<[u8]>::to_vec).collect();
                    let mut left = chunk.len();
                    let mut parts = parts;
                    while left > 0 {
                        let (res, back) = tls.writev(parts).await;
                        let mut n = res.unwrap();
                        left -= n;
                        parts = back;
                        parts.retain_mut(|p| {
                            let take = n.min(p.len());
                            n -= take;
                            p.drain(..take);
                            !p.is_empty()
                        });
                    }
                }
            })
        };
        let got = read_exactly(&tls, data.len()).await;
        writer.await.unwrap();
        assert!(got == data);
    });
});

/// The first flight of a real TLS client.
fn client_hello() -> Vec<u8> {
    let connector = TlsConnector::builder().build().unwrap();
    let mut conn = rustls::ClientConnection::new(
        connector.client_config().clone(),
        "localhost".try_into().unwrap(),
    )
    .unwrap();
    let mut hello = Vec::new();
    conn.write_tls(&mut hello).unwrap();
    hello
}

/// Connects with a blocking socket, sends `bytes`, and reads until the
/// server closes: returns what it sent and how long that took.
fn send_and_wait_for_close(server: &TlsServer, bytes: &[u8]) -> (Vec<u8>, Duration) {
    let mut tcp = std::net::TcpStream::connect(server.addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let start = Instant::now();
    tcp.write_all(bytes).unwrap();
    let mut got = Vec::new();
    let _ = tcp.read_to_end(&mut got); // a reset is a close too
    (got, start.elapsed())
}

both_drivers!(stalled_handshakes_are_closed_after_the_timeout, |driver| {
    let pki = Pki::new("test CA");
    let leaf = pki.server_cert("localhost", &["localhost"]);
    let acceptor =
        TlsAcceptor::new(TlsConfig::from_pem_files(&leaf.cert, &leaf.key).unwrap()).unwrap();
    let limit = Duration::from_millis(400);
    let server = TlsServer::start(driver, acceptor, limit, Behavior::Echo);
    let hello = client_hello();
    for sent in [&[][..], &hello[..hello.len() / 2]] {
        let (_, took) = send_and_wait_for_close(&server, sent);
        assert!(
            took >= limit - Duration::from_millis(50),
            "closed after {took:?}"
        );
        assert!(
            took < limit + Duration::from_secs(3),
            "closed after {took:?}"
        );
    }
    for accepted in server.accepted(2) {
        let err = accepted.result.unwrap_err();
        assert!(err.starts_with("TimedOut"), "{err}");
    }
});

both_drivers!(
    garbage_instead_of_a_client_hello_is_closed_at_once,
    |driver| {
        let pki = Pki::new("test CA");
        let leaf = pki.server_cert("localhost", &["localhost"]);
        let acceptor =
            TlsAcceptor::new(TlsConfig::from_pem_files(&leaf.cert, &leaf.key).unwrap()).unwrap();
        let server = TlsServer::start(driver, acceptor, Duration::from_secs(30), Behavior::Echo);
        for garbage in [
            &b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"[..],
            &[0x16, 0x03, 0x01, 0xff, 0xff, 0x01, 0, 0, 0][..],
            &[0u8; 64][..],
            // A fatal alert where the ClientHello belongs.
            &[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28][..],
        ] {
            let (answer, took) = send_and_wait_for_close(&server, garbage);
            assert!(took < Duration::from_secs(2), "closed after {took:?}");
            // What comes back, if anything, is an alert record.
            assert!(answer.is_empty() || answer[0] == 0x15, "{answer:?}");
        }
        let seen = server.accepted(4);
        assert_eq!(seen.len(), 4, "{seen:?}");
        for accepted in seen {
            let err = accepted.result.unwrap_err();
            assert!(err.starts_with("InvalidData"), "{err}");
            assert!(accepted.elapsed < Duration::from_secs(2));
        }
    }
);

/// An owned-buffer stream that records each write it passes on.
struct Counting<S> {
    inner: S,
    writes: Rc<std::cell::RefCell<Vec<Vec<u8>>>>,
}

impl<S: OwnedRead> OwnedRead for Counting<S> {
    async fn read<B: IoBufMut>(&self, buf: B) -> (std::io::Result<usize>, B) {
        self.inner.read(buf).await
    }
}

impl<S: OwnedWrite> OwnedWrite for Counting<S> {
    async fn write<B: IoBuf>(&self, buf: B) -> (std::io::Result<usize>, B) {
        let (res, buf) = self.inner.write(buf).await;
        if let Ok(n) = res {
            self.writes.borrow_mut().push(buf.as_bytes()[..n].to_vec());
        }
        (res, buf)
    }

    async fn writev<B: IoBuf>(&self, bufs: Vec<B>) -> (std::io::Result<usize>, Vec<B>) {
        let (res, bufs) = self.inner.writev(bufs).await;
        if let Ok(n) = &res {
            let all: Vec<u8> = bufs.iter().flat_map(|b| b.as_bytes().to_vec()).collect();
            self.writes.borrow_mut().push(all[..*n].to_vec());
        }
        (res, bufs)
    }
}

/// The lengths of the TLS records in `bytes` (whole records only).
fn record_lengths(bytes: &[u8]) -> Vec<usize> {
    let mut lengths = Vec::new();
    let mut rest = bytes;
    while rest.len() >= 5 {
        let len = u16::from_be_bytes([rest[3], rest[4]]) as usize;
        lengths.push(len);
        rest = &rest[(5 + len).min(rest.len())..];
    }
    lengths
}

both_drivers!(one_socket_write_per_writev_with_full_records, |driver| {
    let pki = Pki::new("test CA");
    let leaf = pki.server_cert("localhost", &["localhost"]);
    let acceptor =
        TlsAcceptor::new(TlsConfig::from_pem_files(&leaf.cert, &leaf.key).unwrap()).unwrap();
    let connector = connector(&pki, &[]);
    run(driver, async move {
        let (server_io, client_io) = UnixStream::pair().unwrap();
        let server = spawn_local(async move {
            let tls = acceptor.accept(server_io, LIMIT).await.unwrap();
            read_exactly_from(&tls, 30_000 + 60_000).await
        });
        let writes = Rc::new(std::cell::RefCell::new(Vec::new()));
        let counted = Counting {
            inner: client_io,
            writes: writes.clone(),
        };
        let tls = connector
            .connect("localhost", counted, LIMIT)
            .await
            .unwrap();
        // The client's Finished waits for the first write (here a flush),
        // to go out in the same socket write as its data.
        let before = writes.borrow().len();
        tls.flush().await.unwrap();
        assert_eq!(writes.borrow().len(), before + 1);
        writes.borrow_mut().clear();

        // 50 small buffers: one socket write of two full-size records, not
        // fifty small ones.
        let parts: Vec<Vec<u8>> = (0..50).map(|i| vec![i as u8; 600]).collect();
        let (res, _) = tls.writev(parts).await;
        assert_eq!(res.unwrap(), 30_000);
        assert_eq!(writes.borrow().len(), 1);
        assert_eq!(record_lengths(&writes.borrow()[0]).len(), 2);

        // One large buffer: one socket write too.
        let (res, _) = tls.write(vec![7u8; 60_000]).await;
        assert_eq!(res.unwrap(), 60_000);
        assert_eq!(writes.borrow().len(), 2);
        assert_eq!(record_lengths(&writes.borrow()[1]).len(), 4);

        let received = server.await.unwrap();
        let mut expected: Vec<u8> = (0..50).flat_map(|i| vec![i as u8; 600]).collect();
        expected.extend(vec![7u8; 60_000]);
        assert!(received == expected);
    });
});

async fn read_exactly_from<S: OwnedRead + OwnedWrite + 'static>(
    tls: &TlsStream<S>,
    len: usize,
) -> Vec<u8> {
    let mut got = Vec::with_capacity(len);
    while got.len() < len {
        got.reserve(16 * 1024);
        let (res, buf) = tls.read(got).await;
        got = buf;
        assert!(res.unwrap() > 0, "early end of stream at {}", got.len());
    }
    got
}

/// A 100-byte message carrying `seq`, recognisable when cut or shifted.
fn message(seq: u32) -> Vec<u8> {
    let mut m = seq.to_be_bytes().to_vec();
    m.extend((0..96u32).map(|i| (seq.wrapping_mul(31) ^ i) as u8));
    m
}

both_drivers!(dropped_writes_keep_the_record_layer_in_order, |driver| {
    let pki = Pki::new("test CA");
    let leaf = pki.server_cert("localhost", &["localhost"]);
    let acceptor =
        TlsAcceptor::new(TlsConfig::from_pem_files(&leaf.cert, &leaf.key).unwrap()).unwrap();
    let connector = connector(&pki, &[]);
    run(driver, async move {
        let (server_io, client_io) = UnixStream::pair().unwrap();
        let server = spawn_local(async move {
            let tls = acceptor.accept(server_io, LIMIT).await.unwrap();
            // Reading slowly keeps the socket buffers full, so writes are
            // pending (and dropped) on either driver.
            let mut got = Vec::new();
            while !got.ends_with(&message(u32::MAX)) {
                percore_runtime::time::sleep(Duration::from_millis(1)).await;
                got.reserve(4 * 1024);
                let (res, buf) = tls.read(got).await;
                got = buf;
                assert!(res.unwrap() > 0);
            }
            got
        });
        let tls = connector
            .connect("localhost", client_io, LIMIT)
            .await
            .unwrap();
        let noop = Waker::from(Arc::new(Noop));
        let mut completed = Vec::new();
        let mut dropped = 0;
        for seq in 0..5000u32 {
            // A pseudo-random mix, so that either kind meets a full socket.
            if (seq.wrapping_mul(2_654_435_761) >> 16) & 1 == 0 {
                // Polled once and dropped: its message may or may not go
                // out, but never in part and never out of order.
                let mut write = std::pin::pin!(tls.write(message(seq)));
                match write.as_mut().poll(&mut Context::from_waker(&noop)) {
                    Poll::Ready((res, _)) => {
                        assert_eq!(res.unwrap(), 100);
                        completed.push(seq);
                    }
                    Poll::Pending => dropped += 1,
                }
            } else {
                let mut write = std::pin::pin!(tls.write(message(seq)));
                let (res, _) = match write.as_mut().poll(&mut Context::from_waker(&noop)) {
                    Poll::Ready(done) => done,
                    Poll::Pending => write.await,
                };
                assert_eq!(res.unwrap(), 100, "a write after a dropped one");
                completed.push(seq);
            }
        }
        tls.write_all(message(u32::MAX)).await.0.unwrap();
        let received = server.await.unwrap();
        assert_eq!(received.len() % 100, 0, "a message went out in part");
        let seqs: Vec<u32> = received
            .chunks(100)
            .map(|m| {
                let seq = u32::from_be_bytes([m[0], m[1], m[2], m[3]]);
                assert_eq!(m, message(seq).as_slice(), "a message was corrupted");
                seq
            })
            .collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "out of order");
        for seq in completed {
            assert!(
                seqs.binary_search(&seq).is_ok(),
                "completed write {seq} lost"
            );
        }
        assert!(dropped > 10, "only {dropped} writes were dropped in flight");
    });
});
