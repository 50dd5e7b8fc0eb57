//! `Subscriber`: a connection in subscribe mode.

use std::io;

use bytes::{Bytes, BytesMut};
use percore_runtime::net::TcpStream;
use percore_runtime::time::timeout;

use crate::conn::{open, read_value};
use crate::resp::{Cmd, Decoder, Value};
use crate::Config;

/// A message published on a channel this subscriber listens to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The channel.
    pub channel: Bytes,
    /// What was published.
    pub payload: Bytes,
}

/// A dedicated connection that `SUBSCRIBE`s to channels and yields what
/// is published on them. If it fails (the server went away), make a new
/// one and subscribe again: messages published meanwhile are lost, as
/// with any Redis subscriber.
///
/// `next_message` reads from the socket: a future of it that is dropped
/// may lose bytes, so drop the subscriber with it.
///
/// ```no_run
/// use percore_redis::{Client, Config, Subscriber};
/// percore_runtime::Runtime::new().unwrap().block_on(async {
///     let config: Config = "redis://127.0.0.1:6379".parse().unwrap();
///     let mut sub = Subscriber::connect(&config).await.unwrap();
///     sub.subscribe(&["news"]).await.unwrap();
///     Client::new(config).publish("news", "hello").await.unwrap();
///     let msg = sub.next_message().await.unwrap();
///     assert_eq!(&msg.payload[..], b"hello");
/// });
/// ```
#[derive(Debug)]
pub struct Subscriber {
    stream: TcpStream,
    dec: Decoder,
    /// Channels asked for and not yet confirmed.
    unconfirmed: usize,
}

impl Subscriber {
    /// Opens a connection (within the config's connect timeout).
    pub async fn connect(config: &Config) -> io::Result<Subscriber> {
        let (stream, dec) = timeout(config.connect_timeout, open(config))
            .await
            .map_err(|_| {
                io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("redis at {}:{}: no connection", config.host, config.port),
                )
            })??;
        Ok(Subscriber {
            stream,
            dec,
            unconfirmed: 0,
        })
    }

    /// Subscribes to `channels` (confirmations are read by `next_message`).
    pub async fn subscribe(&mut self, channels: &[&str]) -> io::Result<()> {
        let mut cmd = Cmd::new("SUBSCRIBE");
        for channel in channels {
            cmd = cmd.arg(channel);
        }
        let mut out = BytesMut::new();
        cmd.encode(&mut out);
        self.stream.write_all(out.freeze()).await.0?;
        self.unconfirmed += channels.len();
        Ok(())
    }

    /// Whether every channel asked for is confirmed.
    pub fn is_confirmed(&self) -> bool {
        self.unconfirmed == 0
    }

    /// Waits until the server has confirmed every subscription: from then
    /// on, everything published on them arrives here.
    pub async fn confirmed(&mut self) -> io::Result<()> {
        while self.unconfirmed > 0 {
            if let Some(msg) = self.next_event().await? {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("redis: a message before the confirmation: {msg:?}"),
                ));
            }
        }
        Ok(())
    }

    /// The next message published on a subscribed channel.
    pub async fn next_message(&mut self) -> io::Result<Message> {
        loop {
            if let Some(msg) = self.next_event().await? {
                return Ok(msg);
            }
        }
    }

    /// A message, or `None` for a confirmation.
    async fn next_event(&mut self) -> io::Result<Option<Message>> {
        let value = read_value(&self.stream, &mut self.dec).await?;
        let bad = |v: &Value| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("redis: not a pub/sub event: {v:?}"),
            )
        };
        let Value::Array(items) = &value else {
            return Err(match value {
                Value::Error(e) => {
                    io::Error::other(format!("redis: {}", String::from_utf8_lossy(&e)))
                }
                v => bad(&v),
            });
        };
        match items.as_slice() {
            [Value::Bulk(kind), Value::Bulk(channel), Value::Bulk(payload)]
                if &kind[..] == b"message" =>
            {
                Ok(Some(Message {
                    channel: channel.clone(),
                    payload: payload.clone(),
                }))
            }
            [Value::Bulk(kind), _, Value::Int(_)] if &kind[..] == b"subscribe" => {
                self.unconfirmed = self.unconfirmed.saturating_sub(1);
                Ok(None)
            }
            _ => Err(bad(&value)),
        }
    }
}
