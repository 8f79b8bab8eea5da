//! Storage quotas. Every websocket request's outcome is measured (messages
//! it creates, bytes of the records and events it stores, before
//! encryption) and counted in the room document, against the room and
//! against the participant who made the request. Counting in the document
//! makes the count exact on every node and store: it commits atomically with
//! what it counts, under the room's version.
//!
//! A request that adds text (`send`, `refer`, `forward`, `forward_update`,
//! `edit`) is refused with `quota_exceeded` if it would take the room or its
//! author over a quota. Other requests are counted but never refused, so a
//! full room can still be left, answered (consent) and closed.

use std::io::Write;

use protocol::events::Event;
use protocol::requests::Request;
use protocol::QuotaInfo;

use super::{Ctx, Flow, Outcome};
use crate::room::records::{RoomDoc, Tally};
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

/// Counts what `out` stores in the room document it commits, or refuses the
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
    let mut doc = out.doc.take().unwrap_or_else(|| ctx.doc.clone());
    doc.usage.add(ctx.actor.id, cost);
    out.doc = Some(doc);
    Ok(out)
}

/// Messages created and bytes stored by an outcome.
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
    let mut bytes = Count(0);
    for (_, obj) in &out.puts {
        let _ = serde_json::to_writer(&mut bytes, obj);
    }
    for (_, event) in &out.deliveries {
        let _ = serde_json::to_writer(&mut bytes, event);
    }
    Tally {
        messages: ids.len() as u64,
        bytes: bytes.0,
    }
}

/// Counts bytes written, keeping none.
struct Count(u64);

impl Write for Count {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
