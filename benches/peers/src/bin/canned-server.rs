//! The canned-response floor: what any server must spend on this machine.
//!
//! One thread per core (`--cores N`, default every allowed CPU; the
//! benchmarks pass `--cores 1`), each with its own
//! SO_REUSEPORT listener and a plain level-triggered epoll loop: no runtime,
//! no tasks, no parsing beyond what the wire needs. For HTTP/1.1 it writes
//! one pre-encoded `200 OK` for every `\r\n\r\n` it reads: the bytes of
//! the demo's `/plaintext` answer (and hyper's: `content-type: text/plain`,
//! `content-length` and the `date` RFC 9110 asks for, re-rendered once a
//! second), so that the floor sends what the servers it is the floor of
//! send. All the responses of one read go in one write, so pipelined
//! requests cost one `read` and one `write` per batch. A first
//! request `GET /ws ...` is answered with `101 Switching Protocols` (the
//! accept key derived from the request's) and the connection then echoes
//! WebSocket frames: each client frame's payload unmasked and sent back in
//! an unmasked frame with the same first byte (ping answered by pong, close
//! by close). A connection keeps no buffer while idle.
//!
//! ```text
//! benches/peers/target/release/canned-server --listen 127.0.0.1:8080 --cores 1
//! ```

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};

/// The canned answer, with the date of the second it was rendered in.
struct Canned {
    bytes: Vec<u8>,
    second: u64,
}

impl Canned {
    fn new() -> Canned {
        let mut canned = Canned {
            bytes: Vec::new(),
            second: u64::MAX,
        };
        canned.refresh();
        canned
    }

    /// Renders the answer again when the second has changed (one clock
    /// read per loop turn).
    fn refresh(&mut self) {
        let now = std::time::SystemTime::now();
        let second = now
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if second != self.second {
            self.second = second;
            self.bytes.clear();
            self.bytes.extend_from_slice(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 13\r\ndate: ",
            );
            self.bytes
                .extend_from_slice(httpdate::fmt_http_date(now).as_bytes());
            self.bytes.extend_from_slice(b"\r\n\r\nHello, World!");
        }
    }
}
/// Largest WebSocket frame buffered before it is echoed.
const MAX_FRAME: usize = 16 << 20;
const LISTENER: u64 = u64::MAX;

