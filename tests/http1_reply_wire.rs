//! The HTTP/1.1 writer on the wire, both drivers: an in-memory answer kept
//! as a `Reply::Plain` (no `HeaderMap`) and the same answer as a
//! `Response` must write the same bytes, for `HEAD`, 204, 304, HTTP/1.0
//! (keep-alive and close) and a body larger than the writer copies next
//! to its head.

mod common;
use common::*;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use http::StatusCode;
use percore::web::{get, App, IntoResponse, Reply, Request};
use percore::{DriverChoice, Limits};

/// Larger than the body the writer copies next to its head (8 KiB).
const LARGE: usize = 20 * 1024 + 7;

/// The answer of case `name`, the same for both routes.
fn answer(name: &str) -> (StatusCode, String) {
    match name {
        "small" => (StatusCode::OK, "Hello, World!".to_owned()),
        "created" => (StatusCode::CREATED, "made".to_owned()),
        "no-content" => (StatusCode::NO_CONTENT, String::new()),
        "not-modified" => (StatusCode::NOT_MODIFIED, String::new()),
        "large" => (
            StatusCode::OK,
            (0..LARGE)
                .map(|i| (b'a' + (i % 26) as u8) as char)
                .collect(),
        ),
        _ => (StatusCode::NOT_FOUND, "no such case".to_owned()),
    }
}

/// `/plain/{case}` answers as the web layer keeps it (a `Plain` reply, the
/// app has no middleware); `/response/{case}` the same answer made into a
/// `Response` first.
fn app() -> App {
    App::new()
        .route(
            "/plain/{case}",
            get(|r: Request| async move { answer(r.param("case").unwrap_or_default()) }),
        )
        .route(
            "/response/{case}",
            get(|r: Request| async move {
                answer(r.param("case").unwrap_or_default()).into_response()
            }),
        )
}

/// Reads one response off `s`: its head (the `date` value blanked: the
/// second may turn between two answers) and body, framed by the request's
/// method and the status (RFC 9112 §6.3); `to_eof` reads the body up to
/// the close.
fn response(s: &mut TcpStream, buf: &mut Vec<u8>, is_head: bool, to_eof: bool) -> Vec<u8> {
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        fill(s, buf);
    };
    let head = String::from_utf8(buf[..head_end].to_vec()).unwrap();
    let status: u16 = head[9..12].parse().unwrap();
    let mut length = 0;
    let mut out = Vec::new();
    for line in head.split("\r\n") {
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length: ") {
            length = v.parse().unwrap();
        }
        if lower.starts_with("date: ") {
            out.extend_from_slice(b"date: <blank>");
        } else {
            out.extend_from_slice(line.as_bytes());
        }
        out.extend_from_slice(b"\r\n");
    }
    buf.drain(..head_end);
    let body_len = if is_head || status == 204 || status == 304 {
        0
    } else {
        length
    };
    if to_eof {
        s.read_to_end(buf).unwrap();
        assert_eq!(buf.len(), body_len, "the close comes after the body");
    }
    while buf.len() < body_len {
        fill(s, buf);
    }
    out.extend(buf.drain(..body_len));
    out
}

fn fill(s: &mut TcpStream, buf: &mut Vec<u8>) {
    let mut chunk = [0u8; 16 * 1024];
    let n = s.read(&mut chunk).unwrap();
    assert!(n > 0, "the server closed mid-response");
    buf.extend_from_slice(&chunk[..n]);
}

/// One case: the request line's method and version, and what follows the
/// target (its fields).
struct Case {
    method: &'static str,
    name: &'static str,
    version: &'static str,
    fields: &'static str,
    /// The server closes after the answer.
    closes: bool,
}

