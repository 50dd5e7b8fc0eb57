//! percore-load-floor: the least a load generator can do on this kernel for
//! the work percore-load and wrk do, a floor to read their CPU per request
//! against. No runtime, no futures, no parser, no latency histogram: one
//! thread, raw epoll or a raw io_uring, canned requests, responses counted
//! by their known length (HTTP/1.1, probed once at startup) or their
//! END_STREAM flag (HTTP/2 prior knowledge).
//!
//! ```text
//! percore-load-floor http://127.0.0.1:8080/plaintext -c 64 -d 5 --driver epoll
//! percore-load-floor http://127.0.0.1:8080/plaintext -c 16 -n 100000 --pipeline 16
//! percore-load-floor http://127.0.0.1:8080/plaintext -c 16 -d 5 --h2 -m 100 --driver uring --multishot
//! ```
//!
//! Prints the JSON line percore-load's `--json` writes (without latencies).
//! Knobs for experiments: `--multishot` (io_uring: one multishot receive per
//! connection into provided buffers), `--fixed` (io_uring: registered
//! sockets), `--wait N --wait-us US` (io_uring:
//! each enter waits for N completions or US µs), `--setup plain|coop|defer`,
//! `--nagle` (leave `TCP_NODELAY` off; it is on by default, as in wrk and
//! percore-load), `--busy-poll US`, `--rcvbuf B`, `--sndbuf B`,
//! `--congestion NAME` (`TCP_CONGESTION`: the sockets' congestion control,
//! e.g. `reno` instead of the system's default), `--defer-sends` (epoll:
//! the sends a batch of events calls for go out after the whole batch is
//! read, as io_uring submits them at once, instead of after each read).

mod epoll;
mod proto;
mod uring;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use proto::{Budget, Canned, Conn, Error};

/// The command line.
struct Opts {
    addr: SocketAddr,
    authority: String,
    path: String,
    conns: usize,
    duration: Option<Duration>,
    requests: Option<u64>,
    depth: u64,
    h2: bool,
    streams: u64,
    driver: String,
    json: Option<String>,
    multishot: bool,
    fixed: bool,
    wait: u32,
    wait_us: u64,
    setup: String,
    nodelay: bool,
    busy_poll: Option<i32>,
    rcvbuf: Option<i32>,
    sndbuf: Option<i32>,
    congestion: Option<String>,
    defer_sends: bool,
}

fn parse_args() -> Result<Opts, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut url = None;
    let mut o = Opts {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        authority: String::new(),
        path: String::new(),
        conns: 16,
        duration: None,
        requests: None,
        depth: 1,
        h2: false,
        streams: 100,
        driver: "uring".into(),
        json: None,
        multishot: false,
        fixed: false,
        wait: 1,
        wait_us: 0,
        setup: "defer".into(),
        nodelay: true,
        busy_poll: None,
        rcvbuf: None,
        sndbuf: None,
        congestion: None,
        defer_sends: false,
    };
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "-c" => o.conns = num(&value()?)?,
            "-d" => o.duration = Some(Duration::from_secs_f64(num(&value()?)?)),
            "-n" => o.requests = Some(num(&value()?)?),
            "--pipeline" => o.depth = num(&value()?)?,
            "--h2" => o.h2 = true,
            "-m" => o.streams = num(&value()?)?,
            "--driver" => o.driver = value()?,
            "--json" => o.json = Some(value()?),
            "--multishot" => o.multishot = true,
            "--fixed" => o.fixed = true,
            "--wait" => o.wait = num(&value()?)?,
            "--wait-us" => o.wait_us = num(&value()?)?,
            "--setup" => o.setup = value()?,
            "--nagle" => o.nodelay = false,
            "--busy-poll" => o.busy_poll = Some(num(&value()?)?),
            "--rcvbuf" => o.rcvbuf = Some(num(&value()?)?),
            "--sndbuf" => o.sndbuf = Some(num(&value()?)?),
            "--congestion" => o.congestion = Some(value()?),
            "--defer-sends" => o.defer_sends = true,
            _ if !a.starts_with('-') && url.is_none() => url = Some(a),
            _ => return Err(format!("unknown argument {a}")),
        }
    }
    let url = url.ok_or("no URL")?;
    let rest = url.strip_prefix("http://").ok_or("only http:// URLs")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    o.addr = authority
        .to_socket_addrs()
        .map_err(|e| format!("{authority}: {e}"))?
        .next()
        .ok_or("no address")?;
    o.authority = authority.into();
    o.path = path.into();
    if o.duration.is_none() && o.requests.is_none() {
        o.duration = Some(Duration::from_secs(10));
    }
    if o.conns == 0 || o.depth == 0 || o.streams == 0 || o.wait == 0 {
        return Err("-c, --pipeline, -m and --wait must be at least 1".into());
    }
    Ok(o)
}

fn num<T: std::str::FromStr>(s: &str) -> Result<T, String> {
    s.parse().map_err(|_| format!("not a number: {s}"))
}

/// Sends the request once on a blocking connection and returns the
/// response's length; the response must be a 200 with a Content-Length.
fn probe(addr: SocketAddr, request: &[u8]) -> Result<usize, String> {
    let mut s = TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    s.write_all(request).map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = std::str::from_utf8(&buf[..end]).map_err(|_| "a head that is not UTF-8")?;
            if !head.starts_with("HTTP/1.1 200 ") {
                return Err(format!(
                    "the probe's response is not a 200: {}",
                    head.lines().next().unwrap_or("")
                ));
            }
            let length = head
                .lines()
                .filter_map(|l| l.split_once(':'))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.trim().parse::<usize>().ok())
                .ok_or("the probe's response has no Content-Length")?;
            let total = end + 4 + length;
            if buf.len() >= total {
                return Ok(total);
            }
        }
        let n = s.read(&mut chunk).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("the server closed the probe".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Sets an integer socket option.
fn setsockopt(fd: i32, level: i32, name: i32, value: i32) -> std::io::Result<()> {
    // SAFETY: a pointer to a live i32 and its size.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const i32).cast(),
            std::mem::size_of::<i32>() as u32,
        )
    };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Sets the socket's congestion control (`TCP_CONGESTION`).
