//! `relay-bench`: a load generator and benchmark for the Caucus relay.
//!
//! It drives the real shuttle flow over real sockets: rooms are created
//! through the REST API ([`api`]), every participant connects with `hello`
//! ([`conns`], [`wire`]), parties send to their private threads and each
//! room's ombud forwards every message to another party ([`load`]). The
//! latency of a relay is the time from the party's send (the scheduled time,
//! in open mode) to the other party's receipt of the relayed `message`;
//! [`stats`] keeps the histograms. [`procs`] starts the relay nodes (and a
//! private redis-server) and reads their memory and CPU from `/proc`;
//! [`idle`] and [`resume`] are the two other measurements; [`chart`] turns
//! sweep results into an SVG. [`run`] ties one run together and returns its
//! [`Report`], printed as one JSON line.

pub mod api;
pub mod args;
pub mod chart;
pub mod conns;
pub mod idle;
pub mod load;
pub mod procs;
pub mod resume;
pub mod stats;
pub mod wire;

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::args::{Args, Mode, Spread, StoreKind};
use crate::idle::{round2, round4, IdleReport};
use crate::procs::{Redis, Relays, Usage};
use crate::resume::ResumeReport;
use crate::stats::{human_us, Latency};

/// Why a run could not complete (a lost relay is not an error: see [`Report::ok`]).
#[derive(Debug)]
pub struct Error(pub String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

macro_rules! error_from {
    ($($t:ty),*) => {$(
        impl From<$t> for Error {
            fn from(e: $t) -> Self {
                Error(e.to_string())
            }
        }
    )*};
}
error_from!(
    std::io::Error,
    reqwest::Error,
    serde_json::Error,
    tokio_tungstenite::tungstenite::Error
);

/// The result of one run: printed as one JSON line.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// `load`, `idle` or `resume`.
    pub kind: &'static str,
    /// Every relay sent was delivered exactly once and no request failed.
    pub ok: bool,
    pub store: StoreKind,
    pub nodes: usize,
    /// How connections were spread over the nodes (`--spread`).
    pub spread: Spread,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    pub nproc: usize,
    pub load_avg_start: [f64; 3],
    pub load_avg_end: [f64; 3],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load: Option<LoadReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle: Option<IdleReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resume: Option<ResumeReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis_rss_kib: Option<u64>,
    /// Redis CPU seconds over the whole run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis_cpu_s: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    pub mode: Mode,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offered_rate: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inflight: Option<usize>,
    pub rooms: usize,
    pub parties: usize,
    pub connections: usize,
    pub consent_share: f64,
    pub body_bytes: usize,
    pub warmup_s: f64,
    pub duration_s: f64,
    /// Sends started in the measured window, per second.
    pub sent_per_sec: f64,
    /// Relayed messages received in the measured window, per second.
    pub relays_per_sec: f64,
    /// Of relays sent in the measured window, in microseconds.
    pub latency_us: Latency,
    pub sent: u64,
    pub delivered: u64,
    /// Seconds from the end of the load until every relay had arrived.
    pub drain_s: f64,
    pub errors: BTreeMap<String, u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relay_rss_kib: Option<u64>,
    /// Relay RSS with the rooms set up, before any websocket opened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relay_rss_before_conns_kib: Option<u64>,
    /// `relay_rss_kib / connections`: includes every event the store holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relay_rss_per_conn_kib: Option<f64>,
    /// Relay CPU seconds (user + system, all nodes) in the measured window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relay_cpu_s: Option<f64>,
    /// Redis CPU seconds in the measured window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis_window_cpu_s: Option<f64>,
    /// This load generator's CPU seconds in the measured window.
    pub bench_cpu_s: f64,
    /// Commits made while the load ran (warm-up and drain included), all
    /// nodes, from their `/metrics`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commits: Option<u64>,
    /// Commit attempts retried after a conflict in the same span.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit_retries: Option<u64>,
    /// `commit_retries` over all attempts (`commits + commit_retries`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_share: Option<f64>,
}

