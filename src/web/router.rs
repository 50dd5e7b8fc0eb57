//! Path routing with static and `{param}` segments and a `{*tail}` last
//! segment; 404 and 405 with Allow.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::rc::Rc;

use http::{HeaderValue, Method};
use percore_http::FxBuildHasher;

use super::middleware::{wrap, IntoMiddleware, Middleware};
use super::Handler;

/// The handlers of one path, by method.
///
/// ```
/// use percore::web::{get, Request};
/// async fn read(_r: Request) -> &'static str { "read" }
/// async fn write(_r: Request) -> &'static str { "write" }
/// let both = get(read).post(write);
/// assert_eq!(both.allowed(), "GET, HEAD, POST");
/// ```
#[derive(Clone)]
pub struct MethodRouter {
    handlers: Vec<(Method, Rc<dyn Handler>)>,
    fallback: Option<Rc<dyn Handler>>,
    layers: Vec<Middleware>,
    name: Option<String>,
    /// [`allowed`](Self::allowed) as a header value, made once when the
    /// route is added (every 405 of the route sends the same).
    allow: HeaderValue,
}

impl Default for MethodRouter {
    fn default() -> Self {
        MethodRouter {
            handlers: Vec::new(),
            fallback: None,
            layers: Vec::new(),
            name: None,
            allow: HeaderValue::from_static(""),
        }
    }
}

impl std::fmt::Debug for MethodRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MethodRouter")
            .field(
                "methods",
                &self.handlers.iter().map(|(m, _)| m).collect::<Vec<_>>(),
            )
            .field("fallback", &self.fallback.is_some())
            .field("layers", &self.layers.len())
            .field("name", &self.name)
            .finish()
    }
}

macro_rules! method_fns {
    ($($fname:ident => $method:expr),*) => {
        $(
            /// A route for this method.
            pub fn $fname<H: Handler>(handler: H) -> MethodRouter {
                MethodRouter::default().on($method, handler)
            }
        )*
        impl MethodRouter {
            $(
                /// Adds a handler for this method.
                pub fn $fname<H: Handler>(self, handler: H) -> MethodRouter {
                    self.on($method, handler)
                }
            )*
        }
    };
}

method_fns!(
    get => Method::GET,
    post => Method::POST,
    put => Method::PUT,
    delete => Method::DELETE,
    patch => Method::PATCH,
    head => Method::HEAD,
    options => Method::OPTIONS
);

/// A route that answers every method.
pub fn any<H: Handler>(handler: H) -> MethodRouter {
    MethodRouter {
        fallback: Some(Rc::new(handler)),
        ..MethodRouter::default()
    }
}

impl MethodRouter {
    /// Adds a handler for `method`.
    pub fn on<H: Handler>(mut self, method: Method, handler: H) -> MethodRouter {
        self.handlers.retain(|(m, _)| *m != method);
        self.handlers.push((method, Rc::new(handler)));
        self
    }

    /// Adds middleware to this route's handlers only: it runs after the
    /// app's (and nested apps') middleware, in the order added.
    ///
    /// ```
    /// use percore::web::{get, App, Next, Request, Response};
    /// async fn audit(req: Request, next: Next) -> Response {
    ///     let resp = next.run(req).await;
    ///     println!("admin page answered {}", resp.status());
    ///     resp
    /// }
    /// let app = App::new().route("/admin", get(|_r: Request| async { "admin" }).middleware(audit));
    /// # let _ = app;
    /// ```
    pub fn middleware(mut self, middleware: impl IntoMiddleware) -> MethodRouter {
        self.layers.push(middleware.into_middleware());
        self
    }

    /// Names the route, for [`Request::url_for`](crate::web::Request::url_for).
    ///
    /// ```
    /// use percore::web::{get, App, Request};
    /// async fn user(req: Request) -> String {
    ///     req.url_for("user", [("id", "7")]).unwrap()
    /// }
    /// let app = App::new().route("/users/{id}", get(user).name("user"));
    /// # let _ = app;
    /// ```
    pub fn name(mut self, name: &str) -> MethodRouter {
        self.name = Some(name.to_string());
        self
    }

    /// This route's handlers with its own middleware put around them, and
    /// its name, taken out.
    fn finish(mut self) -> (MethodRouter, Option<String>) {
        let layers = std::mem::take(&mut self.layers);
        self.map_handlers(|h| wrap(&layers, h));
        let name = self.name.take();
        self.allow = self.allow_value();
        (self, name)
    }

