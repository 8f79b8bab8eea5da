//! The web client in a real browser: starts the relay on port 0 and runs
//! `tests/browser/e2e.mjs` (playwright-core driving Debian's Chromium) against
//! it, as three people would: an ombud and two parties;
//! `tests/browser/relink.mjs`, a party coming back with a new link;
//! `tests/browser/onetext.mjs`, a single negotiating text to a signed agreement;
//! `tests/browser/languages.mjs`, the party page in Spanish, French and English;
//! `tests/browser/console.mjs`, the console with six parties, unread
//! counts, desktop alerts and the redaction helper's room terms; and
//! `tests/browser/intake.mjs`, a visitor at the office's front door.
//! Every script runs axe-core (`checkA11y` in `lib.mjs`) on each page and
//! state it reaches and fails on any serious or critical WCAG 2.2 A/AA finding.
//!
//! Needs Node.js and Chromium (see `caucus_tests::browser`). The scripts save
//! their screenshots under `target/screenshots/`; `UPDATE_SCREENSHOTS=1` writes
//! them to `docs/screenshots/` (the README's pictures) instead.

use caucus_tests::app::{spawn_relay_with, OMBUD};
use caucus_tests::browser;

/// Two scripts at a time: each drives its own Chromium against its own relay
/// on port 0, so they share nothing but the processor; two keep the suite
/// under about a minute, and more would stretch the scripts' timeouts on a
/// two-core machine.
static CHROMIUM: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_client_works_end_to_end_in_chromium() {
    run_script("e2e.mjs").await;
}

/// Keep me signed in, the pages a party whose session or link is gone sees,
/// and the console's New link with each party's link status and last online.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parties_come_back_with_a_new_link_in_chromium() {
    run_script("relink.mjs").await;
}

/// The single negotiating text, from a first draft to a downloaded
/// agreement, and a range question (`tests/browser/onetext.mjs`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_text_session_ends_in_a_downloaded_agreement_in_chromium() {
    run_script("onetext.mjs").await;
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
/// without losing anything, and the office notice and resources follow it
/// (`tests/browser/languages.mjs`); every locale file has every key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn party_page_speaks_the_party_language_in_chromium() {
    let office =
        std::env::temp_dir().join(format!("caucus-languages-{}.toml", uuid::Uuid::new_v4()));
    std::fs::write(&office, MULTILINGUAL_OFFICE).expect("write office settings");
    let path = office.clone();
    run_script_with("languages.mjs", move |c| c.office_config = Some(path)).await;
    let _ = std::fs::remove_file(&office);
}

/// A room with six parties at 1280×800 and 1024 px, unread counts in the
/// title, favicon and room list, desktop alerts after opting in, and room
/// terms in the relay editor (`tests/browser/console.mjs`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_holds_six_parties_and_says_what_needs_attention_in_chromium() {
    run_script("console.mjs").await;
}

/// The office's front door: a visitor on a phone starts a conversation at
/// `/contact`, two ombuds see it queued, one claims it, the visitor comes
/// back with its return link, and it becomes a mediation with a second
/// party (`tests/browser/intake.mjs`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_reaches_the_office_at_the_front_door_in_chromium() {
    let _slot = CHROMIUM
        .acquire()
        .await
        .expect("the semaphore is never closed");
    let dir = std::env::temp_dir().join(format!("caucus-intake-browser-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a settings folder");
    let settings = dir.join("office.toml");
    std::fs::write(
        &settings,
        "office_name = \"Harbour Ombuds\"\n[intake]\noffice_hours = \"Weekdays 9:00-17:00\"\nresponse_time = \"within two working days\"\npow_difficulty = 8\n",
    )
    .expect("settings written");
    let relay = spawn_relay_with(|c| c.office_config = Some(settings)).await;
    relay
        .accounts()
        .upsert(SECOND.0, SECOND.1)
        .await
        .expect("a second ombud");
    browser::run_script(
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
    std::fs::remove_dir_all(&dir).ok();
}

const SECOND: (&str, &str) = ("second", "second-password");

/// Runs `tests/browser/<script>` against a fresh relay on port 0.
async fn run_script(script: &str) {
    run_script_with(script, |_| {}).await;
}

/// Runs `tests/browser/<script>` against a fresh relay whose configuration
/// `tweak` adjusts.
async fn run_script_with(script: &str, tweak: impl FnOnce(&mut relay::config::Config)) {
    let _slot = CHROMIUM
        .acquire()
        .await
        .expect("the semaphore is never closed");
    let relay = spawn_relay_with(tweak).await;
    browser::run_script(
        script,
        &[
            ("CAUCUS_BASE_URL", relay.api.base.as_str()),
            ("CAUCUS_OMBUD_USER", OMBUD.0),
            ("CAUCUS_OMBUD_PASSWORD", OMBUD.1),
        ],
    )
    .await;
    relay.running.stop().await.expect("relay stops cleanly");
}
