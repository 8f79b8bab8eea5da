//! What this node counts for `GET /metrics` (Prometheus text format).
//!
//! One `Metrics` per running relay, never a global: tests run several relays
//! in one process. Every label value is a fixed enumeration (a request kind,
//! a wire error code, a reason); none carries an id, a name or any content,
//! so a scrape reveals only aggregate activity. Handles are made once; an
//! increment is an atomic add, or a read-locked map lookup with `'static`
//! labels for the request counter, and never allocates after the first time
//! a label pair is seen.

use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::text::encode_registry;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use protocol::ErrorCode;

/// Labels of the request counter: `kind` from `protocol::Request::kind`,
/// `result` `ok` or a wire error code.
type RequestLabels = [(&'static str, &'static str); 2];
/// A single fixed-vocabulary label (`reason`).
type OneLabel = [(&'static str, &'static str); 1];

/// Why a request was refused before or without doing anything.
#[derive(Debug, Clone, Copy)]
pub enum Refusal {
    /// A websocket frame over the participant's rate.
    RateLimit,
    /// An action that would store more than the room's quota allows.
    Quota,
}

/// What is counted elsewhere and read at scrape time, costing the hot path nothing.
#[derive(Debug, Clone, Copy)]
pub struct Scraped {
    pub connections: usize,
    pub rooms_served: usize,
    pub pubsub_reconnects: u64,
}

pub struct Metrics {
    registry: Registry,
    connections: Gauge,
    rooms_served: Gauge,
    requests: Family<RequestLabels, Counter>,
    relays_delivered: Counter,
    commit_seconds: Histogram,
    commit_retries: Counter,
    store_errors: Counter,
    pubsub_reconnects: Counter,
    /// Serialises scrapes: each copies the store's reconnect count in.
    scrape: Mutex<()>,
    resyncs: Counter,
    refusals: Family<OneLabel, Counter>,
    replay_events: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut m = Metrics {
            registry: Registry::with_prefix("relay"),
            connections: Gauge::default(),
            rooms_served: Gauge::default(),
            requests: Family::default(),
            relays_delivered: Counter::default(),
            // 0.5 ms .. ~4 s: an in-memory commit to a slow Redis under load.
            commit_seconds: Histogram::new(exponential_buckets(0.0005, 2.0, 14)),
            commit_retries: Counter::default(),
            store_errors: Counter::default(),
            pubsub_reconnects: Counter::default(),
            scrape: Mutex::new(()),
            resyncs: Counter::default(),
            refusals: Family::default(),
            // 1 .. 4096 events; a replay is read in pages of 500.
            replay_events: Histogram::new(exponential_buckets(1.0, 2.0, 13)),
        };
        let registry = &mut m.registry;
        registry.register(
            "connections",
            "Open websocket connections on this node",
            m.connections.clone(),
        );
        registry.register(
            "rooms_served",
            "Rooms with at least one connection on this node",
            m.rooms_served.clone(),
        );
        registry.register(
            "requests",
            "Websocket requests by kind and result (ok or the wire error code)",
            m.requests.clone(),
        );
        registry.register(
            "relays_delivered",
            "Forwards delivered to their recipients",
            m.relays_delivered.clone(),
        );
        registry.register(
            "commit_seconds",
            "Time to commit one action to the store, retries included",
            m.commit_seconds.clone(),
        );
        registry.register(
            "commit_retries",
            "Commit attempts retried because what the action read had changed",
            m.commit_retries.clone(),
        );
        registry.register(
            "store_errors",
            "Actions that failed because the store was unavailable",
            m.store_errors.clone(),
        );
        registry.register(
            "pubsub_reconnects",
            "Times the store's notification connection was lost and re-established",
            m.pubsub_reconnects.clone(),
        );
        registry.register(
            "pubsub_resyncs",
            "Rooms told to re-read their inboxes after a lost notification connection",
            m.resyncs.clone(),
        );
        registry.register(
            "refusals",
            "Requests refused for rate or quota, by reason",
            m.refusals.clone(),
        );
        registry.register(
            "replay_events",
            "Events sent in one connection's replay (connect or resume)",
            m.replay_events.clone(),
        );
        m
    }

    /// The exposition, with what others count read just now: the hub's
    /// connections and rooms, and the store's reconnects.
    pub fn render(&self, now: Scraped) -> String {
        let _one = self.scrape.lock().unwrap_or_else(|e| e.into_inner());
        self.connections.set(now.connections as i64);
        self.rooms_served.set(now.rooms_served as i64);
        let seen = self.pubsub_reconnects.get();
        self.pubsub_reconnects
            .inc_by(now.pubsub_reconnects.saturating_sub(seen));
        let mut out = String::new();
        encode_registry(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }

    pub fn request(&self, kind: &'static str, result: Result<(), ErrorCode>) {
        let result = match result {
            Ok(()) => "ok",
            Err(code) => code.as_str(),
        };
        self.requests
            .get_or_create(&[("kind", kind), ("result", result)])
            .inc();
    }

    pub fn relays_delivered(&self, n: usize) {
        if n > 0 {
            self.relays_delivered.inc_by(n as u64);
        }
    }

    pub fn commit(&self, took: Duration) {
        self.commit_seconds.observe(took.as_secs_f64());
    }

    pub fn commit_retry(&self) {
        self.commit_retries.inc();
    }

    pub fn store_error(&self) {
        self.store_errors.inc();
    }

    pub fn resync(&self) {
        self.resyncs.inc();
    }

    pub fn refused(&self, why: Refusal) {
        let reason = match why {
            Refusal::RateLimit => "rate_limit",
            Refusal::Quota => "quota",
        };
        self.refusals.get_or_create(&[("reason", reason)]).inc();
    }

    pub fn replay(&self, events: u64) {
        self.replay_events.observe(events as f64);
    }
}
