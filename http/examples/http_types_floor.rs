//! The least a server can do to turn a request into `http` crate types:
//! httparse, then `Method`, `Uri` (over shared bytes), a `HeaderMap`
//! and a `Request`, then drop it. No strictness checks, no body framing, no
//! response, no I/O. It measures the floor that "parse into `http` types"
//! puts under any server built that way (BENCHMARKS.md, "Instructions per
//! request"):
//!
//! ```text
//! cargo build --release -p percore-http --example http_types_floor
//! valgrind --tool=callgrind target/release/examples/http_types_floor 10000
//! valgrind --tool=callgrind target/release/examples/http_types_floor 110000
//! ```
//!
//! The difference of the two totals over 100 000 is the cost per request.
use bytes::{Bytes, BytesMut};
use std::hint::black_box;

fn parse(buf: &mut BytesMut) -> http::Request<()> {
    let mut slots = [httparse::EMPTY_HEADER; 16];
    let mut req = httparse::Request::new(&mut slots);
    let n = match req.parse(buf).unwrap() {
        httparse::Status::Complete(n) => n,
        httparse::Status::Partial => panic!("the request is complete"),
    };
    let base = buf.as_ptr() as usize;
    let path = req.path.unwrap();
    let p0 = path.as_ptr() as usize - base;
    let p1 = p0 + path.len();
    let method = http::Method::from_bytes(req.method.unwrap().as_bytes()).unwrap();
    let mut fields = [(0usize, 0usize, 0usize, 0usize); 16];
    let mut count = 0;
    for h in req.headers.iter() {
        let n0 = h.name.as_ptr() as usize - base;
        let v0 = h.value.as_ptr() as usize - base;
        fields[count] = (n0, n0 + h.name.len(), v0, v0 + h.value.len());
        count += 1;
    }
    let head: Bytes = buf.split_to(n).freeze();
    let uri = http::Uri::from_maybe_shared(head.slice(p0..p1)).unwrap();
    let mut headers = http::HeaderMap::with_capacity(count);
    for &(n0, n1, v0, v1) in &fields[..count] {
        let name = http::header::HeaderName::from_bytes(&head[n0..n1]).unwrap();
        let value = http::HeaderValue::from_maybe_shared(head.slice(v0..v1)).unwrap();
        headers.append(name, value);
    }
    let mut r = http::Request::new(());
    *r.method_mut() = method;
    *r.uri_mut() = uri;
    *r.headers_mut() = headers;
    r
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map_or(100_000, |s| s.parse().unwrap());
    // What h2load sends in `benches/callgrind.sh`.
    let wire = b"GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1:8096\r\nuser-agent: h2load nghttp2/1.52.0\r\n\r\n";
    let mut buf = BytesMut::with_capacity(wire.len() * 16);
    for _ in 0..n {
        if buf.capacity() < wire.len() {
            buf = BytesMut::with_capacity(wire.len() * 16);
        }
        buf.extend_from_slice(wire);
        black_box(parse(&mut buf));
    }
}
