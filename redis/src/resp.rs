//! RESP2, sans-IO: [`Cmd`] encodes a command, [`Decoder`] turns bytes into
//! [`Value`]s under [`RespLimits`].
//!
//! The decoder trusts nothing it reads: a bad type byte, a negative or
//! oversized length, a line without its CRLF, an integer that overflows or
//! arrays nested deeper than the limit are errors, and the bytes it holds
//! are bounded, so a broken or hostile peer costs bounded memory and stack.

use std::fmt;

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// One RESP2 value (a reply, or an element of one).
///
/// ```
/// use percore_redis::Value;
/// assert_eq!(Value::Status("OK".into()).as_bytes(), Some(&b"OK"[..]));
/// assert_eq!(Value::Int(3).as_int(), Some(3));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// A simple string (`+OK`).
    Status(Bytes),
    /// An error reply (`-ERR ...`), kept as a value: the caller decides.
    Error(Bytes),
    /// An integer (`:42`).
    Int(i64),
    /// A bulk string (`$3\r\nabc`).
    Bulk(Bytes),
    /// The null bulk string or null array (`$-1`, `*-1`).
    Nil,
    /// An array of values.
    Array(Vec<Value>),
}

impl Value {
    /// The bytes of a status or bulk string.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Status(b) | Value::Bulk(b) => Some(b),
            _ => None,
        }
    }

    /// The integer of an integer reply.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(n) => Some(*n),
            _ => None,
        }
    }
}

/// The decoder's limits; every one is on by default.
///
/// ```
/// use percore_redis::RespLimits;
/// let limits = RespLimits::default().max_bulk_len(1 << 20).max_depth(4);
/// # let _ = limits;
/// ```
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct RespLimits {
    /// Largest bulk string, in bytes (default 8 MiB).
    pub max_bulk_len: usize,
    /// Most elements in one array (default 1 Mi).
    pub max_array_len: usize,
    /// Deepest nesting of arrays (default 16; a top-level array is depth 1).
    pub max_depth: usize,
    /// Longest simple string, error or length line, in bytes (default 64 KiB).
    pub max_line_len: usize,
    /// Most bytes buffered while a value is incomplete (default 16 MiB).
    pub max_buffered: usize,
}

impl Default for RespLimits {
    fn default() -> RespLimits {
        RespLimits {
            max_bulk_len: 8 << 20,
            max_array_len: 1 << 20,
            max_depth: 16,
            max_line_len: 64 << 10,
            max_buffered: 16 << 20,
        }
    }
}

impl RespLimits {
    /// Sets [`max_bulk_len`](Self::max_bulk_len).
    pub fn max_bulk_len(mut self, v: usize) -> RespLimits {
        self.max_bulk_len = v;
        self
    }
    /// Sets [`max_array_len`](Self::max_array_len).
    pub fn max_array_len(mut self, v: usize) -> RespLimits {
        self.max_array_len = v;
        self
    }
    /// Sets [`max_depth`](Self::max_depth).
    pub fn max_depth(mut self, v: usize) -> RespLimits {
        self.max_depth = v;
        self
    }
    /// Sets [`max_line_len`](Self::max_line_len).
    pub fn max_line_len(mut self, v: usize) -> RespLimits {
        self.max_line_len = v;
        self
    }
    /// Sets [`max_buffered`](Self::max_buffered).
    pub fn max_buffered(mut self, v: usize) -> RespLimits {
        self.max_buffered = v;
        self
    }
}

/// Why bytes are not RESP2 (the connection that sent them is unusable).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A value starts with a byte that is no RESP2 type.
    BadType(u8),
    /// A length or integer line is not a decimal number in range.
    BadNumber,
    /// A length below -1.
    NegativeLength(i64),
    /// A line holds a bare CR or LF, or a bulk string lacks its CRLF.
    BadLineEnd,
    /// A value over one of the [`RespLimits`].
    TooLarge {
        /// Which limit.
        what: &'static str,
        /// What the peer announced or sent.
        len: u64,
        /// The limit.
        limit: usize,
    },
    /// Arrays nested deeper than `max_depth`.
    TooDeep(usize),
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::BadType(b) => write!(f, "RESP: bad type byte 0x{b:02x}"),
            ProtocolError::BadNumber => f.write_str("RESP: bad number"),
            ProtocolError::NegativeLength(n) => write!(f, "RESP: negative length {n}"),
            ProtocolError::BadLineEnd => f.write_str("RESP: bad line end"),
            ProtocolError::TooLarge { what, len, limit } => {
                write!(f, "RESP: {what} of {len} over the limit of {limit}")
            }
            ProtocolError::TooDeep(d) => write!(f, "RESP: arrays nested deeper than {d}"),
        }
    }
}

