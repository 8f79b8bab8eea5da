//! What the tests here share: a deployment (one private redis-server and
//! relay processes that share it, its secrets and its key prefix), the
//! set-up of a room across nodes, and readings of what Redis holds.

use std::future::Future;
use std::time::{Duration, Instant};

use base64::Engine;
use caucus_tests::app::{free_port, RelayProcess, OMBUD};
use caucus_tests::client::{Api, Ws};
use caucus_tests::redis_server::{Persistence, RedisServer};
use prometheus_parse::{Scrape, Value as Sample};
use redis::aio::MultiplexedConnection;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

/// Longest a request may take to fail while Redis is down.
const FAIL_FAST: Duration = Duration::from_secs(3);
/// Longest the tests wait for something to recover or expire.
const RECOVERY: Duration = Duration::from_secs(15);
const POLL: Duration = Duration::from_millis(50);

/// One Redis and the relay nodes in front of it, configured as a real
/// deployment: every node has the same Redis, prefix, JWT secret and data key.
pub struct Deployment {
    pub redis: RedisServer,
    pub prefix: String,
    env: Vec<(&'static str, String)>,
    pub nodes: Vec<RelayProcess>,
}

impl Deployment {
    pub async fn start(nodes: usize, persistence: Persistence) -> Deployment {
        Deployment::start_with(nodes, persistence, &[]).await
    }

