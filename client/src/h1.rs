//! One HTTP/1.1 exchange on a pooled connection: the request out (head,
//! body in memory or streamed, `Expect: 100-continue`), the final response
//! head in (1xx skipped); and reading the response body.
//!
//! Failures before the first response byte are told apart ([`Failure::Stale`]):
//! on a reused connection they are what a server closing an idle
//! keep-alive connection looks like, and the caller may retry them.

use std::future::poll_fn;
use std::io;
use std::pin::pin;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderMap, Method};
use percore_http::h1::{
    parse_response_head_memo, BodyEvent, DecodeError, EncodedFields, LazyResponseHead,
    RequestFraming, ResponseDecoder, ResponseHeadMemo, MAX_INTERIM_RESPONSES,
};
use percore_http::{Body, Limits};
use percore_runtime::future::{race, Either};
use percore_runtime::io::{OwnedWrite, ReadBuffer};
use percore_runtime::time::{sleep, timeout_at};

use crate::connect::Stream;
use crate::error::{Error, ErrorKind, TimeoutKind};
use crate::pool::{Conn, ConnParts, Pool};
use crate::within::{bounded, Bounded, Clock, LazyTimer};

mod heads;
mod send;
pub(crate) use heads::Heads;
use send::{send_body, write_all, write_one, SendError};

fn too_many_interim() -> Failure {
    Failure::Fatal(Error::new(
        ErrorKind::Protocol,
        format!("more than {MAX_INTERIM_RESPONSES} interim (1xx) responses"),
    ))
}

/// How an exchange failed.
pub(crate) enum Failure {
    /// The connection failed or closed before any byte of a response came
    /// back; `sent` says whether any byte of the request went out.
    Stale { sent: bool, err: Error },
    /// Anything else: report it.
    Fatal(Error),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        Failure::Fatal(e)
    }
}

/// What an exchange needs besides the connection.
pub(crate) struct Outgoing<'a> {
    pub method: &'a Method,
    pub target: &'a str,
    pub host: &'a str,
    pub headers: &'a HeaderMap,
    /// `headers` encoded beforehand (the client's defaults), if they are.
    pub fields: Option<&'a EncodedFields>,
    pub expect_continue: bool,
    pub limits: &'a Limits,
    pub read_timeout: Option<Duration>,
    /// The request's total deadline: reads wait until the earlier of it
    /// and the read timeout (one timer, see `crate::within`).
    pub total: Option<Instant>,
    pub continue_timeout: Duration,
}

/// The final response head, and whether the connection must close after
/// it even if the head allows reuse (a body skipped after an early answer).
pub(crate) struct Answer {
    pub head: LazyResponseHead,
    pub must_close: bool,
}

/// Sends the request and reads the final response head.
pub(crate) async fn exchange(
    conn: &mut Conn,
    req: &Outgoing<'_>,
    body: &mut Body,
) -> Result<Answer, Failure> {
    let framing = match &*body {
        Body::Empty => RequestFraming::Empty,
        Body::Full(b) if b.is_empty() => RequestFraming::Empty,
        Body::Full(b) => RequestFraming::Length(b.len() as u64),
        Body::Stream(s) => match s.size_hint() {
            Some(0) => RequestFraming::Empty,
            Some(n) => RequestFraming::Length(n),
            None => RequestFraming::Chunked,
        },
    };
    let ConnParts {
        input,
        heads,
        timer,
        memo,
        ..
    } = &mut **conn;
    // The writes' handle on the socket, beside the reads' (`input`).
    let stream = input.stream().clone();
    let stream = &*stream;
    let mut rx = Incoming { input, timer, memo };
    let head = heads.head(req, framing);
    let mut sent = false;
    let stale = |sent: bool, e: io::Error| Failure::Stale {
        sent,
        err: Error::io("cannot send the request", e),
    };
    let with_body = framing != RequestFraming::Empty;
    if let (false, Body::Full(b)) = (req.expect_continue && with_body, &*body) {
        // Head and body in one write.
        let parts = vec![head, b.clone()];
        let written = write_all(stream, parts, &mut sent).await;
        return match written {
            Ok(()) => read_final_head(&mut rx, req).await,
            Err(e) if !sent => Err(stale(false, e)),
            Err(e) => early_answer(&mut rx, req, stale(true, e)).await,
        };
    }
    // The head in one send (it fits a socket buffer), waiting on the
    // connection's timer for the total deadline as its reads do: the
    // request arms no timer of its own. The rest of a partial send (rare)
    // goes as any write.
    let (res, mut head) = match stream.try_write(&head) {
        Some(res) => (res, head),
        None => {
            let clock = Clock::Kept(&mut *rx.timer);
            Bounded::new(req.total, TimeoutKind::Total, clock, stream.write(head)).await?
        }
    };
    send::took(res, &mut head, &mut sent).map_err(|e| stale(sent, e))?;
    if head.has_remaining() {
        write_one(stream, head, &mut sent)
            .await
            .0
            .map_err(|e| stale(sent, e))?;
    }
    if !with_body {
        return read_final_head(&mut rx, req).await;
    }
    // A streamed body, or one after `Expect: 100-continue`: boxed, their
    // futures are large and rare; inline, every exchange's future (a
    // part of every request's, moved with it) would carry their size.
    if !req.expect_continue {
        let sent = Box::pin(send_body(stream, std::mem::take(body), framing)).await;
        return match sent {
            Ok(()) => read_final_head(&mut rx, req).await,
            Err(SendError::Socket(failed)) => early_answer(&mut rx, req, failed).await,
            Err(SendError::Body(failed)) => Err(failed),
        };
    }
    Box::pin(after_continue(stream, &mut rx, req, body, framing)).await
}

