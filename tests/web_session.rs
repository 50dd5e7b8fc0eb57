//! Cookies and sessions: in memory (`App::oneshot`) and over sockets with
//! curl's cookie jar on both drivers.

use std::cell::RefCell;
use std::collections::HashMap;
use std::process::Command;
use std::rc::Rc;
use std::time::Duration;

use percore::rt::Runtime;
use percore::test::{get, post, TestServer};
use percore::web::{
    self, App, Cookie, HttpError, IntoResponse, Key, Request, Response, ResponseCookies,
    SessionData, SessionStore, Sessions, StoreFuture,
};
use percore::{DriverChoice, Server};

#[macro_use]
#[path = "common/mod.rs"]
mod common;

fn run<T>(f: impl std::future::Future<Output = T>) -> T {
    Runtime::new().unwrap().block_on(f)
}

async fn text(resp: Response) -> String {
    String::from_utf8(resp.into_body().collect().await.unwrap().to_vec()).unwrap()
}

async fn login(mut req: Request) -> Result<&'static str, HttpError> {
    #[derive(serde::Deserialize)]
    struct Form {
        user: String,
    }
    let form: Form = req.form().await?;
    let session = req.session()?;
    session.renew();
    session.insert("user", form.user)?;
    Ok("logged in")
}

async fn whoami(req: Request) -> Result<String, HttpError> {
    let user: Option<String> = req.session()?.get("user");
    Ok(user.unwrap_or_else(|| "nobody".into()))
}

async fn logout(req: Request) -> Result<&'static str, HttpError> {
    req.session()?.clear();
    Ok("bye")
}

async fn stuff(req: Request) -> Result<&'static str, HttpError> {
    req.session()?.insert("junk", "x".repeat(8000))?;
    Ok("stuffed")
}

fn routes(app: App) -> App {
    app.route("/login", web::post(login))
        .route("/whoami", web::get(whoami))
        .route("/logout", web::post(logout))
        .route("/stuff", web::post(stuff))
}

/// The `Set-Cookie` fields of a response.
fn set_cookies(resp: &Response) -> Vec<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

/// `name=value` of a `Set-Cookie` field, for a `Cookie` header.
fn pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_string()
}

async fn who(app: &App, cookie: Option<&str>) -> String {
    let mut req = get("/whoami");
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    let resp = app.oneshot(req.empty()).await;
    assert_eq!(resp.status(), 200);
    text(resp).await
}

#[test]
fn cookie_sessions_log_in_and_out_with_safe_flags() {
    let app = routes(App::new().plugin(Sessions::cookie(Key::generate())));
    run(async {
        let resp = app.oneshot(post("/login").form("user=ada")).await;
        assert_eq!(resp.status(), 200);
        let set = set_cookies(&resp);
        assert_eq!(set.len(), 1);
        let flags = &set[0];
        assert!(flags.starts_with("percore.session="), "{flags}");
        for attribute in [
            "; HttpOnly",
            "; SameSite=Lax",
            "; Path=/",
            "; Max-Age=86400",
        ] {
            assert!(flags.contains(attribute), "{attribute} in {flags}");
        }
        assert!(!flags.contains("Secure"), "plain HTTP: {flags}");
        assert!(!flags.contains("ada"), "encrypted: {flags}");
        let cookie = pair(flags);
        assert_eq!(who(&app, Some(&cookie)).await, "ada");
        assert_eq!(who(&app, None).await, "nobody");

        // A request that does not change the session sets no cookie.
        let resp = app
            .oneshot(get("/whoami").header("cookie", &cookie).empty())
            .await;
        assert!(set_cookies(&resp).is_empty());

        let resp = app
            .oneshot(post("/logout").header("cookie", &cookie).empty())
            .await;
        let set = set_cookies(&resp);
        assert_eq!(set.len(), 1);
        assert!(set[0].starts_with("percore.session=; "), "{}", set[0]);
        assert!(set[0].contains("Max-Age=0"), "{}", set[0]);

        let over_tls = app
            .oneshot(post("https://example.com/login").form("user=ada"))
            .await;
        assert!(set_cookies(&over_tls)[0].contains("; Secure"));
    });
}

