//! Arbitrary `Accept-Encoding` values and bodies through the `Compression`
//! middleware. Input: a flags byte (bit 0: streamed in chunks, bits 1-7:
//! chunk size), then the header up to the first `\n`, then the body.
//! Checks: no panic; a compressed answer decodes (gzip or brotli) to
//! exactly the body; an uncompressed one is the body unchanged.
#![no_main]
use std::io::Read;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use percore::http::Body;
use percore::rt::Runtime;
use percore::web::{self, App, Compression, Request};

thread_local! {
    // Leaked: a runtime dropped among the thread-locals at exit panics
    // (its Drop reaches its own, already destroyed, thread-local context).
    static RT: &'static Runtime = Box::leak(Box::new(Runtime::new().unwrap()));
}

fn app(body: Bytes, chunk: usize, streamed: bool) -> App {
    App::new()
        .plugin(
            Compression::new()
                .min_size(0)
                .brotli_quality(1)
                .gzip_level(1),
        )
        .route(
            "/",
            web::get(move |_r: Request| {
                let body = body.clone();
                async move {
                    let body = if streamed {
                        let (tx, b) = Body::channel(2);
                        percore::rt::spawn_local(async move {
                            for piece in body.chunks(chunk) {
                                if tx.send(Bytes::copy_from_slice(piece)).await.is_err() {
                                    return;
                                }
                            }
                        });
                        b
                    } else {
                        Body::from(body)
                    };
                    let mut r = http::Response::new(body);
                    r.headers_mut()
                        .insert("content-type", "text/plain".parse().unwrap());
                    r
                }
            }),
        )
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let (accept, body) = match rest.iter().position(|&b| b == b'\n') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let Ok(accept) = http::HeaderValue::from_bytes(accept) else {
        return;
    };
    let body = Bytes::copy_from_slice(body);
    let app = app(body.clone(), usize::from(flags >> 1) + 1, flags & 1 == 1);
    RT.with(|rt| {
        rt.block_on(async {
            let req = http::Request::get("/")
                .header("accept-encoding", accept)
                .body("")
                .unwrap();
            let resp = app.oneshot(req).await;
            let coding = resp.headers().get("content-encoding").cloned();
            let sent = resp.into_body().collect().await.unwrap();
            let mut plain = Vec::new();
            match coding.as_ref().map(|c| c.as_bytes()) {
                None => plain.extend_from_slice(&sent),
                Some(b"gzip") => {
                    flate2::read::GzDecoder::new(&sent[..])
                        .read_to_end(&mut plain)
                        .unwrap();
                }
                Some(b"br") => {
                    brotli::Decompressor::new(&sent[..], 4096)
                        .read_to_end(&mut plain)
                        .unwrap();
                }
                Some(other) => panic!("unexpected coding {other:?}"),
            }
            assert_eq!(plain, body);
        })
    });
});
