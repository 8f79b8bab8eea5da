//! A real OpenID provider for the institution sign-in tests (`oidc-provider`,
//! run by `tests/browser/oidc-provider.mjs`), and relays configured as its
//! client.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::app::{spawn_relay_with, TestRelay};
use crate::browser::scripts_dir;

pub const CLIENT_SECRET: &str = "caucus-test-client-secret-5f1e0c9a7b3d";

/// The office's rules: Ada by her group, Grace by her e-mail address.
pub const OFFICE: &str = r#"
office_name = "Example University Ombuds Office"

[oidc]
institution = "Example University"
scopes = ["groups"]
ombud_emails = ["grace.hopper@example.edu"]
ombud_claim = { claim = "groups", value = "ombuds" }
"#;

/// The test provider, listening; it exits when its stdin (held here) closes.
pub struct Provider {
    pub issuer: String,
    _child: Child,
}

/// Starts the provider for a relay whose callback is `redirect_uri`. Needs
/// the npm packages (`crate::browser::ensure_node_modules`).
pub async fn start_provider(redirect_uri: &str) -> Provider {
    let port = caucus_testkit::free_port();
    let mut child = Command::new("node")
        .arg("oidc-provider.mjs")
        .current_dir(scripts_dir())
        .env("OIDC_PORT", port.to_string())
        .env("OIDC_REDIRECT_URI", redirect_uri)
        .env("OIDC_CLIENT_SECRET", CLIENT_SECRET)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs (is Node.js installed?)");
    let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
    let ready = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.expect("provider output") {
            if let Some(issuer) = line.strip_prefix("listening ") {
                return issuer.to_string();
            }
        }
        panic!("the OpenID provider exited before listening");
    });
    let issuer = ready.await.expect("the OpenID provider started in time");
    // Keep reading what it prints: a closed pipe would kill it at its next line.
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            eprintln!("oidc-provider: {line}");
        }
    });
    Provider {
        issuer,
        _child: child,
    }
}

/// A relay on a port chosen in advance (the provider must know its
/// redirect URI before the relay starts), signing in with `issuer`.
pub async fn relay_for(
    port: u16,
    issuer: &str,
    office: &std::path::Path,
    password_login: bool,
) -> TestRelay {
    let (issuer, office) = (issuer.to_string(), office.to_path_buf());
    spawn_relay_with(move |c| {
        c.addr = ([127, 0, 0, 1], port).into();
        c.public_url = Some(format!("http://127.0.0.1:{port}"));
        c.oidc_issuer = Some(issuer);
        c.oidc_client_id = Some("caucus".into());
        c.oidc_client_secret = Some(CLIENT_SECRET.into());
        c.office_config = Some(office);
        c.disable_password_login = !password_login;
    })
    .await
}
