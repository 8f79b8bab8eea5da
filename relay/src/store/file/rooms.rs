//! One room's rows: its entry in `rooms` and its own table (see
//! [`schema::create_room_table`]). Everything here runs inside a
//! transaction opened by the caller.

use rusqlite::{params, Connection, OptionalExtension};

use super::schema::{self, COUNT, DOC, INBOX, INVITE, OBJECT};
use crate::store::{InviteTake, ParticipantId, RoomId};

/// A room that has not expired.
pub(super) struct Live {
    /// Its number: its table is `room_<n>`.
    pub n: i64,
    pub version: i64,
}

pub(super) fn live(conn: &Connection, room: RoomId, now: i64) -> rusqlite::Result<Option<Live>> {
    conn.prepare_cached("SELECT n, version FROM rooms WHERE id = ?1 AND expire_at_ms > ?2")?
        .query_row(params![room.as_bytes().as_slice(), now], |row| {
            Ok(Live {
                n: row.get(0)?,
                version: row.get(1)?,
            })
        })
        .optional()
}

/// The room's number and expiry, expired or not.
pub(super) fn find(conn: &Connection, room: RoomId) -> rusqlite::Result<Option<(i64, i64)>> {
    conn.prepare_cached("SELECT n, expire_at_ms FROM rooms WHERE id = ?1")?
        .query_row([room.as_bytes().as_slice()], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .optional()
}

/// One value of the room's table.
fn get(
    conn: &Connection,
    n: i64,
    kind: i64,
    a: &[u8],
    seq: i64,
) -> rusqlite::Result<Option<Option<Vec<u8>>>> {
    let sql = format!(
        "SELECT v FROM {} WHERE kind = ?1 AND a = ?2 AND seq = ?3",
        schema::room_table(n)
    );
    conn.prepare_cached(&sql)?
        .query_row(params![kind, a, seq], |row| row.get(0))
        .optional()
}

/// Create or replace one value of the room's table.
fn put(
    conn: &Connection,
    n: i64,
    kind: i64,
    a: &[u8],
    seq: i64,
    v: Option<&[u8]>,
) -> rusqlite::Result<()> {
    let sql = format!(
        "INSERT INTO {} (kind, a, seq, v) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (kind, a, seq) DO UPDATE SET v = excluded.v",
        schema::room_table(n)
    );
    conn.prepare_cached(&sql)?
        .execute(params![kind, a, seq, v])?;
    Ok(())
}

pub(super) fn doc(conn: &Connection, n: i64) -> rusqlite::Result<Vec<u8>> {
    get(conn, n, DOC, &[], 0)?
        .flatten()
        .ok_or(rusqlite::Error::QueryReturnedNoRows)
}

pub(super) fn object(conn: &Connection, n: i64, key: &str) -> rusqlite::Result<Option<Vec<u8>>> {
    Ok(get(conn, n, OBJECT, key.as_bytes(), 0)?.flatten())
}

pub(super) fn inbox_head(
    conn: &Connection,
    n: i64,
    participant: ParticipantId,
) -> rusqlite::Result<i64> {
    // A bare max() is answered with one seek down the primary key; wrapped
    // in coalesce() it would scan the whole inbox.
    let sql = format!(
        "SELECT max(seq) FROM {} WHERE kind = {INBOX} AND a = ?1",
        schema::room_table(n)
    );
    conn.prepare_cached(&sql)?
        .query_row([participant.as_bytes().as_slice()], |row| {
            row.get::<_, Option<i64>>(0)
        })
        .map(|head| head.unwrap_or(0))
}

pub(super) fn read_inbox(
    conn: &Connection,
    n: i64,
    participant: ParticipantId,
    after: i64,
    limit: i64,
) -> rusqlite::Result<Vec<(i64, Vec<u8>)>> {
    let sql = format!(
        "SELECT seq, v FROM {} WHERE kind = {INBOX} AND a = ?1 AND seq > ?2
         ORDER BY seq LIMIT ?3",
        schema::room_table(n)
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(
        params![participant.as_bytes().as_slice(), after, limit],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    rows.collect()
}

// ---- writes (the writer thread only) ----

/// Register the room at version 1 and create its table.
pub(super) fn create(
    conn: &Connection,
    room: RoomId,
    doc: &[u8],
    expire_at_ms: i64,
) -> rusqlite::Result<()> {
    let n: i64 = conn
        .prepare_cached(
            "INSERT INTO rooms (id, version, expire_at_ms) VALUES (?1, 1, ?2) RETURNING n",
        )?
        .query_row(params![room.as_bytes().as_slice(), expire_at_ms], |row| {
            row.get(0)
        })?;
    schema::create_room_table(conn, n)?;
    put(conn, n, DOC, &[], 0, Some(doc))
}

/// Bump the version of the room if it is live and at `expect`; returns its
/// number and new version, or `None` (a conflict). One statement: this is
/// on the path of every commit.
pub(super) fn bump(
    conn: &Connection,
    room: RoomId,
    expect: i64,
    now: i64,
) -> rusqlite::Result<Option<(i64, i64)>> {
    conn.prepare_cached(
        "UPDATE rooms SET version = version + 1
         WHERE id = ?1 AND version = ?2 AND expire_at_ms > ?3 RETURNING n, version",
    )?
    .query_row(params![room.as_bytes().as_slice(), expect, now], |row| {
        Ok((row.get(0)?, row.get(1)?))
    })
    .optional()
}

pub(super) fn set_doc(conn: &Connection, n: i64, doc: &[u8]) -> rusqlite::Result<()> {
    put(conn, n, DOC, &[], 0, Some(doc))
}

/// Add `by` to one of the room's counters, creating it at zero.
pub(super) fn add_count(conn: &Connection, n: i64, field: &str, by: i64) -> rusqlite::Result<()> {
    let sql = format!(
        "INSERT INTO {} (kind, a, seq, v) VALUES ({COUNT}, ?1, 0, ?2)
         ON CONFLICT (kind, a, seq) DO UPDATE SET v = v + excluded.v",
        schema::room_table(n)
    );
    conn.prepare_cached(&sql)?
        .execute(params![field.as_bytes(), by])?;
    Ok(())
}

/// Every counter of the room.
pub(super) fn counts(conn: &Connection, n: i64) -> rusqlite::Result<Vec<(String, i64)>> {
    let sql = format!(
        "SELECT a, v FROM {} WHERE kind = {COUNT}",
        schema::room_table(n)
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([], |row| {
        let field: Vec<u8> = row.get(0)?;
        Ok((String::from_utf8_lossy(&field).into_owned(), row.get(1)?))
    })?;
    rows.collect()
}

pub(super) fn set_object(
    conn: &Connection,
    n: i64,
    key: &str,
    value: &[u8],
) -> rusqlite::Result<()> {
    put(conn, n, OBJECT, key.as_bytes(), 0, Some(value))
}

pub(super) fn append(
    conn: &Connection,
    n: i64,
    participant: ParticipantId,
    seq: i64,
    payload: &[u8],
) -> rusqlite::Result<()> {
    let sql = format!(
        "INSERT INTO {} (kind, a, seq, v) VALUES ({INBOX}, ?1, ?2, ?3)",
        schema::room_table(n)
    );
    conn.prepare_cached(&sql)?
        .execute(params![participant.as_bytes().as_slice(), seq, payload])?;
    Ok(())
}

pub(super) fn put_invite(
    conn: &Connection,
    n: i64,
    code: &str,
    value: &[u8],
) -> rusqlite::Result<()> {
    put(conn, n, INVITE, code.as_bytes(), 0, Some(value))
}

pub(super) fn take_invite(conn: &Connection, n: i64, code: &str) -> rusqlite::Result<InviteTake> {
    Ok(match get(conn, n, INVITE, code.as_bytes(), 0)? {
        None => InviteTake::Unknown,
        Some(None) => InviteTake::AlreadyUsed,
        Some(Some(value)) => {
            // Spent: the value is overwritten with zeros (secure_delete).
            put(conn, n, INVITE, code.as_bytes(), 0, None)?;
            InviteTake::Taken(value)
        }
    })
}

/// Drop the room's table and its entry. Every page of the table goes to
/// the free list, which `secure_delete` overwrites with zeros: unlike
/// deleting rows from a shared table, this also erases the stale copies of
/// cells that page splits leave in the free space of pages still in use.
pub(super) fn erase(conn: &Connection, n: i64) -> rusqlite::Result<()> {
    conn.execute_batch(&format!("DROP TABLE IF EXISTS {}", schema::room_table(n)))?;
    conn.prepare_cached("DELETE FROM rooms WHERE n = ?1")?
        .execute([n])?;
    Ok(())
}
