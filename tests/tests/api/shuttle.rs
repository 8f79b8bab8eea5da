//! The shuttle flow: every request and every event kind.

use caucus_tests::app::{spawn_relay, Shuttle};
use serde_json::json;
use std::time::Duration;

const SHORT: Duration = Duration::from_millis(300);

fn consent_room() -> serde_json::Value {
    json!({"title": "Case 7", "consent_required": true})
}

#[tokio::test]
async fn party_message_reaches_ombud_but_not_other_party() {
    let relay = spawn_relay().await;
    let mut s = Shuttle::open(&relay.api, consent_room()).await;
    let ack = s.pa.ok(json!({"type": "send", "channel": s.chan_a(), "body": "he took my stapler", "client_id": "c1"})).await;
    assert_eq!(ack["message"]["body"], "he took my stapler");
    let ev = s.ombud.event_of("message").await;
    assert_eq!(ev["body"], "he took my stapler");
    assert_eq!(ev["author"]["role"], "party");
    assert!(
        ev.get("client_id").is_none(),
        "only the author's copy carries client_id"
    );
    let own = s.pa.event_of("message").await;
    assert_eq!(own["client_id"], "c1");
    s.pb.no_event_within(SHORT).await;
    assert!(!s.pb.saw("stapler"));
}

#[tokio::test]
async fn resending_a_client_id_returns_the_same_message_and_delivers_nothing_twice() {
    let relay = spawn_relay().await;
    let mut s = Shuttle::open(&relay.api, consent_room()).await;
    let frame = json!({"type": "send", "channel": s.chan_a(), "body": "once", "client_id": "same"});
    let first = s.pa.ok(frame.clone()).await;
    let second = s.pa.ok(frame).await;
    assert_eq!(first["message"]["id"], second["message"]["id"]);
    assert_eq!(second["duplicate"], true);
    s.ombud.event_of("message").await;
    s.ombud.no_event_within(SHORT).await;
}

#[tokio::test]
async fn forward_with_consent_delivers_only_the_approved_revision() {
    let relay = spawn_relay().await;
    let mut s = Shuttle::open(&relay.api, consent_room()).await;
    let sent = s.pa.ok(json!({"type": "send", "channel": s.chan_a(), "body": "Bob is lazy and owes me 50", "client_id": "c1"})).await;
    let mid = sent["message"]["id"].clone();
    let fwd = s.ombud.ok(json!({"type": "forward", "source_message_id": mid, "to": [s.b.0], "body": "Alice raises a concern about a debt"})).await;
    assert_eq!(fwd["status"], "awaiting_consent");
    let fid = fwd["forward_id"].clone();

    let ask = s.pa.event_of("consent_requested").await;
    assert_eq!(ask["body"], "Alice raises a concern about a debt");
    assert_eq!(ask["revision"], 1);
    assert_eq!(ask["to_names"], json!(["Bob"]));
    s.pb.no_event_within(SHORT).await;

    // A new revision: the old consent no longer counts.
    s.ombud
        .ok(json!({"type": "forward_update", "forward_id": fid, "body": "Alice raises a concern"}))
        .await;
    let ask2 = s.pa.event_of("consent_requested").await;
    assert_eq!(ask2["revision"], 2);
    let stale = s
        .pa
        .err(json!({"type": "consent", "forward_id": fid, "revision": 1, "decision": "approve"}))
        .await;
    assert_eq!(stale, "conflict");
    s.pb.no_event_within(SHORT).await;

    // Only the author may decide.
    let not_author = s
        .pb
        .err(json!({"type": "consent", "forward_id": fid, "revision": 2, "decision": "approve"}))
        .await;
    assert_eq!(not_author, "forbidden");

    s.pa.ok(json!({"type": "consent", "forward_id": fid, "revision": 2, "decision": "approve"}))
        .await;
    let got = s.pb.event_of("message").await;
    assert_eq!(got["body"], "Alice raises a concern");
    assert_eq!(got["relayed_from"]["display_name"], "Alice Émile");
    assert_eq!(got["author"]["role"], "ombud");
    let decided = s.ombud.event_of("consent_decided").await;
    assert_eq!(decided["decision"], "approve");
    let status = s.ombud.event_of("forward_status").await;
    assert!(status["status"] == "delivered" || status["status"] == "awaiting_consent");
    assert!(!s.pb.saw("lazy"), "B never receives the original");
}

