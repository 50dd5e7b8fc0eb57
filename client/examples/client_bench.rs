//! The client-library benchmark's percore side (the tokio peers are
//! `benches/peers`' `client-bench`): one `Client` on one runtime,
//! `--conns` tasks each sending sequential GETs (body read whole) until
//! `--requests` responses came back in all. Prints one JSON line:
//! requests, errors, seconds. `--h2`: HTTP/2 with prior knowledge.
//! Content decoding is off, as in the peers (no `Accept-Encoding`).
//!
//! ```text
//! cargo run --release -p percore-client --example client_bench -- \
//!     --url http://127.0.0.1:8080/plaintext --conns 16 --requests 100000 [--h2] [--driver epoll]
//! ```

use std::cell::Cell;
use std::rc::Rc;
use std::time::Instant;

use percore_client::{Client, Url};
use percore_runtime::{spawn_local, Builder};

mod common;
use common::{arg, driver};

fn main() {
    // Parsed once, as the peers do (hyper's Uri, reqwest's Url): the loop
    // measures the client, not URL parsing.
    let url: Url = arg("--url").expect("--url URL").parse().expect("a URL");
    let conns: usize = arg("--conns").map_or(16, |v| v.parse().expect("--conns N"));
    let total: u64 = arg("--requests").map_or(100_000, |v| v.parse().expect("--requests N"));
    let h2 = std::env::args().any(|a| a == "--h2");
    let runtime = Builder::new().driver(driver()).build().expect("a runtime");
    let left = Rc::new(Cell::new(total));
    let errors = Rc::new(Cell::new(0u64));
    let started = Instant::now();
    runtime.block_on(async {
        let mut builder = Client::builder()
            .limit_per_host(conns)
            .max_idle_per_host(conns)
            .decompress(false);
        if h2 {
            builder = builder.http2_prior_knowledge();
        }
        let client = builder.build().expect("a client");
        let tasks: Vec<_> = (0..conns)
            .map(|_| {
                let (client, url, left, errors) =
                    (client.clone(), url.clone(), left.clone(), errors.clone());
                spawn_local(async move {
                    while take(&left) {
                        let ok = match client.get(url.clone()).send().await {
                            Ok(res) => res.status().is_success() && res.bytes().await.is_ok(),
                            Err(_) => false,
                        };
                        if !ok {
                            errors.set(errors.get() + 1);
                        }
                    }
                })
            })
            .collect();
        for task in tasks {
            let _ = task.await;
        }
    });
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{{\"requests\": {}, \"errors\": {}, \"seconds\": {secs:.3}}}",
        total - errors.get(),
        errors.get()
    );
}

/// Claims one request of the budget.
fn take(left: &Cell<u64>) -> bool {
    let n = left.get();
    if n == 0 {
        return false;
    }
    left.set(n - 1);
    true
}
