//! Flow-control windows (RFC 9113 §5.2, §6.9): [`SendWindow`] is what we
//! may still send, [`RecvWindow`] what the peer may still send; each type
//! serves a stream and the connection alike.

use crate::h2::frame::MAX_WINDOW_SIZE;

/// The initial flow-control window of RFC 9113 §6.9.2.
pub(super) const DEFAULT_WINDOW: i64 = 65_535;

/// A window grew past 2^31-1 (a FLOW_CONTROL_ERROR, RFC 9113 §6.9.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct WindowOverflow;

/// The peer's window for our DATA: shrinks as we send, grows with its
/// WINDOW_UPDATEs and SETTINGS_INITIAL_WINDOW_SIZE changes. It may go
/// negative when the peer lowers the initial window (RFC 9113 §6.9.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct SendWindow(i64);

impl SendWindow {
    /// A window of `size` bytes.
    pub(super) fn new(size: i64) -> SendWindow {
        SendWindow(size)
    }

    /// The bytes we may send now (zero or less: none).
    pub(super) fn available(self) -> i64 {
        self.0
    }

    /// Whether at least one byte may be sent.
    pub(super) fn is_open(self) -> bool {
        self.0 > 0
    }

    /// `n` bytes of DATA went out.
    pub(super) fn consume(&mut self, n: usize) {
        self.0 -= n as i64;
    }

    /// Adds `delta` (a WINDOW_UPDATE increment, or the change of the
    /// peer's initial window, which may be negative).
    pub(super) fn grow(&mut self, delta: i64) -> Result<(), WindowOverflow> {
        self.0 += delta;
        if self.0 > i64::from(MAX_WINDOW_SIZE) {
            return Err(WindowOverflow);
        }
        Ok(())
    }
}

/// Our window for the peer's DATA. Bytes the application consumed are
/// given back with a WINDOW_UPDATE once half of `target` is due, so a
/// steady body costs one WINDOW_UPDATE per half window, not one per read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RecvWindow {
    /// What the peer may still send before our next WINDOW_UPDATE.
    window: i64,
    /// Bytes consumed but not yet announced.
    unreleased: u32,
    /// The window we keep open.
    target: i64,
}

impl RecvWindow {
    /// A window open to `target` bytes.
    pub(super) fn new(target: i64) -> RecvWindow {
        RecvWindow {
            window: target,
            unreleased: 0,
            target,
        }
    }

    /// The peer sent `n` flow-controlled bytes. Returns `false` when they
    /// overran the window by more than `allowance` (the bytes a peer may
    /// still send under the default window before it saw our SETTINGS).
    pub(super) fn consume(&mut self, n: u32, allowance: i64) -> bool {
        self.window -= i64::from(n);
        self.window + allowance >= 0
    }

    /// `n` consumed bytes are given back: the WINDOW_UPDATE increment to
    /// send once half of the target window is due, else `None`.
    pub(super) fn release(&mut self, n: u32) -> Option<u32> {
        self.unreleased += n;
        if i64::from(self.unreleased) < self.target / 2 {
            return None;
        }
        let increment = self.unreleased;
        self.window += i64::from(increment);
        self.unreleased = 0;
        Some(increment)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recv_window_updates_once_half_the_target_is_consumed() {
        let mut w = RecvWindow::new(100);
        assert!(w.consume(100, 0));
        assert!(!w.consume(1, 0), "the 101st byte overruns the window");
        assert!(w.consume(0, 1), "the allowance covers it");
        assert_eq!(w.release(49), None);
        assert_eq!(w.release(1), Some(50));
        assert_eq!(w.release(50), Some(50));
        assert!(w.consume(99, 0));
    }

    #[test]
    fn send_window_may_go_negative_but_not_past_the_maximum() {
        let mut w = SendWindow::new(10);
        w.consume(10);
        assert!(!w.is_open());
        assert_eq!(w.grow(-5), Ok(()));
        assert_eq!(w.available(), -5);
        assert_eq!(w.grow(6), Ok(()));
        assert!(w.is_open());
        assert_eq!(w.grow(i64::from(MAX_WINDOW_SIZE)), Err(WindowOverflow));
        // Exactly 2^31-1 is a legal window; one more is not.
        let mut w = SendWindow::new(DEFAULT_WINDOW);
        assert_eq!(w.grow(i64::from(MAX_WINDOW_SIZE) - DEFAULT_WINDOW), Ok(()));
        assert_eq!(w.available(), i64::from(MAX_WINDOW_SIZE));
        assert_eq!(w.grow(1), Err(WindowOverflow));
    }
}
