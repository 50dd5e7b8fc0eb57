//! The last response head encoded on this core, kept with what it was
//! encoded from. A response that matches the previous one in everything
//! the head is made of (version, status, its fields in the same order, the
//! framing, `close` and the `Date` text) gets the same bytes copied in one
//! append instead of being encoded again: answers of one route tend to
//! repeat their head within a second (pipelined and keep-alive load
//! especially).
//!
//! Exact by construction: [`h1::encode_response_head`] is a function of
//! exactly these inputs (the fields as the map iterates them), so a match
//! yields the bytes it would have written. Bounded: only heads with at most
//! [`MAX_FIELDS`] fields and [`MAX_BYTES`] bytes are kept, one per core.
//!
//! The `Date` text is the core's one (`header_cache`'s, shared with
//! HTTP/2) and is compared by its generation, a count bumped each time
//! the text is formatted again, not byte by byte.

use std::cell::RefCell;

use bytes::BytesMut;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use http::{HeaderMap, StatusCode, Version};

use crate::h1::{self, ResponseBody};
use crate::header_pool::same_value;
use crate::server::header_cache::with_date;

/// Heads with more fields are encoded every time (the comparison would
/// cost about what it saves).
const MAX_FIELDS: usize = 4;
/// Longer heads are not kept.
const MAX_BYTES: usize = 512;

/// What a head was encoded from, and its bytes.
#[derive(Default)]
struct LastHead {
    /// `None` until a head is kept (or after one too large to keep).
    key: Option<Key>,
    fields: Vec<(HeaderName, HeaderValue)>,
    bytes: Vec<u8>,
}

#[derive(PartialEq)]
struct Key {
    version: Version,
    status: StatusCode,
    framing: ResponseBody,
    close: bool,
    /// The generation of the `Date` text.
    date: u64,
}

impl LastHead {
    /// Whether the kept head was encoded from these inputs.
    #[inline(always)]
    fn matches(&self, key: &Key, fields: Fields<'_>) -> bool {
        self.key.as_ref() == Some(key)
            && fields.len() == self.fields.len()
            // The kept fields first: `zip` stops on them without asking
            // the map's iterator for its end.
            && self
                .fields
                .iter()
                .zip(fields.iter())
                .all(|((kn, kv), (n, v))| n == kn && same_value(v, kv))
    }

    /// Writes the head of these inputs into `dst`: the kept bytes when
    /// they match, else a fresh encoding, which is then kept.
    #[inline(always)]
    fn encode(&mut self, dst: &mut BytesMut, head: Inputs<'_>) {
        let key = Key {
            version: head.version,
            status: head.status,
            framing: head.framing,
            close: head.close,
            date: head.date_gen,
        };
        if self.matches(&key, head.fields) {
            dst.extend_from_slice(&self.bytes);
            return;
        }
        self.encode_new(dst, key, head.fields, head.date);
    }

    /// Encodes the head of `key`, `fields` and `date` into `dst` and keeps
    /// it (out of line: the kept head is the common case).
    #[inline(never)]
    fn encode_new(&mut self, dst: &mut BytesMut, key: Key, fields: Fields<'_>, date: &[u8]) {
        let Key {
            version,
            status,
            framing,
            close,
            ..
        } = key;
        let start = dst.len();
        h1::encode_response_fields(dst, version, status, fields.iter(), framing, date, close);
        let head = dst.get(start..).unwrap_or_default();
        if fields.len() > MAX_FIELDS || head.len() > MAX_BYTES {
            self.key = None;
            return;
        }
        self.fields.clear();
        self.fields
            .extend(fields.iter().map(|(n, v)| (n.clone(), v.clone())));
        self.bytes.clear();
        self.bytes.extend_from_slice(head);
        self.key = Some(key);
    }
}

/// The fields of a head: a response's map, or the one `content-type` of a
/// [`Plain`](crate::Plain) answer (the same head as a map holding only it).
#[derive(Clone, Copy)]
pub(super) enum Fields<'a> {
    Map(&'a HeaderMap),
    ContentType(&'a HeaderValue),
}

/// The name of a [`Fields::ContentType`]'s field, borrowed for as long as
/// any value.
static CONTENT_TYPE_NAME: HeaderName = CONTENT_TYPE;

impl<'a> Fields<'a> {
    /// How many fields.
    #[inline]
    fn len(self) -> usize {
        match self {
            Fields::Map(headers) => headers.len(),
            Fields::ContentType(_) => 1,
        }
    }

    /// The fields in order, as the map iterates them.
    #[inline]
    fn iter(self) -> FieldsIter<'a> {
        match self {
            Fields::Map(headers) => FieldsIter::Map(headers.iter()),
            Fields::ContentType(value) => FieldsIter::One(Some(value)),
        }
    }
}

