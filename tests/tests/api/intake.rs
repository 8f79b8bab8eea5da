//! The office's front door, end to end over real sockets: a visitor starts
//! a conversation without an account, the office's ombuds see it in the
//! queue (label and times only), one claims it, hands it off or converts it
//! into a mediation; the return link, blocking, closing intake, the
//! unclaimed expiry. The guards against abuse are in `intake_abuse`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use caucus_tests::app::{spawn_relay_with, TestRelay, OMBUD};
use caucus_tests::client::{Api, Ws};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const SHORT: Duration = Duration::from_millis(300);
pub const SECOND: (&str, &str) = ("second", "second-password");

/// Settings with an easy proof of work and generous limits, plus `extra`.
pub fn settings(extra: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("caucus-intake-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("office.toml");
    let text = format!(
        "office_name = \"Harbour Ombuds\"\n[intake]\noffice_hours = \"Weekdays 9-17\"\nresponse_time = \"within two working days\"\n{extra}"
    );
    let text = if extra.contains("pow_difficulty") {
        text
    } else {
        text + "pow_difficulty = 6\n"
    };
    let text = if extra.contains("per_address") {
        text
    } else {
        text + "per_address_per_hour = 1000\ntotal_per_minute = 1000\n"
    };
    std::fs::write(&path, text).unwrap();
    path
}

pub async fn relay_with(extra: &str) -> TestRelay {
    let path = settings(extra);
    let relay = spawn_relay_with(|c| c.office_config = Some(path)).await;
    relay.accounts().upsert(SECOND.0, SECOND.1).await.unwrap();
    relay
}

/// A fresh challenge from the contact page's data, solved.
pub async fn solved(api: &Api) -> (String, String) {
    let office = api.ok(Method::GET, "/api/intake", None, None).await;
    let c = &office["challenge"];
    let challenge = c["challenge"].as_str().expect("a challenge").to_string();
    let difficulty = c["difficulty"].as_u64().unwrap() as u8;
    let nonce = relay::intake::challenge::solve(&challenge, difficulty);
    (challenge, nonce)
}

/// Starts a conversation; returns the answer (`room_id`, `token`, `label`, …).
pub async fn start(api: &Api, label: Value, body: &str) -> Value {
    let (challenge, nonce) = solved(api).await;
    let req = json!({"label": label, "notice_acknowledged": true, "body": body, "challenge": challenge, "nonce": nonce});
    let (status, v) = api.call(Method::POST, "/api/intake", None, Some(req)).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    v
}

pub async fn queue(api: &Api, token: &str) -> Vec<Value> {
    let v = api
        .ok(Method::GET, "/api/intake/queue", Some(token), None)
        .await;
    v.as_array().unwrap().clone()
}

async fn claim(api: &Api, token: &str, room: &str) -> (StatusCode, Value) {
    api.call(
        Method::POST,
        &format!("/api/intake/{room}/claim"),
        Some(token),
        None,
    )
    .await
}

/// The token a return link carries (`/join#return.<token>`).
fn token_of_return_link(url: &str) -> String {
    url.strip_prefix("/join#return.")
        .expect("a return link in the fragment")
        .to_string()
}

async fn connect_drained(url: &str, hello: Value) -> Ws {
    let mut ws = Ws::connect(url, hello).await;
    ws.drain_replay().await;
    ws
}

#[tokio::test]
async fn the_contact_page_shows_the_office_and_a_challenge() {
    let relay = relay_with("").await;
    let office = relay.api.ok(Method::GET, "/api/intake", None, None).await;
    assert_eq!(office["office_name"], "Harbour Ombuds");
    assert_eq!(office["open"], true);
    assert_eq!(office["office_hours"], "Weekdays 9-17");
    assert_eq!(office["response_time"], "within two working days");
    assert!(office["notice"].as_str().unwrap().contains("confidential"));
    assert_eq!(office["challenge"]["difficulty"], 6);
    let page = reqwest::get(format!("{}/contact", relay.api.base))
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("visitor.js"));
}

