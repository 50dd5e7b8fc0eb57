//! Opening a connection: TCP (names resolved off the event loop), then
//! `AUTH` and `SELECT` when the [`Config`] asks for them.

use std::io;

use bytes::BytesMut;
use percore_runtime::net::TcpStream;
use percore_runtime::spawn_blocking;

use crate::resp::{Cmd, Decoder, Value};
use crate::Config;

/// How much one read asks for.
pub(crate) const READ_CHUNK: usize = 16 << 10;

/// A connected, authenticated stream and the decoder holding any bytes
/// read past the handshake's replies.
pub(crate) async fn open(config: &Config) -> io::Result<(TcpStream, Decoder)> {
    let addrs = if config.host.parse::<std::net::IpAddr>().is_ok() {
        config.resolve()?
    } else {
        let c = config.clone();
        spawn_blocking(move || c.resolve())
            .await
            .map_err(|e| io::Error::other(format!("resolving {}: {e:?}", config.host)))??
    };
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => {
                stream.set_nodelay(true)?;
                let mut dec = Decoder::new(config.limits);
                handshake(&stream, &mut dec, config).await?;
                return Ok((stream, dec));
            }
            Err(e) => last = e,
        }
    }
    Err(io::Error::new(
        last.kind(),
        format!("redis at {}:{}: {last}", config.host, config.port),
    ))
}

async fn handshake(stream: &TcpStream, dec: &mut Decoder, config: &Config) -> io::Result<()> {
    let mut cmds = Vec::new();
    if let Some(password) = &config.password {
        let mut auth = Cmd::new("AUTH");
        if let Some(user) = &config.username {
            auth = auth.arg(user);
        }
        cmds.push(auth.arg(password));
    }
    if config.db != 0 {
        cmds.push(Cmd::new("SELECT").arg(config.db.to_string()));
    }
    if cmds.is_empty() {
        return Ok(());
    }
    let mut out = BytesMut::new();
    for cmd in &cmds {
        cmd.encode(&mut out);
    }
    stream.write_all(out.freeze()).await.0?;
    for _ in &cmds {
        crate::check(read_value(stream, dec).await?)?;
    }
    Ok(())
}

/// The next value from `stream`: what `dec` holds, or more bytes read.
pub(crate) async fn read_value(stream: &TcpStream, dec: &mut Decoder) -> io::Result<Value> {
    let mut buf = Vec::with_capacity(READ_CHUNK);
    loop {
        if let Some(value) = dec.decode()? {
            return Ok(value);
        }
        buf.clear();
        let (res, b) = stream.read(buf).await;
        buf = b;
        match res? {
            0 => return Err(closed()),
            n => dec.feed(&buf[..n])?,
        }
    }
}

/// The error of a connection the server closed.
pub(crate) fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "redis closed the connection")
}
