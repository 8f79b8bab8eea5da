//! Building and running the relay: the same code path for the binary and the
//! tests, which bind port 0 and read the real port back.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_http::set_header::SetResponseHeaderLayer;
use uuid::Uuid;

use crate::auth::oidc::Oidc;
use crate::auth::{Accounts, Sessions, Tokens};
use crate::config::{Config, Office};
use crate::hub::Hub;
use crate::metrics::{Metrics, Scraped};
use crate::node_secrets;
use crate::room::logic::Quotas;
use crate::seal::Sealer;
use crate::service::Rooms;
use crate::state::AppState;
use crate::store::file::FileStore;
use crate::store::memory::MemoryStore;
use crate::store::redis::{Durability, RedisOptions, RedisStore};
use crate::store::{Store, StoreError};

/// Why the relay could not start. Each message names the setting to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Config(String),
    #[error("REDIS_URL: {0}")]
    Redis(StoreError),
    #[error("RELAY_DATA_KEY: {0}")]
    DataKey(String),
    #[error("RELAY_DATA_DIR: {0}")]
    DataDir(String),
    #[error("RELAY_ADDR {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("setting up the ombud account: {0}")]
    Bootstrap(crate::error::Error),
}

/// How long shutdown waits for connections to say goodbye.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

const CSP: &str = "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

pub struct Application {
    listener: TcpListener,
    /// `RELAY_METRICS_ADDR`'s listener, serving only `/metrics`.
    metrics_listener: Option<TcpListener>,
    state: AppState,
}

/// A relay running in the background (tests and the benchmark).
pub struct Running {
    pub addr: SocketAddr,
    pub metrics_addr: Option<SocketAddr>,
    pub node: Uuid,
    stop: CancellationToken,
    handle: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Graceful stop: clients are told to reconnect, connections drain.
    pub async fn stop(self) -> std::io::Result<()> {
        self.stop.cancel();
        self.handle.await.map_err(std::io::Error::other)?
    }
}

