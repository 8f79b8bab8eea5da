//! The web client in a real browser. Each script in `tests/browser/` drives
//! Debian's Chromium (playwright-core) against a relay of its own on port 0:
//!
//! - `e2e.mjs`: the web client end to end, as three people would use it (an
//!   ombud and two parties), from sign-in to a closed room;
//! - `connection.mjs`: a party's dropped connection and silent network;
//! - `relink.mjs`: a party coming back with a new link;
//! - `onetext.mjs`: a single negotiating text to a signed agreement;
//! - `languages.mjs`: the party page in Spanish, French and English;
//! - `console.mjs`: the console with six parties, unread counts, desktop
//!   alerts and the relay editor beside the conversation;
//! - `intake.mjs`: a visitor at the office's front door;
//! - `oidc-e2e.mjs`: ombuds signing in with their institution, against a
//!   real OpenID provider (`oidc-provider`, in `oidc-provider.mjs`).
//!
//! Each relay here is in-process on the embedded store. `e2e.mjs` and
//! `onetext.mjs` also run on Redis, across two relay processes (the ombud
//! on one, the parties on the other: `CAUCUS_PARTY_BASE_URL`), in the Redis
//! test binary: `tests/redis/browser.rs`.
//!
//! Every script runs axe-core (`checkA11y` in `lib.mjs`) on each distinct
//! page and state it reaches and fails on any serious or critical WCAG 2.2
//! A/AA finding.
//!
//! All the scripts run at once, in one test: most of a script's time is
//! spent waiting on purpose (a typing line expiring, a heartbeat timing out,
//! a poll coming round), so running them side by side keeps the suite under
//! a minute on a two-core machine (40 to 55 s with the headless shell), where
//! the test harness would otherwise run only two tests at a time. Each script's steps and its time are
//! printed; a failure names every script that failed, with its output.
//! `CAUCUS_BROWSER_SCRIPTS=e2e,console` runs only those.
//!
//! Needs Node.js and Chromium, preferably Debian's `chromium-headless-shell`,
//! which takes about half the processor time (see `caucus_tests::browser`).
//! The scripts save their screenshots under `target/screenshots/`;
//! `UPDATE_SCREENSHOTS=1` writes them to `docs/screenshots/` (the README's
//! pictures) instead.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

use caucus_testkit::free_port;
use caucus_tests::app::{spawn_relay_with, OMBUD};
use caucus_tests::browser::{self, ScriptRun};
use caucus_tests::oidc::{relay_for, start_provider, OFFICE};

type Run = Pin<Box<dyn Future<Output = ScriptRun> + Send>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_client_works_in_chromium() {
    browser::ensure_node_modules().await;
    let only = std::env::var("CAUCUS_BROWSER_SCRIPTS").ok();
    let chosen = |script: &str| {
        only.as_deref().is_none_or(|list| {
            list.split(',')
                .any(|s| s.trim().trim_end_matches(".mjs") == script.trim_end_matches(".mjs"))
        })
    };
    // Longest first, so the slowest scripts are not the last to get going.
    let all: Vec<(&str, Run)> = vec![
        ("console.mjs", Box::pin(plain("console.mjs"))),
        ("e2e.mjs", Box::pin(plain("e2e.mjs"))),
        ("intake.mjs", Box::pin(intake())),
        ("languages.mjs", Box::pin(languages())),
        ("oidc-e2e.mjs", Box::pin(oidc())),
        ("onetext.mjs", Box::pin(plain("onetext.mjs"))),
        ("relink.mjs", Box::pin(plain("relink.mjs"))),
        ("connection.mjs", Box::pin(plain("connection.mjs"))),
    ];
    let runs: Vec<Run> = all
        .into_iter()
        .filter(|(script, _)| chosen(script))
        .map(|(_, run)| run)
        .collect();
    assert!(!runs.is_empty(), "CAUCUS_BROWSER_SCRIPTS chose no script");
    // Each on a task of its own, so the relays and the scripts share the
    // runtime's threads fairly.
    let tasks: Vec<_> = runs.into_iter().map(tokio::spawn).collect();
    let mut done = Vec::new();
    for task in tasks {
        done.push(task.await.expect("a browser script's task panicked"));
    }
    browser::assert_all_passed(&done);
}

