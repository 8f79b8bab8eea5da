//! TLS to Redis: a `redis-server` that speaks only TLS, with certificates
//! made for the test by a private certificate authority, and relays that
//! reach it with `rediss://` and `RELAY_REDIS_CA_FILE`. Messages go from one
//! node to another through it; a relay that does not trust that authority
//! refuses to start rather than talk to an unverified server.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use caucus_tests::app::{free_port, relay_binary, RelayProcess, OMBUD};
use serde_json::json;
use uuid::Uuid;

use crate::support::*;

/// A redis-server listening only on a TLS port; killed and its files
/// removed on drop.
struct TlsRedis {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl TlsRedis {
    fn start() -> TlsRedis {
        let dir = std::env::temp_dir().join(format!("caucus-tls-redis-{}", Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("a private directory");
        make_certificates(&dir);
        let port = free_port();
        let child = Command::new(
            std::env::var("REDIS_SERVER").unwrap_or_else(|_| "/usr/bin/redis-server".into()),
        )
        .args(["--port", "0", "--tls-port", &port.to_string()])
        .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(&dir)
        .arg("--tls-cert-file")
        .arg(dir.join("server.crt"))
        .arg("--tls-key-file")
        .arg(dir.join("server.key"))
        .arg("--tls-ca-cert-file")
        .arg(dir.join("ca.crt"))
        .args(["--tls-auth-clients", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server starts");
        // The TLS port opens once the server is ready for clients.
        let mut server = TlsRedis { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                matches!(server.child.try_wait(), Ok(None)),
                "redis-server exited: is it built with TLS?"
            );
            assert!(
                Instant::now() < deadline,
                "redis-server TLS port never opened"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    fn url(&self) -> String {
        format!("rediss://127.0.0.1:{}/", self.port)
    }

    fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let status = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl runs");
    assert!(status.success(), "openssl {args:?}");
}

/// A CA, and a server certificate for 127.0.0.1 signed by it.
fn make_certificates(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=caucus test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
    );
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    )
    .expect("write extensions");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            "san.ext",
            "-out",
            "server.crt",
        ],
    );
}

fn relay_env(redis: &TlsRedis) -> Vec<(&'static str, String)> {
    let data_key: Vec<u8> = [Uuid::new_v4(), Uuid::new_v4()]
        .iter()
        .flat_map(|u| *u.as_bytes())
        .collect();
    vec![
        ("REDIS_URL", redis.url()),
        (
            "RELAY_REDIS_PREFIX",
            format!("caucus-tls-{}", Uuid::new_v4().simple()),
        ),
        (
            "RELAY_JWT_SECRET",
            format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple()),
        ),
        (
            "RELAY_DATA_KEY",
            base64::engine::general_purpose::STANDARD.encode(data_key),
        ),
        ("RELAY_BOOTSTRAP_OMBUD", format!("{}:{}", OMBUD.0, OMBUD.1)),
    ]
}

#[tokio::test]
async fn relays_reach_a_tls_only_redis_with_a_private_ca_and_relay_messages_through_it() {
    let redis = TlsRedis::start();
    let mut env = relay_env(&redis);
    env.push(("RELAY_REDIS_CA_FILE", redis.ca_file().display().to_string()));
    let ombud_node = RelayProcess::start(free_port(), &env).await;
    let party_node = RelayProcess::start(free_port(), &env).await;
    let token = login(&ombud_node.api).await;
    let room = create_room(&ombud_node.api, &token, json!({"title": "Over TLS"})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let party = add_party(&ombud_node.api, &party_node.api, &token, &room, "Tam").await;
    let mut ombud = connect_ombud(&ombud_node.api.ws_url(), &token, &room).await;
    let mut tam = connect_party(&party_node.api.ws_url(), &party).await;

    tam.ok(
        json!({"type": "send", "channel": party.channel(), "body": "over tls", "client_id": "t1"}),
    )
    .await;
    message_with(&mut ombud, &party.channel(), "over tls").await;
    ombud
        .ok(json!({"type": "send", "channel": party.channel(), "body": "and back", "client_id": "o1"}))
        .await;
    message_with(&mut tam, &party.channel(), "and back").await;
}

#[tokio::test]
async fn a_relay_that_does_not_trust_the_redis_certificate_refuses_to_start() {
    let redis = TlsRedis::start();
    // Without the CA file the system's authorities are used, and none of
    // them signed the test's certificate.
    let mut relay = Command::new(relay_binary())
        .env_clear()
        .env("RELAY_ADDR", format!("127.0.0.1:{}", free_port()))
        .envs(relay_env(&redis))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("relay starts");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = relay.try_wait().expect("relay status") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = relay.kill();
            let _ = relay.wait();
            panic!("the relay kept running against an unverified redis");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!status.success(), "{status}");
}
