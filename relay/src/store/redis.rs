//! The Redis store: all state in Redis, so any number of stateless relay
//! nodes can share it.
//!
//! Key layout (`P` is the configured prefix, `R` a room id; the braces make
//! `{R}` the Redis Cluster hash tag, so one room's keys share one slot and
//! one script may touch them all):
//!
//! | key                 | type   | holds                                        |
//! |---------------------|--------|----------------------------------------------|
//! | `P:{R}:doc`         | hash   | `v` version, `d` document, `x` expiry (unix ms) |
//! | `P:{R}:o`           | hash   | room objects by caller key                   |
//! | `P:{R}:inv`         | hash   | invite code -> `+value` (live) or `-` (spent) |
//! | `P:{R}:in:<participant>` | stream | inbox; entry id `<seq>-0`, field `e`     |
//! | `P:accounts`        | hash   | ombud accounts by keyed hash of username     |
//! | `P:counters`        | hash   | aggregate counters                           |
//!
//! Channel `P:{R}:n` carries the room's notifications. Every key of a room
//! expires at the same absolute time (`x`, set by `create_room`), and there
//! is no index outside the room: listings and deletion find keys with SCAN,
//! so nothing of a deleted or expired room remains.
//!
//! Everything that writes more than one key, or must check before it writes,
//! is one Lua script, so it is atomic without WATCH. A commit's
//! notification is published by the same script, so a committed event is
//! always announced.
//!
//! Availability: every operation is bounded by [`OP_TIMEOUT`] and fails with
//! [`StoreError::Unavailable`] while Redis is unreachable. The command
//! connection ([`ConnectionManager`]) reconnects on the next command after
//! a failure; the pub/sub connection is kept by a background task that
//! reconnects with backoff and subscribes every watched room again.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, LazyLock, Mutex as StdMutex};
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig, PubSubSink, PubSubStream};
use ::redis::{cmd, Client, ErrorKind, Msg, RedisError, RedisResult, Script, Value};
use async_trait::async_trait;
use futures_util::future::try_join_all;
use futures_util::StreamExt;
use tokio::sync::{mpsc, Mutex as AsyncMutex};
use uuid::Uuid;

use super::*;

/// Connecting may take at most this long; a refused connection fails at once.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// How often the pub/sub connection is pinged, so that a silently dead
/// connection (no FIN, e.g. a network partition) is noticed and replaced.
const KEEPALIVE: Duration = Duration::from_secs(5);
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
const SCAN_COUNT: usize = 1000;

/// Version byte of the notification wire format (see [`decode_notification`]).
const FORMAT: u8 = b'1';
const KIND_DELIVERED: u8 = b'D';
const KIND_SIGNAL: u8 = b'S';
const KIND_DELETED: u8 = b'X';

pub struct RedisStore {
    conn: ConnectionManager,
    keys: KeySpace,
    node_id: Uuid,
    shared: Arc<Shared>,
    subscriber: tokio::task::JoinHandle<()>,
}

/// State shared with the subscriber task.
struct Shared {
    /// Held across SUBSCRIBE round trips, so a watch and a reconnect never
    /// interleave: every room in `rooms` is subscribed on the current sink.
    subs: AsyncMutex<Subscriptions>,
    listeners: StdMutex<Vec<mpsc::UnboundedSender<Notification>>>,
}

struct Subscriptions {
    rooms: HashSet<RoomId>,
    /// `None` while the pub/sub connection is being re-established.
    sink: Option<PubSubSink>,
}

impl RedisStore {
    /// Connect to `url` (`redis://host:port`, `redis+unix:///path` or
    /// `unix:///path`). `prefix` namespaces every key; it must not contain
    /// braces, which would steal the room's hash tag. `node_id` goes into
    /// every notification this node publishes.
    pub async fn connect(url: &str, prefix: &str, node_id: Uuid) -> StoreResult<RedisStore> {
        if prefix.contains(['{', '}']) {
            return Err(StoreError::Unavailable(format!(
                "redis key prefix {prefix:?} must not contain braces"
            )));
        }
        let client = Client::open(url)
            .map_err(|e| StoreError::Unavailable(format!("invalid redis url: {e}")))?;
        // No retries inside the manager: its first retry waits a full second.
        // A failed command fails fast and the next one reconnects.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(CONNECT_TIMEOUT)
            .set_number_of_retries(0);
        let conn =
            within(async { Ok(ConnectionManager::new_with_config(client.clone(), config).await?) })
                .await?;
        let keys = KeySpace {
            prefix: prefix.to_string(),
        };
        let shared = Arc::new(Shared {
            subs: AsyncMutex::new(Subscriptions {
                rooms: HashSet::new(),
                sink: None,
            }),
            listeners: StdMutex::new(Vec::new()),
        });
        let (sink, stream) = subscribe_all(&client, &keys, &shared).await?;
        let subscriber = tokio::spawn(run_subscriber(
            client,
            keys.clone(),
            shared.clone(),
            sink,
            stream,
        ));
        Ok(RedisStore {
            conn,
            keys,
            node_id,
            shared,
            subscriber,
        })
    }