#[tokio::test]
async fn a_visitor_starts_an_ombud_claims_and_it_becomes_a_mediation() {
    let relay = relay_with("").await;
    let api = &relay.api;
    let url = relay.ws_url();
    let a = api.login(OMBUD.0, OMBUD.1).await;
    let b = api.login(SECOND.0, SECOND.1).await;

    let started = start(api, json!({"kind": "anonymous"}), "My manager shouts at me").await;
    let label = started["label"].as_str().unwrap().to_string();
    assert!(label.starts_with("Visitor "), "{label}");
    let room = started["room_id"].as_str().unwrap().to_string();
    let token = token_of_return_link(started["return_url"].as_str().unwrap());
    assert_eq!(token, started["token"]);
    let mut visitor = connect_drained(&url, json!({"token": token})).await;
    assert!(
        visitor.saw("My manager shouts at me"),
        "the first message is in its thread"
    );
    let chan = format!("private:{}", started["party_id"].as_str().unwrap());
    visitor
        .ok(json!({"type": "send", "channel": chan, "body": "It happened again today", "client_id": "v2"}))
        .await;

    // Both ombuds see it in the queue: its label and times, never its words.
    for t in [&a, &b] {
        let q = queue(api, t).await;
        assert_eq!(q.len(), 1);
        assert_eq!(q[0]["label"], label.as_str());
        assert_eq!(q[0]["unread"], 2);
        let text = serde_json::to_string(&q).unwrap();
        assert!(
            !text.contains("shouts") && !text.contains("again today"),
            "{text}"
        );
    }
    // Unclaimed, the room is no ombud's.
    let (status, _) = api
        .call(Method::GET, &format!("/api/rooms/{room}"), Some(&a), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A claims; B's claim then loses.
    let (status, detail) = claim(api, &a, &room).await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    assert_eq!(detail["intake"]["kind"], "consultation");
    assert_eq!(detail["attribution"], "anonymous");
    let (status, lost) = claim(api, &b, &room).await;
    assert_eq!(
        (status, lost["code"].as_str()),
        (StatusCode::CONFLICT, Some("conflict"))
    );
    assert!(queue(api, &a).await.is_empty() && queue(api, &b).await.is_empty());
    let (status, _) = api
        .call(Method::GET, &format!("/api/rooms/{room}"), Some(&b), None)
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "B does not see A's conversation"
    );
    let listed = api.ok(Method::GET, "/api/rooms", Some(&a), None).await;
    assert_eq!(listed[0]["id"], room.as_str());

    // A receives the visitor's thread so far; the visitor learns of A only.
    let mut ombud = connect_drained(&url, json!({"token": a, "room_id": room})).await;
    assert!(ombud.saw("My manager shouts at me") && ombud.saw("It happened again today"));
    let joined = visitor.event_of("participant_joined").await;
    assert_eq!(joined["participant"]["role"], "ombud");
    ombud
        .ok(json!({"type": "send", "channel": chan, "body": "I am sorry to hear that. Tell me more?", "client_id": "o1"}))
        .await;
    let m = visitor.event_of("message").await;
    assert_eq!(m["body"], "I am sorry to hear that. Tell me more?");
    let sent = visitor
        .ok(json!({"type": "send", "channel": chan, "body": "He shouted at Priya in the Tuesday meeting", "client_id": "v3"}))
        .await;
    let source = sent["message"]["id"].clone();
    ombud.event_of("message").await;

    // A consultation stays one to one until it is converted.
    let invite = json!({"display_name": "Head of department"});
    let path = format!("/api/rooms/{room}/parties");
    let (status, _) = api
        .call(Method::POST, &path, Some(&a), Some(invite.clone()))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let converted = api
        .ok(
            Method::POST,
            &format!("/api/rooms/{room}/convert"),
            Some(&a),
            Some(json!({"title": "Team climate"})),
        )
        .await;
    assert_eq!(converted["intake"]["kind"], "mediation");
    assert_eq!(converted["title"], "Team climate");

    // The stakeholder is invited as today and learns the concern, never who raised it.
    let (head, head_token) = api.add_joined_party(&a, &room, "Head of department").await;
    let mut stakeholder = connect_drained(&url, json!({"token": head_token})).await;
    stakeholder.ok(json!({"type": "acknowledge_notice"})).await;
    let relayed = "Someone in your team reports shouting in meetings";
    let fwd = ombud
        .ok(json!({"type": "forward", "source_message_id": source, "to": [head], "body": relayed}))
        .await;
    assert_eq!(fwd["status"], "awaiting_consent");
    let ask = visitor.event_of("consent_requested").await;
    visitor
        .ok(json!({"type": "consent", "forward_id": ask["forward_id"], "revision": ask["revision"], "decision": "approve"}))
        .await;
    let got = stakeholder.event_of("message").await;
    assert_eq!(got["body"], relayed);
    stakeholder.no_event_within(SHORT).await;
    for secret in [
        label.as_str(),
        "Priya",
        "shouts",
        "again today",
        "Tell me more",
    ] {
        assert!(!stakeholder.saw(secret), "the stakeholder saw {secret:?}");
    }
    // The visitor's thread is the room's private thread: nothing was re-sent.
    let copies = visitor
        .received
        .iter()
        .filter(|f| f.contains("My manager shouts at me"))
        .count();
    assert_eq!(copies, 1);
}

