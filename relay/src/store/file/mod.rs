//! The file store: every room kept in one SQLite database in a directory of
//! its own, so a single relay node keeps its rooms across restarts and
//! crashes without any other service.
//!
//! Why SQLite: a deleted or expired room must leave none of its bytes in
//! the files. With `PRAGMA secure_delete = ON`, SQLite overwrites deleted
//! content and freed pages with zeros, and after every deletion a
//! `wal_checkpoint(TRUNCATE)` empties the write-ahead log of old page
//! images (a copy-on-write engine such as redb leaves old values in freed
//! pages). `secure_delete` alone is not enough, though: when a b-tree page
//! is rebuilt during a split, stale copies of cells that moved can stay in
//! the free space of pages still in use. So no two rooms share a b-tree:
//! each room has a table of its own, dropped when the room goes, and every
//! page of it is zeroed then. Shared tables hold ids, numbers and global
//! values only.
//!
//! Why group commit: an fsync costs milliseconds, so one per operation
//! would cap the store at a few hundred writes a second. One writer thread
//! owns the only writing connection; every write goes to it over a channel,
//! and it applies everything waiting there in one transaction (each
//! operation's own checks in order, each inside a savepoint), commits with a
//! single fsync, answers every operation, and only then publishes their
//! notifications. Reads go to a small pool of read-only connections on
//! tokio's blocking threads; in WAL mode they never wait for the writer.
//!
//! Layout (`caucus.db` in the directory; ids are their 16 raw bytes):
//!
//! | table      | key                      | holds                                |
//! |------------|--------------------------|--------------------------------------|
//! | `rooms`    | `n` (never reused), `id` | `version`, `expire_at_ms`            |
//! | `room_<n>` | `kind`, `a`, `seq`       | `v`: everything of room `n`, below   |
//! | `accounts` | `username`               | `value`                              |
//! | `counters` | `field`                  | `value`                              |
//! | `generations` | `subject`             | `value` (token generation)           |
//!
//! Rows of `room_<n>`: the doc `(0, x'', 0)`, objects `(1, key, 0)`, inbox
//! events `(2, participant, seq)`, invites `(3, code, 0)` with `v` NULL
//! once spent, counters `(4, field, 0)` with an integer `v`.
//!
//! Durability: a write (`commit`, `create_room`, `delete_room`,
//! `put_invite`, `take_invite`, `put_account`, `incr_counter`) is answered,
//! and its notification published, only after the transaction holding it
//! is committed with `synchronous = FULL`, i.e. after the WAL is fsync'd:
//! what was answered survives a crash of the process or of the machine. A
//! failed transaction answers every write in it with an error. A deletion
//! is answered after a truncating checkpoint has emptied the WAL (if a
//! reader was in the way, it is retried every second). Reads see
//! committed transactions only. A room's expiry is checked on every read
//! and write; the writer erases expired rooms about once a second, and
//! stops with the store.
//!
//! Notifications are in process: this store serves one node, which hears
//! the rooms it [`Store::watch`]es (a set: one `unwatch` forgets a room).
//! Signals travel through the writer's channel too, so one sent after a
//! commit returned is heard after that commit's deliveries.

mod rooms;
mod schema;
mod writer;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{mpsc as std_mpsc, Arc, Mutex};
use std::thread::JoinHandle;

use async_trait::async_trait;
use rusqlite::{params, Connection, ErrorCode, OptionalExtension, Transaction};
use tokio::sync::{mpsc, oneshot, Semaphore};

use super::*;
use writer::{Op, Request, Response, Writer};

/// At most this many reads run at once, each on its own connection.
const READERS: usize = 4;

pub struct FileStore {
    /// `None` only while dropping, so the writer sees the channel close.
    ops: Option<std_mpsc::Sender<Op>>,
    writer: Option<JoinHandle<()>>,
    readers: Arc<ReadPool>,
    shared: Arc<Shared>,
}

