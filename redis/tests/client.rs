//! The client against a real redis-server, on both drivers: commands,
//! pipelines, many commands at once on few connections, error replies,
//! timeouts, a server that dies and comes back, pub/sub.

use std::time::{Duration, Instant};

use percore_redis::{Client, Cmd, Config, Subscriber, Value};
use percore_runtime::{spawn_local, DriverChoice, Runtime};

mod support;
use support::RedisServer;

macro_rules! both_drivers {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[test]
            fn uring() {
                ($body)(DriverChoice::Uring)
            }
            #[test]
            fn epoll() {
                ($body)(DriverChoice::Epoll)
            }
        }
    };
}

fn rt(d: DriverChoice) -> Runtime {
    Runtime::builder().driver(d).build().unwrap()
}

fn config(redis: &RedisServer) -> Config {
    redis
        .url()
        .parse::<Config>()
        .unwrap()
        .command_timeout(Duration::from_millis(500))
}

both_drivers!(commands_and_pipelines, |d| {
    let redis = RedisServer::start();
    rt(d).block_on(async {
        let client = Client::new(config(&redis));
        assert_eq!(client.get("nothing").await.unwrap(), None);
        client
            .set_ex("k", b"v\r\n\0", Duration::from_secs(30))
            .await
            .unwrap();
        assert_eq!(
            client.get("k").await.unwrap().as_deref(),
            Some(&b"v\r\n\0"[..])
        );
        let ttl = client.cmd(&Cmd::new("TTL").arg("k")).await.unwrap();
        assert!(matches!(ttl, Value::Int(1..=30)), "{ttl:?}");
        let replies = client
            .pipeline(&[
                Cmd::new("INCR").arg("n"),
                Cmd::new("HSET").arg("k").arg("f").arg("x"), // WRONGTYPE
                Cmd::new("INCR").arg("n"),
                Cmd::new("LRANGE").arg("none").arg("0").arg("-1"),
            ])
            .await
            .unwrap();
        assert_eq!(replies[0], Value::Int(1));
        assert!(matches!(&replies[1], Value::Error(e) if e.starts_with(b"WRONGTYPE")));
        assert_eq!(replies[2], Value::Int(2));
        assert_eq!(replies[3], Value::Array(vec![]));
        // An error reply is an Err of one command, and the connection goes on.
        let err = client.cmd(&Cmd::new("NOSUCHCOMMAND")).await.unwrap_err();
        assert!(err.to_string().contains("unknown command"), "{err}");
        assert_eq!(client.del("k").await.unwrap(), 1);
        assert_eq!(client.del("k").await.unwrap(), 0);
    });
    // One connection per pool slot, no more.
    let clients = redis.connections_received();
    assert!(clients <= 2 + 3, "{clients} connections"); // + redis-cli's own
});

both_drivers!(many_commands_at_once_share_few_connections, |d| {
    let redis = RedisServer::start();
    rt(d).block_on(async {
        let client = Client::new(config(&redis).pool_size(2));
        let tasks: Vec<_> = (0..500)
            .map(|i| {
                let client = client.clone();
                spawn_local(async move {
                    let key = format!("key{i}");
                    client
                        .set_ex(&key, i.to_string(), Duration::from_secs(30))
                        .await
                        .unwrap();
                    client.get(&key).await.unwrap()
                })
            })
            .collect();
        for (i, t) in tasks.into_iter().enumerate() {
            assert_eq!(t.await.unwrap().unwrap(), i.to_string().as_bytes());
        }
    });
    let connected = redis.connections_received();
    // 2 pooled + redis-cli's PING(s) before and this INFO.
    assert!(connected <= 2 + 10, "{connected} connections");
    assert_eq!(redis.calls("get"), 500);
});

