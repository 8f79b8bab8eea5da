//! What the relay stores about a room (sealed by the codec before a store sees it).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use protocol::events::{Author, ForwardState, Message, RelayedFrom};
use protocol::{
    Attribution, Channel, ForwardId, LinkStatus, MessageId, ParticipantId, ParticipantInfo,
    ParticipantSummary, Resource, Role, RoomId, RoomInfo,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    pub id: ParticipantId,
    pub display_name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartyRec {
    pub id: ParticipantId,
    pub display_name: String,
    pub joined: bool,
    pub left: bool,
    pub notice_acknowledged: bool,
    /// The token generation of the party's newest link: 0 for the first,
    /// raised with each new link. Only a link of this generation can join.
    #[serde(default)]
    pub link_gen: u64,
    /// The party joined with its newest link. (Documents from before new
    /// links existed lack it: there, `joined` says the same.)
    #[serde(default)]
    pub link_used: bool,
    /// When the party was last connected, to within a minute.
    #[serde(default)]
    pub last_online_at: Option<DateTime<Utc>>,
}

impl PartyRec {
    pub fn link(&self) -> LinkStatus {
        if self.link_used || (self.link_gen == 0 && self.joined) {
            LinkStatus::Used
        } else if self.link_gen > 0 {
            LinkStatus::Replaced
        } else {
            LinkStatus::Unused
        }
    }
}

/// The room document: small, read by every action, guarded by its version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoomDoc {
    pub id: RoomId,
    pub title: String,
    pub consent_required: bool,
    pub attribution: Attribution,
    pub retention_hours: u32,
    pub created_at: DateTime<Utc>,
    pub expire_at_ms: i64,
    pub ombuds: Vec<Member>,
    pub parties: Vec<PartyRec>,
    pub joint_open: bool,
    pub categories: Vec<String>,
    /// The month (`YYYY-MM`, UTC) each of `categories` was counted in, so
    /// that untagging takes it back out of that month while the month is
    /// still open. A category missing here (stored before months were
    /// kept) was counted in the month the room was created.
    #[serde(default)]
    pub category_months: std::collections::BTreeMap<String, String>,
    pub sensitive_terms: Vec<String>,
    /// What the room stores, for its quotas (`logic::quota`). Not part of
    /// the sealed document: the store keeps it as counters beside it (so an
    /// action that changes nothing else does not rewrite the document), and
    /// the service fills it in when it loads the room.
    #[serde(skip)]
    pub usage: Usage,
    /// Set when the room began as a visitor's conversation at the front
    /// door (`logic::intake`).
    #[serde(default)]
    pub intake: Option<IntakeRec>,
}

/// A front-door conversation's state. The visitor is the room's one party;
/// until an ombud claims it, the room has no ombud, so the ordinary
/// audience rules keep its words with the visitor alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntakeRec {
    pub kind: protocol::intake::IntakeKind,
    pub claimed_by: Option<ParticipantId>,
    /// Messages from the visitor while unclaimed (the queue's unread count).
    pub unread: u32,
    /// When an unclaimed conversation is erased (unix milliseconds).
    pub unclaimed_until_ms: i64,
}

/// Messages and bytes stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    pub messages: u64,
    pub bytes: u64,
}

/// A room's storage: in all, and by the participant whose request stored it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    pub room: Tally,
    pub by: BTreeMap<ParticipantId, Tally>,
    /// The part of `by` counted under a participant's former counter names
    /// (a rotated-out key): it no longer grows, and the ceiling on the
    /// current name is the quota less it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub legacy: BTreeMap<ParticipantId, Tally>,
}

impl Usage {
    pub fn of(&self, p: ParticipantId) -> Tally {
        self.by.get(&p).copied().unwrap_or_default()
    }
}

impl RoomDoc {
    /// Messages stored by the parties' requests (`RoomDetail::party_messages`).
    pub fn party_messages(&self) -> u64 {
        self.parties
            .iter()
            .map(|p| self.usage.of(p.id).messages)
            .sum()
    }

