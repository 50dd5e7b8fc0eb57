//! How a ring is set up: the best task-work flags the kernel accepts.

use std::io;

use io_uring::IoUring;

/// How a ring is set up, best first. Each runtime's ring is used by its own
/// thread only, which every setup below relies on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Setup {
    /// `SINGLE_ISSUER | DEFER_TASKRUN | TASKRUN_FLAG` (Linux 6.1): completion
    /// work runs only when the thread enters the ring to reap, never by
    /// interrupting it; `TASKRUN_FLAG` tells a busy loop when to enter.
    DeferTaskrun,
    /// `SINGLE_ISSUER | COOP_TASKRUN | TASKRUN_FLAG` (Linux 6.0): completion
    /// work runs at the next syscall instead of an interrupt.
    CoopTaskrun,
    /// No optional flags.
    Plain,
}

impl Setup {
    const BEST_FIRST: [Setup; 3] = [Setup::DeferTaskrun, Setup::CoopTaskrun, Setup::Plain];

    /// Parses `defer`, `coop` and `plain` (`PERCORE_URING_SETUP`, for A/B
    /// measurements of the setup flags).
    pub(crate) fn parse(s: &str) -> Option<Setup> {
        match s.trim().to_ascii_lowercase().as_str() {
            "defer" | "defer_taskrun" => Some(Setup::DeferTaskrun),
            "coop" | "coop_taskrun" => Some(Setup::CoopTaskrun),
            "plain" | "none" => Some(Setup::Plain),
            _ => None,
        }
    }

    pub(super) fn build(self, entries: u32) -> io::Result<IoUring> {
        let mut builder = IoUring::builder();
        match self {
            Setup::DeferTaskrun => builder
                .setup_single_issuer()
                .setup_defer_taskrun()
                .setup_taskrun_flag(),
            Setup::CoopTaskrun => builder
                .setup_single_issuer()
                .setup_coop_taskrun()
                .setup_taskrun_flag(),
            Setup::Plain => &mut builder,
        };
        builder.build(entries)
    }
}

/// Builds a ring with the best setup from `best` down that `build` accepts:
/// a kernel too old for a setup's flags refuses it with `EINVAL`, and the
/// next is tried; any other error (no io_uring at all) is returned.
pub(super) fn build_best<R>(
    best: Setup,
    mut build: impl FnMut(Setup) -> io::Result<R>,
) -> io::Result<(R, Setup)> {
    let mut refused = None;
    for setup in Setup::BEST_FIRST.into_iter().filter(|s| *s >= best) {
        match build(setup) {
            Ok(ring) => return Ok((ring, setup)),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => refused = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(refused.expect("at least one setup"))
}

#[cfg(test)]
mod tests {
    use super::super::missing_capability;
    use super::*;
    use io_uring::{opcode, IoUring, Probe};
    use std::io;

    #[test]
    fn a_ring_without_timed_waits_or_an_opcode_is_refused() {
        assert_eq!(missing_capability(true, |_| true), None);
        let no_ext_arg = missing_capability(false, |_| true).unwrap();
        assert!(no_ext_arg.contains("EXT_ARG"), "{no_ext_arg}");
        let no_recv = missing_capability(true, |op| op != opcode::Recv::CODE).unwrap();
        assert_eq!(no_recv, "the kernel lacks io_uring RECV");
    }

    #[test]
    fn the_best_setup_the_kernel_accepts_is_used() {
        let einval = || io::Error::from_raw_os_error(libc::EINVAL);
        let all = build_best(Setup::DeferTaskrun, Ok::<_, io::Error>).unwrap();
        assert_eq!(all, (Setup::DeferTaskrun, Setup::DeferTaskrun));
        let no_defer = build_best(Setup::DeferTaskrun, |s| match s {
            Setup::DeferTaskrun => Err(einval()),
            s => Ok(s),
        });
        assert_eq!(no_defer.unwrap().1, Setup::CoopTaskrun);
        let only_plain = build_best(Setup::DeferTaskrun, |s| match s {
            Setup::Plain => Ok(s),
            _ => Err(einval()),
        });
        assert_eq!(only_plain.unwrap().1, Setup::Plain);
        let none = build_best(Setup::DeferTaskrun, |_| Err::<Setup, _>(einval())).unwrap_err();
        assert_eq!(none.raw_os_error(), Some(libc::EINVAL));
        // No io_uring at all (seccomp, disabled): no fallback within io_uring.
        let mut tried = Vec::new();
        let denied = build_best(Setup::DeferTaskrun, |s| {
            tried.push(s);
            Err::<Setup, _>(io::Error::from_raw_os_error(libc::EPERM))
        });
        assert_eq!(denied.unwrap_err().raw_os_error(), Some(libc::EPERM));
        assert_eq!(tried, [Setup::DeferTaskrun]);
        // A forced weaker setup (PERCORE_URING_SETUP) skips the better ones.
        let mut tried = Vec::new();
        let coop = build_best(Setup::CoopTaskrun, |s| {
            tried.push(s);
            Ok::<_, io::Error>(s)
        });
        assert_eq!(coop.unwrap().1, Setup::CoopTaskrun);
        assert_eq!(tried, [Setup::CoopTaskrun]);
        assert_eq!(Setup::parse("plain"), Some(Setup::Plain));
        assert_eq!(Setup::parse(" DEFER "), Some(Setup::DeferTaskrun));
        assert_eq!(Setup::parse("sqpoll"), None);
    }

    #[test]
    fn this_kernel_defers_task_work_from_linux_6_1() {
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
        let mut parts = release
            .trim()
            .split(['.', '-'])
            .map(|p| p.parse::<u32>().unwrap_or(0));
        let version = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
        // Where io_uring is available at all (not blocked by seccomp).
        if IoUring::new(8).is_ok() && version >= (6, 1) {
            let (_, setup) = build_best(Setup::DeferTaskrun, |s| s.build(8)).unwrap();
            assert_eq!(setup, Setup::DeferTaskrun, "Linux {release}");
        }
    }

    #[test]
    fn this_kernel_has_what_the_runtime_needs() {
        if let Ok(ring) = IoUring::new(8) {
            let mut probe = Probe::new();
            ring.submitter().register_probe(&mut probe).unwrap();
            assert_eq!(
                missing_capability(ring.params().is_feature_ext_arg(), |op| probe
                    .is_supported(op)),
                None
            );
        }
    }
}
