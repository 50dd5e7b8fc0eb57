//! A response head kept as its bytes: the status, the framing and the
//! connection verdict read by [`parse_response_head`]'s rules (syntax,
//! limits, framing conflicts: the same `Ok(None)` and the same errors),
//! the header map built only when asked ([`response_fields`]). A client
//! that reads the status and the body never pays for the map.

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Method, StatusCode, Version};

use super::memo::MissStreak;
use super::response::{
    frame_head, frame_of, many_fields, parse_response_head, Framed, ResponseError, ResponseFrame,
    ResponseFraming,
};
use super::MEMO_MAX_HEAD;
use crate::Limits;

/// A parsed response head whose fields stay in its bytes. Made by
/// [`parse_response_head_lazy`].
#[derive(Debug, Clone)]
pub struct LazyResponseHead {
    /// HTTP/1.0 or HTTP/1.1.
    pub version: Version,
    /// The status code (100–999).
    pub status: StatusCode,
    /// Body framing, given the request's method.
    pub body: ResponseFraming,
    /// As [`ResponseHead::keep_alive`](super::ResponseHead::keep_alive).
    pub keep_alive: bool,
    /// The first `Content-Encoding` value (a slice of `head`).
    coding: Option<Bytes>,
    /// The head's bytes, blank lines before the status line included.
    head: Bytes,
}

impl LazyResponseHead {
    /// The first `Content-Encoding` field's value, if the head has one.
    pub fn content_encoding(&self) -> Option<&[u8]> {
        self.coding.as_deref()
    }

    /// The head's bytes (for [`response_fields`]).
    pub fn bytes(&self) -> &Bytes {
        &self.head
    }

    /// The head's bytes, the rest dropped.
    pub fn into_bytes(self) -> Bytes {
        self.head
    }

    /// The header map, as [`parse_response_head`] would have built it.
    pub fn headers(&self) -> HeaderMap {
        response_fields(&self.head)
    }
}

/// [`parse_response_head`] without the header map: on success the head
/// (and the blank lines before it) is split off `buf`, which then starts
/// at the body. Every head one accepts the other accepts, with the same
/// status, framing and keep-alive; every one it refuses it refuses with
/// the same error.
///
/// ```
/// use bytes::BytesMut;
/// use http::Method;
/// use percore_http::{h1::{parse_response_head_lazy, ResponseFraming}, Limits};
/// let mut buf = BytesMut::from(&b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"[..]);
/// let head = parse_response_head_lazy(&mut buf, &Method::GET, &Limits::default()).unwrap().unwrap();
/// assert_eq!((head.status.as_u16(), head.body), (200, ResponseFraming::Length(2)));
/// assert_eq!(&buf[..], b"hi");
/// assert_eq!(head.headers()["content-length"], "2");
/// ```
pub fn parse_response_head_lazy(
    buf: &mut BytesMut,
    method: &Method,
    limits: &Limits,
) -> Result<Option<LazyResponseHead>, ResponseError> {
    let framed = frame_head(buf, method, limits)?;
    lazy_of(framed, buf, method, limits)
}

/// [`parse_response_head_lazy`]'s answer from what [`frame_head`] found
/// in `buf`.
fn lazy_of(
    framed: Framed,
    buf: &mut BytesMut,
    method: &Method,
    limits: &Limits,
) -> Result<Option<LazyResponseHead>, ResponseError> {
    match framed {
        Framed::Incomplete => Ok(None),
        Framed::Head { frame, coding } => Ok(Some(split_head(buf, &frame, coding))),
        Framed::ManyFields { skipped } => many_fields_lazy(buf, skipped, method, limits),
    }
}

/// The head `frame` describes split off `buf`, its `Content-Encoding`
/// value at `coding` (offsets in the head).
fn split_head(
    buf: &mut BytesMut,
    frame: &ResponseFrame,
    coding: Option<(usize, usize)>,
) -> LazyResponseHead {
    let head = buf.split_to(frame.len.min(buf.len())).freeze();
    let coding = coding
        .filter(|&(start, end)| start <= end && end <= head.len())
        .map(|(start, end)| head.slice(start..end));
    LazyResponseHead {
        version: frame.version,
        status: frame.status,
        body: frame.body,
        keep_alive: frame.keep_alive,
        coding,
        head,
    }
}

