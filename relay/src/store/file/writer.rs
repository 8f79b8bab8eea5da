//! The writer thread: owns the only writing connection, applies every
//! operation waiting in its channel inside one transaction (group commit),
//! and sweeps expired rooms.

use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::{params, Connection};
use tokio::sync::oneshot;

use super::index::{self, Change, Index};
use super::ops::apply;
use super::{db_err, lock, now_ms, rooms, Shared};
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
pub(super) struct Applied {
    pub response: Response,
    pub notification: Option<Notification>,
    /// What the index must learn, once the transaction is durable.
    pub changes: Vec<Change>,
    /// A room was erased: the WAL must be emptied before answering.
    pub erased: bool,
    /// A value was replaced: old page images holding it stay in the WAL
    /// until the next sweep empties it.
    pub replaced: bool,
}

impl Applied {
    pub fn plain(response: Response) -> Self {
        Applied {
            response,
            notification: None,
            changes: Vec::new(),
            erased: false,
            replaced: false,
        }
    }
}

pub(super) struct Writer {
    conn: Connection,
    shared: Arc<Shared>,
    /// The writer's own index: ahead of `shared.index` by the batch under way.
    index: Index,
    /// Deleted rows may still be in the WAL: a truncating checkpoint is due.
    wal_holds_erased: bool,
}

impl Writer {
    pub(super) fn new(conn: Connection, shared: Arc<Shared>, index: Index) -> Self {
        Writer {
            conn,
            shared,
            index,
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
        let mut changes = Vec::new();
        for Op { req, reply } in batch {
            let writes = req.writes();
            let mut result = match req {
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
            if let Ok(applied) = &mut result {
                erased |= applied.erased;
                self.wal_holds_erased |= applied.replaced;
                for change in &applied.changes {
                    index::apply(&mut self.index, change);
                }
                changes.append(&mut applied.changes);
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
            // Forget what the batch did: the shared index never saw it.
            self.index = lock(&self.shared.index).clone();
        } else if !changes.is_empty() {
            let mut shared = lock(&self.shared.index);
            for change in &changes {
                index::apply(&mut shared, change);
            }
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
        match apply(&self.conn, &self.index, req, now) {
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
        let expired: Vec<(Vec<u8>, i64)> = {
            let mut stmt = tx
                .prepare_cached("SELECT id, n FROM rooms WHERE expire_at_ms <= ?1 LIMIT ?2")
                .map_err(db_err)?;
            let rows = stmt
                .query_map(params![now_ms(), SWEEP_LIMIT], |row| {
                    Ok((row.get(0)?, row.get(1)?))
                })
                .map_err(db_err)?;
            rows.collect::<rusqlite::Result<_>>().map_err(db_err)?
        };
        let mut changes = Vec::with_capacity(expired.len());
        for (id, n) in expired {
            rooms::erase(&tx, n).map_err(db_err)?;
            changes.push(Change::Erased {
                room: super::room_id(id).map_err(db_err)?,
            });
        }
        tx.commit().map_err(db_err)?;
        if !changes.is_empty() {
            tracing::debug!(rooms = changes.len(), "erased expired rooms");
            self.wal_holds_erased = true;
            let mut shared = lock(&self.shared.index);
            for change in &changes {
                index::apply(&mut self.index, change);
                index::apply(&mut shared, change);
            }
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
