//! What an `ack` frame's `result` holds, per request type.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::events::{ForwardState, Message};
use crate::model::{ForwardId, MessageId};
use crate::onetext::{DecidedAck, ProposalAck, RangeAck, SharedAck};
use crate::requests::Span;

/// The `result` of an `ack`. Untagged on the wire: the request it answers
/// (matched by `req`) says which shape to expect.
// An ack is built, serialised and dropped; boxing the message would only add noise.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum AckResult {
    /// `send` and `refer`: the stored message as the sender sees it.
    Message(MessageAck),
    /// `forward`, `forward_update`, `forward_withdraw` and `consent`.
    Forward(ForwardAck),
    /// `edit` of a message that is not a relayed copy.
    Edited(EditedAck),
    /// `suggest_redactions`.
    Spans(SpansAck),
    /// `joint`: the joint session's state now.
    Joint(JointAck),
    /// `leave`: always `true`; the relay then closes the socket with 1000.
    Left(LeftAck),
    /// `retract` (of any message).
    Retracted(RetractedAck),
    /// `propose`.
    Proposal(ProposalAck),
    /// `share` and `call_decision`.
    Shared(SharedAck),
    /// `decide`.
    Decided(DecidedAck),
    /// `range_open`, `range_bound`, `range_close`.
    Range(RangeAck),
    /// `typing`, `ping` and `acknowledge_notice`: `{}`.
    Empty(EmptyAck),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MessageAck {
    pub message: Message,
    /// `true` when `client_id` had been used already: nothing new was stored
    /// or delivered, and `message` is the original. Absent otherwise.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub duplicate: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ForwardAck {
    pub forward_id: ForwardId,
    pub revision: u32,
    pub status: ForwardState,
    /// The relayed copies, one per recipient, once delivered.
    pub delivered: Vec<MessageId>,
    /// `status` is `awaiting_consent` or `edit_awaiting_consent`.
    pub pending_consent: bool,
}

impl ForwardAck {
    pub fn new(
        forward_id: ForwardId,
        revision: u32,
        status: ForwardState,
        delivered: Vec<MessageId>,
    ) -> Self {
        ForwardAck {
            forward_id,
            revision,
            status,
            delivered,
            pending_consent: matches!(
                status,
                ForwardState::AwaitingConsent | ForwardState::EditAwaitingConsent
            ),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EditedAck {
    pub message_id: MessageId,
    pub edited_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SpansAck {
    pub spans: Vec<Span>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct JointAck {
    pub open: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LeftAck {
    pub left: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RetractedAck {
    pub message_id: MessageId,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EmptyAck {}

impl Default for AckResult {
    fn default() -> Self {
        AckResult::Empty(EmptyAck {})
    }
}
