//! The single negotiating text over real sockets: the worked session of
//! PROTOCOL.md §13.1 (draft → share → comment → relay the comment with
//! consent → revise → decide → conclude → download), stale decisions,
//! resume, and a range question with overlap (§13.2).

use std::time::Duration;

use caucus_tests::app::{spawn_relay, Shuttle};
use caucus_tests::client::Ws;
use reqwest::Method;
use serde_json::{json, Value};

const SHORT: Duration = Duration::from_millis(300);

fn consent_room() -> Value {
    json!({"title": "Lab scheduling", "consent_required": true})
}

/// GETs `path` with `token`: the status and the body as text.
async fn download(s: &Shuttle, token: &str, path: &str) -> (u16, String) {
    let resp = reqwest::Client::new()
        .get(format!("{}{path}", s.api.base))
        .bearer_auth(token)
        .send()
        .await
        .expect("relay answers");
    let status = resp.status().as_u16();
    (status, resp.text().await.expect("body"))
}

#[tokio::test]
async fn worked_session_from_first_draft_to_a_downloaded_agreement() {
    let relay = spawn_relay().await;
    let mut s = Shuttle::open(&relay.api, consent_room()).await;
    let (a, b) = (s.a.0.clone(), s.b.0.clone());

    // The ombud drafts version 1; a retry with the same key saves nothing new.
    let draft = json!({"type": "propose", "title": "Lab schedule",
        "clauses": ["Zoë books the lab in the mornings.", "Bob books it in the evenings."]});
    let mut keyed = draft.clone();
    keyed["idempotency_key"] = json!("draft-1");
    let v1 = s.ombud.ok(keyed.clone()).await;
    assert_eq!(v1["version"], 1);
    assert_eq!(v1["hash"].as_str().unwrap().len(), 64);
    assert_eq!(s.ombud.ok(keyed).await, v1, "a retry gets the first answer");
    let pid = v1["proposal_id"].clone();
    let saved = s.ombud.event_of("proposal_version").await;
    assert_eq!(saved["clauses"][1], "Bob books it in the evenings.");

    // Shared with both parties: each sees the text in its own view.
    let shared = s
        .ombud
        .ok(json!({"type": "share", "proposal_id": pid, "version": 1, "to": [a, b]}))
        .await;
    assert_eq!(shared["parties"], json!([a, b]));
    for p in [&mut s.pa, &mut s.pb] {
        let card = p.event_of("proposal_shared").await;
        assert_eq!(card["version"], 1);
        assert_eq!(card["hash"], v1["hash"]);
        assert!(card.get("since").is_none());
    }
    assert_eq!(
        s.ombud.event_of("proposal_shown").await["party_id"],
        json!(a)
    );

    // Zoë comments privately on clause 2.
    let c =
        s.pa.ok(
            json!({"type": "comment", "proposal_id": pid, "version": 1, "clause": 2,
        "body": "Evenings are when I run my long experiments.", "client_id": "k1"}),
        )
        .await;
    assert_eq!(
        c["message"]["comment_on"],
        json!({"proposal_id": pid, "version": 1, "clause": 2})
    );
    let seen = s.ombud.event_of("message").await;
    assert_eq!(seen["comment_on"]["clause"], 2);
    s.pb.no_event_within(SHORT).await;
    assert!(!s.pb.saw("long experiments"));

    // The ombud relays an edited comment to Bob, with Zoë's consent.
    let fwd = s
        .ombud
        .ok(
            json!({"type": "forward", "source_message_id": c["message"]["id"],
        "to": [b], "body": "Zoë needs some evenings for long experiments."}),
        )
        .await;
    let ask = s.pa.event_of("consent_requested").await;
    assert_eq!(ask["body"], "Zoë needs some evenings for long experiments.");
    s.pa.ok(json!({"type": "consent", "forward_id": fwd["forward_id"], "revision": 1, "decision": "approve"})).await;
    let relayed = s.pb.event_of("message").await;
    assert_eq!(
        relayed["body"],
        "Zoë needs some evenings for long experiments."
    );
    assert!(
        relayed.get("comment_on").is_none(),
        "a relayed copy is a plain message"
    );
    assert!(!s.pb.saw("when I run my"));

    // Revised from version 1 and shared again: Bob sees what changed.
    let v2 = s.ombud.ok(json!({"type": "propose", "proposal_id": pid, "base_version": 1, "title": "Lab schedule",
        "clauses": ["Zoë books the lab in the mornings.", "Bob books it in the evenings, except Thursdays.",
                    "Zoë books it on Thursday evenings."]})).await;
    assert_eq!(v2["version"], 2);
    let stale = s
        .ombud
        .err(
            json!({"type": "propose", "proposal_id": pid, "base_version": 1,
        "title": "Lab schedule", "clauses": ["x"]}),
        )
        .await;
    assert_eq!(stale, "conflict", "a save from a stale base version");
    s.ombud
        .ok(
            json!({"type": "share", "proposal_id": pid, "version": 2, "to": [a, b],
        "idempotency_key": "share-2"}),
        )
        .await;
    let card = s.pb.event_of("proposal_shared").await;
    assert_eq!(card["since"], 1);
    assert_eq!(
        card["changes"],
        json!([
            {"kind": "changed", "clause": 2, "was": 2, "before": "Bob books it in the evenings."},
            {"kind": "added", "clause": 3}
        ])
    );

    // The ombud calls for a decision on version 2.
    s.ombud
        .ok(json!({"type": "call_decision", "proposal_id": pid, "version": 2, "parties": [a, b]}))
        .await;
    let asked = s.pa.event_of("decision_requested").await;
    assert_eq!(asked["hash"], v2["hash"]);
    assert!(
        asked.get("parties").is_none(),
        "who else was asked is for the ombuds"
    );
    let h2 = v2["hash"].clone();
    // Stale version, or another hash: conflict, as with consent.
    let code = s.pa.err(json!({"type": "decide", "proposal_id": pid, "version": 1, "hash": v1["hash"], "verdict": "accept"})).await;
    assert_eq!(code, "conflict");
    let code = s.pa.err(json!({"type": "decide", "proposal_id": pid, "version": 2, "hash": v1["hash"], "verdict": "accept"})).await;
    assert_eq!(code, "conflict");

    let first =
        s.pa.ok(
            json!({"type": "decide", "proposal_id": pid, "version": 2, "hash": h2,
        "verdict": "accept", "idempotency_key": "decide-a"}),
        )
        .await;
    assert_eq!(first["concluded"], false);
    assert_eq!(s.ombud.event_of("decided").await["party_id"], json!(a));
    s.pb.event_of("decision_requested").await;
    s.pb.no_event_within(SHORT).await;
    assert!(
        !s.pb.saw("\"decided\""),
        "Bob is not told that Zoë accepted"
    );
    let last = s.pb.ok(json!({"type": "decide", "proposal_id": pid, "version": 2, "hash": h2, "verdict": "accept"})).await;
    assert_eq!(last["concluded"], true);
    for p in [&mut s.pa, &mut s.pb] {
        let done = p.event_of("agreement_concluded").await;
        assert_eq!(done["hash"], h2);
        assert!(done.get("accepted").is_none());
    }
    let done = s.ombud.event_of("agreement_concluded").await;
    assert_eq!(done["accepted"].as_array().unwrap().len(), 2);

    // Each participant downloads its copy.
    let pid = pid.as_str().unwrap().to_string();
    let (status, html) = download(&s, &s.a.1, &format!("/api/agreements/{pid}")).await;
    assert_eq!(status, 200);
    assert!(html.starts_with("<!doctype html>"));
    assert!(html.contains("Zoë books it on Thursday evenings."));
    assert!(html.contains(h2.as_str().unwrap()));
    assert!(html.contains("Lab scheduling"));
    assert!(html.contains("Keep this copy"));
    assert!(!html.contains("<script"));
    let (status, txt) = download(&s, &s.b.1, &format!("/api/agreements/{pid}?format=txt")).await;
    assert_eq!(status, 200);
    assert!(txt.contains("3. Zoë books it on Thursday evenings."));
    assert!(
        txt.contains("Alice Émile") && txt.contains("Bob"),
        "who accepted: {txt}"
    );
    let path = format!("/api/rooms/{}/agreements/{pid}?format=txt", s.room);
    let (status, _) = download(&s, &s.ombud_token, &path).await;
    assert_eq!(status, 200);

    // Nothing is kept after the room closes.
    s.api
        .ok(
            Method::DELETE,
            &format!("/api/rooms/{}", s.room),
            Some(&s.ombud_token),
            None,
        )
        .await;
    let (status, _) = download(&s, &s.ombud_token, &path).await;
    assert_eq!(status, 404);
    let (status, _) = download(&s, &s.a.1, &format!("/api/agreements/{pid}")).await;
    assert_eq!(status, 410);
}

