//! A private Redis Cluster per test: six `redis-server --cluster-enabled
//! yes` on free ports (client and bus port both chosen, so nothing lands
//! above 65535), joined by `redis-cli --cluster create ... --cluster-replicas
//! 1` into three primaries with a replica each. A short node timeout
//! (1 s) makes a killed primary's replica take over within a few seconds.
//! Everything is killed and its directory removed when the
//! [`RedisCluster`] is dropped.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::free_port;
use crate::redis_server::private_dir;

const NODES: usize = 6;
const NODE_TIMEOUT_MS: u32 = 1000;
const READY_TIMEOUT: Duration = Duration::from_secs(30);
const CLI: &str = "redis-cli";

fn binary() -> String {
    std::env::var("REDIS_SERVER").unwrap_or_else(|_| "/usr/bin/redis-server".into())
}

struct Node {
    port: u16,
    bus: u16,
    dir: PathBuf,
    child: Option<Child>,
}

pub struct RedisCluster {
    nodes: Vec<Node>,
    dir: PathBuf,
}

/// A primary as `CLUSTER NODES` describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Primary {
    pub port: u16,
    /// Inclusive slot ranges.
    pub slots: Vec<(u16, u16)>,
}

impl RedisCluster {
    /// Starts the six nodes, creates the cluster and waits until every node
    /// says `cluster_state:ok` and every primary has its replica in sync.
    pub fn start() -> RedisCluster {
        let binary = binary();
        let dir = private_dir();
        let mut cluster = RedisCluster {
            nodes: Vec::new(),
            dir,
        };
        for i in 0..NODES {
            let node_dir = cluster.dir.join(format!("node{i}"));
            std::fs::create_dir_all(&node_dir).expect("a directory per node");
            cluster.nodes.push(start_node(&binary, &node_dir));
        }
        let addresses: Vec<String> = cluster
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let created = Command::new(CLI)
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .expect("redis-cli runs");
        assert!(
            created.status.success(),
            "redis-cli --cluster create failed: {}",
            String::from_utf8_lossy(&created.stdout)
        );
        cluster.wait_until_healthy();
        cluster
    }

