//! What a node keeps between actions on a room: the last room document it
//! saw (saves a read and a decryption per action) and a turn per room (so a
//! node's own requests never conflict with each other).

use std::collections::HashMap;
use std::sync::Arc;

use protocol::RoomId;

use crate::room::{Obj, RoomDoc};

/// A fixed set of async locks, one picked by the room id: bounded memory
/// whatever the number of rooms, and rooms rarely share one.
pub struct RoomLocks(Vec<tokio::sync::Mutex<()>>);

impl Default for RoomLocks {
    fn default() -> Self {
        RoomLocks((0..1024).map(|_| tokio::sync::Mutex::new(())).collect())
    }
}

impl RoomLocks {
    pub async fn lock(&self, room: RoomId) -> tokio::sync::MutexGuard<'_, ()> {
        let slot = (room.as_u128() % self.0.len() as u128) as usize;
        self.0[slot].lock().await
    }
}

/// Objects of a room as the store holds them at a cached version: those
/// this node's own actions read or wrote since it loaded the document.
/// `None` records an object known to be absent.
pub type Known = HashMap<String, Option<Arc<Obj>>>;

/// At most this many known objects per room; beyond it they start over.
pub const KNOWN_PER_ROOM: usize = 128;

/// A room as this node last saw it.
pub struct Cached {
    pub version: u64,
    pub doc: Arc<RoomDoc>,
    pub known: Known,
}

/// Most rooms' documents, by room, with their versions and the objects
/// known at that version. Safe to act on: a commit succeeds only if the
/// store is still at that version, and a conflict drops the entry and
/// reloads. An object is known at a version only if this node read it at
/// that version or wrote it in the commit that made it, so the objects a
/// node just wrote (the message a forward relays) need no second read.
#[derive(Default)]
pub struct DocCache(std::sync::Mutex<HashMap<RoomId, Cached>>);

/// Beyond this many rooms the cache starts over (an office has far fewer).
const DOC_CACHE_ROOMS: usize = 50_000;

impl DocCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<RoomId, Cached>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
    /// The cached room, with its known objects moved out: the caller holds
    /// the room's turn and puts them back with its commit.
    pub fn take(&self, room: RoomId) -> Option<Cached> {
        let mut map = self.lock();
        let entry = map.get_mut(&room)?;
        Some(Cached {
            version: entry.version,
            doc: entry.doc.clone(),
            known: std::mem::take(&mut entry.known),
        })
    }
    pub fn put(&self, room: RoomId, version: u64, doc: Arc<RoomDoc>, known: Known) {
        let mut map = self.lock();
        if map.len() >= DOC_CACHE_ROOMS {
            map.clear();
        }
        map.insert(
            room,
            Cached {
                version,
                doc,
                known,
            },
        );
    }
    pub fn forget(&self, room: RoomId) {
        self.lock().remove(&room);
    }
}
