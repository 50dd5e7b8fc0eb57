//! Response compression of a 100 KiB JSON body at the default level (gzip
//! 6): percore's `Compression` middleware path (an app answering through
//! it, the body collected) against calling `flate2` directly on the same
//! bytes. Issue 17's target: within 1.2x of flate2's own time.
//!
//! `cargo bench -p percore --bench compress -- --warm-up-time 2 --measurement-time 8`

use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use percore::web::{get, App, Compression, Request, Response};
use std::io::Write;

/// About 100 KiB of JSON: records of a made-up user list.
fn json_body() -> Bytes {
    #[derive(serde::Serialize)]
    struct User {
        id: u32,
        name: String,
        email: String,
        active: bool,
        score: u32,
        tags: [&'static str; 2],
    }
    let mut users = Vec::new();
    let mut text = Vec::new();
    let mut i = 0;
    while text.len() < 100 * 1024 {
        users.push(User {
            id: i,
            name: format!("user {i}"),
            email: format!("user{i}@example.com"),
            active: i % 3 != 0,
            score: i * 37 % 1000,
            tags: [["red", "green", "blue"][i as usize % 3], "member"],
        });
        text = serde_json::to_vec(&users).unwrap();
        i += 1;
    }
    Bytes::from(text)
}

fn compress(c: &mut Criterion) {
    let body = json_body();
    let mut g = c.benchmark_group("compress_100k_json");
    g.throughput(Throughput::Bytes(body.len() as u64));

    g.bench_function("flate2_gzip6", |b| {
        b.iter(|| {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
            e.write_all(&body).unwrap();
            black_box(e.finish().unwrap().len())
        })
    });

    let rt = percore::rt::Runtime::new().unwrap();
    let served = body.clone();
    let app = App::new().plugin(Compression::new()).route(
        "/data",
        get(move |_r: Request| {
            let body = served.clone();
            async move {
                let mut resp = Response::new(body.into());
                resp.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static("application/json"),
                );
                resp
            }
        }),
    );
    g.bench_function("percore_middleware_gzip", |b| {
        b.iter(|| {
            rt.block_on(async {
                let req = http::Request::get("/data")
                    .header("accept-encoding", "gzip")
                    .body("")
                    .unwrap();
                let resp = app.oneshot(req).await;
                assert_eq!(resp.headers()["content-encoding"], "gzip");
                black_box(resp.into_body().collect().await.unwrap().len())
            })
        })
    });
    g.finish();
}

criterion_group!(benches, compress);
criterion_main!(benches);
