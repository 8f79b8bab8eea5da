//! Command-line options. Every option is documented here, so `--help` is the manual.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

/// How connections are spread over several nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Spread {
    /// Connection `c` to node `c % nodes`: every room spans nodes, so each
    /// event crosses nodes through Redis (the hardest case).
    Connection,
    /// Room `r`'s connections all to node `r % nodes`, as a load balancer
    /// hashing the web client's `?room=` does (deploy/nginx.conf).
    Room,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// A fixed offered rate (`--rate` relays/s across all rooms), scheduled by
    /// the clock; latency counts from the scheduled send time, so a stalled
    /// relay cannot hide its delay (no coordinated omission).
    Open,
    /// Maximum throughput: each room keeps `--inflight` relays outstanding.
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StoreKind {
    /// The relay's default store: a durable SQLite file (one node only),
    /// in a fresh directory for the run.
    Embedded,
    /// The relay's in-memory store (`RELAY_EPHEMERAL`; one node only).
    Memory,
    /// Redis: a private redis-server started for the run, or `--redis-url`.
    Redis,
}

#[derive(Debug, Clone, Parser)]
#[command(
    name = "relay-bench",
    about = "Benchmark the Caucus relay with the real shuttle flow: parties send to their \
             private thread, the room's ombud forwards each message to another party, and \
             the time from the party's send to the other party's receipt is measured.",
    long_about = None,
    after_help = "Examples:\n  \
      relay-bench --smoke\n  \
      relay-bench --store redis --mode open --rate 5000 --rooms 100 --duration 20\n  \
      relay-bench --store redis --mode closed --inflight 8\n  \
      relay-bench --store redis --nodes 3 --mode closed\n  \
      relay-bench --idle-conns 10000\n  \
      relay-bench --resume-events 1000\n  \
      relay-bench --sweep 1000,2000,5000,10000 --sweep-out sweep.jsonl\n  \
      bench-chart --out docs/bench-latency.svg sweep.jsonl"
)]
pub struct Args {
    /// How load is offered.
    #[arg(long, value_enum, default_value_t = Mode::Open)]
    pub mode: Mode,
    /// Open mode: relays per second offered across all rooms.
    #[arg(long, default_value_t = 1000)]
    pub rate: u64,
    /// Closed mode: relays each room keeps outstanding (sent, not yet received).
    #[arg(long, default_value_t = 4)]
    pub inflight: usize,
    /// Rooms, each with one ombud connection and `--parties` party connections.
    #[arg(long, default_value_t = 100)]
    pub rooms: usize,
    /// Parties per room (at least 2); party i's messages are relayed to party i+1.
    #[arg(long, default_value_t = 2)]
    pub parties: usize,
    /// Share of rooms (0 to 1) created with `consent_required: true`; there the
    /// author auto-approves each `consent_requested`, adding a round trip.
    #[arg(long, default_value_t = 0.0)]
    pub consent_share: f64,
    /// Seconds of measured load (after the warm-up).
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds of load before measuring starts (not in the latency histogram).
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,
    /// Size of each party message body in bytes (the latency token included).
    #[arg(long, default_value_t = 100)]
    pub body_bytes: usize,
    /// Seconds to wait after the load stops for in-flight relays to arrive.
    #[arg(long, default_value_t = 30.0)]
    pub drain_timeout: f64,

    /// Store of the relays this run starts.
    #[arg(long, value_enum, default_value_t = StoreKind::Embedded)]
    pub store: StoreKind,
    /// With `--store redis`: use this Redis instead of starting a private
    /// redis-server (REDIS_SERVER names the binary, default /usr/bin/redis-server).
    #[arg(long)]
    pub redis_url: Option<String>,
    /// Relay processes to start; connections are spread over them as
    /// `--spread` says (more than one needs `--store redis`).
    #[arg(long, default_value_t = 1)]
    pub nodes: usize,
    /// With several nodes: spread connections one by one, or keep each
    /// room's on one node.
    #[arg(long, value_enum, default_value_t = Spread::Connection)]
    pub spread: Spread,
    /// The relay binary to run; default: the workspace's release build, built
    /// first with `cargo build --release -p relay`.
    #[arg(long)]
    pub relay_bin: Option<PathBuf>,
    /// Extra environment for the relays started, as KEY=VALUE (repeatable),
    /// e.g. `--relay-env RELAY_CLIENT_QUEUE=1024`.
    #[arg(long = "relay-env", value_name = "KEY=VALUE")]
    pub relay_env: Vec<String>,
    /// Benchmark an already running relay at this base URL (e.g.
    /// `http://127.0.0.1:8080`) instead of starting one; its RSS and CPU are
    /// not measured, and its rate limits must allow the load.
    #[arg(long, conflicts_with_all = ["relay_bin", "nodes", "redis_url"])]
    pub target: Option<String>,
    /// Ombud login as `username:password` (bootstrapped on relays this run starts).
    #[arg(long, default_value = "bench:bench-password-0123")]
    pub ombud: String,

