//! HTTP/2 codec micro-benchmarks: HPACK decoding of a browser request
//! (second block, dynamic table hits), HPACK encoding of a typical response
//! (steady state), frame decoding of a HEADERS + DATA pair, and a
//! connection's output of a response queued as many small chunks (DATA
//! frames joining several chunks each).
//!
//! `cargo bench -p percore-http --bench h2 -- --warm-up-time 1 --measurement-time 2`

use bytes::{Bytes, BytesMut};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use http::header::{self, HeaderValue};
use http::{HeaderMap, Method, StatusCode};
use percore_http::h2::frame::{self, FrameDecoder, Role};
use percore_http::h2::hpack::{Decoder, Encoder};

fn browser_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    let v = HeaderValue::from_static;
    h.insert(
        header::USER_AGENT,
        v("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"),
    );
    h.insert(
        header::ACCEPT,
        v("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
    );
    h.insert(header::ACCEPT_LANGUAGE, v("en-US,en;q=0.5"));
    h.insert(header::ACCEPT_ENCODING, v("gzip, deflate, br, zstd"));
    h.insert(header::REFERER, v("https://www.example.com/"));
    h.insert(
        header::COOKIE,
        v("session=8f14e45fceea167a5a36dedd4bea2543; theme=dark"),
    );
    h.insert("upgrade-insecure-requests", v("1"));
    h.insert("sec-fetch-dest", v("document"));
    h.insert("sec-fetch-mode", v("navigate"));
    h.insert("sec-fetch-site", v("same-origin"));
    h
}

fn hpack_decode(c: &mut Criterion) {
    let headers = browser_headers();
    let mut enc = Encoder::new(4096);
    let mut blocks = Vec::new();
    for path in ["/", "/index.html?q=rust&page=2"] {
        let mut b = BytesMut::new();
        enc.encode_request(
            &Method::GET,
            "https",
            Some("www.example.com"),
            path,
            &headers,
            &mut b,
        );
        blocks.push(b.freeze());
    }
    let mut dec = Decoder::new(4096);
    dec.decode(&blocks[0], 16 * 1024).unwrap();
    let second: Bytes = blocks[1].clone();
    let table = dec.table().size();
    let mut g = c.benchmark_group("hpack");
    g.throughput(Throughput::Elements(1));
    // The second block only refers to the table (plus never-/not-indexed
    // literals), so decoding it repeatedly leaves the table unchanged.
    g.bench_function("decode_browser_request_warm", |b| {
        b.iter(|| black_box(dec.decode(black_box(&second), 16 * 1024).unwrap().len()))
    });
    assert_eq!(dec.table().size(), table);
    let mut cold = Decoder::new(4096);
    g.bench_function("decode_browser_request_cold", |b| {
        b.iter(|| {
            cold = Decoder::new(4096);
            black_box(cold.decode(black_box(&blocks[0]), 16 * 1024).unwrap().len())
        })
    });

    let mut resp = HeaderMap::new();
    resp.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    resp.insert(header::CONTENT_LENGTH, HeaderValue::from_static("13452"));
    resp.insert(
        header::DATE,
        HeaderValue::from_static("Tue, 01 Dec 2026 14:33:11 GMT"),
    );
    resp.insert(header::SERVER, HeaderValue::from_static("percore"));
    let mut enc = Encoder::new(4096);
    let mut out = BytesMut::with_capacity(4096);
    enc.encode_response(StatusCode::OK, &resp, &mut out);
    g.bench_function("encode_response_warm", |b| {
        b.iter(|| {
            out.clear();
            enc.encode_response(StatusCode::OK, black_box(&resp), &mut out);
            black_box(out.len())
        })
    });
    g.finish();
}

fn frames(c: &mut Criterion) {
    let mut wire = BytesMut::new();
    frame::encode_headers(1, &[0x82; 120], false, 16_384, &mut wire);
    frame::encode_data(1, &[b'x'; 1024], true, &mut wire);
    let wire = wire.freeze();
    let mut dec = FrameDecoder::new(Role::Server, 16_384);
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let mut g = c.benchmark_group("h2_frame");
    g.throughput(Throughput::Bytes(wire.len() as u64));
    g.bench_function("decode_headers_data", |b| {
        b.iter(|| {
            buf.extend_from_slice(&wire);
            let h = dec.decode(&mut buf).unwrap().unwrap();
            let d = dec.decode(&mut buf).unwrap().unwrap();
            black_box((h, d))
        })
    });
    g.finish();
}

/// 256 KiB of response queued as 1 KiB chunks (a streamed body, or a
/// tunnel's small writes), written out as 16 KiB DATA frames that each
/// join 16 chunks.
fn output_of_small_chunks(c: &mut Criterion) {
    use percore_http::h2::conn::ServerConnection;
    use percore_http::Limits;
    const TOTAL: usize = 256 * 1024;
    let chunk = Bytes::from(vec![b'x'; 1024]);
    let mut client = BytesMut::from(&frame::PREFACE[..]);
    frame::encode_settings(
        &frame::Settings {
            initial_window_size: Some(frame::MAX_WINDOW_SIZE),
            ..Default::default()
        },
        &mut client,
    );
    frame::encode_window_update(0, frame::MAX_WINDOW_SIZE - 65_535, &mut client);
    let mut block = BytesMut::new();
    Encoder::new(4096).encode_request(
        &Method::GET,
        "http",
        Some("x"),
        "/",
        &HeaderMap::new(),
        &mut block,
    );
    frame::encode_headers(1, &block, true, 16_384, &mut client);
    let client = client.freeze();
    let limits = Limits::default();
    let mut out = BytesMut::with_capacity(TOTAL + 4096);
    let mut g = c.benchmark_group("h2_conn");
    g.throughput(Throughput::Bytes(TOTAL as u64));
    g.bench_function("output_256k_in_1k_chunks", |b| {
        b.iter(|| {
            let mut conn = ServerConnection::new(&limits);
            conn.recv(&mut BytesMut::from(&client[..])).unwrap();
            conn.send_response(1, StatusCode::OK, &HeaderMap::new(), false)
                .unwrap();
            for _ in 0..TOTAL / chunk.len() {
                conn.send_data(1, chunk.clone(), false).unwrap();
            }
            conn.send_data(1, Bytes::new(), true).unwrap();
            out.clear();
            conn.poll_output(&mut out, usize::MAX);
            black_box(out.len())
        })
    });
    g.finish();
}

criterion_group!(benches, hpack_decode, frames, output_of_small_chunks);
criterion_main!(benches);
