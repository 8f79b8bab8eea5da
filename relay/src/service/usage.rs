//! Quota usage as store counters. The room logic charges each outcome to
//! the participant who asked ([`Outcome::usage`]); here that charge becomes
//! counter increments committed with the outcome, and the counters read
//! back with the document become [`Usage`] again.
//!
//! Counter names hold no id: a participant's counters are named by a
//! keyed hash of its id, scoped to the room.

use protocol::{ParticipantId, RoomId};

use super::Rooms;
use crate::room::logic::Outcome;
use crate::room::records::{Tally, Usage};
use crate::room::RoomDoc;

/// The room's own counters.
const ROOM: &str = "room";

impl Rooms {
    /// The counter increments for what `out` stores.
    pub(super) fn usage_counts(&self, room: RoomId, out: &Outcome) -> Vec<(String, i64)> {
        let Some((who, t)) = out.usage else {
            return Vec::new();
        };
        let who = self.counter_names(room, who).swap_remove(0);
        let (m, b) = (to_i64(t.messages), to_i64(t.bytes));
        vec![
            (format!("{ROOM}.m"), m),
            (format!("{ROOM}.b"), b),
            (format!("{who}.m"), m),
            (format!("{who}.b"), b),
        ]
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
            let mut t = Tally::default();
            for name in self.counter_names(room, id) {
                let found = tally(counts, &name);
                t.messages += found.messages;
                t.bytes += found.bytes;
            }
            if t != Tally::default() {
                usage.by.insert(id, t);
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
