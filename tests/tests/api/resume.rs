//! Resuming after a dropped connection: nothing missed, nothing repeated.

use caucus_tests::app::{spawn_relay, Shuttle};
use caucus_tests::client::Ws;
use serde_json::json;

#[tokio::test]
async fn reconnecting_with_since_delivers_every_missed_event_exactly_once() {
    let relay = spawn_relay().await;
    let mut s = Shuttle::open(
        &relay.api,
        json!({"title": "Resume", "consent_required": false}),
    )
    .await;
    // B sees one relayed message, then its connection drops abruptly.
    let src =
        s.pa.ok(json!({"type": "send", "channel": s.chan_a(), "body": "m0", "client_id": "m0"}))
            .await;
    s.ombud.ok(json!({"type": "forward", "source_message_id": src["message"]["id"], "to": [s.b.0], "body": "relay 0"})).await;
    assert_eq!(s.pb.event_of("message").await["body"], "relay 0");
    let seen = s.pb.last_seq;
    let pb = std::mem::replace(
        &mut s.pb,
        Ws::connect(&s.ws_url, json!({"token": s.a.1})).await,
    );
    pb.drop_abruptly();
    let mut bodies = Vec::new();
    for i in 1..=30 {
        let src = s.pa.ok(json!({"type": "send", "channel": s.chan_a(), "body": format!("a{i}"), "client_id": format!("a{i}")})).await;
        s.ombud.ok(json!({"type": "forward", "source_message_id": src["message"]["id"], "to": [s.b.0], "body": format!("relay {i}")})).await;
        bodies.push(format!("relay {i}"));
    }
    let mut b = Ws::connect(&s.ws_url, json!({"token": s.b.1, "since": seen})).await;
    let head = b.welcome["seq"].as_u64().unwrap();
    let mut got = Vec::new();
    let mut seqs = Vec::new();
    while b.last_seq < head {
        let f = b.next_frame().await.unwrap();
        if f["type"] == "event" {
            seqs.push(f["seq"].as_u64().unwrap());
            if f["event"]["kind"] == "message" {
                got.push(f["event"]["body"].as_str().unwrap().to_string());
            }
        }
    }
    assert_eq!(got, bodies, "every relayed message, in order, once");
    let expected: Vec<u64> = (seen + 1..=head).collect();
    assert_eq!(seqs, expected, "contiguous seqs from since+1 to head");
    // Live events continue after the replay with the next seq.
    let src = s
        .pa
        .ok(json!({"type": "send", "channel": s.chan_a(), "body": "late", "client_id": "late"}))
        .await;
    s.ombud.ok(json!({"type": "forward", "source_message_id": src["message"]["id"], "to": [s.b.0], "body": "late relay"})).await;
    let f = loop {
        let f = b.next_frame().await.unwrap();
        if f["type"] == "event" {
            break f;
        }
    };
    assert_eq!(f["seq"].as_u64().unwrap(), head + 1);
}

#[tokio::test]
async fn since_null_replays_the_whole_inbox_and_nothing_else() {
    let relay = spawn_relay().await;
    let mut s = Shuttle::open(
        &relay.api,
        json!({"title": "Full", "consent_required": true}),
    )
    .await;
    s.pa.ok(json!({"type": "send", "channel": s.chan_a(), "body": "from a", "client_id": "1"}))
        .await;
    s.pb.ok(json!({"type": "send", "channel": s.chan_b(), "body": "from b", "client_id": "2"}))
        .await;
    let mut again = Ws::connect(&s.ws_url, json!({"token": s.a.1, "since": null})).await;
    let head = again.welcome["seq"].as_u64().unwrap();
    while again.last_seq < head {
        again.next_frame().await.unwrap();
    }
    assert!(again.saw("from a"));
    assert!(
        !again.saw("from b"),
        "replay never includes another party's thread"
    );
}

#[tokio::test]
async fn graceful_shutdown_tells_clients_to_reconnect() {
    let relay = spawn_relay().await;
    let mut s = Shuttle::open(&relay.api, json!({"title": "Bye"})).await;
    relay.running.stop().await.unwrap();
    assert_eq!(s.pa.closed().await, 1012);
}

#[tokio::test]
async fn a_replay_never_resends_retracted_words() {
    let relay = spawn_relay().await;
    let mut s = Shuttle::open(&relay.api, json!({"title": "Regret"})).await;
    let sent = s.pa.ok(json!({"type": "send", "channel": s.chan_a(), "body": "words I regret", "client_id": "r"})).await;
    s.pa.ok(json!({"type": "retract", "message_id": sent["message"]["id"]}))
        .await;
    let mut again = Ws::connect(
        &s.ws_url,
        json!({"token": s.ombud_token, "room_id": s.room, "since": 0}),
    )
    .await;
    again.drain_replay().await;
    assert!(again.saw("message_retracted"));
    assert!(
        !again.saw("words I regret"),
        "the retracted text is not replayed"
    );
}
