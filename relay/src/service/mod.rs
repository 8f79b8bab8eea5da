//! Where room logic meets storage: load the room and the objects the logic
//! asks for, apply, seal, commit; on a version conflict, start again. This is
//! the only module that turns [`crate::room`] decisions into store writes.
//!
//! - [`commit`]: the action loop (`Rooms::run`), shared by websocket
//!   requests and REST changes alike;
//! - [`cache`]: the per-node document cache and room turns;
//! - [`membership`]: rooms over REST, invites and joins;
//! - [`names`]: the store names of room objects (idempotency keys blinded);
//! - [`replay`]: reading inboxes back;
//! - [`trends`]: aggregate counters and reports.

mod cache;
mod commit;
mod membership;
mod names;
mod replay;
mod trends;

use std::sync::Arc;

use chrono::Utc;
use protocol::{ParticipantId, Request, Role, RoomId};
use uuid::Uuid;

use crate::config::Office;
use crate::error::{Error, Result};
use crate::room::logic::{self, Ctx, Outcome};
use crate::room::{RoomDoc, RoomError};
use crate::seal::{room_aad, Sealer};
use crate::store::Store;
use cache::{DocCache, RoomLocks};

pub struct Rooms {
    store: Arc<dyn Store>,
    sealer: Arc<Sealer>,
    office: Office,
    default_retention_hours: u32,
    /// The last room documents this node read or wrote, with their versions.
    docs: DocCache,
    /// Serialises actions on one room within this node, so a node's own
    /// requests never conflict with each other; conflicts (and retries) are
    /// left to writers on other nodes.
    locks: RoomLocks,
}

impl Rooms {
    pub fn new(
        store: Arc<dyn Store>,
        sealer: Arc<Sealer>,
        office: Office,
        default_retention_hours: u32,
    ) -> Self {
        Rooms {
            store,
            sealer,
            office,
            default_retention_hours,
            docs: DocCache::default(),
            locks: RoomLocks::default(),
        }
    }

    pub fn office(&self) -> &Office {
        &self.office
    }

    /// Is the store answering? (`/readyz`)
    pub async fn ping(&self) -> Result<()> {
        Ok(self.store.ping().await?)
    }

    pub async fn load(&self, room: RoomId) -> Result<Option<(u64, RoomDoc)>> {
        match self.store.load_room(room).await? {
            Some(v) => Ok(Some((
                v.version,
                self.sealer.open(&room_aad(room), &v.doc)?,
            ))),
            None => Ok(None),
        }
    }

    pub async fn doc(&self, room: RoomId) -> Result<RoomDoc> {
        self.load(room)
            .await?
            .map(|(_, d)| d)
            .ok_or_else(|| Error::not_found("no such room"))
    }

    /// A websocket request from `who`. Returns the outcome, whose `result`
    /// is the ack and whose `signals` the caller publishes.
    pub async fn act(
        &self,
        room: RoomId,
        who: ParticipantId,
        role: Role,
        req: &Request,
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
            logic::apply(&ctx, view, req, &mut || {
                minted.next().unwrap_or_else(Uuid::new_v4)
            })
        })
        .await
    }
}
