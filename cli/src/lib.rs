//! The command-line options percore's programs share, for
//! [clap](https://docs.rs/clap)'s derive API: `--cores N` and
//! `--driver uring|epoll|auto` ([`RuntimeArgs`]), checked while the command
//! line is parsed, so a program refuses a bad value (exit status 2, one
//! `error:` line and the usage) before it binds anything.
//!
//! Only programs depend on this crate; the `percore` library pulls in no
//! command-line code.
//!
//! ```
//! use clap::Parser;
//! use percore_cli::RuntimeArgs;
//! use percore_runtime::DriverChoice;
//!
//! #[derive(Debug, Parser)]
//! #[command(name = "server", version)]
//! struct Args {
//!     /// Address to listen on
//!     #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
//!     listen: std::net::SocketAddr,
//!     #[command(flatten)]
//!     runtime: RuntimeArgs,
//! }
//!
//! // In a program: `let args: Args = percore_cli::parse();`
//! let args: Args = percore_cli::parse_from(["server", "--cores", "1", "--driver", "epoll"]).unwrap();
//! assert_eq!(args.runtime.cores, 1);
//! assert_eq!(DriverChoice::from(args.runtime.driver), DriverChoice::Epoll);
//! // A typo is an error, not a default.
//! let err = percore_cli::parse_from::<Args, _, _>(["server", "--core", "1"]).unwrap_err();
//! assert_eq!(err.exit_code(), 2);
//! ```

#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

use std::ffi::OsString;

use clap::error::{ContextKind, ContextValue};
use clap::{Args, Parser, ValueEnum};
use percore_runtime::{available_cores, DriverChoice};

/// Parses this process's arguments into `P`, or exits: with status 0 after
/// printing `--help` or `--version`, with status 2 after a mistake, printed
/// as one `error:` line (and clap's tip, when it has one), the usage and a
/// pointer to `--help`.
pub fn parse<P: Parser>() -> P {
    parse_from(std::env::args_os()).unwrap_or_else(|err| err.exit())
}

/// Parses `args` (the program name first) into `P`. Unlike clap's own
/// `try_parse_from`, every mistake's error shows the program's usage, not
/// only some of them.
///
/// ```
/// use clap::Parser;
///
/// #[derive(Debug, Parser)]
/// #[command(name = "prog")]
/// struct Args {
///     #[arg(long)]
///     count: u32,
/// }
///
/// let err = percore_cli::parse_from::<Args, _, _>(["prog", "--count", "many"]).unwrap_err();
/// assert!(err.to_string().contains("Usage: prog --count <COUNT>"));
/// ```
pub fn parse_from<P, I, T>(args: I) -> Result<P, clap::Error>
where
    P: Parser,
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    P::try_parse_from(args).map_err(|mut err| {
        // --help and --version "fail" to stdout; only real errors get the usage.
        if err.use_stderr() {
            let mut command = P::command();
            if let Some(tip) = env_tip(&command, &err) {
                let mut tips = match err.get(ContextKind::Suggested) {
                    Some(ContextValue::StyledStrs(tips)) => tips.clone(),
                    _ => Vec::new(),
                };
                tips.push(tip.into());
                err.insert(ContextKind::Suggested, ContextValue::StyledStrs(tips));
            }
            let usage = command.render_usage();
            err.insert(ContextKind::Usage, ContextValue::StyledStr(usage));
        }
        err
    })
}

/// A tip naming the environment variable a refused value came from, since
/// clap's error names only the flag (which the user may not have typed).
fn env_tip(command: &clap::Command, err: &clap::Error) -> Option<String> {
    let (Some(ContextValue::String(arg)), Some(ContextValue::String(value))) = (
        err.get(ContextKind::InvalidArg),
        err.get(ContextKind::InvalidValue),
    ) else {
        return None;
    };
    let var = command
        .get_arguments()
        .find(|a| {
            a.get_long()
                .is_some_and(|long| arg.starts_with(&format!("--{long} ")))
        })?
        .get_env()?;
    (std::env::var_os(var)?.to_str()? == value.as_str()).then(|| {
        format!(
            "the value comes from the environment variable {}",
            var.to_string_lossy()
        )
    })
}

/// `--cores` and `--driver`: how many pinned workers, on which I/O driver.
/// Flatten it into a program's options with `#[command(flatten)]`.
#[derive(Debug, Clone, Args)]
pub struct RuntimeArgs {
    /// Worker threads, one pinned to each core; by default and at most, the
    /// cores this process may use (its CPU affinity mask, as `taskset` sets it)
    #[arg(long, value_name = "N", default_value_t = available_cores(), value_parser = parse_cores)]
    pub cores: usize,

    /// I/O driver; the environment variable PERCORE_DRIVER sets it when
    /// --driver is not given
    #[arg(
        long,
        value_name = "DRIVER",
        value_enum,
        default_value_t = DriverArg::Auto,
        env = "PERCORE_DRIVER",
        ignore_case = true
    )]
    pub driver: DriverArg,
}

