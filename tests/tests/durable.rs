//! The default, embedded store is durable: a relay killed with SIGKILL in
//! the middle of a stream of messages and started again on the same data
//! directory has every message it acknowledged, with gapless inboxes, and
//! clients that resume with `since` receive each missed event exactly once.
//! Tokens and accounts survive too (the secrets live beside the database).

use std::collections::HashSet;
use std::path::PathBuf;

use caucus_tests::app::{free_port, RelayProcess, OMBUD};
use caucus_tests::client::{Api, Ws};
use serde_json::{json, Value};

/// A data directory of the test's own, removed afterwards.
struct DataDir(PathBuf);

impl DataDir {
    fn new() -> DataDir {
        DataDir(std::env::temp_dir().join(format!("caucus-durable-{}", uuid::Uuid::new_v4())))
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn start(dir: &DataDir) -> RelayProcess {
    RelayProcess::start(
        free_port(),
        &[
            ("RELAY_DATA_DIR", dir.0.display().to_string()),
            ("RELAY_BOOTSTRAP_OMBUD", format!("{}:{}", OMBUD.0, OMBUD.1)),
        ],
    )
    .await
}

/// Every stored event, replayed from the start.
async fn stored(api: &Api, hello: Value) -> Vec<Value> {
    let mut hello = hello;
    hello["since"] = json!(0);
    let mut ws = Ws::connect(&api.ws_url(), hello).await;
    ws.drain_replay().await;
    ws.received
        .iter()
        .filter_map(|f| serde_json::from_str::<Value>(f).ok())
        .filter(|v| v["type"] == "event")
        .collect()
}

fn assert_gapless(events: &[Value], who: &str) {
    for (i, e) in events.iter().enumerate() {
        assert_eq!(
            e["seq"],
            json!(i as u64 + 1),
            "{who}: inbox has a gap or a repeat"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_relay_keeps_everything_it_acknowledged() {
    let dir = DataDir::new();
    let mut relay = start(&dir).await;
    let api = relay.api.clone();
    let token = api.login(OMBUD.0, OMBUD.1).await;
    let room = api
        .create_room(
            &token,
            json!({"title": "Durable", "consent_required": true}),
        )
        .await;
    let (a_id, a_token) = api.add_joined_party(&token, &room, "Ada").await;
    let channel = format!("private:{a_id}");
    let mut ombud = Ws::connect(&api.ws_url(), json!({"token": token, "room_id": room})).await;
    let mut pa = Ws::connect(&api.ws_url(), json!({"token": a_token})).await;
    pa.ok(json!({"type": "acknowledge_notice"})).await;

    // A stream of messages (within the rate burst), not waiting for
    // answers; once some are acknowledged the relay is killed while the
    // rest are in flight.
    const SENT: usize = 150;
    for i in 0..SENT {
        let frame = json!({"type": "send", "req": i, "channel": channel, "body": format!("message {i}."), "client_id": format!("m{i}")});
        pa.send_raw(&frame.to_string()).await;
    }
    let mut acknowledged = HashSet::new();
    let mut killed = false;
    while let Some(frame) = pa.next_frame().await {
        if frame["type"] == "ack" {
            acknowledged.insert(
                frame["result"]["message"]["body"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            );
        }
        if acknowledged.len() == 20 && !killed {
            relay.kill();
            killed = true;
        }
    }
    assert!(
        acknowledged.len() < SENT,
        "the relay was killed too late to matter"
    );
    assert!(
        !acknowledged.is_empty(),
        "nothing was acknowledged before the kill"
    );
    while ombud.next_frame().await.is_some() {}
    let (ombud_seen, party_seen) = (ombud.last_seq, pa.last_seq);

    // Started again on the same directory: same secrets, so old tokens work.
    let relay = start(&dir).await;
    let api = relay.api.clone();
    let party_events = stored(&api, json!({"token": a_token})).await;
    let ombud_events = stored(&api, json!({"token": token, "room_id": room})).await;
    assert_gapless(&party_events, "party");
    assert_gapless(&ombud_events, "ombud");
    let bodies: HashSet<String> = ombud_events
        .iter()
        .filter(|e| e["event"]["kind"] == "message")
        .map(|e| e["event"]["body"].as_str().unwrap().to_string())
        .collect();
    for body in &acknowledged {
        assert!(
            bodies.contains(body),
            "{body:?} was acknowledged, then lost"
        );
    }

    // Resuming with `since` gives exactly the events after it, once each.
    for (hello, seen, all) in [
        (
            json!({"token": a_token, "since": party_seen}),
            party_seen,
            &party_events,
        ),
        (
            json!({"token": token, "room_id": room, "since": ombud_seen}),
            ombud_seen,
            &ombud_events,
        ),
    ] {
        let mut ws = Ws::connect(&api.ws_url(), hello).await;
        ws.drain_replay().await;
        let resumed: Vec<Value> = ws
            .received
            .iter()
            .filter_map(|f| serde_json::from_str::<Value>(f).ok())
            .filter(|v| v["type"] == "event")
            .collect();
        assert_eq!(resumed.as_slice(), &all[seen as usize..]);
    }

    // And the room goes on: a new message after the restart is stored next.
    let mut pa = Ws::connect(
        &api.ws_url(),
        json!({"token": a_token, "since": party_seen}),
    )
    .await;
    pa.drain_replay().await;
    pa.ok(json!({"type": "send", "channel": channel, "body": "after the restart", "client_id": "after"}))
        .await;
    let again = stored(&api, json!({"token": token, "room_id": room})).await;
    assert_gapless(&again, "ombud after restart");
    assert_eq!(again.len(), ombud_events.len() + 1);
}
