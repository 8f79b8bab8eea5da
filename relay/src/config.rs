//! Configuration: one struct from flags and environment, validated at
//! start-up, plus the office settings file (`RELAY_CONFIG`).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

mod languages;
pub use languages::OfficeLanguage;
mod intake;
pub use intake::IntakeSettings;
mod office;
use office::{check_resources, line_of};
pub use office::{ClaimRule, Office, OidcOffice};

#[derive(Debug, Clone, Parser)]
#[command(
    name = "relay",
    about = "Caucus: a real-time relay for ombuds offices and mediators"
)]
pub struct Config {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "RELAY_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// Redis URL (`redis://host:port`, `rediss://host:port` for TLS,
    /// `redis+unix:///path`); with `RELAY_REDIS_CLUSTER`, one or more
    /// comma-separated seed nodes of a Redis Cluster. Unset = the durable
    /// embedded store in `RELAY_DATA_DIR`.
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<String>,
    /// `REDIS_URL` names a Redis Cluster (or Valkey cluster): keys are
    /// spread by room over its shards, notifications use sharded pub/sub.
    #[arg(long, env = "RELAY_REDIS_CLUSTER")]
    pub redis_cluster: bool,
    /// Acknowledge a write only once this many Redis replicas hold it
    /// (`WAIT`), so a failover cannot lose it; 0 = at once (faster, but a
    /// primary's crash may lose the last acknowledged writes).
    #[arg(long, env = "RELAY_REDIS_WAIT_REPLICAS", default_value_t = 0)]
    pub redis_wait_replicas: u32,
    /// How long a write waits for `RELAY_REDIS_WAIT_REPLICAS`, in ms; then
    /// the action fails with `unavailable` (retry with the same key).
    #[arg(long, env = "RELAY_REDIS_WAIT_MS", default_value_t = 500)]
    pub redis_wait_ms: u64,
    /// PEM file of the certificate authorities that sign Redis's TLS certificate
    /// (with a `rediss://` URL); unset = the system's trusted authorities.
    #[arg(long, env = "RELAY_REDIS_CA_FILE")]
    pub redis_ca_file: Option<PathBuf>,
    /// Where the embedded store keeps its database and, unless given, its
    /// secrets (created owner-only). Back it up; protect it.
    #[arg(long, env = "RELAY_DATA_DIR", default_value = "caucus-data")]
    pub data_dir: PathBuf,
    /// Keep everything in memory and forget it on exit (demos and tests).
    #[arg(long, env = "RELAY_EPHEMERAL")]
    pub ephemeral: bool,
    /// Prefix of every Redis key, so several deployments can share one Redis.
    #[arg(long, env = "RELAY_REDIS_PREFIX", default_value = "caucus")]
    pub redis_prefix: String,
    /// HMAC secret for tokens; unset = random per process (tokens die with it).
    /// Every node behind one balancer must share it.
    #[arg(long, env = "RELAY_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// `username:password`: create or update this ombud account at start-up.
    #[arg(long, env = "RELAY_BOOTSTRAP_OMBUD", hide_env_values = true)]
    pub bootstrap_ombud: Option<String>,
    /// Base64 32-byte key sealing everything at rest; unset = random per process
    /// (fine for the embedded store, fatal for Redis across restarts).
    #[arg(long, env = "RELAY_DATA_KEY", hide_env_values = true)]
    pub data_key: Option<String>,
    /// Comma-separated previous data keys, still accepted for reading during a rotation.
    #[arg(
        long,
        env = "RELAY_DATA_KEYS_PREVIOUS",
        hide_env_values = true,
        value_delimiter = ','
    )]
    pub data_keys_previous: Vec<String>,
    /// Office settings file (TOML); built-in defaults when unset.
    #[arg(long, env = "RELAY_CONFIG")]
    pub office_config: Option<PathBuf>,
    /// Largest websocket frame accepted, in bytes; larger ones get `too_large`.
    #[arg(long, env = "RELAY_MAX_FRAME_BYTES", default_value_t = 64 * 1024)]
    pub max_frame_bytes: usize,
    /// Comma-separated origins allowed to open websockets, besides the relay's own.
    #[arg(long, env = "RELAY_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,
    /// Default lifetime of a room and everything in it, in hours.
    #[arg(long, env = "RELAY_RETENTION_HOURS", default_value_t = 168)]
    pub retention_hours: u32,
    /// Concurrent websocket connections this node accepts.
    #[arg(long, env = "RELAY_MAX_CONNECTIONS", default_value_t = 20_000)]
    pub max_connections: usize,
    /// Threads that serve connections; unset = one per core. Several nodes
    /// on one machine share its cores, and do better with fewer each
    /// (docs/BENCHMARKS.md, eighth sitting).
    #[arg(long, env = "RELAY_WORKER_THREADS")]
    pub worker_threads: Option<std::num::NonZeroUsize>,
    /// Requests per second each connection may sustain.
    #[arg(long, env = "RELAY_RATE_PER_SEC", default_value_t = 50)]
    pub rate_per_sec: u32,
    /// Burst of requests a connection may send at once.
    #[arg(long, env = "RELAY_RATE_BURST", default_value_t = 200)]
    pub rate_burst: u32,
    /// Seconds a new connection has to send `hello`.
    #[arg(long, env = "RELAY_HELLO_TIMEOUT_SECS", default_value_t = 10)]
    pub hello_timeout_secs: u64,
    /// Trend counts below this are suppressed in reports.
    #[arg(long, env = "RELAY_TREND_THRESHOLD", default_value_t = 5)]
    pub trend_threshold: u32,
    /// Frames queued for one client before it counts as too slow and is disconnected.
    #[arg(long, env = "RELAY_CLIENT_QUEUE", default_value_t = 256)]
    pub client_queue: usize,
    /// Password hashes computed at once (argon2 takes about 19 MiB each);
    /// further logins wait briefly, then get 503 `unavailable`.
    #[arg(long, env = "RELAY_MAX_CONCURRENT_HASHES", default_value_t = 2)]
    pub max_concurrent_hashes: usize,
    /// Comma-separated addresses of reverse proxies whose `X-Forwarded-For`
    /// names the client (for login throttling and per-address limits).
    #[arg(long, env = "RELAY_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Address for `GET /metrics` (Prometheus text format), on a listener
    /// of its own; unset = no metrics are served. Keep it off the internet:
    /// even aggregate counts say when an office is busy.
    #[arg(long, env = "RELAY_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,
    /// Websockets one participant may hold on this node.
    #[arg(long, env = "RELAY_MAX_SOCKETS_PER_PARTICIPANT", default_value_t = 8)]
    pub max_sockets_per_participant: usize,
    /// Websockets one client address may hold before their `hello`.
    #[arg(
        long,
        env = "RELAY_MAX_UNAUTHENTICATED_PER_ADDRESS",
        default_value_t = 32
    )]
    pub max_unauthenticated_per_address: usize,
    /// Seconds an HTTP connection may take to send a request's headers, and
    /// may stay idle between requests.
    #[arg(long, env = "RELAY_HTTP_TIMEOUT_SECS", default_value_t = 10)]
    pub http_timeout_secs: u64,
    /// Seconds between websocket pings; a peer silent for twice this is closed.
    #[arg(long, env = "RELAY_PING_SECS", default_value_t = 30)]
    pub ping_secs: u64,
    /// Messages a room may store.
    #[arg(long, env = "RELAY_ROOM_MAX_MESSAGES", default_value_t = 20_000)]
    pub room_max_messages: u64,
    /// Bytes a room may store (its events and records, before encryption).
    #[arg(long, env = "RELAY_ROOM_MAX_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub room_max_bytes: u64,
    /// Messages one participant's requests may store in a room.
    #[arg(long, env = "RELAY_PARTICIPANT_MAX_MESSAGES", default_value_t = 5_000)]
    pub participant_max_messages: u64,
    /// Bytes one participant's requests may store in a room.
    #[arg(long, env = "RELAY_PARTICIPANT_MAX_BYTES", default_value_t = 16 * 1024 * 1024)]
    pub participant_max_bytes: u64,
    /// Log as JSON lines instead of human-readable text.
    #[arg(long, env = "RELAY_LOG_JSON")]
    pub log_json: bool,
    /// The address people use to reach the relay (`https://caucus.example.edu`):
    /// the OpenID Connect redirect is `<this>/api/oidc/callback`.
    #[arg(long, env = "RELAY_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// OpenID Connect issuer of the institution's identity provider; set, it
    /// turns on "Sign in with <institution>" for ombuds.
    #[arg(long, env = "RELAY_OIDC_ISSUER")]
    pub oidc_issuer: Option<String>,
    /// The relay's client id at the identity provider.
    #[arg(long, env = "RELAY_OIDC_CLIENT_ID")]
    pub oidc_client_id: Option<String>,
    /// The relay's client secret at the identity provider.
    #[arg(long, env = "RELAY_OIDC_CLIENT_SECRET", hide_env_values = true)]
    pub oidc_client_secret: Option<String>,
    /// Refuse username-and-password sign-in (`POST /api/login`); ombuds sign
    /// in with OpenID Connect. `relay admin` still works.
    #[arg(long, env = "RELAY_DISABLE_PASSWORD_LOGIN")]
    pub disable_password_login: bool,
}

