//! Running the Node.js scripts in `tests/browser/`: playwright-core driving
//! Debian's Chromium, and the test OpenID provider. Needs Node.js and
//! `/usr/bin/chromium` (`apt-get install chromium`); the npm dependencies are
//! installed with `npm ci` on first use.

use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use tokio::process::Command;

/// The checkout this crate was built from.
fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `tests/browser/`, where the scripts and their `package.json` live.
pub fn scripts_dir() -> PathBuf {
    repo_root().join("tests").join("browser")
}

/// Where scripts save screenshots: under the target folder, so a test run
/// leaves the checkout clean; `UPDATE_SCREENSHOTS=1` writes them to
/// `docs/screenshots/` (the README's pictures) instead.
pub fn screenshots_dir() -> PathBuf {
    if std::env::var_os("UPDATE_SCREENSHOTS").is_some() {
        return repo_root().join("docs").join("screenshots");
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"));
    target.join("screenshots")
}

pub fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// Fails the test, saying how, unless Chromium is there.
pub fn assert_chromium() {
    assert!(
        chromium().exists(),
        "{} is missing: install Debian's chromium (apt-get install chromium) or set CHROMIUM_PATH",
        chromium().display()
    );
}

pub fn report(what: &str, out: &Output) -> String {
    format!(
        "{what} exited with {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `npm ci` unless every package the lock file pins is installed.
pub async fn ensure_node_modules() {
    let dir = scripts_dir();
    let installed = ["playwright-core", "oidc-provider", "@axe-core/playwright"]
        .iter()
        .all(|p| {
            dir.join("node_modules")
                .join(p)
                .join("package.json")
                .exists()
        });
    if installed {
        return;
    }
    let out = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(&dir)
        .output()
        .await
        .expect("npm runs (is Node.js installed?)");
    assert!(
        out.status.success(),
        "{}",
        report("npm ci in tests/browser", &out)
    );
}

/// Generous: a script itself takes seconds, `npm ci` the first time longer.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(300);

/// Runs `tests/browser/<script>` with Chromium and the screenshots folder
/// set, plus `env`, and fails the test with the script's output unless it
/// succeeds in time. Prints what the script printed.
pub async fn run_script(script: &str, env: &[(&str, &str)]) {
    assert_chromium();
    ensure_node_modules().await;
    let run = Command::new("node")
        .arg(script)
        .current_dir(scripts_dir())
        .envs(env.iter().copied())
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
}
