//! Connecting: one Redis (a `ConnectionManager` and one pub/sub
//! connection) or a Redis Cluster (redis-rs's cluster connection and the
//! sharded subscriber), as [`RedisOptions`] say.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::{Client, IntoConnectionInfo, TlsCertificates};
use tokio::sync::Mutex as AsyncMutex;
use uuid::Uuid;

use super::conn::{Conn, Durability};
use super::keys::KeySpace;
use super::ops::within;
use super::pubsub::{run_subscriber, subscribe_all, Listeners, Shared, Subscriptions};
use super::sharded::{NodeClients, Sharded};
use super::watchers::Registrar;
use super::{scripts, Notifier, RedisStore};
use crate::store::{StoreError, StoreResult, OP_TIMEOUT};

/// Connecting may take at most this long; a refused connection fails at once.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// How to reach Redis, beyond its URL.
#[derive(Clone, Debug, Default)]
pub struct RedisOptions {
    /// The URL names one or more comma-separated seed nodes of a Redis
    /// Cluster (any node will do; the rest are discovered).
    pub cluster: bool,
    /// Trust only these certificate authorities (PEM) for `rediss://`.
    pub ca_pem: Option<Vec<u8>>,
    pub durability: Durability,
}

impl RedisStore {
    /// Connect to one Redis at `url` (`redis://host:port`, `rediss://host:port`
    /// trusting the system's certificate authorities, `redis+unix:///path`
    /// or `unix:///path`). `prefix` namespaces every key; it must not contain
    /// braces, which would steal the room's hash tag. `node_id` goes into
    /// every notification this node publishes.
    pub async fn connect(url: &str, prefix: &str, node_id: Uuid) -> StoreResult<RedisStore> {
        Self::open(url, &RedisOptions::default(), prefix, node_id).await
    }

    /// Connect over TLS (`rediss://host:port`), trusting only the
    /// certificate authorities in `ca_pem` (PEM), not the system's: a
    /// deployment's Redis usually has a private CA, and skipping
    /// verification would leave the link open to whoever sits on the path.
    pub async fn connect_tls(
        url: &str,
        ca_pem: &[u8],
        prefix: &str,
        node_id: Uuid,
    ) -> StoreResult<RedisStore> {
        let options = RedisOptions {
            ca_pem: Some(ca_pem.to_vec()),
            ..RedisOptions::default()
        };
        Self::open(url, &options, prefix, node_id).await
    }

    /// Connect as `options` say: one Redis or a cluster, with or without a
    /// private CA and a replication wait.
    pub async fn open(
        url: &str,
        options: &RedisOptions,
        prefix: &str,
        node_id: Uuid,
    ) -> StoreResult<RedisStore> {
        if prefix.contains(['{', '}']) {
            return Err(StoreError::Config(format!(
                "redis key prefix {prefix:?} must not contain braces"
            )));
        }
        let seeds: Vec<&str> = url.split(',').map(str::trim).collect();
        if options.ca_pem.is_some() && !seeds.iter().all(|u| u.starts_with("rediss://")) {
            return Err(StoreError::Config(
                "a CA file is for TLS: the redis url must start with rediss://".into(),
            ));
        }
        if seeds.len() > 1 && !options.cluster {
            return Err(StoreError::Config(
                "several redis urls name the seeds of a cluster; turn cluster mode on".into(),
            ));
        }
        let certs = options.ca_pem.as_ref().map(|ca| TlsCertificates {
            client_tls: None,
            root_cert: Some(ca.clone()),
        });
        let keys = KeySpace {
            prefix: prefix.to_string(),
        };
        let out = Arc::new(Listeners::new(node_id));
        let bad_url =
            |e: ::redis::RedisError| StoreError::Config(format!("invalid redis url: {e}"));
        let (conn, notifier, subscriber, scripts) = if options.cluster {
            let infos = seeds
                .iter()
                .map(|seed| seed.into_connection_info())
                .collect::<Result<Vec<_>, _>>()
                .map_err(bad_url)?;
            let mut builder = ClusterClientBuilder::new(infos.clone())
                .connection_timeout(CONNECT_TIMEOUT)
                .response_timeout(OP_TIMEOUT)
                // The defaults wait over a second before the first retry;
                // during a failover, come back quickly.
                .retries(8)
                .min_retry_wait(20)
                .max_retry_wait(500);
            if let Some(certs) = &certs {
                builder = builder.certs(certs.clone());
            }
            let client = builder
                .build()
                .map_err(|e| StoreError::Config(format!("redis cluster settings: {e}")))?;
            let cluster = within(async { Ok(client.get_async_connection().await?) }).await?;
            let clients = NodeClients {
                seed: infos[0].clone(),
                certs,
            };
            let (sharded, task) =
                Sharded::start(cluster.clone(), clients, keys.clone(), out.clone()).await?;
            (
                Conn::Cluster(cluster),
                Notifier::Sharded(sharded),
                task,
                &*scripts::CLUSTER,
            )
        } else {
            let client = match certs {
                Some(certs) => Client::build_with_tls(url, certs)
                    .map_err(|e| StoreError::Config(format!("redis TLS settings: {e}")))?,
                None => Client::open(url).map_err(bad_url)?,
            };
            // No retries inside the manager: its first retry waits a full
            // second. A failed command fails fast and the next one reconnects.
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(CONNECT_TIMEOUT)
                .set_number_of_retries(0);
            let manager = within(async {
                Ok(ConnectionManager::new_with_config(client.clone(), config).await?)
            })
            .await?;
            let shared = Arc::new(Shared {
                subs: AsyncMutex::new(Subscriptions {
                    rooms: HashSet::new(),
                    sink: None,
                }),
                out: out.clone(),
            });
            let (sink, stream) = subscribe_all(&client, &keys, &shared).await?;
            let task = tokio::spawn(run_subscriber(
                client,
                keys.clone(),
                shared.clone(),
                sink,
                stream,
            ));
            (
                Conn::Single(manager),
                Notifier::Single(shared),
                task,
                &*scripts::SINGLE,
            )
        };
        let registrar = Registrar {
            conn: conn.clone(),
            keys: keys.clone(),
            scripts,
            node: node_id,
        };
        let refresher = tokio::spawn(registrar.clone().keep(out.clone()));
        Ok(RedisStore {
            conn,
            keys,
            node_id,
            scripts,
            durability: options.durability,
            notifier,
            out,
            subscriber,
            registrar,
            refresher,
        })
    }
}
