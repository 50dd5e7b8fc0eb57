//! A lean closed-loop echo load generator on a raw io_uring, one thread.
//!
//! Every connection keeps one request in flight: it sends a prepared message,
//! reads until the whole echo is back, records the round trip and sends
//! again. All connections share one ring and one `io_uring_enter` per loop
//! turn, so the generator spends far less CPU per message than a tokio
//! client (one `epoll_wait` share plus a `write` and one or two `read`s per
//! message): on a 2-core machine it leaves the server, not itself, as the
//! bottleneck for longer.
//!
//! The protocol is pluggable: [`Exchange`] prepares the bytes a connection
//! sends and says when the bytes read back complete one echo.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use io_uring::{opcode, types, IoUring};

/// One connection's side of an echo protocol.
pub trait Exchange {
    /// The bytes sent for one message (sent again, unchanged, for every
    /// message).
    fn message(&self) -> &[u8];
    /// Consumes `bytes` read back; returns `Ok(true)` once one whole echo has
    /// arrived (bytes past its end belong to nothing: the peer only echoes).
    fn consume(&mut self, bytes: &[u8]) -> io::Result<bool>;
}

/// Plain TCP echo: the echo is done when `size` bytes came back.
pub struct TcpEcho {
    msg: Vec<u8>,
    got: usize,
}

impl TcpEcho {
    pub fn new(size: usize) -> TcpEcho {
        TcpEcho {
            msg: vec![b'x'; size],
            got: 0,
        }
    }
}

impl Exchange for TcpEcho {
    fn message(&self) -> &[u8] {
        &self.msg
    }

    fn consume(&mut self, bytes: &[u8]) -> io::Result<bool> {
        self.got += bytes.len();
        if self.got >= self.msg.len() {
            self.got = 0;
            return Ok(true);
        }
        Ok(false)
    }
}

/// WebSocket echo of binary messages (after a handshake done by
/// [`ws_handshake`]): sends one masked binary frame, and counts the payload
/// of the server's frames (continuations included) until a final frame
/// completes a message of the sent size.
pub struct WsEcho {
    frame: Vec<u8>,
    size: usize,
    header: Vec<u8>,
    payload_left: u64,
    frame_is_final: bool,
    frame_is_data: bool,
    message_len: usize,
}

/// The mask key of every frame the generator sends. RFC 6455 wants an
/// unpredictable key from a browser; a server cannot tell, and a fixed key
/// lets the masked frame be built once.
const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

impl WsEcho {
    pub fn new(size: usize) -> WsEcho {
        let mut frame = vec![0x82u8];
        match size {
            0..=125 => frame.push(0x80 | size as u8),
            126..=0xffff => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(size as u16).to_be_bytes());
            }
            _ => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(size as u64).to_be_bytes());
            }
        }
        frame.extend_from_slice(&MASK);
        frame.extend((0..size).map(|i| b'x' ^ MASK[i % 4]));
        WsEcho {
            frame,
            size,
            header: Vec::with_capacity(14),
            payload_left: 0,
            frame_is_final: false,
            frame_is_data: false,
            message_len: 0,
        }
    }

    /// Parses a complete frame header from `self.header`, if there is one.
    fn parse_header(&mut self) -> io::Result<bool> {
        let h = &self.header;
        if h.len() < 2 {
            return Ok(false);
        }
        if h[1] & 0x80 != 0 {
            return Err(bad("the server masked a frame"));
        }
        let (need, len) = match h[1] & 0x7f {
            126 if h.len() >= 4 => (4, u16::from_be_bytes([h[2], h[3]]) as u64),
            127 if h.len() >= 10 => (10, u64::from_be_bytes(h[2..10].try_into().unwrap())),
            126 | 127 => return Ok(false),
            n => (2, n as u64),
        };
        debug_assert_eq!(need, h.len());
        let opcode = h[0] & 0x0f;
        if opcode == 0x8 {
            return Err(bad("the server closed the WebSocket"));
        }
        self.frame_is_final = h[0] & 0x80 != 0;
        self.frame_is_data = opcode < 0x8;
        self.payload_left = len;
        self.header.clear();
        Ok(true)
    }

    /// A frame's payload has all arrived: returns whether it ended a message.
    fn frame_done(&mut self) -> io::Result<bool> {
        if !(self.frame_is_data && self.frame_is_final) {
            return Ok(false);
        }
        let len = std::mem::take(&mut self.message_len);
        if len != self.size {
            return Err(bad(&format!("echo of {len} bytes, sent {}", self.size)));
        }
        Ok(true)
    }
}

impl Exchange for WsEcho {
    fn message(&self) -> &[u8] {
        &self.frame
    }

    fn consume(&mut self, mut bytes: &[u8]) -> io::Result<bool> {
        let mut done = false;
        while !bytes.is_empty() {
            if self.payload_left == 0 {
                // Header bytes arrive one at a time at worst; the header is at
                // most 10 bytes from the server (never masked).
                self.header.push(bytes[0]);
                bytes = &bytes[1..];
                if self.parse_header()? && self.payload_left == 0 {
                    done |= self.frame_done()?;
                }
                continue;
            }
            let take = (self.payload_left as usize).min(bytes.len());
            if self.frame_is_data {
                self.message_len += take;
            }
            self.payload_left -= take as u64;
            bytes = &bytes[take..];
            if self.payload_left == 0 {
                done |= self.frame_done()?;
            }
        }
        Ok(done)
    }
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

/// Upgrades `stream` to a WebSocket on `GET /ws` (blocking, before the load).
pub fn ws_handshake(stream: &mut TcpStream, addr: SocketAddr) -> io::Result<()> {
    write!(
        stream,
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte)? == 0 {
            return Err(bad("connection closed during the handshake"));
        }
        head.push(byte[0]);
    }
    if !head.starts_with(b"HTTP/1.1 101") {
        return Err(bad(&String::from_utf8_lossy(&head)));
    }
    Ok(())
}

