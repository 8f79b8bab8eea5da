//! Quota usage as store counters. The room logic charges each outcome to
//! the participant who asked ([`Outcome::usage`]); here that charge becomes
//! counter increments committed with the outcome, and the counters read
//! back with the document become [`Usage`] again.
//!
//! Counter names hold no id: a participant's counters are named by a
//! keyed hash of its id, scoped to the room.

use std::sync::Mutex;

use foldhash::HashMap;

use protocol::{ParticipantId, RoomId};

use super::Rooms;
use crate::room::logic::Outcome;
use crate::room::records::{Tally, Usage};
use crate::room::RoomDoc;

/// Counter fields with an amount: increments, or ceilings.
pub(super) type Counters = Vec<(String, i64)>;

/// The room's own counters.
const ROOM: &str = "room";

impl Rooms {
    /// The counter increments for what `out` stores, and, when it adds
    /// text, the ceilings the counters must stay within (the quotas; for the
    /// author, less what was counted under former names).
    pub(super) fn usage_counts(
        &self,
        room: RoomId,
        doc: &RoomDoc,
        out: &Outcome,
    ) -> (Counters, Counters) {
        let Some((who, t)) = out.usage else {
            return (Vec::new(), Vec::new());
        };
        let [who_m, who_b] = self.current_fields(room, who);
        let (m, b) = (to_i64(t.messages), to_i64(t.bytes));
        let counts = vec![
            (format!("{ROOM}.m"), m),
            (format!("{ROOM}.b"), b),
            (who_m.clone(), m),
            (who_b.clone(), b),
        ];
        if !out.capped {
            return (counts, Vec::new());
        }
        let q = &self.quotas;
        let former = doc.usage.legacy.get(&who).copied().unwrap_or_default();
        let limits = vec![
            (format!("{ROOM}.m"), to_i64(q.room_messages)),
            (format!("{ROOM}.b"), to_i64(q.room_bytes)),
            (
                who_m,
                to_i64(q.participant_messages.saturating_sub(former.messages)),
            ),
            (
                who_b,
                to_i64(q.participant_bytes.saturating_sub(former.bytes)),
            ),
        ];
        (counts, limits)
    }

    /// The usage after a commit of `out` that left the counters it
    /// incremented at `after` (in [`Rooms::usage_counts`]'s order): exact,
    /// other nodes' commits included, for the room and the author.
    pub(super) fn usage_after(&self, usage: &mut Usage, out: &Outcome, after: &[i64]) {
        let (Some((who, _)), [room_m, room_b, who_m, who_b]) = (out.usage, after) else {
            return;
        };
        let count = |n: &i64| u64::try_from(*n).unwrap_or(0);
        usage.room = Tally {
            messages: count(room_m),
            bytes: count(room_b),
        };
        let former = usage.legacy.get(&who).copied().unwrap_or_default();
        usage.by.insert(
            who,
            Tally {
                messages: count(who_m) + former.messages,
                bytes: count(who_b) + former.bytes,
            },
        );
    }

    fn current_fields(&self, room: RoomId, who: ParticipantId) -> [String; 2] {
        self.counter_fields.get(room, who, || {
            let who = self.counter_names(room, who).swap_remove(0);
            [format!("{who}.m"), format!("{who}.b")]
        })
    }

    /// `doc`'s usage from the counters stored beside it. Counters of former
    /// members, and names written under a rotated-out key, are summed under
    /// every name the member may have had.
    pub(super) fn usage_from(
        &self,
        room: RoomId,
        doc: &RoomDoc,
        counts: &[(String, i64)],
    ) -> Usage {
        let mut usage = Usage {
            room: tally(counts, ROOM),
            ..Usage::default()
        };
        let members = doc
            .ombuds
            .iter()
            .map(|m| m.id)
            .chain(doc.parties.iter().map(|p| p.id));
        for id in members {
            let (mut t, mut former) = (Tally::default(), Tally::default());
            for (n, name) in self.counter_names(room, id).into_iter().enumerate() {
                let found = tally(counts, &name);
                t.messages += found.messages;
                t.bytes += found.bytes;
                if n > 0 {
                    former.messages += found.messages;
                    former.bytes += found.bytes;
                }
            }
            if t != Tally::default() {
                usage.by.insert(id, t);
            }
            if former != Tally::default() {
                usage.legacy.insert(id, former);
            }
        }
        usage
    }

    fn counter_names(&self, room: RoomId, who: ParticipantId) -> Vec<String> {
        self.sealer
            .blind_in(room.as_bytes(), &format!("usage {who}"))
            .into_iter()
            .map(|mut h| {
                h.truncate(32);
                h
            })
            .collect()
    }
}

/// The current names of participants' counter fields, so that an action
/// does not compute a keyed hash to count what it stores. Names depend only
/// on the room, the participant and the data key, which is fixed for the
/// process's life.
#[derive(Default)]
pub(super) struct CounterFields(Mutex<HashMap<(RoomId, ParticipantId), [String; 2]>>);

/// Entries kept before the cache starts again (about 200 bytes each).
const COUNTER_FIELDS_KEPT: usize = 8_192;

impl CounterFields {
    fn get(
        &self,
        room: RoomId,
        who: ParticipantId,
        make: impl FnOnce() -> [String; 2],
    ) -> [String; 2] {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(names) = map.get(&(room, who)) {
            return names.clone();
        }
        if map.len() >= COUNTER_FIELDS_KEPT {
            map.clear();
        }
        map.entry((room, who)).or_insert_with(make).clone()
    }
}

fn tally(counts: &[(String, i64)], name: &str) -> Tally {
    let get = |suffix: &str| {
        let field = format!("{name}.{suffix}");
        counts
            .iter()
            .filter(|(f, _)| *f == field)
            .map(|(_, v)| u64::try_from(*v).unwrap_or(0))
            .sum()
    };
    Tally {
        messages: get("m"),
        bytes: get("b"),
    }
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
