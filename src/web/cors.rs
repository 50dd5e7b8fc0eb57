//! CORS: which cross-origin pages may call the app, and preflights.

use std::rc::Rc;
use std::time::Duration;

use http::header::{
    HeaderName, HeaderValue, ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS,
    ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS,
    ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, ORIGIN,
};
use http::{HeaderMap, Method, StatusCode};
use percore_http::Body;

use super::vary::add_vary;
use super::{App, IntoMiddleware, Next, Plugin, Request, Response};

/// Most request headers a preflight may name.
const MAX_REQUESTED_HEADERS: usize = 64;

/// Cross-origin resource sharing (the Fetch standard's CORS protocol).
///
/// Origins are matched exactly (scheme, host and port, as the browser
/// sends them in `Origin`), or any origin is allowed. An allowed request
/// gets `Access-Control-Allow-Origin` (its own origin, or `*` when any is
/// allowed without credentials) and `Vary: origin`. A preflight
/// (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) is
/// answered here, without reaching the handler: 204 with the allowed
/// methods and headers and `Access-Control-Max-Age` when its origin,
/// method and headers are all allowed; 403 with no CORS field otherwise.
///
/// ```
/// use percore::web::{App, Cors, Method, Request, get};
/// let app = App::new()
///     .plugin(
///         Cors::origins(["https://app.example"])
///             .methods([Method::GET, Method::POST])
///             .headers(["content-type", "x-token"])
///             .credentials(true)
///             .max_age(std::time::Duration::from_secs(600)),
///     )
///     .route("/", get(|_r: Request| async { "hi" }));
/// percore::rt::Runtime::new().unwrap().block_on(async {
///     let req = http::Request::get("/").header("origin", "https://app.example").body("").unwrap();
///     let resp = app.oneshot(req).await;
///     assert_eq!(resp.headers()["access-control-allow-origin"], "https://app.example");
///     assert_eq!(resp.headers()["access-control-allow-credentials"], "true");
/// });
/// ```
#[derive(Debug, Clone)]
pub struct Cors {
    /// `None`: any origin.
    origins: Option<Vec<HeaderValue>>,
    methods: Vec<Method>,
    headers: Vec<HeaderName>,
    expose: Vec<HeaderName>,
    credentials: bool,
    max_age: Option<Duration>,
}

impl Cors {
    /// Allows exactly these origins (e.g. `"https://app.example"`,
    /// `"http://localhost:8080"`). Panics on a value that cannot be a header.
    pub fn origins<I, S>(origins: I) -> Cors
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let origins = origins
            .into_iter()
            .map(|o| {
                HeaderValue::from_str(o.as_ref().trim_end_matches('/')).unwrap_or_else(|_| {
                    panic!("CORS origin {:?} is not a header value", o.as_ref())
                })
            })
            .collect();
        Cors::with(Some(origins))
    }

    /// Allows any origin (answered with `*`). Cannot be combined with
    /// [`credentials`](Self::credentials).
    pub fn any_origin() -> Cors {
        Cors::with(None)
    }

    fn with(origins: Option<Vec<HeaderValue>>) -> Cors {
        Cors {
            origins,
            methods: vec![Method::GET, Method::HEAD, Method::POST],
            headers: Vec::new(),
            expose: Vec::new(),
            credentials: false,
            max_age: None,
        }
    }

    /// The methods a preflight may ask for (default GET, HEAD, POST).
    pub fn methods(mut self, methods: impl IntoIterator<Item = Method>) -> Cors {
        self.methods = methods.into_iter().collect();
        self
    }

    /// The request headers a preflight may ask for (none by default
    /// beyond those the browser never asks about). Panics on a bad name.
    pub fn headers<I, S>(mut self, names: I) -> Cors
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.headers = header_names(names);
        self
    }

    /// Response headers the page's script may read beyond the safelisted ones.
    pub fn expose_headers<I, S>(mut self, names: I) -> Cors
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.expose = header_names(names);
        self
    }

    /// Whether cookies and HTTP authentication go with requests
    /// (`Access-Control-Allow-Credentials: true`). Panics with
    /// [`any_origin`](Self::any_origin): name the origins you trust.
    pub fn credentials(mut self, on: bool) -> Cors {
        assert!(
            !(on && self.origins.is_none()),
            "CORS credentials with any origin would let every site act as the user: list the origins"
        );
        self.credentials = on;
        self
    }

    /// How long a browser may cache a preflight's answer.
    pub fn max_age(mut self, age: Duration) -> Cors {
        self.max_age = Some(age);
        self
    }

    /// The middleware itself, e.g. for one nested app.
    pub fn middleware(self) -> impl IntoMiddleware {
        let policy = Rc::new(Policy::new(self));
        move |req: Request, next: Next| cors(policy.clone(), req, next)
    }
}