/// Runs what `args` asks for (load, idle connections, resume) and reports it.
pub async fn run(args: Args) -> Result<Report, Error> {
    let args = if args.smoke {
        args.smoke_settings()
    } else {
        args
    };
    args.validate().map_err(Error)?;
    procs::raise_fd_limit();
    let load_avg_start = procs::load_avg();
    let redis = match &args.target {
        Some(_) => None,
        None => {
            let a = args.clone();
            tokio::task::spawn_blocking(move || Redis::start(&a))
                .await
                .map_err(|e| Error(format!("starting redis-server: {e}")))?
        }
    };
    let redis_pid = redis.as_ref().and_then(Redis::pid);
    let relays = match &args.target {
        Some(t) => Relays::external(t),
        None => {
            let a = args.clone();
            let bin = tokio::task::spawn_blocking(move || procs::relay_binary(&a))
                .await
                .map_err(|e| Error(format!("building the relay: {e}")))??;
            Relays::start(&args, &bin, redis.as_ref()).await?
        }
    };
    let api = api::Api::new();
    let token = api.login(&relays.bases[0], &args.ombud).await?;

    let mut report = Report {
        label: args.label.clone(),
        kind: "load",
        ok: true,
        store: args.store,
        nodes: relays.bases.len(),
        spread: args.spread,
        target: args.target.clone(),
        nproc: std::thread::available_parallelism().map_or(1, |n| n.get()),
        load_avg_start,
        load_avg_end: [0.0; 3],
        load: None,
        idle: None,
        resume: None,
        redis_rss_kib: None,
        redis_cpu_s: None,
    };
    if args.idle_conns.is_some() || args.resume_events.is_some() {
        if let Some(n) = args.idle_conns {
            report.kind = "idle";
            report.idle = Some(idle::run(&args, &relays, &api, &token, n).await?);
        }
        if let Some(n) = args.resume_events {
            report.kind = if report.idle.is_some() {
                "idle+resume"
            } else {
                "resume"
            };
            report.resume = Some(resume::run(&args, &relays, &api, &token, n).await?);
        }
    } else {
        let load = run_load(&args, &relays, &api, &token, redis_pid).await?;
        report.ok = load.sent == load.delivered && load.errors.is_empty();
        report.load = Some(load);
    }
    if let Some(u) = redis_pid.and_then(procs::usage) {
        report.redis_rss_kib = Some(u.rss_kib);
        report.redis_cpu_s = Some(round2(u.cpu_s));
    }
    report.load_avg_end = procs::load_avg();
    drop(relays);
    drop(redis);
    Ok(report)
}

