//! `req.multipart()`: in memory with hostile bodies, and over sockets with
//! curl `-F` uploads on both drivers.

use std::process::Command;

use percore::rt::Runtime;
use percore::test::{post, TestServer};
use percore::web::multipart::MultipartLimits;
use percore::web::{self, App, HttpError, Request, Response};
use percore::{DriverChoice, Limits, Server};

#[macro_use]
#[path = "common/mod.rs"]
mod common;

fn run<T>(f: impl std::future::Future<Output = T>) -> T {
    Runtime::new().unwrap().block_on(f)
}

async fn text(resp: Response) -> String {
    String::from_utf8(resp.into_body().collect().await.unwrap().to_vec()).unwrap()
}

/// Saves file parts into the directory in the app's state under their
/// safe names; lists every part.
async fn upload(mut req: Request) -> Result<String, HttpError> {
    let dir = req.state::<std::path::PathBuf>().cloned().unwrap();
    let mut form = req.multipart_with(
        MultipartLimits::default()
            .max_parts(4)
            .max_part_size(1 << 20),
    )?;
    let mut listing = Vec::new();
    while let Some(mut part) = form.next_part().await? {
        let name = part.name().unwrap_or("?").to_string();
        match part.safe_file_name() {
            Some(file) => {
                let bytes = part.save_to(dir.join(&file)).await?;
                listing.push(format!("{name}: file {file} {bytes}"));
            }
            None => listing.push(format!("{name}={}", part.text().await?)),
        }
    }
    Ok(listing.join("\n"))
}

fn temp_dir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("percore-upload-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn upload_app(dir: std::path::PathBuf) -> App {
    App::new().state(dir).route("/upload", web::post(upload))
}

fn multipart(body: &str) -> http::Request<bytes::Bytes> {
    post("/upload")
        .header("content-type", "multipart/form-data; boundary=XX")
        .body(body.replace('\n', "\r\n"))
}

