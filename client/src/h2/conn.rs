//! One HTTP/2 connection on the runtime: a task that connects and then
//! writes what the sans-IO [`ClientConnection`] queues, and a task that
//! reads the socket into it and files each event under its stream.
//! Requests reach the connection through [`Shared`] (one core, so an
//! `Rc<RefCell>` and wakers are the channel).

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use http::HeaderMap;
use percore_http::h2::conn::{ClientConnection, ClientEvent};
use percore_http::h2::{ErrorCode, StreamIdHasher};
use percore_http::Limits;
use percore_runtime::future::{race, Either};
use percore_runtime::io::{OwnedRead, OwnedWrite};
use percore_runtime::time::{sleep, timeout};

use crate::client::KeepAlive;
use crate::connect::Stream;
use crate::error::{Error, ErrorKind, TimeoutKind};

/// Bytes moved out of the connection per socket write.
const WRITE_CHUNK: usize = 64 * 1024;
/// Room the read buffer gets before each read.
const READ_RESERVE: usize = 32 * 1024;

/// Wakes everyone waiting for room to open a stream (a connection became
/// ready, a stream ended, a connection closed); a generation counter
/// tells a waiter that something changed since it looked.
#[derive(Default)]
pub(crate) struct Room {
    generation: Cell<u64>,
    wakers: RefCell<Vec<Waker>>,
}

impl Room {
    pub(crate) fn notify(&self) {
        self.generation.set(self.generation.get() + 1);
        let wakers = std::mem::take(&mut *self.wakers.borrow_mut());
        for w in wakers {
            w.wake();
        }
    }

    /// Resolves at the next [`Room::notify`].
    pub(crate) async fn changed(&self) {
        let seen = self.generation.get();
        poll_fn(|cx| {
            if self.generation.get() != seen {
                return Poll::Ready(());
            }
            self.wakers.borrow_mut().push(cx.waker().clone());
            Poll::Pending
        })
        .await;
    }
}

/// What the server sent for one stream, waiting for its request.
#[derive(Default)]
pub(super) struct Slot {
    pub head: Option<http::Response<()>>,
    pub data: VecDeque<Bytes>,
    /// The response is complete (END_STREAM seen).
    pub end: bool,
    pub trailers: Option<HeaderMap>,
    pub reset: Option<ErrorCode>,
    waker: Option<Waker>,
}

impl Slot {
    fn wake(&mut self) {
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }
}

/// The state of one connection, shared by its tasks and its requests.
pub(super) struct State {
    pub conn: ClientConnection,
    /// The server's SETTINGS arrived: its stream limit is known.
    pub ready: bool,
    /// Why the connection failed (its streams fail with it).
    pub failure: Option<Error>,
    pub slots: HashMap<u32, Slot, StreamIdHasher>,
    writer: Option<Waker>,
    kicked: bool,
    senders: Vec<Waker>,
    /// The payload of the last PING the server answered, and who waits.
    ping_ack: Option<[u8; 8]>,
    pinger: Option<Waker>,
    /// The socket, once connected (a WebSocket tunnel tells its TCP and
    /// TLS streams from it).
    pub socket: Option<Rc<Stream>>,
}

impl State {
    /// Whether a request may open a stream here now.
    pub(crate) fn has_room(&self) -> bool {
        self.ready && self.failure.is_none() && self.conn.can_open_stream()
    }

    /// Lets the writer know output may be waiting.
    pub(crate) fn kick(&mut self) {
        self.kicked = true;
        if let Some(w) = self.writer.take() {
            w.wake();
        }
    }

    /// Registers a request body's sender, woken after each write.
    pub(crate) fn wait_send(&mut self, waker: &Waker) {
        self.senders.push(waker.clone());
    }

    /// Registers the waker of the request of `id`.
    pub(crate) fn wait_slot(&mut self, id: u32, waker: &Waker) {
        if let Some(s) = self.slots.get_mut(&id) {
            s.waker = Some(waker.clone());
        }
    }

    /// The error a request of this connection reports, if it failed.
    pub(crate) fn error(&self) -> Option<Error> {
        self.failure.as_ref().map(Error::copy)
    }

    fn fail(&mut self, e: Error) {
        if self.failure.is_none() {
            self.failure = Some(e);
        }
        self.wake_all();
    }

    fn wake_all(&mut self) {
        for s in self.slots.values_mut() {
            s.wake();
        }
        for w in self.senders.drain(..) {
            w.wake();
        }
        self.kick();
    }
}

