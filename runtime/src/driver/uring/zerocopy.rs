//! Zero-copy sends (`IORING_OP_SEND_ZC`, Linux 6.0; `IORING_OP_SENDMSG_ZC`,
//! 6.1): the kernel sends from the caller's pages instead of copying them,
//! and posts two completions: the result (with `IORING_CQE_F_MORE`), then a
//! notification (`IORING_CQE_F_NOTIF`) once it no longer references the
//! pages (for TCP: once the bytes are acknowledged). An operation is done,
//! for its owner and for its buffers, only at the notification: the result
//! waits in the slot meanwhile (`OpState::Sent`), and an owner that goes
//! away hands its buffers to the driver as for any operation, freed at the
//! notification. On loopback the kernel copies the pages when it delivers
//! them to the local socket.

use std::task::Waker;

use io_uring::{cqueue, opcode, Probe};

use super::{OpState, Orphan};

/// Whether the kernel has both zero-copy send opcodes.
pub(super) fn probed(probe: &Probe) -> bool {
    probe.is_supported(opcode::SendZc::CODE) && probe.is_supported(opcode::SendMsgZc::CODE)
}

/// What a completion does to a single-shot operation in `state`.
pub(super) enum Step {
    /// The operation is done: wake its owner.
    Done(Option<Waker>),
    /// An orphaned operation is done: remove its slot (left `Pending`) and
    /// run its clean-up with the result.
    Orphan(Orphan, i32),
    /// Nothing to do yet (a result waits for its notification).
    Wait,
}

/// Routes one completion of a single-shot operation: a zero-copy send's
/// result (flag `MORE`) waits for its notification (flag `NOTIF`); any
/// other completion finishes the operation. `notifications` counts the
/// notifications seen.
pub(super) fn complete(state: &mut OpState, cqe: &cqueue::Entry, notifications: &mut u64) -> Step {
    let flags = cqe.flags();
    let notif = cqueue::notif(flags);
    let more = !notif && cqueue::more(flags);
    if notif {
        *notifications += 1;
    }
    match state {
        OpState::Pending(waker) if more => {
            let waker = waker.take();
            *state = OpState::Sent {
                result: cqe.result(),
                waker,
            };
            Step::Wait
        }
        OpState::Pending(waker) => {
            let waker = waker.take();
            *state = OpState::Done {
                result: cqe.result(),
                flags,
            };
            Step::Done(waker)
        }
        OpState::Sent { result, waker } if notif => {
            let waker = waker.take();
            *state = OpState::Done {
                result: *result,
                flags: 0,
            };
            Step::Done(waker)
        }
        OpState::Orphaned(_) if more => {
            // The result of an orphaned zero-copy send: the buffers stay
            // until the notification.
            if let OpState::Orphaned(orphan) = std::mem::replace(state, OpState::Pending(None)) {
                *state = OpState::SentOrphaned(orphan, cqe.result());
            }
            Step::Wait
        }
        OpState::Orphaned(_) => match std::mem::replace(state, OpState::Pending(None)) {
            OpState::Orphaned(orphan) => Step::Orphan(orphan, cqe.result()),
            _ => Step::Wait,
        },
        OpState::SentOrphaned(..) if notif => {
            match std::mem::replace(state, OpState::Pending(None)) {
                OpState::SentOrphaned(orphan, result) => Step::Orphan(orphan, result),
                _ => Step::Wait,
            }
        }
        _ => Step::Wait,
    }
}
