//! One room's rows: its entry in `rooms` and its log, the table
//! `room_<n>` (see [`schema::create_room_table`]), whose rows are
//! [`record`](super::record)s. Everything here runs inside a transaction
//! opened by the caller.

use rusqlite::{params, Connection, OptionalExtension};

use super::index::{Index, IndexedRoom};
use super::record::{self, Record};
use super::schema;
use crate::store::RoomId;

fn corrupt(n: i64, r: i64) -> rusqlite::Error {
    let what = format!("row {r} of room {n} is not a record this code wrote");
    rusqlite::Error::FromSqlConversionFailure(
        0,
        rusqlite::types::Type::Blob,
        Box::<dyn std::error::Error + Send + Sync>::from(what),
    )
}

/// Row `r` of room `n`'s log, decoded and handed to `f`; `None` if there
/// is no such row.
pub(super) fn with_row<T>(
    conn: &Connection,
    n: i64,
    r: i64,
    f: impl FnOnce(Record) -> T,
) -> rusqlite::Result<Option<T>> {
    let sql = format!("SELECT v FROM {} WHERE r = ?1", schema::room_table(n));
    conn.prepare_cached(&sql)?
        .query_row([r], |row| {
            let bytes = row.get_ref(0)?.as_blob()?;
            let record = record::decode(bytes).ok_or_else(|| corrupt(n, r))?;
            Ok(f(record))
        })
        .optional()
}

/// Append `row` to room `n`'s log; returns its rowid.
pub(super) fn append(conn: &Connection, n: i64, row: &[u8]) -> rusqlite::Result<i64> {
    let sql = format!("INSERT INTO {} (v) VALUES (?1)", schema::room_table(n));
    conn.prepare_cached(&sql)?.execute([row])?;
    Ok(conn.last_insert_rowid())
}

/// Replace row `r` of room `n`'s log. A shorter row (a value taken out)
/// frees space in its page, which `secure_delete` overwrites with zeros.
pub(super) fn rewrite(conn: &Connection, n: i64, r: i64, row: &[u8]) -> rusqlite::Result<()> {
    let sql = format!("UPDATE {} SET v = ?1 WHERE r = ?2", schema::room_table(n));
    conn.prepare_cached(&sql)?.execute(params![row, r])?;
    Ok(())
}

/// Register the room and create its (empty) log; returns its number.
pub(super) fn create(conn: &Connection, room: RoomId, expire_at_ms: i64) -> rusqlite::Result<i64> {
    let n: i64 = conn
        .prepare_cached("INSERT INTO rooms (id, expire_at_ms) VALUES (?1, ?2) RETURNING n")?
        .query_row(params![room.as_bytes().as_slice(), expire_at_ms], |row| {
            row.get(0)
        })?;
    schema::create_room_table(conn, n)?;
    Ok(n)
}

/// Drop the room's log and its entry. Every page of the table goes to
/// the free list, which `secure_delete` overwrites with zeros: unlike
/// deleting rows from a shared table, this also erases the stale copies of
/// cells that page splits leave in the free space of pages still in use.
pub(super) fn erase(conn: &Connection, n: i64) -> rusqlite::Result<()> {
    conn.execute_batch(&format!("DROP TABLE IF EXISTS {}", schema::room_table(n)))?;
    conn.prepare_cached("DELETE FROM rooms WHERE n = ?1")?
        .execute([n])?;
    Ok(())
}

/// Build the index of every room, expired or not, by reading each log once.
pub(super) fn load(conn: &Connection) -> rusqlite::Result<Index> {
    let rooms: Vec<(Vec<u8>, i64, i64)> = conn
        .prepare("SELECT id, n, expire_at_ms FROM rooms")?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut index = Index::with_capacity(rooms.len());
    for (id, n, expire_at_ms) in rooms {
        let room = super::room_id(id)?;
        let mut indexed = IndexedRoom::new(n, expire_at_ms);
        let sql = format!("SELECT r, v FROM {} ORDER BY r", schema::room_table(n));
        let mut stmt = conn.prepare(&sql)?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let r: i64 = row.get(0)?;
            let bytes = row.get_ref(1)?.as_blob()?;
            let record = record::decode(bytes).ok_or_else(|| corrupt(n, r))?;
            indexed.replay(r, &record);
        }
        index.insert(room, indexed);
    }
    Ok(index)
}
