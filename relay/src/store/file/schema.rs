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

/// `PRAGMA user_version` of the layout below.
const SCHEMA_VERSION: i64 = 1;

/// The layout described in the module docs. Room ids and participant ids
/// are their 16 raw bytes.
const SCHEMA: &str = "
CREATE TABLE rooms (
    id           BLOB PRIMARY KEY,
    version      INTEGER NOT NULL,
    doc          BLOB NOT NULL,
    expire_at_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX rooms_by_expiry ON rooms (expire_at_ms);
CREATE TABLE objects (
    room  BLOB NOT NULL,
    key   TEXT NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (room, key)
);
CREATE TABLE inbox (
    room        BLOB NOT NULL,
    participant BLOB NOT NULL,
    seq         INTEGER NOT NULL,
    payload     BLOB NOT NULL,
    PRIMARY KEY (room, participant, seq)
);
CREATE TABLE invites (
    room  BLOB NOT NULL,
    code  TEXT NOT NULL,
    value BLOB,
    PRIMARY KEY (room, code)
) WITHOUT ROWID;
CREATE TABLE accounts (
    username TEXT PRIMARY KEY,
    value    BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE counters (
    field TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
";

/// How long a connection waits for a lock held by another one (only a
/// checkpoint waits on readers; nothing else here takes conflicting locks).
const BUSY_TIMEOUT: Duration = Duration::from_secs(1);

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
    conn.set_prepared_statement_cache_capacity(32);
    // Sorts and temporary tables never spill to a file of their own.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
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
