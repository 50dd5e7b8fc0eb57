//! A request head that borrows: the head's bytes (split off the read
//! buffer, shared, never copied; or, for a head a connection's
//! `h1::HeadMemo` answered, the memo's parsed head itself, shared through
//! an `Rc`: no copy and no atomic reference count per request)
//! plus the offsets of its method, target and fields. Every check of RFC 9112 / RFC 9110 (and every check the `http`
//! crate's types make) is done when the head is parsed, so a [`RawHead`]
//! is always a valid request; `http` types ([`Uri`], [`HeaderMap`]) are
//! built only when asked for ([`RawHeadParts::uri`], [`RawHeadParts::headers`],
//! [`RawHead::into_request`]).
//!
//! ```
//! use bytes::BytesMut;
//! use percore_http::{h1, Limits};
//! let mut buf = BytesMut::from(&b"GET /a?b=1 HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n"[..]);
//! let head = h1::parse_raw_head(&mut buf, &Limits::default()).unwrap().unwrap();
//! assert_eq!(head.path(), "/a");
//! assert_eq!(head.query(), Some("b=1"));
//! assert_eq!(head.header("accept"), Some("*/*"));
//! assert_eq!(head.headers().len(), 2); // built now
//! ```

use std::rc::Rc;
use std::sync::Arc;

use percore_runtime::local_pool::{replace_empty, LocalPool};

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method, Uri, Version};

#[cfg(test)]
use super::error::ParseError;
use super::fields::{BodyKind, Outcome};

/// Fields kept inline (as `u16` offsets); a head with more, or longer than
/// 64 KiB, keeps them on the heap.
pub(super) const INLINE_FIELDS: usize = 8;

/// Where a head's fields are: `[name start, name end, value start, value
/// end]` each.
#[derive(Clone)]
pub(super) enum Fields {
    Inline {
        len: u8,
        spans: [[u16; 4]; INLINE_FIELDS],
    },
    Heap(Vec<[u32; 4]>),
}

impl Fields {
    /// No fields yet (inline).
    pub(super) fn new() -> Fields {
        Fields::Inline {
            len: 0,
            spans: [[0; 4]; INLINE_FIELDS],
        }
    }

    /// Adds one field (offsets into a head that passed the size limit).
    /// The inline room moves to the heap for the ninth field, or for
    /// an offset past 64 KiB.
    #[inline(always)]
    pub(super) fn push(&mut self, span: [usize; 4]) {
        if let Fields::Inline { len, spans } = self {
            let fits = span[1].max(span[3]) <= usize::from(u16::MAX);
            if let (Some(slot), true) = (spans.get_mut(usize::from(*len)), fits) {
                // The ends are the largest offsets of a name and a value.
                *slot = span.map(|o| o as u16);
                *len += 1;
                return;
            }
        }
        self.push_heap(span);
    }

    /// [`Fields::push`] past the inline room.
    #[cold]
    fn push_heap(&mut self, span: [usize; 4]) {
        if let Fields::Inline { len, spans } = self {
            let moved = spans
                .iter()
                .take(usize::from(*len))
                .map(|s| s.map(u32::from))
                .collect::<Vec<_>>();
            *self = Fields::Heap(moved);
        }
        if let Fields::Heap(v) = self {
            v.push(span.map(|n| u32::try_from(n).unwrap_or(u32::MAX)));
        }
    }

    pub(super) fn len(&self) -> usize {
        match self {
            Fields::Inline { len, .. } => usize::from(*len),
            Fields::Heap(v) => v.len(),
        }
    }

    fn get(&self, i: usize) -> Option<[usize; 4]> {
        match self {
            Fields::Inline { len, spans } if i < usize::from(*len) => {
                spans.get(i).map(|s| s.map(usize::from))
            }
            Fields::Inline { .. } => None,
            Fields::Heap(v) => v.get(i).map(|s| s.map(|n| n as usize)),
        }
    }
}

