//! Request-target forms (RFC 9112 §3.2) and `Host` values (RFC 9110 §7.2).

use bytes::Bytes;
use http::{Method, Uri};

use super::error::ParseError;

/// Turns the raw request target into a `Uri`, checking that its form fits
/// the method:
///
/// - origin-form (`/path?query`) for every method but CONNECT;
/// - absolute-form (`http://host/path`) for every method but CONNECT;
/// - authority-form (`host:port`, port required, no userinfo) only for CONNECT;
/// - asterisk-form (`*`) only for OPTIONS.
///
/// Bytes outside ASCII and a fragment (`#`) are rejected: neither may appear
/// in a request target.
pub(super) fn parse_target(method: &Method, target: Bytes) -> Result<Uri, ParseError> {
    let first = match target.first() {
        Some(&b) => b,
        None => return Err(ParseError::BadRequest("empty request target")),
    };
    if target.iter().any(|&b| b == b'#' || !b.is_ascii()) {
        return Err(ParseError::BadRequest(
            "request target has a fragment or non-ASCII bytes",
        ));
    }
    if &target[..] == b"*" {
        return if method == Method::OPTIONS {
            Ok(Uri::from_static("*"))
        } else {
            Err(ParseError::BadRequest("asterisk-form is only for OPTIONS"))
        };
    }
    if method == Method::CONNECT {
        if first == b'/' || target.contains(&b'@') {
            return Err(ParseError::BadRequest("CONNECT needs authority-form"));
        }
        let uri = Uri::from_maybe_shared(target)
            .map_err(|_| ParseError::BadRequest("invalid request target"))?;
        let authority_only = uri.scheme().is_none()
            && uri.path_and_query().is_none()
            && uri.authority().is_some_and(|a| a.port().is_some());
        return if authority_only {
            Ok(uri)
        } else {
            Err(ParseError::BadRequest(
                "CONNECT needs authority-form host:port",
            ))
        };
    }
    let uri = Uri::from_maybe_shared(target)
        .map_err(|_| ParseError::BadRequest("invalid request target"))?;
    if first == b'/' || (uri.scheme().is_some() && uri.authority().is_some()) {
        Ok(uri)
    } else {
        Err(ParseError::BadRequest(
            "request target is neither origin- nor absolute-form",
        ))
    }
}

/// Checks an origin-form target (`/path?query`, for any method but
/// CONNECT) exactly as [`parse_target`] would, without building the `Uri`:
/// no fragment, ASCII only, and the characters `Uri` accepts in a path and
/// in a query. Returns where the query starts (past `?`), if there is one.
pub(super) fn origin_form_ok(target: &[u8]) -> Result<Option<usize>, ParseError> {
    // One pass over the bytes; `#` and non-ASCII bytes are in neither class.
    let path_len = target
        .iter()
        .position(|&b| URI_CLASS[usize::from(b)] & IN_PATH == 0)
        .unwrap_or(target.len());
    let rest = target.get(path_len..).unwrap_or_default();
    let well_formed = match rest.split_first() {
        None => true,
        Some((b'?', query)) => query
            .iter()
            .all(|&b| URI_CLASS[usize::from(b)] & IN_QUERY != 0),
        Some(_) => false,
    };
    if well_formed && target.len() <= usize::from(u16::MAX - 1) {
        return Ok((!rest.is_empty()).then_some(path_len + 1));
    }
    // The error, in the order `parse_target` finds it.
    if target.iter().any(|&b| b == b'#' || !b.is_ascii()) {
        return Err(ParseError::BadRequest(
            "request target has a fragment or non-ASCII bytes",
        ));
    }
    // A character `Uri` refuses, or longer than `Uri` allows.
    Err(ParseError::BadRequest("invalid request target"))
}

/// Whether `Uri` accepts `c` in a path (http 1.x's `PATH_MAP`; `?` and
/// `#`, which end the path, excluded). The one definition both the
/// target check's table and the head scanner's table are built from.
pub(super) const fn path_byte(c: u8) -> bool {
    matches!(c, 0x21 | 0x24..=0x3B | 0x3D | 0x40..=0x5F | 0x61..=0x7A | 0x7C | 0x7E | b'"' | b'{' | b'}')
}

/// Whether `Uri` accepts `c` in a query (http 1.x's `QUERY_MAP`; `#`
/// excluded).
pub(super) const fn query_byte(c: u8) -> bool {
    matches!(c, 0x21 | 0x24..=0x3B | 0x3D | 0x3F..=0x7E)
}