#[tokio::test]
async fn a_handoff_moves_the_conversation_to_a_colleague_with_its_history() {
    let relay = relay_with("").await;
    let (api, url) = (&relay.api, relay.ws_url());
    let a = api.login(OMBUD.0, OMBUD.1).await;
    let b = api.login(SECOND.0, SECOND.1).await;
    let started = start(
        api,
        json!({"kind": "name", "name": "Sam"}),
        "About my contract",
    )
    .await;
    assert_eq!(started["label"], "Sam");
    let room = started["room_id"].as_str().unwrap().to_string();
    assert_eq!(claim(api, &a, &room).await.0, StatusCode::OK);
    let mut ombud_a = connect_drained(&url, json!({"token": a, "room_id": room})).await;
    let mut visitor = connect_drained(&url, json!({"token": started["token"]})).await;

    let (status, _) = api
        .call(
            Method::POST,
            &format!("/api/rooms/{room}/handoff"),
            Some(&b),
            Some(json!({"username": OMBUD.0})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "only the room's ombud hands it off"
    );
    api.ok(
        Method::POST,
        &format!("/api/rooms/{room}/handoff"),
        Some(&a),
        Some(json!({"username": SECOND.0})),
    )
    .await;
    assert_eq!(ombud_a.closed().await, 4003, "the previous ombud is out");
    let (status, _) = api
        .call(Method::GET, &format!("/api/rooms/{room}"), Some(&a), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let detail = api
        .ok(Method::GET, &format!("/api/rooms/{room}"), Some(&b), None)
        .await;
    assert_eq!(
        detail["intake"]["claimed_by"],
        detail["participants"][0]["id"]
    );
    let ombud_b = connect_drained(&url, json!({"token": b, "room_id": room})).await;
    assert!(
        ombud_b.saw("About my contract"),
        "the colleague has the history"
    );
    let left = visitor.event_of("participant_left").await;
    assert!(left["participant_id"].is_string());
}

#[tokio::test]
async fn a_return_link_works_again_and_again_until_the_conversation_is_blocked() {
    let relay = relay_with("").await;
    let (api, url) = (&relay.api, relay.ws_url());
    let a = api.login(OMBUD.0, OMBUD.1).await;
    let b = api.login(SECOND.0, SECOND.1).await;
    let started = start(api, json!({"kind": "anonymous"}), "First words").await;
    let room = started["room_id"].as_str().unwrap().to_string();
    let token = token_of_return_link(started["return_url"].as_str().unwrap());
    let chan = format!("private:{}", started["party_id"].as_str().unwrap());
    assert_eq!(claim(api, &a, &room).await.0, StatusCode::OK);
    let mut ombud = connect_drained(&url, json!({"token": a, "room_id": room})).await;
    for visit in 1..=3 {
        let mut visitor = connect_drained(&url, json!({"token": token})).await;
        assert!(visitor.saw("First words"), "visit {visit}");
        for earlier in 1..visit {
            assert!(visitor.saw(&format!("reply {earlier}")), "visit {visit}");
        }
        ombud
            .ok(json!({"type": "send", "channel": chan, "body": format!("reply {visit}"), "client_id": format!("r{visit}")}))
            .await;
        visitor.event_of("message").await;
        visitor.close().await;
    }
    let (status, _) = api
        .call(
            Method::POST,
            &format!("/api/rooms/{room}/block"),
            Some(&b),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "only its ombud blocks it");
    let mut visitor = connect_drained(&url, json!({"token": token})).await;
    ok_empty(api, &format!("/api/rooms/{room}/block"), &a).await;
    assert!(matches!(visitor.closed().await, 4009 | 4010));
    let refused = Ws::try_connect(&url, json!({"token": token}))
        .await
        .err()
        .unwrap();
    assert!(matches!(refused.0, 4004 | 4010), "{refused:?}");
    let (status, _) = api
        .call(Method::GET, "/api/transcript", Some(&token), None)
        .await;
    assert!(status.is_client_error());
    let (status, _) = api
        .call(Method::GET, &format!("/api/rooms/{room}"), Some(&a), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "erased");
}

async fn ok_empty(api: &Api, path: &str, token: &str) {
    let (status, v) = api.call(Method::POST, path, Some(token), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{path}: {v}");
}

#[tokio::test]
async fn intake_turned_off_says_so_on_the_page_and_in_the_api() {
    let relay = relay_with("enabled = false\n").await;
    let office = relay.api.ok(Method::GET, "/api/intake", None, None).await;
    assert_eq!(office["open"], false);
    assert!(office["challenge"].is_null());
    let req = json!({"label": {"kind": "anonymous"}, "notice_acknowledged": true, "body": "hi", "challenge": "x.y", "nonce": "1"});
    let (status, v) = relay
        .api
        .call(Method::POST, "/api/intake", None, Some(req))
        .await;
    assert_eq!(
        (status, v["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("intake_closed"))
    );
}

#[tokio::test]
async fn an_unclaimed_conversation_is_erased_when_its_time_is_up_and_a_claimed_one_is_kept() {
    // 0.0005 h = 1.8 s.
    let relay = relay_with("unclaimed_hours = 0.0005\n").await;
    let (api, url) = (&relay.api, relay.ws_url());
    let a = api.login(OMBUD.0, OMBUD.1).await;
    let waiting = start(api, json!({"kind": "anonymous"}), "Nobody came").await;
    let kept = start(api, json!({"kind": "anonymous"}), "Somebody came").await;
    let kept_room = kept["room_id"].as_str().unwrap();
    assert_eq!(claim(api, &a, kept_room).await.0, StatusCode::OK);
    let q = queue(api, &a).await;
    assert_eq!(q.len(), 1);
    assert!(q[0]["expires_at"].is_string());

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match Ws::try_connect(&url, json!({"token": waiting["token"]})).await {
            Err((code, _)) => {
                assert!(matches!(code, 4004 | 4009), "the room is gone: {code}");
                break;
            }
            Ok(ws) => ws.close().await,
        }
        assert!(
            Instant::now() < deadline,
            "the unclaimed conversation was never erased"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(queue(api, &a).await.is_empty());
    let (status, _) = claim(api, &a, waiting["room_id"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let visitor = connect_drained(&url, json!({"token": kept["token"]})).await;
    assert!(
        visitor.saw("Somebody came"),
        "the claimed conversation stays"
    );
}