/// One connection: its state and the origin's room notifier.
pub(super) struct Shared {
    pub st: RefCell<State>,
    pub room: Rc<Room>,
}

impl Shared {
    pub(super) fn new(limits: &Limits, room: Rc<Room>) -> Shared {
        Shared {
            st: RefCell::new(State {
                conn: ClientConnection::new(limits),
                ready: false,
                failure: None,
                slots: HashMap::default(),
                writer: None,
                kicked: false,
                senders: Vec::new(),
                ping_ack: None,
                pinger: None,
                socket: None,
            }),
            room,
        }
    }

    /// The request of `id` is gone: reset its stream (CANCEL) unless the
    /// response was complete, and give back the window of unread data.
    pub(super) fn forget(&self, id: u32) {
        let mut st = self.st.borrow_mut();
        let Some(slot) = st.slots.remove(&id) else {
            return;
        };
        if !slot.end && slot.reset.is_none() {
            st.conn.reset(id, ErrorCode::Cancel);
        }
        let unread: usize = slot.data.iter().map(Bytes::len).sum();
        if unread > 0 {
            st.conn.release(id, unread);
        }
        st.kick();
        drop(st);
        self.room.notify();
    }
}

/// Runs a connection until it is done: connects (failing every request
/// waiting for it when that fails), then reads and writes (and pings,
/// with `keep_alive`) until the connection fails, the server closes it,
/// a PING goes unanswered, or it was idle `idle_timeout` and closes
/// gracefully. `on_close` runs at the end.
pub(super) async fn run(
    shared: Rc<Shared>,
    connecting: impl std::future::Future<Output = Result<Stream, Error>>,
    idle_timeout: Duration,
    keep_alive: Option<KeepAlive>,
    on_close: impl FnOnce(),
) {
    match connecting.await {
        Ok(stream) => {
            let stream = Rc::new(stream);
            shared.st.borrow_mut().socket = Some(stream.clone());
            let reader = percore_runtime::spawn_local(read_loop(shared.clone(), stream.clone()));
            let pinger =
                keep_alive.map(|k| percore_runtime::spawn_local(ping_loop(shared.clone(), k)));
            write_loop(&shared, &stream, idle_timeout).await;
            reader.abort();
            if let Some(p) = pinger {
                p.abort();
            }
        }
        Err(e) => {
            let mut st = shared.st.borrow_mut();
            st.fail(e);
        }
    }
    {
        let mut st = shared.st.borrow_mut();
        st.fail(Error::new(ErrorKind::Protocol, "HTTP/2 connection closed"));
        st.socket = None;
    }
    on_close();
    shared.room.notify();
}

/// Reads the socket into the connection and files the events.
async fn read_loop(shared: Rc<Shared>, stream: Rc<Stream>) {
    let mut buf = BytesMut::with_capacity(READ_RESERVE);
    loop {
        if buf.capacity() - buf.len() < READ_RESERVE / 2 {
            buf.reserve(READ_RESERVE);
        }
        let (res, back) = stream.read(buf).await;
        buf = back;
        let mut st = shared.st.borrow_mut();
        match res {
            Ok(0) => {
                st.fail(Error::new(
                    ErrorKind::Protocol,
                    "server closed the HTTP/2 connection",
                ));
                return;
            }
            Err(e) => {
                st.fail(Error::io("cannot read from the server", e));
                return;
            }
            Ok(_) => {}
        }
        let before = buf.len();
        let result = st.conn.recv(&mut buf);
        let newly_ready = !st.ready && buf.len() < before;
        st.ready |= newly_ready;
        let mut room = newly_ready;
        while let Some(event) = st.conn.poll_event() {
            room |= file(&mut st, event);
        }
        if let Err(e) = result {
            st.fail(Error::with_source(
                ErrorKind::Protocol,
                "HTTP/2 connection error",
                e,
            ));
            drop(st);
            shared.room.notify();
            return;
        }
        st.kick();
        drop(st);
        if room {
            shared.room.notify();
        }
    }
}