impl std::error::Error for ProtocolError {}

impl From<ProtocolError> for std::io::Error {
    fn from(e: ProtocolError) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::InvalidData, e)
    }
}

/// Turns bytes (in any pieces) into values, under [`RespLimits`].
///
/// ```
/// use percore_redis::{Decoder, RespLimits, Value};
/// let mut dec = Decoder::new(RespLimits::default());
/// dec.feed(b"$5\r\nhel").unwrap();
/// assert_eq!(dec.decode().unwrap(), None); // incomplete
/// dec.feed(b"lo\r\n:7\r\n").unwrap();
/// assert_eq!(dec.decode().unwrap(), Some(Value::Bulk("hello".into())));
/// assert_eq!(dec.decode().unwrap(), Some(Value::Int(7)));
/// dec.feed(b"?\r\n").unwrap();
/// assert!(dec.decode().is_err()); // no RESP2 type
/// ```
#[derive(Debug)]
pub struct Decoder {
    buf: BytesMut,
    limits: RespLimits,
}

impl Decoder {
    /// An empty decoder.
    pub fn new(limits: RespLimits) -> Decoder {
        Decoder {
            buf: BytesMut::new(),
            limits,
        }
    }

    /// Appends bytes read from the peer. More than `max_buffered` bytes
    /// waiting (an incomplete value that never ends) is an error.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<(), ProtocolError> {
        let len = self.buf.len() + bytes.len();
        if len > self.limits.max_buffered {
            return Err(ProtocolError::TooLarge {
                what: "buffered reply",
                len: len as u64,
                limit: self.limits.max_buffered,
            });
        }
        self.buf.extend_from_slice(bytes);
        Ok(())
    }

    /// The next complete value, `None` until more bytes arrive.
    pub fn decode(&mut self) -> Result<Option<Value>, ProtocolError> {
        let mut pos = 0;
        match parse(&self.buf, &mut pos, 0, &self.limits)? {
            Some(value) => {
                self.buf.advance(pos);
                Ok(Some(value))
            }
            None => Ok(None),
        }
    }

    /// Bytes fed but not yet decoded.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }
}

/// The line that starts at `start`: (its end, where the next byte is).
fn line(buf: &[u8], start: usize, max: usize) -> Result<Option<(usize, usize)>, ProtocolError> {
    let window = &buf[start.min(buf.len())..];
    let window = &window[..window.len().min(max + 2)];
    match window.iter().position(|&b| b == b'\n') {
        Some(i) => {
            let body = &window[..i];
            if i == 0 || body[i - 1] != b'\r' || body[..i - 1].contains(&b'\r') {
                return Err(ProtocolError::BadLineEnd);
            }
            Ok(Some((start + i - 1, start + i + 1)))
        }
        // Past `max` bytes, only the CR of the line's end may still come.
        None if window.len() > max && !(window.len() == max + 1 && window[max] == b'\r') => {
            Err(ProtocolError::TooLarge {
                what: "line",
                len: window.len() as u64,
                limit: max,
            })
        }
        None => Ok(None),
    }
}

/// A decimal `i64` (an optional `-`, then 1 to 19 digits).
fn number(text: &[u8]) -> Result<i64, ProtocolError> {
    let (neg, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    if digits.is_empty() || digits.len() > 19 {
        return Err(ProtocolError::BadNumber);
    }
    let mut n: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return Err(ProtocolError::BadNumber);
        }
        let d = i64::from(d - b'0');
        n = n
            .checked_mul(10)
            .and_then(|n| {
                if neg {
                    n.checked_sub(d)
                } else {
                    n.checked_add(d)
                }
            })
            .ok_or(ProtocolError::BadNumber)?;
    }
    Ok(n)
}

