//! Relays on a real Redis Cluster (three primaries with a replica each, a
//! private one per test): the shuttle works with rooms on every shard, a
//! room's notifications travel by sharded pub/sub on its own shard and
//! carry no text, and a primary killed under load is replaced by its
//! replica while the relays keep running, losing no acknowledged message.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use caucus_testkit::RedisCluster;
use caucus_tests::app::RelayProcess;
use caucus_tests::client::Ws;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, PushInfo, PushKind, Value as RedisValue};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::support::*;

const SECRET: &str = "Ada's raw account: the shard must never see this";
const RELAYED: &str = "Ada has concerns about the audit";
const RECOVERY: Duration = Duration::from_secs(30);

struct ClusterDeployment {
    cluster: RedisCluster,
    prefix: String,
    nodes: Vec<RelayProcess>,
}

impl ClusterDeployment {
    async fn start(nodes: usize, extra: &[(&'static str, String)]) -> ClusterDeployment {
        let cluster = tokio::task::spawn_blocking(RedisCluster::start)
            .await
            .expect("start the cluster");
        let prefix = format!("caucus-test-{}", Uuid::new_v4().simple());
        let mut settings = vec![("RELAY_REDIS_CLUSTER", "true".to_string())];
        settings.extend(extra.iter().cloned());
        let env = deployment_env(&cluster.url(), &prefix, &settings);
        let nodes = start_nodes(nodes, &env).await;
        ClusterDeployment {
            cluster,
            prefix,
            nodes,
        }
    }

    fn api(&self, node: usize) -> &caucus_tests::client::Api {
        &self.nodes[node].api
    }

    fn ws_url(&self, node: usize) -> String {
        self.nodes[node].api.ws_url()
    }

    fn slot_of(&mut self, room: &str) -> u16 {
        let doc = format!("{}:{{{room}}}:doc", self.prefix);
        tokio::task::block_in_place(|| self.cluster.keyslot(&doc))
    }

    fn primary_of(&mut self, room: &str) -> u16 {
        let slot = self.slot_of(room);
        tokio::task::block_in_place(|| self.cluster.primary_of(slot))
    }

    fn channel(&self, room: &str) -> String {
        format!("{}:{{{room}}}:n", self.prefix)
    }

    /// Creates rooms until every primary owns one; returns one per primary.
    async fn rooms_on_every_shard(&mut self, token: &str) -> Vec<(String, u16)> {
        let primaries = tokio::task::block_in_place(|| self.cluster.primaries());
        assert_eq!(primaries.len(), 3, "three primaries");
        let mut by_primary = BTreeMap::new();
        for i in 0..100 {
            if by_primary.len() == primaries.len() {
                break;
            }
            let room = create_room(self.api(0), token, json!({"title": format!("Room {i}")})).await
                ["id"]
                .as_str()
                .expect("room id")
                .to_string();
            let owner = self.primary_of(&room);
            by_primary.entry(owner).or_insert(room);
        }
        assert_eq!(
            by_primary.keys().copied().collect::<Vec<_>>(),
            primaries.iter().map(|p| p.port).collect::<Vec<_>>(),
            "a room on every primary"
        );
        by_primary.into_iter().map(|(p, r)| (r, p)).collect()
    }
}

async fn node_conn(port: u16) -> MultiplexedConnection {
    redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .expect("node url")
        .get_multiplexed_async_connection()
        .await
        .expect("connect to a cluster node")
}

/// `PUBSUB <what>` on one node, as a list of names.
async fn pubsub_list(port: u16, what: &str) -> Vec<String> {
    redis::cmd("PUBSUB")
        .arg(what)
        .query_async(&mut node_conn(port).await)
        .await
        .expect("PUBSUB")
}

/// A raw `SSUBSCRIBE` on `port`: what a curious operator would see.
async fn shard_listener(
    port: u16,
    channel: &str,
) -> (MultiplexedConnection, mpsc::UnboundedReceiver<PushInfo>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let config = AsyncConnectionConfig::new().set_push_sender(tx);
    let mut conn = redis::Client::open(format!("redis://127.0.0.1:{port}/?protocol=resp3"))
        .expect("node url")
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .expect("connect to the owning primary");
    redis::cmd("SSUBSCRIBE")
        .arg(channel)
        .exec_async(&mut conn)
        .await
        .expect("SSUBSCRIBE on the owner");
    (conn, rx)
}

async fn next_shard_message(rx: &mut mpsc::UnboundedReceiver<PushInfo>) -> Vec<u8> {
    loop {
        let push = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("a shard message in time")
            .expect("listener open");
        if push.kind == PushKind::SMessage {
            match push.data.as_slice() {
                [_, RedisValue::BulkString(payload)] => return payload.clone(),
                other => panic!("unexpected smessage {other:?}"),
            }
        }
    }
}

/// Two relays on a cluster, rooms on all three shards: in each, A (node 1)
/// writes to the ombud (node 0), who relays it to B (node 1) once A
/// consents. Notifications
/// are sharded: the room's channel exists only on its owning primary, and
/// what it carries holds none of the text. Listing and deletion reach
/// every shard.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shuttle_works_on_every_shard_of_a_cluster_with_sharded_notifications() {
    let mut d = ClusterDeployment::start(2, &[]).await;
    let token = login(d.api(0)).await;
    let rooms = d.rooms_on_every_shard(&token).await;
    let primaries: Vec<u16> = rooms.iter().map(|(_, p)| *p).collect();

    for (room, owner) in &rooms {
        let a = add_party(d.api(0), d.api(1), &token, room, "Ada").await;
        let b = add_party(d.api(0), d.api(1), &token, room, "Ben").await;
        let mut ombud = connect_ombud(&d.ws_url(0), &token, room).await;
        let mut pa = connect_party(&d.ws_url(1), &a).await;
        let mut pb = connect_party(&d.ws_url(1), &b).await;

        let channel = d.channel(room);
        assert!(
            pubsub_list(*owner, "SHARDCHANNELS")
                .await
                .contains(&channel),
            "the room's channel is a shard channel on its owner"
        );
        for other in primaries.iter().filter(|p| *p != owner) {
            assert!(!pubsub_list(*other, "SHARDCHANNELS")
                .await
                .contains(&channel));
        }
        for port in d.cluster.ports() {
            assert_eq!(pubsub_list(port, "CHANNELS").await, Vec::<String>::new());
        }
        let (_listener, mut heard) = shard_listener(*owner, &channel).await;

        let sent = pa
            .ok(json!({"type": "send", "channel": a.channel(), "body": SECRET, "client_id": "a1"}))
            .await;
        let got = message_in(&mut ombud, &a.channel()).await;
        assert_eq!(got["body"], SECRET);
        let notification = next_shard_message(&mut heard).await;
        assert!(!notification
            .windows(SECRET.len())
            .any(|w| w == SECRET.as_bytes()));
        assert!(!notification.windows(3).any(|w| w == b"Ada"));

        let fwd = ombud
            .ok(json!({"type": "forward", "source_message_id": sent["message"]["id"], "to": [b.id], "body": RELAYED}))
            .await;
        assert_eq!(fwd["status"], "awaiting_consent", "{fwd}");
        assert_eq!(pa.event_of("consent_requested").await["body"], RELAYED);
        pa.ok(json!({"type": "consent", "forward_id": fwd["forward_id"], "revision": 1, "decision": "approve"}))
            .await;
        let relayed = message_in(&mut pb, &b.channel()).await;
        assert_eq!(relayed["body"], RELAYED);
        assert_eq!(relayed["relayed_from"]["display_name"], "Ada");
    }

    // Listing SCANs every primary; deleting a room clears its shard.
    let listed = d
        .api(1)
        .ok(Method::GET, "/api/rooms", Some(&token), None)
        .await;
    let listed: Vec<&str> = listed
        .as_array()
        .expect("a list")
        .iter()
        .map(|r| r["id"].as_str().expect("id"))
        .collect();
    for (room, _) in &rooms {
        assert!(listed.contains(&room.as_str()), "{room} listed");
    }
    let (gone, owner) = &rooms[1];
    let mut owner_conn = node_conn(*owner).await;
    assert!(keys_naming(&mut owner_conn, gone).await.len() >= 4);
    let (status, _) = d
        .api(1)
        .call(
            Method::DELETE,
            &format!("/api/rooms/{gone}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        keys_naming(&mut owner_conn, gone).await,
        Vec::<String>::new()
    );
}

/// One party per room keeps sending; each message is retried with the same
/// `client_id` until acknowledged, reconnecting with `since` if its
/// connection drops. Returns the acknowledged bodies, in order.
async fn keep_sending(
    url: String,
    party: Party,
    room_no: usize,
    acked: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
) -> Vec<String> {
    let channel = party.channel();
    let hello = json!({"token": party.token});
    let mut ws = connect_party(&url, &party).await;
    let mut done = Vec::new();
    let deadline = Instant::now() + RECOVERY * 2;
    while !stop.load(Ordering::Relaxed) {
        let body = format!("room {room_no} message {}", done.len());
        loop {
            assert!(
                Instant::now() < deadline,
                "room {room_no}: {body} never acknowledged"
            );
            let frame =
                json!({"type": "send", "channel": channel, "body": body, "client_id": body});
            match ws.try_request(frame).await {
                Some(Ok(_)) => break,
                Some(Err((code, _))) if code == "unavailable" => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Some(Err(other)) => panic!("room {room_no}: {body} refused: {other:?}"),
                None => {
                    let mut resume = hello.clone();
                    resume["since"] = json!(ws.last_seq);
                    ws = connect_when_available(&url, resume).await;
                }
            }
        }
        done.push(body);
        acked.fetch_add(1, Ordering::Relaxed);
        // A steady trickle, well inside the relay's rate limit.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    done
}

async fn until(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + RECOVERY;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Reads `ws` (resuming with `since` whenever it is closed) until it has
/// received every body in `want` in `channel`; returns every body it saw
/// there, repeats included.
async fn live_bodies(
    mut ws: Ws,
    url: &str,
    hello: Value,
    channel: &str,
    want: &[String],
) -> Vec<String> {
    let mut earlier: Vec<String> = Vec::new();
    let deadline = Instant::now() + RECOVERY;
    loop {
        let mut seen = earlier.clone();
        seen.extend(bodies_in(&events(&ws), channel));
        if want.iter().all(|b| seen.contains(b)) {
            return seen;
        }
        assert!(Instant::now() < deadline, "live delivery never caught up");
        if let Ok(None) = tokio::time::timeout(Duration::from_millis(500), ws.next_frame()).await {
            earlier.extend(bodies_in(&events(&ws), channel));
            let mut resume = hello.clone();
            resume["since"] = json!(ws.last_seq);
            ws = connect_when_available(url, resume).await;
        }
    }
}

/// Messages flow in a room on every shard with `RELAY_REDIS_WAIT_REPLICAS=1`;
/// the primary of one room is SIGKILLed. Its replica takes over (and the
/// old primary comes back as the new one's replica, so the shard can
/// acknowledge again), the relays recover by themselves (same processes),
/// the writers carry on, and every
/// acknowledged message is in the ombud's inbox exactly once, and reaches
/// the ombud's open (or resumed) connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_primary_is_replaced_and_no_acknowledged_message_is_lost() {
    let wait = [
        ("RELAY_REDIS_WAIT_REPLICAS", "1".to_string()),
        ("RELAY_REDIS_WAIT_MS", "1000".to_string()),
    ];
    let mut d = ClusterDeployment::start(2, &wait).await;
    let token = login(d.api(0)).await;
    let rooms = d.rooms_on_every_shard(&token).await;
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    let mut ombuds = Vec::new();
    for (i, (room, _)) in rooms.iter().enumerate() {
        let party = add_party(d.api(0), d.api(1), &token, room, "Ada").await;
        let hello = json!({"token": token, "room_id": room});
        ombuds.push((
            connect_ombud(&d.ws_url(0), &token, room).await,
            hello,
            party.channel(),
        ));
        let acked = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn(keep_sending(
            d.ws_url(1),
            party,
            i,
            acked.clone(),
            stop.clone(),
        ));
        writers.push((task, acked));
    }
    let count = |writers: &Vec<(tokio::task::JoinHandle<Vec<String>>, Arc<AtomicUsize>)>| {
        writers
            .iter()
            .map(|(_, n)| n.load(Ordering::Relaxed))
            .collect::<Vec<_>>()
    };
    until("traffic in every room", || {
        count(&writers).iter().all(|n| *n >= 3)
    })
    .await;

    let (victim_room, victim) = rooms[0].clone();
    let slot = d.slot_of(&victim_room);
    tokio::task::block_in_place(|| d.cluster.kill(victim));
    let promoted = tokio::task::block_in_place(|| d.cluster.wait_for_failover(slot, victim));
    assert_ne!(promoted, victim);
    // The shard has no replica now, so with a wait for one it refuses
    // writes (`unavailable`) until the old primary is back as a replica.
    tokio::task::block_in_place(|| d.cluster.restart(victim, promoted));

    let before = count(&writers);
    until("traffic after the failover in every room", || {
        count(&writers)
            .iter()
            .zip(&before)
            .all(|(n, b)| *n >= b + 5)
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    let mut acked = Vec::new();
    for (task, _) in writers {
        acked.push(task.await.expect("writer finished"));
    }
    assert!(
        d.nodes
            .iter_mut()
            .all(|n| matches!(n.child.try_wait(), Ok(None))),
        "the relays recovered without a restart"
    );

    for ((ws, hello, channel), sent) in ombuds.into_iter().zip(&acked) {
        let mut replay = hello.clone();
        replay["since"] = json!(0);
        let mut fresh = connect_when_available(&d.ws_url(0), replay).await;
        let head = fresh.welcome["seq"].as_u64().expect("welcome seq");
        read_to(&mut fresh, head).await;
        let stored = bodies_in(&events(&fresh), &channel);
        for body in sent {
            assert_eq!(
                stored.iter().filter(|b| *b == body).count(),
                1,
                "{body} stored once"
            );
        }
        let live = live_bodies(ws, &d.ws_url(0), hello, &channel, sent).await;
        for body in sent {
            assert_eq!(
                live.iter().filter(|b| *b == body).count(),
                1,
                "{body} delivered once"
            );
        }
    }
}