    /// `extra` is added to every node's environment, overriding the defaults.
    pub async fn start_with(
        nodes: usize,
        persistence: Persistence,
        extra: &[(&'static str, String)],
    ) -> Deployment {
        let redis = RedisServer::start_with(persistence);
        let prefix = format!("caucus-test-{}", Uuid::new_v4().simple());
        let env = deployment_env(&redis.url(), &prefix, extra);
        let nodes = start_nodes(nodes, &env).await;
        Deployment {
            redis,
            prefix,
            env,
            nodes,
        }
    }

    /// Like [`Deployment::start_with`], each node also serving `/metrics`
    /// on an address of its own; returns those addresses, by node.
    pub async fn start_with_metrics(
        nodes: usize,
        persistence: Persistence,
        extra: &[(&'static str, String)],
    ) -> (Deployment, Vec<String>) {
        let redis = RedisServer::start_with(persistence);
        let prefix = format!("caucus-test-{}", Uuid::new_v4().simple());
        let env = deployment_env(&redis.url(), &prefix, extra);
        let (mut started, mut addrs) = (Vec::new(), Vec::new());
        for _ in 0..nodes {
            let addr = format!("127.0.0.1:{}", free_port());
            let mut own = env.clone();
            own.push(("RELAY_METRICS_ADDR", addr.clone()));
            started.push(RelayProcess::start(free_port(), &own).await);
            addrs.push(addr);
        }
        let d = Deployment {
            redis,
            prefix,
            env,
            nodes: started,
        };
        (d, addrs)
    }

    pub fn api(&self, node: usize) -> &Api {
        &self.nodes[node].api
    }

    pub fn ws_url(&self, node: usize) -> String {
        self.nodes[node].api.ws_url()
    }

    /// SIGKILL a node: no graceful shutdown, no goodbye to its clients.
    pub fn kill_node(&mut self, node: usize) {
        self.nodes[node].kill();
    }

    /// Start a killed node again on the same port with the same configuration.
    pub async fn start_node_again(&mut self, node: usize) {
        let port = self.nodes[node].port;
        self.nodes[node] = RelayProcess::start(port, &self.env).await;
    }

    /// True while every node is still the process it was started as.
    pub fn nodes_still_running(&mut self) -> bool {
        self.nodes
            .iter_mut()
            .all(|n| matches!(n.child.try_wait(), Ok(None)))
    }

    /// A connection of our own to the deployment's Redis.
    pub async fn redis_conn(&self) -> MultiplexedConnection {
        redis::Client::open(self.redis.url())
            .expect("redis url")
            .get_multiplexed_async_connection()
            .await
            .expect("connect to the test redis-server")
    }
}

/// The environment every node of a deployment shares: its Redis, key
/// prefix, JWT secret and data key; `extra` overrides or adds.
pub fn deployment_env(
    redis_url: &str,
    prefix: &str,
    extra: &[(&'static str, String)],
) -> Vec<(&'static str, String)> {
    let data_key: Vec<u8> = [Uuid::new_v4(), Uuid::new_v4()]
        .iter()
        .flat_map(|u| *u.as_bytes())
        .collect();
    let mut env = vec![
        ("REDIS_URL", redis_url.to_string()),
        ("RELAY_REDIS_PREFIX", prefix.to_string()),
        (
            "RELAY_JWT_SECRET",
            format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple()),
        ),
        (
            "RELAY_DATA_KEY",
            base64::engine::general_purpose::STANDARD.encode(data_key),
        ),
        ("RELAY_BOOTSTRAP_OMBUD", format!("{}:{}", OMBUD.0, OMBUD.1)),
    ];
    env.extend(extra.iter().cloned());
    env
}

/// Starts `count` relay processes, one after the other: each node upserts
/// the bootstrap account at start-up.
pub async fn start_nodes(count: usize, env: &[(&'static str, String)]) -> Vec<RelayProcess> {
    let mut nodes = Vec::new();
    for _ in 0..count {
        nodes.push(RelayProcess::start(free_port(), env).await);
    }
    nodes
}

/// Every key matching `pattern`, found with SCAN (never KEYS).
pub async fn scan(conn: &mut MultiplexedConnection, pattern: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut cursor = 0u64;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(conn)
            .await
            .expect("SCAN");
        found.extend(keys);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    found.sort_unstable();
    found.dedup();
    found
}

/// Every key of the whole Redis (it is this test's own) that names `id`.
pub async fn keys_naming(conn: &mut MultiplexedConnection, id: &str) -> Vec<String> {
    scan(conn, "*")
        .await
        .into_iter()
        .filter(|k| k.contains(id))
        .collect()
}

/// Absolute expiry of a key in unix ms (-1: none, -2: no such key).
pub async fn pexpiretime(conn: &mut MultiplexedConnection, key: &str) -> i64 {
    redis::cmd("PEXPIRETIME")
        .arg(key)
        .query_async(conn)
        .await
        .expect("PEXPIRETIME")
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// `created_at` of a room as the API reports it, in unix ms.
pub fn created_at_ms(room: &Value) -> i64 {
    let text = room["created_at"].as_str().expect("created_at");
    chrono::DateTime::parse_from_rfc3339(text)
        .expect("created_at is RFC 3339")
        .timestamp_millis()
}

// ---- rooms and participants ----

pub struct Party {
    pub id: String,
    pub token: String,
}

impl Party {
    pub fn channel(&self) -> String {
        format!("private:{}", self.id)
    }
}

pub async fn login(api: &Api) -> String {
    api.login(OMBUD.0, OMBUD.1).await
}

/// Creates a room; returns the room as the API describes it.
pub async fn create_room(api: &Api, token: &str, settings: Value) -> Value {
    let (status, room) = api
        .call(Method::POST, "/api/rooms", Some(token), Some(settings))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{room}");
    room
}

/// Invites a party on `ombud_api`; it joins with its code on `join_api`.
pub async fn add_party(
    ombud_api: &Api,
    join_api: &Api,
    token: &str,
    room: &str,
    name: &str,
) -> Party {
    let (_, code) = ombud_api.invite(token, room, name).await;
    let (id, token) = join_api.join(&code).await;
    Party { id, token }
}

pub async fn connect_ombud(url: &str, token: &str, room: &str) -> Ws {
    let mut ws = Ws::connect(url, json!({"token": token, "room_id": room})).await;
    ws.drain_replay().await;
    ws
}

/// Connects a party and acknowledges the office notice (needed to send).
pub async fn connect_party(url: &str, party: &Party) -> Ws {
    let mut ws = Ws::connect(url, json!({"token": party.token})).await;
    ws.drain_replay().await;
    if ws.welcome.get("notice").is_some() {
        ws.ok(json!({"type": "acknowledge_notice"})).await;
    }
    ws
}

// ---- reading what a connection received ----

/// Every stored event a connection received, as `(seq, event)`, in order.
pub fn events(ws: &Ws) -> Vec<(u64, Value)> {
    ws.received
        .iter()
        .filter_map(|raw| {
            let frame: Value = serde_json::from_str(raw).ok()?;
            (frame["type"] == "event").then(|| {
                (
                    frame["seq"].as_u64().expect("events carry seq"),
                    frame["event"].clone(),
                )
            })
        })
        .collect()
}

/// Reads until the connection has seen every event up to `seq`.
pub async fn read_to(ws: &mut Ws, seq: u64) {
    while ws.last_seq < seq {
        ws.next_frame()
            .await
            .unwrap_or_else(|| panic!("closed at seq {} before seq {seq}", ws.last_seq));
    }
}

/// Reads until a frame matches `want`; returns it.
pub async fn frame_where(ws: &mut Ws, want: impl Fn(&Value) -> bool) -> Value {
    loop {
        let frame = ws.next_frame().await.expect("connection open");
        if want(&frame) {
            return frame;
        }
    }
}

/// Returns once the connection has received a frame matching `want`, now
/// or earlier (helpers like `event_of` skip ephemeral frames as they read).
pub async fn seen(ws: &mut Ws, want: impl Fn(&Value) -> bool) {
    let already = ws
        .received
        .iter()
        .filter_map(|raw| serde_json::from_str::<Value>(raw).ok())
        .any(|f| want(&f));
    if !already {
        frame_where(ws, want).await;
    }
}

/// Reads until the next stored `message` event in `channel`.
pub async fn message_in(ws: &mut Ws, channel: &str) -> Value {
    loop {
        let event = ws.event_of("message").await;
        if event["channel"] == channel {
            return event;
        }
    }
}

/// Reads until a `message` event in `channel` with exactly `body`.
pub async fn message_with(ws: &mut Ws, channel: &str, body: &str) -> Value {
    loop {
        let m = message_in(ws, channel).await;
        if m["body"] == body {
            return m;
        }
    }
}

/// The whole inbox as a fresh connection replays it (`since` 0).
pub async fn stored_inbox(url: &str, hello: Value) -> Vec<(u64, Value)> {
    let mut hello = hello;
    hello["since"] = json!(0);
    let mut ws = Ws::connect(url, hello).await;
    let head = ws.welcome["seq"].as_u64().expect("welcome seq");
    read_to(&mut ws, head).await;
    let stored = events(&ws);
    ws.close().await;
    stored
}

/// Asserts that `events` carry exactly the seqs `first..=last`, each once, in order.
pub fn assert_contiguous(events: &[(u64, Value)], first: u64, who: &str) {
    let seqs: Vec<u64> = events.iter().map(|(s, _)| *s).collect();
    let want: Vec<u64> = (first..first + seqs.len() as u64).collect();
    assert_eq!(
        seqs, want,
        "{who}: seqs must run from {first} without gaps or repeats"
    );
}

/// Bodies of the `message` events in `channel`, in order.
pub fn bodies_in(events: &[(u64, Value)], channel: &str) -> Vec<String> {
    events
        .iter()
        .filter(|(_, e)| e["kind"] == "message" && e["channel"] == channel)
        .map(|(_, e)| e["body"].as_str().expect("body").to_string())
        .collect()
}

// ---- availability ----

pub async fn readyz(api: &Api) -> StatusCode {
    api.call(Method::GET, "/readyz", None, None).await.0
}

/// Polls `/readyz` until it answers 200.
pub async fn wait_ready(api: &Api) {
    let deadline = Instant::now() + RECOVERY;
    while readyz(api).await != StatusCode::OK {
        assert!(Instant::now() < deadline, "{} never became ready", api.base);
        tokio::time::sleep(POLL).await;
    }
}

/// Runs `op` and asserts it finished within [`FAIL_FAST`].
pub async fn quickly<T>(what: &str, op: impl Future<Output = T>) -> T {
    let started = Instant::now();
    let out = op.await;
    assert!(
        started.elapsed() < FAIL_FAST,
        "{what} took {:?} while Redis was down",
        started.elapsed()
    );
    out
}

/// Connects, retrying while the relay answers "store unavailable" (4014),
/// as a client does after an outage.
pub async fn connect_when_available(url: &str, hello: Value) -> Ws {
    let deadline = Instant::now() + RECOVERY;
    loop {
        match Ws::try_connect(url, hello.clone()).await {
            Ok(ws) => return ws,
            Err((4014, _)) if Instant::now() < deadline => tokio::time::sleep(POLL).await,
            Err(refused) => panic!("connection refused: {refused:?}"),
        }
    }
}

/// A counter's value in one scrape of `addr`'s `/metrics`, parsed as
/// Prometheus text.
pub async fn counter(addr: &str, metric: &str) -> f64 {
    let text = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .expect("metrics answer")
        .text()
        .await
        .expect("metrics body");
    let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("parses");
    scrape
        .samples
        .iter()
        .find(|s| s.metric == metric)
        .map(|s| match s.value {
            Sample::Counter(v) | Sample::Untyped(v) => v,
            ref other => panic!("{metric} is not a counter: {other:?}"),
        })
        .unwrap_or_else(|| panic!("no {metric} in the scrape"))
}