struct Conn<E> {
    stream: TcpStream,
    exchange: E,
    /// Bytes of the current message already sent.
    sent: usize,
    /// A send is in flight (its completion not yet seen).
    sending: bool,
    /// The next message waits for the in-flight send's completion.
    send_next: bool,
    inbuf: Vec<u8>,
    started: Instant,
}

const SEND: u64 = 0;
const RECV: u64 = 1;

/// Runs `conns` closed-loop connections for `duration`; returns the round-trip
/// latencies (µs) of every completed echo.
pub fn run<E: Exchange>(
    addr: SocketAddr,
    conns: usize,
    duration: Duration,
    mut connect: impl FnMut(&mut TcpStream) -> io::Result<E>,
) -> io::Result<Vec<u32>> {
    let mut pool = Vec::with_capacity(conns);
    for _ in 0..conns {
        let mut stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        let exchange = connect(&mut stream)?;
        pool.push(Conn {
            stream,
            exchange,
            sent: 0,
            sending: false,
            send_next: false,
            inbuf: vec![0; 256 * 1024],
            started: Instant::now(),
        });
    }
    // Completions run as deferred task work inside our own `io_uring_enter`,
    // so the server's sends never interrupt this thread with an IPI.
    let mut ring = IoUring::builder()
        .setup_single_issuer()
        .setup_coop_taskrun()
        .setup_defer_taskrun()
        .build((conns * 4).next_power_of_two().max(8) as u32)?;
    let mut latencies = Vec::with_capacity(1 << 20);
    let deadline = Instant::now() + duration;
    for i in 0..pool.len() {
        pool[i].started = Instant::now();
        push_send(&mut ring, &mut pool[i], i)?;
        push_recv(&mut ring, &mut pool[i], i)?;
    }
    let mut completions = Vec::with_capacity(conns * 2);
    while Instant::now() < deadline {
        ring.submit_and_wait(1)?;
        completions.extend(ring.completion().map(|c| (c.user_data(), c.result())));
        for (data, result) in completions.drain(..) {
            let i = (data >> 1) as usize;
            if result < 0 {
                return Err(io::Error::from_raw_os_error(-result));
            }
            let n = result as usize;
            let conn = &mut pool[i];
            if data & 1 == SEND {
                conn.sending = false;
                conn.sent += n;
                if conn.send_next {
                    // The echo completed before this completion was reaped.
                    conn.send_next = false;
                    conn.sent = 0;
                }
                if conn.sent < conn.exchange.message().len() {
                    push_send(&mut ring, conn, i)?;
                }
                continue;
            }
            if n == 0 {
                return Err(bad("the server closed a connection"));
            }
            let done = conn.exchange.consume(&conn.inbuf[..n])?;
            if done {
                let now = Instant::now();
                latencies.push((now - conn.started).as_micros() as u32);
                conn.started = now;
                if conn.sending {
                    conn.send_next = true;
                } else {
                    conn.sent = 0;
                    push_send(&mut ring, conn, i)?;
                }
            }
            push_recv(&mut ring, conn, i)?;
        }
    }
    // Closing the ring does not wait for the kernel to finish with what is
    // in flight, so the connections' buffers are never freed: the process
    // ends right after the report.
    drop(ring);
    std::mem::forget(pool);
    Ok(latencies)
}

fn push<E>(ring: &mut IoUring, entry: io_uring::squeue::Entry, _conn: &Conn<E>) -> io::Result<()> {
    loop {
        // SAFETY: the entry points into a `Conn` of the pool, whose buffers
        // never move and are never freed (`run` forgets the pool).
        if unsafe { ring.submission().push(&entry) }.is_ok() {
            return Ok(());
        }
        ring.submit()?;
    }
}

fn push_send<E: Exchange>(ring: &mut IoUring, conn: &mut Conn<E>, i: usize) -> io::Result<()> {
    conn.sending = true;
    let rest = &conn.exchange.message()[conn.sent..];
    let entry = opcode::Send::new(
        types::Fd(conn.stream.as_raw_fd()),
        rest.as_ptr(),
        rest.len() as u32,
    )
    .flags(libc::MSG_NOSIGNAL)
    .build()
    .user_data(((i as u64) << 1) | SEND);
    push(ring, entry, conn)
}

fn push_recv<E: Exchange>(ring: &mut IoUring, conn: &mut Conn<E>, i: usize) -> io::Result<()> {
    let entry = opcode::Recv::new(
        types::Fd(conn.stream.as_raw_fd()),
        conn.inbuf.as_mut_ptr(),
        conn.inbuf.len() as u32,
    )
    .build()
    .user_data(((i as u64) << 1) | RECV);
    push(ring, entry, conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ws_echo_counts_fragmented_replies() {
        let mut ws = WsEcho::new(300);
        // 100 bytes in a non-final binary frame, 200 in a final continuation,
        // with a ping between them, delivered in awkward pieces.
        let mut bytes = vec![0x02, 100];
        bytes.extend(vec![b'x'; 100]);
        bytes.extend([0x89, 1, b'p']);
        bytes.extend([0x80, 126, 0, 200]);
        bytes.extend(vec![b'x'; 200]);
        let (a, b) = bytes.split_at(3);
        assert!(!ws.consume(a).unwrap());
        let (b, c) = b.split_at(104);
        assert!(!ws.consume(b).unwrap());
        assert!(ws.consume(c).unwrap());
    }

    #[test]
    fn ws_echo_rejects_a_wrong_length() {
        let mut ws = WsEcho::new(3);
        assert!(ws.consume(&[0x82, 2, 1, 2]).is_err());
    }
}
