//! What each write does to the database and the index, inside the
//! writer's transaction (see [`super::writer`]): SQL first, and the
//! index's [`Change`]s handed back to be applied only if all of it
//! succeeded.

use std::collections::{BTreeMap, HashMap, HashSet};

use rusqlite::{params, Connection};

use super::index::{Change, Index};
use super::record::{Entry, Record};
use super::rooms;
use super::writer::{Applied, Request, Response};
use crate::store::*;

pub(super) fn apply(
    conn: &Connection,
    index: &Index,
    req: Request,
    now: i64,
) -> rusqlite::Result<Applied> {
    let live = |id: &RoomId| index.get(id).filter(|room| room.live(now));
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
            room,
            doc,
            expire_at_ms,
        } => {
            let mut applied = Applied::plain(Response::Bool(true));
            match index.get(&room) {
                Some(old) if old.live(now) => return Ok(Applied::plain(Response::Bool(false))),
                // Expired but not swept yet: it is gone, and the id free again.
                Some(old) => {
                    rooms::erase(conn, old.n)?;
                    applied.changes.push(Change::Erased { room });
                    applied.erased = true;
                }
                None => {}
            }
            // A room created already expired could never be seen: nothing to write.
            if expire_at_ms > now {
                let n = rooms::create(conn, room, expire_at_ms)?;
                let first = Entry {
                    version: 1,
                    doc: Some(&doc),
                    ..Entry::default()
                };
                let row = rooms::append(conn, n, &Record::Commit(first).encode())?;
                applied.changes.push(Change::Created {
                    room,
                    n,
                    expire_at_ms,
                    row,
                });
            }
            applied
        }
        Request::Commit { room, commit } => match live(&room) {
            Some(indexed)
                if commit.reads_hold(indexed.version, indexed.doc_written, |k| {
                    indexed.objects.get(k).map_or(0, |(_, at)| *at)
                }) =>
            {
                commit_room(conn, index, room, commit)?
            }
            _ => Applied::plain(Response::Commit(CommitOutcome::Conflict)),
        },
        Request::DeleteRoom { room } => match index.get(&room) {
            None => Applied::plain(Response::Bool(false)),
            Some(old) => {
                rooms::erase(conn, old.n)?;
                // An expired room not swept yet is erased all the same, but
                // it was already gone for everyone: nothing to tell.
                let live = old.live(now);
                Applied {
                    notification: live.then_some(Notification::RoomDeleted { room }),
                    changes: vec![Change::Erased { room }],
                    erased: true,
                    ..Applied::plain(Response::Bool(live))
                }
            }
        },
        Request::PutInvite { room, code, value } => {
            let mut applied = Applied::plain(Response::Done);
            if let Some(indexed) = live(&room) {
                let record = Record::Invite {
                    code: &code,
                    value: Some(&value),
                }
                .encode();
                // A code given again keeps its row: the old value goes.
                let row = match indexed.invites.get(&code) {
                    Some((row, _)) => {
                        rooms::rewrite(conn, indexed.n, *row, &record)?;
                        applied.replaced = true;
                        *row
                    }
                    None => rooms::append(conn, indexed.n, &record)?,
                };
                applied.changes.push(Change::Invite {
                    room,
                    code,
                    row,
                    spent: false,
                });
            }
            applied
        }
        Request::TakeInvite { room, code } => {
            let invite = live(&room).and_then(|r| Some((r.n, r.invites.get(&code)?)));
            match invite {
                None => Applied::plain(Response::Invite(InviteTake::Unknown)),
                Some((_, (_, true))) => Applied::plain(Response::Invite(InviteTake::AlreadyUsed)),
                Some((n, (row, false))) => {
                    let value = rooms::with_row(conn, n, *row, |record| match record {
                        Record::Invite { value, .. } => value.map(<[u8]>::to_vec),
                        Record::Commit(_) => None,
                    })?
                    .flatten()
                    .ok_or(rusqlite::Error::QueryReturnedNoRows)?;
                    // Spent: the row keeps the code only, and the value's
                    // bytes are overwritten with zeros (secure_delete).
                    let spent = Record::Invite {
                        code: &code,
                        value: None,
                    };
                    rooms::rewrite(conn, n, *row, &spent.encode())?;
                    Applied {
                        changes: vec![Change::Invite {
                            room,
                            code,
                            row: *row,
                            spent: true,
                        }],
                        replaced: true,
                        ..Applied::plain(Response::Invite(InviteTake::Taken(value)))
                    }
                }
            }
        }
    })
}