/// A parsed, fully checked request head kept as its bytes plus offsets.
/// See the [module documentation](self). Its accessors are those of
/// [`RawHeadParts`], which it dereferences to.
///
/// A `RawHead` is a handle: its parts live behind an `Rc` from this
/// core's pool (given back when the last handle is dropped), so moving a
/// head (out of the parser, into the handler's request, into a pooled
/// request box) moves one pointer, and a clone (what a connection's head
/// memo hands out for a repeated head) takes a reference, not a copy of
/// the parts. The parts are never changed once written, so sharing them
/// is sharing equal values. Moved as a value, the 184 bytes of parts were
/// three `memcpy` calls per request, whose loads of bytes just written in
/// narrower stores stall on store forwarding (`memmove` was about a fifth
/// of the server's user time on pipelined requests); copied from the
/// memo, they were 25 stores per request more.
pub struct RawHead(Option<Rc<RawHeadParts>>);

/// The parts of a [`RawHead`]: its bytes and the offsets of its method,
/// target and fields, with the framing facts. Reached through a
/// `RawHead` (`Deref`).
pub struct RawHeadParts {
    bytes: Bytes,
    method: Method,
    version: Version,
    /// The request target, and where its query starts (past `?`) if any.
    target: (u32, u32),
    query: Option<u32>,
    /// The target as a `Uri`, for the forms other than origin-form (rare:
    /// proxies' absolute-form, CONNECT, `OPTIONS *`). An `Arc`, not a
    /// `Box`: dropping the usual `None` is then inlined where a head is
    /// dropped (a `Box<Uri>`'s drop glue was a call; callgrind: 7 fewer
    /// instructions per pipelined request), and a memo's copy shares it.
    uri: Option<Arc<Uri>>,
    fields: Fields,
    body: BodyKind,
    keep_alive: bool,
    expect_continue: bool,
    /// The first `Upgrade` field, when `Connection` lists `upgrade`.
    upgrade: Option<u32>,
}

/// How many boxes of head parts a core keeps for reuse (about 200 bytes
/// each: 50 KiB at most). A core has one live head per connection between
/// reading it and the handler dropping its request; more than this many
/// at once allocate, and their boxes beyond the bound are freed.
const MAX_POOLED_HEADS: usize = 256;

thread_local! {
    /// This core's boxes of head parts, each owning nothing and held by
    /// no one else (see [`RawHead`]'s `Drop`).
    static BOXES: LocalPool<Rc<RawHeadParts>> = const { LocalPool::new(MAX_POOLED_HEADS) };
}

impl RawHeadParts {
    /// Writes `from`'s values into these parts, which own nothing. (Every
    /// field is named here and in `RawHead`'s `Drop`: a new field does not
    /// compile until both handle it.)
    #[inline(always)]
    fn write(&mut self, from: RawHeadParts) {
        let RawHeadParts {
            bytes,
            method,
            version,
            target,
            query,
            uri,
            fields,
            body,
            keep_alive,
            expect_continue,
            upgrade,
        } = from;
        replace_empty(&mut self.bytes, bytes);
        replace_empty(&mut self.method, method);
        self.version = version;
        self.target = target;
        self.query = query;
        replace_empty(&mut self.uri, uri);
        replace_empty(&mut self.fields, fields);
        self.body = body;
        self.keep_alive = keep_alive;
        self.expect_continue = expect_continue;
        self.upgrade = upgrade;
    }
}

impl RawHead {
    /// A head of these parts, written field by field into a box from
    /// this core's pool (or a new box).
    #[inline(always)]
    fn boxed(parts: RawHeadParts) -> RawHead {
        let mut slot = BOXES.try_with(LocalPool::pop).ok().flatten();
        // A pooled box is held by no one else (see `Drop`).
        match slot.as_mut().and_then(Rc::get_mut) {
            Some(room) => {
                room.write(parts);
                RawHead(slot)
            }
            None => RawHead(Some(Rc::new(parts))),
        }
    }
}

impl std::ops::Deref for RawHead {
    type Target = RawHeadParts;

    #[inline(always)]
    fn deref(&self) -> &RawHeadParts {
        match &self.0 {
            Some(parts) => parts,
            None => unreachable!("a head's parts are taken only by its drop"),
        }
    }
}

/// A clone shares the parts (they are never changed once written).
impl Clone for RawHead {
    #[inline]
    fn clone(&self) -> RawHead {
        RawHead(self.0.clone())
    }
}

