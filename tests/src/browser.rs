//! Running the Node.js scripts in `tests/browser/`: playwright-core driving
//! Debian's Chromium, and the test OpenID provider. Needs Node.js and
//! `/usr/bin/chromium-headless-shell` (`apt-get install chromium-headless-shell`)
//! or `/usr/bin/chromium`; the npm dependencies are installed with `npm ci`
//! on first use.

use std::path::PathBuf;
use std::process::Output;
use std::time::{Duration, Instant};

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
    target_dir().join("screenshots")
}

/// `CARGO_TARGET_DIR`, else the checkout's `target/`.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"))
}

/// `CHROMIUM_PATH`, else Debian's `chromium-headless-shell` if installed
/// (about half the processor time of `chromium --headless`; headless only),
/// else `chromium`. As `defaultChromium` in `tests/browser/lib.mjs`.
pub fn chromium() -> PathBuf {
    if let Some(path) = std::env::var_os("CHROMIUM_PATH") {
        return PathBuf::from(path);
    }
    let shell = PathBuf::from("/usr/bin/chromium-headless-shell");
    if std::env::var_os("HEADED").is_none_or(|h| h != "1") && shell.exists() {
        return shell;
    }
    PathBuf::from("/usr/bin/chromium")
}

/// Fails the test, saying how, unless Chromium is there.
pub fn assert_chromium() {
    assert!(
        chromium().exists(),
        "{} is missing: install Debian's chromium-headless-shell (apt-get install chromium-headless-shell) or set CHROMIUM_PATH",
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

/// `npm ci` unless every package the lock file pins is installed; scripts
/// starting together wait for one install.
pub async fn ensure_node_modules() {
    static INSTALL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _one_at_a_time = INSTALL.lock().await;
    let dir = scripts_dir();
    let installed = ["playwright-core", "oidc-provider", "axe-core"]
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

/// One script's run: how long it took, and what it printed or, if it
/// failed, a report of how.
pub struct ScriptRun {
    pub script: String,
    pub elapsed: Duration,
    pub outcome: Result<String, String>,
}

/// Runs `tests/browser/<script>` with Chromium and the screenshots folder
/// set, plus `env` (which may name another `CAUCUS_SCREENSHOTS`), and says
/// how it went; a script that does not finish in time has failed.
pub async fn run_script(script: &str, env: &[(&str, &str)]) -> ScriptRun {
    assert_chromium();
    ensure_node_modules().await;
    let started = Instant::now();
    let run = Command::new("node")
        .arg(script)
        .current_dir(scripts_dir())
        .env("CAUCUS_SCREENSHOTS", screenshots_dir())
        .env("CHROMIUM_PATH", chromium())
        .envs(env.iter().copied())
        .kill_on_drop(true)
        .output();
    let what = format!("node tests/browser/{script}");
    let outcome = match tokio::time::timeout(SCRIPT_TIMEOUT, run).await {
        Err(_) => Err(format!("{what} did not finish in {SCRIPT_TIMEOUT:?}")),
        Ok(Err(err)) => Err(format!(
            "{what} did not start (is Node.js installed?): {err}"
        )),
        Ok(Ok(out)) if out.status.success() => {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        }
        Ok(Ok(out)) => Err(report(&what, &out)),
    };
    ScriptRun {
        script: script.to_string(),
        elapsed: started.elapsed(),
        outcome,
    }
}

/// Prints what every script printed and how long it took, then fails the
/// test naming each script that failed, with its report.
pub fn assert_all_passed(runs: &[ScriptRun]) {
    let mut failed = Vec::new();
    for run in runs {
        match &run.outcome {
            Ok(stdout) => println!("{stdout}"),
            Err(report) => failed.push(format!("{}:\n{report}", run.script)),
        }
    }
    for run in runs {
        let verdict = if run.outcome.is_ok() { "ok" } else { "FAILED" };
        println!(
            "# node tests/browser/{}: {verdict} in {:.1} s",
            run.script,
            run.elapsed.as_secs_f64()
        );
    }
    assert!(
        failed.is_empty(),
        "{} browser script(s) failed:\n\n{}",
        failed.len(),
        failed.join("\n\n")
    );
}
