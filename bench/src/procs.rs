//! The processes under test: relay nodes started as children (killed on
//! drop), a private redis-server, and what `/proc` says about their memory
//! and CPU time.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::args::{Args, StoreKind};
use crate::Error;

use caucus_testkit::free_port;
pub use caucus_testkit::RedisServer;

/// Fresh for each run and shared by every node it starts: tokens issued by
/// one must verify on the others, and they must read each other's data.
/// (The relay refuses secrets published anywhere, this repository included.)
fn run_secrets() -> (String, String) {
    use base64::Engine;
    let secret = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let key: Vec<u8> = [uuid::Uuid::new_v4(), uuid::Uuid::new_v4()]
        .iter()
        .flat_map(|u| *u.as_bytes())
        .collect();
    (
        secret,
        base64::engine::general_purpose::STANDARD.encode(key),
    )
}

/// Raises the soft open-files limit to the hard one, for this process and
/// the relays it starts (children inherit it). Returns the new limit.
pub fn raise_fd_limit() -> u64 {
    // SAFETY: getrlimit/setrlimit only read and write the struct passed in.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                return raised.rlim_cur;
            }
        }
        lim.rlim_cur
    }
}

/// Memory and CPU of one process, from `/proc/<pid>/status` and `/proc/<pid>/stat`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    pub rss_kib: u64,
    pub cpu_s: f64,
}

impl std::ops::Add for Usage {
    type Output = Usage;
    fn add(self, o: Usage) -> Usage {
        Usage {
            rss_kib: self.rss_kib + o.rss_kib,
            cpu_s: self.cpu_s + o.cpu_s,
        }
    }
}

pub fn usage(pid: u32) -> Option<Usage> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) close with ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 here.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Usage {
        rss_kib,
        cpu_s: ticks as f64 / clock_ticks(),
    })
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// This process's own CPU seconds (the load generator's cost).
pub fn own_cpu_s() -> f64 {
    usage(std::process::id()).map_or(0.0, |u| u.cpu_s)
}

/// 1, 5 and 15 minute load averages.
pub fn load_avg() -> [f64; 3] {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut it = text
        .split_whitespace()
        .map(|v| v.parse::<f64>().unwrap_or(0.0));
    [
        it.next().unwrap_or(0.0),
        it.next().unwrap_or(0.0),
        it.next().unwrap_or(0.0),
    ]
}

/// The Redis the relays use: started here, or someone else's.
pub enum Redis {
    Private(Box<RedisServer>),
    External(String),
}

impl Redis {
    pub fn start(args: &Args) -> Option<Redis> {
        if args.store != StoreKind::Redis {
            return None;
        }
        Some(match &args.redis_url {
            Some(url) => Redis::External(url.clone()),
            None => Redis::Private(Box::new(RedisServer::start())),
        })
    }

    pub fn url(&self) -> String {
        match self {
            Redis::Private(r) => r.url(),
            Redis::External(u) => u.clone(),
        }
    }

    /// The server's pid, if it runs on this machine (asked with `INFO server`).
    pub fn pid(&self) -> Option<u32> {
        let url = self.url();
        let hostport = url
            .strip_prefix("redis://")?
            .trim_end_matches('/')
            .rsplit('@')
            .next()?
            .to_string();
        if !(hostport.starts_with("127.") || hostport.starts_with("localhost")) {
            return None;
        }
        let mut s = TcpStream::connect(&hostport).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        s.write_all(b"INFO server\r\n").ok()?;
        let mut buf = vec![0u8; 64 * 1024];
        let mut got = 0;
        while got < buf.len() {
            match s.read(&mut buf[got..]) {
                Ok(0) | Err(_) => break,
                Ok(n) => got += n,
            }
            let text = String::from_utf8_lossy(&buf[..got]);
            if let Some(pid) = text
                .lines()
                .find_map(|l| l.strip_prefix("process_id:"))
                .and_then(|p| p.trim().parse().ok())
            {
                return Some(pid);
            }
        }
        None
    }
}

/// Commit counts from the relays' `/metrics`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Commits {
    pub committed: u64,
    pub retried: u64,
}

/// The value of an unlabelled sample in Prometheus text.
fn metric(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .filter_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .find_map(|v| v.trim().parse::<f64>().ok())
        .map(|v| v as u64)
}

/// Relay nodes started by the benchmark, or the one it was pointed at.
pub struct Relays {
    pub bases: Vec<String>,
    /// Each started node's `/metrics` address.
    metrics: Vec<String>,
    children: Vec<Child>,
    pub log_dir: Option<PathBuf>,
}

impl Relays {
    pub fn external(base: &str) -> Relays {
        Relays {
            bases: vec![base.trim_end_matches('/').to_string()],
            metrics: Vec::new(),
            children: Vec::new(),
            log_dir: None,
        }
    }

    pub fn pids(&self) -> Vec<u32> {
        self.children.iter().map(Child::id).collect()
    }

    /// Sum over every relay process this run started; `None` for `--target`.
    pub fn usage(&self) -> Option<Usage> {
        if self.children.is_empty() {
            return None;
        }
        self.pids()
            .into_iter()
            .map(usage)
            .try_fold(Usage::default(), |acc, u| Some(acc + u?))
    }

