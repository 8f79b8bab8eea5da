//! A private `redis-server` per test, so tests never touch a Redis someone
//! else uses (never the one on 6379) and can stop and restart theirs.
//!
//! The server listens on a free TCP port on 127.0.0.1 and on a unix socket
//! in its own temporary directory; it is killed and the directory removed
//! when the [`RedisServer`] is dropped. The binary is `/usr/bin/redis-server`
//! (Debian's `redis-server` package) unless `REDIS_SERVER` names another.

use std::io::{Read, Write};

use crate::free_port;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const DEFAULT_BINARY: &str = "/usr/bin/redis-server";
const START_TIMEOUT: Duration = Duration::from_secs(10);
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// What the server keeps on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Persistence {
    /// Nothing: a restart starts empty (`--save "" --appendonly no`).
    None,
    /// Every write is fsynced to the append-only file before it is
    /// acknowledged, so a SIGKILL loses nothing acknowledged.
    AppendOnly,
}

pub struct RedisServer {
    port: u16,
    dir: PathBuf,
    persistence: Persistence,
    child: Option<Child>,
}

impl RedisServer {
    /// A server without persistence.
    pub fn start() -> RedisServer {
        RedisServer::start_with(Persistence::None)
    }

    /// A server with `--appendonly yes --appendfsync always`, for tests that
    /// kill it and expect acknowledged writes back after a restart.
    pub fn start_durable() -> RedisServer {
        RedisServer::start_with(Persistence::AppendOnly)
    }

    pub fn start_with(persistence: Persistence) -> RedisServer {
        // The free port can be taken by someone else before redis binds it;
        // try a few.
        let mut last_error = String::new();
        for _ in 0..5 {
            let mut server = RedisServer {
                port: free_port(),
                dir: private_dir(),
                persistence,
                child: None,
            };
            match server.spawn() {
                Ok(()) => return server,
                Err(e) => last_error = e,
            }
        }
        panic!("could not start redis-server: {last_error}");
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:<port>/`
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// `redis+unix:///<dir>/redis.sock`
    pub fn unix_url(&self) -> String {
        format!("redis+unix://{}", self.socket_path().display())
    }

    pub fn socket_path(&self) -> PathBuf {
        self.dir.join("redis.sock")
    }

    /// The server's working directory (append-only file, log, socket).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(Child::try_wait), Some(Ok(None)))
    }

    /// SIGKILL: the server dies without writing anything more.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM: the server shuts down cleanly (it flushes the append-only
    /// file); falls back to SIGKILL if it takes too long.
    pub fn terminate(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if !matches!(child.try_wait(), Ok(None)) {
                return;
            }
            sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Start the server again on the same port and directory (with a durable
    /// server, on the same data). Panics if it is still running.
    pub fn restart(&mut self) {
        assert!(!self.is_running(), "restart: redis-server is still running");
        if let Err(e) = self.spawn() {
            panic!("could not restart redis-server on port {}: {e}", self.port);
        }
    }

    fn spawn(&mut self) -> Result<(), String> {
        let binary = std::env::var("REDIS_SERVER").unwrap_or_else(|_| DEFAULT_BINARY.into());
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("redis.log"))
            .map_err(|e| format!("log file: {e}"))?;
        let stderr = log.try_clone().map_err(|e| format!("log file: {e}"))?;
        let mut command = Command::new(&binary);
        command
            .arg("--port")
            .arg(self.port.to_string())
            .args(["--bind", "127.0.0.1", "--daemonize", "no", "--logfile", ""])
            .arg("--dir")
            .arg(&self.dir)
            .arg("--unixsocket")
            .arg(self.socket_path())
            .args(["--unixsocketperm", "700"]);
        match self.persistence {
            Persistence::None => command.args(["--save", "", "--appendonly", "no"]),
            Persistence::AppendOnly => command.args([
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ]),
        };
        let child = command
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("{binary}: {e}"))?;
        self.child = Some(child);

        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if !self.is_running() {
                self.child = None;
                return Err(format!(
                    "exited at start; see {}",
                    self.dir.join("redis.log").display()
                ));
            }
            if ping(self.port) {
                return Ok(());
            }
            sleep(Duration::from_millis(10));
        }
        self.kill();
        Err("did not answer PING in time".into())
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// True once the server answers PING (not while it is still loading data).
fn ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut reply = [0u8; 7];
    stream.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n"
}

pub(crate) fn private_dir() -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let dir = std::env::temp_dir().join(format!(
        "caucus-redis-{}-{nanos}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("a private directory for redis-server");
    dir
}
