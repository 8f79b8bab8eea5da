//! The pub/sub side: one connection per node, subscribed to the channels of
//! the rooms this node has connections in; kept alive with pings, and on
//! loss re-established with backoff, every room subscribed again, and
//! `Resync` sent so connections re-read their inboxes.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use futures_util::future::try_join_all;
use futures_util::StreamExt;
use redis::aio::{PubSubSink, PubSubStream};
use redis::{Client, Value};
use tokio::sync::{mpsc, Mutex as AsyncMutex, Notify};
use uuid::Uuid;

use super::keys::KeySpace;
use super::notify::{decode_notification, origin_and_kind, KIND_DELIVERED};
use super::ops::within;

use crate::store::{Delivery, Notification, RoomId, StoreError, StoreResult, OP_TIMEOUT};

/// How often the pub/sub connection is pinged, so that a silently dead
/// connection (no FIN, e.g. a network partition) is noticed and replaced.
const KEEPALIVE: Duration = Duration::from_secs(5);
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// State shared with the subscriber task.
pub(super) struct Shared {
    /// Held across SUBSCRIBE round trips, so a watch and a reconnect never
    /// interleave: every room in `rooms` is subscribed on the current sink.
    pub(super) subs: AsyncMutex<Subscriptions>,
    pub(super) out: Arc<Listeners>,
}

/// Where notifications go, shared by the single-Redis and the sharded
/// subscriber.
///
/// A commit made by this node is announced to it from the commit's reply
/// ([`Listeners::announce`]), with its plaintext and without waiting for
/// pub/sub; the copy that comes back through Redis is dropped. Other nodes
/// hear it through pub/sub as before.
pub(super) struct Listeners {
    /// This node: deliveries it published itself are already announced.
    node: Uuid,
    list: StdMutex<Vec<mpsc::UnboundedSender<Notification>>>,
    /// The rooms this node watches: its own commits are announced only for
    /// these, as pub/sub would.
    watched: StdMutex<HashSet<RoomId>>,
    /// Reconnects of the pub/sub connection(s), read by `/metrics`.
    pub(super) reconnects: AtomicU64,
    /// Woken after the subscriptions were re-established: the watchers
    /// registrations may have been lost with them (see `watchers`).
    pub(super) resubscribed: Notify,
}

impl Listeners {
    pub(super) fn new(node: Uuid) -> Listeners {
        Listeners {
            node,
            list: StdMutex::default(),
            watched: StdMutex::default(),
            reconnects: AtomicU64::new(0),
            resubscribed: Notify::new(),
        }
    }

    /// The rooms this node watches now.
    pub(super) fn watched(&self) -> Vec<RoomId> {
        lock(&self.watched).iter().copied().collect()
    }

    pub(super) fn watching(&self, room: RoomId, on: bool) {
        let mut watched = lock(&self.watched);
        if on {
            watched.insert(room);
        } else {
            watched.remove(&room);
        }
    }

    /// This node's own commit, announced from its reply: called in commit
    /// order within a room's turn, and ahead of any later commit here.
    pub(super) fn announce(&self, room: RoomId, deliveries: Vec<Delivery>) {
        if !deliveries.is_empty() && lock(&self.watched).contains(&room) {
            self.send(Notification::Delivered { room, deliveries });
        }
    }

    /// A commit of this room may have been made without its reply reaching
    /// us (a lost connection, a timeout, a failed replication wait): its
    /// pub/sub copy was dropped as ours, so once Redis answers again the
    /// room's connections re-read their inboxes. Gives up after a minute;
    /// by then the connections have been closed or have resumed.
    pub(super) fn resync_when_up<F, Fut>(self: &Arc<Self>, room: RoomId, ping: F)
    where
        F: Fn() -> Fut + Send + 'static,
        Fut: std::future::Future<Output = bool> + Send,
    {
        if !lock(&self.watched).contains(&room) {
            return;
        }
        let me = self.clone();
        tokio::spawn(async move {
            let mut wait = MIN_BACKOFF;
            for _ in 0..60 {
                if ping().await {
                    me.resync_room(room);
                    return;
                }
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(MAX_BACKOFF);
            }
        });
    }
    pub(super) fn add(&self) -> mpsc::UnboundedReceiver<Notification> {
        let (tx, rx) = mpsc::unbounded_channel();
        lock(&self.list).push(tx);
        rx
    }

    /// Decodes one message from a room's channel and hands it to everyone.
    pub(super) fn dispatch(&self, keys: &KeySpace, channel: &str, payload: &[u8]) {
        let Some(room) = keys.parse_room(channel, "n") else {
            tracing::warn!("ignoring message on an unexpected redis channel");
            return;
        };
        if origin_and_kind(payload) == Some((self.node, KIND_DELIVERED)) {
            // Announced from the commit's reply already.
            return;
        }
        match decode_notification(room, payload) {
            Ok((origin, notification)) => {
                tracing::trace!(%room, %origin, "notification");
                self.send(notification);
            }
            Err(error) => tracing::warn!(%room, error, "ignoring malformed notification"),
        }
    }