    /// Instead of the load: open this many authenticated connections (rooms of
    /// one ombud and `--parties` parties), and report relay RSS per idle connection.
    #[arg(long)]
    pub idle_conns: Option<usize>,
    /// Idle mode: seconds to let the relay settle before each RSS reading.
    #[arg(long, default_value_t = 2.0)]
    pub idle_settle: f64,
    /// Instead of the load: a party is offline while this many events land in
    /// its inbox, then reconnects with `since`; the time until all of them
    /// arrived is reported.
    #[arg(long)]
    pub resume_events: Option<usize>,
    /// How many times the resume measurement is repeated.
    #[arg(long, default_value_t = 5)]
    pub resume_runs: usize,

    /// Open mode at each of these offered rates (comma-separated), a fresh
    /// relay (and Redis) per rate; one JSON line per rate is appended to `--sweep-out`.
    #[arg(long, value_delimiter = ',')]
    pub sweep: Vec<u64>,
    /// File the sweep appends its JSON lines to (see `bench-chart`).
    #[arg(long, default_value = "bench-sweep.jsonl")]
    pub sweep_out: PathBuf,

    /// A few seconds of small load on the embedded store that checks only
    /// that every relay sent was delivered (exit code 1 otherwise). Overrides
    /// the load options.
    #[arg(long)]
    pub smoke: bool,

    /// Spread client connections over this many source addresses
    /// (127.0.0.1, 127.0.0.2, ...) when one runs out of ephemeral ports.
    #[arg(long, default_value_t = 1)]
    pub source_addrs: u8,
    /// Concurrent REST calls and websocket handshakes while setting up.
    #[arg(long, default_value_t = 32)]
    pub setup_concurrency: usize,
    /// A free-text label copied into the JSON result (e.g. the series name for the chart).
    #[arg(long)]
    pub label: Option<String>,
    /// No progress line on stderr.
    #[arg(long)]
    pub quiet: bool,
}

impl Args {
    /// The smoke run's settings: small, short, both consent paths.
    pub fn smoke_settings(mut self) -> Args {
        self.smoke = true;
        self.mode = Mode::Open;
        self.rate = 200;
        self.rooms = 4;
        self.parties = 2;
        self.consent_share = 0.5;
        self.duration = 2.0;
        self.warmup = 0.5;
        self.store = StoreKind::Embedded;
        self.nodes = 1;
        self.redis_url = None;
        self.idle_conns = None;
        self.resume_events = None;
        self.sweep.clear();
        self
    }

    /// Checks what clap cannot; the message names the option.
    pub fn validate(&self) -> Result<(), String> {
        if self.parties < 2 {
            return Err("--parties must be at least 2 (a relay goes to another party)".into());
        }
        if self.rooms == 0 {
            return Err("--rooms must be at least 1".into());
        }
        if !(0.0..=1.0).contains(&self.consent_share) {
            return Err("--consent-share must be between 0 and 1".into());
        }
        if self.nodes == 0 {
            return Err("--nodes must be at least 1".into());
        }
        if self.nodes > 1 && self.store != StoreKind::Redis {
            return Err("--nodes above 1 needs --store redis".into());
        }
        if self.redis_url.is_some() && self.store != StoreKind::Redis {
            return Err("--redis-url needs --store redis".into());
        }
        if self.mode == Mode::Open && self.rate == 0 {
            return Err("--rate must be positive".into());
        }
        if self.mode == Mode::Closed && self.inflight == 0 {
            return Err("--inflight must be positive".into());
        }
        if self.duration <= 0.0 || self.warmup < 0.0 || self.drain_timeout < 0.0 {
            return Err(
                "--duration must be positive; --warmup and --drain-timeout not negative".into(),
            );
        }
        if self.body_bytes < 48 {
            return Err("--body-bytes must be at least 48 (room for the latency token)".into());
        }
        if self.source_addrs == 0 {
            return Err("--source-addrs must be at least 1".into());
        }
        if !self.ombud.contains(':') {
            return Err("--ombud must be username:password".into());
        }
        for kv in &self.relay_env {
            if !kv.contains('=') {
                return Err(format!("--relay-env {kv:?} must be KEY=VALUE"));
            }
        }
        Ok(())
    }
}