#[tokio::test]
async fn no_download_before_an_agreement_is_concluded_or_for_a_party_not_asked() {
    let relay = spawn_relay().await;
    let mut s = Shuttle::open(&relay.api, consent_room()).await;
    let (a, b) = (s.a.0.clone(), s.b.0.clone());
    let v = s
        .ombud
        .ok(json!({"type": "propose", "title": "Only Zoë", "clauses": ["one"]}))
        .await;
    let pid = v["proposal_id"].as_str().unwrap().to_string();
    s.ombud
        .ok(json!({"type": "share", "proposal_id": pid, "version": 1, "to": [a]}))
        .await;
    let (status, _) = download(&s, &s.a.1, &format!("/api/agreements/{pid}")).await;
    assert_eq!(status, 404, "not concluded yet");
    s.ombud
        .ok(json!({"type": "call_decision", "proposal_id": pid, "version": 1, "parties": [a]}))
        .await;
    s.pa.ok(json!({"type": "decide", "proposal_id": pid, "version": 1, "hash": v["hash"], "verdict": "accept"})).await;
    let (status, _) = download(&s, &s.a.1, &format!("/api/agreements/{pid}")).await;
    assert_eq!(status, 200);
    let (status, body) = download(&s, &s.b.1, &format!("/api/agreements/{pid}")).await;
    assert_eq!(status, 404);
    assert!(!body.contains("one"));
    // Bob never heard of it, and cannot act on it.
    assert!(!s.pb.saw(&pid));
    let code = s.pb.err(json!({"type": "comment", "proposal_id": pid, "version": 1, "body": "x", "client_id": "x"})).await;
    assert_eq!(code, "not_found");
    let _ = b;
}