impl Application {
    pub async fn build(config: Config) -> Result<Application, StartError> {
        config.validate().map_err(StartError::Config)?;
        let office = match &config.office_config {
            Some(path) => Office::load(path).map_err(StartError::Config)?,
            None => Office::default(),
        };
        let node = Uuid::new_v4();
        let mut config = config;
        let store = open_store(&mut config, node).await?;
        let sealer = Arc::new(sealer(&config)?);
        let oidc = Oidc::new(&config, &office.oidc, sealer.clone(), store.clone())
            .map_err(StartError::Config)?
            .map(Arc::new);
        let secret = match &config.jwt_secret {
            Some(s) => s.as_bytes().to_vec(),
            None => {
                tracing::warn!("RELAY_JWT_SECRET is not set: using a random secret; tokens will not survive a restart or work on other nodes");
                rand::random::<[u8; 32]>().to_vec()
            }
        };
        let metrics = Arc::new(Metrics::new());
        let intake = Arc::new(crate::intake::Gate::new(
            office.intake.clone(),
            sealer.clone(),
            store.clone(),
        ));
        let sweep_every =
            Duration::from_millis((office.intake.unclaimed_ms() / 2).clamp(1_000, 300_000) as u64);
        let rooms = Arc::new(Rooms::new(
            store.clone(),
            sealer.clone(),
            office,
            config.retention_hours,
            Quotas {
                room_messages: config.room_max_messages,
                room_bytes: config.room_max_bytes,
                participant_messages: config.participant_max_messages,
                participant_bytes: config.participant_max_bytes,
            },
            metrics.clone(),
        ));
        let accounts = Arc::new(Accounts::new(
            store.clone(),
            sealer.clone(),
            config.max_concurrent_hashes,
        ));
        bootstrap_accounts(&config, &accounts)
            .await
            .map_err(StartError::Bootstrap)?;
        let hub = Hub::new(
            store.clone(),
            sealer.clone(),
            config.client_queue,
            config.max_sockets_per_participant,
            metrics.clone(),
        );
        tokio::spawn(hub.clone().run(store.notifications()));
        let listener = TcpListener::bind(config.addr)
            .await
            .map_err(|source| StartError::Bind {
                addr: config.addr,
                source,
            })?;
        let metrics_listener = match config.metrics_addr {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .map_err(|source| StartError::Bind { addr, source })?,
            ),
            None => None,
        };
        let cancel = CancellationToken::new();
        tokio::spawn(crate::service::intake::sweeper(
            rooms.clone(),
            sweep_every,
            cancel.clone(),
        ));
        let state = AppState {
            intake,
            conn_limit: Arc::new(Semaphore::new(config.max_connections)),
            admission: crate::admission::Admission::new(
                config.max_unauthenticated_per_address,
                config.rate_per_sec,
                config.rate_burst,
            ),
            config: Arc::new(config),
            rooms,
            accounts,
            sessions: Arc::new(Sessions::new(Tokens::new(&secret), store)),
            oidc,
            hub,
            metrics,
            cancel,
            tracker: TaskTracker::new(),
            node,
        };
        Ok(Application {
            listener,
            metrics_listener,
            state,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Where `/metrics` is served, when `RELAY_METRICS_ADDR` is set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener
            .as_ref()
            .map(|l| l.local_addr().expect("a bound listener has an address"))
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub fn router(state: AppState) -> Router {
        let limit = state.config.max_frame_bytes;
        // The websocket route is mounted here, beside the REST routes, so
        // that `http` and `ws` stay independent of each other.
        crate::http::router()
            .route("/ws", axum::routing::get(crate::ws::upgrade))
            .layer(axum::extract::DefaultBodyLimit::max(limit))
            .layer(SetResponseHeaderLayer::overriding(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CSP),
            ))
            .layer(SetResponseHeaderLayer::overriding(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ))
            .layer(SetResponseHeaderLayer::overriding(
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ))
            .layer(SetResponseHeaderLayer::overriding(
                header::X_FRAME_OPTIONS,
                HeaderValue::from_static("DENY"),
            ))
            .with_state(state)
    }

    /// Serves until `shutdown` resolves, then closes every websocket with 1012
    /// ("reconnect") and waits for them to finish.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let state = self.state.clone();
        let cancel = state.cancel.clone();
        let router = Application::router(state.clone());
        tracing::info!(addr = %self.addr(), node = %state.node, "relay listening");
        let stop = cancel.clone();
        tokio::spawn(async move {
            shutdown.await;
            cancel.cancel();
        });
        let timeout = Duration::from_secs(state.config.http_timeout_secs);
        if let Some(listener) = self.metrics_listener {
            let metrics = Router::new()
                .route("/metrics", axum::routing::get(metrics))
                .with_state(state.clone());
            tracing::info!(addr = ?listener.local_addr(), "metrics listening");
            tokio::spawn(crate::serve::serve(
                listener,
                metrics,
                timeout,
                stop.clone(),
            ));
        }
        crate::serve::serve(self.listener, router, timeout, stop).await;
        state.tracker.close();
        if tokio::time::timeout(DRAIN_TIMEOUT, state.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("some connections did not close in time");
        }
        tracing::info!("relay stopped");
        Ok(())
    }

    /// Runs in the background; for tests and the benchmark.
    pub fn spawn(self) -> Running {
        let stop = CancellationToken::new();
        let addr = self.addr();
        let metrics_addr = self.metrics_addr();
        let node = self.state.node;
        let s = stop.clone();
        let handle = tokio::spawn(self.run_until(async move { s.cancelled().await }));
        Running {
            addr,
            metrics_addr,
            node,
            stop,
            handle,
        }
    }
}

