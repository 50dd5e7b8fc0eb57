//! Validators (`ETag`, `Last-Modified`) and the conditional request headers
//! evaluated against them, in the order of RFC 9110 §13.2.2.
//!
//! The `ETag` is strong, made of the length and the modification time to the
//! nanosecond (and the content coding of a precompressed sibling): `If-Range`
//! needs a strong validator, and two different contents of one file with the
//! same length and the same nanosecond stamp are not a practical concern.
//! Dates are parsed by `httpdate` (IMF-fixdate and the two obsolete forms).

use std::cell::RefCell;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::header::{IF_MATCH, IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_RANGE, IF_UNMODIFIED_SINCE};
use http::{HeaderMap, HeaderValue};

/// What identifies one version of one representation of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Validators {
    /// The entity tag, quotes included.
    pub(crate) etag: String,
    /// The modification time, whole seconds (what HTTP dates can say).
    pub(crate) modified: Option<SystemTime>,
}

impl Validators {
    /// Validators of a file of `len` bytes modified at `modified`, in
    /// `coding` (`""` for the file as it is).
    pub(crate) fn new(len: u64, modified: Option<SystemTime>, coding: &str) -> Validators {
        let since = modified.and_then(|m| m.duration_since(UNIX_EPOCH).ok());
        let stamp = since.unwrap_or_default();
        // `"len-secs.nanos[-coding]"` in hex, written by hand: `format!`
        // cost more than the rest of the answer's headers together.
        let mut etag = String::with_capacity(48);
        etag.push('"');
        push_hex(&mut etag, len);
        etag.push('-');
        push_hex(&mut etag, stamp.as_secs());
        etag.push('.');
        push_hex(&mut etag, u64::from(stamp.subsec_nanos()));
        if !coding.is_empty() {
            etag.push('-');
            etag.push_str(coding);
        }
        etag.push('"');
        Validators {
            etag,
            modified: since.map(|d| UNIX_EPOCH + Duration::from_secs(d.as_secs())),
        }
    }

    /// `Last-Modified` as an IMF-fixdate.
    #[cfg(test)]
    pub(crate) fn last_modified(&self) -> Option<String> {
        self.modified.map(httpdate::fmt_http_date)
    }

    /// `Last-Modified` as a header value. The last one made on this
    /// thread is kept: the files a server answers from tend to repeat, and
    /// formatting a date costs more than comparing one.
    pub(crate) fn last_modified_value(&self) -> Option<HeaderValue> {
        thread_local! {
            static LAST: RefCell<Option<(SystemTime, HeaderValue)>> = const { RefCell::new(None) };
        }
        let modified = self.modified?;
        LAST.with(|last| {
            let mut last = last.borrow_mut();
            if let Some((at, value)) = &*last {
                if *at == modified {
                    return Some(value.clone());
                }
            }
            let value = HeaderValue::from_str(&httpdate::fmt_http_date(modified)).ok()?;
            *last = Some((modified, value.clone()));
            Some(value)
        })
    }
}

/// Appends `n` in lowercase hexadecimal, without leading zeros.
fn push_hex(out: &mut String, n: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut buf = [0u8; 16];
    let mut at = buf.len();
    let mut n = n;
    loop {
        at -= 1;
        buf[at] = DIGITS[(n & 0xf) as usize];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    for &digit in &buf[at..] {
        out.push(char::from(digit));
    }
}

/// The outcome of the preconditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Precondition {
    /// Serve the file.
    Proceed,
    /// 304: the client's copy is current.
    NotModified,
    /// 412: `If-Match` or `If-Unmodified-Since` failed.
    Failed,
}

/// Evaluates `If-Match`, `If-Unmodified-Since`, `If-None-Match` and
/// `If-Modified-Since` for a GET or HEAD.
pub(crate) fn evaluate(headers: &HeaderMap, v: &Validators) -> Precondition {
    if let Some(value) = text(headers, IF_MATCH) {
        if !matches_any(value, &v.etag, Compare::Strong) {
            return Precondition::Failed;
        }
    } else if let Some(date) = date(headers, IF_UNMODIFIED_SINCE) {
        if v.modified.is_some_and(|m| m > date) {
            return Precondition::Failed;
        }
    }
    if let Some(value) = text(headers, IF_NONE_MATCH) {
        if matches_any(value, &v.etag, Compare::Weak) {
            return Precondition::NotModified;
        }
    } else if let Some(date) = date(headers, IF_MODIFIED_SINCE) {
        if v.modified.is_some_and(|m| m <= date) {
            return Precondition::NotModified;
        }
    }
    Precondition::Proceed
}