    fn head(&self, kind: u8) -> Vec<u8> {
        let mut head = vec![FORMAT, kind];
        head.extend_from_slice(self.node_id.as_bytes());
        head
    }

    /// Delete the room's doc and `keys` in one script; announces the
    /// deletion and returns true if the doc existed.
    async fn delete_keys(&self, room: RoomId, keys: Vec<String>) -> StoreResult<bool> {
        let doc = self.keys.doc(room);
        let mut call = DELETE_ROOM.key(&doc);
        for key in keys.iter().filter(|k| **k != doc) {
            call.key(key);
        }
        call.arg(self.keys.channel(room))
            .arg(self.head(KIND_DELETED));
        let mut conn = self.conn.clone();
        within(async move {
            let existed: i64 = call.invoke_async(&mut conn).await?;
            Ok(existed == 1)
        })
        .await
    }

    /// Every key of the room that exists now.
    async fn room_keys(&self, room: RoomId) -> StoreResult<Vec<String>> {
        let mut conn = self.conn.clone();
        let pattern = self.keys.room_pattern(room);
        within(async move { Ok(scan(&mut conn, &pattern).await?) }).await
    }
}

impl Drop for RedisStore {
    fn drop(&mut self) {
        self.subscriber.abort();
    }
}

/// Key names; see the module docs for the layout.
#[derive(Clone)]
struct KeySpace {
    prefix: String,
}

impl KeySpace {
    fn room(&self, room: RoomId, suffix: &str) -> String {
        format!("{}:{{{room}}}:{suffix}", self.prefix)
    }
    fn doc(&self, room: RoomId) -> String {
        self.room(room, "doc")
    }
    fn objects(&self, room: RoomId) -> String {
        self.room(room, "o")
    }
    fn invites(&self, room: RoomId) -> String {
        self.room(room, "inv")
    }
    fn inbox(&self, room: RoomId, participant: ParticipantId) -> String {
        self.room(room, &format!("in:{participant}"))
    }
    fn channel(&self, room: RoomId) -> String {
        self.room(room, "n")
    }
    fn accounts(&self) -> String {
        format!("{}:accounts", self.prefix)
    }
    fn counters(&self) -> String {
        format!("{}:counters", self.prefix)
    }
    /// SCAN pattern for every key of one room.
    fn room_pattern(&self, room: RoomId) -> String {
        format!("{}:{{{room}}}:*", glob_escape(&self.prefix))
    }
    /// SCAN pattern for every room's document key.
    fn docs_pattern(&self) -> String {
        format!("{}:{{*}}:doc", glob_escape(&self.prefix))
    }
    /// The room of a `P:{R}:<suffix>` name.
    fn parse_room(&self, name: &str, suffix: &str) -> Option<RoomId> {
        let id = name
            .strip_prefix(self.prefix.as_str())?
            .strip_prefix(":{")?
            .strip_suffix(suffix)?
            .strip_suffix("}:")?;
        Uuid::parse_str(id).ok()
    }
}

/// Escape the characters SCAN MATCH treats as glob syntax (braces are not).
fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl From<RedisError> for StoreError {
    fn from(e: RedisError) -> Self {
        // A reply of the wrong shape means the data is not what this code
        // wrote. The message is left out: it may quote stored bytes.
        if e.kind() == ErrorKind::TypeError {
            return StoreError::Corrupt("unexpected reply from redis".into());
        }
        if let Some(code @ ("WRONGTYPE" | "CORRUPT")) = e.code() {
            return StoreError::Corrupt(format!("redis answered {code}"));
        }
        StoreError::Unavailable(format!("redis: {e}"))
    }
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("malformed {what} in redis"))
}