    /// Anything published while a subscription was down was lost: tell the
    /// connections of these rooms to re-read their inboxes.
    pub(super) fn resync(&self, rooms: impl IntoIterator<Item = RoomId>) {
        self.reconnects.fetch_add(1, Ordering::Relaxed);
        for room in rooms {
            self.send(Notification::Resync { room });
        }
        self.resubscribed.notify_one();
    }

    /// This room's connections re-read their inboxes, if it is watched.
    pub(super) fn resync_room(&self, room: RoomId) {
        if lock(&self.watched).contains(&room) {
            self.send(Notification::Resync { room });
        }
    }

    fn send(&self, notification: Notification) {
        crate::store::fan_out(&mut lock(&self.list), notification);
    }
}

pub(super) struct Subscriptions {
    pub(super) rooms: HashSet<RoomId>,
    /// `None` while the pub/sub connection is being re-established.
    pub(super) sink: Option<PubSubSink>,
}

pub(super) fn reconnecting() -> StoreError {
    StoreError::Unavailable("redis notification connection is reconnecting".into())
}

pub(super) fn lock<T>(m: &StdMutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Only pushes and sends happen under this lock; a panic cannot leave it
    // half-updated.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Open a pub/sub connection and subscribe every watched room on it, then
/// make it the connection `watch` uses.
pub(super) async fn subscribe_all(
    client: &Client,
    keys: &KeySpace,
    shared: &Shared,
) -> StoreResult<(PubSubSink, PubSubStream)> {
    within(async {
        let (sink, stream) = client.get_async_pubsub().await?.split();
        let mut subs = shared.subs.lock().await;
        // One channel per SUBSCRIBE: the sink matches each request with one
        // confirmation, so a multi-channel SUBSCRIBE would confuse it.
        try_join_all(subs.rooms.iter().map(|room| {
            let mut sink = sink.clone();
            let channel = keys.channel(*room);
            async move { sink.subscribe(channel).await }
        }))
        .await?;
        subs.sink = Some(sink.clone());
        Ok((sink, stream))
    })
    .await
}

/// Reads notifications until the store is dropped; whenever the pub/sub
/// connection is lost it reconnects with backoff and resubscribes.
pub(super) async fn run_subscriber(
    client: Client,
    keys: KeySpace,
    shared: Arc<Shared>,
    mut sink: PubSubSink,
    mut stream: PubSubStream,
) {
    let mut keepalive = tokio::time::interval(KEEPALIVE);
    loop {
        loop {
            tokio::select! {
                message = stream.next() => match message {
                    Some(message) => shared.out.dispatch(
                        &keys,
                        message.get_channel_name(),
                        message.get_payload_bytes(),
                    ),
                    None => break,
                },
                _ = keepalive.tick() => {
                    let pong = tokio::time::timeout(OP_TIMEOUT, sink.ping::<Value>()).await;
                    if !matches!(pong, Ok(Ok(_))) {
                        break;
                    }
                }
            }
        }
        shared.subs.lock().await.sink = None;
        tracing::warn!("redis notification connection lost; reconnecting");
        (sink, stream) = with_backoff(|| subscribe_all(&client, &keys, &shared)).await;
        tracing::info!("redis notification connection restored");
        let rooms: Vec<RoomId> = shared.subs.lock().await.rooms.iter().copied().collect();
        shared.out.resync(rooms);
    }
}

pub(super) async fn watch(shared: &Shared, keys: &KeySpace, room: RoomId) -> StoreResult<()> {
    let channel = keys.channel(room);
    within(async {
        let mut subs = shared.subs.lock().await;
        let mut sink = subs.sink.clone().ok_or_else(reconnecting)?;
        if subs.rooms.contains(&room) {
            // Subscribed and confirmed already, on this pub/sub connection
            // (a reconnect resubscribes every room before it is usable).
            return Ok(());
        }
        // Resolves on the server's confirmation, so the subscription is live.
        sink.subscribe(&channel).await?;
        subs.rooms.insert(room);
        Ok(())
    })
    .await
}

pub(super) async fn unwatch(shared: &Shared, keys: &KeySpace, room: RoomId) -> StoreResult<()> {
    let channel = keys.channel(room);
    within(async {
        let mut subs = shared.subs.lock().await;
        // Forgotten first: a reconnect will not subscribe it again, and a
        // lost connection has dropped the subscription already.
        subs.rooms.remove(&room);
        if let Some(mut sink) = subs.sink.clone() {
            sink.unsubscribe(&channel).await?;
        }
        Ok(())
    })
    .await
}

/// Tries `connect` until it succeeds, waiting twice as long after each
/// failure (from [`MIN_BACKOFF`] up to [`MAX_BACKOFF`]), so a Redis that is
/// down is not hammered and one that is back is found within two seconds.
pub(super) async fn with_backoff<T, Fut>(mut connect: impl FnMut() -> Fut) -> T
where
    Fut: std::future::Future<Output = StoreResult<T>>,
{
    let mut delay = MIN_BACKOFF;
    loop {
        tokio::time::sleep(delay).await;
        match connect().await {
            Ok(connected) => return connected,
            Err(error) => {
                tracing::debug!(%error, "redis notification reconnect failed");
                delay = (delay * 2).min(MAX_BACKOFF);
            }
        }
    }
}
