//! Peers for the HTTP/2 client tests: a scripted h2c server built on the
//! sans-IO `ServerConnection` (std sockets, a thread per connection), a
//! server that stops reading after its SETTINGS, and nghttpd (h2c, or
//! TLS with ALPN h2).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use percore::http::h2::conn::{Event, ServerConnection};
use percore::Limits;

/// What a scripted handler may do besides answering through the
/// connection: write raw frame bytes after the connection's output.
pub struct Extra {
    pub raw: BytesMut,
    /// Which connection this is (0 for the first accepted).
    pub conn_index: usize,
    /// Close the connection now (no GOAWAY).
    pub close: bool,
}

/// An h2c server whose answers are written by the test.
pub struct ScriptedServer {
    pub addr: SocketAddr,
    pub accepted: Arc<AtomicUsize>,
}

impl ScriptedServer {
    pub fn start<F>(limits: Limits, handler: F) -> ScriptedServer
    where
        F: Fn(&mut ServerConnection, Event, &mut Extra) + Send + Sync + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let acc = accepted.clone();
        let handler = Arc::new(handler);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let index = acc.fetch_add(1, Ordering::SeqCst);
                let (handler, limits) = (handler.clone(), limits.clone());
                std::thread::spawn(move || serve(conn, index, &limits, &*handler));
            }
        });
        ScriptedServer { addr, accepted }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

fn serve<F>(mut sock: TcpStream, index: usize, limits: &Limits, handler: &F)
where
    F: Fn(&mut ServerConnection, Event, &mut Extra),
{
    let mut conn = ServerConnection::new(limits);
    let mut buf = BytesMut::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let mut extra = Extra {
        raw: BytesMut::new(),
        conn_index: index,
        close: false,
    };
    loop {
        let mut out = BytesMut::new();
        conn.poll_output(&mut out, usize::MAX);
        out.extend_from_slice(&extra.raw.split());
        if !out.is_empty() && sock.write_all(&out).is_err() {
            return;
        }
        let n = match sock.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        if conn.recv(&mut buf).is_err() {
            let mut out = BytesMut::new();
            conn.poll_output(&mut out, usize::MAX);
            let _ = sock.write_all(&out);
            return;
        }
        while let Some(event) = conn.poll_event() {
            if let Event::Data {
                stream_id,
                ref data,
                ..
            } = event
            {
                conn.release(stream_id, data.len());
            }
            handler(&mut conn, event, &mut extra);
            if extra.close {
                return;
            }
        }
    }
}

/// A server that sends its SETTINGS and then never reads: the client's
/// request body stalls on the window.
pub fn deaf_server(hold: Duration) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        if let Ok((mut sock, _)) = listener.accept() {
            let _ = sock.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]); // empty SETTINGS
            std::thread::sleep(hold);
        }
    });
    addr
}

/// nghttpd serving a temporary directory; killed and cleaned up on drop.
pub struct Nghttpd {
    child: Child,
    pub port: u16,
    dir: PathBuf,
    tls: bool,
}

impl Nghttpd {
    /// h2c (prior knowledge).
    pub fn start(files: &[(&str, &[u8])]) -> Nghttpd {
        Nghttpd::start_with(files, None)
    }

    /// Over TLS with this certificate and key (PEM files): h2 by ALPN,
    /// at `https://localhost`.
    pub fn start_tls(files: &[(&str, &[u8])], cert: PathBuf, key: PathBuf) -> Nghttpd {
        Nghttpd::start_with(files, Some((cert, key)))
    }

    fn start_with(files: &[(&str, &[u8])], tls: Option<(PathBuf, PathBuf)>) -> Nghttpd {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "percore-client-h2-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, content) in files {
            std::fs::write(dir.join(name), content).unwrap();
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut cmd = Command::new("nghttpd");
        if tls.is_none() {
            cmd.arg("--no-tls");
        }
        cmd.arg("-a")
            .arg("127.0.0.1")
            .arg("-d")
            .arg(&dir)
            .arg(port.to_string());
        if let Some((cert, key)) = &tls {
            cmd.arg(key).arg(cert);
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nghttpd (apt-get install nghttp2-server)");
        let server = Nghttpd {
            child,
            port,
            dir,
            tls: tls.is_some(),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "nghttpd did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    pub fn url(&self, path: &str) -> String {
        match self.tls {
            true => format!("https://localhost:{}{path}", self.port),
            false => format!("http://127.0.0.1:{}{path}", self.port),
        }
    }
}

impl Drop for Nghttpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