    /// The month a category of this room was counted in.
    pub fn category_month(&self, category: &str) -> String {
        self.category_months
            .get(category)
            .cloned()
            .unwrap_or_else(|| self.created_at.format("%Y-%m").to_string())
    }

    pub fn info(&self) -> RoomInfo {
        RoomInfo {
            id: self.id,
            title: self.title.clone(),
            consent_required: self.consent_required,
            attribution: self.attribution,
            retention_hours: self.retention_hours,
            created_at: self.created_at,
            joint_open: self.joint_open,
            quota: None,
        }
    }

    pub fn party(&self, id: ParticipantId) -> Option<&PartyRec> {
        self.parties.iter().find(|p| p.id == id)
    }

    pub fn party_mut(&mut self, id: ParticipantId) -> Option<&mut PartyRec> {
        self.parties.iter_mut().find(|p| p.id == id)
    }

    pub fn ombud(&self, id: ParticipantId) -> Option<&Member> {
        self.ombuds.iter().find(|o| o.id == id)
    }

    pub fn is_ombud(&self, id: ParticipantId) -> bool {
        self.ombud(id).is_some()
    }

    /// Parties still in the room (joined or invited, not left).
    pub fn active_parties(&self) -> impl Iterator<Item = &PartyRec> {
        self.parties.iter().filter(|p| !p.left)
    }

    pub fn participants(&self) -> Vec<ParticipantSummary> {
        let ombuds = self.ombuds.iter().map(|o| ParticipantSummary {
            id: o.id,
            role: Role::Ombud,
            display_name: o.display_name.clone(),
            joined: true,
            left: false,
            notice_acknowledged: true,
            link: None,
            last_online_at: None,
        });
        let parties = self.parties.iter().map(|p| ParticipantSummary {
            id: p.id,
            role: Role::Party,
            display_name: p.display_name.clone(),
            joined: p.joined,
            left: p.left,
            notice_acknowledged: p.notice_acknowledged,
            link: Some(p.link()),
            last_online_at: p.last_online_at,
        });
        ombuds.chain(parties).collect()
    }

    /// The participant behind a token, if it still belongs to the room.
    pub fn actor(&self, id: ParticipantId, role: Role) -> Option<Actor> {
        match role {
            Role::Ombud => self.ombud(id).map(|o| Actor {
                id,
                role,
                display_name: o.display_name.clone(),
            }),
            Role::Party => self.party(id).filter(|p| !p.left).map(|p| Actor {
                id,
                role,
                display_name: p.display_name.clone(),
            }),
        }
    }
}

/// The authenticated participant making a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub id: ParticipantId,
    pub role: Role,
    pub display_name: String,
}