/// Whether `If-Range` (if any) lets a `Range` apply: its entity tag matches
/// strongly, or its date equals `Last-Modified` exactly.
pub(crate) fn if_range_allows(headers: &HeaderMap, v: &Validators) -> bool {
    let Some(value) = headers.get(IF_RANGE) else {
        return true;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let value = value.trim();
    if value.starts_with('"') || value.starts_with("W/") {
        return entity_tags(value).is_some_and(|tags| {
            tags.len() == 1 && !tags[0].weak && strong_eq(tags[0].tag, &v.etag)
        });
    }
    match (httpdate::parse_http_date(value), v.modified) {
        (Ok(date), Some(modified)) => date == modified,
        _ => false,
    }
}

fn text(headers: &HeaderMap, name: http::header::HeaderName) -> Option<&str> {
    headers.get(name).map(|v| v.to_str().unwrap_or(""))
}

/// A date header; unparsable dates are ignored, as RFC 9110 asks.
fn date(headers: &HeaderMap, name: http::header::HeaderName) -> Option<SystemTime> {
    httpdate::parse_http_date(headers.get(name)?.to_str().ok()?.trim()).ok()
}

#[derive(Clone, Copy)]
enum Compare {
    Strong,
    Weak,
}

/// Whether a list of entity tags (or `*`) holds `etag`. A malformed list
/// matches nothing.
fn matches_any(list: &str, etag: &str, compare: Compare) -> bool {
    if list.trim() == "*" {
        return true;
    }
    let Some(tags) = entity_tags(list) else {
        return false;
    };
    tags.iter().any(|t| match compare {
        Compare::Strong => !t.weak && strong_eq(t.tag, etag),
        Compare::Weak => strong_eq(t.tag, etag),
    })
}

fn strong_eq(tag: &str, etag: &str) -> bool {
    tag == etag
}

struct EntityTag<'a> {
    weak: bool,
    /// The opaque tag, quotes included.
    tag: &'a str,
}

/// Most entity tags read from one header.
const MAX_TAGS: usize = 64;

