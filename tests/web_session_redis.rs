//! Sessions in a real redis-server (started here on a free port), through
//! TestServer/TestClient on both drivers: the session API, renewal
//! (fixation), expiry, forged and unknown ids, one round trip per lookup,
//! and Redis dying (503, quickly) and coming back (the app recovers).

use std::time::{Duration, Instant};

use percore::redis::{Client as Redis, Config};
use percore::rt::Runtime;
use percore::test::{TestClient, TestServer};
use percore::web::{self, App, HttpError, Key, Request, Sessions};
use percore::{DriverChoice, Server};

#[macro_use]
#[path = "common/mod.rs"]
mod common;

#[path = "../redis/tests/support/mod.rs"]
mod redis_support;
use redis_support::RedisServer;

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

async fn put(req: Request) -> Result<&'static str, HttpError> {
    let (k, v) = (req.param("k").unwrap_or_default(), req.param("v"));
    req.session()?.insert(k, v.unwrap_or_default())?;
    Ok("put")
}

async fn get_value(req: Request) -> Result<String, HttpError> {
    let value: Option<String> = req.session()?.get(req.param("k").unwrap_or_default());
    Ok(value.unwrap_or_else(|| "-".into()))
}

async fn remove(req: Request) -> Result<&'static str, HttpError> {
    req.session()?.remove(req.param("k").unwrap_or_default());
    Ok("removed")
}

async fn logout(req: Request) -> Result<&'static str, HttpError> {
    req.session()?.clear();
    Ok("bye")
}

/// A two-core server whose sessions live in `redis` for `max_age`.
fn server(d: DriverChoice, redis: &RedisServer, key: &Key, max_age: Duration) -> TestServer {
    let config: Config = redis
        .url()
        .parse::<Config>()
        .unwrap()
        .command_timeout(Duration::from_millis(300))
        .connect_timeout(Duration::from_millis(300));
    let key = key.clone();
    TestServer::start_server(
        Server::new(move || {
            // One pool per core, shared by the routes' middleware; only
            // the session routes carry it (/plain never touches Redis).
            let redis = Redis::new(config.clone());
            let sessions = || Sessions::redis(redis.clone(), key.clone()).max_age(max_age);
            App::new()
                .route("/login", web::post(login).middleware(sessions()))
                .route("/whoami", web::get(whoami).middleware(sessions()))
                .route("/put/{k}/{v}", web::post(put).middleware(sessions()))
                .route("/get/{k}", web::get(get_value).middleware(sessions()))
                .route("/remove/{k}", web::post(remove).middleware(sessions()))
                .route("/logout", web::post(logout).middleware(sessions()))
                .route("/plain", web::get(|_r: Request| async { "plain" }))
        })
        .cores(2)
        .driver(d),
    )
}

fn rt(d: DriverChoice) -> Runtime {
    Runtime::builder().driver(d).build().unwrap()
}

async fn call(client: &TestClient, method: &str, path: &str) -> (u16, String) {
    let req = match method {
        "POST" => client.post(path),
        _ => client.get(path),
    };
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap())
}

async fn log_in(client: &TestClient, user: &str) -> (u16, String) {
    let resp = login_response(client, user).await;
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap())
}

async fn login_response(client: &TestClient, user: &str) -> percore::client::Response {
    let form = [("user", user)];
    client.post("/login").form(&form).send().await.unwrap()
}

