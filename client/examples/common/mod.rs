//! What the client's examples share: their command-line arguments.

use percore_runtime::DriverChoice;

/// The value after `name` on the command line.
pub fn arg(name: &str) -> Option<String> {
    let mut args = std::env::args();
    while let Some(a) = args.next() {
        if a == name {
            return args.next();
        }
    }
    None
}

/// The driver `--driver` names (`epoll`, `uring`), else the runtime's choice.
pub fn driver() -> DriverChoice {
    match arg("--driver").as_deref() {
        Some("epoll") => DriverChoice::Epoll,
        Some("uring") => DriverChoice::Uring,
        _ => DriverChoice::Auto,
    }
}
