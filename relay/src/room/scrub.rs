//! Words taken back stay gone. An inbox keeps every event as it was
//! delivered, so a replay, a transcript or a co-ombud's copy would otherwise
//! bring back text that was since retracted or withdrawn. [`scrub`] blanks
//! it, from what the room's objects say now:
//!
//! - a retracted message: its `message` body and every `message_edited` body;
//! - a withdrawn forward: the body of every `consent_requested` and
//!   `forward_status` of it, every draft included (declined, superseded or
//!   never delivered). Its delivered copies are retracted messages already.
//!
//! Pure: the caller loads the objects named by [`needed`].

use protocol::events::{Event, ForwardState};

use super::logic::View;
use super::records::{forward_key, message_key, Obj};

/// The object keys `scrub` needs to judge these events.
pub fn needed<'a>(events: impl IntoIterator<Item = &'a Event>) -> Vec<String> {
    let mut keys: Vec<String> = events
        .into_iter()
        .filter_map(|e| match e {
            Event::Message(m) => Some(message_key(m.id)),
            Event::MessageEdited { message_id, .. } => Some(message_key(*message_id)),
            Event::ConsentRequested { forward_id, .. }
            | Event::ForwardStatus { forward_id, .. } => Some(forward_key(*forward_id)),
            _ => None,
        })
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// Blanks, in place, every body in `events` whose words were taken back.
/// Objects missing from `view` count as gone (the room is being erased).
pub fn scrub<'a>(events: impl IntoIterator<Item = &'a mut Event>, view: &View) {
    let retracted = |key: String| match view.objs.get(&key) {
        Some(Some(Obj::Message(m))) => m.retracted,
        _ => true,
    };
    let withdrawn = |key: String| match view.objs.get(&key) {
        Some(Some(Obj::Forward(f))) => f.status == ForwardState::Withdrawn,
        _ => true,
    };
    for e in events {
        match e {
            Event::Message(m) if retracted(message_key(m.id)) => m.body.clear(),
            Event::MessageEdited {
                message_id, body, ..
            } if retracted(message_key(*message_id)) => body.clear(),
            Event::ConsentRequested {
                forward_id, body, ..
            }
            | Event::ForwardStatus {
                forward_id, body, ..
            } if withdrawn(forward_key(*forward_id)) => body.clear(),
            _ => {}
        }
    }
}