fn main() {
    let a = percore_bench_peers::args("127.0.0.1:8080");
    let addr = a.listen;
    println!(
        "listening on {addr} (cores: {}, canned epoll floor)",
        a.cores
    );
    let cpus = percore_bench_peers::allowed_cpus();
    let threads: Vec<_> = (0..a.cores)
        .map(|i| {
            let cpu = cpus[i % cpus.len()];
            std::thread::spawn(move || {
                percore_bench_peers::pin(cpu);
                serve(addr).expect("epoll loop");
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

/// What a connection is doing.
enum Mode {
    /// Nothing read yet: the first bytes say HTTP or WebSocket handshake.
    Fresh,
    /// HTTP/1.1: how many bytes of `\r\n\r\n` the last read ended with.
    Http(usize),
    /// Collecting a `GET /ws` head.
    Handshake(Vec<u8>),
    /// WebSocket frames; the bytes of an incomplete frame.
    Ws(Vec<u8>),
}

struct Conn {
    stream: TcpStream,
    mode: Mode,
    /// Bytes the socket did not take yet (EPOLLOUT is armed while not empty).
    out: Vec<u8>,
}

struct Epoll(RawFd);

impl Epoll {
    fn new() -> io::Result<Self> {
        // SAFETY: epoll_create1 takes no pointers.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Epoll(fd))
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, events: u32, data: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event { events, u64: data };
        // SAFETY: `ev` lives across the call; the kernel copies it.
        if unsafe { libc::epoll_ctl(self.0, op, fd, &mut ev) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn wait(&self, events: &mut [libc::epoll_event]) -> io::Result<usize> {
        // SAFETY: the kernel writes at most `events.len()` entries into it.
        let n = unsafe { libc::epoll_wait(self.0, events.as_mut_ptr(), events.len() as i32, -1) };
        if n < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::Interrupted {
                Ok(0)
            } else {
                Err(e)
            };
        }
        Ok(n as usize)
    }
}

fn serve(addr: SocketAddr) -> io::Result<()> {
    let listener = percore_bench_peers::reuseport_listener(addr);
    let ep = Epoll::new()?;
    ep.ctl(
        libc::EPOLL_CTL_ADD,
        listener.as_raw_fd(),
        libc::EPOLLIN as u32,
        LISTENER,
    )?;
    let mut conns: Vec<Option<Conn>> = Vec::new();
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
    let mut scratch = vec![0u8; 64 * 1024];
    let mut reply = Vec::with_capacity(64 * 1024);
    let mut canned = Canned::new();
    loop {
        let n = ep.wait(&mut events)?;
        canned.refresh();
        for ev in &events[..n] {
            let (flags, key) = (ev.events, ev.u64);
            if key == LISTENER {
                accept_all(&ep, listener.as_raw_fd(), &mut conns)?;
                continue;
            }
            let fd = key as usize;
            let Some(conn) = conns.get_mut(fd).and_then(Option::as_mut) else {
                continue;
            };
            let keep = if flags & libc::EPOLLOUT as u32 != 0 && !conn.out.is_empty() {
                flush(&ep, conn)
            } else {
                readable(&ep, conn, &canned.bytes, &mut scratch, &mut reply)
            };
            if !keep {
                conns[fd] = None; // dropping the stream closes it (and leaves the epoll set)
            }
        }
    }
}

fn accept_all(ep: &Epoll, listener: RawFd, conns: &mut Vec<Option<Conn>>) -> io::Result<()> {
    loop {
        // SAFETY: null address pointers: the peer address is not wanted.
        let fd = unsafe {
            libc::accept4(
                listener,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            )
        };
        if fd < 0 {
            // EAGAIN: all accepted. Anything else (out of descriptors, a
            // connection reset before accept) leaves the rest for the next turn.
            return Ok(());
        }
        // SAFETY: `fd` was just returned by accept4 and is owned by nobody else.
        let stream = unsafe { TcpStream::from_raw_fd(fd) };
        stream.set_nodelay(true)?;
        ep.ctl(libc::EPOLL_CTL_ADD, fd, libc::EPOLLIN as u32, fd as u64)?;
        let i = fd as usize;
        if conns.len() <= i {
            conns.resize_with(i + 1, || None);
        }
        conns[i] = Some(Conn {
            stream,
            mode: Mode::Fresh,
            out: Vec::new(),
        });
    }
}

/// One read and its answer; false when the connection is to be closed.
fn readable(
    ep: &Epoll,
    conn: &mut Conn,
    canned: &[u8],
    scratch: &mut [u8],
    reply: &mut Vec<u8>,
) -> bool {
    let n = match conn.stream.read(scratch) {
        Ok(0) => return false,
        Ok(n) => n,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
        Err(_) => return false,
    };
    let bytes = &scratch[..n];
    reply.clear();
    if matches!(conn.mode, Mode::Fresh) {
        conn.mode = if bytes.starts_with(b"GET /ws ") {
            Mode::Handshake(Vec::new())
        } else {
            Mode::Http(0)
        };
    }
    let open = match &mut conn.mode {
        Mode::Fresh => unreachable!("set above"),
        Mode::Http(matched) => {
            for _ in 0..count_terminators(bytes, matched) {
                reply.extend_from_slice(canned);
            }
            true
        }
        Mode::Handshake(head) => {
            head.extend_from_slice(bytes);
            match handshake(head, reply) {
                Some(rest) => {
                    let mut pending = Vec::new();
                    let open = echo_frames(&rest, &mut pending, reply);
                    conn.mode = Mode::Ws(pending);
                    open
                }
                None => head.len() <= 16 * 1024,
            }
        }
        Mode::Ws(pending) => {
            if pending.is_empty() {
                echo_frames(bytes, pending, reply)
            } else {
                pending.extend_from_slice(bytes);
                let all = std::mem::take(pending);
                echo_frames(&all, pending, reply)
            }
        }
    };
    if !reply.is_empty() && !send(ep, conn, reply) {
        return false;
    }
    open
}

/// Counts request-head terminators in `bytes`, given how many bytes of
/// `\r\n\r\n` the previous read ended with.
fn count_terminators(bytes: &[u8], matched: &mut usize) -> usize {
    const END: &[u8; 4] = b"\r\n\r\n";
    let mut count = 0;
    for &b in bytes {
        *matched = if b == END[*matched] {
            *matched + 1
        } else if b == b'\r' {
            1
        } else {
            0
        };
        if *matched == END.len() {
            count += 1;
            *matched = 0;
        }
    }
    count
}

/// Once `head` holds a whole request head: the 101 answer into `reply`, and
/// the bytes after the head.
fn handshake(head: &[u8], reply: &mut Vec<u8>) -> Option<Vec<u8>> {
    let end = head.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let key = head[..end]
        .split(|&b| b == b'\n')
        .find_map(|line| {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let colon = line.iter().position(|&b| b == b':')?;
            line[..colon]
                .eq_ignore_ascii_case(b"sec-websocket-key")
                .then(|| line[colon + 1..].trim_ascii())
        })
        .unwrap_or_default();
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key);
    reply.extend_from_slice(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ",
    );
    reply.extend_from_slice(accept.as_bytes());
    reply.extend_from_slice(b"\r\n\r\n");
    Some(head[end..].to_vec())
}

/// Echoes every whole client frame of `bytes` into `reply` and keeps an
/// incomplete one in `pending`; false after a close frame or a malformed one.
fn echo_frames(mut bytes: &[u8], pending: &mut Vec<u8>, reply: &mut Vec<u8>) -> bool {
    while bytes.len() >= 2 {
        let (b0, b1) = (bytes[0], bytes[1]);
        if b1 & 0x80 == 0 {
            return false; // client frames are masked
        }
        let (len, at) = match b1 & 0x7f {
            126 if bytes.len() >= 4 => (u16::from_be_bytes([bytes[2], bytes[3]]) as usize, 4),
            127 if bytes.len() >= 10 => (
                u64::from_be_bytes(bytes[2..10].try_into().unwrap()) as usize,
                10,
            ),
            126 | 127 => break,
            l => (l as usize, 2),
        };
        if len > MAX_FRAME {
            return false;
        }
        if bytes.len() < at + 4 + len {
            break;
        }
        let mask: [u8; 4] = bytes[at..at + 4].try_into().unwrap();
        let payload = &bytes[at + 4..at + 4 + len];
        let opcode = b0 & 0x0f;
        let first = if opcode == 0x9 { (b0 & 0xf0) | 0xa } else { b0 };
        if opcode != 0xa {
            reply.push(first);
            reply.push(b1 & 0x7f);
            reply.extend_from_slice(&bytes[2..at]);
            reply.extend(payload.iter().enumerate().map(|(i, &b)| b ^ mask[i & 3]));
        }
        bytes = &bytes[at + 4 + len..];
        if opcode == 0x8 {
            return false;
        }
    }
    pending.extend_from_slice(bytes);
    true
}

/// Writes `reply` (after what is already waiting); false on a write error.
fn send(ep: &Epoll, conn: &mut Conn, reply: &[u8]) -> bool {
    if !conn.out.is_empty() {
        conn.out.extend_from_slice(reply);
        return true;
    }
    match conn.stream.write(reply) {
        Ok(n) if n == reply.len() => true,
        Ok(n) => wait_writable(ep, conn, &reply[n..]),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => wait_writable(ep, conn, reply),
        Err(_) => false,
    }
}

fn wait_writable(ep: &Epoll, conn: &mut Conn, rest: &[u8]) -> bool {
    conn.out.extend_from_slice(rest);
    let fd = conn.stream.as_raw_fd();
    let events = (libc::EPOLLIN | libc::EPOLLOUT) as u32;
    ep.ctl(libc::EPOLL_CTL_MOD, fd, events, fd as u64).is_ok()
}

/// Writes what is waiting; disarms EPOLLOUT once it is all out.
fn flush(ep: &Epoll, conn: &mut Conn) -> bool {
    match conn.stream.write(&conn.out) {
        Ok(n) => {
            conn.out.drain(..n);
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
        Err(_) => return false,
    }
    if conn.out.is_empty() {
        conn.out = Vec::new();
        let fd = conn.stream.as_raw_fd();
        return ep
            .ctl(libc::EPOLL_CTL_MOD, fd, libc::EPOLLIN as u32, fd as u64)
            .is_ok();
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_terminators_across_reads() {
        let mut matched = 0;
        assert_eq!(
            count_terminators(b"GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r", &mut matched),
            1
        );
        assert_eq!(count_terminators(b"\n", &mut matched), 1);
        assert_eq!(count_terminators(b"\r\r\n\r\n", &mut matched), 1);
    }

    #[test]
    fn echoes_masked_frames_unmasked_and_keeps_a_partial_one() {
        let mask = [1, 2, 3, 4];
        let payload = b"hello";
        let mut frame = vec![0x82, 0x80 | payload.len() as u8];
        frame.extend(mask);
        frame.extend(payload.iter().enumerate().map(|(i, &b)| b ^ mask[i & 3]));
        let mut bytes = frame.clone();
        bytes.extend(&frame[..3]);
        let (mut pending, mut reply) = (Vec::new(), Vec::new());
        assert!(echo_frames(&bytes, &mut pending, &mut reply));
        assert_eq!(reply, [&[0x82, 5][..], payload].concat());
        assert_eq!(pending, frame[..3]);
    }

    #[test]
    fn answers_the_rfc_handshake_and_stops_at_close() {
        let head = b"GET /ws HTTP/1.1\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n\x88\x80\0\0\0\0";
        let mut reply = Vec::new();
        let rest = handshake(head, &mut reply).unwrap();
        assert!(String::from_utf8_lossy(&reply).contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
        let (mut pending, mut out) = (Vec::new(), Vec::new());
        assert!(!echo_frames(&rest, &mut pending, &mut out));
        assert_eq!(out, [0x88, 0]);
    }
}
