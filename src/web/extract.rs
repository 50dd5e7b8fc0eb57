//! Decoding request data (JSON, urlencoded forms, query strings) into
//! typed values, with errors that say what was wrong.

use http::header::CONTENT_TYPE;
use http::HeaderMap;
use serde::de::DeserializeOwned;

use super::HttpError;

/// The media type of `Content-Type`, lower-cased, without parameters.
fn media_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(CONTENT_TYPE)?.to_str().ok()?;
    let essence = value.split(';').next().unwrap_or("").trim();
    Some(essence.to_ascii_lowercase())
}

/// 415 unless the body is JSON (`application/json` or `*/*+json`). A form
/// or text body is refused even if it parses: browsers send those across
/// sites without asking, JSON they do not.
pub(crate) fn expect_json(headers: &HeaderMap) -> Result<(), HttpError> {
    match media_type(headers) {
        Some(t)
            if t == "application/json"
                || (t.starts_with("application/") && t.ends_with("+json")) =>
        {
            Ok(())
        }
        found => Err(unsupported("application/json", found)),
    }
}

/// 415 unless the body is `application/x-www-form-urlencoded`.
pub(crate) fn expect_form(headers: &HeaderMap) -> Result<(), HttpError> {
    match media_type(headers) {
        Some(t) if t == "application/x-www-form-urlencoded" => Ok(()),
        found => Err(unsupported("application/x-www-form-urlencoded", found)),
    }
}

fn unsupported(wanted: &str, found: Option<String>) -> HttpError {
    let found = found.unwrap_or_else(|| "none".to_string());
    HttpError::unsupported_media_type(format!("expected Content-Type {wanted}, got {found}"))
}

/// Decodes a JSON body: 400 naming the line, column and problem.
pub(crate) fn json<T: DeserializeOwned>(body: &[u8]) -> Result<T, HttpError> {
    serde_json::from_slice(body)
        .map_err(|e| HttpError::bad_request(format!("invalid JSON body: {e}")))
}

/// Decodes an urlencoded form body: 400 naming the problem.
pub(crate) fn form<T: DeserializeOwned>(body: &[u8]) -> Result<T, HttpError> {
    serde_urlencoded::from_bytes(body)
        .map_err(|e| HttpError::bad_request(format!("invalid form body: {e}")))
}

/// Decodes a query string: 400 naming the problem.
pub(crate) fn query<T: DeserializeOwned>(query: &str) -> Result<T, HttpError> {
    serde_urlencoded::from_str(query)
        .map_err(|e| HttpError::bad_request(format!("invalid query string: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use serde::Deserialize;

    fn with_type(t: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_TYPE, HeaderValue::from_str(t).unwrap());
        h
    }

    #[derive(Deserialize, Debug)]
    struct Point {
        x: i32,
    }

    #[test]
    fn content_types() {
        assert!(expect_json(&with_type("application/json; charset=utf-8")).is_ok());
        assert!(expect_json(&with_type("Application/JSON")).is_ok());
        assert!(expect_json(&with_type("application/problem+json")).is_ok());
        let err = expect_json(&with_type("text/plain")).unwrap_err();
        assert_eq!(err.status(), 415);
        assert_eq!(
            err.message(),
            "expected Content-Type application/json, got text/plain"
        );
        assert_eq!(expect_json(&HeaderMap::new()).unwrap_err().status(), 415);
        assert!(expect_form(&with_type("application/x-www-form-urlencoded")).is_ok());
        assert_eq!(
            expect_form(&with_type("multipart/form-data; boundary=x"))
                .unwrap_err()
                .status(),
            415
        );
    }

    #[test]
    fn decoding_errors_say_what_was_wrong() {
        assert_eq!(json::<Point>(b"{\"x\": 3}").unwrap().x, 3);
        let err = json::<Point>(b"{\"x\": \"three\"}").unwrap_err();
        assert_eq!(err.status(), 400);
        assert!(
            err.message()
                .contains("invalid type: string \"three\", expected i32"),
            "{}",
            err.message()
        );
        assert!(json::<Point>(b"{\"x\": 1")
            .unwrap_err()
            .message()
            .contains("EOF"));
        let err = form::<Point>(b"y=1").unwrap_err();
        assert!(
            err.message().contains("missing field `x`"),
            "{}",
            err.message()
        );
        let err = query::<Point>("x=abc").unwrap_err();
        assert_eq!(err.status(), 400);
        assert!(
            err.message().starts_with("invalid query string: "),
            "{}",
            err.message()
        );
    }
}
