//! The client-library benchmark's tokio peers: hyper-util's pooled legacy
//! `Client` or reqwest, on one tokio current_thread runtime: `--conns`
//! tasks each sending sequential GETs (body read whole) until `--requests`
//! responses came back in all. Prints one JSON line: requests, errors,
//! seconds. `--h2` uses HTTP/2 with prior knowledge.
//!
//!     client-bench --client hyper --url http://127.0.0.1:8080/plaintext --conns 16 --requests 100000 [--h2]

use std::cell::Cell;
use std::rc::Rc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;

fn arg(name: &str) -> Option<String> {
    let mut args = std::env::args();
    while let Some(a) = args.next() {
        if a == name {
            return args.next();
        }
    }
    None
}

fn main() {
    let which = arg("--client").unwrap_or_else(|| "hyper".into());
    let url: hyper::Uri = arg("--url").expect("--url").parse().expect("a URL");
    let conns: usize = arg("--conns").map_or(16, |v| v.parse().unwrap());
    let total: u64 = arg("--requests").map_or(100_000, |v| v.parse().unwrap());
    let h2 = std::env::args().any(|a| a == "--h2");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    let left = Rc::new(Cell::new(total));
    let errors = Rc::new(Cell::new(0u64));
    let started = Instant::now();
    local.block_on(&rt, async {
        let mut tasks = Vec::new();
        match which.as_str() {
            "hyper" => {
                let mut b = HyperClient::builder(TokioExecutor::new());
                b.pool_max_idle_per_host(conns);
                if h2 {
                    b.http2_only(true);
                }
                let client: HyperClient<_, Empty<Bytes>> = b.build_http();
                for _ in 0..conns {
                    let (client, url, left, errors) =
                        (client.clone(), url.clone(), left.clone(), errors.clone());
                    tasks.push(tokio::task::spawn_local(async move {
                        while take(&left) {
                            let ok = match client.get(url.clone()).await {
                                Ok(res) => {
                                    res.status().is_success()
                                        && res.into_body().collect().await.is_ok()
                                }
                                Err(_) => false,
                            };
                            if !ok {
                                errors.set(errors.get() + 1);
                            }
                        }
                    }));
                }
            }
            "reqwest" => {
                let mut b = reqwest::Client::builder().pool_max_idle_per_host(conns);
                if h2 {
                    b = b.http2_prior_knowledge();
                }
                let client = b.build().unwrap();
                let url = reqwest::Url::parse(&url.to_string()).expect("a URL");
                for _ in 0..conns {
                    let (client, url, left, errors) =
                        (client.clone(), url.clone(), left.clone(), errors.clone());
                    tasks.push(tokio::task::spawn_local(async move {
                        while take(&left) {
                            let ok = match client.get(url.clone()).send().await {
                                Ok(res) => res.status().is_success() && res.bytes().await.is_ok(),
                                Err(_) => false,
                            };
                            if !ok {
                                errors.set(errors.get() + 1);
                            }
                        }
                    }));
                }
            }
            other => panic!("unknown --client {other}"),
        }
        for t in tasks {
            t.await.unwrap();
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