/// The iterator of [`Fields::iter`].
enum FieldsIter<'a> {
    Map(http::header::Iter<'a, HeaderValue>),
    One(Option<&'a HeaderValue>),
}

impl<'a> Iterator for FieldsIter<'a> {
    type Item = (&'a HeaderName, &'a HeaderValue);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            FieldsIter::Map(fields) => fields.next(),
            FieldsIter::One(value) => value.take().map(|v| (&CONTENT_TYPE_NAME, v)),
        }
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            FieldsIter::Map(fields) => fields.size_hint(),
            FieldsIter::One(value) => {
                let n = usize::from(value.is_some());
                (n, Some(n))
            }
        }
    }
}

/// The arguments of [`h1::encode_response_head`].
struct Inputs<'a> {
    version: Version,
    status: StatusCode,
    fields: Fields<'a>,
    framing: ResponseBody,
    date: &'a [u8],
    /// The generation of `date` (see [`Key::date`]).
    date_gen: u64,
    close: bool,
}

thread_local! {
    /// This core's last head.
    static LAST: RefCell<LastHead> = const {
        RefCell::new(LastHead {
            key: None,
            fields: Vec::new(),
            bytes: Vec::new(),
        })
    };
}

/// [`h1::encode_response_head`] with the core's current `Date`
/// ([`with_date`]), through this core's last-head cache.
#[inline]
pub(super) fn encode_head(
    dst: &mut BytesMut,
    version: Version,
    status: StatusCode,
    fields: Fields<'_>,
    framing: ResponseBody,
    close: bool,
) {
    with_date(|date, date_gen| {
        let head = Inputs {
            version,
            status,
            fields,
            framing,
            date,
            date_gen,
            close,
        };
        LAST.with(|last| last.borrow_mut().encode(dst, head));
    });
}

#[cfg(test)]
mod tests {
    use super::LastHead;
    use crate::h1::{encode_response_head, ResponseBody};
    use bytes::BytesMut;
    use http::header::{CONNECTION, CONTENT_TYPE, SERVER};
    use http::{HeaderMap, HeaderValue, StatusCode, Version};

    const D1: &[u8] = b"Sun, 06 Nov 1994 08:49:37 GMT";
    const D2: &[u8] = b"Sun, 06 Nov 1994 08:49:38 GMT";

    type Case = (
        Version,
        StatusCode,
        HeaderMap,
        ResponseBody,
        &'static [u8],
        bool,
    );