/// A head with more fields than the stack array: the allocating parser
/// decides ([`many_fields`]), its map dropped (rare; [`response_fields`]
/// builds it again when asked).
fn many_fields_lazy(
    buf: &mut BytesMut,
    skipped: usize,
    method: &Method,
    limits: &Limits,
) -> Result<Option<LazyResponseHead>, ResponseError> {
    let Some((len, full)) = many_fields(buf, skipped, method, limits)? else {
        return Ok(None);
    };
    let head = buf.split_to(len).freeze();
    let coding = full
        .headers
        .get(http::header::CONTENT_ENCODING)
        .map(|v| Bytes::copy_from_slice(v.as_bytes()));
    Ok(Some(LazyResponseHead {
        version: full.version,
        status: full.status,
        body: full.body,
        keep_alive: full.keep_alive,
        coding,
        head,
    }))
}

/// A connection's last response head: its bytes (up to
/// [`MEMO_MAX_HEAD`]), the request method and limits it was read under,
/// and what it was framed into. Used by [`parse_response_head_memo`]
/// and [`ResponseHeadMemo::frame`].
#[derive(Debug, Default)]
pub struct ResponseHeadMemo {
    bytes: Vec<u8>,
    /// The method the kept head answered (GET while there is none).
    method: Method,
    limits: (usize, usize),
    frame: Option<(ResponseFrame, Option<(usize, usize)>)>,
    /// Heads in a row the memo did not answer: after a run of them only
    /// one head in eight is kept, as the server's request-head memo does,
    /// so a server whose heads all differ (a request id, an ETag per
    /// response) costs most responses neither a comparison nor a copy.
    misses: MissStreak,
}

impl ResponseHeadMemo {
    /// The limits the response parser reads.
    fn key(limits: &Limits) -> (usize, usize) {
        (limits.max_head_size, limits.max_headers)
    }

    /// The frame (and `Content-Encoding` span) of the head at `buf`'s
    /// start, when it is the memo's.
    #[inline]
    pub(super) fn answer(
        &self,
        buf: &[u8],
        method: &Method,
        limits: &Limits,
    ) -> Option<&(ResponseFrame, Option<(usize, usize)>)> {
        match &self.frame {
            // The keys first: the bytes' comparison is a call, and only
            // the kept frame is needed after it.
            Some(kept)
                if self.limits == Self::key(limits)
                    && self.method == *method
                    && buf.starts_with(&self.bytes) =>
            {
                Some(kept)
            }
            _ => None,
        }
    }

    /// [`frame_response_head`](super::frame_response_head) answered by
    /// the memo: the same answer, `buf` not consumed, found by one
    /// comparison when `buf` starts with the head the memo last kept (for
    /// the same method and limits); any other head is framed, and kept as
    /// [`parse_response_head_memo`] keeps it. For a reader that frames
    /// heads in a buffer of its own and passes over them itself
    /// (percore-load).
    ///
    /// ```
    /// use http::Method;
    /// use percore_http::{h1::{frame_response_head, ResponseHeadMemo}, Limits};
    /// let (mut memo, limits) = (ResponseHeadMemo::default(), Limits::default());
    /// let buf = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
    /// let fresh = frame_response_head(buf, &Method::GET, &limits).unwrap();
    /// for _ in 0..2 {
    ///     // Framed, then answered by the memo.
    ///     assert_eq!(memo.frame(buf, &Method::GET, &limits).unwrap(), fresh);
    /// }
    /// assert_eq!(fresh.unwrap().len, buf.len() - 2);
    /// ```
    #[inline(always)]
    pub fn frame(
        &mut self,
        buf: &[u8],
        method: &Method,
        limits: &Limits,
    ) -> Result<Option<ResponseFrame>, ResponseError> {
        // Nothing read yet (a reader's first look for each response): no
        // head, without a comparison or the framer's call.
        if buf.is_empty() {
            return Ok(None);
        }
        if let Some((frame, _)) = self.hit(buf, method, limits) {
            return Ok(Some(frame));
        }
        self.frame_missed(buf, method, limits)
    }

