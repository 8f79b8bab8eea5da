//! The command connection: one Redis behind a [`ConnectionManager`], or a
//! Redis Cluster behind redis-rs's [`ClusterConnection`], which routes each
//! command by its first key's slot and follows MOVED after a failover.
//! Everything above this file sends commands through [`Conn`] and does not
//! care which it is, except SCAN (one node at a time) and the replication
//! wait ([`Durability`]).

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::{cmd, pipe, Cmd, ErrorKind, FromRedisValue, Pipeline, RedisFuture, RedisResult, Value};

use super::scripts::Call;
use crate::store::{StoreError, StoreResult};

const SCAN_COUNT: usize = 1000;

#[derive(Clone)]
pub(super) enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(cmd, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// When a write counts as done: at once (`replicas == 0`), or once `WAIT`
/// says that many replicas hold it. `WAIT` must follow the write on the
/// same connection, so both go in one pipeline: on a cluster the pipeline
/// is routed by the write's key, to the primary that ran it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Durability {
    pub replicas: u32,
    pub timeout_ms: u64,
}

impl Durability {
    fn check(self, acked: u32) -> StoreResult<()> {
        if acked < self.replicas {
            return Err(StoreError::Unavailable(format!(
                "redis replicated the write to {acked} of {} replicas in time",
                self.replicas
            )));
        }
        Ok(())
    }
}

impl Conn {
    /// Runs a write and, if `durability` asks for replicas, waits for them.
    /// Too few replicas in time is [`StoreError::Unavailable`]: the write
    /// happened on the primary but is not acknowledged, so a failover could
    /// still lose it; the caller retries with the same idempotency key.
    pub(super) async fn write<T: FromRedisValue>(
        &mut self,
        command: &Cmd,
        durability: Durability,
    ) -> StoreResult<T> {
        let (reply, acked) = self.attempt(command, durability).await?;
        durability.check(acked)?;
        Ok(reply)
    }

    /// Runs a script as [`Conn::write`] does, loading it first where the
    /// node does not know it (a fresh or newly promoted one).
    pub(super) async fn invoke<T: FromRedisValue>(
        &mut self,
        call: &Call,
        durability: Durability,
    ) -> StoreResult<T> {
        let command = call.command();
        let (reply, acked) = match self.attempt(command, durability).await {
            Err(e) if e.kind() == ErrorKind::NoScriptError => {
                call.script.load_async(self).await?;
                self.attempt(command, durability).await?
            }
            other => other?,
        };
        durability.check(acked)?;
        Ok(reply)
    }

    async fn attempt<T: FromRedisValue>(
        &mut self,
        command: &Cmd,
        durability: Durability,
    ) -> RedisResult<(T, u32)> {
        if durability.replicas == 0 {
            return Ok((command.query_async(self).await?, 0));
        }
        let mut both = pipe();
        both.add_command(command.clone())
            .cmd("WAIT")
            .arg(durability.replicas)
            .arg(durability.timeout_ms);
        both.query_async(self).await
    }

    /// Every key matching `pattern`, on every primary.
    pub(super) async fn scan_all(&mut self, pattern: &str) -> RedisResult<Vec<String>> {
        let mut found = Vec::new();
        match self {
            Conn::Single(_) => found = scan(self, None, pattern).await?,
            Conn::Cluster(c) => {
                for (host, port) in primaries(c).await? {
                    let node =
                        RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress { host, port });
                    found.extend(scan(self, Some(node), pattern).await?);
                }
            }
        }
        // SCAN may return a key more than once.
        found.sort_unstable();
        found.dedup();
        Ok(found)
    }

    /// Every key matching `pattern`, which must only match keys in the
    /// slot of `key`: on a cluster, only that slot's primary is scanned.
    pub(super) async fn scan_slot(&mut self, key: &str, pattern: &str) -> RedisResult<Vec<String>> {
        let node = match self {
            Conn::Single(_) => None,
            Conn::Cluster(_) => Some(RoutingInfo::SingleNode(
                SingleNodeRoutingInfo::SpecificNode(Route::new(
                    slot(key.as_bytes()),
                    SlotAddr::Master,
                )),
            )),
        };
        let mut found = scan(self, node, pattern).await?;
        found.sort_unstable();
        found.dedup();
        Ok(found)
    }
}

