//! The node's connection registry: which local websocket connections belong
//! to which participant of which room, the task that routes the store's
//! notifications to them, and the publishing of ephemeral signals (typing,
//! presence, closing a participant's connections) to every node, sealed with
//! the data key so the store's pub/sub never carries who is online, typing or
//! being closed. Each connection has a bounded queue; a connection
//! whose queue is full is dropped from the registry, and its handler closes it
//! as too slow, so one slow reader never costs the relay unbounded memory.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use foldhash::{HashMap, HashMapExt};
use protocol::{CloseCode, ParticipantId, Role, RoomId, ServerFrame};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::{self, error::TrySendError};

use crate::metrics::Metrics;
use crate::room::audience;
use crate::room::logic::Signal;
use crate::room::RoomDoc;
use crate::seal::{signal_aad, Sealer};
use crate::store::{Notification, Store};

/// What the hub hands a connection.
#[derive(Debug, Clone)]
pub enum ConnMsg {
    /// A sealed event from this participant's inbox.
    Deliver {
        seq: u64,
        payload: Arc<Vec<u8>>,
        /// Its JSON, when this node made the commit ([`crate::store::Delivery::plain`]).
        plain: Option<Arc<str>>,
    },
    /// A ready-to-send ephemeral frame.
    Frame(Arc<str>),
    Close(CloseCode),
    RoomDeleted,
    /// Re-read the inbox: notifications may have been lost.
    Resync,
}

/// Ephemeral signal as carried between nodes (ids only, never bodies or
/// names), sealed by [`seal_wire`] before it leaves the node.
#[derive(Debug, Serialize, Deserialize)]
enum Wire {
    Frame {
        to: Vec<ParticipantId>,
        frame: String,
    },
    Close {
        participant: ParticipantId,
        code: u16,
    },
    /// Someone just connected: every node answers with presence frames for
    /// its local participants that the asker may see.
    WhoIsHere {
        asker: ParticipantId,
        asker_is_ombud: bool,
    },
}

fn wire_of(s: &Signal) -> Wire {
    match s {
        Signal::Frame { to, frame } => Wire::Frame {
            to: to.clone(),
            frame: serde_json::to_string(frame).expect("frames serialise"),
        },
        Signal::Close { participant, code } => Wire::Close {
            participant: *participant,
            code: code.code(),
        },
    }
}

/// A signal as published: sealed under the room's signal associated data.
fn seal_wire(sealer: &Sealer, room: RoomId, wire: &Wire) -> Vec<u8> {
    sealer.seal(&signal_aad(room), wire)
}

/// Seals `wire` and broadcasts it to every node watching the room. Signals
/// are ephemeral: one that cannot be published is only logged.
async fn broadcast(store: &dyn Store, sealer: &Sealer, room: RoomId, wire: &Wire) {
    if let Err(e) = store.signal(room, seal_wire(sealer, room, wire)).await {
        tracing::debug!(%room, error = %e, "signal not published");
    }
}

/// One participant's connections on this node.
#[derive(Default)]
struct Peer {
    role: Option<Role>,
    conns: Vec<(u64, mpsc::Sender<ConnMsg>)>,
}

type Conns = HashMap<ParticipantId, Peer>;

pub struct Hub {
    store: Arc<dyn Store>,
    sealer: Arc<Sealer>,
    rooms: Mutex<HashMap<RoomId, Conns>>,
    next_id: AtomicU64,
    /// Serialises watch/unwatch so an unwatch never undoes a newer watch.
    watch_lock: tokio::sync::Mutex<()>,
    queue: usize,
    /// Connections one participant may hold on this node.
    per_participant: usize,
    /// The retention timer of each room with connections here: exactly one
    /// per room, aborted when the room goes idle, so a room that comes and
    /// goes does not leave a sleeping task behind each time.
    timers: Mutex<HashMap<RoomId, tokio::task::AbortHandle>>,
    metrics: Arc<Metrics>,
}