    /// Replaces every handler with `f(handler)`.
    pub(crate) fn map_handlers(&mut self, f: impl Fn(Rc<dyn Handler>) -> Rc<dyn Handler>) {
        for (_, h) in &mut self.handlers {
            *h = f(h.clone());
        }
        if let Some(h) = &mut self.fallback {
            *h = f(h.clone());
        }
    }

    /// The handler for `method` (GET also answers HEAD).
    #[inline]
    pub(crate) fn find(&self, method: &Method) -> Option<&Rc<dyn Handler>> {
        // A route with one method, asked for it (the common case).
        if let [(only, handler)] = self.handlers.as_slice() {
            if only == method {
                return Some(handler);
            }
        }
        let exact = self.handlers.iter().find(|(m, _)| m == method);
        let head_via_get = || {
            (*method == Method::HEAD)
                .then(|| self.handlers.iter().find(|(m, _)| *m == Method::GET))
                .flatten()
        };
        exact
            .or_else(head_via_get)
            .map(|(_, h)| h)
            .or(self.fallback.as_ref())
    }

    /// The `Allow` header value for this route.
    pub fn allowed(&self) -> String {
        let mut names: Vec<&str> = self.handlers.iter().map(|(m, _)| m.as_str()).collect();
        if names.contains(&"GET") && !names.contains(&"HEAD") {
            names.push("HEAD");
        }
        names.sort_unstable();
        names.join(", ")
    }

    fn allow_value(&self) -> HeaderValue {
        HeaderValue::try_from(self.allowed()).expect("method names are header-safe")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Segment {
    Static(String),
    Param(String),
    /// `{*name}`, last only: the rest of the path, possibly empty, as sent
    /// (not percent-decoded: a decoded `/` could not be told from a separator).
    Tail(String),
}

struct Route {
    pattern: String,
    segments: Vec<Segment>,
    methods: MethodRouter,
}

/// What matching a path found.
pub(crate) enum Match<'a> {
    Found(&'a Rc<dyn Handler>, Vec<(String, String)>),
    /// The route's `Allow` value.
    MethodNotAllowed(&'a HeaderValue),
    NotFound,
}

/// An exact route's path, looked up by the request path's bytes (a
/// checked request head's path is ASCII; the lookup skips turning it into
/// `&str`). Hashes and compares as those bytes.
#[derive(PartialEq, Eq)]
struct PathKey(String);

impl Hash for PathKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.as_bytes().hash(state);
    }
}

impl Borrow<[u8]> for PathKey {
    fn borrow(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// Routes by path, then by method.
#[derive(Default)]
pub(crate) struct Router {
    /// Unkeyed (Fx) hashing: only the app's own routes are inserted and a
    /// request's path is only looked up, so a crafted path costs at most
    /// one probe sequence.
    exact: HashMap<PathKey, MethodRouter, FxBuildHasher>,
    patterns: Vec<Route>,
    /// Routes ending in `{*tail}`: tried after every other route, longest first.
    tails: Vec<Route>,
}

pub(crate) fn parse_pattern(pattern: &str) -> Vec<Segment> {
    pattern
        .trim_start_matches('/')
        .split('/')
        .map(
            |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => match name.strip_prefix('*') {
                    Some(tail) => Segment::Tail(tail.to_string()),
                    None => Segment::Param(name.to_string()),
                },
                None => Segment::Static(s.to_string()),
            },
        )
        .collect()
}

/// Matches `path` against a route ending in a `{*tail}` segment.
fn match_tail(segments: &[Segment], path: &str) -> Option<Vec<(String, String)>> {
    let (Segment::Tail(tail), head) = segments.split_last()? else {
        return None;
    };
    let mut rest = path.strip_prefix('/')?;
    let mut params = Vec::new();
    for seg in head {
        let (part, after) = rest.split_once('/')?;
        match seg {
            Segment::Static(s) if s == part => {}
            Segment::Param(name) if !part.is_empty() => {
                params.push((name.clone(), percent_decode(part)))
            }
            _ => return None,
        }
        rest = after;
    }
    params.push((tail.clone(), rest.to_string()));
    Some(params)
}

/// A path parameter: `%XX` decoded, malformed escapes kept as they are.
fn percent_decode(s: &str) -> String {
    super::percent::decode_lenient(s).into_owned()
}

impl Router {
    /// Adds a route; returns its name, if it was given one.
    pub(crate) fn add(&mut self, pattern: &str, methods: MethodRouter) -> Option<String> {
        assert!(
            pattern.starts_with('/'),
            "route {pattern:?} must start with '/'"
        );
        let (methods, name) = methods.finish();
        if pattern.contains('{') {
            let segments = parse_pattern(pattern);
            let is_tail = matches!(segments.last(), Some(Segment::Tail(_)));
            let routes = if is_tail {
                &mut self.tails
            } else {
                &mut self.patterns
            };
            if let Some(existing) = routes.iter_mut().find(|r| r.segments == segments) {
                merge(&mut existing.methods, methods);
            } else {
                routes.push(Route {
                    pattern: pattern.to_string(),
                    segments,
                    methods,
                });
                if is_tail {
                    routes.sort_by_key(|r| std::cmp::Reverse(r.segments.len()));
                }
            }
        } else {
            match self.exact.get_mut(pattern.as_bytes()) {
                Some(existing) => merge(existing, methods),
                None => {
                    self.exact.insert(PathKey(pattern.to_string()), methods);
                }
            }
        }
        name
    }

