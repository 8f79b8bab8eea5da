//! The read side: a pool of read-only connections, and reads that find
//! rows through the index.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, Transaction};
use tokio::sync::Semaphore;

use super::index::IndexedRoom;
use super::{db_err, lock, now_ms, schema, stopped, FileStore};
use crate::store::*;

/// A read that found a row rewritten or its room erased since it looked
/// in the index looks again, at most this many times.
const READ_ATTEMPTS: usize = 8;

impl FileStore {
    pub(super) async fn read<T, F>(&self, f: F) -> StoreResult<T>
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

    /// What the index says of a live room, through `look`.
    pub(super) fn indexed<P>(
        &self,
        room: RoomId,
        look: impl FnOnce(&IndexedRoom) -> P,
    ) -> Option<P> {
        let now = now_ms();
        lock(&self.shared.index)
            .get(&room)
            .filter(|indexed| indexed.live(now))
            .map(look)
    }

    /// Read rows of a live room: `look` picks them in the index, `fetch`
    /// reads them, and answers `None` if one no longer holds what the
    /// index said (the writer replaced it since); then both run again.
    /// `None` if the room is not live.
    pub(super) async fn read_rows<P, T>(
        &self,
        room: RoomId,
        look: impl Fn(&IndexedRoom) -> P,
        fetch: fn(&Transaction, &P) -> rusqlite::Result<Option<T>>,
    ) -> StoreResult<Option<T>>
    where
        P: Send + 'static,
        T: Send + 'static,
    {
        for attempt in 1.. {
            let Some(plan) = self.indexed(room, &look) else {
                return Ok(None);
            };
            // A few rows by rowid: cheaper here than a trip to a blocking
            // thread and back, unless the read would wait for a lock.
            let read = match self.readers.run_inline(|tx| fetch(tx, &plan)) {
                Some(read) => read,
                None => self.read(move |tx, _| fetch(tx, &plan)).await,
            };
            match read {
                Ok(Some(value)) => return Ok(Some(value)),
                // The room's table may have been dropped since the look.
                Ok(None) | Err(_) if attempt < READ_ATTEMPTS => {}
                Ok(None) => break,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Unavailable(
            "the room kept changing under a read".into(),
        ))
    }
}

/// Read connections, opened on demand and kept while idle.
pub(super) struct ReadPool {
    pub path: PathBuf,
    pub idle: Mutex<Vec<Connection>>,
    pub permits: Arc<Semaphore>,
    /// Connections for reads on the calling thread: they never wait for a
    /// lock (busy timeout zero), so they cannot stall an async task.
    pub inline: Mutex<Vec<Connection>>,
}

impl ReadPool {
    /// Run `f` on this thread in a read transaction, unless it would have
    /// to wait for a lock (`None`: use [`FileStore::read`]).
    fn run_inline<T>(
        &self,
        f: impl FnOnce(&Transaction) -> rusqlite::Result<T>,
    ) -> Option<StoreResult<T>> {
        let idle = lock(&self.inline).pop();
        let conn = match idle {
            Some(conn) => conn,
            None => match schema::open_reader(&self.path)
                .and_then(|conn| conn.busy_timeout(Duration::ZERO).map(|()| conn))
            {
                Ok(conn) => conn,
                Err(e) => return Some(Err(db_err(e))),
            },
        };
        match in_read_tx(&conn, f) {
            Ok(value) => {
                lock(&self.inline).push(conn);
                Some(Ok(value))
            }
            Err(e) if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy) => {
                lock(&self.inline).push(conn);
                None
            }
            // A connection that failed is dropped, not reused.
            Err(e) => Some(Err(db_err(e))),
        }
    }

    /// Run `f` in a read transaction: one consistent snapshot.
    fn run<T>(&self, f: impl FnOnce(&Transaction, i64) -> rusqlite::Result<T>) -> StoreResult<T> {
        let idle = lock(&self.idle).pop();
        let conn = match idle {
            Some(conn) => conn,
            None => schema::open_reader(&self.path).map_err(db_err)?,
        };
        let result = in_read_tx(&conn, |tx| f(tx, now_ms()));
        // A connection that failed is dropped, not reused.
        if result.is_ok() {
            lock(&self.idle).push(conn);
        }
        result.map_err(db_err)
    }
}

/// `f` in one read transaction on `conn`: one consistent snapshot.
fn in_read_tx<T>(
    conn: &Connection,
    f: impl FnOnce(&Transaction) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    let tx = Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Deferred)?;
    let value = f(&tx)?;
    tx.commit()?;
    Ok(value)
}