/// Unregisters its connection when dropped.
pub struct Registration {
    hub: Arc<Hub>,
    room: RoomId,
    participant: ParticipantId,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let now_empty = {
            let mut rooms = self.hub.rooms.lock().unwrap_or_else(|e| e.into_inner());
            let Some(conns) = rooms.get_mut(&self.room) else {
                return;
            };
            if let Some(peer) = conns.get_mut(&self.participant) {
                peer.conns.retain(|(id, _)| *id != self.id);
                if peer.conns.is_empty() {
                    conns.remove(&self.participant);
                }
            }
            conns.is_empty()
        };
        if now_empty {
            let hub = self.hub.clone();
            let room = self.room;
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move { hub.unwatch_if_idle(room).await });
            }
        }
    }
}

impl Hub {
    pub fn new(
        store: Arc<dyn Store>,
        sealer: Arc<Sealer>,
        queue: usize,
        per_participant: usize,
        metrics: Arc<Metrics>,
    ) -> Arc<Hub> {
        Arc::new(Hub {
            store,
            sealer,
            rooms: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            watch_lock: tokio::sync::Mutex::new(()),
            queue,
            per_participant,
            timers: Mutex::new(HashMap::new()),
            metrics,
        })
    }

    /// Open connections and rooms with at least one of them, on this node.
    pub fn served(&self) -> (usize, usize) {
        let rooms = self.rooms();
        let conns = rooms
            .values()
            .flat_map(|c| c.values())
            .map(|peer| peer.conns.len())
            .sum();
        (conns, rooms.len())
    }

    fn rooms(&self) -> std::sync::MutexGuard<'_, HashMap<RoomId, Conns>> {
        self.rooms.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a connection and makes sure this node receives the room's
    /// notifications before returning, so a replay read afterwards misses nothing.
    /// A participant already holding its share of connections here is
    /// refused, so it cannot crowd others (the ombud) out of the node.
    pub async fn register(
        self: &Arc<Self>,
        room: RoomId,
        participant: ParticipantId,
        role: Role,
        expires_in: std::time::Duration,
    ) -> crate::error::Result<(Registration, mpsc::Receiver<ConnMsg>)> {
        let (tx, rx) = mpsc::channel(self.queue);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        {
            let mut rooms = self.rooms();
            let held = rooms
                .get(&room)
                .and_then(|c| c.get(&participant))
                .map_or(0, |p| p.conns.len());
            if held >= self.per_participant {
                return Err(crate::error::Error::TooManySockets);
            }
            if !rooms.contains_key(&room) {
                self.start_timer(room, expires_in);
            }
            let peer = rooms
                .entry(room)
                .or_default()
                .entry(participant)
                .or_default();
            peer.role = Some(role);
            peer.conns.push((id, tx));
        }
        let reg = Registration {
            hub: self.clone(),
            room,
            participant,
            id,
        };
        {
            let _g = self.watch_lock.lock().await;
            self.store.watch(room).await?;
        }
        Ok((reg, rx))
    }

