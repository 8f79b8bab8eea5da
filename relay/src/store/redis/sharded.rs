//! The pub/sub side on a Redis Cluster: sharded pub/sub, so a room's
//! notifications stay on the shard that owns its hash tag.
//!
//! redis-rs's cluster connection can `SSUBSCRIBE`, but after a reconnect it
//! subscribes every shard channel again in one command, which Redis refuses
//! when the channels live in different slots. So this runs its own
//! subscriber: one RESP3 connection per primary that owns a watched room's
//! slot (found with `CLUSTER SLOTS` and the slot's CRC16), one `SSUBSCRIBE`
//! per room. When any of them is lost, or Redis unsubscribes a channel
//! because its slot moved (a failover), everything is rebuilt from a fresh
//! slot map with backoff, every watched room is subscribed again, and
//! `Resync` sent, exactly as the single-Redis subscriber does.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::cluster_async::ClusterConnection;
use redis::{
    cmd, AsyncConnectionConfig, Client, ConnectionAddr, ConnectionInfo, ProtocolVersion, PushInfo,
    PushKind, RedisResult, TlsCertificates, Value,
};
use tokio::sync::{mpsc, Mutex as AsyncMutex};

use super::conn::{slot, slot_ranges};
use super::keys::KeySpace;
use super::ops::within;
use super::pubsub::{reconnecting, with_backoff, Listeners};
use crate::store::{RoomId, StoreResult, OP_TIMEOUT};

const KEEPALIVE: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

type Node = (String, u16);

/// How to reach any node with the seeds' settings (TLS, credentials).
pub(super) struct NodeClients {
    pub(super) seed: ConnectionInfo,
    pub(super) certs: Option<TlsCertificates>,
}

impl NodeClients {
    fn client(&self, (host, port): &Node) -> RedisResult<Client> {
        let mut info = self.seed.clone();
        info.addr = match info.addr {
            ConnectionAddr::TcpTls {
                insecure,
                tls_params,
                ..
            } => ConnectionAddr::TcpTls {
                host: host.clone(),
                port: *port,
                insecure,
                tls_params,
            },
            _ => ConnectionAddr::Tcp(host.clone(), *port),
        };
        info.redis.protocol = ProtocolVersion::RESP3;
        match &self.certs {
            Some(certs) => Client::build_with_tls(info, certs.clone()),
            None => Client::open(info),
        }
    }
}

pub(super) struct Sharded {
    state: AsyncMutex<State>,
    cluster: ClusterConnection,
    clients: NodeClients,
    keys: KeySpace,
    pub(super) out: Arc<Listeners>,
}

struct State {
    rooms: HashSet<RoomId>,
    /// `None` while the subscriptions are being rebuilt.
    live: Option<Live>,
}

/// One generation of node connections; dropped whole on any trouble.
struct Live {
    ranges: Vec<(u16, u16, String, u16)>,
    nodes: HashMap<Node, MultiplexedConnection>,
    pushes: mpsc::UnboundedSender<PushInfo>,
}

impl Sharded {
    pub(super) async fn start(
        cluster: ClusterConnection,
        clients: NodeClients,
        keys: KeySpace,
        out: Arc<Listeners>,
    ) -> StoreResult<(Arc<Sharded>, tokio::task::JoinHandle<()>)> {
        let sharded = Arc::new(Sharded {
            state: AsyncMutex::new(State {
                rooms: HashSet::new(),
                live: None,
            }),
            cluster,
            clients,
            keys,
            out,
        });
        let pushes = sharded.establish().await?;
        let task = tokio::spawn(sharded.clone().run(pushes));
        Ok((sharded, task))
    }

    pub(super) async fn ready(&self) -> bool {
        self.state.lock().await.live.is_some()
    }

    pub(super) async fn watch(&self, room: RoomId) -> StoreResult<()> {
        within(async {
            let mut state = self.state.lock().await;
            let State { rooms, live } = &mut *state;
            let live = live.as_mut().ok_or_else(reconnecting)?;
            if rooms.contains(&room) {
                return Ok(());
            }
            let channel = self.keys.channel(room);
            if live.subscribe(&self.clients, &channel).await.is_err() {
                // The slot map may be stale (a failover): read it again once.
                live.ranges = slot_ranges(&mut self.cluster.clone()).await?;
                live.subscribe(&self.clients, &channel).await?;
            }
            rooms.insert(room);
            Ok(())
        })
        .await
    }