#[tokio::test]
async fn declined_forward_is_never_delivered() {
    let relay = spawn_relay().await;
    let mut s = Shuttle::open(&relay.api, consent_room()).await;
    let sent = s.pa.ok(json!({"type": "send", "channel": s.chan_a(), "body": "private thing", "client_id": "c1"})).await;
    let fwd = s.ombud.ok(json!({"type": "forward", "source_message_id": sent["message"]["id"], "to": [s.b.0], "body": "softened"})).await;
    s.pa.ok(json!({"type": "consent", "forward_id": fwd["forward_id"], "revision": 1, "decision": "decline", "note": "not yet"})).await;
    let decided = s.ombud.event_of("consent_decided").await;
    assert_eq!(decided["decision"], "decline");
    assert_eq!(decided["note"], "not yet");
    s.pb.no_event_within(SHORT).await;
    assert!(!s.pb.saw("softened"));
}

#[tokio::test]
async fn forward_without_consent_room_delivers_at_once_and_anonymous_hides_the_source() {
    let relay = spawn_relay().await;
    let mut s = Shuttle::open(
        &relay.api,
        json!({"title": "Quick", "consent_required": false, "attribution": "anonymous"}),
    )
    .await;
    let sent = s
        .pa
        .ok(json!({"type": "send", "channel": s.chan_a(), "body": "raw words", "client_id": "c1"}))
        .await;
    let fwd = s.ombud.ok(json!({"type": "forward", "source_message_id": sent["message"]["id"], "to": [s.b.0], "body": "gentle words"})).await;
    assert_eq!(fwd["status"], "delivered");
    let got = s.pb.event_of("message").await;
    assert_eq!(got["body"], "gentle words");
    assert!(got["relayed_from"].get("party_id").is_none());
    assert!(got["relayed_from"].get("display_name").is_none());
    assert!(
        !s.pb.saw("Alice"),
        "anonymous attribution never names the source"
    );
}

#[tokio::test]
async fn do_not_share_messages_cannot_be_forwarded() {
    let relay = spawn_relay().await;
    let mut s = Shuttle::open(&relay.api, consent_room()).await;
    let sent = s.pa.ok(json!({"type": "send", "channel": s.chan_a(), "body": "only for you", "client_id": "c1", "shareable": false})).await;
    let code = s.ombud.err(json!({"type": "forward", "source_message_id": sent["message"]["id"], "to": [s.b.0], "body": "x"})).await;
    assert_eq!(code, "forbidden");
}

#[tokio::test]
async fn edit_and_retract_reach_exactly_the_recipients() {
    let relay = spawn_relay().await;
    let mut s = Shuttle::open(&relay.api, consent_room()).await;
    let sent = s
        .pa
        .ok(json!({"type": "send", "channel": s.chan_a(), "body": "typo here", "client_id": "c1"}))
        .await;
    let mid = sent["message"]["id"].clone();
    s.pa.ok(json!({"type": "edit", "message_id": mid, "body": "fixed here"}))
        .await;
    let ed = s.ombud.event_of("message_edited").await;
    assert_eq!(ed["body"], "fixed here");
    let code = s
        .ombud
        .err(json!({"type": "edit", "message_id": mid, "body": "ombud rewrites"}))
        .await;
    assert_eq!(code, "forbidden", "only the author edits");
    s.pa.ok(json!({"type": "retract", "message_id": mid})).await;
    let r = s.ombud.event_of("message_retracted").await;
    assert_eq!(r["message_id"], mid);
    s.pb.no_event_within(SHORT).await;
}

#[tokio::test]
async fn ombud_edits_and_retracts_a_relayed_message_with_fresh_consent() {
    let relay = spawn_relay().await;
    let mut s = Shuttle::open(&relay.api, consent_room()).await;
    let sent = s
        .pa
        .ok(json!({"type": "send", "channel": s.chan_a(), "body": "source", "client_id": "c1"}))
        .await;
    let fwd = s.ombud.ok(json!({"type": "forward", "source_message_id": sent["message"]["id"], "to": [s.b.0], "body": "v1"})).await;
    let fid = fwd["forward_id"].clone();
    s.pa.ok(json!({"type": "consent", "forward_id": fid, "revision": 1, "decision": "approve"}))
        .await;
    let copy = s.pb.event_of("message").await;
    assert_eq!(copy["body"], "v1");

    // The ombud edits the relayed copy: the author is asked about the exact new text.
    let ack = s
        .ombud
        .ok(json!({"type": "edit", "message_id": copy["id"], "body": "v2"}))
        .await;
    assert_eq!(ack["pending_consent"], true);
    let ask = loop {
        let ask = s.pa.event_of("consent_requested").await;
        if ask["revision"] == 2 {
            break ask;
        }
    };
    assert_eq!(ask["is_edit"], true);
    assert_eq!(ask["body"], "v2");
    s.pb.no_event_within(SHORT).await;
    s.pa.ok(json!({"type": "consent", "forward_id": fid, "revision": ask["revision"], "decision": "approve"})).await;
    let edited = s.pb.event_of("message_edited").await;
    assert_eq!(edited["body"], "v2");
    assert_eq!(edited["message_id"], copy["id"]);

    s.ombud
        .ok(json!({"type": "retract", "message_id": copy["id"]}))
        .await;
    let gone = s.pb.event_of("message_retracted").await;
    assert_eq!(gone["message_id"], copy["id"]);
}