    /// [`frame`](Self::frame) for a head the memo did not answer (out of
    /// line: the reader's loop keeps only the hit).
    #[inline(never)]
    fn frame_missed(
        &mut self,
        buf: &[u8],
        method: &Method,
        limits: &Limits,
    ) -> Result<Option<ResponseFrame>, ResponseError> {
        let framed = self.framed(buf, method, limits)?;
        frame_of(framed, buf, method, limits)
    }

    /// [`answer`](Self::answer), counted as a hit (inlined into the
    /// reader's loop: a hit is a few comparisons).
    #[inline(always)]
    fn hit(
        &mut self,
        buf: &[u8],
        method: &Method,
        limits: &Limits,
    ) -> Option<(ResponseFrame, Option<(usize, usize)>)> {
        let &kept = self.answer(buf, method, limits)?;
        self.misses.hit();
        Some(kept)
    }

    /// A head the memo did not answer: [`frame_head`], an accepted head
    /// kept when at most [`MEMO_MAX_HEAD`] bytes long (after a run of
    /// misses, one in eight), else nothing kept.
    #[inline(never)]
    fn framed(
        &mut self,
        buf: &[u8],
        method: &Method,
        limits: &Limits,
    ) -> Result<Framed, ResponseError> {
        let framed = frame_head(buf, method, limits)?;
        let Framed::Head { frame, coding } = framed else {
            return Ok(framed);
        };
        let sampled = self.misses.miss_keeps();
        match buf
            .get(..frame.len)
            .filter(|b| b.len() <= MEMO_MAX_HEAD && sampled)
        {
            Some(bytes) => {
                self.bytes.clear();
                self.bytes.extend_from_slice(bytes);
                if self.method != *method {
                    self.method = method.clone();
                }
                self.limits = Self::key(limits);
                self.frame = Some((frame, coding));
            }
            None => self.frame = None,
        }
        Ok(framed)
    }
}

/// [`parse_response_head_lazy`], answered by `memo` when `buf` starts
/// with the head `memo` last kept, for the same method and limits (a
/// server answering a connection's requests with the same head again,
/// as within the same second of its `Date`, is framed by one
/// comparison); any other head is parsed, and kept in `memo` when it is
/// accepted and at most [`MEMO_MAX_HEAD`] bytes long (after a run of
/// heads the memo did not answer, only one in eight is kept: a server
/// whose heads all differ costs most responses neither a comparison nor
/// a copy, and one that starts repeating its head is answered again
/// within ten heads).
///
/// Exact, not a heuristic: the parser's verdict on an accepted head is a
/// function of its bytes, the method and the limits (it decides at the
/// head's empty line, from bytes before it), so the same bytes get the
/// same head.
///
/// ```
/// use bytes::BytesMut;
/// use http::Method;
/// use percore_http::{h1::{parse_response_head_memo, ResponseHeadMemo}, Limits};
/// let (mut memo, limits) = (ResponseHeadMemo::default(), Limits::default());
/// for _ in 0..2 {
///     let mut buf = BytesMut::from(&b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"[..]);
///     let head = parse_response_head_memo(&mut buf, &Method::GET, &limits, &mut memo);
///     assert_eq!(head.unwrap().unwrap().status, 200);
///     assert_eq!(&buf[..], b"hi");
/// }
/// ```
pub fn parse_response_head_memo(
    buf: &mut BytesMut,
    method: &Method,
    limits: &Limits,
    memo: &mut ResponseHeadMemo,
) -> Result<Option<LazyResponseHead>, ResponseError> {
    if let Some((frame, coding)) = memo.hit(buf, method, limits) {
        return Ok(Some(split_head(buf, &frame, coding)));
    }
    let framed = memo.framed(buf, method, limits)?;
    lazy_of(framed, buf, method, limits)
}

/// The header map of a head [`parse_response_head_lazy`] accepted (its
/// [`LazyResponseHead::bytes`]): the fields in order, as
/// [`parse_response_head`] builds them (values share one copy of the
/// head). (Bytes it
/// did not accept give an empty map: the rules are the same, so that
/// does not happen.)
pub fn response_fields(head: &Bytes) -> HeaderMap {
    let limits = Limits::default()
        .max_head_size(head.len())
        .max_headers(head.len() / 3 + 1);
    let mut buf = BytesMut::from(&head[..]);
    match parse_response_head(&mut buf, &Method::GET, &limits) {
        Ok(Some(parsed)) => parsed.headers,
        _ => HeaderMap::new(),
    }
}
