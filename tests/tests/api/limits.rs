//! No single client can exhaust the relay: login guessing is throttled,
//! password hashing is bounded, one participant cannot hold every socket or
//! outrun the rate limit with more connections, rooms have quotas, and heavy
//! requests stay off the paths that keep the relay answering.

use std::time::{Duration, Instant};

use caucus_tests::app::{spawn_relay, spawn_relay_with, Shuttle};
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

// --- HTTP connections -----------------------------------------------------

/// Reads until the relay closes the connection; how long that took.
async fn closed_after(tcp: &mut tokio::net::TcpStream, dribble: bool) -> Duration {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    while started.elapsed() < Duration::from_secs(8) {
        if dribble && tcp.write_all(b"X-Slow: 1\r\n").await.is_err() {
            break;
        }
        let read = tokio::time::timeout(Duration::from_millis(200), tcp.read(&mut buf)).await;
        // End of stream or a reset: closed. Data or nothing yet: keep waiting.
        if let Ok(Ok(0) | Err(_)) = read {
            break;
        }
    }
    started.elapsed()
}

#[tokio::test]
async fn silent_dribbling_and_idle_http_connections_are_closed_in_time() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let relay = spawn_relay_with(|c| c.http_timeout_secs = 1).await;
    let addr = relay.running.addr;

    let mut silent = tokio::net::TcpStream::connect(addr).await.unwrap();
    let took = closed_after(&mut silent, false).await;
    assert!(
        took < Duration::from_secs(3),
        "a silent connection lived {took:?}"
    );

    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let took = closed_after(&mut slow, true).await;
    assert!(
        took < Duration::from_secs(3),
        "a dribbling request lived {took:?}"
    );

    let mut idle = tokio::net::TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = idle.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let took = closed_after(&mut idle, false).await;
    assert!(
        took < Duration::from_secs(3),
        "an idle keep-alive lived {took:?}"
    );
}