#[tokio::test]
async fn a_decline_note_reaches_the_ombuds_only_and_a_new_call_supersedes() {
    let relay = spawn_relay().await;
    let mut s = Shuttle::open(&relay.api, consent_room()).await;
    let (a, b) = (s.a.0.clone(), s.b.0.clone());
    let v1 = s
        .ombud
        .ok(json!({"type": "propose", "title": "Deal", "clauses": ["pay 100"]}))
        .await;
    let pid = v1["proposal_id"].clone();
    s.ombud
        .ok(json!({"type": "share", "proposal_id": pid, "version": 1, "to": [a, b]}))
        .await;
    s.ombud
        .ok(json!({"type": "call_decision", "proposal_id": pid, "version": 1, "parties": [a, b]}))
        .await;
    s.pa.ok(
        json!({"type": "decide", "proposal_id": pid, "version": 1, "hash": v1["hash"],
        "verdict": "decline", "note": "NOTE-FOR-OMBUD too little"}),
    )
    .await;
    let d = s.ombud.event_of("decided").await;
    assert_eq!(d["note"], "NOTE-FOR-OMBUD too little");
    s.pb.event_of("decision_requested").await;
    s.pb.no_event_within(SHORT).await;
    assert!(!s.pb.saw("NOTE-FOR-OMBUD"));

    let v2 = s
        .ombud
        .ok(json!({"type": "propose", "proposal_id": pid, "title": "Deal", "clauses": ["pay 120"]}))
        .await;
    s.ombud
        .ok(json!({"type": "share", "proposal_id": pid, "version": 2, "to": [a, b]}))
        .await;
    s.ombud
        .ok(json!({"type": "call_decision", "proposal_id": pid, "version": 2, "parties": [a, b]}))
        .await;
    // Bob still holds the call on version 1: it is stale now.
    let code = s.pb.err(json!({"type": "decide", "proposal_id": pid, "version": 1, "hash": v1["hash"], "verdict": "accept"})).await;
    assert_eq!(code, "conflict");
    for p in [&mut s.pa, &mut s.pb] {
        let r = p.ok(json!({"type": "decide", "proposal_id": pid, "version": 2, "hash": v2["hash"], "verdict": "accept"})).await;
        assert_eq!(r["version"], 2);
    }
    s.pa.event_of("agreement_concluded").await;

    // Resuming from 0 replays each step once, in the reader's own view only.
    let mut again = Ws::connect(&s.ws_url, json!({"token": s.b.1, "since": 0})).await;
    again.drain_replay().await;
    let text = again
        .received
        .iter()
        .map(|v| v.to_string())
        .collect::<String>();
    assert_eq!(text.matches("\"proposal_shared\"").count(), 2);
    assert_eq!(text.matches("\"agreement_concluded\"").count(), 1);
    assert!(!text.contains("NOTE-FOR-OMBUD"));
    let (_, transcript) = download(&s, &s.b.1, "/api/transcript?format=txt").await;
    assert!(transcript.contains("Agreement concluded"));
    assert!(transcript.contains("Bob accepted version 2"));
    assert!(!transcript.contains("Alice"), "{transcript}");
}

