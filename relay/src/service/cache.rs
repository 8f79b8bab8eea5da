//! What a node keeps between actions on a room: the last room document it
//! saw (saves a read and a decryption per action) and a turn per room (so a
//! node's own requests never conflict with each other).

use std::sync::Arc;

use foldhash::HashMap;
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

/// Objects of a room as the store held them at the version that last wrote
/// them: those this node's own actions read or wrote since it loaded the
/// document. `None` records an object known to be absent (version 0). An
/// action may decide on them without reading them again, because its
/// commit checks those versions (`store::Commit::reads`): another node's
/// change to one turns the commit into a conflict and a fresh read.
pub type Known = HashMap<String, (Option<Arc<Obj>>, u64)>;

/// At most this many known objects per room; beyond it they start over.
pub const KNOWN_PER_ROOM: usize = 128;

/// A room as this node last saw it.
pub struct Cached {
    pub version: u64,
    pub doc: Arc<RoomDoc>,
    pub known: Known,
}

/// At most this many known objects over all rooms: a message is at most
/// 16,000 characters, so the objects held stay bounded (a few MiB in
/// practice, a few hundred at worst) whatever the number of rooms.
pub const KNOWN_IN_ALL: usize = 4_096;

/// Most rooms' documents, by room, with their versions and the objects
/// known at that version. Safe to act on: a commit succeeds only if the
/// store is still at that version. An action takes its room's entry out
/// and only its commit puts one back, so after a conflict or a refusal the
/// next action reloads from the store. An object is known at a version only if this node read it at
/// that version or wrote it in the commit that made it, so the objects a
/// node just wrote (the message a forward relays) need no second read.
#[derive(Default)]
pub struct DocCache(std::sync::Mutex<Rooms>);

#[derive(Default)]
struct Rooms {
    cached: HashMap<RoomId, Cached>,
    /// Known objects held over all rooms.
    known: usize,
}

/// Beyond this many rooms the cache starts over (an office has far fewer).
const DOC_CACHE_ROOMS: usize = 50_000;

impl DocCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Rooms> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
    /// The cached room, moved out: the caller holds the room's turn and
    /// puts it back with its commit. Moving (not copying) leaves the caller
    /// the only holder of the document, so recording a commit's quota usage
    /// in it (`Arc::make_mut`) does not clone the whole document.
    pub fn take(&self, room: RoomId) -> Option<Cached> {
        let mut rooms = self.lock();
        let entry = rooms.cached.remove(&room)?;
        rooms.known -= entry.known.len();
        Some(entry)
    }
    /// Caches a room; its known objects only while every room's together
    /// stay within [`KNOWN_IN_ALL`].
    pub fn put(&self, room: RoomId, version: u64, doc: Arc<RoomDoc>, mut known: Known) {
        let mut rooms = self.lock();
        if rooms.cached.len() >= DOC_CACHE_ROOMS {
            *rooms = Rooms::default();
        }
        let replaced = rooms.cached.get(&room).map_or(0, |c| c.known.len());
        rooms.known -= replaced;
        if rooms.known + known.len() > KNOWN_IN_ALL {
            known.clear();
        }
        rooms.known += known.len();
        rooms.cached.insert(
            room,
            Cached {
                version,
                doc,
                known,
            },
        );
    }
    pub fn forget(&self, room: RoomId) {
        let mut rooms = self.lock();
        if let Some(gone) = rooms.cached.remove(&room) {
            rooms.known -= gone.known.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(n: usize) -> Known {
        (0..n).map(|i| (format!("m:{i}"), (None, 0))).collect()
    }

    #[test]
    fn known_objects_stay_within_the_bound_over_all_rooms() {
        let cache = DocCache::default();
        let doc = Arc::new(RoomDoc {
            id: uuid::Uuid::new_v4(),
            title: "t".into(),
            consent_required: false,
            attribution: protocol::Attribution::Named,
            retention_hours: 1,
            created_at: chrono::Utc::now(),
            expire_at_ms: i64::MAX,
            ombuds: vec![],
            parties: vec![],
            joint_open: false,
            categories: vec![],
            category_months: Default::default(),
            sensitive_terms: vec![],
            usage: Default::default(),
            intake: None,
        });
        let (a, b) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
        cache.put(a, 1, doc.clone(), known(KNOWN_IN_ALL - 10));
        cache.put(b, 1, doc.clone(), known(11));
        assert!(cache.take(b).unwrap().known.is_empty(), "over the bound");
        cache.put(b, 2, doc.clone(), known(10));
        assert_eq!(cache.take(b).unwrap().known.len(), 10, "within it");
        let taken = cache.take(a).unwrap();
        assert_eq!(taken.known.len(), KNOWN_IN_ALL - 10);
        assert!(cache.take(a).is_none(), "taken, not copied");
        cache.forget(a);
        cache.put(b, 3, doc, known(KNOWN_IN_ALL));
        assert_eq!(cache.take(b).unwrap().known.len(), KNOWN_IN_ALL, "freed");
        assert_eq!(cache.lock().known, 0);
    }
}