    /// Commit attempts that succeeded and that were retried after a
    /// conflict, summed over the started nodes (`/metrics`); `None` for
    /// `--target` or if a node does not answer.
    pub async fn commits(&self) -> Option<Commits> {
        if self.metrics.is_empty() {
            return None;
        }
        let http = reqwest::Client::new();
        let mut sum = Commits::default();
        for url in &self.metrics {
            let text = http.get(url).send().await.ok()?.text().await.ok()?;
            sum.committed += metric(&text, "relay_commit_seconds_count")?;
            sum.retried += metric(&text, "relay_commit_retries_total")?;
        }
        Some(sum)
    }

    /// Starts `args.nodes` relays (on free ports) and waits until each answers `/healthz`.
    pub async fn start(args: &Args, bin: &Path, redis: Option<&Redis>) -> Result<Relays, Error> {
        // One folder per start: two runs in one process (the smoke tests)
        // must not share logs or a data directory.
        let log_dir = std::env::temp_dir().join(format!(
            "relay-bench-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&log_dir)?;
        let (jwt_secret, data_key) = run_secrets();
        let mut relays = Relays {
            bases: Vec::new(),
            metrics: Vec::new(),
            children: Vec::new(),
            log_dir: Some(log_dir.clone()),
        };
        for node in 0..args.nodes {
            let port = free_port();
            let metrics = format!("127.0.0.1:{}", free_port());
            let log = std::fs::File::create(log_dir.join(format!("relay-{node}.log")))?;
            let mut cmd = Command::new(bin);
            cmd.env_clear()
                .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                .env("RELAY_ADDR", format!("127.0.0.1:{port}"))
                .env("RELAY_METRICS_ADDR", &metrics)
                .env("RUST_LOG", "warn")
                .env("RELAY_JWT_SECRET", &jwt_secret)
                .env("RELAY_BOOTSTRAP_OMBUD", &args.ombud)
                .env("RELAY_RATE_PER_SEC", "1000000")
                .env("RELAY_RATE_BURST", "1000000")
                .env("RELAY_MAX_CONNECTIONS", "100000")
                // The per-client limits are not what the benchmark measures:
                // it holds idle sockets without reading (no pongs), opens many
                // from one address, and fills rooms past their quotas.
                .env("RELAY_PING_SECS", "3600")
                .env("RELAY_MAX_UNAUTHENTICATED_PER_ADDRESS", "100000")
                .env("RELAY_ROOM_MAX_MESSAGES", "1000000000")
                .env("RELAY_ROOM_MAX_BYTES", "1000000000000")
                .env("RELAY_PARTICIPANT_MAX_MESSAGES", "1000000000")
                .env("RELAY_PARTICIPANT_MAX_BYTES", "1000000000000")
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log);
            match args.store {
                StoreKind::Embedded => {
                    cmd.env("RELAY_DATA_DIR", log_dir.join(format!("data-{node}")));
                }
                StoreKind::Memory => {
                    cmd.env("RELAY_EPHEMERAL", "true");
                }
                StoreKind::Redis => {}
            }
            if let Some(r) = redis {
                cmd.env("REDIS_URL", r.url())
                    .env("RELAY_DATA_KEY", &data_key)
                    .env("RELAY_REDIS_PREFIX", format!("bench{}", std::process::id()));
            }
            for kv in &args.relay_env {
                if let Some((k, v)) = kv.split_once('=') {
                    cmd.env(k, v);
                }
            }
            // SAFETY: the closure only calls prctl, which is async-signal-safe.
            // The relay dies with the thread that started it (a runtime
            // worker, alive for the whole run), so a killed benchmark leaves
            // no relay behind.
            unsafe {
                cmd.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    Ok(())
                });
            }
            let child = cmd
                .spawn()
                .map_err(|e| Error(format!("starting {}: {e}", bin.display())))?;
            relays.children.push(child);
            relays.bases.push(format!("http://127.0.0.1:{port}"));
            relays.metrics.push(format!("http://{metrics}/metrics"));
        }
        let http = reqwest::Client::new();
        for (i, base) in relays.bases.iter().enumerate() {
            let mut up = false;
            for _ in 0..400 {
                if let Some(Ok(Some(status))) = relays.children.get_mut(i).map(Child::try_wait) {
                    return Err(Error(format!(
                        "relay {i} exited at start ({status}); see {}",
                        log_dir.join(format!("relay-{i}.log")).display()
                    )));
                }
                if http
                    .get(format!("{base}/healthz"))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
                {
                    up = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            if !up {
                return Err(Error(format!("relay {i} on {base} did not come up")));
            }
        }
        Ok(relays)
    }
}

impl Drop for Relays {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Some(dir) = &self.log_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// The relay binary: `--relay-bin`, or the workspace's release build, (re)built first.
pub fn relay_binary(args: &Args) -> Result<PathBuf, Error> {
    if let Some(bin) = &args.relay_bin {
        return Ok(bin.clone());
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let bin = target.join("release").join("relay");
    // Always ask cargo: it is a no-op when the binary is current, and a stale
    // binary would measure old code.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let built = Command::new(cargo)
        .args(["build", "--release", "-q", "-p", "relay", "--bin", "relay"])
        .current_dir(&root)
        .status();
    match built {
        Ok(s) if s.success() => Ok(bin),
        _ if bin.exists() => {
            eprintln!(
                "relay-bench: could not rebuild the relay; using {}",
                bin.display()
            );
            Ok(bin)
        }
        _ => Err(Error(format!(
            "no relay binary at {}: run `cargo build --release -p relay` or pass --relay-bin",
            bin.display()
        ))),
    }
}