/// The `--driver` values, as clap parses and lists them.
///
/// ```
/// use percore_cli::DriverArg;
/// use percore_runtime::DriverChoice;
/// assert_eq!(DriverChoice::from(DriverArg::Uring), DriverChoice::Uring);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DriverArg {
    /// io_uring; the program fails if the kernel refuses it
    #[value(alias = "io_uring", alias = "io-uring")]
    Uring,
    /// epoll
    Epoll,
    /// io_uring, or epoll if the kernel refuses it
    Auto,
}

impl From<DriverArg> for DriverChoice {
    fn from(arg: DriverArg) -> DriverChoice {
        match arg {
            DriverArg::Uring => DriverChoice::Uring,
            DriverArg::Epoll => DriverChoice::Epoll,
            DriverArg::Auto => DriverChoice::Auto,
        }
    }
}

/// Parses a number of cores: at least 1, at most [`available_cores`].
/// The `value_parser` of `--cores`, for programs that declare their own.
///
/// ```
/// assert_eq!(percore_cli::parse_cores("1"), Ok(1));
/// assert!(percore_cli::parse_cores("0").is_err());
/// ```
pub fn parse_cores(value: &str) -> Result<usize, String> {
    let allowed = available_cores();
    let cores: usize = value
        .parse()
        .map_err(|_| format!("{value:?} is not a number of cores"))?;
    if cores == 0 {
        return Err("at least 1 core is needed".into());
    }
    if cores > allowed {
        return Err(format!(
            "this process may use {allowed} core{} (its CPU affinity mask)",
            if allowed == 1 { "" } else { "s" }
        ));
    }
    Ok(cores)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::error::ErrorKind;
    use clap::Parser;

    #[derive(Debug, Parser)]
    #[command(name = "prog")]
    struct Prog {
        #[command(flatten)]
        runtime: RuntimeArgs,
    }

    fn parse(args: &[&str]) -> Result<Prog, clap::Error> {
        parse_from(std::iter::once("prog").chain(args.iter().copied()))
    }

    #[test]
    fn cores_must_be_between_one_and_the_allowed_cores() {
        let allowed = available_cores();
        assert_eq!(parse_cores(&allowed.to_string()), Ok(allowed));
        assert_eq!(parse_cores("1"), Ok(1));
        let err = parse_cores(&(allowed + 1).to_string()).unwrap_err();
        assert!(err.contains(&format!("may use {allowed} core")), "{err}");
        assert_eq!(parse_cores("0").unwrap_err(), "at least 1 core is needed");
        for bad in ["", "-1", "two", "1.5", " 1", "99999999999999999999999"] {
            assert!(parse_cores(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn defaults_are_every_allowed_core_and_auto() {
        let args = parse(&[]).unwrap();
        assert_eq!(args.runtime.cores, available_cores());
        // PERCORE_DRIVER may be set around the test run; only check it is honoured.
        let expected = match std::env::var("PERCORE_DRIVER") {
            Ok(v) => DriverArg::from_str(&v, true).unwrap(),
            Err(_) => DriverArg::Auto,
        };
        assert_eq!(args.runtime.driver, expected);
    }

    #[test]
    fn drivers_parse_with_aliases_and_any_case() {
        for (text, want) in [
            ("uring", DriverArg::Uring),
            ("io_uring", DriverArg::Uring),
            ("io-uring", DriverArg::Uring),
            ("EPOLL", DriverArg::Epoll),
            ("auto", DriverArg::Auto),
        ] {
            assert_eq!(parse(&["--driver", text]).unwrap().runtime.driver, want);
            let inline = format!("--driver={text}");
            assert_eq!(parse(&[&inline]).unwrap().runtime.driver, want);
        }
    }

    #[test]
    fn mistakes_are_errors() {
        for (args, kind) in [
            (&["--driver", "kqueue"][..], ErrorKind::InvalidValue),
            (&["--driver"][..], ErrorKind::InvalidValue),
            (&["--cores", "0"][..], ErrorKind::ValueValidation),
            (&["--cores"][..], ErrorKind::InvalidValue),
            (&["--core", "1"][..], ErrorKind::UnknownArgument),
            (&["stray"][..], ErrorKind::UnknownArgument),
        ] {
            let err = parse(args).unwrap_err();
            assert_eq!(err.kind(), kind, "{args:?}: {err}");
            assert_eq!(err.exit_code(), 2, "{args:?}");
            let text = err.to_string();
            assert!(text.starts_with("error: "), "{text}");
            assert_eq!(text.matches("Usage: prog [OPTIONS]").count(), 1, "{text}");
        }
    }

    #[test]
    fn help_and_version_are_not_errors() {
        for flag in ["--help", "-h"] {
            let err = parse(&[flag]).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::DisplayHelp);
            assert_eq!(err.exit_code(), 0);
        }
    }
}
