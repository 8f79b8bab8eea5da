//! Small helpers every command shares: the error mapping, the time bound,
//! reads, and inbox stream entries.

use std::future::Future;

use redis::{Cmd, ErrorKind, FromRedisValue, Pipeline, RedisError, RedisResult};

use super::conn::Conn;

use crate::store::{Commit, StoreError, StoreResult, OP_TIMEOUT};

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

pub(super) fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("malformed {what} in redis"))
}

/// Bound an operation by [`OP_TIMEOUT`], so callers fail fast while Redis
/// is down instead of queueing behind a dead connection.
pub(super) async fn within<T>(op: impl Future<Output = StoreResult<T>>) -> StoreResult<T> {
    tokio::time::timeout(OP_TIMEOUT, op)
        .await
        .unwrap_or_else(|_| {
            Err(StoreError::Unavailable(
                "redis did not answer in time".into(),
            ))
        })
}

/// An inbox stream entry as XRANGE returns it: `(id, [field, value, ...])`.
pub(super) type StreamEntry = (String, Vec<Vec<u8>>);

pub(super) fn entry_seq(id: &str) -> StoreResult<u64> {
    id.strip_suffix("-0")
        .and_then(|seq| seq.parse().ok())
        .ok_or_else(|| corrupt("inbox entry id"))
}

pub(super) fn parse_entry((id, fields): StreamEntry) -> StoreResult<(u64, Vec<u8>)> {
    let seq = entry_seq(&id)?;
    let mut fields = fields.into_iter();
    match (fields.next(), fields.next(), fields.next()) {
        (Some(name), Some(payload), None) if name == b"e" => Ok((seq, payload)),
        _ => Err(corrupt("inbox entry")),
    }
}

/// A command, or commands pipelined in one round trip.
pub(super) trait Query: Sync {
    fn run<T: FromRedisValue>(
        &self,
        conn: &mut Conn,
    ) -> impl Future<Output = RedisResult<T>> + Send;
}

macro_rules! query_by_query_async {
    ($($t:ty),*) => {$(
        impl Query for $t {
            fn run<T: FromRedisValue>(
                &self,
                conn: &mut Conn,
            ) -> impl Future<Output = RedisResult<T>> + Send {
                self.query_async(conn)
            }
        }
    )*};
}
query_by_query_async!(Cmd, Pipeline);

/// Runs a read-only command (or pipeline). After Redis restarts, the first
/// command on the old connection fails (and makes the manager reconnect); a
/// read is safe to send again at once on the new connection, so a client
/// catching up after an outage is not turned away by a connection that is
/// already mended.
pub(super) async fn read<T: FromRedisValue>(conn: &Conn, query: &impl Query) -> StoreResult<T> {
    within(async {
        let mut first = conn.clone();
        match query.run(&mut first).await {
            Err(e) if e.is_connection_dropped() || e.is_io_error() => {
                let mut second = conn.clone();
                Ok(query.run(&mut second).await?)
            }
            other => Ok(other?),
        }
    })
    .await
}

/// An integer Redis returned as a bulk string (a hash field's value).
pub(super) fn parse_int(value: &[u8]) -> Result<i64, StoreError> {
    std::str::from_utf8(value)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| corrupt("integer field"))
}

/// A commit's counters as the commit script takes them: one
/// `(c:field, increment, ceiling)` triple per field, the counted fields
/// first (an increment counted twice is summed), then any field that only
/// has a ceiling (no increment). Beside them, for each of `counts` in its
/// order, the triple whose counter the reply returns for it. One triple
/// per field spares the script reading, parsing and matching a field twice.
pub(super) fn counter_triples(
    counts: Vec<(String, i64)>,
    limits: Vec<(String, i64)>,
) -> (Vec<CounterTriple>, Vec<usize>) {
    let mut triples: Vec<CounterTriple> = Vec::with_capacity(counts.len());
    let mut at = Vec::with_capacity(counts.len());
    for (field, by) in counts {
        let field = format!("c:{field}");
        match triples.iter().position(|t| t.0 == field) {
            Some(t) => {
                let sum = triples[t].1.unwrap_or(0).saturating_add(by);
                triples[t].1 = Some(sum);
                at.push(t);
            }
            None => {
                at.push(triples.len());
                triples.push((field, Some(by), None));
            }
        }
    }
    for (field, max) in limits {
        let field = format!("c:{field}");
        match triples.iter().position(|t| t.0 == field) {
            // Two ceilings on one field: the lower holds.
            Some(t) => triples[t].2 = Some(triples[t].2.map_or(max, |m| m.min(max))),
            None => triples.push((field, None, Some(max))),
        }
    }
    (triples, at)
}

/// A counter's field, increment and ceiling, as [`counter_triples`] gives them.
pub(super) type CounterTriple = (String, Option<i64>, Option<i64>);

/// About how many arguments, and bytes in them, the commit script is handed
/// for `commit` besides its keys (see `lua/commit.lua`), so its command can
/// be allocated once: the puts and the payloads are most of it.
pub(super) fn commit_size(commit: &Commit) -> (usize, usize) {
    let counters = commit.counts.len() + commit.limits.len();
    let reads = commit.reads.as_deref().unwrap_or_default();
    let args =
        8 + 2 * commit.puts.len() + 3 * counters + 2 * reads.len() + 2 * commit.deliveries.len();
    let puts: usize = commit.puts.iter().map(|(k, v)| k.len() + v.len()).sum();
    let payloads: usize = commit.deliveries.iter().map(|(_, p)| 17 + p.len()).sum();
    let read: usize = reads.iter().map(|(k, _)| k.len() + 20).sum();
    let doc = commit.doc.as_ref().map_or(0, Vec::len);
    (args, 128 + doc + puts + payloads + read + 64 * counters)
}

#[cfg(test)]
mod tests {
    use super::counter_triples;

    #[test]
    fn each_field_is_one_triple_counted_ones_first() {
        let s = |f: &str| f.to_string();
        let (triples, at) = counter_triples(
            vec![(s("room.m"), 1), (s("room.b"), 40), (s("room.m"), 2)],
            vec![(s("who.m"), 7), (s("room.b"), 1000)],
        );
        assert_eq!(
            triples,
            vec![
                (s("c:room.m"), Some(3), None),
                (s("c:room.b"), Some(40), Some(1000)),
                (s("c:who.m"), None, Some(7)),
            ]
        );
        assert_eq!(at, vec![0, 1, 0]);
    }
}
