//! The writer thread: owns the only writing connection, applies every
//! operation waiting in its channel inside one transaction (group commit),
//! and sweeps expired rooms.

use std::collections::HashMap;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::{params, Connection};
use tokio::sync::oneshot;

use super::{db_err, now_ms, rooms, Shared};
use crate::store::*;

/// How often expired rooms are looked for.
const SWEEP_EVERY: Duration = Duration::from_secs(1);
/// At most this many operations share one transaction.
const MAX_BATCH: usize = 512;
/// At most this many expired rooms are erased by one sweep transaction.
const SWEEP_LIMIT: i64 = 256;

/// An operation for the writer thread.
pub(super) enum Request {
    /// Answers once the writer has gone round its loop: it is alive.
    Ping,
    /// Published in channel order with the notifications of commits, so a
    /// signal sent after a commit returned is heard after its deliveries.
    Signal {
        room: RoomId,
        payload: Vec<u8>,
    },
    PutAccount {
        username: String,
        value: Vec<u8>,
    },
    CreateRoom {
        room: RoomId,
        doc: Vec<u8>,
        expire_at_ms: i64,
    },
    Commit {
        room: RoomId,
        commit: Commit,
    },
    DeleteRoom {
        room: RoomId,
    },
    PutInvite {
        room: RoomId,
        code: String,
        value: Vec<u8>,
    },
    TakeInvite {
        room: RoomId,
        code: String,
    },
    IncrCounter {
        field: String,
        by: i64,
    },
    RaiseGeneration {
        subject: String,
    },
}

impl Request {
    fn writes(&self) -> bool {
        !matches!(self, Request::Ping | Request::Signal { .. })
    }
}

#[derive(Debug)]
pub(super) enum Response {
    Done,
    Bool(bool),
    Commit(CommitOutcome),
    Invite(InviteTake),
    Count(u64),
}

pub(super) struct Op {
    pub req: Request,
    pub reply: oneshot::Sender<StoreResult<Response>>,
}

/// What applying one request produced.
struct Applied {
    response: Response,
    notification: Option<Notification>,
    /// Rows of a room were deleted: the WAL must be emptied of them.
    erased: bool,
}

impl Applied {
    fn plain(response: Response) -> Self {
        Applied {
            response,
            notification: None,
            erased: false,
        }
    }
}

pub(super) struct Writer {
    conn: Connection,
    shared: Arc<Shared>,
    /// Deleted rows may still be in the WAL: a truncating checkpoint is due.
    wal_holds_erased: bool,
}

impl Writer {
    pub(super) fn new(conn: Connection, shared: Arc<Shared>) -> Self {
        Writer {
            conn,
            shared,
            wal_holds_erased: false,
        }
    }

