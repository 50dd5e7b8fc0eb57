//! The optional cookie jar: `cookie_store` applies RFC 6265 (domain and
//! path matching, expiry, `Secure`, host-only cookies).

use http::header::{HeaderMap, HeaderValue, SET_COOKIE};
use url::Url;

/// Cookies the servers set, per client.
#[derive(Default)]
pub(crate) struct Jar {
    store: cookie_store::CookieStore,
}

impl Jar {
    /// Keeps the `Set-Cookie` fields of a response from `url`.
    pub(crate) fn store(&mut self, url: &Url, headers: &HeaderMap) {
        let cookies = headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| std::str::from_utf8(v.as_bytes()).ok())
            .filter_map(|s| cookie_store::RawCookie::parse(s.to_string()).ok());
        self.store.store_response_cookies(cookies, url);
    }

    /// The `Cookie` value to send to `url`, if any cookie matches.
    pub(crate) fn header_for(&self, url: &Url) -> Option<HeaderValue> {
        let pairs: Vec<String> = self
            .store
            .get_request_values(url)
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        if pairs.is_empty() {
            return None;
        }
        HeaderValue::from_str(&pairs.join("; ")).ok()
    }
}
