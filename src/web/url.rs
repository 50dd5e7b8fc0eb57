//! Building a named route's URL from its pattern and parameters.

use super::router::{parse_pattern, Segment};
use super::{percent, HttpError};

/// Fills `pattern`'s `{name}` segments from `params`, percent-encoding each
/// value as one path segment. A missing parameter is an error (a bug in
/// the caller, so a 500).
pub(crate) fn fill<'a>(
    pattern: &str,
    params: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<String, HttpError> {
    let params: Vec<(&str, &str)> = params.into_iter().collect();
    let mut url = String::with_capacity(pattern.len() + 16);
    for segment in parse_pattern(pattern) {
        url.push('/');
        match segment {
            Segment::Static(s) => url.push_str(&s),
            Segment::Param(name) => encode_segment(param(&params, pattern, &name)?, &mut url),
            // A tail spans segments: each is encoded, the slashes between them kept.
            Segment::Tail(name) => {
                for (i, piece) in param(&params, pattern, &name)?.split('/').enumerate() {
                    if i > 0 {
                        url.push('/');
                    }
                    encode_segment(piece, &mut url);
                }
            }
        }
    }
    Ok(url)
}

/// The value given for `name`; a missing one is the caller's bug (a 500).
fn param<'a>(params: &[(&str, &'a str)], pattern: &str, name: &str) -> Result<&'a str, HttpError> {
    params
        .iter()
        .find(|(k, _)| *k == name)
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            HttpError::internal(format!(
                "url_for: route {pattern:?} needs the parameter {name:?}"
            ))
        })
}

/// Percent-encodes `value` as a path segment onto `out`.
fn encode_segment(value: &str, out: &mut String) {
    out.push_str(&percent::encode(value, percent::PATH_SEGMENT));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_and_encodes() {
        assert_eq!(
            fill("/users/{id}/files/{f}", [("id", "7"), ("f", "a b/c?")]).unwrap(),
            "/users/7/files/a%20b%2Fc%3F"
        );
        assert_eq!(fill("/", []).unwrap(), "/");
        assert_eq!(fill("/api/", []).unwrap(), "/api/");
        let err = fill("/users/{id}", [("x", "1")]).unwrap_err();
        assert_eq!(err.status(), 500);
        assert!(err.message().contains("\"id\""));
    }

    #[test]
    fn a_tail_keeps_its_slashes_and_encodes_each_segment() {
        assert_eq!(
            fill("/static/{*path}", [("path", "css/a b.css")]).unwrap(),
            "/static/css/a%20b.css"
        );
        assert_eq!(fill("/static/{*path}", [("path", "")]).unwrap(), "/static/");
    }
}
