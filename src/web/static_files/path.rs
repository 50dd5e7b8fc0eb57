//! The request path below the mount point, decoded once and checked
//! segment by segment, so that nothing it names can lie outside the root.
//!
//! Refused (the caller answers 404): `.` and `..` segments, empty segments
//! (`a//b`, a leading `/` that would make the path absolute), escapes that
//! decode to `/`, `\` or NUL, malformed escapes, bytes that are not UTF-8
//! once decoded (overlong forms such as `%c0%ae` included), and paths
//! deeper than [`MAX_SEGMENTS`]. Escapes are decoded exactly once: `%252e`
//! names a file called `%2e`, never `.`.

/// Deepest path served.
pub(crate) const MAX_SEGMENTS: usize = 64;

/// A path relative to the root that cannot leave it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct SafePath {
    /// Decoded segments, none empty, `.` or `..`, none holding `/`, `\` or NUL.
    pub(crate) segments: Vec<String>,
    /// Whether the request path ended in `/` (or was empty): a directory.
    pub(crate) wants_dir: bool,
}

impl SafePath {
    /// Checks `raw`, the request path below the mount point as sent (no
    /// leading `/`, still percent-encoded); `None` when it is refused.
    pub(crate) fn parse(raw: &str) -> Option<SafePath> {
        let (body, wants_dir) = match raw.strip_suffix('/') {
            Some(body) => (body, true),
            None => (raw, raw.is_empty()),
        };
        let mut segments = Vec::new();
        if body.is_empty() {
            return raw.is_empty().then_some(SafePath {
                segments,
                wants_dir,
            });
        }
        for part in body.split('/') {
            if segments.len() == MAX_SEGMENTS {
                return None;
            }
            segments.push(decode_segment(part)?);
        }
        Some(SafePath {
            segments,
            wants_dir,
        })
    }
}

/// Decodes one segment's `%XX` escapes, refusing what could change where
/// the path leads.
fn decode_segment(part: &str) -> Option<String> {
    let bytes = crate::web::percent::decode_strict(part)?;
    if bytes.iter().any(|b| matches!(b, b'/' | b'\\' | 0)) {
        return None;
    }
    let segment = String::from_utf8(bytes.into_owned()).ok()?;
    match segment.as_str() {
        "" | "." | ".." => None,
        _ => Some(segment),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segments(raw: &str) -> Option<Vec<String>> {
        SafePath::parse(raw).map(|p| p.segments)
    }

    #[test]
    fn plain_paths_decode_once() {
        assert_eq!(segments("css/site.css").unwrap(), ["css", "site.css"]);
        assert_eq!(segments("a%20b/%C3%A9.txt").unwrap(), ["a b", "é.txt"]);
        assert_eq!(segments("%252e%252e").unwrap(), ["%2e%2e"]);
        assert_eq!(segments("..a/b..").unwrap(), ["..a", "b.."]);
        let dir = SafePath::parse("sub/").unwrap();
        assert!(dir.wants_dir);
        assert_eq!(dir.segments, ["sub"]);
        let root = SafePath::parse("").unwrap();
        assert!(root.wants_dir && root.segments.is_empty());
        assert!(!SafePath::parse("a").unwrap().wants_dir);
    }

    #[test]
    fn every_way_out_is_refused() {
        for raw in [
            "..",
            "../etc/passwd",
            "a/../../b",
            "a/..",
            ".",
            "./a",
            "%2e%2e/x",
            "%2E%2E/x",
            ".%2e/x",
            "%2e./x",
            "a/%2e%2e%2fetc",
            "..%2fetc%2fpasswd",
            "a%2fb",
            "a%2Fb",
            "..%5cetc",
            "a\\..\\b",
            "a%5cb",
            "a%00.txt",
            "a%00",
            "%c0%ae%c0%ae/x",
            "%c0%af",
            "%e0%80%ae",
            "%ff",
            "/",
            "/etc/passwd",
            "//etc/passwd",
            "a//b",
            "%",
            "%2",
            "%zz",
            "a%2",
            "%+1",
        ] {
            assert_eq!(SafePath::parse(raw), None, "{raw:?} was accepted");
        }
    }

    #[test]
    fn depth_is_bounded() {
        let deep = vec!["d"; MAX_SEGMENTS].join("/");
        assert!(SafePath::parse(&deep).is_some());
        assert!(SafePath::parse(&format!("{deep}/x")).is_none());
    }
}