/// [`URI_CLASS`]: `Uri` accepts the byte in a path.
const IN_PATH: u8 = 1;
/// [`URI_CLASS`]: `Uri` accepts the byte in a query.
const IN_QUERY: u8 = 2;

/// The ASCII bytes `Uri` accepts in a path and in a query (http 1.x's
/// `PATH_MAP` and `QUERY_MAP`, with `?` and `#`, which end a part, in
/// neither path class).
static URI_CLASS: [u8; 256] = {
    let mut table = [0; 256];
    let mut b = 0;
    while b < 128 {
        let c = b as u8;
        table[b] =
            if path_byte(c) { IN_PATH } else { 0 } | if query_byte(c) { IN_QUERY } else { 0 };
        b += 1;
    }
    table
};

/// Whether `value` is a valid `Host` field value: empty, or
/// `uri-host [ ":" port ]` without userinfo.
pub(super) fn valid_host(value: &[u8]) -> bool {
    // IP-literal: "[" ( IPv6address / IPvFuture ) "]"
    let Some(rest) = value.strip_prefix(b"[") else {
        return valid_reg_name_host(value);
    };
    let Some(close) = rest.iter().position(|&b| b == b']') else {
        return false;
    };
    let (inside, after) = rest.split_at(close);
    let after = after.get(1..).unwrap_or_default();
    let inside_ok = !inside.is_empty()
        && inside
            .iter()
            .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.' || is_reg_name(b));
    if !inside_ok {
        return false;
    }
    match after.split_first() {
        None => true,
        Some((b':', port)) => port.iter().all(u8::is_ascii_digit),
        Some(_) => false,
    }
}

/// `reg-name [ ":" port ]` in one pass: a reg-name has no colon, so the
/// value is valid with none, or with one followed by digits only.
fn valid_reg_name_host(value: &[u8]) -> bool {
    let name = value
        .iter()
        .position(|&b| !is_reg_name(b))
        .unwrap_or(value.len());
    match value.get(name..).unwrap_or_default().split_first() {
        None => true,
        Some((b':', port)) => port.iter().all(u8::is_ascii_digit),
        Some(_) => false,
    }
}

/// unreserved / sub-delims / "%" (pct-encoded, loosely).
fn is_reg_name(b: u8) -> bool {
    REG_NAME[usize::from(b)]
}

/// `is_reg_name` as a table: one load per byte of every `Host` value.
static REG_NAME: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b'%'
            );
        b += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_values() {
        for ok in [
            &b""[..],
            b"example.com",
            b"example.com:8080",
            b"example.com:",
            b"127.0.0.1",
            b"[::1]",
            b"[::1]:443",
            b"[::ffff:192.0.2.1]",
            b"[v1.fe80::a+en1]",
            b"xn--bcher-kva.example",
        ] {
            assert!(valid_host(ok), "{:?}", String::from_utf8_lossy(ok));
        }
        for bad in [
            &b"a b"[..],
            b"u@example.com",
            b"example.com/x",
            b"example.com:8o",
            b"[::1",
            b"[::1]x",
            b"[]",
            b"[::1@x]",
            b"[::1/64]",
            b"a:1:2",
            b"a?b",
        ] {
            assert!(!valid_host(bad), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn target_forms() {
        let t = |m: Method, s: &'static str| parse_target(&m, Bytes::from_static(s.as_bytes()));
        assert_eq!(t(Method::GET, "/a?b").unwrap(), "/a?b");
        assert_eq!(t(Method::GET, "//a").unwrap().path(), "//a");
        assert_eq!(t(Method::GET, "http://x/y").unwrap().host(), Some("x"));
        assert_eq!(t(Method::OPTIONS, "*").unwrap(), "*");
        assert_eq!(
            t(Method::CONNECT, "x.org:443").unwrap().port_u16(),
            Some(443)
        );
        assert_eq!(
            t(Method::CONNECT, "[::1]:443").unwrap().port_u16(),
            Some(443)
        );
        for (m, s) in [
            (Method::GET, ""),
            (Method::GET, "*"),
            (Method::GET, "x.org:443"),
            (Method::GET, "a/b"),
            (Method::GET, "/a#b"),
            (Method::GET, "/\u{e9}"),
            (Method::GET, "http:/x"),
            (Method::CONNECT, "x.org"),
            (Method::CONNECT, "/x"),
            (Method::CONNECT, "http://x.org:443/"),
            (Method::CONNECT, "u@x.org:443"),
            (Method::CONNECT, "x.org:443/p"),
        ] {
            assert!(
                matches!(t(m.clone(), s), Err(ParseError::BadRequest(_))),
                "{m} {s:?}"
            );
        }
    }
}
