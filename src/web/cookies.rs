//! Cookies: reading a request's, setting and deleting them on a response,
//! and signed or private (encrypted) ones under the app's [`Key`].
//!
//! Built on the `cookie` crate, re-exported as `percore::web::cookie`.
//!
//! ```
//! use percore::web::{App, Cookie, IntoResponse, Key, Request, Response, ResponseCookies, SameSite, get};
//!
//! async fn visit(req: Request) -> Response {
//!     let visits: u32 = req.private_cookie("visits").and_then(|v| v.parse().ok()).unwrap_or(0);
//!     let mut resp = format!("visit {}", visits + 1).into_response();
//!     let cookie = Cookie::build(("visits", (visits + 1).to_string()))
//!         .path("/")
//!         .http_only(true)
//!         .same_site(SameSite::Lax);
//!     resp.set_cookie(req.seal_private(cookie.build()).expect("the app has a key"));
//!     resp
//! }
//!
//! // One key for every core: make it outside the factory.
//! let key = Key::generate();
//! let app = move || App::new().cookie_key(key.clone()).route("/", get(visit));
//! # let _ = app();
//! ```

use cookie::{Cookie, CookieJar, Key};
use http::header::{HeaderValue, COOKIE, SET_COOKIE};
use http::HeaderMap;

use super::Response;

/// Largest cookie value read from a request: beyond it a cookie is ignored
/// (browsers keep at most about 4 KiB per cookie anyway).
pub(crate) const MAX_COOKIE_SIZE: usize = 4096;

/// The cookies of a request's `Cookie` fields (HTTP/2 may split them into
/// several), percent-decoded; malformed and oversized pairs are skipped.
pub(crate) fn parse(headers: &HeaderMap) -> CookieJar {
    let mut jar = CookieJar::new();
    for value in headers.get_all(COOKIE) {
        let Ok(text) = value.to_str() else { continue };
        for cookie in Cookie::split_parse_encoded(text).flatten() {
            if cookie.value().len() <= MAX_COOKIE_SIZE {
                jar.add_original(cookie.into_owned());
            }
        }
    }
    jar
}

/// `cookie` signed with `key` (readable by the client, but not forgeable).
pub(crate) fn sign(key: &Key, cookie: Cookie<'static>) -> Cookie<'static> {
    let name = cookie.name().to_string();
    let mut jar = CookieJar::new();
    jar.signed_mut(key).add(cookie);
    jar.get(&name).cloned().expect("just added")
}

/// `cookie` encrypted and authenticated with `key` (neither readable nor forgeable).
pub(crate) fn encrypt(key: &Key, cookie: Cookie<'static>) -> Cookie<'static> {
    let name = cookie.name().to_string();
    let mut jar = CookieJar::new();
    jar.private_mut(key).add(cookie);
    jar.get(&name).cloned().expect("just added")
}

/// Setting and deleting cookies on a response.
///
/// ```
/// use percore::web::{Cookie, IntoResponse, ResponseCookies};
/// let mut resp = "bye".into_response();
/// resp.set_cookie(Cookie::build(("theme", "dark")).path("/").secure(true).build());
/// resp.remove_cookie(Cookie::build("sid").path("/").build());
/// let set: Vec<_> = resp.headers().get_all("set-cookie").iter().collect();
/// assert_eq!(set[0], "theme=dark; Secure; Path=/");
/// assert!(set[1].to_str().unwrap().starts_with("sid=; Path=/; Max-Age=0; Expires="));
/// ```
pub trait ResponseCookies {
    /// Adds a `Set-Cookie` field for `cookie`, with every attribute it has
    /// (`Path`, `Domain`, `Max-Age`, `Expires`, `Secure`, `HttpOnly`,
    /// `SameSite`, `Partitioned`); its value is percent-encoded.
    fn set_cookie(&mut self, cookie: Cookie<'_>);

    /// Tells the client to delete `cookie`: give it the `Path` and `Domain`
    /// it was set with.
    fn remove_cookie(&mut self, cookie: Cookie<'_>);
}

impl ResponseCookies for Response {
    fn set_cookie(&mut self, cookie: Cookie<'_>) {
        match HeaderValue::try_from(cookie.encoded().to_string()) {
            Ok(v) => {
                self.headers_mut().append(SET_COOKIE, v);
            }
            Err(_) => tracing::warn!(
                "cookie {:?} is not a valid header value; left out",
                cookie.name()
            ),
        }
    }

    fn remove_cookie(&mut self, mut cookie: Cookie<'_>) {
        cookie.make_removal();
        self.set_cookie(cookie);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(COOKIE, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn parses_split_fields_and_skips_bad_or_huge_pairs() {
        let huge = format!("big={}", "x".repeat(MAX_COOKIE_SIZE + 1));
        let jar = parse(&headers(&[
            "a=1; b=two%20words",
            "=novalue; c=3",
            &huge,
            "noequals",
        ]));
        assert_eq!(jar.get("a").unwrap().value(), "1");
        assert_eq!(jar.get("b").unwrap().value(), "two words");
        assert_eq!(jar.get("c").unwrap().value(), "3");
        assert!(jar.get("big").is_none());
        assert_eq!(jar.iter().count(), 3);
    }

    #[test]
    fn signed_and_private_cookies_reject_tampering() {
        let key = Key::generate();
        let other = Key::generate();
        let signed = sign(&key, Cookie::new("user", "ada"));
        assert!(
            signed.value().ends_with("ada"),
            "signed values stay readable"
        );
        let private = encrypt(&key, Cookie::new("user", "ada"));
        assert!(!private.value().contains("ada"));
        for (cookie, is_private) in [(signed, false), (private, true)] {
            let header = format!("user={}", cookie.value());
            let jar = parse(&headers(&[&header]));
            let read = |jar: &CookieJar, key: &Key| {
                if is_private {
                    jar.private(key).get("user")
                } else {
                    jar.signed(key).get("user")
                }
            };
            assert_eq!(read(&jar, &key).unwrap().value(), "ada");
            assert!(read(&jar, &other).is_none(), "another key");
            let mut tampered = cookie.value().to_string();
            let last = tampered.pop().unwrap();
            tampered.push(if last == 'a' { 'b' } else { 'a' });
            let jar = parse(&headers(&[&format!("user={tampered}")]));
            assert!(read(&jar, &key).is_none(), "tampered");
        }
    }
}
