//! Storage: one trait, two implementations (embedded memory and Redis).
//!
//! The trait is deliberately low level: values are opaque byte strings that
//! the [`crate::seal`] layer has already serialised and sealed (encrypted),
//! so neither store ever sees a message body in plaintext and both stores
//! stay small. Everything the room logic changes in one action is written by
//! one [`Store::commit`], atomically, guarded by what the action read
//! (optimistic concurrency by read set, [`Commit::reads`]): that is what lets
//! any number of relay nodes share one Redis without a lock service, and
//! unrelated actions in one room commit side by side.
//!
//! Every committed inbox append is also announced on the notification stream
//! ([`Store::notifications`]) to every node that [`Store::watch`]es the room;
//! connections fill any gap from the inbox itself, so a lost or reordered
//! notification can delay but never drop or duplicate an event.

pub mod file;
pub mod memory;
pub mod redis;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::mpsc;
use uuid::Uuid;

pub type RoomId = Uuid;
pub type ParticipantId = Uuid;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backing service cannot be reached (or timed out); retry later.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Something in the store is not what this code wrote.
    #[error("store data corrupt: {0}")]
    Corrupt(String),
    /// The store cannot be used as configured (a bad URL, say); retrying
    /// will not help.
    #[error("{0}")]
    Config(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// An object as read: its value (`None`: absent) and the version that
/// last wrote it.
pub type ObjectRead = (Option<Vec<u8>>, u64);

/// A room document with the version that guards the next commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned {
    pub version: u64,
    pub doc: Vec<u8>,
    /// The room's counters (see [`Commit::counts`]), in no particular order.
    pub counts: Vec<(String, i64)>,
}

/// Everything one action writes in one room, applied atomically or not at all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Commit {
    /// The version the action read. The commit fails with `Conflict` if the
    /// room no longer exists, or if what the action read ([`Commit::reads`])
    /// has changed since.
    pub expect_version: u64,
    /// What the action read, for concurrency control. `None`: the whole
    /// room, so any commit since `expect_version` conflicts. `Some(reads)`:
    /// the document as of `expect_version`, and these objects (present or
    /// absent), each with the version that had last written it when it was
    /// read ([`Store::read_objects`]). The commit then conflicts only if the
    /// document was written after `expect_version` or one of the objects
    /// after its version (one read at version 0, as absent, if it now
    /// exists). An action may therefore assume an object absent without
    /// reading it: if it is not, the commit conflicts. Actions on different
    /// objects of one room (a party's send and the ombud's forward of an
    /// earlier message) commit side by side, from any node; inbox seqs and
    /// counters are assigned by the store.
    pub reads: Option<Vec<(String, u64)>>,
    /// The new room document, if the action changed it. The version is bumped
    /// by every successful commit either way.
    pub doc: Option<Vec<u8>>,
    /// Room objects (messages, forwards, idempotency keys) to create or replace.
    pub puts: Vec<(String, Vec<u8>)>,
    /// Events to append, in order, to these participants' inboxes.
    pub deliveries: Vec<(ParticipantId, Vec<u8>)>,
    /// The deliveries' plaintext, index for index, given only to a store
    /// that announces its commits within this process
    /// ([`Store::announces_in_process`]): it passes each on in its
    /// [`Delivery`], so this node's connections need not decrypt what this
    /// node has just encrypted. Never stored.
    pub plain: Vec<Arc<str>>,
    /// Room counters to add to (quota usage), by opaque field name. They
    /// live beside the document rather than in it, so that counting what an
    /// action stores does not rewrite (re-seal, re-send) the whole document
    /// on every action. Read back with the document by `load_room`; erased
    /// with the room.
    pub counts: Vec<(String, i64)>,
    /// Ceilings on counters (field, most it may hold after this commit's
    /// increments): the commit conflicts rather than go past one. A quota is
    /// then exact even when another node's commits moved the counter after
    /// this action read it.
    pub limits: Vec<(String, i64)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitOutcome {
    /// Applied. `seqs[i]` is the inbox sequence number given to
    /// `deliveries[i]`; `counts[i]` is the value of the counter
    /// `counts[i].0` after the commit, other nodes' increments included.
    Committed {
        version: u64,
        seqs: Vec<u64>,
        counts: Vec<i64>,
    },
    /// What the action read has changed, a ceiling would be passed, or the
    /// room is gone: reload and retry.
    Conflict,
}