#[test]
fn tampered_oversized_and_foreign_cookies_are_new_empty_sessions() {
    let key = Key::generate();
    let app = routes(App::new().plugin(Sessions::cookie(key)));
    let stranger = routes(App::new().plugin(Sessions::cookie(Key::generate())));
    run(async {
        let resp = app.oneshot(post("/login").form("user=ada")).await;
        let cookie = pair(&set_cookies(&resp)[0]);
        let (name, value) = cookie.split_once('=').unwrap();
        let mut flipped = value.as_bytes().to_vec();
        let i = flipped.len() / 2;
        flipped[i] = if flipped[i] == b'A' { b'B' } else { b'A' };
        let tampered = format!("{name}={}", String::from_utf8(flipped).unwrap());
        assert_eq!(who(&app, Some(&tampered)).await, "nobody");
        let truncated = &cookie[..cookie.len() - 4];
        assert_eq!(who(&app, Some(truncated)).await, "nobody");
        let huge = format!("{name}={}", "A".repeat(10_000));
        assert_eq!(who(&app, Some(&huge)).await, "nobody");
        assert_eq!(
            who(&app, Some(&format!("{name}=garbage;;=;"))).await,
            "nobody"
        );
        assert_eq!(who(&stranger, Some(&cookie)).await, "nobody", "another key");
        assert_eq!(who(&app, Some(&cookie)).await, "ada");
    });
}

#[test]
fn a_session_too_large_for_its_cookie_is_a_500_not_a_lost_write() {
    let app = routes(App::new().plugin(Sessions::cookie(Key::generate())));
    run(async {
        let resp = app.oneshot(post("/stuff").empty()).await;
        assert_eq!(resp.status(), 500);
        assert!(set_cookies(&resp).is_empty());
    });
}

#[test]
fn without_the_middleware_req_session_is_a_500() {
    let app = routes(App::new());
    run(async {
        let resp = app.oneshot(get("/whoami").empty()).await;
        assert_eq!(resp.status(), 500);
        assert_eq!(
            text(resp).await,
            "req.session() needs the Sessions middleware\n"
        );
    });
}

/// A server-side store in memory, to watch what the middleware asks of a
/// store like Redis: ids from a counter, a log of deletions.
#[derive(Clone, Default)]
struct MemoryStore {
    sessions: Rc<RefCell<HashMap<String, SessionData>>>,
    next: Rc<RefCell<u32>>,
    deleted: Rc<RefCell<Vec<String>>>,
}

impl SessionStore for MemoryStore {
    fn load<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<SessionData>> {
        Box::pin(async move { Ok(self.sessions.borrow().get(id).cloned()) })
    }

    fn save<'a>(
        &'a self,
        id: Option<&'a str>,
        data: &'a SessionData,
        _ttl: Duration,
    ) -> StoreFuture<'a, String> {
        Box::pin(async move {
            let id = id.map(str::to_owned).unwrap_or_else(|| {
                *self.next.borrow_mut() += 1;
                format!("id{}", self.next.borrow())
            });
            self.sessions.borrow_mut().insert(id.clone(), data.clone());
            Ok(id)
        })
    }

    fn delete<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.sessions.borrow_mut().remove(id);
            self.deleted.borrow_mut().push(id.to_string());
            Ok(())
        })
    }
}

#[test]
fn a_server_store_renews_ids_at_login_and_never_adopts_unknown_ones() {
    let store = MemoryStore::default();
    let app = routes(App::new().plugin(Sessions::new(store.clone()).cookie_name("sid")));
    run(async {
        // An id the attacker made up is not adopted: the login gets a new one.
        let planted = "sid=attacker-chosen";
        assert_eq!(who(&app, Some(planted)).await, "nobody");
        let resp = app
            .oneshot(post("/login").header("cookie", planted).form("user=ada"))
            .await;
        assert_eq!(pair(&set_cookies(&resp)[0]), "sid=id1");
        assert_eq!(who(&app, Some("sid=id1")).await, "ada");

        // Logging in again inside a session renews its id; the old one dies.
        let resp = app
            .oneshot(post("/login").header("cookie", "sid=id1").form("user=bob"))
            .await;
        assert_eq!(pair(&set_cookies(&resp)[0]), "sid=id2");
        assert_eq!(*store.deleted.borrow(), ["id1"]);
        assert_eq!(who(&app, Some("sid=id1")).await, "nobody");
        assert_eq!(who(&app, Some("sid=id2")).await, "bob");

        let resp = app
            .oneshot(post("/logout").header("cookie", "sid=id2").empty())
            .await;
        assert!(set_cookies(&resp)[0].starts_with("sid=; "));
        assert_eq!(*store.deleted.borrow(), ["id1", "id2"]);
        assert!(store.sessions.borrow().is_empty());
    });
}

