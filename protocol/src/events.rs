//! Events stored in a participant's inbox and delivered with a `seq`.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::{
    Channel, Decision, ForwardId, MessageId, ParticipantId, ParticipantInfo, Resource, Role,
};
use crate::onetext::{
    Acceptance, ClauseChange, CommentOn, ProposalId, RangeBound, RangeId, RangeSeat, RangeSide,
    Verdict,
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
    /// To the ombuds: a new version of a proposal, in full.
    ProposalVersion {
        proposal_id: ProposalId,
        version: u32,
        hash: String,
        title: String,
        clauses: Vec<String>,
        by: ParticipantId,
        at: DateTime<Utc>,
    },
    /// To one party: a version it is shown, with what changed since the
    /// version it was shown before (`since`; absent the first time).
    ProposalShared {
        proposal_id: ProposalId,
        version: u32,
        hash: String,
        title: String,
        clauses: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        since: Option<u32>,
        changes: Vec<ClauseChange>,
    },
    /// To the ombuds: a party was shown a version.
    ProposalShown {
        proposal_id: ProposalId,
        version: u32,
        party_id: ParticipantId,
    },
    /// To each party asked, and the ombuds: accept or decline this version.
    /// `parties` (who was asked) is in the ombuds' copy only.
    DecisionRequested {
        proposal_id: ProposalId,
        version: u32,
        hash: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        parties: Option<Vec<ParticipantId>>,
    },
    /// To the deciding party and the ombuds: one party's decision.
    Decided {
        proposal_id: ProposalId,
        version: u32,
        party_id: ParticipantId,
        verdict: Verdict,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
        at: DateTime<Utc>,
    },
    /// To every party asked, and the ombuds: all of them accepted.
    /// `accepted` (who and when) is in the ombuds' copy only.
    AgreementConcluded {
        proposal_id: ProposalId,
        version: u32,
        hash: String,
        title: String,
        at: DateTime<Utc>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        accepted: Option<Vec<Acceptance>>,
    },
    /// To each party asked (with its own `side`) and the ombuds (with
    /// `seats`, who is asked on which side).
    RangeOpened {
        range_id: RangeId,
        title: String,
        unit: String,
        ombuds_see_bounds: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        side: Option<RangeSide>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seats: Option<Vec<RangeSeat>>,
    },
    /// To the submitting party only: its bound, as now recorded.
    RangeBoundSet {
        range_id: RangeId,
        value: i64,
    },
    /// To the ombuds: who has submitted, whether the bounds overlap once
    /// all have, and the bounds themselves only if the question allows it.
    RangeProgress {
        range_id: RangeId,
        submitted: Vec<ParticipantId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        overlap: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        bounds: Option<Vec<RangeBound>>,
    },
    /// To the parties asked and the ombuds: the question is closed, with
    /// the answer if the ombud revealed it.
    RangeClosed {
        range_id: RangeId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        overlap: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        suggestion: Option<i64>,
    },
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
    /// A party's comment on a proposal version (only on the original, not
    /// on relayed copies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment_on: Option<CommentOn>,
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