/// Parses `#entity-tag`: `"x", W/"y"`. `None` if malformed or too long.
fn entity_tags(list: &str) -> Option<Vec<EntityTag<'_>>> {
    let mut tags = Vec::new();
    let mut rest = list;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() {
            return Some(tags);
        }
        if tags.len() == MAX_TAGS {
            return None;
        }
        let weak = rest.starts_with("W/");
        if weak {
            rest = &rest[2..];
        }
        let body = rest.strip_prefix('"')?;
        let close = body.find('"')?;
        tags.push(EntityTag {
            weak,
            tag: &rest[..close + 2],
        });
        rest = &body[close + 1..];
        let next = rest.trim_start_matches([' ', '\t']);
        if !(next.is_empty() || next.starts_with(',')) {
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validators() -> Validators {
        Validators::new(10, Some(UNIX_EPOCH + Duration::new(784_111_777, 5)), "")
    }

    fn headers(pairs: &[(http::header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.append(name.clone(), HeaderValue::from_str(value).unwrap());
        }
        h
    }

    const DATE: &str = "Sun, 06 Nov 1994 08:49:37 GMT";
    const EARLIER: &str = "Sun, 06 Nov 1994 08:49:36 GMT";

    #[test]
    fn validators_are_strong_and_differ_by_coding() {
        let v = validators();
        assert_eq!(v.etag, "\"a-2ebc98a1.5\"");
        assert_eq!(v.last_modified().unwrap(), DATE);
        // The cached header value follows the date.
        for modified in [v.modified, Some(UNIX_EPOCH), v.modified] {
            let w = Validators::new(10, modified, "");
            assert_eq!(
                w.last_modified_value().unwrap(),
                w.last_modified().unwrap().as_str()
            );
        }
        assert!(Validators::new(10, None, "")
            .last_modified_value()
            .is_none());
        let big = Validators::new(u64::MAX, Some(UNIX_EPOCH), "gzip");
        assert_eq!(big.etag, "\"ffffffffffffffff-0.0-gzip\"");
        let br = Validators::new(10, v.modified, "br");
        assert_ne!(br.etag, Validators::new(10, v.modified, "").etag);
        assert!(br.etag.ends_with("-br\""));
    }

    #[test]
    fn if_none_match_takes_precedence_and_compares_weakly() {
        let v = validators();
        let etag = v.etag.clone();
        let eval = |pairs: &[(http::header::HeaderName, &str)]| evaluate(&headers(pairs), &v);
        assert_eq!(eval(&[]), Precondition::Proceed);
        assert_eq!(eval(&[(IF_NONE_MATCH, &etag)]), Precondition::NotModified);
        let weak = format!("W/{etag}");
        assert_eq!(eval(&[(IF_NONE_MATCH, &weak)]), Precondition::NotModified);
        let list = format!("\"x\", {etag}");
        assert_eq!(eval(&[(IF_NONE_MATCH, &list)]), Precondition::NotModified);
        assert_eq!(eval(&[(IF_NONE_MATCH, "*")]), Precondition::NotModified);
        // A stale tag wins over a date that would say "not modified".
        assert_eq!(
            eval(&[(IF_NONE_MATCH, "\"old\""), (IF_MODIFIED_SINCE, DATE)]),
            Precondition::Proceed
        );
        assert_eq!(
            eval(&[(IF_MODIFIED_SINCE, DATE)]),
            Precondition::NotModified
        );
        assert_eq!(eval(&[(IF_MODIFIED_SINCE, EARLIER)]), Precondition::Proceed);
        assert_eq!(
            eval(&[(IF_MODIFIED_SINCE, "Sunday, 06-Nov-94 08:49:37 GMT")]),
            Precondition::NotModified
        );
    }

    #[test]
    fn if_match_and_if_unmodified_since_fail_with_412() {
        let v = validators();
        let eval = |pairs: &[(http::header::HeaderName, &str)]| evaluate(&headers(pairs), &v);
        assert_eq!(eval(&[(IF_MATCH, &v.etag)]), Precondition::Proceed);
        assert_eq!(eval(&[(IF_MATCH, "*")]), Precondition::Proceed);
        let weak = format!("W/{}", v.etag);
        assert_eq!(eval(&[(IF_MATCH, &weak)]), Precondition::Failed);
        assert_eq!(eval(&[(IF_MATCH, "\"other\"")]), Precondition::Failed);
        assert_eq!(
            eval(&[(IF_UNMODIFIED_SINCE, EARLIER)]),
            Precondition::Failed
        );
        assert_eq!(eval(&[(IF_UNMODIFIED_SINCE, DATE)]), Precondition::Proceed);
    }

    #[test]
    fn malformed_conditionals_never_match() {
        let v = validators();
        let eval = |pairs: &[(http::header::HeaderName, &str)]| evaluate(&headers(pairs), &v);
        let unclosed = format!("{}, \"open", v.etag);
        let junk_after = format!("{}x", v.etag);
        let many = vec![v.etag.as_str(); MAX_TAGS + 1].join(",");
        for bad in [
            "garbage",
            unclosed.as_str(),
            junk_after.as_str(),
            "W/",
            many.as_str(),
        ] {
            assert_eq!(
                eval(&[(IF_NONE_MATCH, bad)]),
                Precondition::Proceed,
                "{bad}"
            );
            assert_eq!(eval(&[(IF_MATCH, bad)]), Precondition::Failed, "{bad}");
        }
        for bad in [
            "yesterday",
            "Sun, 06 Nov 1994 25:49:37 GMT",
            "99999999999999",
        ] {
            assert_eq!(eval(&[(IF_MODIFIED_SINCE, bad)]), Precondition::Proceed);
            assert_eq!(eval(&[(IF_UNMODIFIED_SINCE, bad)]), Precondition::Proceed);
        }
    }

    #[test]
    fn if_range_needs_a_strong_match_or_the_exact_date() {
        let v = validators();
        let allows = |value: &str| if_range_allows(&headers(&[(IF_RANGE, value)]), &v);
        assert!(if_range_allows(&HeaderMap::new(), &v));
        assert!(allows(&v.etag));
        assert!(!allows(&format!("W/{}", v.etag)));
        assert!(!allows("\"other\""));
        assert!(allows(DATE));
        assert!(!allows(EARLIER));
        assert!(!allows("garbage"));
        let two = format!("{0}, {0}", v.etag);
        assert!(!allows(&two));
    }
}
