//! The web client in Chromium on relays that keep their state in Redis,
//! across nodes: `tests/browser/e2e.mjs` (the whole client end to end) and
//! `onetext.mjs` (a single text to a concluded agreement), each against a
//! deployment of its own of two relay processes, with the ombud's console
//! on node 0 and both parties' pages on node 1 (`CAUCUS_PARTY_BASE_URL`,
//! see `tests/browser/lib.mjs`). So the pages are served by relays on Redis,
//! and whatever the ombud does reaches the parties, and whatever a party does
//! reaches the ombud, only through Redis: the commit script on one node, its
//! notification over pub/sub to the other. (What one party does that the
//! other sees, such as an approved relay or the joint thread, stays on node
//! 1; `nodes.rs` covers parties on different nodes over the protocol.)
//!
//! The browser suite (`tests/browser.rs`) runs every script against a
//! single relay on the embedded store; this is the same client, unchanged,
//! on the deployment a larger office runs. The two scripts run side by side,
//! as in that suite, so their deliberate waits overlap. The nodes share
//! this machine's cores, so each runs as the README advises for that:
//! `RELAY_WORKER_THREADS=1`.

use caucus_tests::app::OMBUD;
use caucus_tests::browser::{self, ScriptRun};
use caucus_tests::redis_server::Persistence;

use crate::support::Deployment;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_client_works_with_the_ombud_and_the_parties_on_different_nodes() {
    browser::assert_chromium();
    let (e2e, onetext) = tokio::join!(across_two_nodes("e2e.mjs"), across_two_nodes("onetext.mjs"));
    browser::assert_all_passed(&[e2e, onetext]);
}

/// Runs `script` with the ombud on node 0 and the parties on node 1 of a
/// fresh two-node deployment with a Redis of its own: `e2e.mjs` goes back
/// to the first room of the ombud's room list, so the scripts must not share
/// one account's rooms.
async fn across_two_nodes(script: &str) -> ScriptRun {
    let one_thread = [("RELAY_WORKER_THREADS", "1".to_string())];
    let mut d = Deployment::start_with(2, Persistence::None, &one_thread).await;
    // Beside the browser suite's pictures, never over them (nor over the
    // README's, with UPDATE_SCREENSHOTS).
    let shots = browser::target_dir().join("screenshots-redis");
    let mut run = browser::run_script(
        script,
        &[
            ("CAUCUS_SCREENSHOTS", &shots.to_string_lossy()),
            ("CAUCUS_BASE_URL", d.api(0).base.as_str()),
            ("CAUCUS_PARTY_BASE_URL", d.api(1).base.as_str()),
            ("CAUCUS_OMBUD_USER", OMBUD.0),
            ("CAUCUS_OMBUD_PASSWORD", OMBUD.1),
        ],
    )
    .await;
    // A node that died near the end might not fail the script.
    if run.outcome.is_ok() && !d.nodes_still_running() {
        run.outcome = Err(format!("a relay node exited during {script}"));
    }
    run
}
