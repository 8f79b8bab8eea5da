//! The store's directory, its database file and the connections to it.

use std::fs::{self, DirBuilder, File, OpenOptions, Permissions};
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::{db_err, StoreError, StoreResult};

/// The database inside the store's directory; SQLite adds `-wal` and `-shm`
/// beside it, with the same permissions.
pub(super) const DB_FILE: &str = "caucus.db";

/// `PRAGMA user_version` of the layout below. Version 1 kept each room in
/// a keyed table (see [`super::migrate`]).
pub(super) const SCHEMA_VERSION: i64 = 2;

/// The shared tables (see the module docs). They hold no room content:
/// that lives in each room's own table, see [`create_room_table`].
const SCHEMA: &str = "
CREATE TABLE rooms (
    n            INTEGER PRIMARY KEY AUTOINCREMENT,
    id           BLOB NOT NULL UNIQUE,
    expire_at_ms INTEGER NOT NULL
);
CREATE INDEX rooms_by_expiry ON rooms (expire_at_ms);
CREATE TABLE accounts (
    username TEXT PRIMARY KEY,
    value    BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE counters (
    field TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE generations (
    subject TEXT PRIMARY KEY,
    value   INTEGER NOT NULL
) WITHOUT ROWID;
";

/// The table of room number `n` (`rooms.n`, never reused).
pub(super) fn room_table(n: i64) -> String {
    format!("room_{n}")
}

/// Create room `n`'s log: an append-only rowid table, so every commit
/// adds its one row at the right edge of the room's own b-tree.
pub(super) fn create_room_table(conn: &Connection, n: i64) -> rusqlite::Result<()> {
    conn.execute_batch(&format!(
        "CREATE TABLE {} (r INTEGER PRIMARY KEY, v BLOB NOT NULL)",
        room_table(n)
    ))
}

/// How long a connection waits for a lock held by another one (only a
/// checkpoint waits on readers; nothing else here takes conflicting locks).
const BUSY_TIMEOUT: Duration = Duration::from_secs(1);

const STATEMENT_CACHE: usize = 1024;

/// The writer's page cache, negative: in KiB (SQLite's convention).
const WRITER_CACHE_KIB: i64 = -64 * 1024;

/// How far the WAL may grow before the writer copies it back (SQLite's
/// default is 1,000 pages).
const WAL_AUTOCHECKPOINT_PAGES: i64 = 4_000;

/// How much of the database file connections map into memory.
const MMAP_BYTES: i64 = 256 * 1024 * 1024;

/// Create `dir` (mode 0700) and the database file in it (mode 0600) if
/// missing, and return the database's path. Existing ones keep their mode.
pub(super) fn prepare(dir: &Path) -> StoreResult<PathBuf> {
    let io = |what: &str, path: &Path, e: std::io::Error| {
        StoreError::Unavailable(format!("{what} {}: {e}", path.display()))
    };
    match DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {
            // The umask may have taken bits away; make it exactly 0700.
            fs::set_permissions(dir, Permissions::from_mode(0o700))
                .map_err(|e| io("cannot set the mode of", dir, e))?;
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                sync_dir(parent).map_err(|e| io("cannot sync", parent, e))?;
            }
        }
        Err(e) if e.kind() == ErrorKind::AlreadyExists && dir.is_dir() => {}
        Err(e) => return Err(io("cannot create store directory", dir, e)),
    }
    let path = dir.join(DB_FILE);
    let created = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path);
    match created {
        Ok(file) => {
            file.set_permissions(Permissions::from_mode(0o600))
                .map_err(|e| io("cannot set the mode of", &path, e))?;
            file.sync_all().map_err(|e| io("cannot sync", &path, e))?;
            sync_dir(dir).map_err(|e| io("cannot sync", dir, e))?;
        }
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io("cannot create", &path, e)),
    }
    Ok(path)
}

/// Make a directory entry created in `dir` durable.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

fn open(path: &Path) -> rusqlite::Result<Connection> {
    // The file exists (see `prepare`): never create one somewhere else.
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // Statements name a room's table: room for a few hundred busy rooms.
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    // Sorts and temporary tables never spill to a file of their own.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // Read the database file through a memory map rather than one `pread`
    // per page (pages still in the WAL are read from it as before).
    conn.pragma_update(None, "mmap_size", MMAP_BYTES)?;
    Ok(conn)
}

/// The one connection that writes: WAL, fsync at every commit, deleted
/// content overwritten with zeros. Creates the tables on first use.
pub(super) fn open_writer(path: &Path) -> StoreResult<Connection> {
    let conn = open(path).map_err(db_err)?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(db_err)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Unavailable(format!(
            "{} cannot use write-ahead logging (journal mode {mode})",
            path.display()
        )));
    }
    let secure: i64 = conn
        .pragma_update_and_check(None, "secure_delete", true, |row| row.get(0))
        .map_err(db_err)?;
    if secure != 1 {
        return Err(StoreError::Unavailable(
            "this SQLite cannot overwrite deleted content (secure_delete)".into(),
        ));
    }
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(db_err)?;
    // The writer is the only connection that changes the file, so its page
    // cache stays valid from one transaction to the next: a large one saves
    // re-reading (with a system call each) the pages every commit touches,
    // the inboxes' newest pages and the room rows.
    conn.pragma_update(None, "cache_size", WRITER_CACHE_KIB)
        .map_err(db_err)?;
    // Checkpoint less often: each one writes and fsyncs the pages it copies.
    conn.pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES)
        .map_err(db_err)?;
    migrate(&conn)?;
    Ok(conn)
}

fn migrate(conn: &Connection) -> StoreResult<()> {
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(db_err)?;
    match version {
        0 => {
            let tx = conn.unchecked_transaction().map_err(db_err)?;
            tx.execute_batch(SCHEMA).map_err(db_err)?;
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)
                .map_err(db_err)?;
            tx.commit().map_err(db_err)
        }
        1 => super::migrate::from_v1(conn),
        SCHEMA_VERSION => Ok(()),
        other => Err(StoreError::Corrupt(format!(
            "database schema version {other}; this relay knows {SCHEMA_VERSION}"
        ))),
    }
}

/// A connection for the read pool: it cannot write by mistake.
pub(super) fn open_reader(path: &Path) -> rusqlite::Result<Connection> {
    let conn = open(path)?;
    conn.pragma_update(None, "query_only", true)?;
    Ok(conn)
}
