//! Starting relays for tests: in-process on port 0 (each with its own
//! embedded store), or as the real binary when a test must kill it.

use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use relay::config::Config;
use relay::startup::{Application, Running};
use serde_json::json;

use crate::client::{Api, Ws};

pub const OMBUD: (&str, &str) = ("ombud", "correct horse battery");

pub struct TestRelay {
    pub api: Api,
    pub running: Running,
    accounts: std::sync::Arc<relay::auth::Accounts>,
}

impl TestRelay {
    pub fn ws_url(&self) -> String {
        self.api.ws_url()
    }
}

/// Quiet unless TEST_LOG is set.
fn init_logs() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            let _ = tracing_subscriber::fmt()
                .with_env_filter("debug")
                .with_test_writer()
                .try_init();
        }
    });
}

pub async fn spawn_relay() -> TestRelay {
    spawn_relay_with(|_| {}).await
}

pub async fn spawn_relay_with(tweak: impl FnOnce(&mut Config)) -> TestRelay {
    init_logs();
    let mut config = Config::for_tests();
    tweak(&mut config);
    let app = Application::build(config).await.expect("relay builds");
    let accounts = app.state().accounts.clone();
    let running = app.spawn();
    TestRelay {
        api: Api::new(&format!("http://{}", running.addr)),
        running,
        accounts,
    }
}

/// A room with one ombud and two joined parties, all connected and past the notice.
pub struct Shuttle {
    pub api: Api,
    pub ws_url: String,
    pub ombud_token: String,
    pub room: String,
    pub a: (String, String),
    pub b: (String, String),
    pub ombud: Ws,
    pub pa: Ws,
    pub pb: Ws,
}

impl Shuttle {
    pub async fn open(api: &Api, room_settings: serde_json::Value) -> Shuttle {
        let ombud_token = api.login(OMBUD.0, OMBUD.1).await;
        let room = api.create_room(&ombud_token, room_settings).await;
        let a = api
            .add_joined_party(&ombud_token, &room, "Alice Émile")
            .await;
        let b = api.add_joined_party(&ombud_token, &room, "Bob").await;
        let ws_url = api.ws_url();
        let mut ombud = Ws::connect(&ws_url, json!({"token": ombud_token, "room_id": room})).await;
        ombud.drain_replay().await;
        let mut pa = Ws::connect(&ws_url, json!({"token": a.1})).await;
        let mut pb = Ws::connect(&ws_url, json!({"token": b.1})).await;
        pa.ok(json!({"type": "acknowledge_notice"})).await;
        pb.ok(json!({"type": "acknowledge_notice"})).await;
        pa.drain_replay().await;
        pb.drain_replay().await;
        // The two notice acknowledgements.
        ombud.event_of("notice_acknowledged").await;
        ombud.event_of("notice_acknowledged").await;
        Shuttle {
            api: api.clone(),
            ws_url,
            ombud_token,
            room,
            a,
            b,
            ombud,
            pa,
            pb,
        }
    }

    pub fn chan_a(&self) -> String {
        format!("private:{}", self.a.0)
    }

    pub fn chan_b(&self) -> String {
        format!("private:{}", self.b.0)
    }
}

pub use caucus_testkit::{free_port, relay_binary};

/// Where Debian's libfaketime lives (`LIBFAKETIME` overrides).
pub fn libfaketime() -> String {
    if let Ok(path) = std::env::var("LIBFAKETIME") {
        return path;
    }
    let found = std::fs::read_dir("/usr/lib").ok().and_then(|dirs| {
        dirs.flatten()
            .map(|d| d.path().join("faketime/libfaketime.so.1"))
            .find(|p| p.exists())
    });
    found
        .unwrap_or_else(|| {
            panic!("libfaketime not found: install Debian's `faketime` package (apt-get install faketime), or set LIBFAKETIME")
        })
        .display()
        .to_string()
}

/// A relay process; killed on drop.
pub struct RelayProcess {
    pub child: Child,
    pub api: Api,
    pub port: u16,
}

impl RelayProcess {
    /// Starts the binary on `port` with `env`, and waits for /healthz.
    pub async fn start(port: u16, env: &[(&str, String)]) -> RelayProcess {
        let mut cmd = Command::new(relay_binary());
        cmd.env_clear()
            .env("RELAY_ADDR", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(if std::env::var_os("TEST_LOG").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            });
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("relay starts");
        // Owned by the guard from here on, so the process is reaped whatever happens.
        let process = RelayProcess {
            child,
            api: Api::new(&format!("http://127.0.0.1:{port}")),
            port,
        };
        for _ in 0..200 {
            if reqwest::get(format!("{}/healthz", process.api.base))
                .await
                .is_ok()
            {
                return process;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("relay on port {port} did not come up");
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RelayProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

impl TestRelay {
    /// The relay's ombud accounts, for test set-up that has no API (extra ombud accounts).
    pub fn accounts(&self) -> std::sync::Arc<relay::auth::Accounts> {
        self.accounts.clone()
    }
}
