//! Shared helpers of the TLS tests: certificates made with rcgen in a
//! temporary directory, a TLS server on a background thread (either
//! driver), and running the `openssl` and `curl` peers.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use percore_runtime::future::{race, Either};
use percore_runtime::net::{TcpListener, TcpStream};
use percore_runtime::sync::Shutdown;
use percore_runtime::{spawn_local, Builder, DriverChoice};
use percore_tls::{TlsAcceptor, TlsStream};
use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair,
};

/// Declares `mod $name { #[test] fn uring(); #[test] fn epoll(); }`.
#[macro_export]
macro_rules! both_drivers {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[test]
            fn uring() {
                ($body)(percore_runtime::DriverChoice::Uring)
            }
            #[test]
            fn epoll() {
                ($body)(percore_runtime::DriverChoice::Epoll)
            }
        }
    };
}

/// Runs `fut` on a new runtime with `driver` on this thread.
pub fn run<F: std::future::Future>(driver: DriverChoice, fut: F) -> F::Output {
    Builder::new().driver(driver).build().unwrap().block_on(fut)
}

/// A directory of test certificates, removed on drop: a CA, and leaf
/// certificates signed by it.
pub struct Pki {
    pub dir: PathBuf,
    ca: Certificate,
    ca_key: KeyPair,
}

/// Paths of a certificate and its key.
#[derive(Clone, Debug)]
pub struct CertFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Pki {
    /// A new CA whose common name is `ca_name`.
    pub fn new(ca_name: &str) -> Pki {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "percore-tls-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, ca_name);
        let ca_key = KeyPair::generate().unwrap();
        let ca = params.self_signed(&ca_key).unwrap();
        std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
        Pki { dir, ca, ca_key }
    }

    /// The CA certificate's PEM file.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// A server certificate for `names` with common name `names[0]`,
    /// written as `<file>.pem` and `<file>.key`.
    pub fn server_cert(&self, file: &str, names: &[&str]) -> CertFiles {
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        params.distinguished_name.push(DnType::CommonName, names[0]);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.sign(file, params)
    }

    /// A client certificate (for mTLS) with common name `name`.
    pub fn client_cert(&self, file: &str, name: &str) -> CertFiles {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(file, params)
    }