/// Bound an operation by [`OP_TIMEOUT`], so callers fail fast while Redis
/// is down instead of queueing behind a dead connection.
async fn within<T>(op: impl Future<Output = StoreResult<T>>) -> StoreResult<T> {
    tokio::time::timeout(OP_TIMEOUT, op)
        .await
        .unwrap_or_else(|_| {
            Err(StoreError::Unavailable(
                "redis did not answer in time".into(),
            ))
        })
}

async fn scan(conn: &mut ConnectionManager, pattern: &str) -> RedisResult<Vec<String>> {
    let mut found = Vec::new();
    let mut cursor = 0u64;
    loop {
        let (next, keys): (u64, Vec<String>) = cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(SCAN_COUNT)
            .query_async(conn)
            .await?;
        found.extend(keys);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    // SCAN may return a key more than once.
    found.sort_unstable();
    found.dedup();
    Ok(found)
}

/// An inbox stream entry as XRANGE returns it: `(id, [field, value, ...])`.
type StreamEntry = (String, Vec<Vec<u8>>);

fn entry_seq(id: &str) -> StoreResult<u64> {
    id.strip_suffix("-0")
        .and_then(|seq| seq.parse().ok())
        .ok_or_else(|| corrupt("inbox entry id"))
}

fn parse_entry((id, fields): StreamEntry) -> StoreResult<(u64, Vec<u8>)> {
    let seq = entry_seq(&id)?;
    let mut fields = fields.into_iter();
    match (fields.next(), fields.next(), fields.next()) {
        (Some(name), Some(payload), None) if name == b"e" => Ok((seq, payload)),
        _ => Err(corrupt("inbox entry")),
    }
}

// ---- scripts ----

/// KEYS: doc. ARGV: doc, expire_at_ms.
static CREATE_ROOM: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'v', 1, 'd', ARGV[1], 'x', ARGV[2])
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
return 1
",
    )
});

/// KEYS: doc, objects, then one inbox per delivery.
/// ARGV: expect_version, channel, notification head, has_doc ('0'/'1'), doc,
/// put count, the puts as key/value pairs, then participant (16 raw bytes)
/// and payload per delivery.
///
/// Returns nil on a version conflict, else `{version, seq...}`. The next seq
/// of an inbox is one past its newest entry id (entries are never trimmed).
/// The notification appends one `participant seq ':' len ':' payload`
/// record per delivery to the head; see [`decode_notification`].
static COMMIT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local doc, objects = KEYS[1], KEYS[2]
local state = redis.call('HMGET', doc, 'v', 'x')
if not state[1] or state[1] ~= ARGV[1] then return false end
local expire_at = state[2]
if not expire_at then return redis.error_reply('CORRUPT room has no expiry') end
local version = redis.call('HINCRBY', doc, 'v', 1)
if ARGV[4] == '1' then redis.call('HSET', doc, 'd', ARGV[5]) end
local puts = tonumber(ARGV[6])
local i = 7
for _ = 1, puts do
  redis.call('HSET', objects, ARGV[i], ARGV[i + 1])
  i = i + 2
end
if puts > 0 then redis.call('PEXPIREAT', objects, expire_at) end
local result, announced = { version }, { ARGV[3] }
for k = 3, #KEYS do
  local inbox, participant, payload = KEYS[k], ARGV[i], ARGV[i + 1]
  i = i + 2
  local seq = 1
  local newest = redis.call('XREVRANGE', inbox, '+', '-', 'COUNT', 1)[1]
  if newest then seq = tonumber(string.match(newest[1], '^%d+')) + 1 end
  local id = string.format('%d', seq)
  redis.call('XADD', inbox, id .. '-0', 'e', payload)
  -- Expiry is absolute and the same for every key of the room: set it once,
  -- when the inbox is created.
  if not newest then redis.call('PEXPIREAT', inbox, expire_at) end
  result[#result + 1] = seq
  announced[#announced + 1] =
    participant .. id .. ':' .. string.format('%d', #payload) .. ':' .. payload
end
if #KEYS > 2 then redis.call('PUBLISH', ARGV[2], table.concat(announced)) end
return result
",
    )
});