async fn scan(
    conn: &mut Conn,
    node: Option<RoutingInfo>,
    pattern: &str,
) -> RedisResult<Vec<String>> {
    let mut found = Vec::new();
    let mut cursor = 0u64;
    loop {
        let mut scan = cmd("SCAN");
        scan.arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(SCAN_COUNT);
        let (next, keys): (u64, Vec<String>) = match (&mut *conn, &node) {
            (Conn::Cluster(c), Some(node)) => {
                FromRedisValue::from_owned_redis_value(c.route_command(&scan, node.clone()).await?)?
            }
            (conn, _) => scan.query_async(conn).await?,
        };
        found.extend(keys);
        if next == 0 {
            return Ok(found);
        }
        cursor = next;
    }
}

/// The primaries' addresses, from `CLUSTER SLOTS` on any node.
pub(super) async fn primaries(conn: &mut ClusterConnection) -> RedisResult<Vec<(String, u16)>> {
    let mut nodes: Vec<(String, u16)> = slot_ranges(conn)
        .await?
        .into_iter()
        .map(|(_, _, host, port)| (host, port))
        .collect();
    nodes.sort_unstable();
    nodes.dedup();
    Ok(nodes)
}

/// `(first slot, last slot, primary host, primary port)` per range.
pub(super) async fn slot_ranges(
    conn: &mut ClusterConnection,
) -> RedisResult<Vec<(u16, u16, String, u16)>> {
    let reply = conn
        .route_command(
            cmd("CLUSTER").arg("SLOTS"),
            RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random),
        )
        .await?;
    let ranges: Vec<Vec<Value>> = FromRedisValue::from_owned_redis_value(reply)?;
    let mut out = Vec::with_capacity(ranges.len());
    for range in ranges {
        let mut fields = range.into_iter();
        let (Some(first), Some(last), Some(primary)) =
            (fields.next(), fields.next(), fields.next())
        else {
            return Err((ErrorKind::TypeError, "CLUSTER SLOTS range").into());
        };
        let primary: Vec<Value> = FromRedisValue::from_owned_redis_value(primary)?;
        let [host, port, ..] = primary.as_slice() else {
            return Err((ErrorKind::TypeError, "CLUSTER SLOTS node").into());
        };
        let (host, port): (String, u16) = (
            FromRedisValue::from_redis_value(host)?,
            FromRedisValue::from_redis_value(port)?,
        );
        out.push((
            FromRedisValue::from_owned_redis_value(first)?,
            FromRedisValue::from_owned_redis_value(last)?,
            host,
            port,
        ));
    }
    Ok(out)
}

/// The Redis Cluster slot of `key` (CRC16/XMODEM of its hash tag, mod 16384).
pub(super) fn slot(key: &[u8]) -> u16 {
    let tagged = key
        .iter()
        .position(|&b| b == b'{')
        .and_then(|open| {
            let rest = &key[open + 1..];
            rest.iter()
                .position(|&b| b == b'}')
                .filter(|&close| close > 0)
                .map(|close| &rest[..close])
        })
        .unwrap_or(key);
    crc16_xmodem(tagged) % 16384
}

fn crc16_xmodem(bytes: &[u8]) -> u16 {
    let mut crc = 0u16;
    for &byte in bytes {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_follow_the_hash_tag() {
        // Values from the Redis Cluster specification and `CLUSTER KEYSLOT`.
        assert_eq!(crc16_xmodem(b"123456789"), 0x31C3);
        assert_eq!(slot(b"foo"), 12182);
        assert_eq!(slot(b"{user1000}.following"), slot(b"{user1000}.followers"));
        assert_eq!(slot(b"foo{}{bar}"), crc16_xmodem(b"foo{}{bar}") % 16384);
        assert_eq!(slot(b"foo{{bar}}zap"), slot(b"{bar"));
    }
}
