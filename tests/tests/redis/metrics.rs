//! `/metrics` of a Redis-backed node through a Redis outage: the store
//! errors it answered, the notification connection's reconnect and the
//! resync of the room it serves are all counted.

use caucus_tests::app::free_port;
use caucus_tests::redis_server::Persistence;
use serde_json::json;

use crate::support::*;

/// How long Redis stays down: past the first reconnect attempt.
const OUTAGE: std::time::Duration = std::time::Duration::from_millis(1500);

#[tokio::test]
async fn a_redis_outage_counts_store_errors_a_pubsub_reconnect_and_a_resync() {
    let addr = format!("127.0.0.1:{}", free_port());
    let mut d = Deployment::start_with(
        1,
        Persistence::AppendOnly,
        &[("RELAY_METRICS_ADDR", addr.clone())],
    )
    .await;
    let home = d.api(0);
    let token = login(home).await;
    let room = create_room(home, &token, json!({"title": "Counted"})).await["id"]
        .as_str()
        .expect("room id")
        .to_string();
    let mut ombud = connect_ombud(&d.ws_url(0), &token, &room).await;
    for metric in [
        "relay_store_errors_total",
        "relay_pubsub_reconnects_total",
        "relay_pubsub_resyncs_total",
    ] {
        assert_eq!(counter(&addr, metric).await, 0.0, "{metric} before");
    }

    d.redis.terminate();
    let note =
        json!({"type": "send", "channel": "notes", "body": "while down", "client_id": "down"});
    let (code, _) = ombud.request(note).await.expect_err("redis is down");
    assert_eq!(code, "unavailable");
    assert_eq!(counter(&addr, "relay_store_errors_total").await, 1.0);
    tokio::time::sleep(OUTAGE).await;
    d.redis.restart();
    wait_ready(d.api(0)).await;

    // The resync follows the reconnect on the subscriber's own task.
    let counted = async {
        while counter(&addr, "relay_pubsub_resyncs_total").await < 1.0 {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), counted)
        .await
        .expect("the resync is counted");
    assert_eq!(counter(&addr, "relay_pubsub_reconnects_total").await, 1.0);
    assert_eq!(counter(&addr, "relay_pubsub_resyncs_total").await, 1.0);
}
