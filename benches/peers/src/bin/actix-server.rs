//! actix-web 4 serving the demo's routes (`/plaintext`, `/json`,
//! `POST /echo`, `/ws` echo with actix-ws; HTTP/1.1 and h2c), written the way
//! actix's examples do it: `HttpServer` with one worker per core.

use actix_web::http::header::ContentType;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use actix_ws::Message;
use bytes::Bytes;

async fn plaintext() -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::plaintext())
        .body("Hello, World!")
}

async fn json() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"message": "Hello, World!"}))
}

async fn echo(req: HttpRequest, body: Bytes) -> HttpResponse {
    let mut resp = HttpResponse::Ok();
    if let Some(ct) = req.headers().get("content-type") {
        resp.insert_header(("content-type", ct.clone()));
    }
    resp.body(body)
}

async fn ws(req: HttpRequest, body: web::Payload) -> actix_web::Result<HttpResponse> {
    let (response, mut session, stream) = actix_ws::handle(&req, body)?;
    let mut stream = stream.max_frame_size(64 << 20);
    actix_web::rt::spawn(async move {
        while let Some(Ok(msg)) = stream.recv().await {
            let sent = match msg {
                Message::Text(t) => session.text(t).await,
                Message::Binary(b) => session.binary(b).await,
                Message::Ping(p) => session.pong(&p).await,
                Message::Close(reason) => {
                    let _ = session.close(reason).await;
                    return;
                }
                _ => Ok(()),
            };
            if sent.is_err() {
                return;
            }
        }
    });
    Ok(response)
}

fn main() -> std::io::Result<()> {
    let a = percore_bench_peers::args("127.0.0.1:8080");
    let addr = a.listen;
    let cores = a.cores;
    actix_web::rt::System::new().block_on(async move {
        let server = HttpServer::new(|| {
            App::new()
                .app_data(web::PayloadConfig::new(64 << 20))
                .route("/plaintext", web::get().to(plaintext))
                .route("/json", web::get().to(json))
                .route("/echo", web::post().to(echo))
                .route("/ws", web::get().to(ws))
        })
        .workers(cores)
        .on_connect(|conn, _| {
            if let Some(tcp) = conn.downcast_ref::<actix_web::rt::net::TcpStream>() {
                let _ = tcp.set_nodelay(true);
            }
        })
        .bind_auto_h2c(addr)?;
        println!("listening on {addr} (cores: {cores}, actix-web)");
        server.run().await
    })
}
