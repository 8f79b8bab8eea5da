//! Answers a client can rely on: every request gets exactly one answer
//! before the socket closes, and a request made with an idempotency key is
//! applied at most once however often it is retried.

use caucus_tests::app::{spawn_relay, Shuttle};
use caucus_tests::client::Ws;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leave_is_answered_before_the_socket_closes() {
    let relay = spawn_relay().await;
    let s = Shuttle::open(&relay.api, json!({"title": "Leaving"})).await;
    // The close that `leave` sends to every connection of the party races
    // the answer; try it often enough that a lost race would show.
    for i in 0..12 {
        let (_, token) = relay
            .api
            .add_joined_party(&s.ombud_token, &s.room, &format!("Party {i}"))
            .await;
        let mut ws = Ws::connect(&s.ws_url, json!({"token": token})).await;
        ws.drain_replay().await;
        // `ok` fails if the socket closes before the answer arrives.
        let ack = ws.ok(json!({"type": "leave"})).await;
        assert_eq!(ack, json!({"left": true}));
        assert_eq!(ws.closed().await, 1000);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_request_with_an_idempotency_key_is_applied_once() {
    let relay = spawn_relay().await;
    let mut s = Shuttle::open(
        &relay.api,
        json!({"title": "Retries", "consent_required": false}),
    )
    .await;
    let chan_a = s.chan_a();
    let source = s
        .pa
        .ok(json!({"type": "send", "channel": chan_a, "body": "Please pass this on.", "client_id": "m1"}))
        .await;
    let forward = json!({
        "type": "forward",
        "idempotency_key": "fwd-1",
        "source_message_id": source["message"]["id"],
        "to": [s.b.0],
        "body": "A asks you to read this.",
    });
    let first = s.ombud.ok(forward.clone()).await;
    let again = s.ombud.ok(forward.clone()).await;
    assert_eq!(first, again, "a retry gets the first answer");
    // Delivered once: B has exactly one relayed copy.
    let copy = s.pb.event_of("message").await;
    assert_eq!(copy["body"], "A asks you to read this.");
    s.pb.no_event_within(std::time::Duration::from_millis(300))
        .await;

    // The same key for another request by the same participant answers as
    // the first did (it is the client's promise that they are one request).
    let withdraw = json!({"type": "forward_withdraw", "forward_id": first["forward_id"], "idempotency_key": "wd-1"});
    let withdrawn = s.ombud.ok(withdraw.clone()).await;
    assert_eq!(withdrawn["status"], "withdrawn");
    // Without a key the same withdrawal is refused; with it, answered again.
    assert_eq!(
        s.ombud
            .err(json!({"type": "forward_withdraw", "forward_id": first["forward_id"]}))
            .await,
        "conflict"
    );
    assert_eq!(s.ombud.ok(withdraw).await, withdrawn);

    // Keys belong to one participant: A's key "fwd-1" is A's own.
    let edit = json!({"type": "edit", "message_id": source["message"]["id"], "body": "Changed.", "idempotency_key": "fwd-1"});
    let edited = s.pa.ok(edit).await;
    assert_eq!(edited["message_id"], source["message"]["id"]);

    let too_long = "k".repeat(129);
    assert_eq!(
        s.pa.err(json!({"type": "retract", "message_id": source["message"]["id"], "idempotency_key": too_long}))
            .await,
        "invalid"
    );
}
