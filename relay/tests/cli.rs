//! The binary as an operator meets it: `--help` names every setting the
//! README documents (and the README documents every setting `--help`
//! names), and a bad setting stops start-up with exit code 2 and a message
//! naming it.
//!
//! Being an integration test of the relay crate, this also makes
//! `cargo test --workspace` build the relay binary once, with the same
//! features as everything else, for the tests that run it as a process.

use std::collections::BTreeSet;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs the relay with only `env`, expecting it to stop by itself; kills it
/// (and fails) if it is still running after a few seconds.
fn start_expecting_exit(env: &[(&str, &str)]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_relay"))
        .env_clear()
        .env("RELAY_ADDR", "127.0.0.1:0")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the relay runs");
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the relay started with {env:?}; it should have refused");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

fn settings_in(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (i, _) in text.match_indices("RELAY_") {
        let name: String = text[i..]
            .chars()
            .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        found.insert(name.trim_end_matches('_').to_string());
    }
    found
}

#[test]
fn help_and_readme_name_the_same_settings() {
    let out = Command::new(env!("CARGO_BIN_EXE_relay"))
        .arg("--help")
        .output()
        .expect("the relay runs");
    assert!(out.status.success());
    let help = settings_in(&String::from_utf8_lossy(&out.stdout));
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md");
    let documented = settings_in(&readme);
    let undocumented: Vec<_> = help.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "settings missing from README.md: {undocumented:?}"
    );
    let unknown: Vec<_> = documented.difference(&help).collect();
    assert!(
        unknown.is_empty(),
        "README.md documents settings the relay does not have: {unknown:?}"
    );
}

#[test]
fn a_bad_setting_stops_startup_naming_it() {
    let out = start_expecting_exit(&[("RELAY_MAX_FRAME_BYTES", "12")]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("RELAY_MAX_FRAME_BYTES"), "{stderr}");
}

#[test]
fn published_or_predictable_secrets_stop_startup() {
    for (name, value) in [
        (
            "RELAY_JWT_SECRET",
            "CHANGE-ME-this-placeholder-jwt-secret-is-public",
        ),
        ("RELAY_JWT_SECRET", "password-password-password-password"),
        (
            "RELAY_DATA_KEY",
            "Q0hBTkdFLU1FLUNIQU5HRS1NRS1DSEFOR0UtTUUtISE=",
        ),
    ] {
        let out = start_expecting_exit(&[(name, value)]);
        assert_eq!(out.status.code(), Some(2), "{name}={value}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(name) && stderr.contains("openssl rand"),
            "{stderr}"
        );
    }
}

/// Runs `relay admin <args>` on the file store in `dir`, with `stdin` as its input.
fn admin(dir: &std::path::Path, args: &[&str], stdin: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_relay"))
        .env_clear()
        .env("RELAY_DATA_DIR", dir)
        .arg("admin")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the relay runs");
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(stdin.as_bytes())
        .expect("stdin written");
    child.wait_with_output().expect("output")
}