#[tokio::test]
async fn retracting_a_source_withdraws_its_pending_forwards() {
    let relay = spawn_relay().await;
    let mut s = Shuttle::open(&relay.api, consent_room()).await;
    let sent = s
        .pa
        .ok(json!({"type": "send", "channel": s.chan_a(), "body": "regret", "client_id": "c1"}))
        .await;
    let fwd = s.ombud.ok(json!({"type": "forward", "source_message_id": sent["message"]["id"], "to": [s.b.0], "body": "r"})).await;
    s.pa.ok(json!({"type": "retract", "message_id": sent["message"]["id"]}))
        .await;
    loop {
        let st = s.ombud.event_of("forward_status").await;
        if st["status"] == "withdrawn" {
            break;
        }
    }
    let code = s.pa.err(json!({"type": "consent", "forward_id": fwd["forward_id"], "revision": 1, "decision": "approve"})).await;
    assert_eq!(code, "conflict");
    s.pb.no_event_within(SHORT).await;
}

#[tokio::test]
async fn ombud_withdraws_a_pending_forward() {
    let relay = spawn_relay().await;
    let mut s = Shuttle::open(&relay.api, consent_room()).await;
    let sent =
        s.pa.ok(json!({"type": "send", "channel": s.chan_a(), "body": "x", "client_id": "c1"}))
            .await;
    let fwd = s.ombud.ok(json!({"type": "forward", "source_message_id": sent["message"]["id"], "to": [s.b.0], "body": "y"})).await;
    let w = s
        .ombud
        .ok(json!({"type": "forward_withdraw", "forward_id": fwd["forward_id"]}))
        .await;
    assert_eq!(w["status"], "withdrawn");
    let st = s.pa.event_of("forward_status").await;
    assert!(st["status"] == "awaiting_consent" || st["status"] == "withdrawn");
    let code = s.pa.err(json!({"type": "consent", "forward_id": fwd["forward_id"], "revision": 1, "decision": "approve"})).await;
    assert_eq!(code, "conflict");
}

#[tokio::test]
async fn joint_session_opens_for_everyone_and_closes_again() {
    let relay = spawn_relay().await;
    let mut s = Shuttle::open(&relay.api, consent_room()).await;
    let closed =
        s.pa.err(json!({"type": "send", "channel": "joint", "body": "hi all", "client_id": "j0"}))
            .await;
    assert_eq!(closed, "conflict");
    s.ombud.ok(json!({"type": "joint", "open": true})).await;
    s.pa.event_of("joint_opened").await;
    s.pb.event_of("joint_opened").await;
    s.pa.ok(
        json!({"type": "send", "channel": "joint", "body": "hello everyone", "client_id": "j1"}),
    )
    .await;
    assert_eq!(s.pb.event_of("message").await["body"], "hello everyone");
    assert_eq!(s.ombud.event_of("message").await["channel"], "joint");
    s.ombud.ok(json!({"type": "joint", "open": false})).await;
    s.pb.event_of("joint_closed").await;
    let after =
        s.pb.err(json!({"type": "send", "channel": "joint", "body": "late", "client_id": "j2"}))
            .await;
    assert_eq!(after, "conflict");
}