both_drivers!(
    a_dead_server_fails_fast_and_a_restarted_one_is_used_again,
    |d| {
        let mut redis = RedisServer::start();
        let port = redis.port();
        rt(d).block_on(async {
            let client = Client::new(config(&redis));
            client
                .set_ex("a", "1", Duration::from_secs(30))
                .await
                .unwrap();
            redis.kill();
            // The first command may meet the dying connection; all fail, quickly.
            for _ in 0..4 {
                let t = Instant::now();
                assert!(client.get("a").await.is_err());
                assert!(
                    t.elapsed() < Duration::from_millis(400),
                    "{:?}",
                    t.elapsed()
                );
            }
            redis = RedisServer::on_port(port);
            // The old connections are gone: new ones open on demand.
            assert_eq!(client.get("a").await.unwrap(), None);
            client
                .set_ex("a", "2", Duration::from_secs(30))
                .await
                .unwrap();
            assert_eq!(client.get("a").await.unwrap().as_deref(), Some(&b"2"[..]));
        });
        drop(redis);
    }
);

both_drivers!(
    a_silent_server_times_out_and_the_connection_is_replaced,
    |d| {
        let redis = RedisServer::start();
        rt(d).block_on(async {
            let client = Client::new(config(&redis).command_timeout(Duration::from_millis(200)));
            client
                .set_ex("a", "1", Duration::from_secs(30))
                .await
                .unwrap();
            redis.pause();
            let t = Instant::now();
            let err = client.get("a").await.unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::TimedOut, "{err}");
            assert!(
                t.elapsed() < Duration::from_millis(600),
                "{:?}",
                t.elapsed()
            );
            redis.resume();
            for _ in 0..4 {
                assert_eq!(client.get("a").await.unwrap().as_deref(), Some(&b"1"[..]));
            }
        });
    }
);

both_drivers!(nothing_listening_is_an_error_not_a_hang, |d| {
    let port = support::free_port();
    rt(d).block_on(async {
        let config: Config = format!("redis://127.0.0.1:{port}").parse().unwrap();
        let client = Client::new(config);
        let t = Instant::now();
        let err = client.get("x").await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err}");
        assert!(t.elapsed() < Duration::from_millis(500));
    });
});

both_drivers!(passwords_and_databases, |d| {
    let redis = RedisServer::start();
    redis.cli(&["CONFIG", "SET", "requirepass", "s3cret"]);
    rt(d).block_on(async {
        let url = format!("redis://:s3cret@127.0.0.1:{}/3", redis.port());
        let client = Client::new(url.parse().unwrap());
        client
            .set_ex("in3", "yes", Duration::from_secs(30))
            .await
            .unwrap();
        let wrong = format!("redis://:nope@127.0.0.1:{}", redis.port());
        let err = Client::new(wrong.parse().unwrap())
            .get("in3")
            .await
            .unwrap_err();
        assert!(err.to_string().contains("WRONGPASS"), "{err}");
    });
    assert_eq!(redis.cli(&["-a", "s3cret", "-n", "3", "GET", "in3"]), "yes");
});

both_drivers!(publish_and_subscribe, |d| {
    let redis = RedisServer::start();
    rt(d).block_on(async {
        let config = config(&redis);
        let mut sub = Subscriber::connect(&config).await.unwrap();
        sub.subscribe(&["room", "other"]).await.unwrap();
        sub.confirmed().await.unwrap();
        let client = Client::new(config);
        assert_eq!(client.publish("room", "one").await.unwrap(), 1);
        assert_eq!(client.publish("nobody", "x").await.unwrap(), 0);
        assert_eq!(client.publish("other", "two").await.unwrap(), 1);
        let m = sub.next_message().await.unwrap();
        assert_eq!(
            (&m.channel[..], &m.payload[..]),
            (&b"room"[..], &b"one"[..])
        );
        let m = sub.next_message().await.unwrap();
        assert_eq!(
            (&m.channel[..], &m.payload[..]),
            (&b"other"[..], &b"two"[..])
        );
    });
});
