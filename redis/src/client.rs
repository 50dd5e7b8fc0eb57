//! `Client`: this core's small pool of multiplexed connections.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io;
use std::rc::Rc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use percore_runtime::net::TcpStream;
use percore_runtime::sync::{mpsc, oneshot};
use percore_runtime::time::timeout;
use percore_runtime::{spawn_local, JoinHandle};

use crate::conn::{closed, open, READ_CHUNK};
use crate::resp::{Cmd, Decoder, Value};
use crate::{check, Config};

/// Buffers written by one `writev` at most.
const MAX_BATCH: usize = 512;

/// A Redis client for this core: `pool_size` connections, opened on first
/// use and again after an error, each carrying many commands at once
/// (every command queued while a write is in flight goes out in the next
/// one, and replies come back in order). Every command is bounded by the
/// [`command_timeout`](Config::command_timeout); one that times out closes
/// its connection. `!Send`: make one per core from a shared [`Config`];
/// clones share the pool.
///
/// ```no_run
/// use std::time::Duration;
/// use percore_redis::{Client, Cmd, Config};
/// percore_runtime::Runtime::new().unwrap().block_on(async {
///     let redis = Client::new("redis://127.0.0.1:6379".parse().unwrap());
///     redis.set_ex("greeting", "hello", Duration::from_secs(60)).await.unwrap();
///     assert_eq!(redis.get("greeting").await.unwrap().as_deref(), Some(&b"hello"[..]));
///     // Two commands, one round trip.
///     let replies = redis
///         .pipeline(&[Cmd::new("INCR").arg("n"), Cmd::new("DEL").arg("n")])
///         .await
///         .unwrap();
///     assert_eq!(replies.len(), 2);
/// });
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Rc<Inner>,
}

struct Inner {
    config: Rc<Config>,
    slots: RefCell<Vec<Option<Conn>>>,
    next: Cell<usize>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("host", &self.inner.config.host)
            .field("port", &self.inner.config.port)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client for `config`; it connects on the first command.
    pub fn new(config: Config) -> Client {
        let slots = (0..config.pool_size).map(|_| None).collect();
        Client {
            inner: Rc::new(Inner {
                config: Rc::new(config),
                slots: RefCell::new(slots),
                next: Cell::new(0),
            }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Sends `cmd` and returns its reply. An error reply (`-ERR ...`) is
    /// an `Err` of kind `Other`; a timeout is `TimedOut`; a reply that is
    /// not RESP2 is `InvalidData`.
    pub async fn cmd(&self, cmd: &Cmd) -> io::Result<Value> {
        let mut out = BytesMut::new();
        cmd.encode(&mut out);
        let mut replies = self.send(out.freeze(), 1).await?;
        check(replies.pop().unwrap_or(Value::Nil))
    }

    /// Sends `cmds` in one write and returns their replies in order (error
    /// replies stay values here: one failed command does not hide the
    /// others' answers).
    pub async fn pipeline(&self, cmds: &[Cmd]) -> io::Result<Vec<Value>> {
        if cmds.is_empty() {
            return Ok(Vec::new());
        }
        let mut out = BytesMut::new();
        for cmd in cmds {
            cmd.encode(&mut out);
        }
        self.send(out.freeze(), cmds.len()).await
    }

    /// `GET key`.
    pub async fn get(&self, key: impl AsRef<[u8]>) -> io::Result<Option<Bytes>> {
        match self.cmd(&Cmd::new("GET").arg(key)).await? {
            Value::Bulk(b) => Ok(Some(b)),
            Value::Nil => Ok(None),
            other => Err(unexpected("GET", &other)),
        }
    }

    /// `SET key value EX seconds` (at least one second).
    pub async fn set_ex(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        ttl: Duration,
    ) -> io::Result<()> {
        let secs = ttl.as_secs().max(1).to_string();
        let cmd = Cmd::new("SET").arg(key).arg(value).arg("EX").arg(secs);
        self.cmd(&cmd).await.map(drop)
    }

    /// `DEL key`: how many keys were removed.
    pub async fn del(&self, key: impl AsRef<[u8]>) -> io::Result<i64> {
        match self.cmd(&Cmd::new("DEL").arg(key)).await? {
            Value::Int(n) => Ok(n),
            other => Err(unexpected("DEL", &other)),
        }
    }

    /// `PUBLISH channel message`: how many subscribers got it.
    pub async fn publish(
        &self,
        channel: impl AsRef<[u8]>,
        message: impl AsRef<[u8]>,
    ) -> io::Result<i64> {
        match self
            .cmd(&Cmd::new("PUBLISH").arg(channel).arg(message))
            .await?
        {
            Value::Int(n) => Ok(n),
            other => Err(unexpected("PUBLISH", &other)),
        }
    }

    /// The next connection of the pool, opened (again) if need be.
    fn conn(&self) -> Conn {
        let inner = &self.inner;
        let mut slots = inner.slots.borrow_mut();
        let i = inner.next.get() % slots.len();
        inner.next.set(i + 1);
        match &slots[i] {
            Some(conn) if !conn.shared.dead.get() => conn.clone(),
            _ => {
                let conn = Conn::start(inner.config.clone());
                slots[i] = Some(conn.clone());
                conn
            }
        }
    }

    async fn send(&self, bytes: Bytes, replies: usize) -> io::Result<Vec<Value>> {
        let conn = self.conn();
        let (tx, rx) = oneshot::channel();
        if conn.tx.try_send(Job { bytes, replies, tx }).is_err() {
            return Err(closed());
        }
        match timeout(self.inner.config.command_timeout, rx).await {
            Ok(Ok(result)) => result,
            // The connection's tasks ended with the job still queued.
            Ok(Err(_)) => Err(closed()),
            Err(_) => {
                let e = io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "redis at {}:{}: no reply within {:?}",
                        self.inner.config.host,
                        self.inner.config.port,
                        self.inner.config.command_timeout
                    ),
                );
                conn.shared.kill(&e);
                Err(e)
            }
        }
    }
}

fn unexpected(cmd: &str, value: &Value) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("redis: unexpected reply to {cmd}: {value:?}"),
    )
}