    /// A room that reaches its retention end vanishes from the store without
    /// a word: close its connections here when it does. Only one timer per
    /// room: a room already timed keeps its timer.
    fn start_timer(self: &Arc<Self>, room: RoomId, expires_in: std::time::Duration) {
        let mut timers = self.timers.lock().unwrap_or_else(|e| e.into_inner());
        if timers.contains_key(&room) {
            return;
        }
        let hub = Arc::downgrade(self);
        let task = tokio::spawn(async move {
            tokio::time::sleep(expires_in).await;
            if let Some(hub) = hub.upgrade() {
                hub.timers
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&room);
                hub.route(Notification::RoomDeleted { room });
            }
        });
        timers.insert(room, task.abort_handle());
    }

    async fn unwatch_if_idle(&self, room: RoomId) {
        let _g = self.watch_lock.lock().await;
        let idle = {
            let mut rooms = self.rooms();
            let idle = rooms.get(&room).is_none_or(|c| c.is_empty());
            if idle {
                rooms.remove(&room);
                let timer = self
                    .timers
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&room);
                if let Some(timer) = timer {
                    timer.abort();
                }
            }
            idle
        };
        if idle {
            if let Err(e) = self.store.unwatch(room).await {
                tracing::debug!(%room, error = %e, "unwatch failed");
            }
        }
    }

    /// Does this participant still have a connection on this node?
    pub fn is_connected(&self, room: RoomId, participant: ParticipantId) -> bool {
        self.rooms()
            .get(&room)
            .and_then(|c| c.get(&participant))
            .is_some_and(|p| !p.conns.is_empty())
    }

    /// Number of live connections on this node.
    pub fn connections(&self) -> usize {
        self.rooms()
            .values()
            .flat_map(|c| c.values())
            .map(|p| p.conns.len())
            .sum()
    }

    /// Publishes ephemeral signals to every node watching the room.
    pub async fn publish(&self, room: RoomId, signals: Vec<Signal>) {
        for s in signals {
            broadcast(&*self.store, &self.sealer, room, &wire_of(&s)).await;
        }
    }

    /// Tells the room someone came or went; on arrival, also asks every node
    /// who is already here (answers arrive as presence frames).
    pub async fn presence(&self, doc: &RoomDoc, who: ParticipantId, role: Role, online: bool) {
        let frame = ServerFrame::Presence {
            participant_id: who,
            online,
        };
        let to = audience::presence(doc, who, role);
        self.publish(doc.id, vec![Signal::Frame { to, frame }])
            .await;
        if online {
            let ask = Wire::WhoIsHere {
                asker: who,
                asker_is_ombud: role == Role::Ombud,
            };
            broadcast(&*self.store, &self.sealer, doc.id, &ask).await;
        }
    }

    /// Routes the store's notifications until the stream ends.
    pub async fn run(self: Arc<Self>, mut rx: mpsc::UnboundedReceiver<Notification>) {
        while let Some(n) = rx.recv().await {
            self.route(n);
        }
    }

    fn route(&self, n: Notification) {
        let room = n.room();
        let mut rooms = self.rooms();
        let Some(conns) = rooms.get_mut(&room) else {
            return;
        };
        let send = |p: &ParticipantId, msg: ConnMsg, conns: &mut Conns| {
            if let Some(peer) = conns.get_mut(p) {
                peer.conns
                    .retain(|(id, tx)| match tx.try_send(msg.clone()) {
                        Ok(()) => true,
                        Err(TrySendError::Full(_)) => {
                            tracing::info!(%room, conn = id, "client too slow; disconnecting");
                            false
                        }
                        Err(TrySendError::Closed(_)) => false,
                    });
            }
        };
        let everyone = |msg: ConnMsg, conns: &mut Conns| {
            let all: Vec<ParticipantId> = conns.keys().copied().collect();
            for p in &all {
                send(p, msg.clone(), conns);
            }
        };
        match n {
            Notification::Delivered { deliveries, .. } => {
                for d in deliveries {
                    let msg = ConnMsg::Deliver {
                        seq: d.seq,
                        payload: Arc::new(d.payload),
                        plain: d.plain,
                    };
                    send(&d.participant, msg, conns);
                }
            }
            Notification::Signal { payload, .. } => {
                match self.sealer.open::<Wire>(&signal_aad(room), &payload) {
                    Ok(Wire::Frame { to, frame }) => {
                        let frame: Arc<str> = Arc::from(frame);
                        for p in &to {
                            send(p, ConnMsg::Frame(frame.clone()), conns);
                        }
                    }
                    Ok(Wire::Close { participant, code }) => {
                        // A code this release does not know: still close.
                        let code = CloseCode::try_from(code).unwrap_or(CloseCode::Forbidden);
                        send(&participant, ConnMsg::Close(code), conns);
                    }
                    Ok(Wire::WhoIsHere {
                        asker,
                        asker_is_ombud,
                    }) => {
                        let asker_role = if asker_is_ombud {
                            Role::Ombud
                        } else {
                            Role::Party
                        };
                        let visible: Vec<ParticipantId> = conns
                            .iter()
                            .filter(|(p, peer)| {
                                **p != asker
                                    && peer
                                        .role
                                        .is_some_and(|r| audience::may_see_presence(asker_role, r))
                            })
                            .map(|(p, _)| *p)
                            .collect();
                        if !visible.is_empty() {
                            let store = self.store.clone();
                            let sealer = self.sealer.clone();
                            tokio::spawn(async move {
                                for p in visible {
                                    let frame = ServerFrame::Presence {
                                        participant_id: p,
                                        online: true,
                                    };
                                    let signal = Signal::Frame {
                                        to: vec![asker],
                                        frame,
                                    };
                                    broadcast(&*store, &sealer, room, &wire_of(&signal)).await;
                                }
                            });
                        }
                    }
                    Err(e) => tracing::warn!(%room, error = %e, "unreadable signal"),
                }
            }
            Notification::RoomDeleted { .. } => everyone(ConnMsg::RoomDeleted, conns),
            Notification::Resync { .. } => {
                self.metrics.resync();
                everyone(ConnMsg::Resync, conns)
            }
        }
        conns.retain(|_, peer| !peer.conns.is_empty());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;
    use std::time::Duration;

    #[test]
    fn signals_are_sealed_to_their_room() {
        let sealer = crate::seal::Sealer::random();
        let (room, who) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
        let wire = Wire::Close {
            participant: who,
            code: CloseCode::Unauthorized.code(),
        };
        let sealed = seal_wire(&sealer, room, &wire);
        for id in [who.to_string(), who.simple().to_string()] {
            assert!(!sealed.windows(id.len()).any(|w| w == id.as_bytes()));
        }
        assert!(sealer.open::<Wire>(&signal_aad(room), &sealed).is_ok());
        let elsewhere = signal_aad(uuid::Uuid::new_v4());
        assert!(sealer.open::<Wire>(&elsewhere, &sealed).is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn connections_are_closed_when_their_room_reaches_its_retention_end() {
        let hub = Hub::new(
            Arc::new(MemoryStore::new()),
            Arc::new(crate::seal::Sealer::random()),
            8,
            8,
            Arc::default(),
        );
        let room = uuid::Uuid::new_v4();
        let (_reg, mut rx) = hub
            .register(
                room,
                uuid::Uuid::new_v4(),
                Role::Party,
                Duration::from_secs(3600),
            )
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(3599)).await;
        assert!(rx.try_recv().is_err(), "nothing before the end");
        tokio::time::sleep(Duration::from_secs(2)).await;
        let got = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await;
        assert!(matches!(got, Ok(Some(ConnMsg::RoomDeleted))));
    }

    #[tokio::test(start_paused = true)]
    async fn a_room_that_comes_and_goes_keeps_exactly_one_retention_timer() {
        let hub = Hub::new(
            Arc::new(MemoryStore::new()),
            Arc::new(crate::seal::Sealer::random()),
            8,
            8,
            Arc::default(),
        );
        let room = uuid::Uuid::new_v4();
        let end = tokio::time::Instant::now() + Duration::from_secs(3600);
        for _ in 0..5 {
            let left = end - tokio::time::Instant::now();
            let (reg, _rx) = hub
                .register(room, uuid::Uuid::new_v4(), Role::Party, left)
                .await
                .unwrap();
            drop(reg);
            // Let the idle room be unwatched.
            tokio::time::sleep(Duration::from_secs(1)).await;
            assert!(hub.timers.lock().unwrap().len() <= 1);
        }
        let left = end - tokio::time::Instant::now();
        let (_reg, mut rx) = hub
            .register(room, uuid::Uuid::new_v4(), Role::Party, left)
            .await
            .unwrap();
        assert_eq!(hub.timers.lock().unwrap().len(), 1, "one timer per room");
        tokio::time::sleep(Duration::from_secs(3600)).await;
        let mut deleted = 0;
        while let Ok(msg) = rx.try_recv() {
            deleted += usize::from(matches!(msg, ConnMsg::RoomDeleted));
        }
        assert_eq!(deleted, 1, "the room's end is announced once");
        assert!(
            hub.timers.lock().unwrap().is_empty(),
            "a fired timer is gone"
        );
    }
}
