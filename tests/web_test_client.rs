//! `percore::test::TestClient` against a `TestServer`: the cookie jar
//! carries a session, JSON round-trips, a WebSocket echoes; both drivers.

#[macro_use]
mod common;

fn runtime(d: percore::DriverChoice) -> percore::rt::Runtime {
    percore::rt::Runtime::builder()
        .driver(d)
        .build()
        .expect("runtime")
}

use percore::test::TestServer;
use percore::web::{get, post, App, HttpError, Json, Key, Request, Response, Sessions};
use percore::ws::Message;

async fn login(mut req: Request) -> Result<&'static str, HttpError> {
    #[derive(serde::Deserialize)]
    struct Form {
        user: String,
    }
    let form: Form = req.form().await?;
    let session = req.session()?;
    session.renew();
    session.insert("user", form.user)?;
    Ok("ok")
}

async fn whoami(req: Request) -> Result<String, HttpError> {
    req.session()?
        .get("user")
        .ok_or_else(|| HttpError::unauthorized("nobody"))
}

async fn add(mut req: Request) -> Result<Json<serde_json::Value>, HttpError> {
    let nums: Vec<i64> = req.json().await?;
    Ok(Json(serde_json::json!({ "sum": nums.iter().sum::<i64>() })))
}

async fn echo(mut req: Request) -> Response {
    match req.websocket() {
        Ok(upgrade) => upgrade.on_upgrade(|mut ws| async move {
            while let Some(Ok(msg)) = ws.recv().await {
                if matches!(msg, Message::Text(_)) && ws.send(msg).await.is_err() {
                    break;
                }
            }
        }),
        Err(refusal) => percore::web::IntoResponse::into_response(refusal),
    }
}

both_drivers!(test_client_keeps_cookies_json_and_websockets, |d| {
    let key = Key::generate();
    let server = TestServer::start_server(
        percore::Server::new(move || {
            App::new()
                .plugin(Sessions::cookie(key.clone()))
                .route("/login", post(login))
                .route("/whoami", get(whoami))
                .route("/add", post(add))
                .route("/ws", get(echo))
        })
        .cores(1)
        .driver(d),
    );
    runtime(d).block_on(async {
        let client = server.client();
        let resp = client.get("/whoami").send().await.unwrap();
        assert_eq!(resp.status(), 401);
        let resp = client
            .post("/login")
            .form(&[("user", "ada")])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let resp = client.get("/whoami").send().await.unwrap();
        assert_eq!(resp.text().await.unwrap(), "ada");

        let resp = client.post("/add").json(&[1, 2, 39]).send().await.unwrap();
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["sum"], 42);
        let resp = client.post("/add").json(&"nope").send().await.unwrap();
        assert_eq!(resp.status(), 400);

        let mut ws = client.ws("/ws").connect().await.unwrap();
        ws.send(Message::text("hello")).await.unwrap();
        match ws.recv().await {
            Some(Ok(Message::Text(t))) => assert_eq!(t.as_str(), "hello"),
            other => panic!("unexpected {other:?}"),
        }
    });
});