#[tokio::test]
async fn notes_are_for_ombuds_only() {
    let relay = spawn_relay().await;
    let mut s = Shuttle::open(&relay.api, consent_room()).await;
    s.ombud.ok(json!({"type": "send", "channel": "notes", "body": "A seems anxious", "client_id": "n1"})).await;
    assert_eq!(s.ombud.event_of("message").await["channel"], "notes");
    let code =
        s.pa.err(json!({"type": "send", "channel": "notes", "body": "peek", "client_id": "n2"}))
            .await;
    assert_eq!(code, "forbidden");
    s.pa.no_event_within(SHORT).await;
    assert!(!s.pa.saw("anxious") && !s.pb.saw("anxious"));
}

#[tokio::test]
async fn typing_and_presence_are_ephemeral_and_scoped() {
    let relay = spawn_relay().await;
    let mut s = Shuttle::open(&relay.api, consent_room()).await;
    s.pa.ok(json!({"type": "typing", "channel": s.chan_a()}))
        .await;
    loop {
        let f = s.ombud.next_frame().await.unwrap();
        if f["type"] == "typing" {
            assert_eq!(f["participant_id"], s.a.0);
            assert!(f.get("seq").is_none());
            break;
        }
    }
    s.pb.no_event_within(SHORT).await;
    assert!(
        !s.pb.received.iter().any(|f| f.contains("\"typing\"")),
        "B never sees A typing"
    );
    // Presence: the ombud sees a party come online.
    let again = caucus_tests::client::Ws::connect(&s.ws_url, json!({"token": s.b.1})).await;
    loop {
        let f = s.ombud.next_frame().await.unwrap();
        if f["type"] == "presence" && f["participant_id"] == s.b.0 && f["online"] == true {
            break;
        }
    }
    again.close().await;
}

/// The heartbeat: `ping` is answered `{}` and reaches nobody else.
#[tokio::test]
async fn ping_is_answered_and_tells_no_one() {
    let relay = spawn_relay().await;
    let mut s = Shuttle::open(&relay.api, consent_room()).await;
    let ack = s.pa.ok(json!({"type": "ping"})).await;
    assert_eq!(ack, json!({}));
    s.ombud.ok(json!({"type": "ping"})).await;
    s.pb.no_event_within(SHORT).await;
    assert!(!s.ombud.received.iter().any(|f| f.contains("\"ping\"")));
}

#[tokio::test]
async fn leaving_is_final_and_the_token_stops_working() {
    let relay = spawn_relay().await;
    let mut s = Shuttle::open(&relay.api, consent_room()).await;
    s.pb.ok(json!({"type": "leave"})).await;
    assert_eq!(s.pb.closed().await, 1000);
    let left = s.ombud.event_of("participant_left").await;
    assert_eq!(left["participant_id"], s.b.0);
    let refused = caucus_tests::client::Ws::try_connect(&s.ws_url, json!({"token": s.b.1})).await;
    assert_eq!(refused.err().map(|e| e.0), Some(4003));
    let code = s.ombud.err(json!({"type": "send", "channel": s.chan_b(), "body": "still there?", "client_id": "x"})).await;
    assert_eq!(code, "conflict");
}

#[tokio::test]
async fn participant_joined_reaches_the_ombud() {
    let relay = spawn_relay().await;
    let mut s = Shuttle::open(&relay.api, consent_room()).await;
    let (id, _tok) = s
        .api
        .add_joined_party(&s.ombud_token, &s.room, "Carol")
        .await;
    let j = s.ombud.event_of("participant_joined").await;
    // The two earlier joins came first; find Carol's.
    let mut j = j;
    while j["participant"]["id"] != id.as_str() {
        j = s.ombud.event_of("participant_joined").await;
    }
    assert_eq!(j["participant"]["display_name"], "Carol");
    s.pa.no_event_within(SHORT).await;
}

