//! What a node keeps between actions on a room: the last room document it
//! saw (saves a read and a decryption per action) and a turn per room (so a
//! node's own requests never conflict with each other).

use std::collections::HashMap;
use std::sync::Arc;

use protocol::RoomId;

use crate::room::RoomDoc;

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

/// Most rooms' documents, by room, with their versions. Safe to act on: a
/// commit succeeds only if the store is still at that version, and a
/// conflict drops the entry and reloads.
#[derive(Default)]
pub struct DocCache(std::sync::Mutex<HashMap<RoomId, (u64, Arc<RoomDoc>)>>);

/// Beyond this many rooms the cache starts over (an office has far fewer).
const DOC_CACHE_ROOMS: usize = 50_000;

impl DocCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<RoomId, (u64, Arc<RoomDoc>)>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
    pub fn get(&self, room: RoomId) -> Option<(u64, Arc<RoomDoc>)> {
        self.lock().get(&room).cloned()
    }
    pub fn put(&self, room: RoomId, version: u64, doc: Arc<RoomDoc>) {
        let mut map = self.lock();
        if map.len() >= DOC_CACHE_ROOMS {
            map.clear();
        }
        map.insert(room, (version, doc));
    }
    pub fn forget(&self, room: RoomId) {
        self.lock().remove(&room);
    }
}
