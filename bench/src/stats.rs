//! Counters and latency histograms shared by every connection task.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

/// Latencies above this (in microseconds) are recorded as this.
const MAX_US: u64 = 120_000_000;

pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_US, 3).expect("static histogram bounds are valid")
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub struct Stats {
    pub epoch: Instant,
    /// The measured window, in ns since `epoch`: after the warm-up, before the end.
    pub from_ns: u64,
    pub to_ns: u64,
    pub sent: AtomicU64,
    pub sent_in_window: AtomicU64,
    pub delivered: AtomicU64,
    pub delivered_in_window: AtomicU64,
    errors: Mutex<BTreeMap<String, u64>>,
    measured: Mutex<Histogram<u64>>,
    /// Since the last progress line.
    recent: Mutex<Histogram<u64>>,
}

impl Stats {
    pub fn new(epoch: Instant, warmup: Duration, duration: Duration) -> Stats {
        Stats {
            epoch,
            from_ns: warmup.as_nanos() as u64,
            to_ns: (warmup + duration).as_nanos() as u64,
            sent: AtomicU64::new(0),
            sent_in_window: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            delivered_in_window: AtomicU64::new(0),
            errors: Mutex::new(BTreeMap::new()),
            measured: Mutex::new(histogram()),
            recent: Mutex::new(histogram()),
        }
    }

    pub fn ns(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.epoch).as_nanos() as u64
    }

    fn in_window(&self, ns: u64) -> bool {
        (self.from_ns..self.to_ns).contains(&ns)
    }

    pub fn sent(&self, sent_ns: u64) {
        self.sent.fetch_add(1, Ordering::Relaxed);
        if self.in_window(sent_ns) {
            self.sent_in_window.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A relayed message sent at `sent_ns` arrived now.
    pub fn delivered(&self, sent_ns: u64) {
        let now = self.ns(Instant::now());
        self.delivered.fetch_add(1, Ordering::Relaxed);
        if self.in_window(now) {
            self.delivered_in_window.fetch_add(1, Ordering::Relaxed);
        }
        let us = (now.saturating_sub(sent_ns) / 1000).clamp(1, MAX_US);
        if self.in_window(sent_ns) {
            let _ = lock(&self.measured).record(us);
        }
        let _ = lock(&self.recent).record(us);
    }

    pub fn error(&self, what: &str) {
        *lock(&self.errors).entry(what.to_string()).or_insert(0) += 1;
    }

    pub fn errors(&self) -> BTreeMap<String, u64> {
        lock(&self.errors).clone()
    }

    pub fn error_count(&self) -> u64 {
        lock(&self.errors).values().sum()
    }

    pub fn measured(&self) -> Latency {
        Latency::of(&lock(&self.measured))
    }

    /// The latencies since the last call.
    pub fn take_recent(&self) -> Latency {
        let mut h = lock(&self.recent);
        let l = Latency::of(&h);
        h.reset();
        l
    }
}

/// A latency summary in microseconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Latency {
    pub count: u64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    pub mean: f64,
}

impl Latency {
    pub fn of(h: &Histogram<u64>) -> Latency {
        if h.is_empty() {
            return Latency::default();
        }
        Latency {
            count: h.len(),
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
            mean: (h.mean() * 10.0).round() / 10.0,
        }
    }
}

/// Microseconds as a short human figure.
pub fn human_us(us: u64) -> String {
    if us >= 10_000 {
        format!("{:.0}ms", us as f64 / 1000.0)
    } else if us >= 1000 {
        format!("{:.1}ms", us as f64 / 1000.0)
    } else {
        format!("{us}µs")
    }
}
