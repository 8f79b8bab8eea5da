//! What one decision of the room logic produces, and what it may read.

use chrono::{DateTime, Utc};
use foldhash::HashMap;
use protocol::events::Event;
use protocol::{AckResult, CloseCode, ParticipantId, ServerFrame};
use uuid::Uuid;

use super::records::*;
use super::RoomError;
use crate::config::Office;

/// Why `apply` stopped: it needs more objects loaded, or the request fails.
#[derive(Debug)]
pub enum Flow {
    /// Load these room objects into the view and ask again.
    Need(Vec<String>),
    /// Load this participant's whole inbox into the view and ask again.
    NeedInbox(ParticipantId),
    Fail(RoomError),
}

impl From<RoomError> for Flow {
    fn from(e: RoomError) -> Self {
        Flow::Fail(e)
    }
}

/// Ephemeral effects: not stored, sent to whoever is connected.
// A signal is built and published at once; boxing the frame would only add noise.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Signal {
    Frame {
        to: Vec<ParticipantId>,
        frame: ServerFrame,
    },
    /// Close every connection of this participant (it left the room).
    Close {
        participant: ParticipantId,
        code: CloseCode,
    },
}

/// Everything one request changes.
#[derive(Debug, Default)]
pub struct Outcome {
    pub doc: Option<RoomDoc>,
    pub puts: Vec<(String, Obj)>,
    pub deliveries: Vec<(ParticipantId, Event)>,
    pub signals: Vec<Signal>,
    pub result: AckResult,
    /// Aggregate trend counters to move once the outcome is committed
    /// (`month|category`, delta). They hold no room id.
    pub trend_deltas: Vec<(String, i64)>,
    /// Redaction suggestions to compute once the room's turn is over: the
    /// matching is pure but heavy, so it runs off the room lock and off the
    /// async workers, and `result` is filled in from it.
    pub redact: Option<RedactJob>,
    /// What the outcome stores, charged to the participant who asked
    /// (`logic::quota`). The service adds it to the room's counters in the
    /// same commit, beside the document rather than in it.
    pub usage: Option<(ParticipantId, Tally)>,
    /// The usage adds text, so the commit must not take the room or its
    /// author past a quota, whatever other nodes committed meanwhile.
    pub capped: bool,
    /// Forwards this outcome delivers (a count for `/metrics`, nothing more).
    pub relays_delivered: usize,
}

/// What a redaction suggestion looks at: one message's text and the room's
/// names and sensitive terms.
#[derive(Debug, Clone, PartialEq)]
pub struct RedactJob {
    pub body: String,
    pub names: Vec<String>,
    pub terms: Vec<String>,
}

impl Outcome {
    pub fn writes_nothing(&self) -> bool {
        self.doc.is_none() && self.puts.is_empty() && self.deliveries.is_empty()
    }

    /// Delivers `event` to each of `to`.
    pub fn send(&mut self, to: impl IntoIterator<Item = ParticipantId>, event: Event) {
        for p in to {
            self.deliveries.push((p, event.clone()));
        }
    }
}

/// Objects loaded for this request, keyed by store key (`None`: absent).
#[derive(Debug, Default)]
pub struct View {
    pub objs: HashMap<String, Option<Obj>>,
    /// Whole inboxes, opened, for decisions that copy history.
    pub inboxes: HashMap<ParticipantId, Vec<Event>>,
}

impl View {
    pub fn get(&self, key: String) -> Result<Option<&Obj>, Flow> {
        match self.objs.get(&key) {
            Some(o) => Ok(o.as_ref()),
            None => Err(Flow::Need(vec![key])),
        }
    }

    pub fn message(&self, id: Uuid) -> Result<Option<&MessageRec>, Flow> {
        Ok(match self.get(message_key(id))? {
            Some(Obj::Message(m)) => Some(m),
            _ => None,
        })
    }

    pub fn forward(&self, id: Uuid) -> Result<Option<&ForwardRec>, Flow> {
        Ok(match self.get(forward_key(id))? {
            Some(Obj::Forward(f)) => Some(f),
            _ => None,
        })
    }
}

/// What `apply` may read besides the view.
pub struct Ctx<'a> {
    pub doc: &'a RoomDoc,
    pub actor: &'a Actor,
    pub office: &'a Office,
    pub now: DateTime<Utc>,
}

impl View {
    /// Every inbox event of `participant`, or a request to load them.
    pub fn inbox(&self, participant: ParticipantId) -> Result<&[Event], Flow> {
        self.inboxes
            .get(&participant)
            .map(Vec::as_slice)
            .ok_or(Flow::NeedInbox(participant))
    }

    /// The objects of `keys` that are not loaded yet, as a request for them.
    pub fn need(&self, keys: impl IntoIterator<Item = String>) -> Result<(), Flow> {
        let missing: Vec<String> = keys
            .into_iter()
            .filter(|k| !self.objs.contains_key(k))
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(Flow::Need(missing))
        }
    }
}

/// Mints ids: random in production, seeded in tests.
pub type NewId<'a> = &'a mut dyn FnMut() -> Uuid;

/// The moment a decision is made, for records and events.
pub type Now = DateTime<Utc>;