impl Commit {
    /// Whether this commit may be applied to a room now at `version`, whose
    /// document was last written at `doc_written` and each object at
    /// `written(key)` (0: never). For the stores that keep rooms in this
    /// process; the Redis script checks the same.
    pub(crate) fn reads_hold(
        &self,
        version: u64,
        doc_written: u64,
        written: impl Fn(&str) -> u64,
    ) -> bool {
        let seen = self.expect_version;
        match &self.reads {
            None => version == seen,
            Some(reads) => {
                version >= seen
                    && doc_written <= seen
                    && reads.iter().all(|(k, at)| written(k) <= *at)
            }
        }
    }

    /// The counters after this commit's increments, from `current`, or
    /// `None` if one would pass its ceiling.
    pub(crate) fn counted(&self, current: impl Fn(&str) -> i64) -> Option<Vec<i64>> {
        let mut after: Vec<(&str, i64)> = Vec::with_capacity(self.counts.len());
        for (field, by) in &self.counts {
            match after.iter_mut().find(|(f, _)| f == field) {
                Some((_, v)) => *v += by,
                None => after.push((field, current(field) + by)),
            }
        }
        let value = |field: &str| after.iter().find(|(f, _)| *f == field).map(|(_, v)| *v);
        let within = self
            .limits
            .iter()
            .all(|(field, max)| value(field).unwrap_or_else(|| current(field)) <= *max);
        within.then(|| {
            self.counts
                .iter()
                .map(|(f, _)| value(f).unwrap_or_default())
                .collect()
        })
    }
}

/// What happened to an invite code when someone tried to use it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InviteTake {
    /// First use: here is the invite's value. The code is now spent.
    Taken(Vec<u8>),
    /// The code was valid once and has been used.
    AlreadyUsed,
    Unknown,
}

/// One inbox append, as announced to the nodes watching the room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub participant: ParticipantId,
    pub seq: u64,
    pub payload: Vec<u8>,
    /// The payload's plaintext when the commit was made in this process
    /// ([`Commit::plain`]); `None` when it came from elsewhere.
    pub plain: Option<Arc<str>>,
}

impl Delivery {
    /// A commit's deliveries with the seqs its store gave them, each with
    /// its plaintext where the commit kept it ([`Commit::plain`]).
    pub fn numbered(
        deliveries: Vec<(ParticipantId, Vec<u8>)>,
        plain: Vec<Arc<str>>,
        seqs: &[u64],
    ) -> Vec<Delivery> {
        let mut plain = plain.into_iter();
        deliveries
            .into_iter()
            .zip(seqs)
            .map(|((participant, payload), seq)| Delivery {
                participant,
                seq: *seq,
                payload,
                plain: plain.next(),
            })
            .collect()
    }
}

/// Something every node with connections in `room` may need to act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notification {
    /// Inbox appends from one commit, in commit order.
    Delivered {
        room: RoomId,
        deliveries: Vec<Delivery>,
    },
    /// An ephemeral frame (presence, typing, a revoked participant): not stored.
    /// `payload` is opaque to the store.
    Signal { room: RoomId, payload: Vec<u8> },
    /// The room was deleted; every connection in it must close.
    RoomDeleted { room: RoomId },
    /// Notifications for this room may have been lost (the store's subscriber
    /// reconnected): connections must re-read their inboxes.
    Resync { room: RoomId },
}

impl Notification {
    pub fn room(&self) -> RoomId {
        match self {
            Notification::Delivered { room, .. }
            | Notification::Signal { room, .. }
            | Notification::RoomDeleted { room }
            | Notification::Resync { room } => *room,
        }
    }
}

