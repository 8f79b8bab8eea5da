//! The Redis store: all state in Redis, so any number of stateless relay
//! nodes can share it.
//!
//! Key layout (`P` is the configured prefix, `R` a room id; the braces make
//! `{R}` the Redis Cluster hash tag, so one room's keys share one slot and
//! one script may touch them all):
//!
//! | key                 | type   | holds                                        |
//! |---------------------|--------|----------------------------------------------|
//! | `P:{R}:doc`         | hash   | `v` version, `d` document, `x` expiry (unix ms), `c:<field>` room counters, `s<participant>` newest inbox seq (16 raw bytes), `w` the version that last wrote `d`, `o`/`p` set once the objects/written hash has its expiry |
//! | `P:{R}:o`           | hash   | room objects by caller key (blinded by the caller where it holds text) |
//! | `P:{R}:w`           | hash   | the version that last wrote each object (concurrency control by read set) |
//! | `P:{R}:nodes`       | hash   | the relay nodes watching the room (see [`watchers`]) |
//! | `P:{R}:inv`         | hash   | invite code -> `+value` (live) or `-` (spent) |
//! | `P:{R}:in:<participant>` | stream | inbox; entry id `<seq>-0`, field `e`     |
//! | `P:accounts`        | hash   | ombud accounts by keyed hash of username     |
//! | `P:counters`        | hash   | aggregate counters by keyed hash of name     |
//! | `P:generations`     | hash   | token generation by keyed hash of subject    |
//!
//! Channel `P:{R}:n` carries the room's notifications to other nodes: a
//! node announces its own commits to itself from their replies, and a
//! commit is published only while another node watches the room. Every key of a room
//! expires at the same absolute time (`x`, set by `create_room`), and there
//! is no index outside the room: listings and deletion find keys with SCAN,
//! so nothing of a deleted or expired room remains.
//!
//! Everything that writes more than one key, or must check before it writes,
//! is one Lua script, so it is atomic without WATCH. A commit's
//! notification is published by the same script, so a committed event is
//! always announced.
//!
//! A Redis Cluster ([`RedisOptions::cluster`]) holds the same keys: a
//! room's keys share its slot, so every script still runs on one node; the
//! global hashes are single keys. Listings SCAN every primary, a room's
//! deletion only its slot's primary, and notifications use sharded pub/sub
//! ([`sharded`]): `SPUBLISH` in the scripts, one `SSUBSCRIBE` per room on
//! the primary that owns it. With [`Durability::replicas`] set, every write
//! is pipelined with `WAIT`, and is acknowledged only once that many
//! replicas hold it.
//!
//! Availability: every operation is bounded by [`OP_TIMEOUT`] and fails with
//! [`StoreError::Unavailable`] while Redis is unreachable. The command
//! connection ([`ConnectionManager`]) reconnects on the next command after
//! a failure; the pub/sub connection is kept by a background task that
//! reconnects with backoff and subscribes every watched room again.

//!
//! The files: [`open`] (connecting), [`keys`] (names), [`scripts`] (the
//! Lua, in `lua/`), [`conn`] (one Redis or a cluster; SCAN; the
//! replication wait), [`pubsub`] (the
//! notification connection), [`sharded`] (the same on a cluster),
//! [`notify`] (the notification wire format) and [`ops`] (error mapping,
//! time bound, reads).

mod conn;
mod keys;
mod notify;
mod open;
mod ops;
mod pubsub;
mod scripts;
mod sharded;
mod watchers;

pub use conn::Durability;
pub use open::RedisOptions;

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use ::redis::cmd;
use async_trait::async_trait;
use tokio::sync::mpsc;
use uuid::Uuid;

use super::*;
use conn::Conn;
use keys::KeySpace;
use notify::{KIND_DELETED, KIND_DELIVERED, KIND_SIGNAL};
use ops::{
    commit_size, corrupt, counter_triples, entry_seq, parse_entry, parse_int, read, within,
    StreamEntry,
};
use pubsub::{reconnecting, Listeners, Shared};
use scripts::{Call, Scripts};
use sharded::Sharded;
use watchers::Registrar;

pub struct RedisStore {
    conn: Conn,
    keys: KeySpace,
    node_id: Uuid,
    scripts: &'static Scripts,
    durability: Durability,
    notifier: Notifier,
    out: Arc<Listeners>,
    subscriber: tokio::task::JoinHandle<()>,
    registrar: Registrar,
    /// Keeps the watch registrations ([`watchers`]).
    refresher: tokio::task::JoinHandle<()>,
}

/// The notification side: one pub/sub connection, or sharded pub/sub.
enum Notifier {
    Single(Arc<Shared>),
    Sharded(Arc<Sharded>),
}