    /// Every route, as (pattern, handlers), to move into another router.
    pub(crate) fn into_routes(self) -> impl Iterator<Item = (String, MethodRouter)> {
        let patterns = self.patterns.into_iter().map(|r| (r.pattern, r.methods));
        self.exact
            .into_iter()
            .map(|(k, m)| (k.0, m))
            .chain(patterns)
    }

    /// The handler for `method` on `path` (as bytes: an exact route is
    /// found without checking them as UTF-8; the pattern routes need text,
    /// and a path that is not UTF-8 matches none of them).
    pub(crate) fn find<P: AsRef<[u8]> + ?Sized>(&self, method: &Method, path: &P) -> Match<'_> {
        let path = path.as_ref();
        if let Some(m) = self.exact.get(path) {
            return match m.find(method) {
                Some(h) => Match::Found(h, Vec::new()),
                None => Match::MethodNotAllowed(&m.allow),
            };
        }
        match std::str::from_utf8(path) {
            Ok(path) => self.find_pattern(method, path),
            Err(_) => Match::NotFound,
        }
    }

    /// [`Router::find`] past the exact routes.
    fn find_pattern(&self, method: &Method, path: &str) -> Match<'_> {
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let mut allowed: Option<&HeaderValue> = None;
        for route in &self.patterns {
            if route.segments.len() != parts.len() {
                continue;
            }
            let mut params = Vec::new();
            let matched = route
                .segments
                .iter()
                .zip(&parts)
                .all(|(seg, part)| match seg {
                    Segment::Static(s) => s == part,
                    Segment::Tail(_) => false,
                    Segment::Param(name) => {
                        if part.is_empty() {
                            return false;
                        }
                        params.push((name.clone(), percent_decode(part)));
                        true
                    }
                });
            if !matched {
                continue;
            }
            match route.methods.find(method) {
                Some(h) => return Match::Found(h, params),
                None => allowed = allowed.or(Some(&route.methods.allow)),
            }
        }
        for route in &self.tails {
            let Some(params) = match_tail(&route.segments, path) else {
                continue;
            };
            match route.methods.find(method) {
                Some(h) => return Match::Found(h, params),
                None => allowed = allowed.or(Some(&route.methods.allow)),
            }
        }
        match allowed {
            Some(a) => Match::MethodNotAllowed(a),
            None => Match::NotFound,
        }
    }
}

