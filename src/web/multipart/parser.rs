//! The sans-IO `multipart/form-data` parser (RFC 7578 over RFC 2046):
//! bytes in, parts' heads and data out, every limit enforced as bytes
//! arrive, so memory stays bounded whatever the input.

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue};

/// Limits of a multipart body; over one, parsing fails with
/// [`MultipartError::TooLarge`] (413).
///
/// ```
/// use percore::web::multipart::MultipartLimits;
/// let limits = MultipartLimits::default().max_parts(10).max_part_size(1 << 20);
/// assert_eq!(limits.max_total_size, 16 << 20);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MultipartLimits {
    /// Most parts in one body (default 100).
    pub max_parts: usize,
    /// Largest part's data in bytes (default 16 MiB).
    pub max_part_size: u64,
    /// Largest body in bytes, all parts and framing (default 16 MiB; the
    /// server's `Limits::max_body_size` applies too).
    pub max_total_size: u64,
    /// Largest head of one part (its header lines) in bytes (default 8 KiB).
    pub max_head_size: usize,
    /// Most header lines in one part's head (default 16).
    pub max_headers: usize,
}

impl Default for MultipartLimits {
    fn default() -> Self {
        MultipartLimits {
            max_parts: 100,
            max_part_size: 16 << 20,
            max_total_size: 16 << 20,
            max_head_size: 8 * 1024,
            max_headers: 16,
        }
    }
}

impl MultipartLimits {
    /// Sets [`max_parts`](Self::max_parts).
    pub fn max_parts(mut self, n: usize) -> Self {
        self.max_parts = n;
        self
    }

    /// Sets [`max_part_size`](Self::max_part_size).
    pub fn max_part_size(mut self, bytes: u64) -> Self {
        self.max_part_size = bytes;
        self
    }

    /// Sets [`max_total_size`](Self::max_total_size).
    pub fn max_total_size(mut self, bytes: u64) -> Self {
        self.max_total_size = bytes;
        self
    }

    /// Sets [`max_head_size`](Self::max_head_size).
    pub fn max_head_size(mut self, bytes: usize) -> Self {
        self.max_head_size = bytes;
        self
    }

    /// Sets [`max_headers`](Self::max_headers).
    pub fn max_headers(mut self, n: usize) -> Self {
        self.max_headers = n;
        self
    }
}

/// Why a multipart body was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultipartError {
    /// The body breaks the format (400).
    Malformed(&'static str),
    /// A limit was exceeded (413).
    TooLarge(&'static str),
}

impl std::fmt::Display for MultipartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MultipartError::Malformed(why) => write!(f, "malformed multipart body: {why}"),
            MultipartError::TooLarge(what) => write!(f, "multipart body too large: {what}"),
        }
    }
}

impl std::error::Error for MultipartError {}

/// What the parser found next.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    /// A part begins, with these header fields.
    Part(HeaderMap),
    /// Data of the current part (the part ends at the next `Part` or `End`).
    Data(Bytes),
    /// The closing delimiter: no more parts.
    End,
    /// More input is needed ([`Parser::push`], or [`Parser::finish`] at its end).
    NeedMore,
}

/// What one step of the state machine did.
enum Step {
    Emit(Event),
    Continue,
    Wait,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the first delimiter.
    Preamble,
    /// Just after a delimiter: `--` (the end) or a line break (a part).
    AfterDelimiter,
    /// Reading a part's header lines.
    Head,
    /// Reading a part's data.
    Data,
    /// After the closing delimiter (the epilogue is ignored).
    Done,
}

/// Largest preamble kept while looking for the first delimiter.
const MAX_PREAMBLE: usize = 8 * 1024;
/// Transport padding allowed after a delimiter (RFC 2046 §5.1.1).
const MAX_PADDING: usize = 64;

