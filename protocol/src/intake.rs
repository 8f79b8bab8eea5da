//! The office's front door (`/api/intake…`): a visitor starts a confidential
//! conversation without an account; the office's ombuds see it in a queue
//! until one claims it. A conversation is a room whose one party is the
//! visitor, so everything after the start is the ordinary room protocol.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::{ParticipantId, RoomId};

/// `GET /api/intake` (no token): what the contact page shows, and a fresh
/// proof-of-work challenge when intake is open.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct IntakeOffice {
    pub office_name: String,
    /// The notice the visitor acknowledges before writing.
    pub notice: String,
    /// Free text from the office settings, such as "Monday to Friday, 9:00–17:00".
    pub office_hours: Option<String>,
    /// Free text from the office settings, such as "within two working days".
    pub response_time: Option<String>,
    /// False when the office has turned intake off: `POST /api/intake`
    /// answers `intake_closed`.
    pub open: bool,
    /// Absent when intake is closed.
    pub challenge: Option<IntakeChallenge>,
}

/// A proof-of-work puzzle: find a `nonce` (any string of 1 to 64 ASCII
/// characters) such that SHA-256 of `challenge + ":" + nonce` begins with
/// `difficulty` zero bits. Good for one conversation, until `expires_at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct IntakeChallenge {
    pub challenge: String,
    pub difficulty: u8,
    pub expires_at: DateTime<Utc>,
}

/// How the visitor is shown to the ombud.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum VisitorLabel {
    /// A name the visitor chose (1 to 80 characters once trimmed).
    Name { name: String },
    /// A generated label, such as "Visitor 4821".
    Anonymous,
}

/// `POST /api/intake` (no token): start a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StartConversation {
    pub label: VisitorLabel,
    /// Must be true: the visitor has read the office notice.
    pub notice_acknowledged: bool,
    /// The first message, to the office.
    pub body: String,
    /// From `GET /api/intake`, solved.
    pub challenge: String,
    pub nonce: String,
}

/// The answer to `POST /api/intake`: the visitor is now the one party of a
/// new room, with a party token that lives as long as the conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ConversationStarted {
    pub room_id: RoomId,
    pub party_id: ParticipantId,
    /// The label the office sees.
    pub label: String,
    /// A party token, as `POST /api/join` gives.
    pub token: String,
    /// `/join#return.<token>`: the private return link. It carries the
    /// token in the fragment, which never reaches a server log; it works
    /// again and again until the conversation ends or is blocked.
    pub return_url: String,
}

/// `GET /api/intake/queue` (ombud): one unclaimed conversation. Never its words.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct QueueEntry {
    pub room_id: RoomId,
    pub label: String,
    pub created_at: DateTime<Utc>,
    /// Seconds since the visitor's first message.
    pub waiting_secs: u64,
    /// Messages from the visitor so far (no ombud has read any).
    pub unread: u32,
    /// When the conversation is erased if nobody claims it.
    pub expires_at: DateTime<Utc>,
}

/// `POST /api/rooms/{id}/handoff` (ombud): the colleague takes over and the
/// caller leaves the room.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Handoff {
    pub username: String,
}

/// `POST /api/rooms/{id}/convert` (ombud): a consultation becomes a
/// mediation room; parties may now be invited.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Convert {
    /// A new title for the room (1 to 200 characters); unchanged when absent.
    #[serde(default)]
    pub title: Option<String>,
}

/// What a conversation that began at the front door is now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum IntakeKind {
    /// One visitor and the ombud(s): no other party may be invited.
    Consultation,
    /// Converted: an ordinary room whose first party is the visitor.
    Mediation,
}

/// In `RoomDetail` for a room that began as an intake conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct IntakeInfo {
    pub kind: IntakeKind,
    /// The ombud who claimed it (after a handoff: the colleague).
    pub claimed_by: Option<ParticipantId>,
}