/// The store `config` names: Redis, memory (`--ephemeral`) or the file
/// store, whose generated secrets then fill in those `config` lacks. Shared
/// by the server and `relay admin`, so both read the same accounts.
pub async fn open_store(config: &mut Config, node: Uuid) -> Result<Arc<dyn Store>, StartError> {
    Ok(match (&config.redis_url, &config.redis_ca_file) {
        (Some(url), ca_file) => {
            let ca_pem = match ca_file {
                Some(ca_file) => Some(std::fs::read(ca_file).map_err(|e| {
                    StartError::Config(format!("RELAY_REDIS_CA_FILE {}: {e}", ca_file.display()))
                })?),
                None => None,
            };
            let options = RedisOptions {
                cluster: config.redis_cluster,
                ca_pem,
                durability: Durability {
                    replicas: config.redis_wait_replicas,
                    timeout_ms: config.redis_wait_ms,
                },
            };
            Arc::new(
                RedisStore::open(url, &options, &config.redis_prefix, node)
                    .await
                    .map_err(StartError::Redis)?,
            )
        }
        (None, _) if config.ephemeral => Arc::new(MemoryStore::new()),
        (None, _) => {
            let dir = config.data_dir.clone();
            let store = tokio::task::spawn_blocking(move || FileStore::open(&dir))
                .await
                .map_err(|e| StartError::DataDir(e.to_string()))?
                .map_err(|e| StartError::DataDir(e.to_string()))?;
            fill_in_node_secrets(config)?;
            Arc::new(store)
        }
    })
}

/// The sealer for `RELAY_DATA_KEY` (and the keys it replaced), or a random
/// one when no key is set.
pub fn sealer(config: &Config) -> Result<Sealer, StartError> {
    match &config.data_key {
        Some(k) => Sealer::from_base64(k, &config.data_keys_previous).map_err(StartError::DataKey),
        None => Ok(Sealer::random()),
    }
}

/// On the embedded store, secrets not given come from the data directory
/// (generated there on first start), so a restart keeps tokens valid and
/// sealed data readable.
fn fill_in_node_secrets(config: &mut Config) -> Result<(), StartError> {
    if config.jwt_secret.is_some() && config.data_key.is_some() {
        return Ok(());
    }
    let (secrets, created) =
        node_secrets::load_or_create(&config.data_dir).map_err(StartError::DataDir)?;
    if created {
        // Printed, not logged: this is for the person starting the relay, once.
        println!(
            "Generated this node's secrets in {}: back it up with the database beside it, and keep it private.",
            config.data_dir.join(node_secrets::FILE).display()
        );
    }
    config.jwt_secret.get_or_insert(secrets.jwt_secret);
    config.data_key.get_or_insert(secrets.data_key);
    Ok(())
}

/// `RELAY_BOOTSTRAP_OMBUD`, or a generated one-time login when no ombud exists.
async fn bootstrap_accounts(config: &Config, accounts: &Accounts) -> crate::error::Result<()> {
    if let Some((user, pass)) = config
        .bootstrap_ombud
        .as_deref()
        .and_then(|b| b.split_once(':'))
    {
        accounts.upsert(user, pass).await?;
        tracing::info!("bootstrap ombud account ready");
    } else if accounts.count().await? == 0 {
        let password: String = {
            use rand::distributions::{Alphanumeric, DistString};
            Alphanumeric.sample_string(&mut rand::thread_rng(), 20)
        };
        accounts.upsert("ombud", &password).await?;
        // Printed, not logged: this is for the person starting the relay, once.
        println!("\nNo ombud account existed, so one was created.\n  username: ombud\n  password: {password}\nLog in at the relay's address; set RELAY_BOOTSTRAP_OMBUD=user:password to choose your own.\n");
    }
    Ok(())
}

/// `GET /metrics` on the metrics listener: this node's counters, with the
/// connection and room gauges read from the hub at scrape time.
async fn metrics(axum::extract::State(state): axum::extract::State<AppState>) -> Response {
    let (connections, rooms_served) = state.hub.served();
    let now = Scraped {
        connections,
        rooms_served,
        pubsub_reconnects: state.rooms.pubsub_reconnects(),
    };
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(now),
    )
        .into_response()
}
