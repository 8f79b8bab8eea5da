//! Events stored in a participant's inbox and delivered with a `seq`.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::{
    Channel, Decision, ForwardId, MessageId, ParticipantId, ParticipantInfo, Resource, Role,
};

// Events live briefly (built, serialised, dropped); boxing `Message` would only add noise.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    Message(Message),
    MessageEdited {
        message_id: MessageId,
        channel: Channel,
        body: String,
        edited_at: DateTime<Utc>,
    },
    MessageRetracted {
        message_id: MessageId,
        channel: Channel,
    },
    /// To a source message's author: the exact text the ombud proposes to relay.
    ConsentRequested {
        forward_id: ForwardId,
        revision: u32,
        source_message_id: MessageId,
        to: Vec<ParticipantId>,
        /// The recipients' display names, in the order of `to`.
        to_names: Vec<String>,
        body: String,
        /// `true` when this revision changes a message already delivered.
        is_edit: bool,
    },
    /// To the ombuds (and the author): what the author decided.
    ConsentDecided {
        forward_id: ForwardId,
        revision: u32,
        decision: Decision,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    /// To the ombuds: where a forward stands.
    ForwardStatus {
        forward_id: ForwardId,
        revision: u32,
        status: ForwardState,
        source_message_id: MessageId,
        to: Vec<ParticipantId>,
        body: String,
        /// The messages created in the recipients' threads, once delivered.
        delivered: Vec<MessageId>,
    },
    ParticipantJoined {
        participant: ParticipantInfo,
    },
    ParticipantLeft {
        participant_id: ParticipantId,
    },
    NoticeAcknowledged {
        participant_id: ParticipantId,
    },
    JointOpened {
        by: ParticipantId,
    },
    JointClosed {
        by: ParticipantId,
    },
    /// The room was closed; its state is erased and the connection closes.
    RoomClosed {},
}

/// A message as its receiver sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Message {
    pub id: MessageId,
    pub channel: Channel,
    pub author: Author,
    pub body: String,
    pub sent_at: DateTime<Utc>,
    /// Only on the author's own copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relayed_from: Option<RelayedFrom>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<DateTime<Utc>>,
    pub shareable: bool,
    /// A referral card.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<Resource>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Author {
    pub id: ParticipantId,
    pub role: Role,
    pub display_name: String,
}

/// Where a relayed message came from. Under anonymous attribution
/// `party_id` and `display_name` are absent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RelayedFrom {
    pub message_id: MessageId,
    pub forward_id: ForwardId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub party_id: Option<ParticipantId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ForwardState {
    /// Waiting for the author to approve this revision.
    AwaitingConsent,
    /// Delivered to every recipient.
    Delivered,
    /// A change to a delivered forward awaits the author's consent.
    EditAwaitingConsent,
    Declined,
    Withdrawn,
}