#[tokio::test]
async fn closing_a_room_tells_everyone_and_closes_every_connection() {
    let relay = spawn_relay().await;
    let mut s = Shuttle::open(&relay.api, consent_room()).await;
    let (status, _) = s
        .api
        .call(
            reqwest::Method::DELETE,
            &format!("/api/rooms/{}", s.room),
            Some(&s.ombud_token),
            None,
        )
        .await;
    assert_eq!(status, 204);
    for ws in [&mut s.pa, &mut s.pb, &mut s.ombud] {
        assert_eq!(ws.event_of("room_closed").await["kind"], "room_closed");
        assert_eq!(ws.closed().await, 4009);
    }
    let again = caucus_tests::client::Ws::try_connect(&s.ws_url, json!({"token": s.a.1})).await;
    assert_eq!(again.err().map(|e| e.0), Some(4009));
    let (status, _) = s
        .api
        .call(
            reqwest::Method::GET,
            &format!("/api/rooms/{}", s.room),
            Some(&s.ombud_token),
            None,
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_new_connection_learns_who_is_already_online() {
    let relay = spawn_relay().await;
    let s = Shuttle::open(&relay.api, consent_room()).await;
    let mut late = caucus_tests::client::Ws::connect(
        &s.ws_url,
        json!({"token": s.ombud_token, "room_id": s.room}),
    )
    .await;
    let mut online = std::collections::HashSet::new();
    while online.len() < 2 {
        let f = late.next_frame().await.unwrap();
        if f["type"] == "presence" && f["online"] == true {
            online.insert(f["participant_id"].as_str().unwrap().to_string());
        }
    }
    assert!(online.contains(&s.a.0) && online.contains(&s.b.0));
    // A party learns only about the ombuds, never about the other party.
    let mut pa2 = caucus_tests::client::Ws::connect(&s.ws_url, json!({"token": s.a.1})).await;
    pa2.no_event_within(Duration::from_millis(400)).await;
    let presences: Vec<&String> = pa2
        .received
        .iter()
        .filter(|f| f.contains("\"presence\""))
        .collect();
    assert!(presences.iter().any(|f| f.contains(
        &s.ombud.welcome["participant"]["id"]
            .as_str()
            .unwrap()
            .to_string()
    )));
    assert!(
        !presences.iter().any(|f| f.contains(s.b.0.as_str())),
        "{presences:?}"
    );
}

#[tokio::test]
async fn only_a_partys_own_words_can_be_relayed() {
    let relay = spawn_relay().await;
    let mut s = Shuttle::open(
        &relay.api,
        json!({"title": "Loop", "consent_required": false}),
    )
    .await;
    let sent = s
        .pa
        .ok(json!({"type": "send", "channel": s.chan_a(), "body": "words of A", "client_id": "1"}))
        .await;
    s.ombud.ok(json!({"type": "forward", "source_message_id": sent["message"]["id"], "to": [s.b.0], "body": "A says"})).await;
    let copy = s.pb.event_of("message").await;
    // Relaying B's copy onwards would bypass A's consent.
    let code = s
        .ombud
        .err(
            json!({"type": "forward", "source_message_id": copy["id"], "to": [s.a.0], "body": "x"}),
        )
        .await;
    assert_eq!(code, "invalid");
    let note = s
        .ombud
        .ok(json!({"type": "send", "channel": "notes", "body": "my note", "client_id": "n"}))
        .await;
    let code = s.ombud.err(json!({"type": "forward", "source_message_id": note["message"]["id"], "to": [s.a.0], "body": "x"})).await;
    assert_eq!(code, "invalid");
}

#[tokio::test]
async fn retracting_a_relayed_copy_withdraws_its_forward() {
    let relay = spawn_relay().await;
    let mut s = Shuttle::open(
        &relay.api,
        json!({"title": "Oops", "consent_required": false}),
    )
    .await;
    let sent =
        s.pa.ok(json!({"type": "send", "channel": s.chan_a(), "body": "w", "client_id": "1"}))
            .await;
    let fwd = s.ombud.ok(json!({"type": "forward", "source_message_id": sent["message"]["id"], "to": [s.b.0], "body": "r"})).await;
    let copy = s.pb.event_of("message").await;
    s.ombud
        .ok(json!({"type": "retract", "message_id": copy["id"]}))
        .await;
    assert_eq!(
        s.pb.event_of("message_retracted").await["message_id"],
        copy["id"]
    );
    loop {
        let st = s.ombud.event_of("forward_status").await;
        if st["forward_id"] == fwd["forward_id"] && st["status"] == "withdrawn" {
            break;
        }
    }
    // The same client_id after a retraction is not a silent duplicate.
    s.pa.ok(json!({"type": "retract", "message_id": sent["message"]["id"]}))
        .await;
    let code =
        s.pa.err(json!({"type": "send", "channel": s.chan_a(), "body": "w", "client_id": "1"}))
            .await;
    assert_eq!(code, "conflict");
}

#[tokio::test]
async fn a_refused_leave_keeps_the_connection() {
    let relay = spawn_relay().await;
    let mut s = Shuttle::open(&relay.api, consent_room()).await;
    assert_eq!(s.ombud.err(json!({"type": "leave"})).await, "forbidden");
    s.ombud
        .ok(json!({"type": "send", "channel": "notes", "body": "still here", "client_id": "n"}))
        .await;
}
