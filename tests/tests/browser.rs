//! The web client in a real browser: starts the relay on port 0 and runs
//! `tests/browser/e2e.mjs` (playwright-core driving Debian's Chromium) against
//! it, as three people would: an ombud and two parties.
//!
//! Needs Node.js and `/usr/bin/chromium` (`apt-get install chromium`); the
//! npm dependencies are installed with `npm ci` on first run. The script saves
//! its screenshots under `target/screenshots/`, so a test run leaves the
//! checkout clean; `UPDATE_SCREENSHOTS=1` writes them to `docs/screenshots/`
//! (the README's pictures) instead.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use caucus_tests::app::{spawn_relay, OMBUD};
use tokio::process::Command;

/// Generous: the script itself takes seconds, `npm ci` the first time longer.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(300);

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn screenshots_dir() -> PathBuf {
    if std::env::var_os("UPDATE_SCREENSHOTS").is_some() {
        return repo_root().join("docs").join("screenshots");
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"));
    target.join("screenshots")
}

fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

fn report(what: &str, out: &Output) -> String {
    format!(
        "{what} exited with {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `npm ci` when playwright-core is not installed yet (the lock file pins it).
async fn ensure_node_modules(dir: &Path) {
    if dir
        .join("node_modules")
        .join("playwright-core")
        .join("package.json")
        .exists()
    {
        return;
    }
    let out = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(dir)
        .output()
        .await
        .expect("npm runs (is Node.js installed?)");
    assert!(
        out.status.success(),
        "{}",
        report("npm ci in tests/browser", &out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_client_works_end_to_end_in_chromium() {
    run_script("e2e.mjs").await;
}

/// The single negotiating text, from a first draft to a downloaded
/// agreement, and a range question (`tests/browser/onetext.mjs`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_text_session_ends_in_a_downloaded_agreement_in_chromium() {
    run_script("onetext.mjs").await;
}

/// Starts a relay on port 0 and runs one browser script against it.
async fn run_script(script: &str) {
    assert!(
        chromium().exists(),
        "{} is missing: install Debian's chromium (apt-get install chromium) or set CHROMIUM_PATH",
        chromium().display()
    );
    let dir = repo_root().join("tests").join("browser");
    ensure_node_modules(&dir).await;

    let relay = spawn_relay().await;
    let run = Command::new("node")
        .arg(script)
        .current_dir(&dir)
        .env("CAUCUS_BASE_URL", &relay.api.base)
        .env("CAUCUS_OMBUD_USER", OMBUD.0)
        .env("CAUCUS_OMBUD_PASSWORD", OMBUD.1)
        .env("CAUCUS_SCREENSHOTS", screenshots_dir())
        .env("CHROMIUM_PATH", chromium())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(SCRIPT_TIMEOUT, run)
        .await
        .expect("the browser test finished in time")
        .expect("node runs (is Node.js installed?)");
    assert!(
        out.status.success(),
        "{}",
        report(&format!("node tests/browser/{script}"), &out)
    );
    println!("{}", String::from_utf8_lossy(&out.stdout));
    relay.running.stop().await.expect("relay stops cleanly");
}
