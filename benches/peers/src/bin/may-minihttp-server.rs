//! may-minihttp (TechEmpower's fastest Rust entry of its last round) serving
//! `/plaintext`, `/json` and `POST /echo` the way its TechEmpower entry does.
//! HTTP/1.1 only; no WebSocket or h2c.

use std::io::{self, Read};

use bytes::BufMut;
use may_minihttp::{HttpService, HttpServiceFactory, Request, Response};

struct Service;

impl HttpService for Service {
    fn call(&mut self, req: Request, rsp: &mut Response) -> io::Result<()> {
        match req.path() {
            "/plaintext" => {
                rsp.header("Content-Type: text/plain").body("Hello, World!");
            }
            "/json" => {
                rsp.header("Content-Type: application/json");
                serde_json::to_writer(
                    rsp.body_mut().writer(),
                    &serde_json::json!({"message": "Hello, World!"}),
                )?;
            }
            "/echo" if req.method() == "POST" => {
                let mut body = Vec::new();
                req.body().read_to_end(&mut body)?;
                rsp.header("Content-Type: application/octet-stream");
                rsp.body_vec(body);
            }
            _ => {
                rsp.status_code(404, "Not Found");
            }
        }
        Ok(())
    }
}

struct Factory;

impl HttpServiceFactory for Factory {
    type Service = Service;

    /// may-minihttp passes the connection's file descriptor as `id`; its own
    /// `set_nodelay` call is commented out, so set TCP_NODELAY here as every
    /// other server in the comparison does.
    fn new_service(&self, id: usize) -> Service {
        let one: libc::c_int = 1;
        // SAFETY: `id` is the accepted socket's open descriptor; setsockopt
        // reads `size_of::<c_int>()` bytes from a live local.
        unsafe {
            libc::setsockopt(
                id as libc::c_int,
                libc::IPPROTO_TCP,
                libc::TCP_NODELAY,
                &one as *const libc::c_int as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
        Service
    }
}

fn main() {
    let a = percore_bench_peers::args("127.0.0.1:8080");
    may::config()
        .set_workers(a.cores)
        .set_pool_capacity(10000)
        .set_stack_size(0x1000);
    let server = Factory.start(a.listen).unwrap();
    println!(
        "listening on {} (cores: {}, may-minihttp)",
        a.listen, a.cores
    );
    server.join().unwrap();
}