impl Plugin for Cors {
    fn install(self, app: App) -> App {
        app.middleware(self.middleware())
    }
}

fn header_names<I: IntoIterator<Item = S>, S: AsRef<str>>(names: I) -> Vec<HeaderName> {
    names
        .into_iter()
        .map(|n| {
            HeaderName::from_bytes(n.as_ref().as_bytes())
                .unwrap_or_else(|_| panic!("{:?} is not a header name", n.as_ref()))
        })
        .collect()
}

fn joined<T: AsRef<str>>(items: &[T]) -> Option<HeaderValue> {
    let list: Vec<&str> = items.iter().map(AsRef::as_ref).collect();
    (!list.is_empty()).then(|| HeaderValue::from_str(&list.join(", ")).expect("tokens"))
}

/// The rules with their header values made once.
struct Policy {
    cors: Cors,
    allow_methods: Option<HeaderValue>,
    allow_headers: Option<HeaderValue>,
    expose: Option<HeaderValue>,
    max_age: Option<HeaderValue>,
}

impl Policy {
    fn new(cors: Cors) -> Policy {
        Policy {
            allow_methods: joined(&cors.methods),
            allow_headers: joined(&cors.headers),
            expose: joined(&cors.expose),
            max_age: cors.max_age.map(|a| HeaderValue::from(a.as_secs())),
            cors,
        }
    }

    fn origin_allowed(&self, origin: &HeaderValue) -> bool {
        match &self.cors.origins {
            None => true,
            Some(list) => list.iter().any(|o| o == origin),
        }
    }

    /// `Access-Control-Allow-Origin` (+ credentials) for an allowed origin.
    fn allow_origin(&self, headers: &mut HeaderMap, origin: HeaderValue) {
        if self.cors.origins.is_none() {
            headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        } else {
            headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            add_vary(headers, "origin");
        }
        if self.cors.credentials {
            headers.insert(
                ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
    }

    /// Whether every header a preflight names is allowed.
    fn headers_allowed(&self, requested: Option<&HeaderValue>) -> bool {
        let Some(requested) = requested else {
            return true;
        };
        let Ok(list) = requested.to_str() else {
            return false;
        };
        let mut names = list.split(',').map(str::trim).filter(|n| !n.is_empty());
        names.by_ref().take(MAX_REQUESTED_HEADERS).all(|n| {
            self.cors
                .headers
                .iter()
                .any(|h| h.as_str().eq_ignore_ascii_case(n))
        }) && names.next().is_none()
    }

    fn preflight(&self, req: &Request, origin: HeaderValue) -> Response {
        let allowed = self.origin_allowed(&origin)
            && req
                .headers()
                .get(ACCESS_CONTROL_REQUEST_METHOD)
                .and_then(|m| Method::from_bytes(m.as_bytes()).ok())
                .is_some_and(|m| self.cors.methods.contains(&m))
            && self.headers_allowed(req.headers().get(ACCESS_CONTROL_REQUEST_HEADERS));
        let mut resp = Response::new(Body::Empty);
        if !allowed {
            *resp.status_mut() = StatusCode::FORBIDDEN;
            return resp;
        }
        *resp.status_mut() = StatusCode::NO_CONTENT;
        let headers = resp.headers_mut();
        self.allow_origin(headers, origin);
        for (name, value) in [
            (ACCESS_CONTROL_ALLOW_METHODS, &self.allow_methods),
            (ACCESS_CONTROL_ALLOW_HEADERS, &self.allow_headers),
            (ACCESS_CONTROL_MAX_AGE, &self.max_age),
        ] {
            if let Some(v) = value {
                headers.insert(name, v.clone());
            }
        }
        add_vary(headers, "access-control-request-method");
        add_vary(headers, "access-control-request-headers");
        resp
    }
}

async fn cors(policy: Rc<Policy>, req: Request, next: Next) -> Response {
    let Some(origin) = req.headers().get(ORIGIN).cloned() else {
        let mut resp = next.run(req).await;
        if policy.cors.origins.is_some() {
            add_vary(resp.headers_mut(), "origin");
        }
        return resp;
    };
    if req.method() == Method::OPTIONS && req.headers().contains_key(ACCESS_CONTROL_REQUEST_METHOD)
    {
        return policy.preflight(&req, origin);
    }
    let mut resp = next.run(req).await;
    let headers = resp.headers_mut();
    if policy.origin_allowed(&origin) {
        policy.allow_origin(headers, origin);
        if let Some(expose) = &policy.expose {
            headers.insert(ACCESS_CONTROL_EXPOSE_HEADERS, expose.clone());
        }
    } else if policy.cors.origins.is_some() {
        add_vary(headers, "origin");
    }
    resp
}