fn set_congestion(fd: i32, name: &str) -> std::io::Result<()> {
    // SAFETY: a pointer to the name's bytes and their length.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_CONGESTION,
            name.as_ptr().cast(),
            name.len() as u32,
        )
    };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Opens the connections, nonblocking, with the requested options.
fn connect(o: &Opts) -> std::io::Result<Vec<TcpStream>> {
    (0..o.conns)
        .map(|_| {
            let s = TcpStream::connect(o.addr)?;
            s.set_nonblocking(true)?;
            let fd = s.as_raw_fd();
            if o.nodelay {
                s.set_nodelay(true)?;
            }
            if let Some(us) = o.busy_poll {
                setsockopt(fd, libc::SOL_SOCKET, libc::SO_BUSY_POLL, us)?;
            }
            if let Some(b) = o.rcvbuf {
                setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, b)?;
            }
            if let Some(b) = o.sndbuf {
                setsockopt(fd, libc::SOL_SOCKET, libc::SO_SNDBUF, b)?;
            }
            if let Some(name) = &o.congestion {
                set_congestion(fd, name)?;
            }
            Ok(s)
        })
        .collect()
}

/// One connection as a driver sees it: the socket, the protocol state and
/// the bytes to send (`out` fills while `flight` is being sent).
pub struct Slot {
    pub stream: TcpStream,
    pub conn: Conn,
    pub out: Vec<u8>,
    pub flight: Vec<u8>,
    pub sent: usize,
}

impl Slot {
    /// The bytes to send next: the rest of `flight`, or, once it is all
    /// sent, `out` moved into `flight`; `None` when nothing is queued.
    pub fn unsent(&mut self) -> Option<&[u8]> {
        if self.sent == self.flight.len() {
            if self.out.is_empty() {
                return None;
            }
            self.flight.clear();
            std::mem::swap(&mut self.flight, &mut self.out);
            self.sent = 0;
        }
        Some(&self.flight[self.sent..])
    }
}

/// What the drivers share: the canned bytes, the budget, the deadline.
pub struct Run {
    pub canned: Canned,
    pub budget: Budget,
    pub h2: bool,
    deadline: Option<Instant>,
}

impl Run {
    /// Notes the time; whether the run is over.
    pub fn over(&mut self) -> bool {
        if let Some(d) = self.deadline {
            if Instant::now() >= d {
                self.budget.stopped = true;
            }
        }
        self.budget.over()
    }

    /// Counts bytes read on `slot`.
    pub fn received(&mut self, slot: &mut Slot, bytes: &[u8]) -> Result<(), Error> {
        if bytes.is_empty() {
            return Err(Error::Closed);
        }
        slot.conn
            .received(bytes, &self.canned, &mut self.budget, &mut slot.out)
    }
}

fn main() -> ExitCode {
    let o = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let request = format!("GET {} HTTP/1.1\r\nHost: {}\r\n\r\n", o.path, o.authority).into_bytes();
    let response_len = match probe(o.addr, &request) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut run = Run {
        canned: Canned {
            h1_batch: request.repeat(o.depth as usize),
            depth: o.depth,
            response_len,
            h2_request: proto::h2_request(&o.path, &o.authority),
            streams: o.streams,
        },
        budget: Budget {
            issued: 0,
            done: 0,
            limit: o.requests,
            stopped: false,
        },
        h2: o.h2,
        deadline: None,
    };
    let streams = match connect(&o) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: connect: {e}");
            return ExitCode::FAILURE;
        }
    };
    let started = Instant::now();
    run.deadline = o.duration.map(|d| started + d);
    let mut slots: Vec<Slot> = streams
        .into_iter()
        .map(|stream| {
            let mut out = Vec::with_capacity(4096);
            let conn = Conn::start(&run.canned, run.h2, &mut run.budget, &mut out);
            Slot {
                stream,
                conn,
                out,
                flight: Vec::with_capacity(4096),
                sent: 0,
            }
        })
        .collect();
    let result = match o.driver.as_str() {
        "epoll" => epoll::run(&mut run, &mut slots, o.defer_sends),
        "uring" => uring::run(&mut run, &mut slots, &uring::Options::from(&o)),
        other => Err(Error::Protocol(if other.is_empty() {
            "no driver"
        } else {
            "unknown --driver"
        })),
    };
    let secs = started.elapsed().as_secs_f64();
    let errors = u64::from(result.is_err());
    if let Err(e) = &result {
        eprintln!("error: {e}");
    }
    let done = run.budget.done;
    let json = format!(
        "{{\"requests\": {done}, \"errors\": {errors}, \"duration_s\": {secs:.3}, \"rps\": {:.1}}}\n",
        done as f64 / secs
    );
    println!(
        "{done} requests in {secs:.2}s, {:.0} req/s",
        done as f64 / secs
    );
    if let Some(path) = &o.json {
        if let Err(e) = std::fs::write(path, &json) {
            eprintln!("error: cannot write {path}: {e}");
            return ExitCode::FAILURE;
        }
    }
    if result.is_err() {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
