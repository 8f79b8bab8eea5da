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