/// The parser: [`push`](Self::push) bytes, then call [`next`](Self::next)
/// until it returns [`Event::NeedMore`].
///
/// ```
/// use percore::web::multipart::{Event, MultipartLimits, Parser};
/// let mut p = Parser::new("XyZ", MultipartLimits::default());
/// p.push(&b"--XyZ\r\ncontent-disposition: form-data; name=\"a\"\r\n\r\nhello\r\n--XyZ--\r\n"[..]);
/// assert!(matches!(p.next(), Ok(Event::Part(h)) if h["content-disposition"] == "form-data; name=\"a\""));
/// assert_eq!(p.next(), Ok(Event::Data("hello".into())));
/// assert_eq!(p.next(), Ok(Event::End));
/// ```
#[derive(Debug)]
pub struct Parser {
    /// `\r\n--boundary`: what ends a part's data.
    delimiter: Vec<u8>,
    limits: MultipartLimits,
    buf: BytesMut,
    state: State,
    parts: usize,
    part_size: u64,
    total: u64,
    finished: bool,
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    let first = needle[0];
    let last_start = haystack.len() - needle.len();
    let mut i = 0;
    while i <= last_start {
        match haystack[i..=last_start].iter().position(|&b| b == first) {
            Some(p) => i += p,
            None => return None,
        }
        if &haystack[i..i + needle.len()] == needle {
            return Some(i);
        }
        i += 1;
    }
    None
}

impl Parser {
    /// A parser for parts separated by `boundary` (from the
    /// `Content-Type`'s `boundary` parameter, 1 to 70 characters).
    pub fn new(boundary: &str, limits: MultipartLimits) -> Parser {
        let mut delimiter = b"\r\n--".to_vec();
        delimiter.extend_from_slice(boundary.as_bytes());
        Parser {
            delimiter,
            limits,
            buf: BytesMut::new(),
            // A body may start with the delimiter itself (no CRLF before it):
            // the preamble search puts a CRLF in front.
            state: State::Preamble,
            parts: 0,
            part_size: 0,
            total: 0,
            finished: false,
        }
    }

    /// Adds body bytes.
    pub fn push(&mut self, data: &[u8]) -> Result<(), MultipartError> {
        self.total += data.len() as u64;
        if self.total > self.limits.max_total_size {
            return Err(MultipartError::TooLarge("the body exceeds max_total_size"));
        }
        if self.state == State::Done {
            return Ok(()); // the epilogue is not kept
        }
        if self.state == State::Preamble && self.buf.is_empty() && self.total == data.len() as u64 {
            self.buf.extend_from_slice(b"\r\n");
        }
        self.buf.extend_from_slice(data);
        Ok(())
    }

    /// Marks the end of the body: what is left must complete it.
    pub fn finish(&mut self) {
        self.finished = true;
    }

    /// The next event.
    #[allow(clippy::should_implement_trait)] // not an iterator: it fails and waits
    pub fn next(&mut self) -> Result<Event, MultipartError> {
        loop {
            let step = match self.state {
                State::Preamble => self.preamble()?,
                State::AfterDelimiter => self.after_delimiter()?,
                State::Head => self.head()?,
                State::Data => self.data()?,
                State::Done => Step::Emit(Event::End),
            };
            match step {
                Step::Emit(event) => return Ok(event),
                Step::Continue => continue,
                Step::Wait if self.finished => {
                    return Err(MultipartError::Malformed(
                        "the body ended before the closing delimiter",
                    ))
                }
                Step::Wait => return Ok(Event::NeedMore),
            }
        }
    }

    /// Skips to the first delimiter.
    fn preamble(&mut self) -> Result<Step, MultipartError> {
        // The same verdict however the body is split: the delimiter must
        // start within the first MAX_PREAMBLE bytes.
        match find(&self.buf, &self.delimiter) {
            Some(at) if at <= MAX_PREAMBLE => {
                self.buf.advance(at + self.delimiter.len());
                self.state = State::AfterDelimiter;
                Ok(Step::Continue)
            }
            None if self.buf.len() < MAX_PREAMBLE + self.delimiter.len() => Ok(Step::Wait),
            _ => Err(MultipartError::Malformed("no delimiter in the first 8 KiB")),
        }
    }

