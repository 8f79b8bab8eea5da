//! The embedded store: everything in this process's memory, so `cargo run`
//! needs nothing else. One lock per room (plus a map lock held only to find
//! the room) keeps rooms from contending with each other. Expiry is enforced
//! on every read and by a sweeper task that stops when the store is dropped.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use async_trait::async_trait;
use foldhash::HashMap;
use tokio::sync::mpsc;

use super::*;

#[derive(Default)]
struct Room {
    version: u64,
    doc: Vec<u8>,
    expire_at_ms: i64,
    /// The version that last wrote the document, and each object.
    doc_written: u64,
    objects: HashMap<String, (Vec<u8>, u64)>,
    inboxes: HashMap<ParticipantId, Vec<Arc<[u8]>>>,
    invites: HashMap<String, Option<Vec<u8>>>,
    counts: HashMap<String, i64>,
}

#[derive(Default)]
struct Inner {
    rooms: Mutex<HashMap<RoomId, Arc<Mutex<Room>>>>,
    accounts: Mutex<HashMap<String, Vec<u8>>>,
    counters: Mutex<HashMap<String, i64>>,
    generations: Mutex<HashMap<String, u64>>,
    subscribers: Mutex<Vec<mpsc::UnboundedSender<Notification>>>,
}

pub struct MemoryStore {
    inner: Arc<Inner>,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding a store lock is a bug elsewhere; the data itself
    // is still consistent because every mutation is applied before unlocking.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        let inner = Arc::new(Inner::default());
        if tokio::runtime::Handle::try_current().is_ok() {
            tokio::spawn(sweep(Arc::downgrade(&inner)));
        }
        MemoryStore { inner }
    }

    fn room(&self, room: RoomId) -> Option<Arc<Mutex<Room>>> {
        let mut rooms = lock(&self.inner.rooms);
        let entry = rooms.get(&room)?.clone();
        if lock(&entry).expire_at_ms <= now_ms() {
            rooms.remove(&room);
            return None;
        }
        Some(entry)
    }

    fn publish(&self, n: Notification) {
        fan_out(&mut lock(&self.inner.subscribers), n);
    }
}