/// Expect: 100-continue: waits for the 100 (or a final answer, which
/// means the body is not wanted) at most `continue_timeout`, reading on
/// while the body goes out once that passes.
async fn after_continue(
    stream: &Stream,
    rx: &mut Incoming<'_>,
    req: &Outgoing<'_>,
    body: &mut Body,
    framing: RequestFraming,
) -> Result<Answer, Failure> {
    let mut waited = pin!(sleep(req.continue_timeout));
    let mut interim = 0;
    loop {
        if let Some(head) = parse_head(rx, req)? {
            if head.status == http::StatusCode::CONTINUE {
                break;
            }
            if head.status.is_informational() {
                interim += 1;
                if interim > MAX_INTERIM_RESPONSES {
                    return Err(too_many_interim());
                }
                continue;
            }
            return Ok(Answer {
                head,
                must_close: true,
            });
        }
        let input = &mut *rx.input;
        let read = poll_fn(|cx| input.poll_fill(cx, None));
        match race(read, waited.as_mut()).await {
            Either::Left(res) => check_read(res, rx.input.buffer(), true)?,
            Either::Right(()) => {
                // No 100 in time: send the body with the read in flight
                // (it stays in the buffer's keeping), then wait for it.
                send_body(stream, std::mem::take(body), framing).await?;
                let input = &mut *rx.input;
                let read = poll_fn(|cx| input.poll_fill(cx, None));
                let res = match req.read_timeout {
                    Some(d) => timeout_at(crate::now() + d, read)
                        .await
                        .map_err(|_| Error::timeout(TimeoutKind::Read))?,
                    None => read.await,
                };
                check_read(res, rx.input.buffer(), true)?;
                return read_final_head(rx, req).await;
            }
        }
    }
    send_body(stream, std::mem::take(body), framing).await?;
    read_final_head(rx, req).await
}

/// The request could not be sent in full: a server that refuses a body
/// (413, 401, ...) answers and closes while it is still arriving. Its
/// answer, if one comes, is the outcome (and the connection closes);
/// otherwise the send's failure is.
async fn early_answer(
    rx: &mut Incoming<'_>,
    req: &Outgoing<'_>,
    failed: Failure,
) -> Result<Answer, Failure> {
    match read_final_head(rx, req).await {
        Ok(answer) => Ok(Answer {
            must_close: true,
            ..answer
        }),
        Err(_) => Err(failed),
    }
}

/// The connection's parts a response head is read with.
struct Incoming<'a> {
    input: &'a mut ReadBuffer<Stream>,
    /// See [`LazyTimer`].
    timer: &'a mut LazyTimer,
    /// The connection's last response head (the same head again is
    /// framed by one comparison).
    memo: &'a mut ResponseHeadMemo,
}

/// Parses a head from the buffer, if a complete one is there (its header
/// map is built only if the response's caller asks for it).
fn parse_head(
    rx: &mut Incoming<'_>,
    req: &Outgoing<'_>,
) -> Result<Option<LazyResponseHead>, Failure> {
    parse_response_head_memo(rx.input.buffer_mut(), req.method, req.limits, rx.memo)
        .map_err(|e| Failure::Fatal(Error::with_source(ErrorKind::Protocol, "", e)))
}

/// Reads until a final (non-1xx) response head (each read on the
/// connection's timer).
async fn read_final_head(rx: &mut Incoming<'_>, req: &Outgoing<'_>) -> Result<Answer, Failure> {
    let (mut first, mut interim) = (true, 0);
    loop {
        if let Some(head) = parse_head(rx, req)? {
            if head.status == http::StatusCode::SWITCHING_PROTOCOLS {
                return Err(Failure::Fatal(Error::new(
                    ErrorKind::Protocol,
                    "101 Switching Protocols to a request that asked for no upgrade",
                )));
            }
            if head.status.is_informational() {
                interim += 1;
                if interim > MAX_INTERIM_RESPONSES {
                    return Err(too_many_interim());
                }
                first = false;
                continue;
            }
            return Ok(Answer {
                head,
                must_close: false,
            });
        }
        let clock = Clock::Kept(&mut *rx.timer);
        let res = fill_with(rx.input, clock, req.read_timeout, req.total).await?;
        let buf = rx.input.buffer();
        check_read(res, buf, first && buf.is_empty())?;
        first = false;
    }
}

