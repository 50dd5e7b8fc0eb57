//! Memory held by a client's idle pooled HTTP/1.1 connections: `--conns`
//! concurrent GETs of `--url` (bodies read whole and dropped), then, with
//! every connection idle in the pool, the heap in use and the RSS (after
//! `malloc_trim`), each also before the requests. Prints one JSON line.
//!
//! ```text
//! cargo run --release -p percore-client --example idle_pool_memory -- \
//!     --url http://127.0.0.1:8080/bytes/16 --conns 500 [--driver epoll]
//! ```

use std::time::Duration;

use percore_client::{Client, Url};
use percore_runtime::{spawn_local, Builder};

mod common;
use common::{arg, driver};

/// Heap bytes in use and the resident set, in KiB, after giving free
/// heap pages back.
fn memory() -> (usize, usize) {
    // SAFETY: glibc's malloc_trim and mallinfo2 take and return plain
    // values; neither touches memory of ours.
    let heap = unsafe {
        libc::malloc_trim(0);
        libc::mallinfo2().uordblks
    };
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    (heap / 1024, rss)
}

fn main() {
    let url: Url = arg("--url").expect("--url URL").parse().expect("a URL");
    let conns: usize = arg("--conns").map_or(500, |v| v.parse().expect("--conns N"));
    let runtime = Builder::new().driver(driver()).build().expect("a runtime");
    runtime.block_on(async {
        let client = Client::builder()
            .limit(conns)
            .limit_per_host(conns)
            .max_idle_per_host(conns)
            .idle_timeout(Duration::from_secs(600))
            .decompress(false)
            .build()
            .expect("a client");
        let (heap_before, rss_before) = memory();
        let tasks: Vec<_> = (0..conns)
            .map(|_| {
                let (client, url) = (client.clone(), url.clone());
                spawn_local(async move {
                    let res = client.get(url).send().await.expect("a response");
                    res.bytes().await.expect("a body").len()
                })
            })
            .collect();
        let mut body = 0;
        for task in tasks {
            body += task.await.expect("a task");
        }
        let idle = client.pool_stats().idle;
        let (heap, rss) = memory();
        println!(
            "{{\"conns\": {conns}, \"idle\": {idle}, \"body_bytes\": {body}, \
             \"heap_kib_before\": {heap_before}, \"heap_kib_idle\": {heap}, \
             \"rss_kib_before\": {rss_before}, \"rss_kib_idle\": {rss}}}"
        );
    });
}