/// What the store and its writer thread share: who listens to what.
#[derive(Default)]
struct Shared {
    watched: Mutex<HashSet<RoomId>>,
    listeners: Mutex<Vec<mpsc::UnboundedSender<Notification>>>,
}

impl Shared {
    fn publish(&self, n: Notification) {
        if lock(&self.watched).contains(&n.room()) {
            lock(&self.listeners).retain(|tx| tx.send(n.clone()).is_ok());
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Only inserts, removals and sends happen under these locks; a panic
    // cannot leave them half-updated.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn db_err(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => {
            StoreError::Corrupt(e.to_string())
        }
        Some(_) => StoreError::Unavailable(e.to_string()),
        // Not an engine failure: a value that is not what this code wrote.
        None => StoreError::Corrupt(e.to_string()),
    }
}

fn stopped() -> StoreError {
    StoreError::Unavailable("the store's writer has stopped".into())
}

fn unexpected(r: Response) -> StoreError {
    StoreError::Corrupt(format!("unexpected answer from the writer: {r:?}"))
}

impl FileStore {
    /// Open the store kept in `dir`, creating the directory (mode 0700) and
    /// its database (mode 0600) if missing, and start its writer thread.
    pub fn open(dir: &Path) -> StoreResult<FileStore> {
        let path = schema::prepare(dir)?;
        let conn = schema::open_writer(&path)?;
        let shared = Arc::new(Shared::default());
        let (ops, rx) = std_mpsc::channel();
        let writer = Writer::new(conn, shared.clone());
        let writer = std::thread::Builder::new()
            .name("caucus-file-store".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| StoreError::Unavailable(format!("cannot start the writer: {e}")))?;
        Ok(FileStore {
            ops: Some(ops),
            writer: Some(writer),
            readers: Arc::new(ReadPool {
                path,
                idle: Mutex::new(Vec::new()),
                permits: Arc::new(Semaphore::new(READERS)),
            }),
            shared,
        })
    }

    /// Hand `req` to the writer; resolves once it is durable.
    async fn write(&self, req: Request) -> StoreResult<Response> {
        let (reply, answer) = oneshot::channel();
        let ops = self.ops.as_ref().ok_or_else(stopped)?;
        ops.send(Op { req, reply }).map_err(|_| stopped())?;
        match tokio::time::timeout(OP_TIMEOUT, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(stopped()),
            Err(_) => Err(StoreError::Unavailable("store write timed out".into())),
        }
    }

    async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction, i64) -> rusqlite::Result<T> + Send + 'static,
    {
        let pool = self.readers.clone();
        let read = async move {
            let permit = pool.permits.clone().acquire_owned().await;
            let permit = permit.map_err(|_| stopped())?;
            let task = tokio::task::spawn_blocking(move || {
                // Released when the read is over, even if the caller gave up.
                let _permit = permit;
                pool.run(f)
            });
            task.await
                .map_err(|e| StoreError::Unavailable(format!("read task failed: {e}")))?
        };
        tokio::time::timeout(OP_TIMEOUT, read)
            .await
            .unwrap_or_else(|_| Err(StoreError::Unavailable("store read timed out".into())))
    }
}

impl Drop for FileStore {
    fn drop(&mut self) {
        // Closing the channel stops the writer once it has answered what
        // was sent; waiting for it makes a later `open` of the same
        // directory find everything closed.
        self.ops.take();
        if let Some(writer) = self.writer.take() {
            if writer.join().is_err() {
                tracing::error!("the file store's writer panicked");
            }
        }
    }
}

/// Read connections, opened on demand and kept while idle.
struct ReadPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
}

