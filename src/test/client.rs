//! [`TestClient`]: percore's own client, pointed at a [`TestServer`].

use http::Method;
use percore_client::{Client, RequestBuilder, WsBuilder};

use super::TestServer;

/// A [`Client`] with a cookie jar whose paths are relative to one test
/// server, like aiohttp's `TestClient`. Make it on the runtime that sends
/// the requests (a client is `!Send`, one per core).
///
/// ```
/// use percore::web::{get, App, Json, Request};
/// let server = percore::test::TestServer::start(|| {
///     App::new().route("/", get(|_r: Request| async { Json(serde_json::json!({"ok": true})) }))
/// });
/// percore::rt::Runtime::new().unwrap().block_on(async {
///     let client = server.client();
///     let resp = client.get("/").send().await.unwrap();
///     assert_eq!(resp.status(), 200);
///     let body: serde_json::Value = resp.json().await.unwrap();
///     assert_eq!(body["ok"], true);
/// });
/// ```
#[derive(Clone)]
pub struct TestClient {
    client: Client,
    base: String,
}

impl TestClient {
    /// A client with a cookie jar for `server`.
    pub fn new(server: &TestServer) -> TestClient {
        let client = Client::builder()
            .cookie_store(true)
            .build()
            .expect("the default client builds");
        TestClient::with_client(server, client)
    }

    /// `client` (configured as the test needs) aimed at `server`.
    pub fn with_client(server: &TestServer, client: Client) -> TestClient {
        TestClient {
            client,
            base: server.url(""),
        }
    }

    /// A `method` request to `path` (which starts with `/`).
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path).as_str())
    }

    /// A GET request to `path`.
    pub fn get(&self, path: &str) -> RequestBuilder {
        self.request(Method::GET, path)
    }

    /// A POST request to `path`.
    pub fn post(&self, path: &str) -> RequestBuilder {
        self.request(Method::POST, path)
    }

    /// A WebSocket to `path`.
    pub fn ws(&self, path: &str) -> WsBuilder {
        self.client.ws(self.url(path).as_str())
    }

    /// The full URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// The client itself, for what this wrapper does not offer.
    pub fn client(&self) -> &Client {
        &self.client
    }
}

impl std::fmt::Debug for TestClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestClient")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl TestServer {
    /// A [`TestClient`] (with a cookie jar) for this server.
    pub fn client(&self) -> TestClient {
        TestClient::new(self)
    }
}
