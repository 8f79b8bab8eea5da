//! The single negotiating text and private bottom lines: the nouns shared by
//! the requests, events and acks of proposals, decisions and range questions.
//!
//! A proposal is a title and numbered clauses. Every save is a new immutable
//! version, named by its number and by `hash`, the SHA-256 of its content,
//! so that a decision is bound to the exact words the party read.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::model::ParticipantId;

pub type ProposalId = Uuid;
pub type RangeId = Uuid;

/// What a comment is about: a version a party was shown, and optionally one
/// clause of it (numbered from 1). Carried by the comment's message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CommentOn {
    pub proposal_id: ProposalId,
    pub version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clause: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Added,
    Removed,
    Changed,
}

/// One clause-level difference between the version a party was last shown
/// and the one it is shown now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ClauseChange {
    pub kind: ChangeKind,
    /// The clause's number in the new version (absent when removed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clause: Option<u32>,
    /// Its number in the earlier version (absent when added).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub was: Option<u32>,
    /// The earlier text (absent when added): the party was shown it already.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
}

/// A party's answer to a call for decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Accept,
    Decline,
}

/// Which bound a party gives in a range question.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RangeSide {
    /// The most this party would pay or give.
    Ceiling,
    /// The least this party would accept.
    Floor,
}

/// A party asked a range question, and on which side (ombuds' copy only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RangeSeat {
    pub party_id: ParticipantId,
    pub side: RangeSide,
}

/// One party's bound, in the ombuds' copy when the question lets them see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RangeBound {
    pub party_id: ParticipantId,
    pub value: i64,
}

/// Who accepted a concluded agreement, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Acceptance {
    pub party_id: ParticipantId,
    pub at: DateTime<Utc>,
}

/// `propose`: the version just saved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ProposalAck {
    pub proposal_id: ProposalId,
    pub version: u32,
    pub hash: String,
}

/// `share` and `call_decision`: the parties now shown, or asked, `version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SharedAck {
    pub proposal_id: ProposalId,
    pub version: u32,
    pub parties: Vec<ParticipantId>,
}

/// `decide`: the decision recorded, and whether it concluded the agreement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DecidedAck {
    pub proposal_id: ProposalId,
    pub version: u32,
    pub verdict: Verdict,
    pub concluded: bool,
}

/// `range_open`, `range_bound` and `range_close`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RangeAck {
    pub range_id: RangeId,
    pub open: bool,
}
