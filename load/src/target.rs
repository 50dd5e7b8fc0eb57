//! The target URL: where to connect, the `Host`/`:authority`, the path.

use std::net::{SocketAddr, ToSocketAddrs};

use http::Uri;

/// A parsed, resolved target.
#[derive(Debug, Clone)]
pub struct Target {
    /// Resolved once, before the run (the first address).
    pub addr: SocketAddr,
    /// `host[:port]` as written in the URL.
    pub authority: String,
    /// Path and query (`/` when the URL has none).
    pub path: String,
    /// The host as written, without brackets: the TLS server name.
    pub host: String,
    /// `https://` or `wss://`: TLS over the connection.
    pub tls: bool,
}

impl Target {
    /// Parses `url` (`http://` or `https://`; when `ws`, also `ws://` or
    /// `wss://`) and resolves its host.
    pub fn parse(url: &str, ws: bool) -> Result<Target, String> {
        let uri: Uri = url.parse().map_err(|e| format!("{url:?}: {e}"))?;
        let tls = match uri.scheme_str().unwrap_or("") {
            "http" => false,
            "https" => true,
            "ws" if ws => false,
            "wss" if ws => true,
            _ => {
                let want = if ws {
                    "ws://, wss://, http:// or https://"
                } else {
                    "http:// or https://"
                };
                return Err(format!("{url:?}: the URL must start with {want}"));
            }
        };
        let authority = uri.authority().ok_or_else(|| format!("{url:?}: no host"))?;
        let port = authority.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let host = authority.host().trim_matches(['[', ']']).to_string();
        let addr = (host.as_str(), port)
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve {}: {e}", authority.host()))?
            .next()
            .ok_or_else(|| format!("{} has no address", authority.host()))?;
        let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
        Ok(Target {
            addr,
            authority: authority.as_str().to_string(),
            path: if path.is_empty() { "/".into() } else { path },
            host,
            tls,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_http_and_ws() {
        let t = Target::parse("http://127.0.0.1:8080/a?b=1", false).unwrap();
        assert_eq!(t.addr, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(t.authority, "127.0.0.1:8080");
        assert_eq!(t.path, "/a?b=1");
        let t = Target::parse("ws://127.0.0.1:9/ws", true).unwrap();
        assert_eq!(t.path, "/ws");
        assert_eq!(
            Target::parse("http://127.0.0.1", false)
                .unwrap()
                .addr
                .port(),
            80
        );
    }

    #[test]
    fn https_and_wss_mean_tls() {
        let t = Target::parse("https://127.0.0.1/x", false).unwrap();
        assert!(t.tls);
        assert_eq!(t.addr.port(), 443);
        assert_eq!(t.host, "127.0.0.1");
        let t = Target::parse("wss://[::1]:8443/ws", true).unwrap();
        assert!(t.tls);
        assert_eq!(t.host, "::1");
        assert_eq!(t.addr, "[::1]:8443".parse().unwrap());
        assert!(!Target::parse("http://127.0.0.1:1/", false).unwrap().tls);
    }

    #[test]
    fn refuses_other_schemes() {
        assert!(Target::parse("ftp://127.0.0.1/", false).is_err());
        assert!(Target::parse("ws://127.0.0.1/", false).is_err());
        assert!(Target::parse("wss://127.0.0.1/", false).is_err());
        assert!(Target::parse("127.0.0.1:80", false).is_err());
    }
}