impl Config {
    /// Defaults with an ephemeral port, for tests and embedding.
    pub fn for_tests() -> Self {
        let mut c = Config::parse_from(["relay"]);
        c.addr = "127.0.0.1:0".parse().expect("literal address");
        c.redis_url = None;
        c.ephemeral = true;
        c.jwt_secret = Some(format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        ));
        c.bootstrap_ombud = Some("ombud:correct horse battery".into());
        c
    }

    /// Checks what clap cannot; the message names the setting.
    pub fn validate(&self) -> Result<(), String> {
        if !(1024..=1024 * 1024).contains(&self.max_frame_bytes) {
            return Err("RELAY_MAX_FRAME_BYTES must be between 1024 and 1048576".into());
        }
        if self.retention_hours == 0 {
            return Err("RELAY_RETENTION_HOURS must be at least 1".into());
        }
        if self.rate_per_sec == 0 || self.rate_burst == 0 {
            return Err("RELAY_RATE_PER_SEC and RELAY_RATE_BURST must be positive".into());
        }
        if self.max_concurrent_hashes == 0 {
            return Err("RELAY_MAX_CONCURRENT_HASHES must be at least 1".into());
        }
        if self.max_sockets_per_participant == 0 || self.max_unauthenticated_per_address == 0 {
            return Err("RELAY_MAX_SOCKETS_PER_PARTICIPANT and RELAY_MAX_UNAUTHENTICATED_PER_ADDRESS must be at least 1".into());
        }
        if !(1..=3600).contains(&self.http_timeout_secs) {
            return Err("RELAY_HTTP_TIMEOUT_SECS must be between 1 and 3600".into());
        }
        if !(1..=3600).contains(&self.ping_secs) {
            return Err("RELAY_PING_SECS must be between 1 and 3600".into());
        }
        if self.room_max_messages == 0
            || self.room_max_bytes == 0
            || self.participant_max_messages == 0
            || self.participant_max_bytes == 0
        {
            return Err("RELAY_ROOM_MAX_MESSAGES, RELAY_ROOM_MAX_BYTES, RELAY_PARTICIPANT_MAX_MESSAGES and RELAY_PARTICIPANT_MAX_BYTES must be positive".into());
        }
        if let Some(b) = &self.bootstrap_ombud {
            match b.split_once(':') {
                Some((u, p)) if !u.is_empty() && p.len() >= 8 => {}
                _ => {
                    return Err("RELAY_BOOTSTRAP_OMBUD must be `username:password` with a password of 8+ characters".into())
                }
            }
        }
        if let Some(s) = &self.jwt_secret {
            if let Some(why) = weak_secret(s) {
                return Err(format!("RELAY_JWT_SECRET {why}: anyone who can guess it can sign in as any ombud. Generate one with `openssl rand -hex 32`"));
            }
        }
        for (name, key) in self.data_key.iter().map(|k| ("RELAY_DATA_KEY", k)).chain(
            self.data_keys_previous
                .iter()
                .map(|k| ("RELAY_DATA_KEYS_PREVIOUS", k)),
        ) {
            if let Some(why) = weak_data_key(key) {
                return Err(format!("{name} {why}: it seals every message at rest. Generate one with `openssl rand -base64 32`"));
            }
        }
        if self.redis_prefix.is_empty() || self.redis_prefix.contains(['{', '}']) {
            return Err("RELAY_REDIS_PREFIX must be non-empty and must not contain `{` or `}` (they delimit Redis Cluster hash tags)".into());
        }
        if self.redis_ca_file.is_some()
            && !self
                .redis_url
                .as_deref()
                .is_some_and(|u| u.starts_with("rediss://"))
        {
            return Err("RELAY_REDIS_CA_FILE needs a TLS REDIS_URL (`rediss://host:port`)".into());
        }
        self.validate_redis_cluster()?;
        self.validate_oidc()?;
        if self.redis_url.is_some() && self.data_key.is_none() {
            return Err("RELAY_DATA_KEY is required with REDIS_URL: without it, data written by one process cannot be read by the next (generate one with `openssl rand -base64 32`)".into());
        }
        Ok(())
    }
}