/// Drops expired rooms every second; ends when the store is gone.
async fn sweep(inner: Weak<Inner>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        let now = now_ms();
        lock(&inner.rooms).retain(|_, r| lock(r).expire_at_ms > now);
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn ping(&self) -> StoreResult<()> {
        Ok(())
    }

    async fn put_account(&self, username: &str, value: Vec<u8>) -> StoreResult<()> {
        lock(&self.inner.accounts).insert(username.to_string(), value);
        Ok(())
    }

    async fn get_account(&self, username: &str) -> StoreResult<Option<Vec<u8>>> {
        Ok(lock(&self.inner.accounts).get(username).cloned())
    }

    async fn account_count(&self) -> StoreResult<u64> {
        Ok(lock(&self.inner.accounts).len() as u64)
    }

    async fn list_accounts(&self) -> StoreResult<Vec<Vec<u8>>> {
        Ok(lock(&self.inner.accounts).values().cloned().collect())
    }

    async fn create_room(
        &self,
        room: RoomId,
        doc: Vec<u8>,
        expire_at_ms: i64,
    ) -> StoreResult<bool> {
        if self.room(room).is_some() {
            return Ok(false);
        }
        let entry = Room {
            version: 1,
            doc,
            expire_at_ms,
            ..Room::default()
        };
        lock(&self.inner.rooms).insert(room, Arc::new(Mutex::new(entry)));
        Ok(true)
    }

    async fn load_room(&self, room: RoomId) -> StoreResult<Option<Versioned>> {
        Ok(self.room(room).map(|r| {
            let r = lock(&r);
            Versioned {
                version: r.version,
                doc: r.doc.clone(),
                counts: r.counts.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            }
        }))
    }

    async fn list_rooms(&self) -> StoreResult<Vec<RoomId>> {
        let now = now_ms();
        Ok(lock(&self.inner.rooms)
            .iter()
            .filter(|(_, r)| lock(r).expire_at_ms > now)
            .map(|(id, _)| *id)
            .collect())
    }

    async fn read_objects(&self, room: RoomId, keys: &[String]) -> StoreResult<Vec<ObjectRead>> {
        let Some(r) = self.room(room) else {
            return Ok(vec![(None, 0); keys.len()]);
        };
        let r = lock(&r);
        Ok(keys
            .iter()
            .map(|k| match r.objects.get(k) {
                Some((value, at)) => (Some(value.clone()), *at),
                None => (None, 0),
            })
            .collect())
    }

    async fn commit(&self, room: RoomId, commit: Commit) -> StoreResult<CommitOutcome> {
        let Some(entry) = self.room(room) else {
            return Ok(CommitOutcome::Conflict);
        };
        let (version, deliveries, counts) = {
            let mut r = lock(&entry);
            let written = |k: &str| r.objects.get(k).map_or(0, |(_, at)| *at);
            if !commit.reads_hold(r.version, r.doc_written, written) {
                return Ok(CommitOutcome::Conflict);
            }
            let Some(counts) = commit.counted(|f| r.counts.get(f).copied().unwrap_or(0)) else {
                return Ok(CommitOutcome::Conflict);
            };
            r.version += 1;
            let version = r.version;
            if let Some(doc) = commit.doc {
                r.doc = doc;
                r.doc_written = version;
            }
            r.objects
                .extend(commit.puts.into_iter().map(|(k, v)| (k, (v, version))));
            for ((field, _), value) in commit.counts.into_iter().zip(&counts) {
                r.counts.insert(field, *value);
            }
            let mut deliveries = Vec::with_capacity(commit.deliveries.len());
            let mut plain = commit.plain.into_iter();
            for (participant, payload) in commit.deliveries {
                let inbox = r.inboxes.entry(participant).or_default();
                inbox.push(Arc::from(payload.as_slice()));
                deliveries.push(Delivery {
                    participant,
                    seq: inbox.len() as u64,
                    payload,
                    plain: plain.next(),
                });
            }
            (r.version, deliveries, counts)
        };
        let seqs = deliveries.iter().map(|d| d.seq).collect();
        if !deliveries.is_empty() {
            self.publish(Notification::Delivered { room, deliveries });
        }
        Ok(CommitOutcome::Committed {
            version,
            seqs,
            counts,
        })
    }

    async fn read_inbox(
        &self,
        room: RoomId,
        participant: ParticipantId,
        after: u64,
        limit: usize,
    ) -> StoreResult<Vec<(u64, Vec<u8>)>> {
        let Some(r) = self.room(room) else {
            return Ok(Vec::new());
        };
        let r = lock(&r);
        let Some(inbox) = r.inboxes.get(&participant) else {
            return Ok(Vec::new());
        };
        Ok(inbox
            .iter()
            .enumerate()
            .skip(after as usize)
            .take(limit)
            .map(|(i, e)| (i as u64 + 1, e.to_vec()))
            .collect())
    }

    async fn inbox_head(&self, room: RoomId, participant: ParticipantId) -> StoreResult<u64> {
        Ok(self
            .room(room)
            .and_then(|r| lock(&r).inboxes.get(&participant).map(|i| i.len() as u64))
            .unwrap_or(0))
    }

    async fn delete_room(&self, room: RoomId) -> StoreResult<bool> {
        let existed = lock(&self.inner.rooms).remove(&room).is_some();
        if existed {
            self.publish(Notification::RoomDeleted { room });
        }
        Ok(existed)
    }

    async fn put_invite(&self, room: RoomId, code_key: &str, value: Vec<u8>) -> StoreResult<()> {
        if let Some(r) = self.room(room) {
            lock(&r).invites.insert(code_key.to_string(), Some(value));
        }
        Ok(())
    }

    async fn take_invite(&self, room: RoomId, code_key: &str) -> StoreResult<InviteTake> {
        let Some(r) = self.room(room) else {
            return Ok(InviteTake::Unknown);
        };
        let mut r = lock(&r);
        Ok(match r.invites.get_mut(code_key) {
            None => InviteTake::Unknown,
            Some(slot) => match slot.take() {
                Some(v) => InviteTake::Taken(v),
                None => InviteTake::AlreadyUsed,
            },
        })
    }

    async fn incr_counter(&self, field: &str, by: i64) -> StoreResult<()> {
        *lock(&self.inner.counters)
            .entry(field.to_string())
            .or_insert(0) += by;
        Ok(())
    }

    async fn counters(&self) -> StoreResult<Vec<(String, i64)>> {
        Ok(lock(&self.inner.counters)
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect())
    }

    async fn generation(&self, subject: &str) -> StoreResult<u64> {
        Ok(lock(&self.inner.generations)
            .get(subject)
            .copied()
            .unwrap_or(0))
    }

    async fn raise_generation(&self, subject: &str) -> StoreResult<u64> {
        let mut generations = lock(&self.inner.generations);
        let gen = generations.entry(subject.to_string()).or_insert(0);
        *gen += 1;
        Ok(*gen)
    }

    async fn watch(&self, _room: RoomId) -> StoreResult<()> {
        Ok(())
    }

    async fn unwatch(&self, _room: RoomId) -> StoreResult<()> {
        Ok(())
    }

    async fn signal(&self, room: RoomId, payload: Vec<u8>) -> StoreResult<()> {
        self.publish(Notification::Signal { room, payload });
        Ok(())
    }

    fn announces_in_process(&self) -> bool {
        true
    }

    fn notifications(&self) -> mpsc::UnboundedReceiver<Notification> {
        let (tx, rx) = mpsc::unbounded_channel();
        lock(&self.inner.subscribers).push(tx);
        rx
    }
}
