//! Request ids: `x-request-id` kept from the client when sane, made here
//! otherwise, and sent back.

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

use http::header::{HeaderName, HeaderValue};

use super::{App, IntoMiddleware, Next, Plugin, Request, Response};

/// The default field: `x-request-id`.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// Longest incoming id kept (longer ones are replaced).
const MAX_ID_LEN: usize = 128;

/// A request's id, in its extensions once [`RequestIds`] ran (the access
/// log prints it).
///
/// ```
/// use percore::web::{App, Request, RequestId, RequestIds, get};
/// async fn who(req: Request) -> String {
///     req.extensions().get::<RequestId>().unwrap().as_str().to_string()
/// }
/// let app = App::new().plugin(RequestIds::new()).route("/", get(who));
/// percore::rt::Runtime::new().unwrap().block_on(async {
///     let req = http::Request::get("/").header("x-request-id", "abc-1").body("").unwrap();
///     let resp = app.oneshot(req).await;
///     assert_eq!(resp.headers()["x-request-id"], "abc-1");
///     assert_eq!(resp.into_body().collect().await.unwrap(), "abc-1");
/// });
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(HeaderValue);

impl RequestId {
    /// The id (visible ASCII only).
    pub fn as_str(&self) -> &str {
        self.0.to_str().unwrap_or("-")
    }
}

/// Middleware giving each request an id: the client's `x-request-id` if it
/// is 1 to 128 visible ASCII characters, a new one otherwise (unique per
/// process: a random per-core prefix and a per-core counter, made without
/// any cross-core traffic). The id goes into the request's extensions as a
/// [`RequestId`] and back to the client in the same field.
#[derive(Debug, Clone)]
pub struct RequestIds {
    header: HeaderName,
}

impl Default for RequestIds {
    fn default() -> Self {
        RequestIds::new()
    }
}

impl RequestIds {
    /// Ids in `x-request-id`.
    pub fn new() -> RequestIds {
        RequestIds {
            header: X_REQUEST_ID,
        }
    }

    /// Ids in another field (e.g. `x-correlation-id`).
    pub fn header(mut self, name: HeaderName) -> RequestIds {
        self.header = name;
        self
    }

    /// The middleware itself.
    pub fn middleware(self) -> impl IntoMiddleware {
        move |req: Request, next: Next| with_id(self.header.clone(), req, next)
    }
}

impl Plugin for RequestIds {
    fn install(self, app: App) -> App {
        app.middleware(self.middleware())
    }
}

async fn with_id(header: HeaderName, mut req: Request, next: Next) -> Response {
    let id = match req.headers().get(&header) {
        Some(v) if acceptable(v) => v.clone(),
        _ => generate(),
    };
    req.extensions_mut().insert(RequestId(id.clone()));
    let mut resp = next.run(req).await;
    resp.headers_mut().insert(header, id);
    resp
}

/// 1 to `MAX_ID_LEN` bytes, each visible ASCII (no spaces, no controls).
fn acceptable(id: &HeaderValue) -> bool {
    let b = id.as_bytes();
    (1..=MAX_ID_LEN).contains(&b.len()) && b.iter().all(|c| c.is_ascii_graphic())
}

thread_local! {
    /// This core's random prefix and count of ids made.
    static NEXT_ID: Cell<(u64, u64)> = Cell::new((RandomState::new().build_hasher().finish(), 0));
}

/// A new id: 16 hex digits of per-core randomness, `-`, a per-core count.
fn generate() -> HeaderValue {
    let (prefix, n) = NEXT_ID.with(|c| {
        let (prefix, n) = c.get();
        c.set((prefix, n.wrapping_add(1)));
        (prefix, n)
    });
    HeaderValue::from_str(&format!("{prefix:016x}-{n:x}")).expect("hex digits")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_kept_only_when_short_and_visible() {
        for good in ["a", "abc-123", "7f1c5e3a-0d2b", &"x".repeat(MAX_ID_LEN)] {
            assert!(acceptable(&HeaderValue::from_str(good).unwrap()), "{good}");
        }
        for bad in [
            "".to_string(),
            "has space".into(),
            "tab\there".into(),
            "x".repeat(MAX_ID_LEN + 1),
        ] {
            assert!(!acceptable(&HeaderValue::from_str(&bad).unwrap()), "{bad}");
        }
        assert!(!acceptable(
            &HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap()
        ));
    }

    #[test]
    fn generated_ids_differ_and_are_acceptable() {
        let a = generate();
        let b = generate();
        assert_ne!(a, b);
        assert!(acceptable(&a) && acceptable(&b));
        let other_core = std::thread::spawn(generate).join().unwrap();
        assert_ne!(a.as_bytes()[..16], other_core.as_bytes()[..16]);
    }
}