impl ReadPool {
    /// Run `f` in a read transaction: one consistent snapshot.
    fn run<T>(&self, f: impl FnOnce(&Transaction, i64) -> rusqlite::Result<T>) -> StoreResult<T> {
        let idle = lock(&self.idle).pop();
        let conn = match idle {
            Some(conn) => conn,
            None => schema::open_reader(&self.path).map_err(db_err)?,
        };
        let result = Transaction::new_unchecked(&conn, rusqlite::TransactionBehavior::Deferred)
            .and_then(|tx| {
                let value = f(&tx, now_ms())?;
                tx.commit()?;
                Ok(value)
            });
        // A connection that failed is dropped, not reused.
        if result.is_ok() {
            lock(&self.idle).push(conn);
        }
        result.map_err(db_err)
    }
}

fn room_id(bytes: Vec<u8>) -> rusqlite::Result<RoomId> {
    RoomId::from_slice(&bytes).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Blob, Box::new(e))
    })
}

fn seq(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

#[async_trait]
impl Store for FileStore {
    async fn ping(&self) -> StoreResult<()> {
        self.read(|tx, _| tx.query_row("SELECT 1", [], |_| Ok(())))
            .await?;
        match self.write(Request::Ping).await? {
            Response::Done => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    async fn put_account(&self, username: &str, value: Vec<u8>) -> StoreResult<()> {
        let username = username.to_string();
        match self.write(Request::PutAccount { username, value }).await? {
            Response::Done => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    async fn get_account(&self, username: &str) -> StoreResult<Option<Vec<u8>>> {
        let username = username.to_string();
        self.read(move |tx, _| {
            tx.prepare_cached("SELECT value FROM accounts WHERE username = ?1")?
                .query_row([username], |row| row.get(0))
                .optional()
        })
        .await
    }

    async fn account_count(&self) -> StoreResult<u64> {
        self.read(|tx, _| {
            tx.prepare_cached("SELECT count(*) FROM accounts")?
                .query_row([], |row| row.get::<_, i64>(0))
                .map(seq)
        })
        .await
    }

    async fn list_accounts(&self) -> StoreResult<Vec<Vec<u8>>> {
        self.read(|tx, _| {
            tx.prepare_cached("SELECT value FROM accounts")?
                .query_map([], |row| row.get(0))?
                .collect()
        })
        .await
    }

    async fn create_room(
        &self,
        room: RoomId,
        doc: Vec<u8>,
        expire_at_ms: i64,
    ) -> StoreResult<bool> {
        let req = Request::CreateRoom {
            room,
            doc,
            expire_at_ms,
        };
        match self.write(req).await? {
            Response::Bool(created) => Ok(created),
            other => Err(unexpected(other)),
        }
    }

    async fn load_room(&self, room: RoomId) -> StoreResult<Option<Versioned>> {
        self.read(move |tx, now| {
            let Some(live) = rooms::live(tx, room, now)? else {
                return Ok(None);
            };
            Ok(Some(Versioned {
                version: seq(live.version),
                doc: rooms::doc(tx, live.n)?,
                counts: rooms::counts(tx, live.n)?,
            }))
        })
        .await
    }

    async fn list_rooms(&self) -> StoreResult<Vec<RoomId>> {
        self.read(|tx, now| {
            let mut stmt = tx.prepare_cached("SELECT id FROM rooms WHERE expire_at_ms > ?1")?;
            let rows = stmt.query_map([now], |row| room_id(row.get(0)?))?;
            rows.collect()
        })
        .await
    }

    async fn get_objects(
        &self,
        room: RoomId,
        keys: &[String],
    ) -> StoreResult<Vec<Option<Vec<u8>>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let keys = keys.to_vec();
        self.read(move |tx, now| {
            let Some(live) = rooms::live(tx, room, now)? else {
                return Ok(vec![None; keys.len()]);
            };
            keys.iter()
                .map(|key| rooms::object(tx, live.n, key))
                .collect()
        })
        .await
    }

    async fn commit(&self, room: RoomId, commit: Commit) -> StoreResult<CommitOutcome> {
        match self.write(Request::Commit { room, commit }).await? {
            Response::Commit(outcome) => Ok(outcome),
            other => Err(unexpected(other)),
        }
    }

    async fn read_inbox(
        &self,
        room: RoomId,
        participant: ParticipantId,
        after: u64,
        limit: usize,
    ) -> StoreResult<Vec<(u64, Vec<u8>)>> {
        // Seqs are stored as SQLite integers, which end at i64::MAX.
        let (Ok(after), Ok(limit)) = (i64::try_from(after), i64::try_from(limit)) else {
            return Ok(Vec::new());
        };
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.read(move |tx, now| {
            let Some(live) = rooms::live(tx, room, now)? else {
                return Ok(Vec::new());
            };
            let events = rooms::read_inbox(tx, live.n, participant, after, limit)?;
            Ok(events.into_iter().map(|(s, e)| (seq(s), e)).collect())
        })
        .await
    }

    async fn inbox_head(&self, room: RoomId, participant: ParticipantId) -> StoreResult<u64> {
        self.read(move |tx, now| match rooms::live(tx, room, now)? {
            Some(live) => rooms::inbox_head(tx, live.n, participant).map(seq),
            None => Ok(0),
        })
        .await
    }

    async fn delete_room(&self, room: RoomId) -> StoreResult<bool> {
        match self.write(Request::DeleteRoom { room }).await? {
            Response::Bool(existed) => Ok(existed),
            other => Err(unexpected(other)),
        }
    }

    async fn put_invite(&self, room: RoomId, code_key: &str, value: Vec<u8>) -> StoreResult<()> {
        let code = code_key.to_string();
        match self.write(Request::PutInvite { room, code, value }).await? {
            Response::Done => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    async fn take_invite(&self, room: RoomId, code_key: &str) -> StoreResult<InviteTake> {
        let code = code_key.to_string();
        match self.write(Request::TakeInvite { room, code }).await? {
            Response::Invite(take) => Ok(take),
            other => Err(unexpected(other)),
        }
    }

    async fn incr_counter(&self, field: &str, by: i64) -> StoreResult<()> {
        let field = field.to_string();
        match self.write(Request::IncrCounter { field, by }).await? {
            Response::Done => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    async fn counters(&self) -> StoreResult<Vec<(String, i64)>> {
        self.read(|tx, _| {
            let mut stmt = tx.prepare_cached("SELECT field, value FROM counters")?;
            let rows = stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
            rows.collect()
        })
        .await
    }

    async fn generation(&self, subject: &str) -> StoreResult<u64> {
        let subject = subject.to_string();
        self.read(move |tx, _| {
            let value: Option<i64> = tx
                .prepare_cached("SELECT value FROM generations WHERE subject = ?1")?
                .query_row(params![subject], |row| row.get(0))
                .optional()?;
            Ok(value.unwrap_or(0) as u64)
        })
        .await
    }

    async fn raise_generation(&self, subject: &str) -> StoreResult<u64> {
        let subject = subject.to_string();
        match self.write(Request::RaiseGeneration { subject }).await? {
            Response::Count(n) => Ok(n),
            other => Err(unexpected(other)),
        }
    }

    async fn watch(&self, room: RoomId) -> StoreResult<()> {
        // Every publish after this sees the room; a commit not visible to a
        // read after this is published after it.
        lock(&self.shared.watched).insert(room);
        Ok(())
    }

    async fn unwatch(&self, room: RoomId) -> StoreResult<()> {
        lock(&self.shared.watched).remove(&room);
        Ok(())
    }

    async fn signal(&self, room: RoomId, payload: Vec<u8>) -> StoreResult<()> {
        match self.write(Request::Signal { room, payload }).await? {
            Response::Done => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    fn notifications(&self) -> mpsc::UnboundedReceiver<Notification> {
        let (tx, rx) = mpsc::unbounded_channel();
        lock(&self.shared.listeners).push(tx);
        rx
    }
}
