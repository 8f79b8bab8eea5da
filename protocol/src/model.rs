//! Nouns shared by requests, events and REST bodies.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub type RoomId = Uuid;
pub type ParticipantId = Uuid;
pub type MessageId = Uuid;
pub type ForwardId = Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Ombud,
    Party,
}

/// An author's answer to a consent request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approve,
    Decline,
}

/// Who someone is, as far as the receiver is allowed to know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ParticipantInfo {
    pub id: ParticipantId,
    pub role: Role,
    pub display_name: String,
}

/// How a relayed message names its source party to the recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Attribution {
    /// The recipient sees the source party's display name.
    #[default]
    Named,
    /// The recipient sees only that the ombud relayed it.
    Anonymous,
}

/// A conversation inside a room. On the wire it is a string:
/// `private:<party_id>`, `joint` or `notes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// One party and the room's ombuds.
    Private(ParticipantId),
    /// Everyone in the room, only while a joint session is open.
    Joint,
    /// The ombuds' private notes.
    Notes,
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Channel::Private(id) => write!(f, "private:{id}"),
            Channel::Joint => f.write_str("joint"),
            Channel::Notes => f.write_str("notes"),
        }
    }
}

impl FromStr for Channel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "joint" => Ok(Channel::Joint),
            "notes" => Ok(Channel::Notes),
            _ => s
                .strip_prefix("private:")
                .and_then(|id| Uuid::parse_str(id).ok())
                .map(Channel::Private)
                .ok_or_else(|| {
                    "channel must be `private:<party_id>`, `joint` or `notes`".to_string()
                }),
        }
    }
}

impl Serialize for Channel {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Channel {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Cow::<'de, str>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Channel {
    fn schema_name() -> Cow<'static, str> {
        "Channel".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": "^(joint|notes|private:[0-9a-f-]{36})$",
            "description": "`private:<party_id>`, `joint` or `notes`"
        })
    }
}

/// Room settings and state every participant may see.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RoomInfo {
    pub id: RoomId,
    pub title: String,
    pub consent_required: bool,
    pub attribution: Attribution,
    pub retention_hours: u32,
    pub created_at: DateTime<Utc>,
    pub joint_open: bool,
    /// The room's storage against its quotas; sent to ombuds only
    /// (`RoomDetail` and an ombud's `welcome`), absent for parties.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<QuotaInfo>,
}

/// How much a room stores, and may store. Requests that add text are refused
/// with `quota_exceeded` once either maximum would be passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct QuotaInfo {
    /// Messages stored (each relayed copy counts).
    pub messages: u64,
    pub max_messages: u64,
    /// Bytes of records and events stored, before encryption.
    pub bytes: u64,
    pub max_bytes: u64,
}

/// A participant as the ombuds see it in a room listing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ParticipantSummary {
    pub id: ParticipantId,
    pub role: Role,
    pub display_name: String,
    /// A party has exchanged its invite code for a token.
    pub joined: bool,
    /// A party has left for good; its token no longer works.
    pub left: bool,
    /// A party has acknowledged the office notice.
    pub notice_acknowledged: bool,
    /// A party's newest invite link (parties only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<LinkStatus>,
    /// When a party was last connected, to within a minute (parties only;
    /// absent until it first connects). Kept in the store, so every node
    /// reports the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_online_at: Option<DateTime<Utc>>,
}

/// Where a party's newest invite link stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LinkStatus {
    /// The party's first link, not used yet.
    Unused,
    /// The party joined with its newest link.
    Used,
    /// The ombud issued a new link, which has not been used yet; every
    /// earlier link and session of the party is void.
    Replaced,
}

/// A referral resource from the office settings, as sent in a thread.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Resource {
    pub id: String,
    pub title: String,
    pub description: String,
    pub url: String,
}

/// The office notice a party must acknowledge before sending.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Notice {
    pub office_name: String,
    /// The office's default text, for a language without its own.
    pub text: String,
    /// The same notice in other languages, by language tag (`es`, `fr`):
    /// the page shows the one for the reader's language, so switching
    /// language needs no new `welcome`.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub translations: std::collections::BTreeMap<String, String>,
}