/// A length: -1 means nil; anything else must lie in `0..=limit`.
fn length(text: &[u8], what: &'static str, limit: usize) -> Result<Option<usize>, ProtocolError> {
    match number(text)? {
        -1 => Ok(None),
        n if n < 0 => Err(ProtocolError::NegativeLength(n)),
        n if n as u64 > limit as u64 => Err(ProtocolError::TooLarge {
            what,
            len: n as u64,
            limit,
        }),
        n => Ok(Some(n as usize)),
    }
}

/// The value at `*pos`, at nesting `depth`; `None` if incomplete (then
/// `*pos` means nothing).
fn parse(
    buf: &[u8],
    pos: &mut usize,
    depth: usize,
    limits: &RespLimits,
) -> Result<Option<Value>, ProtocolError> {
    let Some(&kind) = buf.get(*pos) else {
        return Ok(None);
    };
    if !matches!(kind, b'+' | b'-' | b':' | b'$' | b'*') {
        return Err(ProtocolError::BadType(kind));
    }
    let Some((end, next)) = line(buf, *pos + 1, limits.max_line_len)? else {
        return Ok(None);
    };
    let text = &buf[*pos + 1..end];
    *pos = next;
    Ok(Some(match kind {
        b'+' => Value::Status(Bytes::copy_from_slice(text)),
        b'-' => Value::Error(Bytes::copy_from_slice(text)),
        b':' => Value::Int(number(text)?),
        b'$' => {
            let Some(len) = length(text, "bulk string", limits.max_bulk_len)? else {
                return Ok(Some(Value::Nil));
            };
            if buf.len() - next < len + 2 {
                return Ok(None);
            }
            if &buf[next + len..next + len + 2] != b"\r\n" {
                return Err(ProtocolError::BadLineEnd);
            }
            *pos = next + len + 2;
            Value::Bulk(Bytes::copy_from_slice(&buf[next..next + len]))
        }
        _ => {
            let Some(len) = length(text, "array", limits.max_array_len)? else {
                return Ok(Some(Value::Nil));
            };
            if len > 0 && depth + 1 > limits.max_depth {
                return Err(ProtocolError::TooDeep(limits.max_depth));
            }
            // Every element takes at least 3 bytes: reserve no more than
            // the bytes already here can hold.
            let mut items = Vec::with_capacity(len.min((buf.len() - next) / 3));
            for _ in 0..len {
                match parse(buf, pos, depth + 1, limits)? {
                    Some(v) => items.push(v),
                    None => return Ok(None),
                }
            }
            Value::Array(items)
        }
    }))
}

/// One command: its arguments, encoded as a RESP2 array of bulk strings.
///
/// ```
/// use percore_redis::Cmd;
/// let cmd = Cmd::new("SET").arg("k").arg(b"v").arg("EX").arg(60.to_string());
/// let mut out = bytes::BytesMut::new();
/// cmd.encode(&mut out);
/// assert_eq!(&out[..], &b"*5\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n$2\r\nEX\r\n$2\r\n60\r\n"[..]);
/// ```
#[derive(Clone, Debug)]
pub struct Cmd {
    args: BytesMut,
    argc: usize,
}

impl Cmd {
    /// A command named `name` (`"GET"`, `"SET"`, ...).
    pub fn new(name: &str) -> Cmd {
        Cmd {
            args: BytesMut::new(),
            argc: 0,
        }
        .arg(name)
    }

    /// Appends an argument (any bytes: binary safe).
    pub fn arg(mut self, arg: impl AsRef<[u8]>) -> Cmd {
        let arg = arg.as_ref();
        self.args.put_u8(b'$');
        self.args
            .extend_from_slice(arg.len().to_string().as_bytes());
        self.args.extend_from_slice(b"\r\n");
        self.args.extend_from_slice(arg);
        self.args.extend_from_slice(b"\r\n");
        self.argc += 1;
        self
    }

    /// Appends the command's RESP2 bytes to `out`.
    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u8(b'*');
        out.extend_from_slice(self.argc.to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.args);
    }
}

#[cfg(test)]
mod tests;
