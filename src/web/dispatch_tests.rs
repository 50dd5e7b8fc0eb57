//! The metrics and the access log read a `Plain` reply as they read the
//! response it stands for, and leave it `Plain`.

use std::io::Write;
use std::sync::{Arc, Mutex};

use http::header::CONTENT_TYPE;
use http::HeaderValue;
use percore_http::{ConnState, Reply, RequestBody, Service};

use crate::web::test_heads::raw_request;
use crate::web::{get, AccessLog, App, Metrics, Request, Response};

/// What a subscriber wrote.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `hello` as a `Plain` reply, or as a response with the same status and
/// body (and `id` as its `x-request-id`, if any).
fn app(metrics: &Metrics, plain: bool, id: Option<&'static str>) -> App {
    let app = App::new()
        .plugin(metrics.clone())
        .plugin(AccessLog::common());
    if plain {
        return app.route("/x", get(|_r: Request| async { "hello" }));
    }
    app.route(
        "/x",
        get(move |_r: Request| async move {
            let mut resp = Response::new("hello".into());
            let text = HeaderValue::from_static("text/plain; charset=utf-8");
            resp.headers_mut().insert(CONTENT_TYPE, text);
            if let Some(id) = id {
                resp.headers_mut()
                    .insert("x-request-id", HeaderValue::from_static(id));
            }
            resp
        }),
    )
}

/// `app`'s answers to `GET /x` as the server asks for them: without and
/// with the connection's state; whether each was `Plain`.
async fn answers(app: &App) -> [bool; 2] {
    let reply = app
        .call_head(raw_request("GET", "/x"), RequestBody::empty())
        .await;
    let mut conn = ConnState::default();
    let kept = app
        .call_head_in(&mut conn, raw_request("GET", "/x"), RequestBody::empty())
        .await;
    for answer in [&reply, &kept] {
        assert_eq!(answer.status(), 200);
    }
    [reply, kept].map(|r| matches!(r, Reply::Plain(_)))
}

/// The access log's fields `status`, `bytes` and `request_id` (as
/// `name=value`), and its
/// line from the request line on, for each line.
fn logged(out: &Captured) -> Vec<String> {
    let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    text.lines()
        .map(|line| {
            let field = |name: &str| {
                let at = line.find(&format!(" {name}=")).expect(name) + 1;
                line[at..].split(' ').next().unwrap().to_string()
            };
            let clf = &line[line.find("\"GET").expect("a request line")..];
            let clf = clf.split(" method=").next().unwrap();
            [
                field("status"),
                field("bytes"),
                field("request_id"),
                clf.into(),
            ]
            .join(" ")
        })
        .collect()
}

#[test]
fn plain_and_full_answers_are_counted_and_logged_alike_and_plain_stays_plain() {
    let out = Captured::default();
    let writer = out.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let (plain_metrics, full_metrics) = (Metrics::new(), Metrics::new());
    let plain = app(&plain_metrics, true, None);
    let full = app(&full_metrics, false, None);
    let with_id = app(&Metrics::new(), false, Some("rid-7"));
    crate::rt::Runtime::new().unwrap().block_on(async {
        assert_eq!(answers(&plain).await, [true, true], "left plain");
        assert_eq!(answers(&full).await, [false, false]);
        let lines = logged(&out);
        assert_eq!(lines.len(), 4, "{lines:?}");
        let want = "status=200 bytes=5 request_id=- \"GET /x HTTP/1.1\" 200 5";
        assert!(lines.iter().all(|l| l == want), "{lines:?}");
        assert_eq!(plain_metrics.render(), full_metrics.render());
        assert!(plain_metrics
            .render()
            .contains("percore_response_body_bytes_total 10\n"));
        // A response's own `x-request-id` is logged.
        out.0.lock().unwrap().clear();
        answers(&with_id).await;
        let want = "status=200 bytes=5 request_id=rid-7 \"GET /x HTTP/1.1\" 200 5";
        assert_eq!(logged(&out), [want, want]);
    });
}