/// Files one event under its stream; true when a stream ended or the
/// connection stopped taking streams (room changed).
fn file(st: &mut State, event: ClientEvent) -> bool {
    match event {
        ClientEvent::Response {
            stream_id,
            response,
            end_stream,
        } => {
            if let Some(s) = st.slots.get_mut(&stream_id) {
                s.head = Some(response);
                s.end = end_stream;
                s.wake();
            }
            end_stream
        }
        ClientEvent::Data {
            stream_id,
            data,
            end_stream,
        } => {
            match st.slots.get_mut(&stream_id) {
                Some(s) => {
                    if !data.is_empty() {
                        s.data.push_back(data);
                    }
                    s.end |= end_stream;
                    s.wake();
                }
                // Nobody reads it any more: the window comes back now.
                None => st.conn.release(stream_id, data.len()),
            }
            end_stream
        }
        ClientEvent::Trailers {
            stream_id,
            trailers,
        } => {
            if let Some(s) = st.slots.get_mut(&stream_id) {
                s.trailers = Some(trailers);
                s.end = true;
                s.wake();
            }
            true
        }
        ClientEvent::Reset { stream_id, code } => {
            if let Some(s) = st.slots.get_mut(&stream_id) {
                s.reset = Some(code);
                s.wake();
            }
            true
        }
        ClientEvent::GoAway { .. } => true,
        ClientEvent::PingAck { payload } => {
            st.ping_ack = Some(payload);
            if let Some(w) = st.pinger.take() {
                w.wake();
            }
            false
        }
        ClientEvent::Informational { .. } => false,
    }
}

/// Sends a PING every `interval`; when one is not answered within
/// `timeout`, fails the connection with [`TimeoutKind::KeepAlive`] (its
/// writer then ends, which closes it).
async fn ping_loop(shared: Rc<Shared>, k: KeepAlive) {
    for n in 1u64.. {
        sleep(k.interval).await;
        let payload = n.to_be_bytes();
        {
            let mut st = shared.st.borrow_mut();
            if st.failure.is_some() || st.conn.is_done() {
                return;
            }
            st.conn.send_ping(payload);
            st.kick();
        }
        let answered = poll_fn(|cx| {
            let mut st = shared.st.borrow_mut();
            if st.ping_ack == Some(payload) {
                return Poll::Ready(());
            }
            st.pinger = Some(cx.waker().clone());
            Poll::Pending
        });
        if timeout(k.timeout, answered).await.is_err() {
            let mut st = shared.st.borrow_mut();
            st.fail(Error::new(
                ErrorKind::Timeout(TimeoutKind::KeepAlive),
                format!("no answer to an HTTP/2 PING within {:?}", k.timeout),
            ));
            drop(st);
            shared.room.notify();
            return;
        }
    }
}

/// Writes the connection's output until it is done or fails; closes it
/// gracefully after `idle_timeout` without streams.
async fn write_loop(shared: &Shared, stream: &Stream, idle_timeout: Duration) {
    let mut out = BytesMut::new();
    loop {
        let idle = {
            let mut st = shared.st.borrow_mut();
            st.conn.poll_output(&mut out, WRITE_CHUNK);
            if out.is_empty() && (st.failure.is_some() || st.conn.is_done()) {
                return;
            }
            st.slots.is_empty() && st.conn.active_streams() == 0
        };
        if !out.is_empty() {
            // A connection that failed meanwhile (e.g. its PING went
            // unanswered) stops a write the server does not take.
            let failed = poll_fn(|cx| {
                let mut st = shared.st.borrow_mut();
                if st.failure.is_some() {
                    return Poll::Ready(());
                }
                st.writer = Some(cx.waker().clone());
                Poll::Pending
            });
            match race(write_all(stream, &mut out), failed).await {
                Either::Left(Ok(())) => {}
                Either::Left(Err(e)) => {
                    let mut st = shared.st.borrow_mut();
                    st.fail(Error::io("cannot write to the server", e));
                    return;
                }
                Either::Right(()) => return,
            }
            let senders = std::mem::take(&mut shared.st.borrow_mut().senders);
            for w in senders {
                w.wake();
            }
            continue;
        }
        let kicked = poll_fn(|cx| {
            let mut st = shared.st.borrow_mut();
            if std::mem::take(&mut st.kicked) {
                return Poll::Ready(());
            }
            st.writer = Some(cx.waker().clone());
            Poll::Pending
        });
        if !idle {
            kicked.await;
        } else if timeout(idle_timeout, kicked).await.is_err() {
            let mut st = shared.st.borrow_mut();
            if st.slots.is_empty() && st.conn.active_streams() == 0 {
                st.conn.go_away();
                drop(st);
                shared.room.notify();
            }
        }
    }
}

/// Writes all of `out` (emptied on success).
async fn write_all(stream: &Stream, out: &mut BytesMut) -> std::io::Result<()> {
    let mut bytes = std::mem::take(out).freeze();
    while !bytes.is_empty() {
        let (res, back) = stream.write(bytes).await;
        bytes = back;
        match res {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes.advance(n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
