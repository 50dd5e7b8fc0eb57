//! `Config`: where the Redis server is and how long to wait for it.

use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::str::FromStr;
use std::time::Duration;

use crate::resp::RespLimits;

/// Where the server is (`redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]`) and
/// the client's timeouts and limits. `Send` and cheap to clone: make it
/// once, then one [`Client`](crate::Client) per core from it.
///
/// ```
/// use std::time::Duration;
/// use percore_redis::Config;
/// let config: Config = "redis://:secret@127.0.0.1:6380/2".parse().unwrap();
/// assert_eq!(config.host(), "127.0.0.1");
/// assert_eq!(config.port(), 6380);
/// let config = config.command_timeout(Duration::from_millis(500)).pool_size(2);
/// assert!("http://x".parse::<Config>().is_err());
/// # let _ = config;
/// ```
#[derive(Clone, Debug)]
pub struct Config {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) username: Option<String>,
    pub(crate) password: Option<String>,
    pub(crate) db: u32,
    pub(crate) connect_timeout: Duration,
    pub(crate) command_timeout: Duration,
    pub(crate) pool_size: usize,
    pub(crate) limits: RespLimits,
}

impl Config {
    /// The server at `host:port`, database 0, no password, default timeouts
    /// (connect 1 s, command 1 s) and two connections per core.
    pub fn new(host: &str, port: u16) -> Config {
        Config {
            host: host.to_string(),
            port,
            username: None,
            password: None,
            db: 0,
            connect_timeout: Duration::from_secs(1),
            command_timeout: Duration::from_secs(1),
            pool_size: 2,
            limits: RespLimits::default(),
        }
    }

    /// The server's host name or address.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// How long a connection may take to open (and authenticate).
    pub fn connect_timeout(mut self, timeout: Duration) -> Config {
        self.connect_timeout = timeout;
        self
    }

    /// How long a command (or a pipeline) may wait for its reply, the
    /// connection's opening included. A command that times out also closes
    /// its connection: the next one opens a new one.
    pub fn command_timeout(mut self, timeout: Duration) -> Config {
        self.command_timeout = timeout;
        self
    }

    /// Connections per core (at least 1; default 2). Each one carries many
    /// commands at once, written together and answered in order.
    pub fn pool_size(mut self, size: usize) -> Config {
        self.pool_size = size.max(1);
        self
    }

    /// The reply decoder's limits.
    pub fn limits(mut self, limits: RespLimits) -> Config {
        self.limits = limits;
        self
    }

    /// The password (and user) sent with `AUTH` on every new connection.
    pub fn auth(mut self, username: Option<&str>, password: &str) -> Config {
        self.username = username.map(str::to_string);
        self.password = Some(password.to_string());
        self
    }

    /// The database `SELECT`ed on every new connection.
    pub fn db(mut self, db: u32) -> Config {
        self.db = db;
        self
    }

    /// The server's addresses (resolving a name blocks: call it off the
    /// event loop, as [`Client`](crate::Client) does).
    pub(crate) fn resolve(&self) -> io::Result<Vec<SocketAddr>> {
        if let Ok(ip) = self.host.parse::<IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, self.port)]);
        }
        Ok((self.host.as_str(), self.port).to_socket_addrs()?.collect())
    }
}

fn bad(url: &str, why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("bad Redis URL {url:?}: {why} (redis://[[USER]:PASSWORD@]HOST[:PORT][/DB])"),
    )
}

impl FromStr for Config {
    type Err = io::Error;

    fn from_str(url: &str) -> io::Result<Config> {
        let rest = url
            .strip_prefix("redis://")
            .ok_or_else(|| bad(url, "the scheme must be redis://"))?;
        let (authority, db) = match rest.split_once('/') {
            Some((a, "")) => (a, 0),
            Some((a, db)) => (a, db.parse().map_err(|_| bad(url, "bad database number"))?),
            None => (rest, 0),
        };
        let (auth, hostport) = match authority.rsplit_once('@') {
            Some((auth, hp)) => (Some(auth), hp),
            None => (None, authority),
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or_else(|| bad(url, "unclosed '['"))?;
            match after.strip_prefix(':') {
                Some(p) => (host, p),
                None if after.is_empty() => (host, "6379"),
                None => return Err(bad(url, "junk after the address")),
            }
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h, p),
                None => (hostport, "6379"),
            }
        };
        if host.is_empty() {
            return Err(bad(url, "no host"));
        }
        let port = port.parse().map_err(|_| bad(url, "bad port"))?;
        let mut config = Config::new(host, port).db(db);
        if let Some(auth) = auth {
            let (user, password) = match auth.split_once(':') {
                Some(("", pw)) => (None, pw),
                Some((user, pw)) => (Some(user), pw),
                None => (None, auth),
            };
            config = config.auth(user, password);
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let c: Config = "redis://localhost".parse().unwrap();
        assert_eq!((c.host(), c.port(), c.db), ("localhost", 6379, 0));
        let c: Config = "redis://u:p@[::1]:7000/3".parse().unwrap();
        assert_eq!((c.host(), c.port(), c.db), ("::1", 7000, 3));
        assert_eq!(c.username.as_deref(), Some("u"));
        assert_eq!(c.password.as_deref(), Some("p"));
        assert_eq!(c.resolve().unwrap()[0], "[::1]:7000".parse().unwrap());
        let c: Config = "redis://127.0.0.1:1/".parse().unwrap();
        assert_eq!(c.resolve().unwrap()[0], "127.0.0.1:1".parse().unwrap());
        for bad in [
            "127.0.0.1:6379",
            "redis://",
            "redis://:6379",
            "redis://h:port",
            "redis://h:99999",
            "redis://h/x",
            "redis://[::1",
            "redis://[::1]x",
        ] {
            assert!(bad.parse::<Config>().is_err(), "{bad}");
        }
    }
}