    fn sign(&self, file: &str, params: CertificateParams) -> CertFiles {
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.ca, &self.ca_key).unwrap();
        let files = CertFiles {
            cert: self.dir.join(format!("{file}.pem")),
            key: self.dir.join(format!("{file}.key")),
        };
        std::fs::write(&files.cert, cert.pem()).unwrap();
        std::fs::write(&files.key, key.serialize_pem()).unwrap();
        files
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The DER of the first certificate in a PEM file.
pub fn cert_der(path: &Path) -> Vec<u8> {
    use percore_tls::rustls::pki_types::{pem::PemObject, CertificateDer};
    CertificateDer::from_pem_file(path).unwrap().to_vec()
}

/// What the test server does with a connection once the handshake is done.
#[derive(Clone, Copy, Debug)]
pub enum Behavior {
    /// Writes back every byte; answers close_notify with close_notify.
    Echo,
    /// Reads a request head and answers `200` with a body naming the ALPN
    /// protocol and SNI name, then closes.
    Http,
}

/// The outcome of one accepted handshake, as the server saw it.
#[derive(Clone, Debug)]
pub struct Accepted {
    pub result: Result<Session, String>,
    /// From the TCP accept to the end of the handshake (or its failure).
    pub elapsed: Duration,
}

/// What a finished handshake negotiated.
#[derive(Clone, Debug)]
pub struct Session {
    pub alpn: Option<String>,
    pub sni: Option<String>,
    pub version: String,
    pub client_cert: Option<Vec<u8>>,
    pub resumed: bool,
}

/// A TLS server on a background thread; stopped on drop.
pub struct TlsServer {
    pub addr: SocketAddr,
    pub acceptor: TlsAcceptor,
    accepted: Arc<Mutex<Vec<Accepted>>>,
    shutdown: Shutdown,
    thread: Option<JoinHandle<()>>,
}

impl TlsServer {
    /// Serves with `acceptor` on 127.0.0.1 (a free port), on `driver`.
    pub fn start(
        driver: DriverChoice,
        acceptor: TlsAcceptor,
        handshake_timeout: Duration,
        behavior: Behavior,
    ) -> TlsServer {
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let shutdown = Shutdown::new();
        let (tx, rx) = mpsc::channel();
        let thread = {
            let (acceptor, accepted, shutdown) =
                (acceptor.clone(), accepted.clone(), shutdown.clone());
            std::thread::spawn(move || {
                run(driver, async move {
                    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
                    tx.send(listener.local_addr().unwrap()).unwrap();
                    loop {
                        let tcp = match race(shutdown.wait(), listener.accept()).await {
                            Either::Left(()) => return,
                            Either::Right(Ok((tcp, _))) => tcp,
                            Either::Right(Err(e)) => panic!("accept: {e}"),
                        };
                        let (acceptor, accepted) = (acceptor.clone(), accepted.clone());
                        spawn_local(async move {
                            serve(tcp, acceptor, handshake_timeout, behavior, accepted).await
                        });
                    }
                })
            })
        };
        let addr = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        TlsServer {
            addr,
            acceptor,
            accepted,
            shutdown,
            thread: Some(thread),
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Waits until `n` handshakes ended (fails after 10 s) and returns them all.
    pub fn accepted(&self, n: usize) -> Vec<Accepted> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let seen = self.accepted.lock().unwrap().clone();
            if seen.len() >= n {
                return seen;
            }
            assert!(
                Instant::now() < deadline,
                "{} handshakes, not {n}: {seen:?}",
                seen.len()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        self.shutdown.trigger();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn serve(
    tcp: TcpStream,
    acceptor: TlsAcceptor,
    handshake_timeout: Duration,
    behavior: Behavior,
    accepted: Arc<Mutex<Vec<Accepted>>>,
) {
    tcp.set_nodelay(true).unwrap();
    let start = Instant::now();
    let outcome = acceptor.accept(tcp, handshake_timeout).await;
    let elapsed = start.elapsed();
    let tls = match outcome {
        Ok(tls) => tls,
        Err(e) => {
            accepted.lock().unwrap().push(Accepted {
                result: Err(format!("{:?}: {e}", e.kind())),
                elapsed,
            });
            return;
        }
    };
    let session = Session {
        alpn: tls
            .negotiated_alpn()
            .map(|p| String::from_utf8_lossy(&p).into_owned()),
        sni: tls.sni_hostname(),
        version: format!("{:?}", tls.protocol_version().unwrap()),
        client_cert: tls
            .peer_certificates()
            .and_then(|c| c.first().map(|c| c.to_vec())),
        resumed: tls.is_resumed(),
    };
    accepted.lock().unwrap().push(Accepted {
        result: Ok(session.clone()),
        elapsed,
    });
    let tls = Rc::new(tls);
    match behavior {
        Behavior::Echo => echo(&tls).await,
        Behavior::Http => http_answer(&tls, &session).await,
    }
}

async fn echo(tls: &TlsStream) {
    loop {
        let (res, buf) = tls.read(Vec::with_capacity(32 * 1024)).await;
        match res {
            Ok(0) => {
                let _ = tls.shutdown().await;
                return;
            }
            Ok(_) => {
                if tls.write_all(buf).await.0.is_err() {
                    return;
                }
            }
            Err(_) => return,
        }
    }
}

async fn http_answer(tls: &TlsStream, session: &Session) {
    let mut head = Vec::with_capacity(4096);
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.capacity() == head.len() {
            head.reserve(4096);
        }
        let (res, buf) = tls.read(head).await;
        head = buf;
        match res {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
    let body = format!(
        "hello over TLS; alpn={}; sni={}\n",
        session.alpn.as_deref().unwrap_or("-"),
        session.sni.as_deref().unwrap_or("-")
    );
    let answer = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tls.write_all(answer.into_bytes()).await;
    let _ = tls.shutdown().await;
}

/// A peer process's exit status and its stdout and stderr together.
pub struct PeerOutput {
    pub success: bool,
    pub text: String,
}

/// Runs `program args`, writes `input` to its stdin, keeps stdin open for
/// `linger` (so it can read the server's answers), then waits up to 20 s.
pub fn run_peer(program: &str, args: &[&str], input: &[u8], linger: Duration) -> PeerOutput {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    {
        let mut stdin = child.stdin.take().unwrap();
        let _ = stdin.write_all(input);
        std::thread::sleep(linger);
    }
    wait_peer(child, program)
}

fn wait_peer(mut child: Child, program: &str) -> PeerOutput {
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{program} did not finish within 20 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut text = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    PeerOutput {
        success: status.success(),
        text,
    }
}

/// `openssl s_client` to `port` with `args`, sending `input` and waiting
/// `linger` before closing its stdin.
pub fn s_client(port: u16, args: &[&str], input: &[u8], linger: Duration) -> PeerOutput {
    let connect = format!("127.0.0.1:{port}");
    let mut all = vec!["s_client", "-connect", &connect];
    all.extend_from_slice(args);
    run_peer("openssl", &all, input, linger)
}

/// A free TCP port on 127.0.0.1 (bound and released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An `openssl s_server` child, killed by its PID on drop.
pub struct SServer {
    child: Child,
    pub port: u16,
}

impl SServer {
    /// Starts `openssl s_server -www` with `args` and waits until it takes
    /// connections.
    pub fn start(args: &[&str]) -> SServer {
        let port = free_port();
        let port_arg = port.to_string();
        let mut all = vec!["s_server", "-accept", &port_arg, "-www", "-quiet"];
        all.extend_from_slice(args);
        let child = Command::new("openssl")
            .args(&all)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("openssl s_server");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "s_server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        SServer { child, port }
    }
}

impl Drop for SServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
