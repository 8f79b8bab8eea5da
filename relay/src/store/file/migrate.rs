//! Schema version 1 to 2, once, when the store opens a directory written
//! by an older relay.
//!
//! Version 1 kept each room in a keyed table `room_<n> (kind, a, seq, v)`
//! (the doc, objects, inbox events by participant and seq, invites,
//! counters) and its version in `rooms.version`. Version 2 keeps each room
//! as a log of [`Record`]s and derives the version from it. Each room is
//! read whole, its old table dropped (`secure_delete` zeroes every page of
//! it) and its log written: one commit with the version, doc and counters,
//! then one per object and one per inbox event, then one per invite. All
//! rooms convert in one transaction, and the WAL is emptied afterwards, so
//! no old page image outlives the conversion.

use rusqlite::Connection;

use super::record::{Entry, Record};
use super::schema::{self, SCHEMA_VERSION};
use super::{db_err, rooms, StoreResult};
use crate::store::ParticipantId;

/// The kinds of row of a version 1 room table.
const DOC: i64 = 0;
const OBJECT: i64 = 1;
const INBOX: i64 = 2;
const INVITE: i64 = 3;
const COUNT: i64 = 4;

/// One version 1 row: `(kind, a, seq, v)`, `v` as its blob or integer.
type OldRow = (i64, Vec<u8>, i64, Option<Vec<u8>>, Option<i64>);

pub(super) fn from_v1(conn: &Connection) -> StoreResult<()> {
    let tx = conn.unchecked_transaction().map_err(db_err)?;
    let rooms: Vec<(i64, i64)> = tx
        .prepare("SELECT n, version FROM rooms")
        .and_then(|mut stmt| {
            stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect()
        })
        .map_err(db_err)?;
    for (n, version) in &rooms {
        convert(&tx, *n, *version as u64).map_err(db_err)?;
    }
    tx.execute_batch("ALTER TABLE rooms DROP COLUMN version")
        .map_err(db_err)?;
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)
        .map_err(db_err)?;
    tx.commit().map_err(db_err)?;
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .map_err(db_err)?;
    tracing::info!(rooms = rooms.len(), "file store converted to schema 2");
    Ok(())
}

fn convert(conn: &Connection, n: i64, version: u64) -> rusqlite::Result<()> {
    let table = schema::room_table(n);
    let old: Vec<OldRow> = conn
        .prepare(&format!(
            "SELECT kind, a, seq, CASE WHEN typeof(v) = 'blob' THEN v END,
                    CASE WHEN typeof(v) = 'integer' THEN v END
             FROM {table} ORDER BY kind, a, seq"
        ))?
        .query_map([], |row| {
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
            ))
        })?
        .collect::<rusqlite::Result<_>>()?;
    conn.execute_batch(&format!("DROP TABLE {table}"))?;
    schema::create_room_table(conn, n)?;

    let text = |a: &[u8]| String::from_utf8_lossy(a).into_owned();
    let counts: Vec<(String, i64)> = old
        .iter()
        .filter(|row| row.0 == COUNT)
        .map(|row| (text(&row.1), row.4.unwrap_or(0)))
        .collect();
    let doc = old
        .iter()
        .find(|row| row.0 == DOC)
        .and_then(|row| row.3.as_deref());
    let first = Entry {
        version,
        doc,
        counts: counts.iter().map(|(f, by)| (f.as_str(), *by)).collect(),
        ..Entry::default()
    };
    rooms::append(conn, n, &Record::Commit(first).encode())?;
    for (kind, a, seq, blob, _) in &old {
        let record = match (*kind, blob) {
            (OBJECT, Some(value)) => {
                let key = text(a);
                Record::Commit(Entry {
                    version,
                    puts: vec![(&key, value)],
                    ..Entry::default()
                })
                .encode()
            }
            (INBOX, Some(payload)) => {
                let Ok(participant) = ParticipantId::from_slice(a) else {
                    continue;
                };
                Record::Commit(Entry {
                    version,
                    deliveries: vec![(participant, *seq as u64, payload)],
                    ..Entry::default()
                })
                .encode()
            }
            (INVITE, value) => Record::Invite {
                code: &text(a),
                value: value.as_deref(),
            }
            .encode(),
            _ => continue,
        };
        rooms::append(conn, n, &record)?;
    }
    Ok(())
}
