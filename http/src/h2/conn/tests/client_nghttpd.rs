//! The client against a real server: nghttpd (nghttp2), h2c with prior
//! knowledge, over a blocking std socket — the loop a driver runs, with
//! no runtime. nghttpd is started on a free port and stopped by PID.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use http::{Request, StatusCode};

use crate::h2::conn::{ClientConnection, ClientEvent};
use crate::Limits;

/// nghttpd serving a temporary directory; killed and cleaned up on drop.
struct Nghttpd {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Nghttpd {
    fn start(files: &[(&str, &[u8])]) -> Nghttpd {
        let dir = std::env::temp_dir().join(format!(
            "percore-h2-client-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
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
        let child = Command::new("nghttpd")
            .arg("--no-tls")
            .arg("-a")
            .arg("127.0.0.1")
            .arg("-d")
            .arg(&dir)
            .arg(port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nghttpd (apt-get install nghttp2-server)");
        let server = Nghttpd { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "nghttpd did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }
}

impl Drop for Nghttpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A blocking driver: write the output, read, feed, collect events,
/// release body bytes as they arrive.
struct Driver {
    conn: ClientConnection,
    sock: TcpStream,
    events: Vec<ClientEvent>,
}

impl Driver {
    fn connect(port: u16, limits: &Limits) -> Driver {
        let sock = TcpStream::connect(("127.0.0.1", port)).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        Driver {
            conn: ClientConnection::new(limits),
            sock,
            events: Vec::new(),
        }
    }

    /// Runs the loop until `done` holds for the events so far.
    fn run_until(&mut self, done: impl Fn(&[ClientEvent]) -> bool) {
        let mut read_buf = BytesMut::new();
        let mut chunk = vec![0u8; 64 * 1024];
        while !done(&self.events) {
            let mut out = BytesMut::new();
            self.conn.poll_output(&mut out, usize::MAX);
            self.sock.write_all(&out).unwrap();
            if done(&self.events) {
                break;
            }
            let n = self.sock.read(&mut chunk).expect("nghttpd answers");
            assert!(n > 0, "nghttpd closed the connection: {:?}", self.events);
            read_buf.extend_from_slice(&chunk[..n]);
            self.conn
                .recv(&mut read_buf)
                .expect("nghttpd speaks HTTP/2");
            while let Some(event) = self.conn.poll_event() {
                if let ClientEvent::Data {
                    stream_id, data, ..
                } = &event
                {
                    self.conn.release(*stream_id, data.len());
                }
                self.events.push(event);
            }
        }
    }
}

/// Streams whose response is complete (or reset).
fn finished(events: &[ClientEvent]) -> usize {
    events
        .iter()
        .filter(|e| {
            matches!(
                e,
                ClientEvent::Response {
                    end_stream: true,
                    ..
                } | ClientEvent::Data {
                    end_stream: true,
                    ..
                } | ClientEvent::Trailers { .. }
                    | ClientEvent::Reset { .. }
            )
        })
        .count()
}

#[test]
fn nghttpd_serves_concurrent_requests_through_small_windows() {
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    let server = Nghttpd::start(&[("small.txt", b"hello\n"), ("big.bin", &big)]);
    // A 64 KiB receive window: the 300 kB body needs WINDOW_UPDATEs.
    let limits = Limits {
        h2_initial_window_size: 65_535,
        ..Limits::default()
    };
    let mut d = Driver::connect(server.port, &limits);
    let uri = |path: &str| format!("http://127.0.0.1:{}{path}", server.port);
    let requests = [
        Request::get(uri("/small.txt")),
        Request::get(uri("/big.bin")),
        Request::get(uri("/missing")),
        Request::head(uri("/big.bin")),
    ];
    let mut ids = Vec::new();
    for request in requests {
        ids.push(
            d.conn
                .send_request(&request.body(()).unwrap(), true)
                .unwrap(),
        );
    }
    d.conn.send_ping(*b"percore!");
    d.run_until(|events| {
        finished(events) == 4
            && events
                .iter()
                .any(|e| matches!(e, ClientEvent::PingAck { .. }))
    });
    let mut status = HashMap::new();
    let mut bodies: HashMap<u32, Vec<u8>> = HashMap::new();
    for event in &d.events {
        match event {
            ClientEvent::Response {
                stream_id,
                response,
                ..
            } => {
                status.insert(*stream_id, response.status());
                if *stream_id == ids[3] {
                    assert_eq!(response.headers()["content-length"], "300000");
                }
            }
            ClientEvent::Data {
                stream_id, data, ..
            } => bodies
                .entry(*stream_id)
                .or_default()
                .extend_from_slice(data),
            ClientEvent::PingAck { payload } => assert_eq!(payload, b"percore!"),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(status[&ids[0]], StatusCode::OK);
    assert_eq!(status[&ids[1]], StatusCode::OK);
    assert_eq!(status[&ids[2]], StatusCode::NOT_FOUND);
    assert_eq!(status[&ids[3]], StatusCode::OK);
    assert_eq!(bodies[&ids[0]], b"hello\n");
    assert!(bodies[&ids[1]] == big, "the big body arrives whole");
    assert!(bodies.get(&ids[3]).is_none_or(|b| b.is_empty()));
    assert_eq!(d.conn.active_streams(), 0);
}

#[test]
fn nghttpd_takes_a_request_body_larger_than_its_window() {
    let server = Nghttpd::start(&[("upload", b"ok\n")]);
    let mut d = Driver::connect(server.port, &Limits::default());
    let request = Request::post(format!("http://127.0.0.1:{}/upload", server.port))
        .body(())
        .unwrap();
    let id = d.conn.send_request(&request, false).unwrap();
    d.conn
        .send_data(id, bytes::Bytes::from(vec![b'u'; 200_000]), true)
        .unwrap();
    d.run_until(|events| finished(events) == 1);
    assert!(
        matches!(&d.events[0], ClientEvent::Response { response, .. } if response.status() == StatusCode::OK),
        "{:?}",
        d.events
    );
    // Whether nghttpd read the whole body or reset the rest with
    // NO_ERROR after answering, nothing of the stream is left.
    assert_eq!(d.conn.active_streams(), 0);
}