const CASES: &[Case] = &[
    Case {
        method: "GET",
        name: "small",
        version: "HTTP/1.1",
        fields: "",
        closes: false,
    },
    Case {
        method: "HEAD",
        name: "small",
        version: "HTTP/1.1",
        fields: "",
        closes: false,
    },
    Case {
        method: "HEAD",
        name: "large",
        version: "HTTP/1.1",
        fields: "",
        closes: false,
    },
    Case {
        method: "GET",
        name: "created",
        version: "HTTP/1.1",
        fields: "",
        closes: false,
    },
    Case {
        method: "GET",
        name: "no-content",
        version: "HTTP/1.1",
        fields: "",
        closes: false,
    },
    Case {
        method: "GET",
        name: "not-modified",
        version: "HTTP/1.1",
        fields: "",
        closes: false,
    },
    Case {
        method: "GET",
        name: "large",
        version: "HTTP/1.1",
        fields: "",
        closes: false,
    },
    Case {
        method: "GET",
        name: "unknown",
        version: "HTTP/1.1",
        fields: "",
        closes: false,
    },
    Case {
        method: "GET",
        name: "small",
        version: "HTTP/1.0",
        fields: "connection: keep-alive\r\n",
        closes: false,
    },
    Case {
        method: "GET",
        name: "large",
        version: "HTTP/1.0",
        fields: "connection: keep-alive\r\n",
        closes: false,
    },
    Case {
        method: "GET",
        name: "small",
        version: "HTTP/1.1",
        fields: "connection: close\r\n",
        closes: true,
    },
    Case {
        method: "GET",
        name: "small",
        version: "HTTP/1.0",
        fields: "",
        closes: true,
    },
    Case {
        method: "GET",
        name: "large",
        version: "HTTP/1.0",
        fields: "",
        closes: true,
    },
];

/// What the server writes for `case` on `route`: every case before the
/// closing ones on one keep-alive connection (so the head cache sees the
/// two kinds of answer in turn), each closing case on a connection of its
/// own.
fn exchange(addr: SocketAddr, route: &str, case: &Case, conn: &mut Option<TcpStream>) -> Vec<u8> {
    let mut fresh = None;
    let s = if case.closes {
        fresh.insert(TcpStream::connect(addr).unwrap())
    } else {
        conn.get_or_insert_with(|| TcpStream::connect(addr).unwrap())
    };
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let request = format!(
        "{} /{route}/{} {}\r\nhost: x\r\n{}\r\n",
        case.method, case.name, case.version, case.fields
    );
    s.write_all(request.as_bytes()).unwrap();
    let mut buf = Vec::new();
    let got = response(s, &mut buf, case.method == "HEAD", case.closes);
    assert!(buf.is_empty(), "bytes after the answer: {buf:?}");
    got
}

both_drivers!(
    plain_and_response_write_the_same_bytes,
    |d: DriverChoice| {
        // The routes answer what they should: one kept `Plain`, one a `Response`.
        for case in CASES {
            assert!(matches!(answer(case.name).into_reply(), Reply::Plain(_)));
            assert!(matches!(
                answer(case.name).into_response().into_reply(),
                Reply::Response(_)
            ));
        }
        let srv = TestServer::serve(d, 1, Limits::default(), Duration::from_secs(5), || app);
        let (mut plain_conn, mut response_conn) = (None, None);
        for case in CASES {
            let plain = exchange(srv.addr, "plain", case, &mut plain_conn);
            let response = exchange(srv.addr, "response", case, &mut response_conn);
            let label = format!("{} {} {}", case.method, case.name, case.version);
            assert_eq!(
                String::from_utf8_lossy(&plain),
                String::from_utf8_lossy(&response),
                "{label}"
            );
            // And the answer is the one asked for.
            let (status, body) = answer(case.name);
            let text = String::from_utf8_lossy(&plain);
            let want = format!("{} {}", case.version, status.as_u16());
            assert!(text.starts_with(&want), "{label}: {text}");
            let sends_body = case.method != "HEAD" && !matches!(status.as_u16(), 204 | 304);
            if sends_body {
                assert!(text.ends_with(&body), "{label}: {text}");
            } else {
                assert!(text.ends_with("\r\n\r\n"), "{label}: {text}");
            }
            if case.version == "HTTP/1.1" {
                assert_eq!(
                    text.contains("connection: close"),
                    case.closes,
                    "{label}: {text}"
                );
            }
        }
    }
);
