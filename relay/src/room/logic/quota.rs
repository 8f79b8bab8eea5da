//! Storage quotas. Every websocket request's outcome is measured (messages
//! it creates, bytes of the records and events it stores, before
//! encryption) and counted against the room and against the participant
//! who made the request. The count travels with the outcome
//! ([`Outcome::usage`]) and the store adds it to the room's counters in the
//! same commit. A request that adds text also sends the quotas as ceilings
//! ([`Outcome::capped`]): the store refuses to commit past one, so quotas
//! are exact on every node and store even when another node's commit moved
//! the counters after this one read them, and no action rewrites the room
//! document just to count.
//!
//! A request that adds text (`send`, `refer`, `forward`, `forward_update`,
//! `edit`, `propose`, `share` (a copy of the text per party), `comment`,
//! `range_open`) is refused with `quota_exceeded` if it would take the room or its
//! author over a quota. Other requests are counted but never refused, so a
//! full room can still be left, answered (consent) and closed.

use protocol::events::Event;
use protocol::requests::Request;
use protocol::QuotaInfo;

use super::{Ctx, Flow, Outcome};
use crate::room::records::{Obj, RoomDoc, Tally};
use crate::room::RoomError;

/// What a room, and one participant in it, may store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quotas {
    pub room_messages: u64,
    pub room_bytes: u64,
    pub participant_messages: u64,
    pub participant_bytes: u64,
}

impl Quotas {
    /// The room's usage against its quotas, as its ombuds see it.
    pub fn info(&self, doc: &RoomDoc) -> QuotaInfo {
        QuotaInfo {
            messages: doc.usage.room.messages,
            max_messages: self.room_messages,
            bytes: doc.usage.room.bytes,
            max_bytes: self.room_bytes,
        }
    }
}

/// Counts what `out` stores against the room and the actor, or refuses the
/// request if it adds text beyond a quota.
pub fn charge(ctx: &Ctx, req: &Request, mut out: Outcome, q: &Quotas) -> Result<Outcome, Flow> {
    if out.writes_nothing() {
        return Ok(out);
    }
    let cost = measure(&out);
    let room = ctx.doc.usage.room;
    let mine = ctx.doc.usage.of(ctx.actor.id);
    let adds_text = matches!(
        req,
        Request::Send { .. }
            | Request::Refer { .. }
            | Request::Forward { .. }
            | Request::ForwardUpdate { .. }
            | Request::Edit { .. }
            | Request::Propose { .. }
            | Request::Share { .. }
            | Request::Comment { .. }
            | Request::RangeOpen { .. }
    );
    if adds_text {
        let over = |have: Tally, msgs: u64, bytes: u64| {
            have.messages + cost.messages > msgs || have.bytes + cost.bytes > bytes
        };
        if over(room, q.room_messages, q.room_bytes) {
            return Err(RoomError::QuotaExceeded(
                "this room has stored as much as it may; ask the ombud to start a new room".into(),
            )
            .into());
        }
        if over(mine, q.participant_messages, q.participant_bytes) {
            return Err(RoomError::QuotaExceeded(
                "you have stored as much as you may in this room".into(),
            )
            .into());
        }
    }
    out.usage = Some((ctx.actor.id, cost));
    out.capped = adds_text;
    Ok(out)
}

/// Messages created and bytes stored by an outcome. The bytes are an
/// estimate: the text each record carries plus a fixed allowance for its
/// ids, names and times. This runs on every request, and serialising every
/// record a second time just to measure it cost about a quarter of the
/// relay's CPU per relayed message (docs/BENCHMARKS.md).
fn measure(out: &Outcome) -> Tally {
    let mut ids: Vec<_> = out
        .deliveries
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Message(m) => Some(m.id),
            _ => None,
        })
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let puts: u64 = out
        .puts
        .iter()
        .map(|(k, o)| k.len() as u64 + obj_text(o))
        .sum();
    let events: u64 = out.deliveries.iter().map(|(_, e)| event_text(e)).sum();
    let records = (out.puts.len() + out.deliveries.len()) as u64;
    Tally {
        messages: ids.len() as u64,
        bytes: puts + events + records * RECORD_OVERHEAD,
    }
}

/// What a stored record takes besides its text (ids, names, times, JSON).
const RECORD_OVERHEAD: u64 = 256;

fn len(s: &str) -> u64 {
    s.len() as u64
}

fn event_text(e: &Event) -> u64 {
    match e {
        Event::Message(m) => len(&m.body) + len(&m.author.display_name),
        Event::MessageEdited { body, .. } => len(body),
        Event::ConsentRequested { body, to_names, .. } => {
            len(body) + to_names.iter().map(|n| len(n)).sum::<u64>()
        }
        Event::ConsentDecided { note, .. } => note.as_deref().map_or(0, len),
        Event::ForwardStatus { body, .. } => len(body),
        Event::ProposalVersion { title, clauses, .. }
        | Event::ProposalShared { title, clauses, .. } => len(title) + texts(clauses),
        Event::Decided { note, .. } => note.as_deref().map_or(0, len),
        Event::AgreementConcluded { title, .. } | Event::RangeOpened { title, .. } => len(title),
        _ => 0,
    }
}

fn obj_text(o: &Obj) -> u64 {
    match o {
        Obj::Message(m) => len(&m.body) + len(&m.author_name),
        Obj::Forward(f) => len(&f.body) + f.delivered_body.as_deref().map_or(0, len),
        Obj::Version(v) => len(&v.title) + texts(&v.clauses),
        Obj::Range(r) => len(&r.title) + len(&r.unit),
        _ => 0,
    }
}

fn texts(clauses: &[String]) -> u64 {
    clauses.iter().map(|c| len(c)).sum()
}