/// `admin`, expecting success; its stdout.
fn admin_ok(dir: &std::path::Path, args: &[&str], stdin: &str) -> String {
    let out = admin(dir, args, stdin);
    assert!(
        out.status.success(),
        "relay admin {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `list-ombuds`' lines (the tab-separated ones: a first run also says it generated secrets).
fn listed(dir: &std::path::Path) -> Vec<String> {
    admin_ok(dir, &["list-ombuds"], "")
        .lines()
        .filter(|l| l.contains('\t'))
        .map(str::to_string)
        .collect()
}

#[test]
fn admin_creates_lists_disables_and_resets_ombuds_without_a_server() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = admin_ok(
        dir.path(),
        &["create-ombud", "alice"],
        "alice's long password\n",
    );
    assert!(out.contains("created ombud account alice"), "{out}");
    assert!(
        !out.contains("password:"),
        "a password given on stdin is not printed: {out}"
    );
    assert_eq!(
        listed(dir.path()),
        ["alice\talice\tenabled"],
        "only the created account: no server ran, so none was bootstrapped"
    );

    let again = admin(dir.path(), &["create-ombud", "alice"], "another password\n");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    let short = admin(dir.path(), &["create-ombud", "bob"], "short\n");
    assert!(
        !short.status.success(),
        "passwords under 8 characters are refused"
    );

    let out = admin_ok(dir.path(), &["create-ombud", "bob"], "");
    let generated = out
        .lines()
        .find_map(|l| l.strip_prefix("password: "))
        .expect("a generated password is printed");
    assert_eq!(generated.len(), 20, "{out}");

    admin_ok(dir.path(), &["disable-ombud", "alice"], "");
    assert_eq!(
        listed(dir.path()),
        ["alice\talice\tdisabled", "bob\tbob\tenabled"]
    );
    admin_ok(dir.path(), &["enable-ombud", "alice"], "");
    assert_eq!(listed(dir.path())[0], "alice\talice\tenabled");

    let out = admin_ok(dir.path(), &["reset-password", "alice"], "");
    assert!(out.contains("password: "), "{out}");
    for args in [
        ["reset-password", "carol"],
        ["disable-ombud", "carol"],
        ["enable-ombud", "carol"],
    ] {
        let out = admin(dir.path(), &args, "a long enough password\n");
        assert!(!out.status.success(), "{args:?} on an unknown account");
    }
}

#[tokio::test]
async fn an_ombud_created_by_admin_logs_in_until_disabled() {
    let dir = tempfile::tempdir().expect("temp dir");
    admin_ok(
        dir.path(),
        &["create-ombud", "alice"],
        "alice's long password\n",
    );

    let port = caucus_testkit::free_port();
    let _relay = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_relay"))
            .env_clear()
            .env("RELAY_DATA_DIR", dir.path())
            .env("RELAY_ADDR", format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the relay runs"),
    );
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let mut up = false;
    for _ in 0..200 {
        if http.get(format!("{base}/healthz")).send().await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up, "the relay came up");
    {
        let login = |password: &'static str| {
            http.post(format!("{base}/api/login"))
                .json(&serde_json::json!({"username": "alice", "password": password}))
                .send()
        };
        let ok = login("alice's long password").await.expect("answered");
        assert_eq!(ok.status(), 200);
        let body: serde_json::Value = ok.json().await.expect("json");
        let token = body["token"].as_str().expect("a token").to_string();
        let me = |token: String| http.get(format!("{base}/api/me")).bearer_auth(token).send();
        assert_eq!(me(token.clone()).await.expect("answered").status(), 200);

        // While the relay runs on the same directory: SQLite's locking lets both write.
        admin_ok(dir.path(), &["disable-ombud", "alice"], "");

        let refused = login("alice's long password").await.expect("answered");
        assert_eq!(refused.status(), 401);
        let refused: serde_json::Value = refused.json().await.expect("json");
        let wrong = login("not alice's password").await.expect("answered");
        assert_eq!(wrong.status(), 401);
        let wrong: serde_json::Value = wrong.json().await.expect("json");
        assert_eq!(
            refused, wrong,
            "a disabled account is refused like a wrong password"
        );
        assert_eq!(refused["code"], "unauthorized");
        assert_eq!(
            me(token).await.expect("answered").status(),
            401,
            "the token issued before stops working"
        );
    }
}

/// A relay process, stopped however the test ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The OpenID Connect settings an office would give, password sign-in off.
const OIDC_ONLY: &[(&str, &str)] = &[
    ("RELAY_PUBLIC_URL", "https://caucus.example.edu"),
    ("RELAY_OIDC_ISSUER", "https://login.example.edu"),
    ("RELAY_OIDC_CLIENT_ID", "caucus"),
    ("RELAY_OIDC_CLIENT_SECRET", "a-client-secret"),
    ("RELAY_DISABLE_PASSWORD_LOGIN", "true"),
];

#[test]
fn admin_works_with_password_sign_in_turned_off() {
    use std::io::Write;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_relay"))
        .env_clear()
        .env("RELAY_DATA_DIR", dir.path())
        .envs(OIDC_ONLY.iter().copied())
        .args(["admin", "create-ombud", "kim"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the relay runs");
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(b"a long enough password\n")
        .expect("stdin written");
    let out = child.wait_with_output().expect("output");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(listed(dir.path()).len(), 1);
}

#[test]
fn half_an_oidc_configuration_or_no_way_to_sign_in_stops_startup() {
    let out = start_expecting_exit(&[("RELAY_EPHEMERAL", "true"), OIDC_ONLY[1]]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("RELAY_OIDC_CLIENT_ID"), "{stderr}");

    let out = start_expecting_exit(&[
        ("RELAY_EPHEMERAL", "true"),
        ("RELAY_DISABLE_PASSWORD_LOGIN", "true"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("RELAY_DISABLE_PASSWORD_LOGIN"), "{stderr}");

    // Every setting given, but the office settings map nobody to an ombud.
    let mut env = OIDC_ONLY.to_vec();
    env.push(("RELAY_EPHEMERAL", "true"));
    let out = start_expecting_exit(&env);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("map nobody to an ombud"), "{stderr}");
}
