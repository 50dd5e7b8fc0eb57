//! The counters behind the attack limits of [`Limits`]: rapid reset
//! (CVE-2023-44487), stream errors we answer, empty DATA frames, and
//! SETTINGS/PING floods. Every limit is checked here and nowhere else.

use crate::h2::{ErrorCode, H2Error};
use crate::Limits;

/// Attack counters of one connection, with their limits.
#[derive(Debug, Clone)]
pub(super) struct Counts {
    limits: CountLimits,
    /// Streams the peer reset before we finished them, minus streams that
    /// completed since (each earns one credit back).
    peer_resets_pending: u32,
    /// Stream errors we answered with RST_STREAM.
    local_error_resets: u32,
    /// DATA frames with neither bytes nor END_STREAM.
    empty_data_frames: u32,
    /// SETTINGS and PING ACKs owed since the output was last drained.
    acks_queued: u32,
}

#[derive(Debug, Clone, Copy)]
struct CountLimits {
    pending_resets: u32,
    local_error_resets: u32,
    empty_data_frames: u32,
    pending_acks: u32,
}

fn calm_down(reason: &'static str) -> H2Error {
    H2Error::connection(ErrorCode::EnhanceYourCalm, reason)
}

impl Counts {
    pub(super) fn new(limits: &Limits) -> Counts {
        Counts {
            limits: CountLimits {
                pending_resets: limits.h2_max_pending_resets,
                local_error_resets: limits.h2_max_local_error_resets,
                empty_data_frames: limits.h2_max_empty_data_frames,
                pending_acks: limits.h2_max_pending_acks,
            },
            peer_resets_pending: 0,
            local_error_resets: 0,
            empty_data_frames: 0,
            acks_queued: 0,
        }
    }

    /// The peer reset a stream we had not finished answering.
    pub(super) fn peer_reset(&mut self) -> Result<(), H2Error> {
        self.peer_resets_pending += 1;
        if self.peer_resets_pending > self.limits.pending_resets {
            return Err(calm_down("too many streams reset"));
        }
        Ok(())
    }

    /// A stream completed: it earns back one rapid-reset credit.
    pub(super) fn stream_completed(&mut self) {
        self.peer_resets_pending = self.peer_resets_pending.saturating_sub(1);
    }

    /// We answer a stream error with RST_STREAM.
    pub(super) fn local_error_reset(&mut self) -> Result<(), H2Error> {
        self.local_error_resets += 1;
        if self.local_error_resets > self.limits.local_error_resets {
            return Err(calm_down("too many stream errors"));
        }
        Ok(())
    }

    /// A DATA frame carried nothing and did not end its stream.
    pub(super) fn empty_data_frame(&mut self) -> Result<(), H2Error> {
        self.empty_data_frames += 1;
        if self.empty_data_frames > self.limits.empty_data_frames {
            return Err(calm_down("too many empty DATA frames"));
        }
        Ok(())
    }

    /// A SETTINGS ACK or PING ACK is owed: refuse a flood of them.
    pub(super) fn ack_owed(&mut self) -> Result<(), H2Error> {
        self.acks_queued += 1;
        if self.acks_queued > self.limits.pending_acks {
            return Err(calm_down("too many unanswered SETTINGS/PING"));
        }
        Ok(())
    }

    /// The output was handed to the driver: the owed ACKs are on their way.
    pub(super) fn output_drained(&mut self) {
        self.acks_queued = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_counter_trips_past_its_limit() {
        let limits = Limits {
            h2_max_pending_resets: 1,
            h2_max_local_error_resets: 1,
            h2_max_empty_data_frames: 1,
            h2_max_pending_acks: 1,
            ..Limits::default()
        };
        let mut c = Counts::new(&limits);
        assert!(c.peer_reset().is_ok());
        c.stream_completed();
        assert!(
            c.peer_reset().is_ok(),
            "a completed stream gave a credit back"
        );
        assert!(c.peer_reset().is_err());
        assert!(c.local_error_reset().is_ok());
        assert!(c.local_error_reset().is_err());
        assert!(c.empty_data_frame().is_ok());
        assert!(c.empty_data_frame().is_err());
        assert!(c.ack_owed().is_ok());
        c.output_drained();
        assert!(c.ack_owed().is_ok());
        assert!(c.ack_owed().is_err());
    }
}