#[test]
fn fields_and_files_with_hostile_names() {
    let dir = temp_dir("oneshot");
    let app = upload_app(dir.clone());
    run(async {
        let body = "--XX\n\
Content-Disposition: form-data; name=\"title\"\n\
\n\
holiday\n\
--XX\n\
Content-Disposition: form-data; name=\"photo\"; filename=\"../../../etc/passwd\"\n\
Content-Type: image/jpeg\n\
\n\
not really a photo\n\
--XX--\n";
        let resp = app.oneshot(multipart(body)).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(text(resp).await, "title=holiday\nphoto: file passwd 18");
        assert_eq!(
            std::fs::read_to_string(dir.join("passwd")).unwrap(),
            "not really a photo"
        );
    });
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn malformed_or_oversized_bodies_are_400_or_413() {
    let dir = temp_dir("hostile");
    let app = upload_app(dir.clone());
    run(async {
        let cases = [
            (
                "--XX\nContent-Disposition: form-data; name=\"a\"\n\nno closing delimiter",
                400,
                "the body ended before the closing delimiter",
            ),
            (
                "--XX\nX-Other: 1\n\nx\n--XX--",
                400,
                "a part has no Content-Disposition: form-data",
            ),
            (
                "--XXjunk\n\n--XX--",
                400,
                "a delimiter is not followed by a line break",
            ),
        ];
        for (body, status, why) in cases {
            let resp = app.oneshot(multipart(body)).await;
            assert_eq!(resp.status(), status, "{body:?}");
            assert!(text(resp).await.contains(why), "{body:?}");
        }
        let field = "--XX\nContent-Disposition: form-data; name=\"n\"\n\nv\n";
        let five = format!("{}--XX--", field.repeat(5));
        let resp = app.oneshot(multipart(&five)).await;
        assert_eq!(resp.status(), 413);
        assert!(text(resp).await.contains("more parts than max_parts"));
        let four = format!("{}--XX--", field.repeat(4));
        assert_eq!(app.oneshot(multipart(&four)).await.status(), 200);

        let big = format!(
            "--XX\nContent-Disposition: form-data; name=\"f\"; filename=\"big.bin\"\n\n{}\n--XX--",
            "b".repeat((1 << 20) + 1)
        );
        let resp = app.oneshot(multipart(&big)).await;
        assert_eq!(resp.status(), 413);
        assert!(!dir.join("big.bin").exists(), "the partial file is removed");

        let wrong_type = app.oneshot(post("/upload").form("a=1")).await;
        assert_eq!(wrong_type.status(), 415);
        let no_boundary = app
            .oneshot(
                post("/upload")
                    .header("content-type", "multipart/form-data")
                    .empty(),
            )
            .await;
        assert_eq!(
            text(no_boundary).await,
            "multipart/form-data without a boundary\n"
        );
    });
    let _ = std::fs::remove_dir_all(&dir);
}

both_drivers!(curl_uploads_files_to_disk, |d: DriverChoice| {
    let dir = temp_dir(&format!("{d:?}"));
    let source = dir.join("source.bin");
    // Varied bytes: a little more than the parts' 1 MiB limit (the server
    // drains the rest of the upload and curl reads the 413), then within it.
    let data: Vec<u8> = (0..(1u32 << 20) + 100_000)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    std::fs::write(&source, &data).unwrap();
    let saved = dir.join("saved");
    std::fs::create_dir_all(&saved).unwrap();
    let server_dir = saved.clone();
    let srv = TestServer::start_server(
        Server::new(move || upload_app(server_dir.clone()))
            .cores(1)
            .driver(d)
            .limits(Limits::default().max_body_size(8 << 20)),
    );
    let curl = |file_arg: String| {
        let out = Command::new("curl")
            .args([
                "-s",
                "--max-time",
                "30",
                "-w",
                "\n%{http_code}",
                "-F",
                "note=hi there",
                "-F",
            ])
            .arg(file_arg)
            .arg(srv.url("/upload"))
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    let too_big = curl(format!("doc=@{};filename=../escape.bin", source.display()));
    assert!(too_big.ends_with("\n413"), "{too_big}");
    assert!(!saved.join("escape.bin").exists() && !dir.join("escape.bin").exists());

    std::fs::write(&source, &data[..1 << 20]).unwrap();
    let ok = curl(format!("doc=@{};filename=../escape.bin", source.display()));
    assert_eq!(
        ok,
        format!("note=hi there\ndoc: file escape.bin {}\n200", 1 << 20)
    );
    assert_eq!(
        std::fs::read(saved.join("escape.bin")).unwrap(),
        &data[..1 << 20]
    );
    drop(srv);
    let _ = std::fs::remove_dir_all(&dir);
});

/// The session routes of `web_session.rs`, in short, beside `/upload`.
fn session_and_upload_app(key: percore::web::Key, dir: std::path::PathBuf) -> App {
    async fn login(mut req: Request) -> Result<&'static str, HttpError> {
        #[derive(serde::Deserialize)]
        struct Form {
            user: String,
        }
        let form: Form = req.form().await?;
        req.session()?.renew();
        req.session()?.insert("user", form.user)?;
        Ok("welcome")
    }
    async fn whoami(req: Request) -> Result<String, HttpError> {
        Ok(req
            .session()?
            .get("user")
            .unwrap_or_else(|| "nobody".to_string()))
    }
    async fn logout(req: Request) -> Result<&'static str, HttpError> {
        req.session()?.clear();
        Ok("bye")
    }
    upload_app(dir)
        .plugin(percore::web::Sessions::cookie(key))
        .route("/login", web::post(login))
        .route("/whoami", web::get(whoami))
        .route("/logout", web::post(logout))
}

both_drivers!(httpx_keeps_a_session_and_uploads, |d: DriverChoice| {
    let dir = temp_dir(&format!("httpx-{d:?}"));
    let key = percore::web::Key::generate();
    let server_dir = dir.clone();
    let srv = TestServer::start_server(
        Server::new(move || session_and_upload_app(key.clone(), server_dir.clone()))
            .cores(2)
            .driver(d),
    );
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/web_client.py");
    let out = Command::new("timeout")
        .args(["60", "python3", script, &srv.url("")])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "ok",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read(dir.join("notes.txt")).unwrap().len(), 100_000);
    drop(srv);
    let _ = std::fs::remove_dir_all(&dir);
});