/// Commands for one connection, and where their replies go.
struct Job {
    bytes: Bytes,
    replies: usize,
    tx: oneshot::Sender<io::Result<Vec<Value>>>,
}

/// A job written, waiting for its replies.
struct Waiting {
    left: usize,
    got: Vec<Value>,
    tx: oneshot::Sender<io::Result<Vec<Value>>>,
}

/// One connection: a writer task (opens the socket, then writes what is
/// queued, in batches) and a reader task (hands replies out in order).
#[derive(Clone)]
struct Conn {
    tx: mpsc::Sender<Job>,
    shared: Rc<Shared>,
}

#[derive(Default)]
struct Shared {
    dead: Cell<bool>,
    pending: RefCell<VecDeque<Waiting>>,
    tasks: RefCell<Vec<JoinHandle<()>>>,
}

fn copy(e: &io::Error) -> io::Error {
    io::Error::new(e.kind(), e.to_string())
}

impl Shared {
    /// Marks the connection dead, fails every command waiting on it and
    /// stops its tasks (the socket closes with them).
    fn kill(&self, e: &io::Error) {
        self.dead.set(true);
        let waiting: Vec<_> = self.pending.borrow_mut().drain(..).collect();
        for w in waiting {
            let _ = w.tx.send(Err(copy(e)));
        }
        let tasks: Vec<_> = self.tasks.borrow_mut().drain(..).collect();
        for task in tasks {
            task.abort();
        }
    }

    /// Hands a reply to the command that waits for it.
    fn deliver(&self, value: Value) -> io::Result<()> {
        let mut pending = self.pending.borrow_mut();
        let Some(front) = pending.front_mut() else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "redis: a reply to no command",
            ));
        };
        front.got.push(value);
        front.left -= 1;
        if front.left == 0 {
            if let Some(w) = pending.pop_front() {
                let _ = w.tx.send(Ok(w.got));
            }
        }
        Ok(())
    }
}

impl Conn {
    fn start(config: Rc<Config>) -> Conn {
        let (tx, rx) = mpsc::unbounded();
        let shared = Rc::new(Shared::default());
        let writer = spawn_local(write_loop(config, rx, shared.clone()));
        shared.tasks.borrow_mut().push(writer);
        Conn { tx, shared }
    }
}

async fn write_loop(config: Rc<Config>, mut rx: mpsc::Receiver<Job>, shared: Rc<Shared>) {
    let opened = timeout(config.connect_timeout, open(&config)).await;
    let (stream, dec) = match opened {
        Ok(Ok(pair)) => pair,
        Ok(Err(e)) => return fail_queued(&mut rx, &shared, e),
        Err(_) => {
            let e = io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "redis at {}:{}: no connection within {:?}",
                    config.host, config.port, config.connect_timeout
                ),
            );
            return fail_queued(&mut rx, &shared, e);
        }
    };
    let stream = Rc::new(stream);
    let reader = spawn_local(read_loop(stream.clone(), shared.clone(), dec));
    shared.tasks.borrow_mut().push(reader);
    let mut batch: Vec<Bytes> = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some(job) = next.take().or_else(|| rx.try_recv()) {
            shared.pending.borrow_mut().push_back(Waiting {
                left: job.replies,
                got: Vec::with_capacity(job.replies),
                tx: job.tx,
            });
            batch.push(job.bytes);
            if batch.len() >= MAX_BATCH {
                break;
            }
        }
        let (res, mut used) = stream.write_all_vectored(std::mem::take(&mut batch)).await;
        if let Err(e) = res {
            tracing::debug!("redis: write failed: {e}");
            return shared.kill(&e);
        }
        used.clear();
        batch = used;
    }
    // Every handle on the connection is gone.
    shared.kill(&closed());
}

/// The opening failed: every command queued so far gets its error.
fn fail_queued(rx: &mut mpsc::Receiver<Job>, shared: &Shared, e: io::Error) {
    tracing::debug!("redis: {e}");
    shared.dead.set(true);
    while let Some(job) = rx.try_recv() {
        let _ = job.tx.send(Err(copy(&e)));
    }
    shared.kill(&e);
}

async fn read_loop(stream: Rc<TcpStream>, shared: Rc<Shared>, mut dec: Decoder) {
    let mut buf = Vec::with_capacity(READ_CHUNK);
    let err = 'read: loop {
        loop {
            match dec.decode() {
                Ok(Some(value)) => {
                    if let Err(e) = shared.deliver(value) {
                        break 'read e;
                    }
                }
                Ok(None) => break,
                Err(e) => break 'read e.into(),
            }
        }
        buf.clear();
        let (res, b) = stream.read(buf).await;
        buf = b;
        match res {
            Ok(0) => break closed(),
            Ok(n) => {
                if let Err(e) = dec.feed(&buf[..n]) {
                    break e.into();
                }
            }
            Err(e) => break e,
        }
    };
    tracing::debug!("redis: connection lost: {err}");
    shared.kill(&err);
}
