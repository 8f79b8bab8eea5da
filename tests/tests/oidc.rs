//! Ombuds signing in with their institution, end to end: a real OpenID
//! provider (`oidc-provider`, run by `tests/browser/oidc-provider.mjs`), the
//! relay configured as its client, and headless Chromium driving the console
//! (`tests/browser/oidc-e2e.mjs`). Plus what the REST API says about sign-in
//! options and password sign-in turned off.

use std::process::Stdio;
use std::time::Duration;

use caucus_testkit::free_port;
use caucus_tests::app::{spawn_relay, spawn_relay_with, TestRelay, OMBUD};
use caucus_tests::browser::{ensure_node_modules, run_script, scripts_dir};
use reqwest::Method;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const CLIENT_SECRET: &str = "caucus-test-client-secret-5f1e0c9a7b3d";

/// The office's rules: Ada by her group, Grace by her e-mail address.
const OFFICE: &str = r#"
office_name = "Example University Ombuds Office"

[oidc]
institution = "Example University"
scopes = ["groups"]
ombud_emails = ["grace.hopper@example.edu"]
ombud_claim = { claim = "groups", value = "ombuds" }
"#;

/// The test provider, listening; it exits when its stdin (held here) closes.
struct Provider {
    issuer: String,
    _child: Child,
}

async fn start_provider(redirect_uri: &str) -> Provider {
    let port = free_port();
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
async fn relay_for(
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ombuds_sign_in_with_their_institution_in_chromium() {
    // The provider script needs the npm packages before the browser does.
    ensure_node_modules().await;
    let office = std::env::temp_dir().join(format!("caucus-oidc-{}.toml", uuid::Uuid::new_v4()));
    std::fs::write(&office, OFFICE).expect("write office settings");

    let port = free_port();
    let provider = start_provider(&format!("http://127.0.0.1:{port}/api/oidc/callback")).await;
    let relay = relay_for(port, &provider.issuer, &office, true).await;
    let no_password = relay_for(free_port(), &provider.issuer, &office, false).await;

    // Both relays read their office settings when they started.
    let _ = std::fs::remove_file(&office);

    run_script(
        "oidc-e2e.mjs",
        &[
            ("CAUCUS_BASE_URL", relay.api.base.as_str()),
            ("CAUCUS_NO_PASSWORD_URL", no_password.api.base.as_str()),
            ("OIDC_ISSUER", provider.issuer.as_str()),
        ],
    )
    .await;
}

#[tokio::test]
async fn login_options_say_password_only_without_oidc() {
    let relay = spawn_relay().await;
    let options: Value = relay.api.ok(Method::GET, "/api/login", None, None).await;
    assert_eq!(options, json!({"password": true, "oidc": null}));
    // The institution's routes exist, and send a browser back to the
    // console with a reason rather than an error page.
    let res = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/api/oidc/start", relay.api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/#/signin/error/not_configured");
}

#[tokio::test]
async fn password_sign_in_turned_off_is_refused_with_a_clear_error() {
    let office = std::env::temp_dir().join(format!("caucus-oidc-{}.toml", uuid::Uuid::new_v4()));
    std::fs::write(&office, OFFICE).expect("write office settings");
    // The provider is never reached by these requests.
    let relay = relay_for(free_port(), "https://login.example.edu", &office, false).await;
    let _ = std::fs::remove_file(&office);
    let (status, body) = relay
        .api
        .call(
            Method::POST,
            "/api/login",
            None,
            Some(json!({"username": OMBUD.0, "password": OMBUD.1})),
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(body["code"], "forbidden");
    assert_eq!(
        body["message"],
        "password sign-in is turned off on this relay: sign in with Example University"
    );
    let options: Value = relay.api.ok(Method::GET, "/api/login", None, None).await;
    assert_eq!(
        options,
        json!({"password": false, "oidc": {"institution": "Example University", "start_url": "/api/oidc/start"}})
    );
    // The bootstrap account still exists for `relay admin`; it just cannot
    // sign in with its password.
    assert!(relay.accounts().find(OMBUD.0).await.unwrap().is_some());
}