#[tokio::test]
async fn range_question_reveals_overlap_and_midpoint_but_no_bound() {
    let relay = spawn_relay().await;
    let mut s = Shuttle::open(&relay.api, consent_room()).await;
    let (a, b) = (s.a.0.clone(), s.b.0.clone());
    let open = s
        .ombud
        .ok(
            json!({"type": "range_open", "title": "Settlement", "unit": "EUR",
        "ceilings": [a], "floors": [b]}),
        )
        .await;
    let rid = open["range_id"].clone();
    let mine = s.pa.event_of("range_opened").await;
    assert_eq!(mine["side"], "ceiling");
    assert!(mine.get("seats").is_none());
    assert_eq!(s.pb.event_of("range_opened").await["side"], "floor");

    s.pa.ok(json!({"type": "range_bound", "range_id": rid, "value": 9100}))
        .await;
    s.pa.ok(json!({"type": "range_bound", "range_id": rid, "value": 9300}))
        .await;
    s.pb.ok(
        json!({"type": "range_bound", "range_id": rid, "value": 7700, "idempotency_key": "b1"}),
    )
    .await;
    assert_eq!(s.pa.event_of("range_bound_set").await["value"], 9100);
    let progress = loop {
        let p = s.ombud.event_of("range_progress").await;
        if p["submitted"].as_array().unwrap().len() == 2 {
            break p;
        }
    };
    assert_eq!(progress["overlap"], true);
    assert!(
        progress.get("bounds").is_none(),
        "the question did not let ombuds see bounds"
    );

    s.ombud
        .ok(json!({"type": "range_close", "range_id": rid, "reveal": true, "suggest": true}))
        .await;
    for p in [&mut s.pa, &mut s.pb] {
        let closed = p.event_of("range_closed").await;
        assert_eq!(closed["overlap"], true);
        assert_eq!(closed["suggestion"], 8500);
    }
    // The check can see a bound: A's own came back to A.
    assert!(s.pa.saw_number(9100));
    assert!(!s.pb.saw_number(9100) && !s.pb.saw_number(9300));
    assert!(!s.pa.saw_number(7700));
    assert!(!s.ombud.saw_number(9300) && !s.ombud.saw_number(7700));
    let code =
        s.pa.err(json!({"type": "range_bound", "range_id": rid, "value": 1}))
            .await;
    assert_eq!(code, "conflict");
}

#[tokio::test]
async fn proposals_and_their_shares_stop_at_the_rooms_byte_quota() {
    let relay = caucus_tests::app::spawn_relay_with(|c| c.room_max_bytes = 40_000).await;
    let mut s = Shuttle::open(&relay.api, consent_room()).await;
    let (a, b) = (s.a.0.clone(), s.b.0.clone());
    let clause = "c".repeat(4000);
    let v = s
        .ombud
        .ok(json!({"type": "propose", "title": "Long", "clauses": [clause]}))
        .await;
    let pid = v["proposal_id"].clone();
    let mut refused = None;
    for n in 1..20 {
        let frame = match n % 2 {
            0 => {
                json!({"type": "propose", "proposal_id": pid, "title": "Long", "clauses": [format!("{clause}{n}")]})
            }
            _ => json!({"type": "share", "proposal_id": pid, "version": n / 2 + 1, "to": [a, b]}),
        };
        if let Err((code, _)) = s.ombud.request(frame).await {
            refused = Some(code);
            break;
        }
    }
    assert_eq!(refused.as_deref(), Some("quota_exceeded"));
    // Answering stays possible in a full room.
    let v1 = s.pa.event_of("proposal_shared").await;
    let code = s.pa.err(json!({"type": "decide", "proposal_id": pid, "version": v1["version"], "hash": v1["hash"], "verdict": "accept"})).await;
    assert_eq!(
        code, "conflict",
        "no decision was called, but the request is answered, not refused for quota"
    );
}
