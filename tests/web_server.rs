//! The web layer over real sockets: `percore::test::TestServer` on both
//! drivers, with curl as the client.

use std::process::Command;

use percore::test::TestServer;
use percore::web::{get, post, App, HttpError, Json, Next, Request, Response};
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

/// What a connection that sends `requests` in one write reads back until
/// the server closes it: the bodies of its answers, in order, each with
/// its status.
fn pipelined(srv: &TestServer, requests: &[&str]) -> Vec<(u16, String)> {
    use std::io::{Read, Write};
    let mut sock = std::net::TcpStream::connect(srv.addr()).unwrap();
    sock.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let last = requests.len() - 1;
    let text: String = requests
        .iter()
        .enumerate()
        .map(|(i, path)| {
            let close = if i == last {
                "connection: close\r\n"
            } else {
                ""
            };
            format!("GET {path} HTTP/1.1\r\nhost: t\r\n{close}\r\n")
        })
        .collect();
    sock.write_all(text.as_bytes()).unwrap();
    let mut got = Vec::new();
    sock.read_to_end(&mut got).unwrap();
    let got = String::from_utf8(got).unwrap();
    got.split("HTTP/1.1 ")
        .skip(1)
        .map(|answer| {
            let status = answer[..3].parse().unwrap();
            let (_, body) = answer.split_once("\r\n\r\n").unwrap();
            (status, body.to_string())
        })
        .collect()
}

fn slot_app() -> App {
    async fn a(_req: Request) -> &'static str {
        "a"
    }
    App::new()
        .route("/a", get(a))
        .route(
            "/b",
            get(|req: Request| async move { format!("b{}", req.query_string().unwrap_or("")) }),
        )
        .route(
            "/wait",
            get(|_req: Request| async {
                percore::rt::time::sleep(std::time::Duration::from_millis(2)).await;
                "waited"
            }),
        )
        .route(
            "/boom",
            get(|_req: Request| async {
                panic!("boom");
                #[allow(unreachable_code)]
                "never"
            }),
        )
        .route("/mw", get(a).middleware(tag))
}

// A connection's requests going to one route, then alternating, through a
// handler that waits and one behind middleware: each answered by its own
// handler, in order (the web app reuses the connection's slot for the
// last route's future); a panic answers 500 and closes, and the next
// connection is served.
both_drivers!(
    pipelined_requests_alternating_routes_are_each_answered,
    |d: DriverChoice| {
        let srv = TestServer::start_server(Server::new(slot_app).cores(1).driver(d));
        let order = [
            "/a", "/a", "/b?1", "/a", "/b?2", "/b?3", "/wait", "/wait", "/a", "/mw", "/a", "/wait",
            "/b?4",
        ];
        let answers = pipelined(&srv, &order);
        let want: Vec<(u16, String)> = order
            .iter()
            .map(|path| {
                let body = match *path {
                    "/a" | "/mw" => "a".to_string(),
                    "/wait" => "waited".to_string(),
                    b => format!("b{}", &b[3..]),
                };
                (200, body)
            })
            .collect();
        assert_eq!(answers, want);
        let answers = pipelined(&srv, &["/a", "/boom", "/a"]);
        assert_eq!(answers.len(), 2, "the panic's 500 closes: {answers:?}");
        assert_eq!(answers[0], (200, "a".to_string()));
        assert_eq!(answers[1].0, 500);
        assert_eq!(
            pipelined(&srv, &["/boom?x", "/a"])[0].0,
            500,
            "the same route panics again, from a fresh future"
        );
        assert_eq!(pipelined(&srv, &["/a"]), [(200, "a".to_string())]);
    }
);