impl Drop for RawHead {
    #[inline]
    fn drop(&mut self) {
        let Some(mut shared) = self.0.take() else {
            return;
        };
        // Another handle holds the parts (a head memo's, or a clone's):
        // this one only lets go of them.
        let Some(parts) = Rc::get_mut(&mut shared) else {
            return;
        };
        // What the parts own is dropped here; the box goes back owning
        // nothing, held by no one.
        let RawHeadParts {
            bytes,
            method,
            uri,
            fields,
            version: _,
            target: _,
            query: _,
            body: _,
            keep_alive: _,
            expect_continue: _,
            upgrade: _,
        } = parts;
        *bytes = Bytes::new();
        *uri = None;
        if !matches!(fields, Fields::Inline { .. }) {
            *fields = Fields::new();
        }
        *method = Method::GET;
        let _ = BOXES.try_with(|pool| pool.push(shared));
    }
}

impl std::fmt::Debug for RawHead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: &RawHeadParts = self;
        parts.fmt(f)
    }
}

impl std::fmt::Debug for RawHeadParts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawHead")
            .field("method", &self.method)
            .field("target", &self.target_str())
            .field("version", &self.version)
            .field("fields", &self.fields.len())
            .field("body", &self.body)
            .field("keep_alive", &self.keep_alive)
            .finish_non_exhaustive()
    }
}

/// The bytes of `range` in `bytes`, as text (empty if out of range or not
/// UTF-8, which a checked head never is).
fn text(bytes: &[u8], start: usize, end: usize) -> &str {
    std::str::from_utf8(bytes.get(start..end).unwrap_or_default()).unwrap_or_default()
}

/// Whether `value` is what `HeaderValue::to_str` accepts: visible ASCII,
/// space and tab.
fn visible_ascii(value: &[u8]) -> bool {
    value
        .iter()
        .all(|&b| b == b'\t' || (0x20..0x7f).contains(&b))
}

impl RawHeadParts {
    /// The method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// HTTP/1.0 or HTTP/1.1.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The request target as sent.
    pub fn target_str(&self) -> &str {
        text(&self.bytes, self.target.0 as usize, self.target.1 as usize)
    }

    /// The path of the target (what `Uri::path` gives), without building
    /// the `Uri` for an origin-form target.
    pub fn path(&self) -> &str {
        match &self.uri {
            Some(uri) => uri.path(),
            None => std::str::from_utf8(self.path_bytes()).unwrap_or_default(),
        }
    }

    /// [`RawHeadParts::path`] as bytes, without the UTF-8 check (the parser
    /// allows only ASCII in an origin-form path).
    pub fn path_bytes(&self) -> &[u8] {
        match &self.uri {
            Some(uri) => uri.path().as_bytes(),
            None => {
                let end = self.query.map_or(self.target.1, |q| q - 1);
                let (start, end) = (self.target.0 as usize, end as usize);
                self.bytes.get(start..end).unwrap_or_default()
            }
        }
    }

    /// The query string without `?` (what `Uri::query` gives).
    pub fn query(&self) -> Option<&str> {
        match &self.uri {
            Some(uri) => uri.query(),
            None => self
                .query
                .map(|q| text(&self.bytes, q as usize, self.target.1 as usize)),
        }
    }

    /// The target as a `Uri` (built now for an origin-form target; cheap:
    /// it shares the head's bytes).
    pub fn uri(&self) -> Uri {
        if let Some(uri) = &self.uri {
            return (**uri).clone();
        }
        let target = self
            .bytes
            .slice(self.target.0 as usize..self.target.1 as usize);
        // The parser checked the target with the rules `Uri` applies.
        Uri::from_maybe_shared(target).unwrap_or_default()
    }

    /// How many fields the head has.
    pub fn field_count(&self) -> usize {
        self.fields.len()
    }

    /// The fields in order, names as sent (any case), values as bytes.
    pub fn fields(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        (0..self.fields.len()).filter_map(move |i| self.field(i))
    }

    fn field(&self, i: usize) -> Option<(&[u8], &[u8])> {
        let [ns, ne, vs, ve] = self.fields.get(i)?;
        Some((self.bytes.get(ns..ne)?, self.bytes.get(vs..ve)?))
    }