fn session_keys(redis: &RedisServer) -> Vec<String> {
    let out = redis.cli(&["KEYS", "percore:session:*"]);
    out.lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// Logs in as `user`; the session cookie's value the answer set.
async fn login_cookie(client: &TestClient, user: &str) -> String {
    let resp = login_response(client, user).await;
    assert_eq!(resp.status(), 200);
    set_cookie(&resp).expect("a session cookie")
}

/// The value of the `percore.session` cookie `resp` sets, if any.
fn set_cookie(resp: &percore::client::Response) -> Option<String> {
    resp.headers().get_all("set-cookie").iter().find_map(|v| {
        let v = v.to_str().ok()?;
        let (pair, _) = v.split_once(';').unwrap_or((v, ""));
        pair.strip_prefix("percore.session=").map(str::to_string)
    })
}

both_drivers!(insert_get_remove_clear_renew, |d: DriverChoice| {
    let redis = RedisServer::start();
    let srv = server(d, &redis, &Key::generate(), Duration::from_secs(60));
    rt(d).block_on(async {
        let client = srv.client();
        assert_eq!(
            call(&client, "GET", "/whoami").await,
            (200, "nobody".into())
        );
        assert!(
            session_keys(&redis).is_empty(),
            "an untouched session is not stored"
        );
        let before = login_cookie(&client, "ada").await;
        let keys = session_keys(&redis);
        assert_eq!(keys.len(), 1);
        let ttl: i64 = redis.cli(&["TTL", &keys[0]]).parse().unwrap();
        assert!((55..=60).contains(&ttl), "TTL {ttl}");
        assert_eq!(call(&client, "GET", "/whoami").await, (200, "ada".into()));
        assert_eq!(call(&client, "POST", "/put/color/blue").await.0, 200);
        assert_eq!(
            call(&client, "GET", "/get/color").await,
            (200, "blue".into())
        );
        assert_eq!(session_keys(&redis), keys, "same id while not renewed");
        let stored = redis.cli(&["GET", &keys[0]]);
        assert!(stored.contains("\"color\":\"blue\""), "{stored}");
        assert_eq!(call(&client, "POST", "/remove/color").await.0, 200);
        assert_eq!(call(&client, "GET", "/get/color").await, (200, "-".into()));
        // Logging in again renews the id: the old key is gone at once.
        let after = login_cookie(&client, "bob").await;
        assert_ne!(before, after);
        let renewed = session_keys(&redis);
        assert_eq!(renewed.len(), 1);
        assert_ne!(renewed, keys);
        assert_eq!(call(&client, "GET", "/whoami").await, (200, "bob".into()));
        // The old cookie (a fixation attempt replayed) names nothing now.
        let old = percore::client::Client::new();
        let resp = old
            .get(client.url("/whoami"))
            .header("cookie", format!("percore.session={before}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.text().await.unwrap(), "nobody");
        // Logout clears: the key and the cookie go.
        let resp = client.post("/logout").send().await.unwrap();
        assert_eq!(
            set_cookie(&resp).as_deref(),
            Some(""),
            "the cookie is removed"
        );
        assert_eq!(resp.text().await.unwrap(), "bye");
        assert!(session_keys(&redis).is_empty());
        assert_eq!(
            call(&client, "GET", "/whoami").await,
            (200, "nobody".into())
        );
    });
});

both_drivers!(sessions_expire_with_their_ttl, |d: DriverChoice| {
    let redis = RedisServer::start();
    let srv = server(d, &redis, &Key::generate(), Duration::from_secs(1));
    rt(d).block_on(async {
        let client = srv.client();
        let value = login_cookie(&client, "ada").await;
        assert_eq!(call(&client, "GET", "/whoami").await, (200, "ada".into()));
        let keys = session_keys(&redis);
        assert_eq!(redis.cli(&["TTL", &keys[0]]), "1");
        // A client that keeps the cookie past its Max-Age (sent by hand
        // here): Redis has forgotten the session.
        percore::rt::time::sleep(Duration::from_millis(2100)).await;
        assert!(session_keys(&redis).is_empty());
        let resp = percore::client::Client::new()
            .get(client.url("/whoami"))
            .header("cookie", format!("percore.session={value}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.text().await.unwrap(), "nobody");
    });
});

both_drivers!(
    forged_and_unknown_ids_are_new_empty_sessions,
    |d: DriverChoice| {
        let redis = RedisServer::start();
        let key = Key::generate();
        let srv = server(d, &redis, &key, Duration::from_secs(60));
        rt(d).block_on(async {
            let client = srv.client();
            let genuine = login_cookie(&client, "ada").await;
            let bare = percore::client::Client::new();
            let who = |value: String| {
                let bare = bare.clone();
                let url = client.url("/whoami");
                async move {
                    let resp = bare
                        .get(url)
                        .header("cookie", format!("percore.session={value}"))
                        .send()
                        .await
                        .unwrap();
                    (resp.status().as_u16(), resp.text().await.unwrap())
                }
            };
            assert_eq!(who(genuine.clone()).await, (200, "ada".into()));
            let gets = redis.calls("get");
            // Tampered: one character of the id changed, the MAC kept.
            let mut tampered = genuine.clone().into_bytes();
            let last = tampered.len() - 1;
            tampered[last] = if tampered[last] == b'0' { b'1' } else { b'0' };
            assert_eq!(
                who(String::from_utf8(tampered).unwrap()).await,
                (200, "nobody".into())
            );
            // The id alone (no MAC), junk, and an oversized value.
            let id = session_keys(&redis)[0]
                .trim_start_matches("percore:session:")
                .to_string();
            assert_eq!(who(id).await, (200, "nobody".into()));
            assert_eq!(who("junk".into()).await, (200, "nobody".into()));
            assert_eq!(who("A".repeat(3000)).await, (200, "nobody".into()));
            // None of them cost a Redis lookup: the signature failed first.
            assert_eq!(redis.calls("get"), gets);
            // Signed by another key: also refused.
            let other = RedisServer::start();
            let foreign_srv = server(d, &other, &Key::generate(), Duration::from_secs(60));
            let eve = login_cookie(&foreign_srv.client(), "eve").await;
            assert_eq!(who(eve).await, (200, "nobody".into()));
            // A genuine id whose key Redis no longer has (evicted, flushed):
            // a new, empty session, and a login from it gets a new id.
            redis.cli(&["FLUSHALL"]);
            assert_eq!(who(genuine.clone()).await, (200, "nobody".into()));
            let resp = bare
                .post(client.url("/login"))
                .header("cookie", format!("percore.session={genuine}"))
                .form(&[("user", "mallory")])
                .send()
                .await
                .unwrap();
            let set = resp
                .headers()
                .get("set-cookie")
                .unwrap()
                .to_str()
                .unwrap()
                .to_string();
            assert!(
                !set.contains(&genuine),
                "a fresh id, not the unknown one: {set}"
            );
        });
    }
);

both_drivers!(a_lookup_is_one_round_trip, |d: DriverChoice| {
    let redis = RedisServer::start();
    let srv = server(d, &redis, &Key::generate(), Duration::from_secs(60));
    rt(d).block_on(async {
        let client = srv.client();
        assert_eq!(log_in(&client, "ada").await.0, 200);
        let total = |r: &RedisServer| -> u64 {
            r.cli(&["INFO", "commandstats"])
                .lines()
                .filter(|l| l.starts_with("cmdstat_") && !l.starts_with("cmdstat_info:"))
                .filter_map(|l| {
                    l.split("calls=")
                        .nth(1)?
                        .split(',')
                        .next()?
                        .parse::<u64>()
                        .ok()
                })
                .sum()
        };
        let (gets, all) = (redis.calls("get"), total(&redis));
        const N: u64 = 50;
        for _ in 0..N {
            assert_eq!(call(&client, "GET", "/whoami").await, (200, "ada".into()));
        }
        assert_eq!(redis.calls("get") - gets, N, "one GET per request");
        assert_eq!(total(&redis) - all, N, "and no other command");
        // A request without the session cookie costs nothing.
        let all = total(&redis);
        let bare = percore::client::Client::new();
        for _ in 0..10 {
            let r = bare.get(client.url("/whoami")).send().await.unwrap();
            assert_eq!(r.text().await.unwrap(), "nobody");
        }
        assert_eq!(total(&redis), all);
        // A login inside a session (renew): GET, then DEL old + SET new
        // (pipelined by RedisSessionStore::renew), nothing else.
        let (all, dels, sets) = (total(&redis), redis.calls("del"), redis.calls("set"));
        assert_eq!(log_in(&client, "bob").await.0, 200);
        assert_eq!(redis.calls("del") - dels, 1);
        assert_eq!(redis.calls("set") - sets, 1);
        assert_eq!(total(&redis) - all, 3);
    });
});

both_drivers!(
    redis_down_is_a_quick_503_and_back_is_back,
    |d: DriverChoice| {
        let mut redis = RedisServer::start();
        let port = redis.port();
        let srv = server(d, &redis, &Key::generate(), Duration::from_secs(60));
        rt(d).block_on(async {
            let client = srv.client();
            assert_eq!(log_in(&client, "ada").await.0, 200);
            assert_eq!(call(&client, "GET", "/whoami").await, (200, "ada".into()));
            redis.kill();
            for _ in 0..6 {
                let t = Instant::now();
                let resp = client.get("/whoami").send().await.unwrap();
                let took = t.elapsed();
                assert_eq!(resp.status(), 503);
                assert_eq!(resp.headers()["retry-after"], "1");
                assert!(resp
                    .text()
                    .await
                    .unwrap()
                    .contains("session store is unavailable"));
                assert!(took < Duration::from_millis(700), "{took:?}");
                // Logging in needs Redis too.
                assert_eq!(log_in(&client, "bob").await.0, 503);
            }
            // Routes that do not read a session are not affected; the server runs.
            assert_eq!(call(&client, "GET", "/plain").await, (200, "plain".into()));
            redis = RedisServer::on_port(port);
            // Redis came back empty (no persistence): the old session is gone,
            // and everything works again.
            assert_eq!(
                call(&client, "GET", "/whoami").await,
                (200, "nobody".into())
            );
            assert_eq!(log_in(&client, "bob").await, (200, "logged in".into()));
            for _ in 0..4 {
                assert_eq!(call(&client, "GET", "/whoami").await, (200, "bob".into()));
            }
        });
        // A paused Redis (connections open, no answer): a 503 within the
        // command timeout, not a hang.
        rt(d).block_on(async {
            let client = srv.client();
            assert_eq!(log_in(&client, "cy").await.0, 200);
            redis.pause();
            let t = Instant::now();
            let resp = client.get("/whoami").send().await.unwrap();
            assert_eq!(resp.status(), 503);
            assert!(
                t.elapsed() < Duration::from_millis(1500),
                "{:?}",
                t.elapsed()
            );
            redis.resume();
            assert_eq!(call(&client, "GET", "/whoami").await, (200, "cy".into()));
        });
    }
);
