//! Which nodes watch a room, kept in Redis beside the room (`P:{R}:nodes`),
//! so a commit is published only when another node needs it.
//!
//! A node announces its own commits to itself from their replies
//! ([`super::pubsub::Listeners::announce`]); pub/sub is for the other
//! nodes. With one node serving a room, Redis then publishes nothing and
//! the node reads nothing back. A node registers after it subscribes and
//! before its connection reads the inbox, so a commit either sees the
//! registration (and is published to a live subscription) or is in the
//! inbox read. A registration lost with Redis data (a failover before it
//! reached the replica) is made again when the subscriptions are, and
//! every [`REFRESH`]; a room whose registration had to be made again is
//! resynced, so its connections re-read what was not published to them.
//! A node that dies leaves its registration until the room expires: it
//! costs a publish per commit, nothing else.

use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use super::conn::{Conn, Durability};
use super::keys::KeySpace;
use super::ops::within;
use super::pubsub::Listeners;
use super::scripts::{Call, Scripts};
use crate::store::{RoomId, StoreResult};

/// How often every watched room's registration is checked.
const REFRESH: Duration = Duration::from_secs(30);

/// What registering needs; cloned into the refresh task.
#[derive(Clone)]
pub(super) struct Registrar {
    pub(super) conn: Conn,
    pub(super) keys: KeySpace,
    pub(super) scripts: &'static Scripts,
    pub(super) node: Uuid,
}

impl Registrar {
    /// Registers this node as watching `room` (`on`) or withdraws it.
    /// Returns true if a registration was added that was not there.
    pub(super) async fn set(&self, room: RoomId, on: bool) -> StoreResult<bool> {
        let mut call = Call::new(
            &self.scripts.watch,
            &[self.keys.doc(room), self.keys.watchers(room)],
        );
        call.arg(self.node.as_bytes().as_slice())
            .arg(if on { "1" } else { "0" });
        let mut conn = self.conn.clone();
        within(async move {
            let added: i64 = conn.invoke(&call, Durability::default()).await?;
            Ok(added == 1)
        })
        .await
    }

    /// Keeps every watched room registered, until aborted.
    pub(super) async fn keep(self, out: Arc<Listeners>) {
        loop {
            tokio::select! {
                _ = out.resubscribed.notified() => {}
                _ = tokio::time::sleep(REFRESH) => {}
            }
            for room in out.watched() {
                match self.set(room, true).await {
                    Ok(true) => {
                        tracing::info!(%room, "watch registration was lost; made again");
                        out.resync_room(room);
                    }
                    Ok(false) => {}
                    // Redis is away; the next pass (or reconnect) tries again.
                    Err(_) => break,
                }
            }
        }
    }
}
