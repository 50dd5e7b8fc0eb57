//! HTTP/1.1 connections: the pre-encoded request written `depth` times at
//! once (pipelining; 1 without), then `depth` responses read with the
//! shared response-head rule, remembered per connection
//! ([`ResponseHeadMemo`]: a head the same as the last one is framed by
//! one comparison) and, for chunked or close-delimited bodies, the
//! sans-IO body decoder.
//!
//! Per request there is no allocation and, with pipelining, no clock read
//! but the batch's: a batch's start time and each read's end time make
//! the latencies (responses that arrive in one read complete together).

use std::rc::Rc;

use bytes::{Buf, BytesMut};
use percore_http::h1::{
    BodyEvent, ResponseDecoder, ResponseFraming, ResponseHeadMemo, MAX_INTERIM_RESPONSES,
};
use percore_runtime::io::ReadBuffer;

use crate::clock::Tick;
use crate::conn::Conn;
use crate::io::{keep_connected, write_all, Alarm, Got, Watch};
use crate::plan::Core;
use crate::stats::ErrorKind;

/// Runs one connection (reconnecting as needed) until the run is over.
pub async fn connection(core: &Core, depth: usize) {
    keep_connected(core, |stream, owed, watch| {
        session(core, stream, owed, depth, watch)
    })
    .await;
}

/// How reading one response ended.
enum Outcome {
    /// A complete response; whether the connection may carry more.
    Done { status: u16, keep_alive: bool },
    /// The connection failed: the waiting requests failed with this kind
    /// (`None`: the run is over, nothing counted).
    Failed(Option<ErrorKind>),
}

/// Growth step of a connection's input buffer.
const READ_CHUNK: usize = 16 * 1024;

/// One connection's read side: the input (the runtime's `ReadBuffer`: a
/// multishot receive on io_uring, readiness and `recv(2)` on epoll, no
/// operation per read), the last head, when the last read ended.
struct Reader<'a> {
    core: &'a Core,
    watch: &'a Watch,
    input: ReadBuffer<Conn>,
    memo: ResponseHeadMemo,
    /// When the last read ended: the completion time of every response
    /// it brought.
    now: Tick,
}