async fn run_load(
    args: &Args,
    relays: &Relays,
    api: &api::Api,
    token: &str,
    redis_pid: Option<u32>,
) -> Result<LoadReport, Error> {
    let quiet = args.quiet;
    let t0 = Instant::now();
    let rooms = api::setup_rooms(
        api,
        &relays.bases,
        token,
        args.rooms,
        args.parties,
        args.consent_share,
        args.setup_concurrency,
    )
    .await?;
    let rss_before = relays.usage().map(|u| u.rss_kib);
    let place = conns::Placement {
        bases: &relays.bases,
        source_addrs: args.source_addrs,
        spread: args.spread,
    };
    let opened = conns::connect_rooms(&place, rooms, token, args.setup_concurrency).await?;
    let connections = opened.len() * (args.parties + 1);
    if !quiet {
        eprintln!(
            "relay-bench: {} rooms, {connections} connections ready in {:.1}s; load for {}s + {}s warm-up",
            opened.len(),
            t0.elapsed().as_secs_f64(),
            args.duration,
            args.warmup
        );
    }

    let commits_before = relays.commits().await;
    let load = load::Load::start(args, opened);
    let stats = load.stats.clone();
    let window_start = load.start + Duration::from_secs_f64(args.warmup);
    let mut at_window_start: Option<(Option<Usage>, Option<Usage>, f64)> = None;
    let mut at_window_end: Option<(Option<Usage>, Option<Usage>, f64)> = None;
    let snapshot = || {
        (
            relays.usage(),
            redis_pid.and_then(procs::usage),
            procs::own_cpu_s(),
        )
    };
    let mut tick = tokio::time::interval_at(
        (load.start + Duration::from_secs(1)).into(),
        Duration::from_secs(1),
    );
    let mut last = (
        Instant::now(),
        0u64,
        relays.usage().map_or(0.0, |u| u.cpu_s),
    );
    let drain_deadline = load.until + Duration::from_secs_f64(args.drain_timeout);
    let mut drained_at = None;
    loop {
        let now = Instant::now();
        if at_window_start.is_none() && now >= window_start {
            at_window_start = Some(snapshot());
        }
        if at_window_end.is_none() && now >= load.until {
            at_window_end = Some(snapshot());
        }
        let sent = stats.sent.load(Ordering::Relaxed);
        let delivered = stats.delivered.load(Ordering::Relaxed);
        if now >= load.until && delivered >= sent {
            drained_at = Some(now);
            break;
        }
        if now >= drain_deadline {
            break;
        }
        let wake = if now < window_start {
            window_start
        } else if now < load.until {
            load.until
        } else {
            now + Duration::from_millis(20)
        };
        tokio::select! {
            _ = tick.tick() => {
                if !quiet {
                    progress(&stats, &load, window_start, relays, &mut last);
                }
            }
            _ = tokio::time::sleep_until(wake.into()) => {}
        }
    }
    let end = at_window_end.unwrap_or_else(snapshot);
    let start = at_window_start.unwrap_or(end);
    let sent = stats.sent.load(Ordering::Relaxed);
    let delivered = stats.delivered.load(Ordering::Relaxed);
    let drain_s = drained_at.map_or(args.drain_timeout, |d| {
        d.saturating_duration_since(load.until).as_secs_f64()
    });
    load.stop().await;
    let commits = match (commits_before, relays.commits().await) {
        (Some(a), Some(b)) => Some((
            b.committed.saturating_sub(a.committed),
            b.retried.saturating_sub(a.retried),
        )),
        _ => None,
    };
    let window = args.duration;
    let relay_rss = end.0.map(|u| u.rss_kib);
    Ok(LoadReport {
        mode: args.mode,
        offered_rate: (args.mode == Mode::Open).then_some(args.rate),
        inflight: (args.mode == Mode::Closed).then_some(args.inflight),
        rooms: args.rooms,
        parties: args.parties,
        connections,
        consent_share: args.consent_share,
        body_bytes: args.body_bytes,
        warmup_s: args.warmup,
        duration_s: args.duration,
        sent_per_sec: round2(stats.sent_in_window.load(Ordering::Relaxed) as f64 / window),
        relays_per_sec: round2(stats.delivered_in_window.load(Ordering::Relaxed) as f64 / window),
        latency_us: stats.measured(),
        sent,
        delivered,
        drain_s: round2(drain_s),
        errors: stats.errors(),
        relay_rss_kib: relay_rss,
        relay_rss_before_conns_kib: rss_before,
        relay_rss_per_conn_kib: relay_rss.map(|r| round2(r as f64 / connections as f64)),
        relay_cpu_s: match (start.0, end.0) {
            (Some(a), Some(b)) => Some(round2(b.cpu_s - a.cpu_s)),
            _ => None,
        },
        redis_window_cpu_s: match (start.1, end.1) {
            (Some(a), Some(b)) => Some(round2(b.cpu_s - a.cpu_s)),
            _ => None,
        },
        bench_cpu_s: round2(end.2 - start.2),
        commits: commits.map(|c| c.0),
        commit_retries: commits.map(|c| c.1),
        retry_share: commits.map(|(c, r)| round4(r as f64 / (c + r).max(1) as f64)),
    })
}

/// One line on stderr: where the run is and how the last second went.
fn progress(
    stats: &stats::Stats,
    load: &load::Load,
    window_start: Instant,
    relays: &Relays,
    last: &mut (Instant, u64, f64),
) {
    let now = Instant::now();
    let phase = if now < window_start {
        "warm-up"
    } else if now < load.until {
        "measure"
    } else {
        "drain"
    };
    let sent = stats.sent.load(Ordering::Relaxed);
    let delivered = stats.delivered.load(Ordering::Relaxed);
    let secs = now.duration_since(last.0).as_secs_f64().max(1e-3);
    let rate = (delivered - last.1.min(delivered)) as f64 / secs;
    let recent = stats.take_recent();
    let usage = relays.usage();
    let cpu = usage.map_or(String::new(), |u| {
        format!(
            " relay {:.0} MiB cpu {:.0}%",
            u.rss_kib as f64 / 1024.0,
            (u.cpu_s - last.2) / secs * 100.0
        )
    });
    eprintln!(
        "[{:5.1}s {phase:7}] sent {sent} delivered {delivered} ({rate:.0}/s) p50 {} p99 {} max {} errors {}{cpu}",
        now.saturating_duration_since(load.start).as_secs_f64(),
        human_us(recent.p50),
        human_us(recent.p99),
        human_us(recent.max),
        stats.error_count(),
    );
    *last = (now, delivered, usage.map_or(last.2, |u| u.cpu_s));
}