    pub(super) async fn unwatch(&self, room: RoomId) -> StoreResult<()> {
        within(async {
            let mut state = self.state.lock().await;
            // Forgotten first: a rebuild will not subscribe it again.
            state.rooms.remove(&room);
            if let Some(live) = state.live.as_mut() {
                let channel = self.keys.channel(room);
                if let Some(conn) = live.owner(&channel).and_then(|n| live.nodes.get_mut(&n)) {
                    cmd("SUNSUBSCRIBE").arg(&channel).exec_async(conn).await?;
                }
            }
            Ok(())
        })
        .await
    }

    /// Reads pushes until the store is dropped; rebuilds on any trouble.
    async fn run(self: Arc<Sharded>, mut pushes: mpsc::UnboundedReceiver<PushInfo>) {
        let mut keepalive = tokio::time::interval(KEEPALIVE);
        loop {
            loop {
                tokio::select! {
                    push = pushes.recv() => match push {
                        Some(push) => if self.lost(push).await { break },
                        None => break,
                    },
                    _ = keepalive.tick() => if !self.pong().await { break },
                }
            }
            self.state.lock().await.live = None;
            tracing::warn!("redis cluster notification connections lost; reconnecting");
            pushes = with_backoff(|| self.establish()).await;
            tracing::info!("redis cluster notification connections restored");
            let rooms: Vec<RoomId> = self.state.lock().await.rooms.iter().copied().collect();
            self.out.resync(rooms);
        }
    }

    /// Handles one push; true if the subscriptions can no longer be trusted.
    async fn lost(&self, push: PushInfo) -> bool {
        let channel = |data: &[Value]| match data.first() {
            Some(Value::BulkString(name)) => String::from_utf8_lossy(name).into_owned(),
            _ => String::new(),
        };
        match push.kind {
            PushKind::SMessage | PushKind::Message => {
                if let [Value::BulkString(name), Value::BulkString(payload), ..] =
                    push.data.as_slice()
                {
                    self.out
                        .dispatch(&self.keys, &String::from_utf8_lossy(name), payload);
                }
                false
            }
            PushKind::Disconnection => true,
            // Redis drops shard channel subscriptions when their slot moves
            // (a failover, a resharding). Our own unwatch removed the room
            // before it asked, so a watched room here was moved.
            PushKind::SUnsubscribe => match self.keys.parse_room(&channel(&push.data), "n") {
                Some(room) => self.state.lock().await.rooms.contains(&room),
                None => false,
            },
            _ => false,
        }
    }

    async fn pong(&self) -> bool {
        let nodes: Vec<MultiplexedConnection> = match &self.state.lock().await.live {
            Some(live) => live.nodes.values().cloned().collect(),
            None => return false,
        };
        for mut conn in nodes {
            let ping = cmd("PING");
            let pong = tokio::time::timeout(OP_TIMEOUT, ping.query_async::<Value>(&mut conn));
            if !matches!(pong.await, Ok(Ok(_))) {
                return false;
            }
        }
        true
    }

    /// A fresh slot map and connections, with every watched room subscribed.
    async fn establish(&self) -> StoreResult<mpsc::UnboundedReceiver<PushInfo>> {
        within(async {
            let (tx, rx) = mpsc::unbounded_channel();
            let mut live = Live {
                ranges: slot_ranges(&mut self.cluster.clone()).await?,
                nodes: HashMap::new(),
                pushes: tx,
            };
            let mut state = self.state.lock().await;
            for room in &state.rooms {
                live.subscribe(&self.clients, &self.keys.channel(*room))
                    .await?;
            }
            state.live = Some(live);
            Ok(rx)
        })
        .await
    }
}

impl Live {
    fn owner(&self, channel: &str) -> Option<Node> {
        let slot = slot(channel.as_bytes());
        self.ranges
            .iter()
            .find(|(first, last, ..)| (*first..=*last).contains(&slot))
            .map(|(_, _, host, port)| (host.clone(), *port))
    }

    /// `SSUBSCRIBE` on the owner's connection, opened on first use; resolves
    /// on the server's confirmation.
    async fn subscribe(&mut self, clients: &NodeClients, channel: &str) -> RedisResult<()> {
        let node = self.owner(channel).ok_or_else(|| {
            redis::RedisError::from((redis::ErrorKind::ClusterDown, "slot not served"))
        })?;
        let conn = match self.nodes.get_mut(&node) {
            Some(conn) => conn,
            None => {
                let config = AsyncConnectionConfig::new()
                    .set_connection_timeout(CONNECT_TIMEOUT)
                    .set_push_sender(self.pushes.clone());
                let conn = clients
                    .client(&node)?
                    .get_multiplexed_async_connection_with_config(&config)
                    .await?;
                self.nodes.entry(node).or_insert(conn)
            }
        };
        cmd("SSUBSCRIBE").arg(channel).exec_async(conn).await
    }
}