impl Reader<'_> {
    /// Reads more bytes into the input, until the watchdog says the wait
    /// is over (the read stays in flight: a `ReadBuffer`'s read survives
    /// a cancelled wait).
    async fn fill(&mut self) -> Got {
        match self.watch.guard(self.input.fill(None)).await {
            Ok(Ok(0)) => Got::Closed,
            Ok(Ok(_)) => Got::Data,
            Ok(Err(_)) => Got::Failed,
            Err(Alarm::TimedOut) => Got::TimedOut,
            Err(Alarm::Over) => Got::Over,
        }
    }

    /// Reads more bytes; notes when they came.
    async fn read(&mut self) -> Result<(), Outcome> {
        match self.fill().await {
            Got::Data => {
                self.now = Tick::now();
                self.watch.arm(self.now);
                Ok(())
            }
            got => Err(Outcome::Failed(got.error_kind())),
        }
    }

    /// Reads one final response (skipping interim ones), body included.
    async fn response(&mut self) -> Outcome {
        let plan = &self.core.plan;
        let mut interim = 0;
        let frame = loop {
            match self
                .memo
                .frame(self.input.buffer(), &plan.method, &plan.limits)
            {
                Ok(Some(frame)) => {
                    self.input.buffer_mut().advance(frame.len);
                    if frame.status.as_u16() >= 200 {
                        break frame;
                    }
                    // A server that sends interim heads forever is a
                    // protocol error, not a request that never ends.
                    interim += 1;
                    if interim > MAX_INTERIM_RESPONSES {
                        return Outcome::Failed(Some(ErrorKind::Protocol));
                    }
                }
                Ok(None) => {
                    if let Err(outcome) = self.read().await {
                        return outcome;
                    }
                }
                Err(_) => return Outcome::Failed(Some(ErrorKind::Protocol)),
            }
        };
        let body = match frame.body {
            ResponseFraming::Empty => Ok(()),
            // The bytes are counted, not looked at: skip them.
            ResponseFraming::Length(n) if n <= plan.limits.max_body_size => self.skip(n).await,
            framing => self.decode(framing).await,
        };
        match body {
            Ok(()) => Outcome::Done {
                status: frame.status.as_u16(),
                keep_alive: frame.keep_alive,
            },
            Err(outcome) => outcome,
        }
    }

    /// Skips a body of exactly `len` bytes.
    async fn skip(&mut self, mut len: u64) -> Result<(), Outcome> {
        loop {
            let buf = self.input.buffer_mut();
            let here = len.min(buf.len() as u64);
            buf.advance(here as usize);
            len -= here;
            if len == 0 {
                return Ok(());
            }
            self.read().await?;
        }
    }

    /// Reads a chunked or close-delimited body (or one over the size
    /// limit, which fails) with the sans-IO decoder.
    async fn decode(&mut self, framing: ResponseFraming) -> Result<(), Outcome> {
        let mut body = ResponseDecoder::new(framing, &self.core.plan.limits);
        loop {
            match body.decode(self.input.buffer_mut()) {
                Ok(BodyEvent::End { .. }) => return Ok(()),
                Ok(BodyEvent::Data(_)) => {}
                Ok(BodyEvent::NeedMore) => match self.fill().await {
                    Got::Data => {
                        self.now = Tick::now();
                        self.watch.arm(self.now);
                    }
                    Got::Closed
                        if self.input.buffer().is_empty() && body.decode_eof().is_some() =>
                    {
                        self.now = Tick::now();
                        return Ok(());
                    }
                    got => return Err(Outcome::Failed(got.error_kind())),
                },
                Err(_) => return Err(Outcome::Failed(Some(ErrorKind::Protocol))),
            }
        }
    }
}

/// Sends batches of up to `depth` requests and reads their responses
/// until the connection must be replaced (`true`) or the run is over
/// (`false`); returns that and the requests still owed.
async fn session(
    core: &Core,
    stream: Conn,
    mut owed: u64,
    depth: usize,
    watch: Rc<Watch>,
) -> (bool, u64) {
    let plan = &core.plan;
    let stream = Rc::new(stream);
    let mut reader = Reader {
        core,
        watch: &watch,
        input: ReadBuffer::new(stream.clone(), BytesMut::new(), READ_CHUNK),
        memo: ResponseHeadMemo::default(),
        now: Tick::now(),
    };
    loop {
        if owed < depth as u64 {
            owed += core.claim(depth as u64 - owed);
        }
        let batch = owed.min(depth as u64);
        if batch == 0 {
            watch.disarm();
            return (false, 0);
        }
        let bytes = plan.h1_batch.slice(..batch as usize * plan.h1_len);
        // The batch goes out now, in the same turn as the read that
        // completed the last one (or the session's start): that read's
        // clock is this batch's start, no clock read of its own.
        let started = reader.now;
        watch.arm(started);
        match write_all(&stream, bytes, &watch).await {
            Ok(()) => owed -= batch,
            Err(Some(kind)) => {
                core.error(kind, batch);
                return (true, owed - batch);
            }
            Err(None) => return (false, owed),
        }
        let mut waiting = batch;
        while waiting > 0 {
            match reader.response().await {
                Outcome::Done { status, keep_alive } => {
                    core.response(started, reader.now, status);
                    waiting -= 1;
                    if !keep_alive {
                        // The server answers no more on this connection:
                        // send the rest again on the next one.
                        return (true, owed + waiting);
                    }
                }
                Outcome::Failed(Some(kind)) => {
                    core.error(kind, waiting);
                    return (true, owed);
                }
                Outcome::Failed(None) => return (false, owed),
            }
        }
    }
}