impl Actor {
    pub fn info(&self) -> ParticipantInfo {
        ParticipantInfo {
            id: self.id,
            role: self.role,
            display_name: self.display_name.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageRec {
    pub id: MessageId,
    pub channel: Channel,
    pub author: ParticipantId,
    pub author_role: Role,
    pub author_name: String,
    pub body: String,
    pub sent_at: DateTime<Utc>,
    pub client_id: Option<String>,
    pub shareable: bool,
    pub relayed_from: Option<RelayedFrom>,
    pub edited_at: Option<DateTime<Utc>>,
    pub retracted: bool,
    pub resource: Option<Resource>,
    /// A comment on a proposal version (`logic::onetext`).
    #[serde(default)]
    pub comment_on: Option<protocol::onetext::CommentOn>,
    /// Who received it, so edits and retractions reach exactly them.
    pub recipients: Vec<ParticipantId>,
    /// Forwards made from this message (so retracting it withdraws pending ones).
    pub forwards: Vec<ForwardId>,
}

impl MessageRec {
    /// The message as `viewer` sees it: only the author's copy carries `client_id`.
    pub fn view(&self, viewer: ParticipantId) -> Message {
        Message {
            id: self.id,
            channel: self.channel,
            author: Author {
                id: self.author,
                role: self.author_role,
                display_name: self.author_name.clone(),
            },
            body: self.body.clone(),
            sent_at: self.sent_at,
            client_id: self.client_id.clone().filter(|_| viewer == self.author),
            relayed_from: self.relayed_from.clone(),
            edited_at: self.edited_at,
            shareable: self.shareable,
            resource: self.resource.clone(),
            comment_on: self.comment_on.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForwardRec {
    pub id: ForwardId,
    pub source_message_id: MessageId,
    pub source_author: ParticipantId,
    pub source_author_name: String,
    pub created_by: ParticipantId,
    pub to: Vec<ParticipantId>,
    pub revision: u32,
    /// The current revision's text (what the author is asked about, or what was delivered).
    pub body: String,
    /// The text the recipients hold, once delivered.
    pub delivered_body: Option<String>,
    pub needs_consent: bool,
    pub status: ForwardState,
    /// The relayed copies, one per recipient.
    pub delivered: Vec<MessageId>,
}

impl ForwardRec {
    /// Drop a proposed edit: the forward stays delivered with the text the recipients hold.
    pub fn keep_delivered_text(&mut self) {
        self.body = self.delivered_body.clone().unwrap_or_default();
        self.status = ForwardState::Delivered;
    }
}

/// Store keys of room objects.
pub fn message_key(id: MessageId) -> String {
    format!("m:{id}")
}
pub fn forward_key(id: ForwardId) -> String {
    format!("f:{id}")
}
pub fn client_key(author: ParticipantId, client_id: &str) -> String {
    format!("c:{author}:{client_id}")
}

/// Whether `key` names a record that exists only once a request has been
/// made (a `client_id`'s, [`client_key`], or an idempotency key's answer,
/// [`answer_key`]): a first request finds it absent, only a resend finds it.
pub fn first_use_key(key: &str) -> bool {
    key.starts_with("c:") || key.starts_with("a:")
}

/// Store key of the answer to a request made with an idempotency key: a
/// hash, so the key (free text chosen by the client) is not stored.
pub fn answer_key(author: ParticipantId, key: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(author.as_bytes())
        .chain_update(key.as_bytes())
        .finalize();
    format!("a:{}", hex::encode(digest))
}

/// A decoded room object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum Obj {
    Message(MessageRec),
    Forward(ForwardRec),
    /// An idempotency key: the message a `client_id` created.
    ClientId {
        message_id: MessageId,
    },
    /// The answer given to a request made with an idempotency key.
    Answer(protocol::AckResult),
    /// A proposal's state: its versions' hashes, who was shown what, the
    /// call for decision (`logic::onetext`).
    Proposal(super::onetext::ProposalRec),
    /// One immutable version of a proposal, stored apart so that saving a
    /// version never rewrites the others.
    Version(super::onetext::VersionRec),
    /// A range question and its private bounds.
    Range(super::onetext::RangeRec),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stored rooms hold objects under these names: they must not move.
    #[test]
    fn object_keys_keep_their_layout() {
        let id = uuid::Uuid::parse_str("0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9").unwrap();
        assert_eq!(message_key(id), "m:0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9");
        assert_eq!(forward_key(id), "f:0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9");
        assert_eq!(
            crate::room::onetext::proposal_key(id),
            "p:0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"
        );
        assert_eq!(
            crate::room::onetext::range_key(id),
            "r:0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"
        );
    }

    #[test]
    fn first_use_keys_are_the_client_id_and_answer_records_only() {
        let id = uuid::Uuid::new_v4();
        assert!(first_use_key(&client_key(id, "c1")));
        assert!(first_use_key(&answer_key(id, "k1")));
        assert!(!first_use_key(&message_key(id)));
        assert!(!first_use_key(&forward_key(id)));
    }
}
