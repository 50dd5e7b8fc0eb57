//! The command line shared by percore's example servers:
//! `--listen ADDR --cores N --driver uring|epoll|auto`.
//!
//! ```
//! use percore::cli::ServerArgs;
//! let args = ServerArgs::parse_from(
//!     ["--listen", "127.0.0.1:9000", "--cores", "2", "--driver", "epoll"].map(String::from),
//!     "127.0.0.1:8080",
//! ).unwrap();
//! assert_eq!(args.listen.port(), 9000);
//! assert_eq!(args.cores, 2);
//! ```

use std::net::SocketAddr;

use percore_runtime::{available_cores, DriverChoice};

/// Parsed server options.
#[derive(Debug, Clone)]
pub struct ServerArgs {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Number of worker cores.
    pub cores: usize,
    /// I/O driver.
    pub driver: DriverChoice,
    /// Arguments this parser did not recognise, for the caller.
    pub rest: Vec<String>,
}

impl ServerArgs {
    /// Parses the process's arguments; prints usage and exits on `--help`
    /// or an invalid value.
    pub fn from_env(default_listen: &str) -> ServerArgs {
        match ServerArgs::parse_from(std::env::args().skip(1), default_listen) {
            Ok(args) => args,
            Err(msg) => {
                eprintln!("{msg}");
                eprintln!("usage: [--listen ADDR] [--cores N] [--driver uring|epoll|auto]");
                std::process::exit(if msg == "help" { 0 } else { 2 });
            }
        }
    }

    /// Parses `args` (without the program name).
    pub fn parse_from(
        args: impl IntoIterator<Item = String>,
        default_listen: &str,
    ) -> Result<ServerArgs, String> {
        let mut out = ServerArgs {
            listen: default_listen
                .parse()
                .map_err(|e| format!("bad default address: {e}"))?,
            cores: available_cores(),
            driver: DriverChoice::Auto,
            rest: Vec::new(),
        };
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let (key, inline) = match arg.split_once('=') {
                Some((k, v)) if k.starts_with("--") => (k.to_string(), Some(v.to_string())),
                _ => (arg.clone(), None),
            };
            let mut value = |name: &str| {
                inline
                    .clone()
                    .or_else(|| args.next())
                    .ok_or_else(|| format!("{name} needs a value"))
            };
            match key.as_str() {
                "--listen" => {
                    let v = value("--listen")?;
                    out.listen = v.parse().map_err(|e| format!("--listen {v}: {e}"))?;
                }
                "--cores" => {
                    let v = value("--cores")?;
                    out.cores = v
                        .parse::<usize>()
                        .ok()
                        .filter(|&n| n > 0)
                        .ok_or_else(|| format!("--cores {v}: expected a positive number"))?;
                }
                "--driver" => out.driver = value("--driver")?.parse()?,
                "-h" | "--help" => return Err("help".into()),
                _ => out.rest.push(arg),
            }
        }
        Ok(out)
    }
}
