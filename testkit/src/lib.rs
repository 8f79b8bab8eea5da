//! What the tests and the benchmark both start: a private `redis-server`
//! ([`redis_server`]) or Redis Cluster ([`redis_cluster`]), free ports,
//! and the relay binary. Standard library only, so the benchmark can use it without depending on the relay.

pub mod redis_cluster;
pub mod redis_server;

use std::collections::hash_map::RandomState;
use std::collections::BTreeSet;
use std::hash::{BuildHasher, Hasher};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

pub use redis_cluster::RedisCluster;
pub use redis_server::{Persistence, RedisServer};

/// A free TCP port on 127.0.0.1 (free now; someone may take it before you
/// bind). Chosen at random below the kernel's ephemeral range, never twice
/// in one process: the ephemeral range is where binding port 0 picks, and
/// where every outgoing connection takes its local port, so with browsers,
/// relays and Redis clients connecting all around, a port found free there
/// was sometimes taken before the relay meant for it could bind it.
pub fn free_port() -> u16 {
    static GIVEN: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    const LOW: u16 = 10_000;
    let high = ephemeral_start();
    if high <= LOW + 1_000 {
        return any_free_port();
    }
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let draw = RandomState::new().build_hasher().finish();
        let port = LOW + (draw % u64::from(high - LOW)) as u16;
        if !given.contains(&port) && TcpListener::bind(("127.0.0.1", port)).is_ok() {
            given.insert(port);
            return port;
        }
    }
}

/// A port the kernel picks (in its ephemeral range).
fn any_free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

/// The first port of the kernel's ephemeral range (Linux's default 32768
/// where it cannot be read).
fn ephemeral_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
}

/// The workspace's root folder.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The debug relay binary for tests. `cargo test --workspace` builds it
/// beside the test executables (the relay crate has an integration test),
/// with the same features as everything else, so no test rebuilds it. When
/// it is missing or older than the relay library it was linked from (say,
/// after `cargo test -p caucus-tests` alone), it is built once here.
pub fn relay_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().expect("the test knows its path");
        // target/<profile>/deps/<test> -> target/<profile>
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("tests run from target/<profile>/deps")
            .to_path_buf();
        let bin = profile_dir.join("relay");
        if !is_current(&bin, &profile_dir.join("deps")) {
            let mut build =
                Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
            build
                .args(["build", "-q", "-p", "relay", "--bin", "relay"])
                .current_dir(workspace_root());
            // Cargo set these for the test crate. Build scripts that watch
            // them (ring's does) would see them change between a build run
            // from a shell and this one, and rebuild the TLS stack each time.
            for (name, _) in std::env::vars_os() {
                let name = name.to_string_lossy();
                let prefixes = [
                    "CARGO_PKG_",
                    "CARGO_MANIFEST_",
                    "CARGO_CRATE_",
                    "CARGO_BIN_",
                    "CARGO_PRIMARY_",
                ];
                if prefixes.iter().any(|p| name.starts_with(p)) {
                    build.env_remove(name.as_ref());
                }
            }
            let status = build.status().expect("cargo runs");
            assert!(status.success(), "building the relay binary failed");
        }
        bin
    })
    .clone()
}

/// Is `bin` at least as new as every `librelay-*.rlib` in `deps`?
fn is_current(bin: &Path, deps: &Path) -> bool {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let Some(built) = modified(bin) else {
        return false;
    };
    let Ok(entries) = std::fs::read_dir(deps) else {
        return true;
    };
    entries.flatten().all(|e| {
        let name = e.file_name();
        let name = name.to_string_lossy();
        !(name.starts_with("librelay-") && name.ends_with(".rlib"))
            || modified(&e.path()).is_none_or(|lib| lib <= built)
    })
}