/// KEYS: doc, invites. ARGV: code, `+value`. Does nothing if the room is gone.
static PUT_INVITE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local expire_at = redis.call('HGET', KEYS[1], 'x')
if not expire_at then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('PEXPIREAT', KEYS[2], expire_at)
return 1
",
    )
});

/// KEYS: invites. ARGV: code. Returns what was stored before; a live code
/// (`+value`) is replaced by the tombstone `-`, which keeps the hash's expiry.
static TAKE_INVITE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local value = redis.call('HGET', KEYS[1], ARGV[1])
if value and string.sub(value, 1, 1) == '+' then
  redis.call('HSET', KEYS[1], ARGV[1], '-')
end
return value
",
    )
});

/// KEYS: doc, then every other key of the room. ARGV: channel, notification.
/// Announces the deletion only if the room existed.
static DELETE_ROOM: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local existed = redis.call('EXISTS', KEYS[1])
redis.call('DEL', unpack(KEYS))
if existed == 1 then redis.call('PUBLISH', ARGV[1], ARGV[2]) end
return existed
",
    )
});

#[async_trait]
impl Store for RedisStore {
    async fn ping(&self) -> StoreResult<()> {
        let mut conn = self.conn.clone();
        within(async move {
            let _: String = cmd("PING").query_async(&mut conn).await?;
            Ok(())
        })
        .await
    }

    async fn put_account(&self, username: &str, value: Vec<u8>) -> StoreResult<()> {
        let mut conn = self.conn.clone();
        let key = self.keys.accounts();
        within(async move {
            let _: i64 = cmd("HSET")
                .arg(key)
                .arg(username)
                .arg(value)
                .query_async(&mut conn)
                .await?;
            Ok(())
        })
        .await
    }

    async fn get_account(&self, username: &str) -> StoreResult<Option<Vec<u8>>> {
        let mut conn = self.conn.clone();
        let key = self.keys.accounts();
        within(async move {
            Ok(cmd("HGET")
                .arg(key)
                .arg(username)
                .query_async(&mut conn)
                .await?)
        })
        .await
    }

    async fn account_count(&self) -> StoreResult<u64> {
        let mut conn = self.conn.clone();
        let key = self.keys.accounts();
        within(async move { Ok(cmd("HLEN").arg(key).query_async(&mut conn).await?) }).await
    }

    async fn create_room(
        &self,
        room: RoomId,
        doc: Vec<u8>,
        expire_at_ms: i64,
    ) -> StoreResult<bool> {
        let mut conn = self.conn.clone();
        let mut call = CREATE_ROOM.key(self.keys.doc(room));
        call.arg(doc).arg(expire_at_ms);
        within(async move {
            let created: i64 = call.invoke_async(&mut conn).await?;
            Ok(created == 1)
        })
        .await
    }

    async fn load_room(&self, room: RoomId) -> StoreResult<Option<Versioned>> {
        let mut conn = self.conn.clone();
        let key = self.keys.doc(room);
        within(async move {
            let (version, doc): (Option<u64>, Option<Vec<u8>>) = cmd("HMGET")
                .arg(key)
                .arg("v")
                .arg("d")
                .query_async(&mut conn)
                .await?;
            match (version, doc) {
                (None, _) => Ok(None),
                (Some(version), Some(doc)) => Ok(Some(Versioned { version, doc })),
                (Some(_), None) => Err(corrupt("room document")),
            }
        })
        .await
    }

    async fn list_rooms(&self) -> StoreResult<Vec<RoomId>> {
        let mut conn = self.conn.clone();
        let pattern = self.keys.docs_pattern();
        let doc_keys = within(async move { Ok(scan(&mut conn, &pattern).await?) }).await?;
        Ok(doc_keys
            .iter()
            .filter_map(|key| self.keys.parse_room(key, "doc"))
            .collect())
    }