impl RedisStore {
    fn head(&self, kind: u8) -> Vec<u8> {
        notify::head(kind, self.node_id)
    }

    /// After a commit whose outcome we did not hear, once the room's slot
    /// answers again: see [`Listeners::resync_when_up`].
    fn resync_when_up(&self, room: RoomId) {
        let (conn, doc) = (self.conn.clone(), self.keys.doc(room));
        self.out.resync_when_up(room, move || {
            let (mut conn, doc) = (conn.clone(), doc.clone());
            async move {
                within(async move {
                    let _: i64 = cmd("EXISTS").arg(doc).query_async(&mut conn).await?;
                    Ok(())
                })
                .await
                .is_ok()
            }
        });
    }

    /// Delete the room's doc and `keys` in one script; announces the
    /// deletion and returns true if the doc existed.
    async fn delete_keys(&self, room: RoomId, keys: Vec<String>) -> StoreResult<bool> {
        let doc = self.keys.doc(room);
        let mut named = vec![doc.clone()];
        named.extend(keys.into_iter().filter(|k| *k != doc));
        let mut call = Call::new(&self.scripts.delete_room, &named);
        call.arg(self.keys.channel(room))
            .arg(self.head(KIND_DELETED));
        let existed: i64 = self.invoke(call).await?;
        Ok(existed == 1)
    }

    /// Every key of the room that exists now (all in the room's slot).
    async fn room_keys(&self, room: RoomId) -> StoreResult<Vec<String>> {
        let mut conn = self.conn.clone();
        let pattern = self.keys.room_pattern(room);
        let doc = self.keys.doc(room);
        within(async move { Ok(conn.scan_slot(&doc, &pattern).await?) }).await
    }

    /// Runs a script that writes, with the replication wait.
    async fn invoke<T: ::redis::FromRedisValue + Send + 'static>(
        &self,
        call: Call,
    ) -> StoreResult<T> {
        let mut conn = self.conn.clone();
        let durability = self.durability;
        within(async move { conn.invoke(&call, durability).await }).await
    }

    /// Runs a command that writes, with the replication wait.
    async fn write<T: ::redis::FromRedisValue + Send + 'static>(
        &self,
        command: ::redis::Cmd,
    ) -> StoreResult<T> {
        let mut conn = self.conn.clone();
        let durability = self.durability;
        within(async move { conn.write(&command, durability).await }).await
    }
}

impl Drop for RedisStore {
    fn drop(&mut self) {
        self.subscriber.abort();
        self.refresher.abort();
    }
}

#[async_trait]
impl Store for RedisStore {
    /// Ready means a new connection would succeed: commands answer, and the
    /// notification connection is back (a websocket cannot start without it).
    async fn ping(&self) -> StoreResult<()> {
        let mut conn = self.conn.clone();
        within(async move {
            let _: String = cmd("PING").query_async(&mut conn).await?;
            Ok(())
        })
        .await?;
        let ready = match &self.notifier {
            Notifier::Single(shared) => shared.subs.lock().await.sink.is_some(),
            Notifier::Sharded(sharded) => sharded.ready().await,
        };
        if !ready {
            return Err(reconnecting());
        }
        Ok(())
    }

