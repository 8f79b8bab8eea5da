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
//! Reads of a room's rows by rowid (objects, inbox events, the doc) run on
//! the calling task instead, on connections whose busy timeout is zero:
//! a trip to a blocking thread and back cost more than the read (the
//! relay's CPU per relay fell by a quarter), and one that would have to
//! wait for a lock goes to the pool after all.
//!
//! Layout (`caucus.db` in the directory; ids are their 16 raw bytes),
//! schema version 2 (version 1 is converted at open, see [`migrate`]):
//!
//! | table      | key                      | holds                                |
//! |------------|--------------------------|--------------------------------------|
//! | `rooms`    | `n` (never reused), `id` | `expire_at_ms`                       |
//! | `room_<n>` | `r` (rowid)              | `v`: one [`record`] of room `n`      |
//! | `accounts` | `username`               | `value`                              |
//! | `counters` | `field`                  | `value`                              |
//! | `generations` | `subject`             | `value` (token generation)           |
//!
//! Why a log per room: a commit is a few hundred bytes, but a keyed layout
//! spreads them over many pages (each inbox, each object key, the doc, the
//! counters, the version), and every commit rewrites each of those 4 KiB
//! pages whole in the WAL. So each room's table is append-only: every
//! commit (and the room's creation) appends ONE row holding all it wrote:
//! the version it made, its doc if any, its objects, its deliveries with
//! their participants and seqs, and its counter deltas. New rows land at
//! the right edge of the room's own b-tree, so a commit dirties about one
//! page. Invites are rows of their own, rewritten in place when spent.
//! Nothing else is written per commit: versions and counter totals are
//! derived from the log.
//!
//! Where things are is kept in memory ([`index`]): per room its version,
//! the row of its doc, of each object, of each inbox event (by seq), its
//! counter totals and invites. It is built when the store opens, by
//! reading every log once: an office has hundreds of rooms, and a lazy
//! index would have to be filled by the writer and the readers alike.
//! Reads look in the index, then fetch rows by rowid from the read pool,
//! and look again if the row no longer holds what they sought.
//!
//! A replaced value does not stay readable in an older row: a commit that
//! replaces the doc or an object rewrites the older row without it (a
//! shorter row; `secure_delete` zeroes the freed bytes) in the same
//! transaction, and the next sweep (within a second) empties the WAL of
//! the old page images. A spent invite's value goes the same way.
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

mod index;
mod migrate;
mod ops;
mod reads;
mod record;
mod rooms;
mod schema;
mod writer;

use std::collections::HashSet;
use std::path::Path;
use std::sync::{mpsc as std_mpsc, Arc, Mutex};
use std::thread::JoinHandle;

use async_trait::async_trait;
use record::Record;
use rusqlite::{params, ErrorCode, OptionalExtension};
use tokio::sync::{mpsc, oneshot, Semaphore};

use super::*;
use index::{Index, IndexedRoom};
use reads::ReadPool;
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

/// What the store and its writer thread share: who listens to what, and
/// the index of what is durable (see [`index`]).
#[derive(Default)]
struct Shared {
    watched: Mutex<HashSet<RoomId>>,
    listeners: Mutex<Vec<mpsc::UnboundedSender<Notification>>>,
    index: Mutex<Index>,
}

impl Shared {
    fn publish(&self, n: Notification) {
        if lock(&self.watched).contains(&n.room()) {
            super::fan_out(&mut lock(&self.listeners), n);
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
        let index = rooms::load(&conn).map_err(db_err)?;
        let shared = Arc::new(Shared {
            index: Mutex::new(index.clone()),
            ..Shared::default()
        });
        let (ops, rx) = std_mpsc::channel();
        let writer = Writer::new(conn, shared.clone(), index);
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
                inline: Mutex::new(Vec::new()),
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

fn room_id(bytes: Vec<u8>) -> rusqlite::Result<RoomId> {
    RoomId::from_slice(&bytes).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Blob, Box::new(e))
    })
}

fn count(value: i64) -> u64 {
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
                .map(count)
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
        let look = |r: &IndexedRoom| {
            let counts: Vec<(String, i64)> =
                r.counts.iter().map(|(f, by)| (f.clone(), *by)).collect();
            (r.n, r.doc, r.version, counts)
        };
        self.read_rows(room, look, |tx, (n, row, version, counts)| {
            let doc = rooms::with_row(tx, *n, *row, |record| match record {
                Record::Commit(entry) => entry.doc.map(<[u8]>::to_vec),
                Record::Invite { .. } => None,
            })?;
            Ok(doc.flatten().map(|doc| Versioned {
                version: *version,
                doc,
                counts: counts.clone(),
            }))
        })
        .await
    }

    async fn list_rooms(&self) -> StoreResult<Vec<RoomId>> {
        let now = now_ms();
        let index = lock(&self.shared.index);
        let live = index.iter().filter(|(_, indexed)| indexed.live(now));
        Ok(live.map(|(room, _)| *room).collect())
    }

    async fn read_objects(&self, room: RoomId, keys: &[String]) -> StoreResult<Vec<ObjectRead>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let look = |r: &IndexedRoom| {
            let rows = keys
                .iter()
                .map(|key| (key.clone(), r.objects.get(key).copied()));
            (r.n, rows.collect::<Vec<_>>())
        };
        let found = self.read_rows(room, look, |tx, (n, rows)| {
            let mut values = Vec::with_capacity(rows.len());
            for (key, row) in rows {
                let Some((row, written)) = row else {
                    values.push((None, 0));
                    continue;
                };
                let value = rooms::with_row(tx, *n, *row, |record| match record {
                    Record::Commit(entry) => entry.object(key).map(<[u8]>::to_vec),
                    Record::Invite { .. } => None,
                })?;
                match value.flatten() {
                    Some(value) => values.push((Some(value), *written)),
                    None => return Ok(None),
                }
            }
            Ok(Some(values))
        });
        Ok(found.await?.unwrap_or_else(|| vec![(None, 0); keys.len()]))
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
        let look = |r: &IndexedRoom| {
            let inbox = r.inboxes.get(&participant).map_or(&[][..], Vec::as_slice);
            let from = usize::try_from(after)
                .unwrap_or(usize::MAX)
                .min(inbox.len());
            let rows = &inbox[from..from.saturating_add(limit).min(inbox.len())];
            (r.n, participant, from as u64, rows.to_vec())
        };
        let events = self.read_rows(room, look, |tx, (n, participant, from, rows)| {
            let mut events = Vec::with_capacity(rows.len());
            for (seq, row) in (*from + 1..).zip(rows) {
                let event = rooms::with_row(tx, *n, *row, |record| match record {
                    Record::Commit(entry) => entry.event(*participant, seq).map(<[u8]>::to_vec),
                    Record::Invite { .. } => None,
                })?;
                match event.flatten() {
                    Some(event) => events.push((seq, event)),
                    None => return Ok(None),
                }
            }
            Ok(Some(events))
        });
        Ok(events.await?.unwrap_or_default())
    }

    async fn inbox_head(&self, room: RoomId, participant: ParticipantId) -> StoreResult<u64> {
        Ok(self.indexed(room, |r| r.head(participant)).unwrap_or(0))
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

    fn announces_in_process(&self) -> bool {
        true
    }

    fn notifications(&self) -> mpsc::UnboundedReceiver<Notification> {
        let (tx, rx) = mpsc::unbounded_channel();
        lock(&self.shared.listeners).push(tx);
        rx
    }
}
