//! Requests a client sends after `hello`. Each may carry `req`, echoed in the answer.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::{Channel, ForwardId, MessageId, ParticipantId, RoomId};
use crate::onetext::{ProposalId, RangeId, Verdict};

pub use crate::model::Decision;

fn yes() -> bool {
    true
}

/// The first frame on every connection. The token never travels in the URL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Hello {
    pub token: String,
    /// Required for ombuds; a party's token already names its room.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room_id: Option<RoomId>,
    /// The last `seq` this client saw; everything after it is replayed.
    #[serde(default)]
    pub since: Option<u64>,
}

/// `kind()` names each variant exactly as serde's `type` tag does (the
/// strum and serde case rules are the same; a test holds them together).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, strum::IntoStaticStr)]
#[serde(tag = "type", rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Request {
    /// The first frame on every connection, and only there.
    Hello(Hello),
    /// Post a message. Idempotent per (author, `client_id`).
    Send {
        channel: Channel,
        body: String,
        client_id: String,
        /// `false` marks the message "do not share": it can never be forwarded.
        #[serde(default = "yes")]
        shareable: bool,
    },
    /// Ombud: relay an edited or redacted version of a party's message.
    Forward {
        source_message_id: MessageId,
        to: Vec<ParticipantId>,
        body: String,
    },
    /// Ombud: a new revision of a forward; earlier consent no longer counts.
    ForwardUpdate { forward_id: ForwardId, body: String },
    /// Ombud: withdraw a forward that awaits consent.
    ForwardWithdraw { forward_id: ForwardId },
    /// The source message's author: approve or decline one exact revision.
    Consent {
        forward_id: ForwardId,
        revision: u32,
        decision: Decision,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    /// Change a message's text (its author, or the ombud that relayed it).
    Edit { message_id: MessageId, body: String },
    /// Withdraw a message (its author, or the ombud that relayed it).
    Retract { message_id: MessageId },
    /// Ephemeral typing indicator.
    Typing { channel: Channel },
    /// Application-level heartbeat: answered `{}` at once, touching no room
    /// state, so a client can tell a live connection from a dead one.
    Ping {},
    /// Ombud: open or close the joint session.
    Joint { open: bool },
    /// Party: leave the room for good.
    Leave {},
    /// Party: acknowledge the office notice; required before `send`.
    AcknowledgeNotice {},
    /// Ombud: send a referral resource card from the office list into a party's thread.
    Refer {
        party_id: ParticipantId,
        resource_id: String,
        #[serde(default)]
        client_id: Option<String>,
        /// Send the resource as the settings give it for this language
        /// tag (the party's language), falling back to the default list.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        language: Option<String>,
    },
    /// Ombud: spans of a message the relay suggests redacting.
    SuggestRedactions { message_id: MessageId },
    /// Ombud: save a new version of a proposal (a new proposal without
    /// `proposal_id`). With `base_version`, refused with `conflict` unless
    /// that is still the newest version, so two ombuds cannot overwrite
    /// each other's edits unseen.
    Propose {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        proposal_id: Option<ProposalId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        base_version: Option<u32>,
        title: String,
        clauses: Vec<String>,
    },
    /// Ombud: show one version to these parties, each in its own view.
    Share {
        proposal_id: ProposalId,
        version: u32,
        to: Vec<ParticipantId>,
    },
    /// Party: a private comment on a version it was shown, on the whole or
    /// on one clause. Stored as a message in the party's own thread, so it
    /// can be relayed like one. Idempotent per (author, `client_id`).
    Comment {
        proposal_id: ProposalId,
        version: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        clause: Option<u32>,
        body: String,
        client_id: String,
    },
    /// Ombud: ask these parties to accept or decline one version as a
    /// whole. Replaces any earlier call on the proposal.
    CallDecision {
        proposal_id: ProposalId,
        version: u32,
        parties: Vec<ParticipantId>,
    },
    /// Party: accept or decline the exact version called (`version` and
    /// `hash` must both match, or `conflict`). A decline may carry a note
    /// for the ombuds.
    Decide {
        proposal_id: ProposalId,
        version: u32,
        hash: String,
        verdict: Verdict,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    /// Ombud: open a range question. Parties in `ceilings` give the most
    /// they would pay; parties in `floors` the least they would accept.
    RangeOpen {
        title: String,
        #[serde(default)]
        unit: String,
        ceilings: Vec<ParticipantId>,
        floors: Vec<ParticipantId>,
        /// Chosen once, here: may the ombuds see the bounds themselves?
        #[serde(default)]
        ombuds_see_bounds: bool,
    },
    /// Party: set or revise its bound while the question is open.
    RangeBound { range_id: RangeId, value: i64 },
    /// Ombud: close a question; with `reveal`, tell its parties whether
    /// the bounds overlap, and with `suggest` (and overlap) the midpoint.
    RangeClose {
        range_id: RangeId,
        #[serde(default)]
        reveal: bool,
        #[serde(default)]
        suggest: bool,
    },
}

impl Request {
    /// The request's `type`, for logs and metrics (never its content).
    pub fn kind(&self) -> &'static str {
        self.into()
    }
}

/// Why a span was suggested for redaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SpanKind {
    Email,
    Phone,
    Url,
    Name,
    Term,
}

/// A suggested redaction: `[start, end)` in UTF-16 code units, as JavaScript
/// strings index, so a browser can use `slice(start, end)` directly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Span {
    pub start: usize,
    pub end: usize,
    pub kind: SpanKind,
}
