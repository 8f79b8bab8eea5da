//! Conversations started at the office's front door: creating one (the
//! room and the visitor's first message), the office queue, claiming,
//! handing off, converting, blocking, and erasing unclaimed ones whose
//! time is up. Decisions are `room::logic::intake`'s; this module loads,
//! seals and commits, as `membership` does for ordinary rooms.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use protocol::intake::{QueueEntry, VisitorLabel};
use protocol::{Channel, ParticipantId, Request, Role, RoomId};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{closed_is_not_found, member, Rooms};
use crate::auth::{Account, Sessions};
use crate::error::{Error, Result};
use crate::room::logic::intake::{self, NewConversation};
use crate::room::logic::Signal;
use crate::room::RoomDoc;

/// A conversation just started: the room, and the visitor in it.
pub struct Started {
    pub doc: RoomDoc,
    pub visitor: ParticipantId,
}

impl Rooms {
    /// Creates the conversation and stores the visitor's first message in
    /// its thread (where, with no ombud yet, only the visitor receives it).
    pub async fn start_conversation(&self, label: &VisitorLabel, body: &str) -> Result<Started> {
        let label = match label {
            VisitorLabel::Name { name } => name.trim().to_string(),
            VisitorLabel::Anonymous => format!("Visitor {}", 1000 + rand::random::<u16>() % 9000),
        };
        let visitor = Uuid::new_v4();
        let doc = intake::create_conversation(NewConversation {
            id: Uuid::new_v4(),
            visitor,
            label: &label,
            now: Utc::now(),
            retention_hours: self.default_retention_hours,
            unclaimed_ms: self.office.intake.unclaimed_ms(),
        })?;
        self.store_new_room(&doc).await?;
        let first = Request::Send {
            channel: Channel::Private(visitor),
            body: body.to_string(),
            client_id: format!("first-{}", Uuid::new_v4()),
            shareable: true,
        };
        if let Err(e) = self.act(doc.id, visitor, Role::Party, &first, None).await {
            // A conversation whose first message failed is of no use to anyone.
            self.store.delete_room(doc.id).await?;
            self.docs.forget(doc.id);
            return Err(e);
        }
        Ok(Started { doc, visitor })
    }

    /// Every unclaimed conversation, oldest first; those past their time
    /// are erased on the way.
    pub async fn queue(&self) -> Result<Vec<QueueEntry>> {
        let now = Utc::now();
        let mut entries = Vec::new();
        for id in self.store.list_rooms().await? {
            let Some((_, doc)) = self.load(id).await? else {
                continue;
            };
            if intake::expired_unclaimed(&doc, now) {
                self.erase(&doc).await?;
            } else if let Some(e) = intake::queue_entry(&doc, now) {
                entries.push(e);
            }
        }
        entries.sort_by_key(|e| e.created_at);
        Ok(entries)
    }

    /// Erases every unclaimed conversation past its time.
    pub async fn sweep_unclaimed(&self) -> Result<usize> {
        let now = Utc::now();
        let mut erased = 0;
        for id in self.store.list_rooms().await? {
            if let Some((_, doc)) = self.load(id).await? {
                if intake::expired_unclaimed(&doc, now) {
                    self.erase(&doc).await?;
                    erased += 1;
                }
            }
        }
        Ok(erased)
    }

    async fn erase(&self, doc: &RoomDoc) -> Result<()> {
        if self.store.delete_room(doc.id).await? {
            self.count_trends(&crate::room::logic::untag_all(doc, Utc::now()))
                .await?;
        }
        self.docs.forget(doc.id);
        Ok(())
    }

    /// `ombud` claims an unclaimed conversation; a second claim is a `conflict`.
    pub async fn claim(&self, room: RoomId, ombud: &Account) -> Result<RoomDoc> {
        let member = member(ombud);
        let now = Utc::now();
        let out = self
            .run(room, |doc, view| {
                intake::claim(doc, view, member.clone(), now)
            })
            .await
            .map_err(closed_is_not_found("conversation"))?;
        out.doc
            .ok_or_else(|| Error::internal("a claim produced no room"))
    }

    /// `by` hands the room to `colleague` and leaves it; returns the room
    /// and the signals that close `by`'s connections.
    pub async fn handoff(
        &self,
        room: RoomId,
        by: Uuid,
        colleague: &Account,
    ) -> Result<(RoomDoc, Vec<Signal>)> {
        let member = member(colleague);
        let out = self
            .run(room, |doc, view| {
                intake::handoff(doc, view, by, member.clone())
            })
            .await
            .map_err(closed_is_not_found("conversation"))?;
        let doc = out
            .doc
            .ok_or_else(|| Error::internal("a handoff produced no room"))?;
        Ok((doc, out.signals))
    }

    pub async fn convert(&self, room: RoomId, by: Uuid, title: Option<&str>) -> Result<RoomDoc> {
        let out = self
            .run(room, |doc, _| intake::convert(doc, by, title))
            .await
            .map_err(closed_is_not_found("conversation"))?;
        out.doc
            .ok_or_else(|| Error::internal("a conversion produced no room"))
    }

    /// Closes and blocks a conversation: the visitor's token and return link
    /// stop working (its generation is raised first, on every node at once),
    /// then the room is erased, which closes every connection in it.
    pub async fn block(&self, room: RoomId, by: Uuid, sessions: &Sessions) -> Result<()> {
        let doc = self.room_for_ombud(room, by).await?;
        if doc.intake.is_none() {
            return Err(Error::conflict(
                "only a conversation from the front door can be blocked; delete the room instead",
            ));
        }
        for visitor in &doc.parties {
            sessions.void_party(visitor.id).await?;
        }
        self.erase(&doc).await
    }
}

/// Erases unclaimed conversations whose time is up, every `every`, until
/// `stop`. (Claimed ones expire with the room's retention, as any room.)
pub async fn sweeper(rooms: Arc<Rooms>, every: Duration, stop: CancellationToken) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        match rooms.sweep_unclaimed().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(erased = n, "unclaimed conversations erased"),
            Err(e) => e.log(),
        }
    }
}