    async fn put_account(&self, username: &str, value: Vec<u8>) -> StoreResult<()> {
        let mut hset = cmd("HSET");
        hset.arg(self.keys.accounts()).arg(username).arg(value);
        let _: i64 = self.write(hset).await?;
        Ok(())
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

    async fn list_accounts(&self) -> StoreResult<Vec<Vec<u8>>> {
        let mut conn = self.conn.clone();
        let key = self.keys.accounts();
        within(async move { Ok(cmd("HVALS").arg(key).query_async(&mut conn).await?) }).await
    }

    async fn create_room(
        &self,
        room: RoomId,
        doc: Vec<u8>,
        expire_at_ms: i64,
    ) -> StoreResult<bool> {
        let mut call = Call::new(&self.scripts.create_room, &[self.keys.doc(room)]);
        call.arg(doc).arg(expire_at_ms);
        let created: i64 = self.invoke(call).await?;
        Ok(created == 1)
    }

    async fn load_room(&self, room: RoomId) -> StoreResult<Option<Versioned>> {
        let mut hgetall = cmd("HGETALL");
        hgetall.arg(self.keys.doc(room));
        let fields: Vec<(Vec<u8>, Vec<u8>)> = read(&self.conn, &hgetall).await?;
        let (mut version, mut doc, mut counts) = (None, None, Vec::new());
        for (field, value) in fields {
            match field.as_slice() {
                b"v" => version = Some(parse_int(&value)?),
                b"d" => doc = Some(value),
                b"x" => {}
                other => {
                    if let Some(name) = other.strip_prefix(b"c:") {
                        let name = String::from_utf8_lossy(name).into_owned();
                        counts.push((name, parse_int(&value)?));
                    }
                }
            }
        }
        match (version, doc) {
            (None, _) => Ok(None),
            (Some(version), Some(doc)) => Ok(Some(Versioned {
                version: u64::try_from(version).map_err(|_| corrupt("room version"))?,
                doc,
                counts,
            })),
            (Some(_), None) => Err(corrupt("room document")),
        }
    }

    async fn list_rooms(&self) -> StoreResult<Vec<RoomId>> {
        let mut conn = self.conn.clone();
        let pattern = self.keys.docs_pattern();
        let doc_keys = within(async move { Ok(conn.scan_all(&pattern).await?) }).await?;
        Ok(doc_keys
            .iter()
            .filter_map(|key| self.keys.parse_room(key, "doc"))
            .collect())
    }

    async fn read_objects(&self, room: RoomId, keys: &[String]) -> StoreResult<Vec<ObjectRead>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        // The versions first, then the values, in one round trip but not
        // atomically: a write between the two gives a value newer than its
        // version, so the commit's read-set check fails and the action
        // reads again. (The other order could pair an old value with a
        // new version, which the check would pass.)
        let mut both = ::redis::pipe();
        both.cmd("HMGET")
            .arg(self.keys.written(room))
            .arg(keys)
            .cmd("HMGET")
            .arg(self.keys.objects(room))
            .arg(keys);
        let (written, values): (Vec<Option<Vec<u8>>>, Vec<Option<Vec<u8>>>) =
            read(&self.conn, &both).await?;
        if values.len() != keys.len() || written.len() != keys.len() {
            return Err(corrupt("HMGET reply"));
        }
        values
            .into_iter()
            .zip(written)
            .map(|(value, at)| {
                let at = match (&value, at) {
                    (_, Some(at)) => {
                        u64::try_from(parse_int(&at)?).map_err(|_| corrupt("version"))?
                    }
                    // Written before versions were kept: before any version
                    // a commit could have read at.
                    (Some(_), None) => 1,
                    (None, None) => 0,
                };
                Ok((value, at))
            })
            .collect()
    }

    async fn commit(&self, room: RoomId, commit: Commit) -> StoreResult<CommitOutcome> {
        let mut named = vec![
            self.keys.doc(room),
            self.keys.objects(room),
            self.keys.written(room),
            self.keys.watchers(room),
        ];
        named.extend(
            commit
                .deliveries
                .iter()
                .map(|(participant, _)| self.keys.inbox(room, *participant)),
        );
        let (args, bytes) = commit_size(&commit);
        let mut call = Call::with_room(&self.scripts.commit, &named, args, bytes);
        call.arg(commit.expect_version)
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
        let (counters, counted) = counter_triples(commit.counts, commit.limits);
        call.arg(counters.len());
        for (field, by, ceiling) in &counters {
            call.arg(field.as_str());
            for n in [by, ceiling] {
                match n {
                    Some(n) => call.arg(*n),
                    None => call.arg(""),
                };
            }
        }
        match commit.reads {
            None => call.arg(-1),
            Some(reads) => {
                call.arg(reads.len());
                for (key, at) in reads {
                    call.arg(key).arg(at);
                }
                &mut call
            }
        };
        let delivered = commit.deliveries.len();
        for (participant, payload) in &commit.deliveries {
            // The inbox's counter field in the doc hash: `s` and the id's bytes.
            let mut field = [b's'; 17];
            field[1..].copy_from_slice(participant.as_bytes());
            call.arg(field.as_slice()).arg(payload.as_slice());
        }
        let reply: Option<Vec<i64>> = match self.invoke(call).await {
            Ok(reply) => reply,
            Err(e) => {
                if delivered > 0 {
                    self.resync_when_up(room);
                }
                return Err(e);
            }
        };
        let Some(reply) = reply else {
            return Ok(CommitOutcome::Conflict);
        };
        if reply.len() != 1 + delivered + counters.len() {
            return Err(corrupt("commit reply"));
        }
        let unsigned = |n: &i64| u64::try_from(*n).map_err(|_| corrupt("commit reply"));
        let seqs: Vec<u64> = reply[1..=delivered]
            .iter()
            .map(unsigned)
            .collect::<StoreResult<_>>()?;
        let deliveries = Delivery::numbered(commit.deliveries, commit.plain, &seqs);
        self.out.announce(room, deliveries);
        Ok(CommitOutcome::Committed {
            version: unsigned(&reply[0])?,
            seqs,
            counts: counted.iter().map(|t| reply[1 + delivered + t]).collect(),
        })
    }