impl Config {
    /// Cluster mode and the replication wait only make sense with Redis; the
    /// wait must end well before an operation's own time bound (2 s).
    fn validate_redis_cluster(&self) -> Result<(), String> {
        let url = self.redis_url.as_deref().unwrap_or("");
        if (self.redis_cluster || self.redis_wait_replicas > 0) && url.is_empty() {
            return Err("RELAY_REDIS_CLUSTER and RELAY_REDIS_WAIT_REPLICAS need REDIS_URL".into());
        }
        if url.contains(',') && !self.redis_cluster {
            return Err("REDIS_URL lists several nodes: that is a Redis Cluster's seeds, so set RELAY_REDIS_CLUSTER=true".into());
        }
        if self.redis_cluster && url.split(',').any(|u| u.trim().contains("unix://")) {
            return Err(
                "RELAY_REDIS_CLUSTER needs TCP seeds (`redis://host:port`), not a unix socket"
                    .into(),
            );
        }
        if !(1..=1500).contains(&self.redis_wait_ms) {
            return Err("RELAY_REDIS_WAIT_MS must be between 1 and 1500".into());
        }
        Ok(())
    }

    /// OpenID Connect needs all of its settings or none, and some way for an
    /// ombud to sign in must remain.
    fn validate_oidc(&self) -> Result<(), String> {
        let oidc = [
            &self.oidc_issuer,
            &self.oidc_client_id,
            &self.oidc_client_secret,
        ];
        let given = oidc.iter().filter(|s| s.is_some()).count();
        if given != 0 && given != oidc.len() {
            return Err("RELAY_OIDC_ISSUER, RELAY_OIDC_CLIENT_ID and RELAY_OIDC_CLIENT_SECRET go together: set all three or none".into());
        }
        if given == 0 && self.disable_password_login {
            return Err("RELAY_DISABLE_PASSWORD_LOGIN needs OpenID Connect (RELAY_OIDC_ISSUER and the rest): otherwise no ombud could sign in".into());
        }
        if let Some(issuer) = &self.oidc_issuer {
            if !is_web_url(issuer) {
                return Err(format!(
                    "RELAY_OIDC_ISSUER must be an http(s) URL, not {issuer:?}"
                ));
            }
            match &self.public_url {
                None => return Err("RELAY_PUBLIC_URL is required with RELAY_OIDC_ISSUER: the identity provider sends ombuds back to <RELAY_PUBLIC_URL>/api/oidc/callback".into()),
                Some(url) if !is_web_url(url) || url.contains(['?', '#']) => {
                    return Err(format!("RELAY_PUBLIC_URL must be the relay's http(s) address without query or fragment, not {url:?}"))
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// Where the identity provider sends the ombud back to.
    pub fn oidc_redirect_url(&self) -> Option<String> {
        let base = self.public_url.as_deref()?.trim_end_matches('/');
        Some(format!("{base}/api/oidc/callback"))
    }
}

fn is_web_url(s: &str) -> bool {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"));
    rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/') && !r.contains(char::is_whitespace))
}

/// Secrets and keys that were ever published in this repository (examples,
/// placeholders, benchmark and test fixtures). Whoever read them could forge
/// an ombud's token or open sealed data, so the relay refuses them.
const PUBLISHED: &[&str] = &[
    "CHANGE-ME-this-placeholder-jwt-secret-is-public",
    "Q0hBTkdFLU1FLUNIQU5HRS1NRS1DSEFOR0UtTUUtISE=",
    "relay-bench-jwt-secret-0123456789abcdef",
    "cmVsYXktYmVuY2gtZGF0YS1rZXktMzItYnl0ZXMhISE=",
    "test-secret-test-secret-test-secret",
    "0123456789abcdef0123456789abcdef",
    "another-secret-another-secret-xx",
];

/// Shannon entropy of `s`'s characters, times its length: a rough upper
/// bound on the bits an attacker must guess, which catches repeated words
/// and patterns (`test-secret-test-secret-…`) but not every weak secret.
fn estimated_bits(bytes: &[u8]) -> f64 {
    let mut counts = [0usize; 256];
    for b in bytes {
        counts[usize::from(*b)] += 1;
    }
    let n = bytes.len() as f64;
    let per_symbol: f64 = counts
        .iter()
        .filter(|c| **c > 0)
        .map(|c| {
            let p = *c as f64 / n;
            -p * p.log2()
        })
        .sum();
    per_symbol * n
}

/// Why `secret` may not sign tokens, if it may not (RFC 8725: HMAC keys
/// need at least as much entropy as the hash's output, 256 bits ideally).
fn weak_secret(secret: &str) -> Option<&'static str> {
    if PUBLISHED.contains(&secret.trim()) {
        return Some("is published in the Caucus repository");
    }
    if secret.len() < 32 {
        return Some("must be at least 32 characters");
    }
    if estimated_bits(secret.as_bytes()) < 100.0 || repeats(secret.as_bytes()) {
        return Some("is too predictable (repeated or patterned characters)");
    }
    None
}

/// Is `s` (give or take a ragged end) one shorter string written again and again?
fn repeats(s: &[u8]) -> bool {
    (1..=s.len() / 2).any(|period| (period..s.len()).all(|i| s[i] == s[i - period]))
}

/// Why a base64 data key may not seal data, if it may not. Its length and
/// encoding are checked where it is decoded (`seal`).
fn weak_data_key(key: &str) -> Option<&'static str> {
    use base64::Engine;
    if PUBLISHED.contains(&key.trim()) {
        return Some("is published in the Caucus repository");
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(key.trim())
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(key.trim()))
        .ok()?;
    // 32 random bytes nearly always hold more than 20 distinct values;
    // text or a repeated byte does not.
    let distinct = raw.iter().collect::<std::collections::HashSet<_>>().len();
    (distinct < 20).then_some("is not random (too few distinct bytes)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_settings_name_the_line_and_problem() {
        let text = "office_name = \"Ombuds\"\n\n[[resources]]\nid = \"eap\"\ntitle = \"EAP\"\ndescription = \"x\"\nurl = \"ftp://nope\"\n";
        let (line, msg) = Office::parse(text).unwrap_err();
        assert_eq!(line, 7);
        assert!(msg.contains("http"), "{msg}");

        let (line, msg) = Office::parse("office_name = \"A\"\nnotice = 3\n").unwrap_err();
        assert_eq!(line, 2);
        assert!(msg.contains("string"), "{msg}");

        let (line, msg) = Office::parse("office_name = \"A\"\nbogus = 1\n").unwrap_err();
        assert_eq!(line, 2);
        assert!(msg.contains("bogus"), "{msg}");
    }

    #[test]
    fn published_and_predictable_secrets_are_refused() {
        for s in PUBLISHED {
            assert!(
                weak_secret(s).is_some() || weak_data_key(s).is_some(),
                "{s}"
            );
        }
        assert!(weak_secret("test-secret-test-secret-test-secret-test").is_some());
        assert!(weak_secret("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa").is_some());
        assert!(weak_secret("short").is_some());
        assert!(weak_secret("password-password-password-password").is_some());
        let random = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        assert_eq!(weak_secret(&random), None);
        use base64::Engine;
        let key = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>());
        assert_eq!(weak_data_key(&key), None);
        let text =
            base64::engine::general_purpose::STANDARD.encode(b"my-own-data-key-of-32-bytes-long");
        assert!(weak_data_key(&text).is_some());
    }

    #[test]
    fn a_redis_ca_file_needs_a_tls_redis_url() {
        let mut c = Config::for_tests();
        c.data_key = Some("k".into());
        c.redis_ca_file = Some("ca.pem".into());
        c.redis_url = Some("redis://127.0.0.1:6379".into());
        let e = c.validate().unwrap_err();
        assert!(e.contains("RELAY_REDIS_CA_FILE"), "{e}");
        c.redis_url = Some("rediss://127.0.0.1:6379".into());
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn cluster_seeds_and_the_replication_wait_are_checked() {
        let mut c = Config::for_tests();
        c.data_key = Some("k".into());
        c.redis_url = Some("redis://10.0.0.1:6379,redis://10.0.0.2:6379".into());
        let e = c.validate().unwrap_err();
        assert!(e.contains("RELAY_REDIS_CLUSTER"), "{e}");
        c.redis_cluster = true;
        assert_eq!(c.validate(), Ok(()));
        c.redis_wait_ms = 5000;
        let e = c.validate().unwrap_err();
        assert!(e.contains("RELAY_REDIS_WAIT_MS"), "{e}");
        c.redis_wait_ms = 500;
        c.redis_url = None;
        c.redis_wait_replicas = 1;
        let e = c.validate().unwrap_err();
        assert!(e.contains("REDIS_URL"), "{e}");
    }

    #[test]
    fn a_toml_error_without_a_message_still_says_what_is_wrong() {
        // Found by `any_settings_text_loads_or_names_a_line`.
        let (line, msg) = Office::parse("0=").unwrap_err();
        assert_eq!(line, 1);
        assert!(!msg.is_empty());
    }

    #[test]
    fn oidc_rules_load_and_bad_ones_name_their_line() {
        let text = "[oidc]\ninstitution = \"Example University\"\nombud_emails = [\"ada@example.edu\"]\nombud_claim = { claim = \"groups\", value = \"ombuds\" }\n";
        let o = Office::parse(text).unwrap();
        assert_eq!(o.oidc.institution(), "Example University");
        assert!(o.oidc.has_rules());
        let (line, msg) = Office::parse("[oidc]\n\nombud_subjects = [\"\"]\n").unwrap_err();
        assert_eq!(line, 3);
        assert!(msg.contains("ombud_subjects"), "{msg}");
        assert!(!Office::parse("").unwrap().oidc.has_rules());
    }

    #[test]
    fn oidc_settings_come_all_together_with_a_public_url() {
        let mut c = Config::for_tests();
        c.oidc_issuer = Some("https://login.example.edu".into());
        let e = c.validate().unwrap_err();
        assert!(e.contains("RELAY_OIDC_CLIENT_ID"), "{e}");
        c.oidc_client_id = Some("caucus".into());
        c.oidc_client_secret = Some("s3cret".into());
        let e = c.validate().unwrap_err();
        assert!(e.contains("RELAY_PUBLIC_URL"), "{e}");
        c.public_url = Some("https://caucus.example.edu/".into());
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(
            c.oidc_redirect_url().as_deref(),
            Some("https://caucus.example.edu/api/oidc/callback")
        );
        let mut local_only = Config::for_tests();
        local_only.disable_password_login = true;
        let e = local_only.validate().unwrap_err();
        assert!(e.contains("RELAY_DISABLE_PASSWORD_LOGIN"), "{e}");
    }

    #[test]
    fn empty_settings_take_the_defaults() {
        let o = Office::parse("").unwrap();
        assert!(!o.resources.is_empty() && !o.categories.is_empty());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: std::env::var("FUZZ_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(256),
            ..Default::default()
        })]

        /// Fuzz: any settings text loads or is refused naming a line of it;
        /// it never panics.
        #[test]
        fn any_settings_text_loads_or_names_a_line(text in "[a-z_\\[\\]=\"\\n .:/|#0-9é]{0,200}") {
            if let Err((line, msg)) = Office::parse(&text) {
                proptest::prop_assert!(line >= 1 && line <= text.lines().count().max(1) + 1, "line {} of {:?}", line, text);
                proptest::prop_assert!(!msg.is_empty());
            }
        }
    }
}
