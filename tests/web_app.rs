//! The web layer in memory (`App::oneshot`): errors, request data,
//! middleware order, nested apps, named routes. No `http` import: what a
//! handler needs comes from `percore::web`.

use std::cell::RefCell;
use std::rc::Rc;

use percore::rt::Runtime;
use percore::web::{
    get, header, post, App, HttpError, IntoResponse, Json, Method, Next, Request, Response,
    StatusCode,
};
use serde::{Deserialize, Serialize};

fn run<T>(f: impl std::future::Future<Output = T>) -> T {
    Runtime::new().unwrap().block_on(f)
}

use percore::test::request;

async fn text(resp: Response) -> String {
    String::from_utf8(resp.into_body().collect().await.unwrap().to_vec()).unwrap()
}

#[derive(Deserialize, Serialize, Debug, PartialEq)]
struct User {
    name: String,
    age: u8,
}

async fn create_user(mut req: Request) -> Result<Json<User>, HttpError> {
    let user: User = req.json().await?;
    if user.name.is_empty() {
        return Err(HttpError::unprocessable("a user needs a name"));
    }
    Ok(Json(user))
}

async fn login(mut req: Request) -> Result<String, HttpError> {
    #[derive(Deserialize)]
    struct Login {
        user: String,
    }
    let form: Login = req.form().await?;
    Ok(format!("hello {}", form.user))
}

async fn search(req: Request) -> Result<String, HttpError> {
    #[derive(Deserialize)]
    struct Search {
        q: String,
        page: Option<u32>,
    }
    let s: Search = req.query()?;
    Ok(format!("{} p{}", s.q, s.page.unwrap_or(1)))
}

fn data_app() -> App {
    App::new()
        .route("/users", post(create_user))
        .route("/login", post(login))
        .route("/search", get(search))
}