    /// The first value of the field `name` (any case) as bytes.
    pub fn header_bytes(&self, name: &str) -> Option<&[u8]> {
        let name = name.as_bytes();
        self.fields()
            .find(|(n, _)| n.len() == name.len() && n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// The first value of the field `name` (any case) as text, if it is
    /// visible ASCII: what `headers().get(name)?.to_str().ok()` gives,
    /// without building the map.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.header_bytes(name)
            .filter(|v| visible_ascii(v))
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    /// The fields as a `HeaderMap` (built now; from this core's pool).
    pub fn headers(&self) -> HeaderMap {
        let mut map = crate::header_pool::take();
        map.reserve(self.fields.len());
        for i in 0..self.fields.len() {
            let Some([ns, ne, vs, ve]) = self.fields.get(i) else {
                continue;
            };
            let name = self.bytes.get(ns..ne).unwrap_or_default();
            // The parser checked both with the rules these constructors apply.
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name),
                HeaderValue::from_maybe_shared(self.bytes.slice(vs..ve)),
            ) {
                map.append(name, value);
            }
        }
        map
    }

    /// How the body is framed.
    pub fn body_kind(&self) -> BodyKind {
        self.body
    }

    /// Whether the connection may stay open after this exchange.
    pub fn keep_alive(&self) -> bool {
        self.keep_alive
    }

    /// `Expect: 100-continue` was sent.
    pub fn expect_continue(&self) -> bool {
        self.expect_continue
    }

    /// The first `Upgrade` value, when `Connection` lists `upgrade`.
    pub fn upgrade(&self) -> Option<HeaderValue> {
        let [_, _, vs, ve] = self.fields.get(self.upgrade? as usize)?;
        HeaderValue::from_maybe_shared(self.bytes.slice(vs..ve)).ok()
    }

    /// Whether `Connection` lists `upgrade` and an `Upgrade` field came.
    pub fn wants_upgrade(&self) -> bool {
        self.upgrade.is_some()
    }

    /// The head's bytes, request line to the empty line.
    pub fn as_bytes(&self) -> &Bytes {
        &self.bytes
    }
}

impl RawHead {
    /// An `http::Request` with this head and `body` (the `Uri` and the
    /// `HeaderMap` are built now).
    pub fn into_request<B>(self, body: B) -> http::Request<B> {
        let mut req = http::Request::new(body);
        *req.uri_mut() = self.uri();
        *req.version_mut() = self.version;
        // The default map owns no memory: no drop glue for it.
        replace_empty(req.headers_mut(), self.headers());
        *req.method_mut() = self.method.clone();
        req
    }
}

/// Whether a field name the scan accepted (token characters, never empty:
/// exactly those `HeaderName::from_bytes` takes) is within `HeaderName`'s
/// length limit.
pub(super) fn valid_name(name: &[u8]) -> bool {
    !name.is_empty() && name.len() <= usize::from(u16::MAX)
}

impl RawHead {
    /// This head on a copy of its bytes (a head memo's: it must not hold
    /// the read buffer), whose parts the heads cloned from it share.
    pub(super) fn kept_copy(&self) -> RawHead {
        RawHead::boxed(RawHeadParts {
            bytes: Bytes::copy_from_slice(&self.bytes),
            method: self.method.clone(),
            version: self.version,
            target: self.target,
            query: self.query,
            uri: self.uri.clone(),
            fields: self.fields.clone(),
            body: self.body,
            keep_alive: self.keep_alive,
            expect_continue: self.expect_continue,
            upgrade: self.upgrade,
        })
    }
}

impl RawHead {
    /// A head from what the scanner found (every check made).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn assemble(
        bytes: Bytes,
        method: Method,
        version: Version,
        target: (usize, usize),
        query: Option<usize>,
        uri: Option<Arc<Uri>>,
        fields: Fields,
        outcome: &Outcome,
    ) -> RawHead {
        let narrow = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        RawHead::boxed(RawHeadParts {
            method,
            version,
            target: (narrow(target.0), narrow(target.1)),
            query: query.map(narrow),
            uri,
            fields,
            body: outcome.body,
            keep_alive: outcome.keep_alive,
            expect_continue: outcome.expect_continue,
            upgrade: outcome.upgrade_at.map(narrow),
            bytes,
        })
    }
}

#[cfg(test)]
#[path = "head_tests.rs"]
mod tests;