    async fn get_objects(
        &self,
        room: RoomId,
        keys: &[String],
    ) -> StoreResult<Vec<Option<Vec<u8>>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.conn.clone();
        let key = self.keys.objects(room);
        within(async move {
            let values: Vec<Option<Vec<u8>>> = cmd("HMGET")
                .arg(key)
                .arg(keys)
                .query_async(&mut conn)
                .await?;
            if values.len() != keys.len() {
                return Err(corrupt("HMGET reply"));
            }
            Ok(values)
        })
        .await
    }

    async fn commit(&self, room: RoomId, commit: Commit) -> StoreResult<CommitOutcome> {
        let mut call = COMMIT.key(self.keys.doc(room));
        call.key(self.keys.objects(room))
            .arg(commit.expect_version)
            .arg(self.keys.channel(room))
            .arg(self.head(KIND_DELIVERED));
        match commit.doc {
            Some(doc) => call.arg("1").arg(doc),
            None => call.arg("0").arg(""),
        };
        call.arg(commit.puts.len());
        for (key, value) in commit.puts {
            call.arg(key).arg(value);
        }
        for (participant, payload) in commit.deliveries {
            call.key(self.keys.inbox(room, participant))
                .arg(participant.as_bytes().as_slice())
                .arg(payload);
        }
        let mut conn = self.conn.clone();
        within(async move {
            let reply: Option<Vec<u64>> = call.invoke_async(&mut conn).await?;
            let Some(reply) = reply else {
                return Ok(CommitOutcome::Conflict);
            };
            let (version, seqs) = reply.split_first().ok_or_else(|| corrupt("commit reply"))?;
            Ok(CommitOutcome::Committed {
                version: *version,
                seqs: seqs.to_vec(),
            })
        })
        .await
    }

    async fn read_inbox(
        &self,
        room: RoomId,
        participant: ParticipantId,
        after: u64,
        limit: usize,
    ) -> StoreResult<Vec<(u64, Vec<u8>)>> {
        let Some(first) = after.checked_add(1) else {
            return Ok(Vec::new());
        };
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut conn = self.conn.clone();
        let key = self.keys.inbox(room, participant);
        within(async move {
            let entries: Vec<StreamEntry> = cmd("XRANGE")
                .arg(key)
                .arg(format!("{first}-0"))
                .arg("+")
                .arg("COUNT")
                .arg(limit)
                .query_async(&mut conn)
                .await?;
            entries.into_iter().map(parse_entry).collect()
        })
        .await
    }

    async fn inbox_head(&self, room: RoomId, participant: ParticipantId) -> StoreResult<u64> {
        let mut conn = self.conn.clone();
        let key = self.keys.inbox(room, participant);
        within(async move {
            let newest: Vec<StreamEntry> = cmd("XREVRANGE")
                .arg(key)
                .arg("+")
                .arg("-")
                .arg("COUNT")
                .arg(1)
                .query_async(&mut conn)
                .await?;
            newest.first().map_or(Ok(0), |(id, _)| entry_seq(id))
        })
        .await
    }

    async fn delete_room(&self, room: RoomId) -> StoreResult<bool> {
        let existed = self.delete_keys(room, self.room_keys(room).await?).await?;
        if existed {
            // Every write to a room needs its doc, which is gone now, so one
            // more SCAN finds any inbox a commit created between the first
            // SCAN and the deletion.
            let stragglers = self.room_keys(room).await?;
            if !stragglers.is_empty() {
                self.delete_keys(room, stragglers).await?;
            }
        }
        Ok(existed)
    }

    async fn put_invite(&self, room: RoomId, code_key: &str, value: Vec<u8>) -> StoreResult<()> {
        let mut live = Vec::with_capacity(value.len() + 1);
        live.push(b'+');
        live.extend_from_slice(&value);
        let mut call = PUT_INVITE.key(self.keys.doc(room));
        call.key(self.keys.invites(room)).arg(code_key).arg(live);
        let mut conn = self.conn.clone();
        within(async move {
            let _: i64 = call.invoke_async(&mut conn).await?;
            Ok(())
        })
        .await
    }

    async fn take_invite(&self, room: RoomId, code_key: &str) -> StoreResult<InviteTake> {
        let mut call = TAKE_INVITE.key(self.keys.invites(room));
        call.arg(code_key);
        let mut conn = self.conn.clone();
        within(async move {
            let before: Option<Vec<u8>> = call.invoke_async(&mut conn).await?;
            match before.as_deref() {
                None => Ok(InviteTake::Unknown),
                Some(b"-") => Ok(InviteTake::AlreadyUsed),
                Some([b'+', value @ ..]) => Ok(InviteTake::Taken(value.to_vec())),
                Some(_) => Err(corrupt("invite")),
            }
        })
        .await
    }

    async fn incr_counter(&self, field: &str, by: i64) -> StoreResult<()> {
        let mut conn = self.conn.clone();
        let key = self.keys.counters();
        within(async move {
            let _: i64 = cmd("HINCRBY")
                .arg(key)
                .arg(field)
                .arg(by)
                .query_async(&mut conn)
                .await?;
            Ok(())
        })
        .await
    }

    async fn counters(&self) -> StoreResult<Vec<(String, i64)>> {
        let mut conn = self.conn.clone();
        let key = self.keys.counters();
        within(async move {
            let all: HashMap<String, i64> = cmd("HGETALL").arg(key).query_async(&mut conn).await?;
            Ok(all.into_iter().collect())
        })
        .await
    }

    async fn watch(&self, room: RoomId) -> StoreResult<()> {
        let channel = self.keys.channel(room);
        within(async {
            let mut subs = self.shared.subs.lock().await;
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

    async fn unwatch(&self, room: RoomId) -> StoreResult<()> {
        let channel = self.keys.channel(room);
        within(async {
            let mut subs = self.shared.subs.lock().await;
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

    async fn signal(&self, room: RoomId, payload: Vec<u8>) -> StoreResult<()> {
        let mut message = self.head(KIND_SIGNAL);
        message.extend_from_slice(&payload);
        let mut conn = self.conn.clone();
        let channel = self.keys.channel(room);
        within(async move {
            let _: i64 = cmd("PUBLISH")
                .arg(channel)
                .arg(message)
                .query_async(&mut conn)
                .await?;
            Ok(())
        })
        .await
    }

    fn notifications(&self) -> mpsc::UnboundedReceiver<Notification> {
        let (tx, rx) = mpsc::unbounded_channel();
        lock(&self.shared.listeners).push(tx);
        rx
    }
}

fn reconnecting() -> StoreError {
    StoreError::Unavailable("redis notification connection is reconnecting".into())
}

fn lock<T>(m: &StdMutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Only pushes and sends happen under this lock; a panic cannot leave it
    // half-updated.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

// ---- notifications ----

/// Open a pub/sub connection and subscribe every watched room on it, then
/// make it the connection `watch` uses.
async fn subscribe_all(
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
async fn run_subscriber(
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
                    Some(message) => shared.dispatch(&keys, &message),
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
        let mut delay = MIN_BACKOFF;
        (sink, stream) = loop {
            tokio::time::sleep(delay).await;
            match subscribe_all(&client, &keys, &shared).await {
                Ok(connection) => break connection,
                Err(error) => {
                    tracing::debug!(%error, "redis notification reconnect failed");
                    delay = (delay * 2).min(MAX_BACKOFF);
                }
            }
        };
        tracing::info!("redis notification connection restored");
        // Anything published while we were away was lost: tell every watched
        // room's connections to re-read their inboxes.
        let rooms: Vec<RoomId> = shared.subs.lock().await.rooms.iter().copied().collect();
        let mut listeners = lock(&shared.listeners);
        for room in rooms {
            listeners.retain(|tx| tx.send(Notification::Resync { room }).is_ok());
        }
    }
}

impl Shared {
    fn dispatch(&self, keys: &KeySpace, message: &Msg) {
        let Some(room) = keys.parse_room(message.get_channel_name(), "n") else {
            tracing::warn!("ignoring message on an unexpected redis channel");
            return;
        };
        match decode_notification(room, message.get_payload_bytes()) {
            Ok((origin, notification)) => {
                tracing::trace!(%room, %origin, "notification");
                lock(&self.listeners).retain(|tx| tx.send(notification.clone()).is_ok());
            }
            Err(error) => tracing::warn!(%room, error, "ignoring malformed notification"),
        }
    }
}

/// Parse a notification published on a room's channel.
///
/// Wire format (binary safe: the only variable-length field that is not last
/// is length-prefixed; numbers are ASCII decimal):
///
/// ```text
/// message  = "1" kind node body       ; "1" is the format version
/// node     = 16 bytes                 ; the publishing node's id
/// kind     = "D" | "S" | "X"
/// body "D" = *( participant seq ":" length ":" payload )
///            ; participant: 16 bytes; payload: `length` bytes; commit order
/// body "S" = payload                  ; the rest of the message
/// body "X" = ""                       ; room deleted
/// ```
///
/// The commit script builds "D" bodies by string concatenation.
fn decode_notification(room: RoomId, bytes: &[u8]) -> Result<(Uuid, Notification), &'static str> {
    let mut r = WireReader { rest: bytes };
    if r.take(1)? != [FORMAT] {
        return Err("unknown format version");
    }
    let kind = r.take(1)?[0];
    let origin = r.uuid()?;
    let notification = match kind {
        KIND_DELIVERED => {
            let mut deliveries = Vec::new();
            while !r.rest.is_empty() {
                let participant = r.uuid()?;
                let seq = r.number()?;
                let len = usize::try_from(r.number()?).map_err(|_| "length out of range")?;
                let payload = r.take(len)?.to_vec();
                deliveries.push(Delivery {
                    participant,
                    seq,
                    payload,
                });
            }
            Notification::Delivered { room, deliveries }
        }
        KIND_SIGNAL => Notification::Signal {
            room,
            payload: std::mem::take(&mut r.rest).to_vec(),
        },
        KIND_DELETED if r.rest.is_empty() => Notification::RoomDeleted { room },
        _ => return Err("unknown kind"),
    };
    Ok((origin, notification))
}

struct WireReader<'a> {
    rest: &'a [u8],
}

impl<'a> WireReader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        if self.rest.len() < n {
            return Err("truncated");
        }
        let (taken, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(taken)
    }

    fn uuid(&mut self) -> Result<Uuid, &'static str> {
        Uuid::from_slice(self.take(16)?).map_err(|_| "bad id")
    }

    /// ASCII decimal digits up to and including a ':'.
    fn number(&mut self) -> Result<u64, &'static str> {
        let end = self
            .rest
            .iter()
            .position(|&b| b == b':')
            .ok_or("truncated")?;
        let digits = self.take(end)?;
        self.take(1)?;
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return Err("bad number");
        }
        std::str::from_utf8(digits)
            .ok()
            .and_then(|d| d.parse().ok())
            .ok_or("bad number")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(kind: u8, node: Uuid) -> Vec<u8> {
        let mut head = vec![FORMAT, kind];
        head.extend_from_slice(node.as_bytes());
        head
    }

    #[test]
    fn delivered_notification_round_trips_binary_payloads() {
        let (room, node, a, b) = (
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
        );
        let mut wire = head(KIND_DELIVERED, node);
        for (p, seq, payload) in [(a, 7u64, &b"1:2:\0\xff"[..]), (b, 1, &b""[..])] {
            wire.extend_from_slice(p.as_bytes());
            wire.extend_from_slice(format!("{seq}:{}:", payload.len()).as_bytes());
            wire.extend_from_slice(payload);
        }
        let (origin, n) = decode_notification(room, &wire).expect("decodes");
        assert_eq!(origin, node);
        assert_eq!(
            n,
            Notification::Delivered {
                room,
                deliveries: vec![
                    Delivery {
                        participant: a,
                        seq: 7,
                        payload: b"1:2:\0\xff".to_vec()
                    },
                    Delivery {
                        participant: b,
                        seq: 1,
                        payload: Vec::new()
                    },
                ],
            }
        );
    }

    #[test]
    fn malformed_notifications_are_rejected() {
        let (room, node) = (Uuid::new_v4(), Uuid::new_v4());
        let mut truncated = head(KIND_DELIVERED, node);
        truncated.extend_from_slice(node.as_bytes());
        truncated.extend_from_slice(b"1:10:short");
        let mut deleted_with_body = head(KIND_DELETED, node);
        deleted_with_body.push(b'x');
        for wire in [
            &b""[..],
            b"2D",
            &head(b'?', node),
            &truncated,
            &deleted_with_body,
        ] {
            assert!(decode_notification(room, wire).is_err(), "{wire:?}");
        }
    }

    #[test]
    fn names_parse_back_only_under_the_prefix() {
        let keys = KeySpace {
            prefix: "p*".into(),
        };
        let room = Uuid::new_v4();
        assert_eq!(keys.parse_room(&keys.doc(room), "doc"), Some(room));
        assert_eq!(keys.parse_room(&keys.channel(room), "n"), Some(room));
        assert_eq!(keys.parse_room(&keys.objects(room), "doc"), None);
        assert_eq!(
            KeySpace { prefix: "q".into() }.parse_room(&keys.doc(room), "doc"),
            None
        );
        assert_eq!(keys.docs_pattern(), r"p\*:{*}:doc");
    }
}
