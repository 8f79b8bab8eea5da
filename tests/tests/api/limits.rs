//! No single client can exhaust the relay: login guessing is throttled,
//! password hashing is bounded, one participant cannot hold every socket or
//! outrun the rate limit with more connections, rooms have quotas, and heavy
//! requests stay off the paths that keep the relay answering.

use std::time::{Duration, Instant};

use caucus_tests::app::{spawn_relay, Shuttle};
use reqwest::Method;
use serde_json::json;

fn room() -> serde_json::Value {
    json!({"title": "Limits", "consent_required": true})
}

/// Polls `/healthz` every 10 ms until told to stop; returns the slowest answer.
fn watch_health(
    base: String,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Duration>,
) {
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let http = reqwest::Client::new();
    let task = tokio::spawn(async move {
        let mut worst = Duration::ZERO;
        loop {
            let started = Instant::now();
            let resp = http.get(format!("{base}/healthz")).send().await;
            assert!(resp.is_ok_and(|r| r.status() == 200), "healthz answers");
            worst = worst.max(started.elapsed());
            tokio::select! {
                _ = &mut stopped => return worst,
                () = tokio::time::sleep(Duration::from_millis(10)) => {}
            }
        }
    });
    (stop, task)
}

#[tokio::test]
async fn redaction_with_two_hundred_terms_is_quick_and_never_stalls_the_relay() {
    let relay = spawn_relay().await;
    let mut s = Shuttle::open(&relay.api, room()).await;
    let terms: Vec<String> = (0..200)
        .map(|i| format!("Codename{i} Östlund{i}"))
        .collect();
    s.api
        .ok(
            Method::PUT,
            &format!("/api/rooms/{}/terms", s.room),
            Some(&s.ombud_token),
            Some(json!({ "items": terms })),
        )
        .await;
    let mut body = String::new();
    let mut i = 0;
    while body.chars().count() < 16_000 {
        body.push_str(&format!(
            "Bob said codename{} to Östlund{} again. ",
            i % 300,
            i % 9
        ));
        i += 1;
    }
    let body: String = body.chars().take(16_000).collect();
    let sent =
        s.pa.ok(json!({"type": "send", "channel": s.chan_a(), "body": body, "client_id": "long"}))
            .await;
    let (stop, health) = watch_health(s.api.base.clone());
    tokio::time::sleep(Duration::from_millis(30)).await;
    let started = Instant::now();
    let spans = s
        .ombud
        .ok(json!({"type": "suggest_redactions", "message_id": sent["message"]["id"]}))
        .await;
    let took = started.elapsed();
    tokio::time::sleep(Duration::from_millis(30)).await;
    let _ = stop.send(());
    let worst = health.await.expect("health watcher");
    let spans = spans["spans"].as_array().expect("spans");
    assert!(spans.iter().any(|s| s["kind"] == "term"));
    assert!(spans.iter().any(|s| s["kind"] == "name"));
    // A debug build; release takes a few milliseconds (docs/BENCHMARKS.md).
    assert!(
        took < Duration::from_millis(1000),
        "suggestions took {took:?}"
    );
    assert!(
        worst < Duration::from_millis(250),
        "/healthz stalled for {worst:?}"
    );
}
