//! A relay process SIGKILLed in the middle of a session and started again on
//! the same port and the same (durable) Redis: nothing acknowledged is lost,
//! and clients resume with `since` with nothing missing or repeated.

use std::collections::BTreeMap;

use caucus_tests::client::Ws;
use caucus_tests::redis_server::Persistence;
use serde_json::{json, Value};

use crate::support::*;

/// Sends pipelined without waiting for answers, so the kill lands while
/// some are in flight.
const BURST: usize = 100;
/// The kill comes once this many of the burst are acknowledged.
const KILL_AFTER_ACKS: usize = 20;
const REQ_BASE: u64 = 1_000_000;

#[tokio::test]
async fn a_relay_killed_mid_session_loses_no_acknowledged_message_and_clients_resume_exactly() {
    let mut d = Deployment::start_with(
        1,
        Persistence::AppendOnly,
        &[("RELAY_RATE_BURST", "2000".into())],
    )
    .await;
    let api = d.api(0).clone();
    let url = d.ws_url(0);
    let token = login(&api).await;
    let room = create_room(
        &api,
        &token,
        json!({"title": "Killed mid-session", "consent_required": false}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let a = add_party(&api, &api, &token, &room, "Ada").await;
    let b = add_party(&api, &api, &token, &room, "Ben").await;
    let mut ombud = connect_ombud(&url, &token, &room).await;
    let mut pa = connect_party(&url, &a).await;
    let mut pb = connect_party(&url, &b).await;

    // Before the kill: A talks, the ombud relays to B, B reads it live.
    let mut expected = Vec::new();
    for i in 0..5 {
        let body = format!("before kill {i}");
        let sent = pa
            .ok(json!({"type": "send", "channel": a.channel(), "body": body, "client_id": format!("pre-{i}")}))
            .await;
        expected.push(body);
        ombud
            .ok(json!({"type": "forward", "source_message_id": sent["message"]["id"], "to": [b.id], "body": format!("relayed {i}")}))
            .await;
        assert_eq!(
            message_in(&mut pb, &b.channel()).await["body"],
            format!("relayed {i}")
        );
    }

    // A burst of sends from A, pipelined; the relay is SIGKILLed as soon as
    // some are acknowledged.
    let burst: Vec<(String, String)> = (0..BURST)
        .map(|i| (format!("burst-{i}"), format!("burst message {i} from Ada")))
        .collect();
    for (i, (client_id, body)) in burst.iter().enumerate() {
        let frame = json!({"type": "send", "req": REQ_BASE + i as u64, "channel": a.channel(), "body": body, "client_id": client_id});
        pa.send_raw(&frame.to_string()).await;
    }
    let mut acked: BTreeMap<u64, Value> = BTreeMap::new();
    let mut killed = false;
    while let Some(frame) = pa.next_frame().await {
        if frame["type"] == "ack" {
            let req = frame["req"].as_u64().expect("numeric req") - REQ_BASE;
            acked.insert(req, frame["result"]["message"].clone());
        } else {
            assert_ne!(frame["type"], "error", "{frame}");
        }
        if !killed && acked.len() >= KILL_AFTER_ACKS {
            d.kill_node(0);
            killed = true;
        }
    }
    assert!(killed, "the relay closed the connection before the kill");
    // Acknowledgements come in order, so they are a prefix of the burst.
    let acked_count = acked.len();
    assert_eq!(
        acked.keys().copied().collect::<Vec<_>>(),
        (0..acked_count as u64).collect::<Vec<_>>()
    );
    // Everything the ombud and B had been sent before the kill.
    ombud.closed().await;
    pb.closed().await;
    let ombud_before = events(&ombud);
    let a_before = events(&pa);
    let b_before = events(&pb);

    d.start_node_again(0).await;

    // Tokens survive the restart; each client resumes from the last seq it saw.
    let mut ombud2 = ws_since(&url, json!({"token": token, "room_id": room}), &ombud).await;
    let mut pa2 = ws_since(&url, json!({"token": a.token}), &pa).await;
    let mut pb2 = ws_since(&url, json!({"token": b.token}), &pb).await;

    // Every acknowledged send is stored: sent again with the same client_id,
    // it is the same message, marked a duplicate. The client sends again
    // what was not acknowledged (some of it may have been stored); each is
    // then stored once.
    for (i, (client_id, body)) in burst.iter().enumerate() {
        expected.push(body.clone());
        let first = acked.get(&(i as u64));
        if first.is_some() && i % 5 != 0 {
            continue;
        }
        let again = pa2
            .ok(json!({"type": "send", "channel": a.channel(), "body": body, "client_id": client_id}))
            .await;
        if let Some(first) = first {
            assert_eq!(again["duplicate"], true, "{client_id} was acknowledged");
            assert_eq!(again["message"]["id"], first["id"], "{client_id}");
        }
    }
    // A last message, surely new, marks the end of the stream.
    pa2.ok(json!({"type": "send", "channel": a.channel(), "body": "the end", "client_id": "end"}))
        .await;
    expected.push("the end".into());

    // The ombud and A have every message exactly once, with seqs contiguous
    // across the kill.
    for (ws, before, who) in [
        (&mut ombud2, &ombud_before, "ombud"),
        (&mut pa2, &a_before, "party A"),
    ] {
        frame_where(ws, |f| {
            f["type"] == "event" && f["event"]["body"] == "the end"
        })
        .await;
        let all: Vec<(u64, Value)> = before.iter().cloned().chain(events(ws)).collect();
        assert_contiguous(&all, 1, who);
        assert_eq!(bodies_in(&all, &a.channel()), expected, "{who}");
    }
    // What was delivered live equals what a full replay shows now.
    let ombud_all: Vec<(u64, Value)> = ombud_before.into_iter().chain(events(&ombud2)).collect();
    assert_eq!(
        stored_inbox(&url, json!({"token": token, "room_id": room})).await,
        ombud_all
    );

    // B missed nothing during the kill, and live delivery goes on after it.
    let src = pa2
        .ok(json!({"type": "send", "channel": a.channel(), "body": "after restart", "client_id": "post"}))
        .await;
    ombud2
        .ok(json!({"type": "forward", "source_message_id": src["message"]["id"], "to": [b.id], "body": "relayed after restart"}))
        .await;
    let live = frame_where(&mut pb2, |f| f["type"] == "event").await;
    assert_eq!(live["seq"].as_u64(), Some(pb.last_seq + 1));
    assert_eq!(live["event"]["body"], "relayed after restart");
    let b_all: Vec<(u64, Value)> = b_before.into_iter().chain(events(&pb2)).collect();
    assert_contiguous(&b_all, 1, "party B");
    assert_eq!(
        bodies_in(&b_all, &b.channel()),
        [
            "relayed 0",
            "relayed 1",
            "relayed 2",
            "relayed 3",
            "relayed 4",
            "relayed after restart"
        ]
    );
    assert_eq!(stored_inbox(&url, json!({"token": b.token})).await, b_all);
}

/// Reconnects with `since` = the last seq `old` saw, and reads the replay.
async fn ws_since(url: &str, mut hello: Value, old: &Ws) -> Ws {
    hello["since"] = json!(old.last_seq);
    let mut ws = Ws::connect(url, hello).await;
    let head = ws.welcome["seq"].as_u64().expect("welcome seq");
    read_to(&mut ws, head).await;
    ws
}
