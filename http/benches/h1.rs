//! HTTP/1.1 codec micro-benchmarks: parsing a browser-like and a minimal
//! (wrk-style) request head, encoding a small response head.
//!
//! `cargo bench -p percore-http --bench h1 -- --warm-up-time 1 --measurement-time 3`

use bytes::{Bytes, BytesMut};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use http::header::{HeaderValue, CONTENT_TYPE, SERVER};
use http::{HeaderMap, StatusCode, Version};
use percore_http::h1::{encode_response_head, parse_request_head, ResponseBody};
use percore_http::Limits;

const BROWSER: &[u8] = b"GET /index.html?q=rust&page=2 HTTP/1.1\r\n\
Host: www.example.com\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n\
Accept-Language: en-US,en;q=0.5\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Referer: https://www.example.com/\r\n\
Connection: keep-alive\r\n\
Cookie: session=8f14e45fceea167a5a36dedd4bea2543; theme=dark\r\n\
Upgrade-Insecure-Requests: 1\r\n\
Sec-Fetch-Dest: document\r\n\r\n";

const WRK: &[u8] = b"GET / HTTP/1.1\r\nHost: localhost:8080\r\n\r\n";

fn parse(c: &mut Criterion, name: &str, input: &'static [u8]) {
    let limits = Limits::default();
    let mut g = c.benchmark_group("h1_parse");
    g.throughput(Throughput::Bytes(input.len() as u64));
    // Like a connection loop: the bytes land in a reused read buffer, the
    // head is parsed off it and dropped.
    let mut buf = BytesMut::with_capacity(64 * 1024);
    g.bench_function(name, |b| {
        b.iter(|| {
            buf.extend_from_slice(input);
            let head = parse_request_head(&mut buf, &limits);
            black_box(head.map(|h| h.map(|h| h.headers.len())))
        })
    });
    g.finish();
}

fn bench_parse(c: &mut Criterion) {
    parse(c, "browser_10_headers", BROWSER);
    parse(c, "wrk_minimal", WRK);
}

fn bench_encode(c: &mut Criterion) {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    headers.insert(SERVER, HeaderValue::from_static("percore"));
    let date = Bytes::from_static(b"Sun, 06 Nov 1994 08:49:37 GMT");
    let mut dst = BytesMut::with_capacity(4096);
    c.bench_function("h1_encode/200_two_headers_length", |b| {
        b.iter(|| {
            dst.clear();
            encode_response_head(
                &mut dst,
                Version::HTTP_11,
                StatusCode::OK,
                black_box(&headers),
                ResponseBody::Length(13),
                &date,
                false,
            );
            black_box(dst.len())
        })
    });
}

criterion_group!(benches, bench_parse, bench_encode);
criterion_main!(benches);