    /// Every node's port, primaries and replicas alike.
    pub fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(|n| n.port).collect()
    }

    /// `REDIS_URL` for a relay: every node as a seed, comma-separated.
    pub fn url(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("redis://127.0.0.1:{}/", n.port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Runs `redis-cli -p <port> <args>` and returns its output.
    pub fn cli(&self, port: u16, args: &[&str]) -> String {
        let out = Command::new(CLI)
            .arg("-p")
            .arg(port.to_string())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("redis-cli runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The live primaries and their slots, as a running node sees them.
    pub fn primaries(&mut self) -> Vec<Primary> {
        let port = self.running_port();
        let mut primaries: Vec<Primary> = self
            .cli(port, &["CLUSTER", "NODES"])
            .lines()
            .filter_map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let flags = fields.get(2)?;
                if !flags.contains("master") || flags.contains("fail") {
                    return None;
                }
                let port = fields[1].split(['@', ':']).nth(1)?.parse().ok()?;
                let slots = fields[8..]
                    .iter()
                    .filter_map(|range| {
                        let (first, last) = range.split_once('-').unwrap_or((range, range));
                        Some((first.parse().ok()?, last.parse().ok()?))
                    })
                    .collect::<Vec<_>>();
                (!slots.is_empty()).then_some(Primary { port, slots })
            })
            .collect();
        primaries.sort_by_key(|p| p.port);
        primaries
    }

    /// The port of the primary that owns `slot` now.
    pub fn primary_of(&mut self, slot: u16) -> u16 {
        self.primaries()
            .into_iter()
            .find(|p| p.slots.iter().any(|(a, b)| (*a..=*b).contains(&slot)))
            .map(|p| p.port)
            .expect("every slot has a primary")
    }

    /// The slot of `key`, as Redis computes it.
    pub fn keyslot(&mut self, key: &str) -> u16 {
        let port = self.running_port();
        self.cli(port, &["CLUSTER", "KEYSLOT", key])
            .trim()
            .parse()
            .expect("CLUSTER KEYSLOT answers a number")
    }

    /// SIGKILL the node on `port`.
    pub fn kill(&mut self, port: u16) {
        if let Some(node) = self.nodes.iter_mut().find(|n| n.port == port) {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }

    /// Starts a killed node again with its own identity (`nodes.conf`): a
    /// primary that was failed over rejoins as its successor's replica.
    /// Returns once `primary` has it as an online replica again.
    pub fn restart(&mut self, port: u16, primary: u16) {
        let node = self
            .nodes
            .iter_mut()
            .find(|n| n.port == port)
            .expect("a node of this cluster");
        assert!(!node.running(), "restart: node {port} is still running");
        if let Err(e) = node.spawn(&binary()) {
            panic!("could not restart cluster node {port}: {e}");
        }
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let info = self.cli(primary, &["INFO", "replication"]);
            if info.contains("connected_slaves:1") && info.contains(",state=online,") {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "node {port} did not rejoin as a replica"
            );
            sleep(Duration::from_millis(100));
        }
    }

    /// Waits until `slot` is served by a primary other than `dead` and the
    /// cluster is `ok` again on every running node.
    pub fn wait_for_failover(&mut self, slot: u16, dead: u16) -> u16 {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let owner = self.primary_of_live(slot);
            if let Some(owner) = owner.filter(|p| *p != dead) {
                if self.all_ok() {
                    return owner;
                }
            }
            assert!(Instant::now() < deadline, "no failover of slot {slot}");
            sleep(Duration::from_millis(100));
        }
    }

    fn primary_of_live(&mut self, slot: u16) -> Option<u16> {
        let port = self.running_port();
        // After a failover the dead primary is flagged `fail`; until then it
        // still owns its slots.
        self.cli(port, &["CLUSTER", "NODES"]).lines().find_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let flags = fields.get(2)?;
            if !flags.contains("master") || flags.contains("fail") {
                return None;
            }
            let owns = fields[8..].iter().any(|range| {
                let (a, b) = range.split_once('-').unwrap_or((range, range));
                matches!((a.parse::<u16>(), b.parse::<u16>()), (Ok(a), Ok(b)) if (a..=b).contains(&slot))
            });
            owns.then(|| fields[1].split(['@', ':']).nth(1)?.parse().ok())?
        })
    }

    fn running_port(&mut self) -> u16 {
        self.nodes
            .iter_mut()
            .find_map(|n| n.running().then_some(n.port))
            .expect("a running node")
    }

    fn all_ok(&mut self) -> bool {
        let running: Vec<u16> = self
            .nodes
            .iter_mut()
            .filter_map(|n| n.running().then_some(n.port))
            .collect();
        running.iter().all(|port| {
            self.cli(*port, &["CLUSTER", "INFO"])
                .contains("cluster_state:ok")
        })
    }

    fn wait_until_healthy(&mut self) {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let primaries = self.primaries();
            let synced = primaries.len() == NODES / 2
                && primaries.iter().all(|p| {
                    let info = self.cli(p.port, &["INFO", "replication"]);
                    info.contains("connected_slaves:1") && info.contains(",state=online,")
                });
            if synced && self.all_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the cluster did not become healthy; see {}",
                self.dir.display()
            );
            sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start_node(binary: &str, dir: &Path) -> Node {
    let mut last_error = String::new();
    for _ in 0..5 {
        let (port, bus) = (free_port(), free_port());
        if port == bus {
            continue;
        }
        let mut node = Node {
            port,
            bus,
            dir: dir.to_path_buf(),
            child: None,
        };
        match node.spawn(binary) {
            Ok(()) => return node,
            Err(e) => last_error = e,
        }
        let _ = std::fs::remove_file(dir.join("nodes.conf"));
    }
    panic!("could not start a cluster node: {last_error}");
}

impl Node {
    fn running(&mut self) -> bool {
        matches!(self.child.as_mut().map(Child::try_wait), Some(Ok(None)))
    }

    fn spawn(&mut self, binary: &str) -> Result<(), String> {
        let log = self.dir.join("redis.log");
        let child = Command::new(binary)
            .arg("--port")
            .arg(self.port.to_string())
            .arg("--cluster-port")
            .arg(self.bus.to_string())
            .args(["--cluster-enabled", "yes"])
            .arg("--cluster-config-file")
            .arg(self.dir.join("nodes.conf"))
            .args(["--cluster-node-timeout", &NODE_TIMEOUT_MS.to_string()])
            // A replica may always take over, however long its link was down.
            .args(["--cluster-replica-validity-factor", "0"])
            // A replica's first sync starts at once, not after 5 s.
            .args(["--repl-diskless-sync-delay", "0"])
            .args(["--bind", "127.0.0.1", "--daemonize", "no"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .arg("--logfile")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("{binary}: {e}"))?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if !self.running() {
                break;
            }
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            sleep(Duration::from_millis(10));
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        Err(format!(
            "node on port {} did not start; see {}",
            self.port,
            log.display()
        ))
    }
}