    /// After a delimiter: `--` ends the body; optional padding and CRLF start a part.
    fn after_delimiter(&mut self) -> Result<Step, MultipartError> {
        if self.buf.len() < 2 {
            return Ok(Step::Wait);
        }
        if &self.buf[..2] == b"--" {
            self.state = State::Done;
            self.buf.clear();
            return Ok(Step::Emit(Event::End));
        }
        let padding = self
            .buf
            .iter()
            .take_while(|&&b| b == b' ' || b == b'\t')
            .count();
        if padding > MAX_PADDING {
            return Err(MultipartError::Malformed(
                "too much padding after a delimiter",
            ));
        }
        if self.buf.len() < padding + 2 {
            return Ok(Step::Wait);
        }
        if &self.buf[padding..padding + 2] != b"\r\n" {
            return Err(MultipartError::Malformed(
                "a delimiter is not followed by a line break",
            ));
        }
        self.buf.advance(padding + 2);
        self.parts += 1;
        if self.parts > self.limits.max_parts {
            return Err(MultipartError::TooLarge("more parts than max_parts"));
        }
        self.state = State::Head;
        Ok(Step::Continue)
    }

    /// A part's head, once its empty line has arrived.
    fn head(&mut self) -> Result<Step, MultipartError> {
        // A part with no header lines starts with the empty line at once.
        let end = if self.buf.starts_with(b"\r\n") {
            Some(0)
        } else {
            find(&self.buf, b"\r\n\r\n").map(|i| i + 2)
        };
        let Some(end) = end else {
            // Not found: the empty line starts at len - 3 or later, so the
            // head ends past the limit once len > max + 1 (the same verdict
            // however the body is split).
            if self.buf.len() > self.limits.max_head_size + 1 {
                return Err(MultipartError::TooLarge(
                    "a part's head exceeds max_head_size",
                ));
            }
            return Ok(Step::Wait);
        };
        if end > self.limits.max_head_size {
            return Err(MultipartError::TooLarge(
                "a part's head exceeds max_head_size",
            ));
        }
        let head = self.buf.split_to(end + 2);
        let headers = self.parse_head(&head)?;
        self.state = State::Data;
        self.part_size = 0;
        Ok(Step::Emit(Event::Part(headers)))
    }

    fn parse_head(&self, head: &[u8]) -> Result<HeaderMap, MultipartError> {
        let mut slots = vec![httparse::EMPTY_HEADER; self.limits.max_headers];
        let parsed = match httparse::parse_headers(head, &mut slots) {
            Ok(httparse::Status::Complete((_, fields))) => fields,
            Ok(httparse::Status::Partial) => {
                return Err(MultipartError::Malformed("a part's head is incomplete"))
            }
            Err(httparse::Error::TooManyHeaders) => {
                return Err(MultipartError::TooLarge(
                    "a part has more header lines than max_headers",
                ))
            }
            Err(_) => return Err(MultipartError::Malformed("a part's header line is invalid")),
        };
        let mut headers = HeaderMap::with_capacity(parsed.len());
        for field in parsed {
            let name = HeaderName::from_bytes(field.name.as_bytes())
                .map_err(|_| MultipartError::Malformed("a part's header name is invalid"))?;
            let value = HeaderValue::from_bytes(field.value)
                .map_err(|_| MultipartError::Malformed("a part's header value is invalid"))?;
            headers.append(name, value);
        }
        Ok(headers)
    }

    /// Data up to the next delimiter; bytes that may begin one are held back.
    fn data(&mut self) -> Result<Step, MultipartError> {
        let (take, at_delimiter) = match find(&self.buf, &self.delimiter) {
            Some(at) => (at, true),
            None => (
                self.buf.len().saturating_sub(self.delimiter.len() - 1),
                false,
            ),
        };
        if take > 0 {
            self.part_size += take as u64;
            if self.part_size > self.limits.max_part_size {
                return Err(MultipartError::TooLarge("a part exceeds max_part_size"));
            }
            return Ok(Step::Emit(Event::Data(self.buf.split_to(take).freeze())));
        }
        if at_delimiter {
            self.buf.advance(self.delimiter.len());
            self.state = State::AfterDelimiter;
            return Ok(Step::Continue);
        }
        Ok(Step::Wait)
    }
}

#[cfg(test)]
mod tests;
