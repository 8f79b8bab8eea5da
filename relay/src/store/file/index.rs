//! Where everything of every room lives in its log, in memory: the rows
//! hold the values, the index says which row holds what.
//!
//! Two copies exist. The writer thread owns one and changes it as each
//! operation of a batch succeeds, so later operations of the same batch
//! see earlier ones. Readers share the other, behind a lock, and it is
//! changed only once the batch's transaction is durable, by replaying the
//! same [`Change`]s: a reader never learns of a version, a seq or a row
//! that could still be rolled back. If a transaction fails, the writer
//! copies the shared index back.
//!
//! Both are built when the store opens, by reading every room's log once
//! (see [`IndexedRoom::replay`]): the index is the rows read in order,
//! each later row overriding the doc and objects of earlier ones.

use std::collections::HashMap;

use super::record::{Entry, Record};
use crate::store::{ParticipantId, RoomId};

/// One room: its number, expiry, version, and the row of each value.
#[derive(Debug, Clone, Default)]
pub(super) struct IndexedRoom {
    /// `rooms.n`: its log is the table `room_<n>`.
    pub n: i64,
    pub expire_at_ms: i64,
    pub version: u64,
    /// The row holding the current doc.
    pub doc: i64,
    /// The version that last wrote the doc (concurrency control, see
    /// [`crate::store::Commit::reads`]).
    pub doc_written: u64,
    /// Each object's row, and the version that wrote it.
    pub objects: HashMap<String, (i64, u64)>,
    /// Per participant, the row of each event: `inboxes[p][seq - 1]`.
    pub inboxes: HashMap<ParticipantId, Vec<i64>>,
    pub counts: HashMap<String, i64>,
    /// The row of each invite code, and whether it is spent.
    pub invites: HashMap<String, (i64, bool)>,
}

impl IndexedRoom {
    pub fn new(n: i64, expire_at_ms: i64) -> Self {
        IndexedRoom {
            n,
            expire_at_ms,
            ..IndexedRoom::default()
        }
    }

    /// Account for row `r`, read in rowid order.
    pub fn replay(&mut self, r: i64, record: &Record) {
        match record {
            Record::Commit(entry) => self.committed(r, entry),
            Record::Invite { code, value } => {
                self.invites.insert(code.to_string(), (r, value.is_none()));
            }
        }
    }

    /// Row `r` holds `entry`, the room's newest commit.
    fn committed(&mut self, r: i64, entry: &Entry) {
        self.version = self.version.max(entry.version);
        if entry.doc.is_some() {
            self.doc = r;
            self.doc_written = entry.version;
        }
        for (key, _) in &entry.puts {
            self.objects.insert(key.to_string(), (r, entry.version));
        }
        for (participant, seq, _) in &entry.deliveries {
            let inbox = self.inboxes.entry(*participant).or_default();
            // Seqs are gapless from 1 and appended in order.
            if *seq == inbox.len() as u64 + 1 {
                inbox.push(r);
            }
        }
        for (field, by) in &entry.counts {
            *self.counts.entry(field.to_string()).or_default() += by;
        }
    }

    /// The newest seq in `participant`'s inbox (0 when empty).
    pub fn head(&self, participant: ParticipantId) -> u64 {
        self.inboxes.get(&participant).map_or(0, |i| i.len() as u64)
    }

    pub fn live(&self, now: i64) -> bool {
        self.expire_at_ms > now
    }
}

/// Every room, by id.
pub(super) type Index = HashMap<RoomId, IndexedRoom>;

/// One successful write, as the index records it.
#[derive(Debug, Clone)]
pub(super) enum Change {
    /// A new room, whose first row (`doc` at version 1) is row `row`.
    Created {
        room: RoomId,
        n: i64,
        expire_at_ms: i64,
        row: i64,
    },
    /// The room's log is gone.
    Erased { room: RoomId },
    /// Row `row` holds the room's newest commit (values left out: the
    /// index only needs their keys).
    Committed {
        room: RoomId,
        row: i64,
        version: u64,
        doc: bool,
        keys: Vec<String>,
        deliveries: Vec<(ParticipantId, u64)>,
        counts: Vec<(String, i64)>,
    },
    Invite {
        room: RoomId,
        code: String,
        row: i64,
        spent: bool,
    },
}

pub(super) fn apply(index: &mut Index, change: &Change) {
    match change {
        Change::Created {
            room,
            n,
            expire_at_ms,
            row,
        } => {
            let mut indexed = IndexedRoom::new(*n, *expire_at_ms);
            indexed.version = 1;
            indexed.doc = *row;
            index.insert(*room, indexed);
        }
        Change::Erased { room } => {
            index.remove(room);
        }
        Change::Committed {
            room,
            row,
            version,
            doc,
            keys,
            deliveries,
            counts,
        } => {
            if let Some(indexed) = index.get_mut(room) {
                let entry = Entry {
                    version: *version,
                    doc: doc.then_some(&[][..]),
                    puts: keys.iter().map(|k| (k.as_str(), &[][..])).collect(),
                    deliveries: deliveries.iter().map(|(p, s)| (*p, *s, &[][..])).collect(),
                    counts: counts.iter().map(|(f, by)| (f.as_str(), *by)).collect(),
                };
                indexed.committed(*row, &entry);
            }
        }
        Change::Invite {
            room,
            code,
            row,
            spent,
        } => {
            if let Some(indexed) = index.get_mut(room) {
                indexed.invites.insert(code.clone(), (*row, *spent));
            }
        }
    }
}
