//! A raw HTTP/1.1 server for the client tests: std sockets, one thread per
//! connection, answers written by the test byte for byte.
#![allow(dead_code)]

pub mod ws;

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use percore::rt::Runtime;
use percore::DriverChoice;

pub fn runtime(d: DriverChoice) -> Runtime {
    Runtime::builder().driver(d).build().expect("runtime")
}

/// A raw HTTP/1.1 server: one thread per connection; `answer` gets each
/// request head (and the stream) and says whether to keep the connection.
pub struct RawServer {
    pub addr: SocketAddr,
    pub accepted: Arc<AtomicUsize>,
    /// Connections open now, most open at once, closed so far.
    pub open: Arc<AtomicUsize>,
    pub max_open: Arc<AtomicUsize>,
    pub closed: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl RawServer {
    pub fn start<F>(answer: F) -> RawServer
    where
        F: Fn(&mut TcpStream, &str) -> bool + Send + Sync + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let answer = Arc::new(answer);
        let open = Arc::new(AtomicUsize::new(0));
        let max_open = Arc::new(AtomicUsize::new(0));
        let closed = Arc::new(AtomicUsize::new(0));
        let (acc, st) = (accepted.clone(), stop.clone());
        let (o, m, c) = (open.clone(), max_open.clone(), closed.clone());
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(mut conn) = conn else { continue };
                acc.fetch_add(1, Ordering::SeqCst);
                let answer = answer.clone();
                let now = o.fetch_add(1, Ordering::SeqCst) + 1;
                m.fetch_max(now, Ordering::SeqCst);
                let (o, c) = (o.clone(), c.clone());
                std::thread::spawn(move || {
                    while let Some(head) = read_head(&mut conn) {
                        if !answer(&mut conn, &head) {
                            break;
                        }
                    }
                    o.fetch_sub(1, Ordering::SeqCst);
                    c.fetch_add(1, Ordering::SeqCst);
                });
            }
        });
        RawServer {
            addr,
            accepted,
            open,
            max_open,
            closed,
            stop,
            thread: Some(thread),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

impl Drop for RawServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads one request head (and a `content-length` body, discarded).
pub fn read_head(conn: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match conn.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return None,
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let length = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    if head.to_ascii_lowercase().contains("expect: 100-continue") {
        return Some(head); // the answer decides whether to read the body
    }
    let mut body = vec![0u8; length];
    conn.read_exact(&mut body).ok()?;
    Some(head)
}
