//! The socket side every protocol shares: connecting (failures counted),
//! reading with the response timeout and the run's deadline, the
//! reconnect loop.

use std::future::Future;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use percore_runtime::net::TcpStream;
use percore_runtime::time::{sleep, timeout, timeout_at};

use crate::plan::Core;
use crate::stats::ErrorKind;

/// Read buffer size; a read needs at least a quarter of it free.
const READ_BUF: usize = 64 * 1024;

/// Pause after a failed connect, so a server that is down is not hammered.
const CONNECT_BACKOFF: Duration = Duration::from_millis(10);

/// What a read brought.
#[derive(Debug)]
pub enum Got {
    /// Bytes, appended to the buffer.
    Data,
    /// The server closed the connection.
    Closed,
    /// The read failed.
    Failed,
    /// No byte within the timeout.
    TimedOut,
    /// The run's deadline passed.
    Over,
}

impl Got {
    /// How the requests waiting on a read that did not bring bytes failed
    /// (`None` for `Data`, and for `Over`, when they are not counted).
    pub fn error_kind(&self) -> Option<ErrorKind> {
        match self {
            Got::Closed | Got::Failed => Some(ErrorKind::Io),
            Got::TimedOut => Some(ErrorKind::Timeout),
            Got::Data | Got::Over => None,
        }
    }
}

/// Reads into `buf`'s spare room (growing it when short), waiting at most
/// the plan's timeout and never past the run's deadline.
pub async fn read_more(stream: &TcpStream, buf: &mut BytesMut, core: &Core) -> Got {
    if buf.capacity() - buf.len() < READ_BUF / 4 {
        buf.reserve(READ_BUF);
    }
    let patience = Instant::now() + core.plan.timeout;
    let (at, is_deadline) = match core.plan.budget.deadline() {
        Some(deadline) if deadline <= patience => (deadline, true),
        _ => (patience, false),
    };
    let owned = std::mem::take(buf);
    match timeout_at(at, stream.read(owned)).await {
        Ok((res, owned)) => {
            *buf = owned;
            match res {
                Ok(0) => Got::Closed,
                Ok(_) => Got::Data,
                Err(_) => Got::Failed,
            }
        }
        Err(_) if is_deadline => Got::Over,
        Err(_) => Got::TimedOut,
    }
}

/// Keeps one connection busy until the run is over: connects (a failed
/// connect is one failed request), then runs `session` on the stream,
/// again after each session that ends asking for a new connection.
///
/// `owed` counts requests claimed from the budget but not sent; a session
/// returns the ones it could not send there, and returns `false` when the
/// run is over.
pub async fn keep_connected<S, F>(core: &Core, mut session: S)
where
    S: FnMut(TcpStream, u64) -> F,
    F: Future<Output = (bool, u64)>,
{
    let mut owed = 0;
    loop {
        if owed == 0 {
            owed = core.plan.budget.claim(1);
            if owed == 0 {
                return;
            }
        } else if core.plan.budget.is_over() {
            return;
        }
        match timeout(core.plan.timeout, TcpStream::connect(core.plan.target.addr)).await {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                let (go_on, left) = session(stream, owed).await;
                owed = left;
                if !go_on {
                    return;
                }
            }
            Ok(Err(_)) | Err(_) => {
                core.error(ErrorKind::Connect, 1);
                owed -= 1;
                sleep(CONNECT_BACKOFF).await;
            }
        }
    }
}
