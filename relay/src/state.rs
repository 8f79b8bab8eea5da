//! `AppState`: everything a handler may need, cheap to clone, passed with
//! axum's `State` extractor. Nothing global.

use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

use crate::admission::Admission;
use crate::auth::oidc::Oidc;
use crate::auth::{Accounts, Sessions};
use crate::config::Config;
use crate::hub::Hub;
use crate::metrics::Metrics;
use crate::service::Rooms;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub rooms: Arc<Rooms>,
    pub accounts: Arc<Accounts>,
    pub sessions: Arc<Sessions>,
    /// Sign-in with the institution, when configured.
    pub oidc: Option<Arc<Oidc>>,
    pub hub: Arc<Hub>,
    pub conn_limit: Arc<Semaphore>,
    /// Per-address and per-participant websocket limits.
    pub admission: Arc<Admission>,
    /// The front door's proof of work and creation limits.
    pub intake: Arc<crate::intake::Gate>,
    /// This node's counters, shared with `rooms` and `hub`.
    pub metrics: Arc<Metrics>,
    /// Cancelled at shutdown: every connection closes with 1012.
    pub cancel: CancellationToken,
    /// Tracks websocket tasks, which axum's graceful shutdown does not wait for.
    pub tracker: TaskTracker,
    pub node: Uuid,
}