    fn plain(value: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_TYPE, HeaderValue::from_static(value));
        h
    }

    /// Every head the cache writes is the one the encoder writes, whether
    /// it is kept, reused or replaced.
    #[test]
    fn cached_heads_are_the_encoded_heads() {
        let two = {
            let mut h = plain("text/plain");
            h.insert(SERVER, HeaderValue::from_static("percore"));
            h
        };
        let swapped = {
            let mut h = HeaderMap::new();
            h.insert(SERVER, HeaderValue::from_static("percore"));
            h.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
            h
        };
        let many = {
            let mut h = HeaderMap::new();
            for i in 0..6 {
                h.append(CONNECTION, HeaderValue::from(i));
            }
            h
        };
        let big = plain(Box::leak("x".repeat(600).into_boxed_str()));
        let ok = StatusCode::OK;
        let v11 = Version::HTTP_11;
        let cases: Vec<Case> = vec![
            (
                v11,
                ok,
                plain("text/plain"),
                ResponseBody::Length(13),
                D1,
                false,
            ),
            (
                v11,
                ok,
                plain("text/plain"),
                ResponseBody::Length(13),
                D1,
                false,
            ),
            (
                v11,
                ok,
                plain("text/plain"),
                ResponseBody::Length(14),
                D1,
                false,
            ),
            (
                v11,
                ok,
                plain("text/plain"),
                ResponseBody::Length(14),
                D2,
                false,
            ),
            (
                v11,
                ok,
                plain("text/html"),
                ResponseBody::Length(14),
                D2,
                false,
            ),
            (
                v11,
                ok,
                plain("text/html"),
                ResponseBody::Length(14),
                D2,
                true,
            ),
            (
                Version::HTTP_10,
                ok,
                plain("text/html"),
                ResponseBody::Length(14),
                D2,
                true,
            ),
            (
                v11,
                StatusCode::NOT_FOUND,
                plain("text/html"),
                ResponseBody::Length(14),
                D2,
                true,
            ),
            (
                v11,
                ok,
                plain("text/html"),
                ResponseBody::Chunked,
                D2,
                false,
            ),
            (v11, ok, two.clone(), ResponseBody::Chunked, D2, false),
            (v11, ok, swapped, ResponseBody::Chunked, D2, false),
            (v11, ok, two, ResponseBody::Chunked, D2, false),
            (v11, ok, HeaderMap::new(), ResponseBody::Empty, D2, false),
            (v11, ok, HeaderMap::new(), ResponseBody::Empty, D2, false),
            (v11, ok, many.clone(), ResponseBody::Empty, D2, false),
            (v11, ok, many, ResponseBody::Empty, D2, false),
            (v11, ok, big.clone(), ResponseBody::Empty, D2, false),
            (v11, ok, big, ResponseBody::Empty, D2, false),
            (
                v11,
                ok,
                HeaderMap::new(),
                ResponseBody::Empty,
                b"short date",
                false,
            ),
            (
                v11,
                ok,
                HeaderMap::new(),
                ResponseBody::Empty,
                b"short date",
                false,
            ),
        ];
        let mut last = LastHead::default();
        let mut hits = 0;
        for (version, status, headers, framing, date, close) in cases {
            let mut want = BytesMut::from(&b"before"[..]);
            encode_response_head(&mut want, version, status, &headers, framing, date, close);
            // A generation per date text, as the core's `Date` keeps.
            let date_gen = match date {
                D1 => 1,
                D2 => 2,
                _ => 3,
            };
            let kept = last.key.is_some() && {
                let key = super::Key {
                    version,
                    status,
                    framing,
                    close,
                    date: date_gen,
                };
                last.matches(&key, super::Fields::Map(&headers))
            };
            hits += usize::from(kept);
            let mut got = BytesMut::from(&b"before"[..]);
            let head = super::Inputs {
                version,
                status,
                fields: super::Fields::Map(&headers),
                framing,
                date,
                date_gen,
                close,
            };
            last.encode(&mut got, head);
            assert_eq!(got, want, "{version:?} {status} {headers:?} {framing:?}");
        }
        // The repeats of a small head are answered from the cache (a date
        // of another length too: it is keyed by its generation); the
        // repeats of a head with too many fields or too many bytes are
        // not kept.
        assert_eq!(hits, 3);
    }

    /// A plain answer's one `content-type` writes the head that a map
    /// holding only that field writes, and the two share the kept head.
    #[test]
    fn a_lone_content_type_is_the_map_holding_it() {
        use super::{Fields, Inputs, Key};
        let text = HeaderValue::from_static("text/plain");
        let html = HeaderValue::from_static("text/html");
        let (text_map, html_map) = (plain("text/plain"), plain("text/html"));
        let mut two = plain("text/plain");
        two.insert(SERVER, HeaderValue::from_static("percore"));
        let cases = [
            (Fields::ContentType(&text), &text_map, false),
            (Fields::Map(&text_map), &text_map, true),
            (Fields::ContentType(&text), &text_map, true),
            (Fields::ContentType(&html), &html_map, false),
            (Fields::Map(&two), &two, false),
            (Fields::ContentType(&text), &text_map, false),
            (Fields::Map(&HeaderMap::new()), &HeaderMap::new(), false),
            (Fields::ContentType(&text), &text_map, false),
        ];
        let mut last = LastHead::default();
        for (fields, map, hit) in cases {
            let (version, status, framing) =
                (Version::HTTP_11, StatusCode::OK, ResponseBody::Length(2));
            let key = Key {
                version,
                status,
                framing,
                close: false,
                date: 1,
            };
            assert_eq!(last.matches(&key, fields), hit, "{map:?}");
            let mut want = BytesMut::new();
            encode_response_head(&mut want, version, status, map, framing, D1, false);
            let mut got = BytesMut::new();
            let head = Inputs {
                version,
                status,
                fields,
                framing,
                date: D1,
                date_gen: 1,
                close: false,
            };
            last.encode(&mut got, head);
            assert_eq!(got, want, "{map:?}");
        }
    }
}
