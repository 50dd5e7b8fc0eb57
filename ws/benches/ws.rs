//! Criterion benchmarks of the hot paths: masking, UTF-8 validation, decode
//! and encode of small frames.

use bytes::BytesMut;
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use percore_ws::mask::apply_mask;
use percore_ws::utf8::Utf8Validator;
use percore_ws::{Codec, Config, Message, Role};

fn masking(c: &mut Criterion) {
    let mut g = c.benchmark_group("mask");
    for len in [32usize, 16 * 1024] {
        let mut buf = vec![0x5au8; len];
        g.throughput(Throughput::Bytes(len as u64));
        g.bench_function(format!("{len}B"), |b| {
            b.iter(|| apply_mask(black_box(&mut buf), [1, 2, 3, 4], 0))
        });
    }
    g.finish();
}

fn utf8(c: &mut Criterion) {
    let mut g = c.benchmark_group("utf8");
    let ascii = "a".repeat(16 * 1024);
    let mixed: String = "aé€𝄞 κόσμε ".chars().cycle().take(6000).collect();
    let mixed = &mixed[..mixed
        .char_indices()
        .take_while(|(i, _)| *i < 16 * 1024)
        .last()
        .map_or(0, |x| x.0)];
    for (name, s) in [("ascii_16K", ascii.as_str()), ("mixed_16K", mixed)] {
        g.throughput(Throughput::Bytes(s.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut v = Utf8Validator::new();
                v.feed(black_box(s.as_bytes())).unwrap();
                v.finish().unwrap();
            })
        });
    }
    g.finish();
}

fn codec(c: &mut Criterion) {
    let mut g = c.benchmark_group("codec");
    let payload = vec![b'x'; 32];
    // A 32-byte masked text frame, as a server receives it.
    let mut frame = BytesMut::new();
    Codec::new(Role::Client, Config::default())
        .encode(
            &Message::text(String::from_utf8(payload.clone()).unwrap()),
            &mut frame,
        )
        .unwrap();
    let frame = frame.freeze();
    g.throughput(Throughput::Bytes(frame.len() as u64));
    let mut server = Codec::new(Role::Server, Config::default());
    let mut buf = BytesMut::with_capacity(4096);
    g.bench_function("decode_32B_masked", |b| {
        b.iter(|| {
            buf.extend_from_slice(&frame);
            black_box(server.decode(&mut buf).unwrap().unwrap());
        })
    });
    let msg = Message::binary(payload.clone());
    let mut out = BytesMut::with_capacity(4096);
    for role in [Role::Server, Role::Client] {
        let mut enc = Codec::new(role, Config::default());
        g.bench_function(format!("encode_32B_{role:?}"), |b| {
            b.iter(|| {
                out.clear();
                enc.encode(black_box(&msg), &mut out).unwrap();
            })
        });
    }
    g.finish();
}

criterion_group!(benches, masking, utf8, codec);
criterion_main!(benches);
