//! Websocket frames: what travels in one text message each way.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::acks::AckResult;
use crate::errors::ErrorCode;
use crate::events::Event;
use crate::model::{Notice, ParticipantId, ParticipantInfo, RoomInfo};
use crate::requests::Request;

/// A client's request id, echoed in the `ack` or `error` that answers it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ReqId {
    Num(u64),
    Str(String),
}

/// Every frame a client sends: `hello` first, then requests. `req` is
/// optional and echoed in the `ack` or `error` that answers the frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ClientFrame {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub req: Option<ReqId>,
    /// Makes a state-changing request safe to retry: the relay applies it at
    /// most once per participant and key, and answers a repeat with the
    /// first answer. 1 to 128 bytes, unique per participant and room.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    #[serde(flatten)]
    pub request: Request,
}

/// Every frame the relay sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// The answer to `hello`; replayed events follow, then live ones.
    Welcome {
        participant: ParticipantInfo,
        room: RoomInfo,
        /// The newest `seq` in this participant's inbox.
        seq: u64,
        /// Present for a party that has not yet acknowledged the office notice.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        notice: Option<Notice>,
        /// Which relay node answered (useful when several run behind a balancer).
        node: Uuid,
    },
    /// A stored event from the participant's own inbox.
    Event { seq: u64, event: Event },
    /// A request succeeded.
    Ack {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req: Option<ReqId>,
        result: AckResult,
    },
    /// A request (or a frame) failed. The connection stays open.
    Error {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req: Option<ReqId>,
        code: ErrorCode,
        message: String,
    },
    /// Ephemeral: someone came online or went offline. Not stored, no `seq`.
    Presence {
        participant_id: ParticipantId,
        online: bool,
    },
    /// Ephemeral: someone is typing in a channel the receiver can see.
    Typing {
        participant_id: ParticipantId,
        channel: crate::model::Channel,
    },
}

/// The text of `ServerFrame::Event` for an event that is already JSON (opened
/// from an inbox): spliced in, never parsed and serialised again. The result
/// parses as exactly that `ServerFrame::Event` (a test holds them together).
pub fn event_frame_text(seq: u64, event_json: &str) -> String {
    use std::fmt::Write;
    const HEAD: &str = r#"{"type":"event","seq":"#;
    const EVENT: &str = r#","event":"#;
    // Sized once: a payload is hundreds of bytes, and `format!` would
    // guess from the literals alone and grow the string as it writes.
    let mut frame = String::with_capacity(HEAD.len() + 20 + EVENT.len() + event_json.len() + 1);
    frame.push_str(HEAD);
    let _ = write!(frame, "{seq}");
    frame.push_str(EVENT);
    frame.push_str(event_json);
    frame.push('}');
    frame
}