/// Runs `script` against a fresh relay on port 0.
async fn plain(script: &str) -> ScriptRun {
    with_relay(script, |_| {}).await
}

/// Runs `script` against a fresh relay whose configuration `tweak` adjusts.
async fn with_relay(script: &str, tweak: impl FnOnce(&mut relay::config::Config)) -> ScriptRun {
    let relay = spawn_relay_with(tweak).await;
    let run = browser::run_script(
        script,
        &[
            ("CAUCUS_BASE_URL", relay.api.base.as_str()),
            ("CAUCUS_OMBUD_USER", OMBUD.0),
            ("CAUCUS_OMBUD_PASSWORD", OMBUD.1),
        ],
    )
    .await;
    relay.running.stop().await.expect("relay stops cleanly");
    run
}

/// A settings file of its own for one script, removed when dropped.
struct Settings(PathBuf);

impl Settings {
    fn new(name: &str, contents: &str) -> Self {
        let path =
            std::env::temp_dir().join(format!("caucus-{name}-{}.toml", uuid::Uuid::new_v4()));
        std::fs::write(&path, contents).expect("write office settings");
        Settings(path)
    }
}

impl Drop for Settings {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The office settings for `languages.mjs`: the notice in three languages
/// and one resource translated into Spanish.
const MULTILINGUAL_OFFICE: &str = r#"
office_name = "Oficina / Bureau / Office"
notice = "This conversation is confidential and informal."

[languages.es]
notice = "Esta conversación es confidencial e informal."

[[languages.es.resources]]
id = "eap"
title = "Programa de ayuda al personal"
description = "Asesoramiento gratuito y confidencial."
url = "https://example.org/es/eap"

[languages.fr]
notice = "Cette conversation est confidentielle et informelle."
"#;

/// A party's language comes from the browser, can be switched on the page
/// without losing anything, and the office notice and resources follow it;
/// every locale file has every key.
async fn languages() -> ScriptRun {
    let office = Settings::new("languages", MULTILINGUAL_OFFICE);
    let path = office.0.clone();
    with_relay("languages.mjs", move |c| c.office_config = Some(path)).await
}

const SECOND: (&str, &str) = ("second", "second-password");

/// The office's front door: a visitor on a phone starts a conversation at
/// `/contact`, two ombuds see it queued, one claims it, the visitor comes
/// back with its return link, and it becomes a mediation with a second party.
async fn intake() -> ScriptRun {
    let office = Settings::new(
        "intake",
        "office_name = \"Harbour Ombuds\"\n[intake]\noffice_hours = \"Weekdays 9:00-17:00\"\nresponse_time = \"within two working days\"\npow_difficulty = 8\n",
    );
    let path = office.0.clone();
    let relay = spawn_relay_with(|c| c.office_config = Some(path)).await;
    relay
        .accounts()
        .upsert(SECOND.0, SECOND.1)
        .await
        .expect("a second ombud");
    let run = browser::run_script(
        "intake.mjs",
        &[
            ("CAUCUS_BASE_URL", relay.api.base.as_str()),
            ("CAUCUS_OMBUD_USER", OMBUD.0),
            ("CAUCUS_OMBUD_PASSWORD", OMBUD.1),
            ("CAUCUS_SECOND_USER", SECOND.0),
            ("CAUCUS_SECOND_PASSWORD", SECOND.1),
        ],
    )
    .await;
    relay.running.stop().await.expect("relay stops cleanly");
    run
}

/// Ombuds sign in with their institution: a real OpenID provider, a relay
/// as its client, and a second relay with password sign-in turned off.
async fn oidc() -> ScriptRun {
    let office = Settings::new("oidc", OFFICE);
    let port = free_port();
    let provider = start_provider(&format!("http://127.0.0.1:{port}/api/oidc/callback")).await;
    let relay = relay_for(port, &provider.issuer, &office.0, true).await;
    let no_password = relay_for(free_port(), &provider.issuer, &office.0, false).await;
    browser::run_script(
        "oidc-e2e.mjs",
        &[
            ("CAUCUS_BASE_URL", relay.api.base.as_str()),
            ("CAUCUS_NO_PASSWORD_URL", no_password.api.base.as_str()),
            ("OIDC_ISSUER", provider.issuer.as_str()),
        ],
    )
    .await
}