    /// Serve `ops` until every sender is gone (the store was dropped).
    pub(super) fn run(mut self, ops: Receiver<Op>) {
        let mut next_sweep = Instant::now() + SWEEP_EVERY;
        loop {
            match ops.recv_timeout(next_sweep.saturating_duration_since(Instant::now())) {
                Ok(first) => {
                    let mut batch = vec![first];
                    while batch.len() < MAX_BATCH {
                        match ops.try_recv() {
                            Ok(op) => batch.push(op),
                            Err(_) => break,
                        }
                    }
                    self.run_batch(batch);
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            if Instant::now() >= next_sweep {
                if let Err(error) = self.sweep() {
                    tracing::warn!(%error, "sweeping expired rooms failed");
                }
                next_sweep = Instant::now() + SWEEP_EVERY;
            }
        }
    }

    /// Apply `batch` in one transaction, commit (fsync) once, then answer
    /// every operation and only then publish their notifications, in order.
    fn run_batch(&mut self, batch: Vec<Op>) {
        let now = now_ms();
        let in_tx = batch.iter().any(|op| op.req.writes());
        let mut done = Vec::with_capacity(batch.len());
        let mut failed: Option<StoreError> = None;
        if in_tx {
            if let Err(e) = self.conn.execute_batch("BEGIN IMMEDIATE") {
                failed = Some(db_err(e));
            }
        }
        let mut erased = false;
        for Op { req, reply } in batch {
            let writes = req.writes();
            let result = match req {
                Request::Ping => Ok(Applied::plain(Response::Done)),
                Request::Signal { room, payload } => Ok(Applied {
                    notification: Some(Notification::Signal { room, payload }),
                    ..Applied::plain(Response::Done)
                }),
                _ if failed.is_some() => Err(StoreError::Unavailable("transaction failed".into())),
                req => self.apply_isolated(req, now).inspect_err(|_| {
                    if self.conn.is_autocommit() {
                        // SQLite rolled the whole transaction back: whatever
                        // this batch did before is gone too.
                        failed = Some(StoreError::Unavailable("transaction rolled back".into()));
                    }
                }),
            };
            if let Ok(applied) = &result {
                erased |= applied.erased;
            }
            done.push((reply, writes, result));
        }
        if in_tx && failed.is_none() {
            if let Err(e) = self.conn.execute_batch("COMMIT") {
                failed = Some(db_err(e));
            }
        }
        if let Some(error) = &failed {
            if !self.conn.is_autocommit() {
                let _ = self.conn.execute_batch("ROLLBACK");
            }
            tracing::warn!(%error, "store transaction failed");
            erased = false;
        }
        if erased {
            self.wal_holds_erased = true;
            self.checkpoint();
        }
        let mut notifications = Vec::new();
        for (reply, writes, result) in done {
            let result = match (result, &failed) {
                (Ok(_), Some(error)) if writes => Err(StoreError::Unavailable(error.to_string())),
                (Ok(applied), _) => {
                    notifications.extend(applied.notification);
                    Ok(applied.response)
                }
                (Err(e), _) => Err(e),
            };
            // The caller may have given up (timeout); that is its business.
            let _ = reply.send(result);
        }
        for notification in notifications {
            self.shared.publish(notification);
        }
    }

    /// Apply one request inside a savepoint, so that an error leaves none of
    /// its writes behind and the rest of the batch goes on.
    fn apply_isolated(&mut self, req: Request, now: i64) -> StoreResult<Applied> {
        let run = |sql: &str| self.conn.prepare_cached(sql)?.execute([]).map(drop);
        run("SAVEPOINT op").map_err(db_err)?;
        match apply(&self.conn, req, now) {
            Ok(applied) => {
                run("RELEASE op").map_err(db_err)?;
                Ok(applied)
            }
            Err(e) => {
                if !self.conn.is_autocommit() {
                    let _ = run("ROLLBACK TO op").and_then(|()| run("RELEASE op"));
                }
                Err(db_err(e))
            }
        }
    }

    /// Erase every expired room, in one transaction, then empty the WAL.
    fn sweep(&mut self) -> StoreResult<()> {
        let tx = self.conn.unchecked_transaction().map_err(db_err)?;
        let expired: Vec<i64> = {
            let mut stmt = tx
                .prepare_cached("SELECT n FROM rooms WHERE expire_at_ms <= ?1 LIMIT ?2")
                .map_err(db_err)?;
            let rows = stmt
                .query_map(params![now_ms(), SWEEP_LIMIT], |row| row.get(0))
                .map_err(db_err)?;
            rows.collect::<rusqlite::Result<_>>().map_err(db_err)?
        };
        for n in &expired {
            rooms::erase(&tx, *n).map_err(db_err)?;
        }
        tx.commit().map_err(db_err)?;
        if !expired.is_empty() {
            tracing::debug!(rooms = expired.len(), "erased expired rooms");
            self.wal_holds_erased = true;
        }
        if self.wal_holds_erased {
            self.checkpoint();
        }
        Ok(())
    }

    /// Copy the WAL into the database and truncate it to nothing, so that no
    /// old page image of an erased room is left in it. A reader in the way
    /// makes it fail; the next sweep tries again.
    fn checkpoint(&mut self) {
        let result = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| {
                row.get::<_, i64>(0)
            });
        match result {
            Ok(0) => self.wal_holds_erased = false,
            Ok(_) => tracing::debug!("WAL checkpoint blocked by a reader; retrying later"),
            Err(error) => tracing::warn!(%error, "WAL checkpoint failed"),
        }
    }
}

fn apply(conn: &Connection, req: Request, now: i64) -> rusqlite::Result<Applied> {
    Ok(match req {
        Request::Ping | Request::Signal { .. } => Applied::plain(Response::Done),
        Request::PutAccount { username, value } => {
            conn.prepare_cached(
                "INSERT INTO accounts (username, value) VALUES (?1, ?2)
                 ON CONFLICT (username) DO UPDATE SET value = excluded.value",
            )?
            .execute(params![username, value])?;
            Applied::plain(Response::Done)
        }
        Request::IncrCounter { field, by } => {
            conn.prepare_cached(
                "INSERT INTO counters (field, value) VALUES (?1, ?2)
                 ON CONFLICT (field) DO UPDATE SET value = value + excluded.value",
            )?
            .execute(params![field, by])?;
            Applied::plain(Response::Done)
        }
        Request::RaiseGeneration { subject } => {
            let value: i64 = conn
                .prepare_cached(
                    "INSERT INTO generations (subject, value) VALUES (?1, 1)
                     ON CONFLICT (subject) DO UPDATE SET value = value + 1
                     RETURNING value",
                )?
                .query_row(params![subject], |row| row.get(0))?;
            Applied::plain(Response::Count(value as u64))
        }
        Request::CreateRoom {
            room: id,
            doc,
            expire_at_ms,
        } => {
            let mut erased = false;
            match rooms::find(conn, id)? {
                Some((_, expiry)) if expiry > now => {
                    return Ok(Applied::plain(Response::Bool(false)))
                }
                // Expired but not swept yet: it is gone, and the id free again.
                Some((n, _)) => {
                    rooms::erase(conn, n)?;
                    erased = true;
                }
                None => {}
            }
            // A room created already expired could never be seen: nothing to write.
            if expire_at_ms > now {
                rooms::create(conn, id, &doc, expire_at_ms)?;
            }
            Applied {
                erased,
                ..Applied::plain(Response::Bool(true))
            }
        }
        Request::Commit { room: id, commit } => commit_room(conn, id, commit, now)?,
        Request::DeleteRoom { room: id } => match rooms::find(conn, id)? {
            None => Applied::plain(Response::Bool(false)),
            Some((n, expiry)) => {
                rooms::erase(conn, n)?;
                // An expired room not swept yet is erased all the same, but
                // it was already gone for everyone: nothing to tell.
                let live = expiry > now;
                Applied {
                    response: Response::Bool(live),
                    notification: live.then_some(Notification::RoomDeleted { room: id }),
                    erased: true,
                }
            }
        },
        Request::PutInvite {
            room: id,
            code,
            value,
        } => {
            if let Some(live) = rooms::live(conn, id, now)? {
                rooms::put_invite(conn, live.n, &code, &value)?;
            }
            Applied::plain(Response::Done)
        }
        Request::TakeInvite { room: id, code } => {
            let take = match rooms::live(conn, id, now)? {
                Some(live) => rooms::take_invite(conn, live.n, &code)?,
                None => InviteTake::Unknown,
            };
            Applied::plain(Response::Invite(take))
        }
    })
}

fn commit_room(
    conn: &Connection,
    id: RoomId,
    commit: Commit,
    now: i64,
) -> rusqlite::Result<Applied> {
    let conflict = || Ok(Applied::plain(Response::Commit(CommitOutcome::Conflict)));
    let Ok(expect) = i64::try_from(commit.expect_version) else {
        return conflict();
    };
    let Some((n, version)) = rooms::bump(conn, id, expect, now)? else {
        return conflict();
    };
    if let Some(doc) = &commit.doc {
        rooms::set_doc(conn, n, doc)?;
    }
    for (key, value) in &commit.puts {
        rooms::set_object(conn, n, key, value)?;
    }
    for (field, by) in &commit.counts {
        rooms::add_count(conn, n, field, *by)?;
    }
    let mut heads: HashMap<ParticipantId, i64> = HashMap::new();
    let mut deliveries = Vec::with_capacity(commit.deliveries.len());
    for (participant, payload) in commit.deliveries {
        let seq = match heads.get(&participant) {
            Some(seq) => seq + 1,
            None => rooms::inbox_head(conn, n, participant)? + 1,
        };
        heads.insert(participant, seq);
        rooms::append(conn, n, participant, seq, &payload)?;
        deliveries.push(Delivery {
            participant,
            seq: seq as u64,
            payload,
        });
    }
    let seqs = deliveries.iter().map(|d| d.seq).collect();
    Ok(Applied {
        response: Response::Commit(CommitOutcome::Committed {
            version: version as u64,
            seqs,
        }),
        notification: (!deliveries.is_empty()).then_some(Notification::Delivered {
            room: id,
            deliveries,
        }),
        erased: false,
    })
}