#[test]
fn cookies_are_read_set_signed_and_encrypted() {
    async fn remember(req: Request) -> Response {
        let mut resp = format!(
            "plain={:?} signed={:?} private={:?}",
            req.cookie("plain"),
            req.signed_cookie("signed"),
            req.private_cookie("private")
        )
        .into_response();
        let full = Cookie::build(("plain", "a b;c"))
            .path("/app")
            .domain("example.com")
            .secure(true)
            .http_only(true)
            .same_site(web::SameSite::Strict)
            .max_age(web::cookie::time::Duration::hours(1))
            .partitioned(true)
            .build();
        resp.set_cookie(full);
        resp.set_cookie(req.seal_signed(Cookie::new("signed", "s1")).unwrap());
        resp.set_cookie(req.seal_private(Cookie::new("private", "p1")).unwrap());
        resp.remove_cookie(Cookie::build("old").path("/").build());
        resp
    }
    let app = App::new()
        .cookie_key(Key::generate())
        .route("/", web::get(remember));
    run(async {
        let resp = app.oneshot(get("/").empty()).await;
        let set = set_cookies(&resp);
        assert_eq!(
            set[0],
            "plain=a%20b%3Bc; HttpOnly; SameSite=Strict; Partitioned; Secure; Path=/app; Domain=example.com; Max-Age=3600"
        );
        assert!(
            set[3].starts_with("old=; Path=/; Max-Age=0; Expires="),
            "{}",
            set[3]
        );
        assert_eq!(text(resp).await, "plain=None signed=None private=None");
        let jar = set[..3]
            .iter()
            .map(|c| pair(c))
            .collect::<Vec<_>>()
            .join("; ");
        let resp = app.oneshot(get("/").header("cookie", &jar).empty()).await;
        assert_eq!(
            text(resp).await,
            "plain=Some(\"a b;c\") signed=Some(\"s1\") private=Some(\"p1\")"
        );
        // A signed cookie's value is readable but not forgeable.
        let forged = jar.replace("s1", "s2");
        let resp = app
            .oneshot(get("/").header("cookie", &forged).empty())
            .await;
        assert!(text(resp).await.contains("signed=None"));
    });
}

/// curl with a cookie jar file: (status, body).
fn curl_jar(jar: &std::path::Path, args: &[&str]) -> (u16, String) {
    let jar = jar.to_str().unwrap();
    let out = Command::new("curl")
        .args([
            "-s",
            "--max-time",
            "20",
            "-c",
            jar,
            "-b",
            jar,
            "-w",
            "\n%{http_code}",
        ])
        .args(args)
        .output()
        .expect("curl runs");
    let text = String::from_utf8(out.stdout).unwrap();
    let (body, status) = text.rsplit_once('\n').unwrap();
    (status.parse().unwrap(), body.to_string())
}

both_drivers!(curl_logs_in_and_out_with_a_cookie_jar, |d: DriverChoice| {
    let key = Key::generate();
    let srv = TestServer::start_server(
        Server::new(move || routes(App::new().plugin(Sessions::cookie(key.clone()))))
            .cores(2)
            .driver(d),
    );
    let dir = std::env::temp_dir().join(format!("percore-jar-{}-{:?}", std::process::id(), d));
    let jar = dir.with_extension("txt");
    let _ = std::fs::remove_file(&jar);
    assert_eq!(
        curl_jar(&jar, &[&srv.url("/whoami")]),
        (200, "nobody".into())
    );
    assert_eq!(
        curl_jar(&jar, &["-d", "user=ada", &srv.url("/login")]),
        (200, "logged in".into())
    );
    let stored = std::fs::read_to_string(&jar).unwrap();
    assert!(stored.contains("#HttpOnly_127.0.0.1"), "{stored}");
    // Two cores, several connections: every core reads the same cookie.
    for _ in 0..4 {
        assert_eq!(curl_jar(&jar, &[&srv.url("/whoami")]), (200, "ada".into()));
    }
    assert_eq!(
        curl_jar(&jar, &["-X", "POST", &srv.url("/logout")]),
        (200, "bye".into())
    );
    assert_eq!(
        curl_jar(&jar, &[&srv.url("/whoami")]),
        (200, "nobody".into())
    );
    let _ = std::fs::remove_file(&jar);
});
