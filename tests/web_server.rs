//! The web layer over real sockets: `percore::test::TestServer` on both
//! drivers, with curl as the client.

use std::process::Command;

use percore::test::TestServer;
use percore::web::{post, App, HttpError, Json, Next, Request, Response};
use percore::{DriverChoice, Limits, Server};

#[macro_use]
#[path = "common/mod.rs"]
mod common;

/// `curl -s` with `args`: (status, body).
fn curl(args: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-s", "--max-time", "20", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl runs");
    let text = String::from_utf8(out.stdout).unwrap();
    let (body, status) = text.rsplit_once('\n').unwrap();
    (status.parse().unwrap_or(0), body.to_string())
}

#[derive(serde::Deserialize, serde::Serialize)]
struct Note {
    text: String,
}

async fn add_note(mut req: Request) -> Result<Json<Note>, HttpError> {
    Ok(Json(req.json::<Note>().await?))
}

async fn tag(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    resp.headers_mut().insert("x-api", "1".parse().unwrap());
    resp
}

fn notes_app() -> App {
    App::new().nest(
        "/api",
        App::new().middleware(tag).route("/notes", post(add_note)),
    )
}

fn notes_server(d: DriverChoice) -> TestServer {
    let limits = Limits::default().max_body_size(1024);
    TestServer::start_server(Server::new(notes_app).cores(1).driver(d).limits(limits))
}

both_drivers!(
    json_bodies_are_decoded_limited_and_typed,
    |d: DriverChoice| {
        let srv = notes_server(d);
        let url = srv.url("/api/notes");
        let json = ["-H", "content-type: application/json"];
        let (status, body) = curl(&[&json[..], &["-d", r#"{"text":"hi"}"#, &url]].concat());
        assert_eq!((status, body.as_str()), (200, r#"{"text":"hi"}"#));
        let big = format!(r#"{{"text":"{}"}}"#, "x".repeat(2000));
        let (status, _) = curl(&[&json[..], &["-d", &big, &url]].concat());
        assert_eq!(status, 413, "beyond Limits::max_body_size");
        let (status, body) = curl(&[&json[..], &["-d", r#"{"txt":"hi"}"#, &url]].concat());
        assert_eq!(status, 400);
        assert!(body.contains("missing field `text`"), "{body}");
        let (status, _) = curl(&["-d", r#"{"text":"hi"}"#, &url]);
        assert_eq!(status, 415, "curl -d sends a form type");
    }
);

both_drivers!(nested_middleware_runs_over_the_socket, |d: DriverChoice| {
    let srv = notes_server(d);
    let out = Command::new("curl")
        .args(["-s", "-i", "-H", "content-type: application/json"])
        .args(["-d", r#"{"text":"x"}"#, &srv.url("/api/notes")])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_lowercase();
    assert!(text.contains("x-api: 1"), "{text}");
    let (status, _) = curl(&[&srv.url("/notes")]);
    assert_eq!(status, 404);
});
