//! Adding a field name to `Vary` once.

use http::header::{HeaderMap, HeaderValue, VARY};

/// Adds `name` (lowercase) to `Vary` unless it is listed already or the
/// answer varies on everything (`Vary: *`).
pub(crate) fn add_vary(headers: &mut HeaderMap, name: &'static str) {
    let present = headers.get_all(VARY).iter().any(|v| {
        v.to_str().is_ok_and(|v| {
            v.split(',')
                .any(|t| t.trim() == "*" || t.trim().eq_ignore_ascii_case(name))
        })
    });
    if !present {
        headers.append(VARY, HeaderValue::from_static(name));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_added_once_and_star_is_kept() {
        let mut h = HeaderMap::new();
        add_vary(&mut h, "origin");
        add_vary(&mut h, "origin");
        add_vary(&mut h, "accept-encoding");
        let all: Vec<_> = h.get_all(VARY).iter().collect();
        assert_eq!(all, ["origin", "accept-encoding"]);
        let mut h = HeaderMap::new();
        h.insert(VARY, HeaderValue::from_static("Cookie, ORIGIN"));
        add_vary(&mut h, "origin");
        assert_eq!(h.get_all(VARY).iter().count(), 1);
        h.insert(VARY, HeaderValue::from_static("*"));
        add_vary(&mut h, "accept-encoding");
        assert_eq!(h.get_all(VARY).iter().count(), 1);
    }
}
