//! hyper 1.x over tokio-rustls: the HTTPS peer of percore's TLS benchmark
//! (`benches/tls_compare.py`). One pinned current_thread runtime per core
//! with SO_REUSEPORT, as `hyper-server`; rustls 0.23 with the *ring*
//! provider configured as percore-tls configures it: TLS 1.3 and 1.2,
//! rustls's default suites and groups, session tickets (ring `Ticketer`)
//! plus a 1024-entry session-id cache shared by all cores, ALPN `h2` then
//! `http/1.1`. hyper-util's auto builder serves HTTP/1.1 or h2 on the
//! decrypted stream.
//!
//!     hyper-rustls-server --listen 127.0.0.1:8443 --cores 1 --tls-cert cert.pem --tls-key key.pem

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use hyper_util::server::conn::auto;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

async fn route(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (status, body) = match req.uri().path() {
        "/plaintext" => (StatusCode::OK, &b"Hello, World!"[..]),
        _ => (StatusCode::NOT_FOUND, &b"not found"[..]),
    };
    let mut r = Response::new(Full::new(Bytes::from_static(body)));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    Ok(r)
}

#[derive(Clone, Copy)]
struct LocalExec;

impl<F: std::future::Future + 'static> hyper::rt::Executor<F> for LocalExec {
    fn execute(&self, fut: F) {
        tokio::task::spawn_local(fut);
    }
}

fn flag(rest: &[String], name: &str) -> String {
    let i = rest
        .iter()
        .position(|r| r == name)
        .unwrap_or_else(|| panic!("{name} FILE is required"));
    rest.get(i + 1).cloned().expect("a file after the flag")
}

#[allow(deprecated)] // rustls marks ring's provider deprecated (no post-quantum kx); percore uses it too
fn config(cert: &str, key: &str) -> Arc<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .expect("certificate file")
        .collect::<Result<_, _>>()
        .expect("certificate PEM");
    let key = PrivateKeyDer::from_pem_file(key).expect("private key PEM");
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("certificate and key");
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    config.session_storage = rustls::server::ServerSessionMemoryCache::new(1024);
    config.ticketer = rustls::crypto::ring::Ticketer::new().unwrap();
    Arc::new(config)
}

fn main() {
    let a = percore_bench_peers::args("127.0.0.1:8443");
    let addr = a.listen;
    let config = config(&flag(&a.rest, "--tls-cert"), &flag(&a.rest, "--tls-key"));
    println!(
        "listening on https://{addr} (cores: {}, hyper + tokio-rustls per-core current_thread)",
        a.cores
    );
    percore_bench_peers::per_core(a.cores, move |_| {
        let acceptor = tokio_rustls::TlsAcceptor::from(config.clone());
        async move {
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
                        let acceptor = acceptor.clone();
                        tokio::task::spawn_local(async move {
                            let Ok(tls) = acceptor.accept(s).await else {
                                return;
                            };
                            let _ = auto::Builder::new(LocalExec)
                                .serve_connection(
                                    TokioIo::new(tls),
                                    hyper::service::service_fn(route),
                                )
                                .await;
                        });
                    }
                })
                .await;
        }
    });
}