/// The verdict on a read while waiting for a head: end of stream or an
/// error before any response byte is `Stale` when `nothing_yet`.
fn check_read(res: io::Result<usize>, buf: &BytesMut, nothing_yet: bool) -> Result<(), Failure> {
    let nothing_yet = nothing_yet && buf.is_empty();
    match res {
        Ok(0) if nothing_yet => Err(Failure::Stale {
            sent: true,
            err: Error::new(
                ErrorKind::Protocol,
                "server closed the connection without answering",
            ),
        }),
        Ok(0) => Err(Failure::Fatal(Error::new(
            ErrorKind::Protocol,
            "server closed the connection inside the response head",
        ))),
        Ok(_) => Ok(()),
        Err(e) if nothing_yet => Err(Failure::Stale {
            sent: true,
            err: Error::io("cannot read the response", e),
        }),
        Err(e) => Err(Failure::Fatal(Error::io("cannot read the response", e))),
    }
}

/// One read into a connection's buffer, bounded by the read timeout and
/// the total deadline, timed by `clock`; a timeout leaves the read in the
/// buffer's keeping (and the connection must close: a response may be
/// under way). (The read's future inside one [`Bounded`], no `async fn`
/// around it: each layer would move the read's future into its own on
/// every read.)
fn fill_with<'a>(
    input: &'a mut ReadBuffer<Stream>,
    clock: Clock<'a>,
    read_timeout: Option<Duration>,
    total: Option<Instant>,
) -> Bounded<'a, impl std::future::Future<Output = io::Result<usize>> + 'a> {
    bounded(
        clock,
        read_timeout,
        total,
        poll_fn(move |cx| input.poll_fill(cx, None)),
    )
}

/// A response body read from its connection; the connection goes back to
/// the pool once the body has been read to its end (and closes otherwise).
pub(crate) struct BodyReader {
    conn: Option<Conn>,
    decoder: ResponseDecoder,
    keep_alive: bool,
    pool: Pool,
    read_timeout: Option<Duration>,
    total: Option<Instant>,
    trailers: Option<HeaderMap>,
}

impl BodyReader {
    pub(crate) fn new(
        conn: Conn,
        decoder: ResponseDecoder,
        keep_alive: bool,
        pool: Pool,
        read_timeout: Option<Duration>,
        total: Option<Instant>,
    ) -> BodyReader {
        let mut reader = BodyReader {
            conn: Some(conn),
            decoder,
            keep_alive,
            pool,
            read_timeout,
            total,
            trailers: None,
        };
        if reader.decoder.is_done() {
            reader.finish();
        }
        reader
    }

    /// The trailer fields, once the body has been read to its end.
    pub(crate) fn trailers(&self) -> Option<&HeaderMap> {
        self.trailers.as_ref()
    }

    /// Whether the body has been read to its end (or had none, or failed).
    pub(crate) fn is_finished(&self) -> bool {
        self.conn.is_none()
    }

    fn finish(&mut self) {
        if let Some(conn) = self.conn.take() {
            if self.keep_alive && conn.input.buffer().is_empty() {
                self.pool.release(conn);
            }
        }
    }

    /// The next piece of body, `None` at its end.
    pub(crate) async fn next(&mut self) -> Result<Option<Bytes>, Error> {
        let result = self.next_inner().await;
        if result.is_err() {
            self.conn = None;
        }
        result
    }

    async fn next_inner(&mut self) -> Result<Option<Bytes>, Error> {
        loop {
            let Some(conn) = self.conn.as_mut() else {
                return Ok(None);
            };
            let conn = &mut **conn;
            match self.decoder.decode(conn.input.buffer_mut()) {
                Ok(BodyEvent::Data(b)) => return Ok(Some(b)),
                Ok(BodyEvent::End { trailers }) => {
                    self.trailers = trailers;
                    self.finish();
                    return Ok(None);
                }
                Ok(BodyEvent::NeedMore) => {}
                Err(DecodeError::TooLarge) => {
                    return Err(Error::new(ErrorKind::BodyTooLarge, "response body"))
                }
                Err(e) => return Err(Error::with_source(ErrorKind::Protocol, "", e)),
            }
            let clock = Clock::Kept(&mut conn.timer);
            let read = fill_with(&mut conn.input, clock, self.read_timeout, self.total);
            match read.await? {
                Ok(0) => {
                    return match self.decoder.decode_eof() {
                        Some(_) => {
                            self.conn = None;
                            Ok(None)
                        }
                        None => Err(Error::new(
                            ErrorKind::Protocol,
                            "server closed the connection before the end of the body",
                        )),
                    }
                }
                Ok(_) => {}
                Err(e) => return Err(Error::io("cannot read the response body", e)),
            }
        }
    }
}