    async fn settle(&self, room: RoomId) -> StoreResult<()> {
        if self.durability.replicas == 0 {
            return Ok(());
        }
        let call = Call::new(&self.scripts.settle, &[self.keys.doc(room)]);
        let _: i64 = self.invoke(call).await?;
        Ok(())
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
        let mut xrange = cmd("XRANGE");
        xrange
            .arg(self.keys.inbox(room, participant))
            .arg(format!("{first}-0"))
            .arg("+")
            .arg("COUNT")
            .arg(limit);
        let entries: Vec<StreamEntry> = read(&self.conn, &xrange).await?;
        entries.into_iter().map(parse_entry).collect()
    }

    async fn inbox_head(&self, room: RoomId, participant: ParticipantId) -> StoreResult<u64> {
        let mut xrevrange = cmd("XREVRANGE");
        xrevrange
            .arg(self.keys.inbox(room, participant))
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1);
        let newest: Vec<StreamEntry> = read(&self.conn, &xrevrange).await?;
        newest.first().map_or(Ok(0), |(id, _)| entry_seq(id))
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
        let mut call = Call::new(
            &self.scripts.put_invite,
            &[self.keys.doc(room), self.keys.invites(room)],
        );
        call.arg(code_key).arg(live);
        let _: i64 = self.invoke(call).await?;
        Ok(())
    }

    async fn take_invite(&self, room: RoomId, code_key: &str) -> StoreResult<InviteTake> {
        let mut call = Call::new(&self.scripts.take_invite, &[self.keys.invites(room)]);
        call.arg(code_key);
        let before: Option<Vec<u8>> = self.invoke(call).await?;
        match before.as_deref() {
            None => Ok(InviteTake::Unknown),
            Some(b"-") => Ok(InviteTake::AlreadyUsed),
            Some([b'+', value @ ..]) => Ok(InviteTake::Taken(value.to_vec())),
            Some(_) => Err(corrupt("invite")),
        }
    }

    async fn incr_counter(&self, field: &str, by: i64) -> StoreResult<()> {
        let mut hincrby = cmd("HINCRBY");
        hincrby.arg(self.keys.counters()).arg(field).arg(by);
        let _: i64 = self.write(hincrby).await?;
        Ok(())
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

    async fn generation(&self, subject: &str) -> StoreResult<u64> {
        let mut conn = self.conn.clone();
        let key = self.keys.generations();
        within(async move {
            let gen: Option<u64> = cmd("HGET")
                .arg(key)
                .arg(subject)
                .query_async(&mut conn)
                .await?;
            Ok(gen.unwrap_or(0))
        })
        .await
    }

    async fn raise_generation(&self, subject: &str) -> StoreResult<u64> {
        let mut hincrby = cmd("HINCRBY");
        hincrby.arg(self.keys.generations()).arg(subject).arg(1);
        self.write(hincrby).await
    }

    /// Subscribes, then registers in the room's watchers, so another
    /// node's commit is published to us from then on.
    async fn watch(&self, room: RoomId) -> StoreResult<()> {
        self.out.watching(room, true);
        match &self.notifier {
            Notifier::Single(shared) => pubsub::watch(shared, &self.keys, room).await?,
            Notifier::Sharded(sharded) => sharded.watch(room).await?,
        }
        self.registrar.set(room, true).await?;
        Ok(())
    }

    async fn unwatch(&self, room: RoomId) -> StoreResult<()> {
        self.out.watching(room, false);
        // A registration left behind costs publishes, nothing else.
        let _ = self.registrar.set(room, false).await;
        match &self.notifier {
            Notifier::Single(shared) => pubsub::unwatch(shared, &self.keys, room).await,
            Notifier::Sharded(sharded) => sharded.unwatch(room).await,
        }
    }

    async fn signal(&self, room: RoomId, payload: Vec<u8>) -> StoreResult<()> {
        let mut message = self.head(KIND_SIGNAL);
        message.extend_from_slice(&payload);
        let mut conn = self.conn.clone();
        let channel = self.keys.channel(room);
        within(async move {
            let publish = match conn {
                Conn::Single(_) => "PUBLISH",
                Conn::Cluster(_) => "SPUBLISH",
            };
            let _: i64 = cmd(publish)
                .arg(channel)
                .arg(message)
                .query_async(&mut conn)
                .await?;
            Ok(())
        })
        .await
    }

    fn notifications(&self) -> mpsc::UnboundedReceiver<Notification> {
        self.out.add()
    }

    fn pubsub_reconnects(&self) -> u64 {
        self.out.reconnects.load(Ordering::Relaxed)
    }

    /// This node's own commits are announced to it from their replies.
    fn announces_in_process(&self) -> bool {
        true
    }
}
