//! What one client may hold: sockets waiting for their `hello`, per client
//! address, and the request rate, per participant over all its connections
//! on this node. Without these, one client could take every connection
//! slot before authenticating, or multiply its rate by opening more sockets.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use protocol::ParticipantId;

/// A token bucket: `rate` per second, up to `burst` at once.
pub(super) struct RateLimit {
    tokens: f64,
    last: Instant,
    rate: f64,
    burst: f64,
}

impl RateLimit {
    fn new(rate: f64, burst: f64) -> Self {
        RateLimit {
            tokens: burst,
            last: Instant::now(),
            rate,
            burst,
        }
    }

    pub(super) fn allow(&mut self) -> bool {
        let now = Instant::now();
        self.tokens =
            (self.tokens + now.duration_since(self.last).as_secs_f64() * self.rate).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// A participant's bucket, shared by all its connections on this node.
pub(super) type Bucket = Arc<Mutex<RateLimit>>;

pub struct Admission {
    per_address: usize,
    waiting: Mutex<HashMap<IpAddr, usize>>,
    rate: f64,
    burst: f64,
    buckets: Mutex<Buckets>,
}

/// Buckets of participants with a live connection. Dead entries are swept
/// once the map has grown to `sweep_at`, so it stays about twice the live size.
struct Buckets {
    live: HashMap<ParticipantId, Weak<Mutex<RateLimit>>>,
    sweep_at: usize,
}

/// A socket waiting for its `hello`; gives its place back when dropped.
pub struct Waiting {
    admission: Arc<Admission>,
    addr: IpAddr,
}

impl Drop for Waiting {
    fn drop(&mut self) {
        let mut w = self.admission.waiting();
        if let Some(n) = w.get_mut(&self.addr) {
            *n -= 1;
            if *n == 0 {
                w.remove(&self.addr);
            }
        }
    }
}

impl Admission {
    pub fn new(per_address: usize, rate_per_sec: u32, burst: u32) -> Arc<Admission> {
        Arc::new(Admission {
            per_address,
            waiting: Mutex::new(HashMap::new()),
            rate: f64::from(rate_per_sec),
            burst: f64::from(burst),
            buckets: Mutex::new(Buckets {
                live: HashMap::new(),
                sweep_at: 64,
            }),
        })
    }

    fn waiting(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A place for one more socket from `addr` before its hello, if it has one left.
    pub fn wait_for_hello(self: &Arc<Self>, addr: IpAddr) -> Option<Waiting> {
        let mut w = self.waiting();
        let n = w.entry(addr).or_insert(0);
        if *n >= self.per_address {
            return None;
        }
        *n += 1;
        Some(Waiting {
            admission: self.clone(),
            addr,
        })
    }

    /// The rate bucket of `participant` on this node.
    pub(super) fn bucket(&self, participant: ParticipantId) -> Bucket {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(b) = buckets.live.get(&participant).and_then(Weak::upgrade) {
            return b;
        }
        if buckets.live.len() >= buckets.sweep_at {
            buckets.live.retain(|_, b| b.strong_count() > 0);
            buckets.sweep_at = 2 * buckets.live.len() + 64;
        }
        let b = Arc::new(Mutex::new(RateLimit::new(self.rate, self.burst)));
        buckets.live.insert(participant, Arc::downgrade(&b));
        b
    }
}

/// When a connection last heard from its peer: the reader marks every frame,
/// the writer's pings check it.
pub(super) struct Heard {
    start: Instant,
    millis: AtomicU64,
}

impl Heard {
    pub(super) fn new() -> Self {
        Heard {
            start: Instant::now(),
            millis: AtomicU64::new(0),
        }
    }

    pub(super) fn now(&self) {
        let ms = self.start.elapsed().as_millis() as u64;
        self.millis.store(ms, Ordering::Relaxed);
    }

    pub(super) fn silent_for(&self) -> Duration {
        let last = Duration::from_millis(self.millis.load(Ordering::Relaxed));
        self.start.elapsed().saturating_sub(last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_holds_only_so_many_sockets_before_hello() {
        let a = Admission::new(2, 1, 1);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let one = a.wait_for_hello(ip).unwrap();
        let _two = a.wait_for_hello(ip).unwrap();
        assert!(a.wait_for_hello(ip).is_none());
        assert!(a.wait_for_hello("192.0.2.2".parse().unwrap()).is_some());
        drop(one);
        assert!(a.wait_for_hello(ip).is_some());
    }

    #[test]
    fn a_participants_connections_share_one_bucket() {
        let a = Admission::new(1, 1, 3);
        let p = uuid::Uuid::new_v4();
        let (b1, b2) = (a.bucket(p), a.bucket(p));
        let allowed = (0..6)
            .filter(|i| if i % 2 == 0 { &b1 } else { &b2 }.lock().unwrap().allow())
            .count();
        assert_eq!(allowed, 3);
        assert!(a.bucket(uuid::Uuid::new_v4()).lock().unwrap().allow());
    }
}
