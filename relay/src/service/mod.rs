//! Where room logic meets storage: load the room and the objects the logic
//! asks for, apply, seal, commit; on a version conflict, start again. This is
//! the only module that turns [`crate::room`] decisions into store writes.
//!
//! - [`commit`]: the action loop (`Rooms::run`), shared by websocket
//!   requests and REST changes alike;
//! - [`cache`]: the per-node document cache and room turns;
//! - [`membership`]: rooms over REST, invites and joins;
//! - [`intake`]: conversations from the front door: queue, claim, handoff,
//!   convert, block, and erasing unclaimed ones;
//! - [`names`]: the store names of room objects (idempotency keys blinded);
//! - [`replay`]: reading inboxes back;
//! - [`trends`]: aggregate counters and reports;
//! - [`agreements`]: a concluded agreement, loaded for its download;
//! - [`usage`]: quota usage, kept as counters beside the room document.

mod agreements;
mod cache;
mod commit;
pub mod intake;
mod membership;
mod names;
mod replay;
mod trends;
mod usage;

use std::sync::Arc;

use chrono::Utc;
use protocol::acks::SpansAck;
use protocol::{AckResult, ParticipantId, Request, Role, RoomId};
use uuid::Uuid;

use crate::config::Office;
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::room::logic::{self, Ctx, Outcome, Quotas, RedactJob};
use crate::room::redact::Matchers;
use crate::room::{RoomDoc, RoomError};
use crate::seal::{room_aad, Sealer};
use crate::store::Store;
use cache::{DocCache, RoomLocks};

pub struct Rooms {
    store: Arc<dyn Store>,
    sealer: Arc<Sealer>,
    office: Office,
    default_retention_hours: u32,
    quotas: Quotas,
    /// The last room documents this node read or wrote, with their versions.
    docs: DocCache,
    /// Serialises actions on one room within this node, so a node's own
    /// requests never conflict with each other; conflicts (and retries) are
    /// left to writers on other nodes.
    locks: RoomLocks,
    /// Redaction matchers by room content, built once per set of names and terms.
    matchers: Arc<Matchers>,
    /// Redaction jobs running at once: they are CPU work on blocking threads,
    /// and a flood of them must not take every core.
    redacting: Arc<tokio::sync::Semaphore>,
    /// This node's counters (`GET /metrics`).
    metrics: Arc<Metrics>,
    /// Participants' quota counter names, computed once.
    counter_fields: usage::CounterFields,
}

impl Rooms {
    pub fn new(
        store: Arc<dyn Store>,
        sealer: Arc<Sealer>,
        office: Office,
        default_retention_hours: u32,
        quotas: Quotas,
        metrics: Arc<Metrics>,
    ) -> Self {
        Rooms {
            store,
            sealer,
            office,
            default_retention_hours,
            quotas,
            docs: DocCache::default(),
            locks: RoomLocks::default(),
            matchers: Arc::default(),
            redacting: Arc::new(tokio::sync::Semaphore::new(REDACTIONS_AT_ONCE)),
            metrics,
            counter_fields: usage::CounterFields::default(),
        }
    }

    pub fn office(&self) -> &Office {
        &self.office
    }

    /// The room's info as its ombuds see it: with its usage against the quotas.
    pub fn info_for_ombuds(&self, doc: &RoomDoc) -> protocol::RoomInfo {
        protocol::RoomInfo {
            quota: Some(self.quotas.info(doc)),
            ..doc.info()
        }
    }

    /// Times the store's notification connection was re-established.
    pub fn pubsub_reconnects(&self) -> u64 {
        self.store.pubsub_reconnects()
    }

    /// Is the store answering? (`/readyz`)
    pub async fn ping(&self) -> Result<()> {
        Ok(self.store.ping().await?)
    }

    pub async fn load(&self, room: RoomId) -> Result<Option<(u64, RoomDoc)>> {
        match self.store.load_room(room).await? {
            Some(v) => {
                let mut doc: RoomDoc = self.sealer.open(&room_aad(room), &v.doc)?;
                doc.usage = self.usage_from(room, &doc, &v.counts);
                Ok(Some((v.version, doc)))
            }
            None => Ok(None),
        }
    }

    pub async fn doc(&self, room: RoomId) -> Result<RoomDoc> {
        self.load(room)
            .await?
            .map(|(_, d)| d)
            .ok_or_else(|| Error::not_found("no such room"))
    }

    /// The room logic's decision on a websocket request, committed.
    async fn decide(
        &self,
        room: RoomId,
        who: ParticipantId,
        role: Role,
        req: &Request,
        idempotency_key: Option<&str>,
    ) -> Result<Outcome> {
        let now = Utc::now();
        let ids: Vec<Uuid> = (0..8).map(|_| Uuid::new_v4()).collect();
        self.run(room, |doc, view| {
            let actor = doc
                .actor(who, role)
                .ok_or_else(|| RoomError::forbidden("you are no longer in this room"))?;
            let ctx = Ctx {
                doc,
                actor: &actor,
                office: &self.office,
                now,
            };
            // `apply` may run several times (each time it asks for more objects);
            // it must mint the same ids each time, so they come from a fixed pool.
            let mut minted = ids.iter().copied();
            let out = logic::apply_once(&ctx, view, req, idempotency_key, &mut || {
                minted.next().unwrap_or_else(Uuid::new_v4)
            })?;
            logic::charge(&ctx, req, out, &self.quotas)
        })
        .await
    }

    /// A websocket request from `who`. Returns the outcome, whose `result`
    /// is the ack and whose `signals` the caller publishes. Work the logic
    /// leaves for after the room's turn (redaction suggestions) is done here.
    pub async fn act(
        &self,
        room: RoomId,
        who: ParticipantId,
        role: Role,
        req: &Request,
        idempotency_key: Option<&str>,
    ) -> Result<Outcome> {
        let mut out = self.decide(room, who, role, req, idempotency_key).await?;
        if let Some(job) = out.redact.take() {
            out.result = self.suggest_redactions(job).await?;
        }
        Ok(out)
    }

    /// Runs the redaction matcher on a blocking thread, outside the room's turn.
    async fn suggest_redactions(&self, job: RedactJob) -> Result<AckResult> {
        let _slot = self
            .redacting
            .acquire()
            .await
            .map_err(|e| Error::internal(e.to_string()))?;
        let matchers = self.matchers.clone();
        let spans = tokio::task::spawn_blocking(move || {
            matchers.get(&job.names, &job.terms).suggest(&job.body)
        })
        .await
        .map_err(|e| Error::internal(e.to_string()))?;
        Ok(AckResult::Spans(SpansAck { spans }))
    }
}

/// Redaction jobs at once on this node.
const REDACTIONS_AT_ONCE: usize = 2;

/// How an ombud appears in a room: its id and the name parties see.
fn member(account: &crate::auth::Account) -> crate::room::Member {
    crate::room::Member {
        id: account.id,
        display_name: account.display_name.clone(),
    }
}

/// A room that closed or expired while an ombud acted on it answers as one
/// that never existed; `what` names it ("room", "conversation").
fn closed_is_not_found(what: &'static str) -> impl Fn(Error) -> Error {
    move |e| match e {
        Error::RoomClosed => Error::not_found(format!("no such {what}")),
        other => other,
    }
}
