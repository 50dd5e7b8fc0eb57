//! Two demo processes started with the same `--redis` and `--secret`
//! share logins (curl with one cookie jar) and chat lines (Python
//! `websockets` members on each), through one real redis-server; both
//! drivers. Run `cargo build --example demo` first (`cargo test` does).

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use percore::DriverChoice;

#[macro_use]
#[path = "common/mod.rs"]
mod common;
use common::{example_binary, listening_addr, run, start_listening, stdout, Running};

#[path = "../redis/tests/support/mod.rs"]
mod redis_support;
use redis_support::RedisServer;

const SECRET: &str = "the-demo-secret-shared-by-both-processes";

fn driver_name(d: DriverChoice) -> &'static str {
    match d {
        DriverChoice::Epoll => "epoll",
        _ => "uring",
    }
}

/// A demo process on a free port with `--redis` and `--secret`.
fn demo(d: DriverChoice, redis: &RedisServer) -> (Running, SocketAddr) {
    let (running, line) = start_listening(Command::new(example_binary("demo")).args([
        "--listen",
        "127.0.0.1:0",
        "--cores",
        "2",
        "--driver",
        driver_name(d),
        "--redis",
        &redis.url(),
        "--secret",
        SECRET,
    ]));
    (running, listening_addr(&line))
}

/// curl with the cookie jar `jar`: (status, body).
fn curl(jar: &Path, args: &[&str]) -> (u16, String) {
    let jar = jar.to_str().unwrap();
    let out = run(Command::new("curl")
        .args(["-s", "-b", jar, "-c", jar, "-w", "\n%{http_code}"])
        .args(args));
    let text = stdout(&out);
    let (body, status) = text.rsplit_once('\n').unwrap();
    (status.parse().unwrap(), body.trim_end().to_string())
}

/// Waits until `n` processes have subscribed to the chat channel.
fn wait_subscribers(redis: &RedisServer, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = redis.cli(&["PUBSUB", "NUMSUB", "percore:demo:chat"]);
        if out.lines().nth(1) == Some(&n.to_string()) {
            return;
        }
        assert!(Instant::now() < deadline, "subscribers: {out:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

both_drivers!(two_processes_share_logins_and_chat, |d: DriverChoice| {
    let redis = RedisServer::start();
    let (_a, a) = demo(d, &redis);
    let (_b, b) = demo(d, &redis);
    let url = |addr: SocketAddr, path: &str| format!("http://{addr}{path}");
    let jar = std::env::temp_dir().join(format!(
        "percore-demo-redis-{}-{}.txt",
        std::process::id(),
        driver_name(d)
    ));
    let _ = std::fs::remove_file(&jar);

    // Log in on A; B knows the user (cookies ignore the port: one jar).
    assert_eq!(curl(&jar, &[&url(b, "/whoami")]).0, 401);
    assert_eq!(
        curl(&jar, &["-d", "user=ada", &url(a, "/login")]),
        (200, "logged in as ada".into())
    );
    for _ in 0..3 {
        assert_eq!(curl(&jar, &[&url(b, "/whoami")]), (200, "ada".into()));
        assert_eq!(curl(&jar, &[&url(a, "/whoami")]), (200, "ada".into()));
    }
    assert_eq!(redis.cli(&["KEYS", "percore:session:*"]).lines().count(), 1);
    // Log out on B; A forgets the user too.
    assert_eq!(curl(&jar, &["-X", "POST", &url(b, "/logout")]).0, 200);
    assert_eq!(curl(&jar, &[&url(a, "/whoami")]).0, 401);
    assert_eq!(redis.cli(&["KEYS", "percore:session:*"]), "");
    let _ = std::fs::remove_file(&jar);

    // Chat: members on both processes see every line once.
    wait_subscribers(&redis, 2);
    let out = run(Command::new("python3").args([
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/chat_bridge.py"),
        &format!("ws://{a}/chat"),
        &format!("ws://{b}/chat"),
    ]));
    assert_eq!(stdout(&out).trim(), "ok");
});

both_drivers!(
    redis_away_is_a_503_for_logins_and_local_chat_goes_on,
    |d: DriverChoice| {
        let mut redis = RedisServer::start();
        let port = redis.port();
        let (_a, a) = demo(d, &redis);
        let jar = std::env::temp_dir().join(format!(
            "percore-demo-redis-down-{}-{}.txt",
            std::process::id(),
            driver_name(d)
        ));
        let _ = std::fs::remove_file(&jar);
        let login = format!("http://{a}/login");
        let whoami = format!("http://{a}/whoami");
        assert_eq!(curl(&jar, &["-d", "user=ada", &login]).0, 200);
        redis.kill();
        let t = Instant::now();
        assert_eq!(curl(&jar, &[&whoami]).0, 503);
        assert_eq!(curl(&jar, &["-d", "user=bob", &login]).0, 503);
        assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
        // The other routes, and the chat within this process, still work.
        assert_eq!(
            curl(&jar, &[&format!("http://{a}/plaintext")]),
            (200, "Hello, World!".into())
        );
        let out = run(Command::new("python3").args([
            concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/chat_bridge.py"),
            &format!("ws://{a}/chat"),
            &format!("ws://{a}/chat"),
        ]));
        assert_eq!(stdout(&out).trim(), "ok");
        // Redis back (empty): logins work again, and the bridge resubscribes.
        redis = RedisServer::on_port(port);
        assert_eq!(
            curl(&jar, &["-d", "user=bob", &login]),
            (200, "logged in as bob".into())
        );
        assert_eq!(curl(&jar, &[&whoami]), (200, "bob".into()));
        wait_subscribers(&redis, 1);
        let _ = std::fs::remove_file(&jar);
    }
);