#[test]
fn json_bodies_decode_or_say_what_was_wrong() {
    let app = data_app();
    run(async {
        let ok = app
            .oneshot(request(Method::POST, "/users").json(r#"{"name":"ada","age":36}"#))
            .await;
        assert_eq!(ok.status(), StatusCode::OK);
        assert_eq!(text(ok).await, r#"{"name":"ada","age":36}"#);

        let bad = app
            .oneshot(request(Method::POST, "/users").json(r#"{"name":"ada","age":"old"}"#))
            .await;
        assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
        let body = text(bad).await;
        assert!(
            body.starts_with("invalid JSON body: invalid type: string \"old\", expected u8"),
            "{body}"
        );

        let cut = app
            .oneshot(request(Method::POST, "/users").json(r#"{"name":"ada""#))
            .await;
        assert_eq!(cut.status(), StatusCode::BAD_REQUEST);
        assert!(text(cut).await.contains("EOF"));

        let typed_wrong = app
            .oneshot(
                request(Method::POST, "/users")
                    .header("content-type", "text/plain")
                    .body(r#"{"name":"ada","age":36}"#),
            )
            .await;
        assert_eq!(typed_wrong.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(
            text(typed_wrong).await,
            "expected Content-Type application/json, got text/plain\n"
        );

        let empty_name = app
            .oneshot(request(Method::POST, "/users").json(r#"{"name":"","age":1}"#))
            .await;
        assert_eq!(empty_name.status(), StatusCode::UNPROCESSABLE_ENTITY);
    });
}

#[test]
fn forms_and_queries_decode_or_say_what_was_wrong() {
    let app = data_app();
    run(async {
        let form = |body: &'static str| request(Method::POST, "/login").form(body);
        assert_eq!(
            text(app.oneshot(form("user=a%20b")).await).await,
            "hello a b"
        );
        let missing = app.oneshot(form("name=x")).await;
        assert_eq!(missing.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            text(missing).await,
            "invalid form body: missing field `user`\n"
        );
        let as_json = app
            .oneshot(request(Method::POST, "/login").json(r#"{"user":"x"}"#))
            .await;
        assert_eq!(as_json.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

        let found = app
            .oneshot(request(Method::GET, "/search?q=rust&page=2").empty())
            .await;
        assert_eq!(text(found).await, "rust p2");
        let bad_page = app
            .oneshot(request(Method::GET, "/search?q=rust&page=two").empty())
            .await;
        assert_eq!(bad_page.status(), StatusCode::BAD_REQUEST);
        assert!(text(bad_page).await.starts_with("invalid query string: "));
        let no_q = app.oneshot(request(Method::GET, "/search").empty()).await;
        assert_eq!(
            text(no_q).await,
            "invalid query string: missing field `q`\n"
        );
    });
}

#[test]
fn a_body_read_twice_is_an_error_not_an_empty_body() {
    let app = App::new().route(
        "/twice",
        post(|mut req: Request| async move {
            let first = req.bytes().await?;
            match req.bytes().await {
                Ok(second) => Ok(format!("first {} then {}", first.len(), second.len())),
                Err(e) => Err(e),
            }
        }),
    );
    run(async {
        let resp = app
            .oneshot(request(Method::POST, "/twice").body("abc"))
            .await;
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(text(resp).await, "the request body was already read\n");
    });
}

#[test]
fn handlers_return_errors_with_headers() {
    async fn private(req: Request) -> Result<&'static str, HttpError> {
        match req.header("authorization") {
            Some("Bearer good") => Ok("secret"),
            _ => Err(HttpError::unauthorized("log in first")
                .header("www-authenticate", "Bearer realm=\"test\"")),
        }
    }
    let app = App::new().route("/private", get(private));
    run(async {
        let resp = app.oneshot(request(Method::GET, "/private").empty()).await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            resp.headers()[header::WWW_AUTHENTICATE],
            "Bearer realm=\"test\""
        );
        assert_eq!(text(resp).await, "log in first\n");
        let ok = app
            .oneshot(
                request(Method::GET, "/private")
                    .header("authorization", "Bearer good")
                    .empty(),
            )
            .await;
        assert_eq!(text(ok).await, "secret");
    });
}

/// An error-page middleware turns every error answer into JSON.
async fn json_errors(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    if !resp.status().is_client_error() && !resp.status().is_server_error() {
        return resp;
    }
    let message = HttpError::of(&resp)
        .map_or("error", |e| e.message())
        .to_string();
    let status = resp.status();
    let mut page =
        Json(serde_json::json!({ "status": status.as_u16(), "error": message })).into_response();
    *page.status_mut() = status;
    // Keep the headers the error asked for (Allow, WWW-Authenticate...).
    for (name, value) in resp.headers() {
        if name != header::CONTENT_TYPE {
            page.headers_mut().insert(name, value.clone());
        }
    }
    page
}

#[test]
fn an_error_page_middleware_rewrites_every_error() {
    let app = data_app().middleware(json_errors).route(
        "/conflict",
        get(|_r: Request| async { HttpError::conflict("taken") }),
    );
    run(async {
        let cases = [
            (request(Method::GET, "/nowhere").empty(), 404, "not found"),
            (
                request(Method::DELETE, "/users").empty(),
                405,
                "method not allowed",
            ),
            (request(Method::GET, "/conflict").empty(), 409, "taken"),
            (
                request(Method::POST, "/users").json("{"),
                400,
                "invalid JSON body: EOF while parsing an object at line 1 column 1",
            ),
            (
                request(Method::POST, "/users").body("{}"),
                415,
                "expected Content-Type application/json, got none",
            ),
        ];
        for (req, status, message) in cases {
            let resp = app.oneshot(req).await;
            assert_eq!(resp.status().as_u16(), status);
            assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
            if status == 405 {
                assert_eq!(resp.headers()[header::ALLOW], "POST");
            }
            let body: serde_json::Value = serde_json::from_str(&text(resp).await).unwrap();
            assert_eq!(body["error"], message);
            assert_eq!(body["status"], status);
        }
    });
}

type Log = Rc<RefCell<Vec<String>>>;

/// A middleware that logs "`name` in" and "`name` out" around the rest.
fn logging(
    log: &Log,
    name: &'static str,
) -> impl Fn(Request, Next) -> std::pin::Pin<Box<dyn std::future::Future<Output = Response>>> {
    let log = log.clone();
    move |req, next| {
        let log = log.clone();
        Box::pin(async move {
            log.borrow_mut().push(format!("{name} in"));
            let resp = next.run(req).await;
            log.borrow_mut().push(format!("{name} out"));
            resp
        })
    }
}

#[test]
fn middleware_runs_app_then_nested_then_route_then_handler() {
    let log: Log = Rc::default();
    let handler_log = log.clone();
    let handler = move |_r: Request| {
        let log = handler_log.clone();
        async move {
            log.borrow_mut().push("handler".into());
            "done"
        }
    };
    let api = App::new()
        .middleware(logging(&log, "api1"))
        .middleware(logging(&log, "api2"))
        .route(
            "/users",
            get(handler.clone()).middleware(logging(&log, "route")),
        );
    let app = App::new()
        .middleware(logging(&log, "app1"))
        .middleware(logging(&log, "app2"))
        .nest("/api", api)
        .route("/plain", get(handler));
    run(async {
        assert_eq!(
            text(
                app.oneshot(request(Method::GET, "/api/users").empty())
                    .await
            )
            .await,
            "done"
        );
        assert_eq!(
            log.take(),
            [
                "app1 in",
                "app2 in",
                "api1 in",
                "api2 in",
                "route in",
                "handler",
                "route out",
                "api2 out",
                "api1 out",
                "app2 out",
                "app1 out"
            ]
        );
        // The nested app's and the route's middleware stay with their routes;
        // the app's sees unrouted requests too.
        app.oneshot(request(Method::GET, "/plain").empty()).await;
        assert_eq!(
            log.take(),
            ["app1 in", "app2 in", "handler", "app2 out", "app1 out"]
        );
        let missing = app.oneshot(request(Method::GET, "/api/none").empty()).await;
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
        assert_eq!(log.take(), ["app1 in", "app2 in", "app2 out", "app1 out"]);
    });
}

#[test]
fn a_middleware_may_answer_without_calling_the_handler() {
    async fn only_admins(req: Request, next: Next) -> Result<Response, HttpError> {
        if req.header("x-role") != Some("admin") {
            return Err(HttpError::forbidden("admins only"));
        }
        Ok(next.run(req).await)
    }
    let app = App::new().route(
        "/admin",
        get(|_r: Request| async { "admin page" }).middleware(only_admins),
    );
    run(async {
        let no = app.oneshot(request(Method::GET, "/admin").empty()).await;
        assert_eq!(no.status(), StatusCode::FORBIDDEN);
        let yes = app
            .oneshot(
                request(Method::GET, "/admin")
                    .header("x-role", "admin")
                    .empty(),
            )
            .await;
        assert_eq!(text(yes).await, "admin page");
    });
}

#[test]
fn nested_apps_have_their_own_state_and_prefixed_names() {
    async fn describe(req: Request) -> Result<String, HttpError> {
        let name = req.state::<&'static str>().copied().unwrap_or("none");
        let shared = req.state::<u32>().copied().unwrap_or(0);
        let user = req.url_for("user", [("id", "7 8")])?;
        let home = req.url_for("home", [])?;
        Ok(format!("{name} {shared} {user} {home}"))
    }
    let v1 = App::new()
        .state("v1")
        .route("/users/{id}", get(describe).name("user"));
    let api = App::new().nest("/v1", v1).route("/", get(describe));
    let app = App::new()
        .state("root")
        .state(42u32)
        .route("/", get(describe).name("home"))
        .nest("/api", api);
    run(async {
        let get_text = |uri: &'static str| {
            let app = &app;
            async move { text(app.oneshot(request(Method::GET, uri).empty()).await).await }
        };
        assert_eq!(
            get_text("/api/v1/users/1").await,
            "v1 42 /api/v1/users/7%208 /"
        );
        // The api app has no `&str` state of its own: the root's is seen.
        assert_eq!(get_text("/api/").await, "root 42 /api/v1/users/7%208 /");
        assert_eq!(get_text("/").await, "root 42 /api/v1/users/7%208 /");
        let missing = app
            .oneshot(request(Method::GET, "/api/v1/users").empty())
            .await;
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    });
}

#[test]
fn url_for_an_unknown_route_or_a_missing_parameter_is_a_500() {
    let app = App::new()
        .route(
            "/u/{id}",
            get(|r: Request| async move { r.url_for("u", []) }).name("u"),
        )
        .route("/x", get(|r: Request| async move { r.url_for("nope", []) }));
    run(async {
        let resp = app.oneshot(request(Method::GET, "/u/1").empty()).await;
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            text(resp).await,
            "url_for: route \"/u/{id}\" needs the parameter \"id\"\n"
        );
        let resp = app.oneshot(request(Method::GET, "/x").empty()).await;
        assert_eq!(text(resp).await, "url_for: no route named \"nope\"\n");
    });
}

#[test]
fn a_plain_get_is_refused_as_a_websocket_upgrade() {
    async fn ws(mut req: Request) -> Result<Response, percore::ws::Refusal> {
        let upgrade = req.websocket()?;
        Ok(upgrade.on_upgrade(|_ws| async {}))
    }
    let app = App::new().route("/ws", get(ws));
    run(async {
        let resp = app.oneshot(request(Method::GET, "/ws").empty()).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        let wrong_version = app
            .oneshot(
                request(Method::GET, "/ws")
                    .header("connection", "upgrade")
                    .header("upgrade", "websocket")
                    .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
                    .header("sec-websocket-version", "8")
                    .empty(),
            )
            .await;
        assert_eq!(wrong_version.status(), StatusCode::UPGRADE_REQUIRED);
        assert_eq!(wrong_version.headers()["sec-websocket-version"], "13");
    });
}

#[test]
fn oneshot_turns_a_panic_into_a_500_like_the_server() {
    let app = App::new().route(
        "/boom",
        get(|_r: Request| async {
            if true {
                panic!("boom");
            }
            "unreachable"
        }),
    );
    run(async {
        let resp = app.oneshot(request(Method::GET, "/boom").empty()).await;
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    });
}