/// Append the commit as one row of the room's log, and take what it
/// replaces out of the rows that held it.
fn commit_room(
    conn: &Connection,
    index: &Index,
    room: RoomId,
    commit: Commit,
) -> rusqlite::Result<Applied> {
    let Some(indexed) = index.get(&room) else {
        return Ok(Applied::plain(Response::Commit(CommitOutcome::Conflict)));
    };
    let Some(after) = commit.counted(|f| indexed.counts.get(f).copied().unwrap_or(0)) else {
        return Ok(Applied::plain(Response::Commit(CommitOutcome::Conflict)));
    };
    let version = indexed.version + 1;
    // A key put twice in one commit: only the last value is kept.
    let mut seen = HashSet::new();
    let mut puts: Vec<(&str, &[u8])> = commit
        .puts
        .iter()
        .rev()
        .filter(|(key, _)| seen.insert(key.as_str()))
        .map(|(key, value)| (key.as_str(), value.as_slice()))
        .collect();
    puts.reverse();
    let mut heads: HashMap<ParticipantId, u64> = HashMap::new();
    let deliveries: Vec<(ParticipantId, u64, &[u8])> = commit
        .deliveries
        .iter()
        .map(|(participant, payload)| {
            let head = heads
                .entry(*participant)
                .or_insert_with(|| indexed.head(*participant));
            *head += 1;
            (*participant, *head, payload.as_slice())
        })
        .collect();
    let entry = Entry {
        version,
        doc: commit.doc.as_deref(),
        puts,
        deliveries,
        counts: commit
            .counts
            .iter()
            .map(|(f, by)| (f.as_str(), *by))
            .collect(),
    };
    let row = rooms::append(conn, indexed.n, &entry.encode())?;

    // Older rows holding what this commit replaces: (doc?, keys).
    let mut stale: BTreeMap<i64, (bool, Vec<&str>)> = BTreeMap::new();
    if entry.doc.is_some() {
        stale.entry(indexed.doc).or_default().0 = true;
    }
    for (key, _) in &entry.puts {
        if let Some((old, _)) = indexed.objects.get(*key) {
            stale.entry(*old).or_default().1.push(key);
        }
    }
    for (old, (doc, keys)) in &stale {
        let stripped = rooms::with_row(conn, indexed.n, *old, |record| match record {
            Record::Commit(mut e) => {
                if *doc {
                    e.doc = None;
                }
                e.puts.retain(|(key, _)| !keys.contains(key));
                Some(Record::Commit(e).encode())
            }
            Record::Invite { .. } => None,
        })?;
        if let Some(Some(stripped)) = stripped {
            rooms::rewrite(conn, indexed.n, *old, &stripped)?;
        }
    }

    let replaced = !stale.is_empty();
    let seqs: Vec<u64> = entry.deliveries.iter().map(|d| d.1).collect();
    let change = Change::Committed {
        room,
        row,
        version,
        doc: entry.doc.is_some(),
        keys: entry.puts.iter().map(|(k, _)| k.to_string()).collect(),
        deliveries: entry.deliveries.iter().map(|(p, s, _)| (*p, *s)).collect(),
        counts: commit.counts.clone(),
    };
    let deliveries = Delivery::numbered(commit.deliveries, commit.plain, &seqs);
    Ok(Applied {
        notification: (!deliveries.is_empty())
            .then_some(Notification::Delivered { room, deliveries }),
        changes: vec![change],
        replaced,
        ..Applied::plain(Response::Commit(CommitOutcome::Committed {
            version,
            seqs,
            counts: after,
        }))
    })
}