fn merge(into: &mut MethodRouter, from: MethodRouter) {
    for (m, h) in from.handlers {
        into.handlers.retain(|(x, _)| *x != m);
        into.handlers.push((m, h));
    }
    if from.fallback.is_some() {
        into.fallback = from.fallback;
    }
    into.allow = into.allow_value();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::Request;

    async fn h(_r: Request) -> &'static str {
        "x"
    }

    #[test]
    fn static_param_404_405() {
        let mut r = Router::default();
        r.add("/", get(h));
        r.add("/users/{id}", get(h).delete(h));
        r.add("/users/{id}/posts/{post}", get(h));
        assert!(matches!(r.find(&Method::GET, "/"), Match::Found(_, p) if p.is_empty()));
        match r.find(&Method::GET, "/users/a%20b/posts/7") {
            Match::Found(_, p) => assert_eq!(
                p,
                vec![("id".into(), "a b".into()), ("post".into(), "7".into())]
            ),
            _ => panic!("no match"),
        }
        assert!(matches!(r.find(&Method::GET, "/nope"), Match::NotFound));
        // Found by bytes; bytes that are not UTF-8 match no route.
        assert!(matches!(r.find(&Method::GET, &b"/"[..]), Match::Found(..)));
        assert!(matches!(
            r.find(&Method::GET, &b"/users/\xff"[..]),
            Match::NotFound
        ));
        assert!(matches!(r.find(&Method::GET, "/users/"), Match::NotFound));
        match r.find(&Method::POST, "/users/1") {
            Match::MethodNotAllowed(a) => assert_eq!(a, "DELETE, GET, HEAD"),
            _ => panic!("expected 405"),
        }
        assert!(matches!(r.find(&Method::HEAD, "/"), Match::Found(..)));
        // A path added twice answers 405 with the methods of both.
        r.add("/", post(h));
        r.add("/users/{id}", put(h));
        for (path, allow) in [
            ("/", "GET, HEAD, POST"),
            ("/users/1", "DELETE, GET, HEAD, PUT"),
        ] {
            match r.find(&Method::PATCH, path) {
                Match::MethodNotAllowed(a) => assert_eq!(a, allow, "{path}"),
                _ => panic!("expected 405 for {path}"),
            }
        }
    }

    #[test]
    fn a_tail_segment_takes_the_rest_of_the_path_as_sent() {
        let mut r = Router::default();
        r.add("/static/{*path}", get(h));
        r.add("/u/{id}/files/{*rest}", get(h));
        let found = |r: &Router, path: &str| match r.find(&Method::GET, path) {
            Match::Found(_, p) => Some(p),
            _ => None,
        };
        let tail = |v: &str| vec![("path".to_string(), v.to_string())];
        assert_eq!(found(&r, "/static/a/b%2Fc.css"), Some(tail("a/b%2Fc.css")));
        assert_eq!(found(&r, "/static/"), Some(tail("")));
        assert_eq!(found(&r, "/static"), None);
        assert_eq!(found(&r, "/staticx/a"), None);
        assert_eq!(
            found(&r, "/u/a%20b/files/x/y"),
            Some(vec![
                ("id".to_string(), "a b".to_string()),
                ("rest".to_string(), "x/y".to_string())
            ])
        );
        assert_eq!(found(&r, "/u//files/x"), None);
        assert!(matches!(
            r.find(&Method::POST, "/static/x"),
            Match::MethodNotAllowed(a) if a == "GET, HEAD"
        ));
        // A tail route never hides a more specific one, whatever the order.
        r.add("/{*all}", get(h));
        r.add("/static/special/{name}", get(h));
        assert_eq!(found(&r, "/static/a"), Some(tail("a")));
        assert_eq!(
            found(&r, "/static/special/x"),
            Some(vec![("name".to_string(), "x".to_string())])
        );
        assert_eq!(
            found(&r, "/other/x"),
            Some(vec![("all".to_string(), "other/x".to_string())])
        );
    }

    #[test]
    fn percent_decoding_is_lenient() {
        assert_eq!(percent_decode("a%2Fb"), "a/b");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }

    #[test]
    fn exact_routes_of_every_length_are_found_and_only_they() {
        // Paths that differ in one byte, in the last partial word, only in
        // length (a trailing zero byte looks like the padding of the last
        // word), or past eight bytes: each found as itself.
        let paths: Vec<String> = (0..40)
            .map(|n| format!("/{}", "a".repeat(n)))
            .chain(["/plaintext", "/plaintexu", "/plaintext/", "/pl\0", "/pl"].map(String::from))
            .collect();
        let mut r = Router::default();
        for p in &paths {
            r.add(p, get(h));
        }
        for p in &paths {
            assert!(
                matches!(r.find(&Method::GET, p.as_str()), Match::Found(..)),
                "{p}"
            );
        }
        for missing in [
            "/plaintexv",
            "/pl\0\0",
            "/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        ] {
            assert!(
                matches!(r.find(&Method::GET, missing), Match::NotFound),
                "{missing}"
            );
        }
        let mut a = percore_http::FxHasher::default();
        let mut b = percore_http::FxHasher::default();
        b"/pl".hash(&mut a);
        b"/pl\0".hash(&mut b);
        assert_ne!(a.finish(), b.finish(), "the length is hashed");
    }
}