/// The storage seam. Keys passed in (`key` arguments) are short relative
/// names chosen by the caller, such as `m:<uuid>`; stores namespace them by
/// room themselves.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Cheap readiness check for `/readyz`: succeeds only when every
    /// operation a new connection needs (including `watch`) would.
    async fn ping(&self) -> StoreResult<()>;

    // ---- ombud accounts (global, not room scoped) ----
    async fn put_account(&self, username: &str, value: Vec<u8>) -> StoreResult<()>;
    async fn get_account(&self, username: &str) -> StoreResult<Option<Vec<u8>>>;
    async fn account_count(&self) -> StoreResult<u64>;
    /// Every account's value, in no particular order (for the admin
    /// command's listing; an office has dozens of ombuds, not millions).
    async fn list_accounts(&self) -> StoreResult<Vec<Vec<u8>>>;

    // ---- rooms ----
    /// Create a room at version 1. Every key of the room expires at `expire_at`
    /// (unix milliseconds). Returns false if it already exists.
    async fn create_room(&self, room: RoomId, doc: Vec<u8>, expire_at_ms: i64)
        -> StoreResult<bool>;
    async fn load_room(&self, room: RoomId) -> StoreResult<Option<Versioned>>;
    /// Ids of every live room (for listings; an office has hundreds, not millions).
    async fn list_rooms(&self) -> StoreResult<Vec<RoomId>>;
    /// Room objects by key, in the order asked (`None` where absent), each
    /// with the version that last wrote it (0 when absent; 1 for an object
    /// written before versions were kept), read at one instant: what a read
    /// set names ([`Commit::reads`]).
    async fn read_objects(&self, room: RoomId, keys: &[String]) -> StoreResult<Vec<ObjectRead>>;
    /// Room objects by key, in the order asked; `None` where absent.
    async fn get_objects(
        &self,
        room: RoomId,
        keys: &[String],
    ) -> StoreResult<Vec<Option<Vec<u8>>>> {
        let read = self.read_objects(room, keys).await?;
        Ok(read.into_iter().map(|(value, _)| value).collect())
    }
    /// Apply a commit atomically (see [`Commit`]) and announce its deliveries.
    async fn commit(&self, room: RoomId, commit: Commit) -> StoreResult<CommitOutcome>;
    /// Returns once what was just read of the room is as durable as a
    /// commit would be: a retried action answered from what an earlier,
    /// unacknowledged attempt wrote must not be acknowledged before that
    /// write could survive a failover. Only a replicated store waits.
    async fn settle(&self, _room: RoomId) -> StoreResult<()> {
        Ok(())
    }
    /// Inbox events with `seq > after`, oldest first, at most `limit`.
    async fn read_inbox(
        &self,
        room: RoomId,
        participant: ParticipantId,
        after: u64,
        limit: usize,
    ) -> StoreResult<Vec<(u64, Vec<u8>)>>;
    /// The newest seq in a participant's inbox (0 when empty).
    async fn inbox_head(&self, room: RoomId, participant: ParticipantId) -> StoreResult<u64>;
    /// Remove every key of the room at once and announce `RoomDeleted`.
    /// Returns false if there was no such room.
    async fn delete_room(&self, room: RoomId) -> StoreResult<bool>;

    // ---- invites (room scoped, single use) ----
    async fn put_invite(&self, room: RoomId, code_key: &str, value: Vec<u8>) -> StoreResult<()>;
    /// Atomically spend an invite code.
    async fn take_invite(&self, room: RoomId, code_key: &str) -> StoreResult<InviteTake>;

    // ---- aggregate counters (global; survive room deletion; hold no ids) ----
    async fn incr_counter(&self, field: &str, by: i64) -> StoreResult<()>;
    async fn counters(&self) -> StoreResult<Vec<(String, i64)>>;

    // ---- token generations (global; one counter per subject) ----
    /// The current generation of `subject` (an opaque name); 0 if it was
    /// never raised. Never decreases.
    async fn generation(&self, subject: &str) -> StoreResult<u64>;
    /// Raises `subject`'s generation by one, atomically; returns the new value.
    async fn raise_generation(&self, subject: &str) -> StoreResult<u64>;

    // ---- notifications ----
    /// Start receiving this room's notifications on this node. Resolves once
    /// the subscription is live, so a read of the inbox after it misses nothing.
    async fn watch(&self, room: RoomId) -> StoreResult<()>;
    async fn unwatch(&self, room: RoomId) -> StoreResult<()>;
    /// Broadcast an ephemeral signal to every node watching the room.
    async fn signal(&self, room: RoomId, payload: Vec<u8>) -> StoreResult<()>;
    /// The node's notification stream. Called once at start-up; later calls
    /// may return a receiver that never yields.
    fn notifications(&self) -> mpsc::UnboundedReceiver<Notification>;
    /// Times the notification connection was lost and re-established since
    /// start-up (`/metrics`); stores without one never reconnect.
    fn pubsub_reconnects(&self) -> u64 {
        0
    }
    /// True when this store's delivery notifications are made in this
    /// process from the commit itself (so [`Commit::plain`] is worth
    /// passing); false when they come back through another service.
    fn announces_in_process(&self) -> bool {
        false
    }
}

/// Hands `n` to every listener still there, forgetting the ones that have
/// gone. The last gets `n` itself: the usual lone listener (this node's
/// hub) costs no copy of the payloads.
pub(crate) fn fan_out(listeners: &mut Vec<mpsc::UnboundedSender<Notification>>, n: Notification) {
    listeners.retain(|tx| !tx.is_closed());
    if let Some((last, others)) = listeners.split_last() {
        for tx in others {
            let _ = tx.send(n.clone());
        }
        let _ = last.send(n);
    }
}

/// How long a store operation may take before it counts as unavailable.
pub const OP_TIMEOUT: Duration = Duration::from_secs(2);
