//! Parties can come back: an ombud gives an existing party a new link
//! (`POST /api/rooms/{room}/parties/{party}/link`). The party keeps its id
//! and its whole thread; every earlier link and token of it is refused
//! (410 `replaced`, close 4010) on this node and on another node sharing the
//! same Redis, and its open sockets close with 4010. The console's member
//! list reports each party's link status and when it was last online.

use base64::Engine;
use caucus_tests::app::{spawn_relay, spawn_relay_with, TestRelay, OMBUD};
use caucus_tests::client::{Api, Ws};
use caucus_tests::redis_server::RedisServer;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::rest::spawn_relay_with_second_ombud;

/// Asks for a new link for `party`; returns its invite code.
async fn new_link(api: &Api, token: &str, room: &str, party: &str) -> String {
    let path = format!("/api/rooms/{room}/parties/{party}/link");
    let (status, body) = api.call(Method::POST, &path, Some(token), None).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["party_id"], party, "the same party");
    let code = body["invite_code"].as_str().expect("invite_code");
    assert_eq!(body["invite_url"], format!("/join#{code}"));
    code.to_string()
}

/// The party as the room's member list shows it.
async fn member(api: &Api, token: &str, room: &str, party: &str) -> Value {
    let detail = api
        .ok(
            Method::GET,
            &format!("/api/rooms/{room}"),
            Some(token),
            None,
        )
        .await;
    detail["participants"]
        .as_array()
        .expect("participants")
        .iter()
        .find(|p| p["id"] == party)
        .cloned()
        .expect("the party is listed")
}

/// A hello with `token` is refused; returns the close code.
async fn refused_at_hello(url: &str, token: &str) -> u16 {
    Ws::try_connect(url, json!({"token": token}))
        .await
        .err()
        .expect("hello refused")
        .0
}

/// Status and error code of the party's transcript with `token`.
async fn transcript_with(api: &Api, token: &str) -> (StatusCode, Value) {
    let (status, body) = api
        .call(Method::GET, "/api/transcript", Some(token), None)
        .await;
    (status, body["code"].clone())
}

/// Status and error code of joining with `code`.
async fn join_with(api: &Api, code: &str) -> (StatusCode, Value) {
    let body = json!({"invite_code": code});
    let (status, body) = api.call(Method::POST, "/api/join", None, Some(body)).await;
    (status, body["code"].clone())
}

fn bodies(ws: &Ws, channel: &str) -> Vec<String> {
    ws.received
        .iter()
        .filter_map(|raw| serde_json::from_str::<Value>(raw).ok())
        .filter(|f| f["type"] == "event" && f["event"]["kind"] == "message")
        .filter(|f| f["event"]["channel"] == channel)
        .map(|f| f["event"]["body"].as_str().unwrap_or("").to_string())
        .collect()
}

#[tokio::test]
async fn a_party_back_with_a_new_link_has_its_whole_thread_and_its_old_link_and_token_are_refused()
{
    let relay = spawn_relay().await;
    let api = &relay.api;
    let url = relay.ws_url();
    let ombud_token = api.login(OMBUD.0, OMBUD.1).await;
    let room = api
        .create_room(&ombud_token, json!({"title": "Coming back"}))
        .await;
    let (pat, first_code) = api.invite(&ombud_token, &room, "Pat").await;
    let (_, old_token) = api.join(&first_code).await;
    let chan = format!("private:{pat}");
    let mut ombud = Ws::connect(&url, json!({"token": ombud_token, "room_id": room})).await;
    ombud.drain_replay().await;
    let mut party = Ws::connect(&url, json!({"token": old_token})).await;
    party.drain_replay().await;
    party.ok(json!({"type": "acknowledge_notice"})).await;
    party
        .ok(json!({"type": "send", "channel": chan, "body": "before the tab closed", "client_id": "c1"}))
        .await;
    ombud
        .ok(json!({"type": "send", "channel": chan, "body": "the ombud answers", "client_id": "o1"}))
        .await;
    ombud.event_of("message").await;

    let code = new_link(api, &ombud_token, &room, &pat).await;

    // The open socket is closed with 4010; the old token and link are refused.
    assert_eq!(party.closed().await, 4010, "the party's open socket");
    assert_eq!(
        party.close.as_ref().map(|c| c.1.as_str()),
        Some("you were given a new link")
    );
    assert_eq!(refused_at_hello(&url, &old_token).await, 4010);
    assert_eq!(
        transcript_with(api, &old_token).await,
        (StatusCode::GONE, json!("replaced"))
    );
    assert_eq!(
        join_with(api, &first_code).await,
        (StatusCode::GONE, json!("gone")),
        "the first link was used already"
    );

    // Back with the new link: the same participant, its whole thread replayed.
    let (again_id, new_token) = api.join(&code).await;
    assert_eq!(again_id, pat, "the party keeps its identity");
    assert_eq!(
        ombud.event_of("participant_joined").await["participant"]["id"],
        json!(pat)
    );
    let mut back = Ws::connect(&url, json!({"token": new_token, "since": 0})).await;
    back.drain_replay().await;
    assert_eq!(back.welcome["participant"]["id"], json!(pat));
    assert!(
        back.welcome.get("notice").is_none(),
        "the notice was acknowledged already"
    );
    assert_eq!(
        bodies(&back, &chan),
        ["before the tab closed", "the ombud answers"]
    );
    back.ok(json!({"type": "send", "channel": chan, "body": "I am back", "client_id": "c2"}))
        .await;
    let m = ombud.event_of("message").await;
    assert_eq!(
        (m["body"].clone(), m["author"]["id"].clone()),
        (json!("I am back"), json!(pat))
    );
    api.ok(Method::GET, "/api/transcript", Some(&new_token), None)
        .await;

    // A newer link voids the one before it even unused, and that link's token.
    let unused = new_link(api, &ombud_token, &room, &pat).await;
    assert_eq!(back.closed().await, 4010);
    let newest = new_link(api, &ombud_token, &room, &pat).await;
    assert_eq!(
        join_with(api, &unused).await,
        (StatusCode::GONE, json!("replaced"))
    );
    assert_eq!(
        join_with(api, &unused).await,
        (StatusCode::GONE, json!("gone")),
        "a refused link is spent too"
    );
    assert_eq!(refused_at_hello(&url, &new_token).await, 4010);
    let (_, newest_token) = api.join(&newest).await;
    let mut last = Ws::connect(&url, json!({"token": newest_token})).await;
    last.drain_replay().await;
    assert_eq!(bodies(&last, &chan).len(), 3, "the whole thread, once");
}

/// Two relay nodes sharing one private redis-server, its key prefix, token
/// secret and data key: one deployment.
async fn two_nodes(redis: &RedisServer) -> (TestRelay, TestRelay) {
    let prefix = format!("caucus-relink-{}", uuid::Uuid::new_v4().simple());
    let secret = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let key: Vec<u8> = [uuid::Uuid::new_v4(), uuid::Uuid::new_v4()]
        .iter()
        .flat_map(|u| *u.as_bytes())
        .collect();
    let key = base64::engine::general_purpose::STANDARD.encode(key);
    let node = || {
        let (url, prefix, secret, key) = (redis.url(), prefix.clone(), secret.clone(), key.clone());
        spawn_relay_with(move |c| {
            c.redis_url = Some(url);
            c.ephemeral = false;
            c.redis_prefix = prefix;
            c.jwt_secret = Some(secret);
            c.data_key = Some(key);
        })
    };
    let a = node().await;
    let b = node().await;
    (a, b)
}

#[tokio::test]
async fn a_new_link_voids_the_old_link_and_token_on_another_node_sharing_redis() {
    let redis = RedisServer::start();
    let (a, b) = two_nodes(&redis).await;
    let token = a.api.login(OMBUD.0, OMBUD.1).await;
    let room = a
        .api
        .create_room(&token, json!({"title": "Two nodes"}))
        .await;
    let (pat, code) = a.api.invite(&token, &room, "Pat").await;
    let (_, old_token) = b.api.join(&code).await;
    let chan = format!("private:{pat}");
    let mut on_b = Ws::connect(&b.ws_url(), json!({"token": old_token})).await;
    on_b.drain_replay().await;
    on_b.ok(json!({"type": "acknowledge_notice"})).await;
    on_b.ok(json!({"type": "send", "channel": chan, "body": "said on node b", "client_id": "b1"}))
        .await;
    // Node b recorded it online; node a reads it from the store.
    let seen = member(&a.api, &token, &room, &pat).await;
    assert!(seen["last_online_at"].is_string(), "{seen}");

    // Two new links on node a: the first is replaced by the second before use.
    let unused = new_link(&a.api, &token, &room, &pat).await;
    assert_eq!(on_b.closed().await, 4010, "closed on the other node");
    let code = new_link(&a.api, &token, &room, &pat).await;
    for (node, relay) in [("a", &a), ("b", &b)] {
        assert_eq!(
            refused_at_hello(&relay.ws_url(), &old_token).await,
            4010,
            "node {node}"
        );
        assert_eq!(
            transcript_with(&relay.api, &old_token).await,
            (StatusCode::GONE, json!("replaced")),
            "node {node}"
        );
    }
    assert_eq!(
        join_with(&b.api, &unused).await,
        (StatusCode::GONE, json!("replaced")),
        "the replaced link, on the other node"
    );
    assert_eq!(
        member(&b.api, &token, &room, &pat).await["link"],
        "replaced"
    );

    // The newest link works on node b, with the thread said there before.
    let (again, new_token) = b.api.join(&code).await;
    assert_eq!(again, pat);
    let mut back = Ws::connect(&b.ws_url(), json!({"token": new_token})).await;
    back.drain_replay().await;
    assert_eq!(bodies(&back, &chan), ["said on node b"]);
    assert_eq!(member(&a.api, &token, &room, &pat).await["link"], "used");
}

#[tokio::test]
async fn only_an_ombud_of_the_room_can_give_a_party_a_new_link() {
    let relay = spawn_relay_with_second_ombud().await;
    let api = &relay.api;
    let url = relay.ws_url();
    let token = api.login(OMBUD.0, OMBUD.1).await;
    let other = api.login("second", "second-password").await;
    let room = api.create_room(&token, json!({"title": "Mine"})).await;
    let others_room = api.create_room(&other, json!({"title": "Theirs"})).await;
    let (pat, party_token) = api.add_joined_party(&token, &room, "Pat").await;
    let (lee, lee_token) = api.add_joined_party(&token, &room, "Lee").await;
    let path = format!("/api/rooms/{room}/parties/{pat}/link");

    let refusals = [
        (None, path.clone(), StatusCode::UNAUTHORIZED, "unauthorized"),
        (
            Some(&party_token),
            path.clone(),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (
            Some(&other),
            path.clone(),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            Some(&other),
            format!("/api/rooms/{others_room}/parties/{pat}/link"),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            Some(&token),
            format!("/api/rooms/{room}/parties/{}/link", uuid::Uuid::new_v4()),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            Some(&token),
            format!("/api/rooms/{room}/parties/not-a-uuid/link"),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
    ];
    for (who, path, status, code) in refusals {
        let (got, body) = api
            .call(Method::POST, &path, who.map(String::as_str), None)
            .await;
        assert_eq!(
            (got, body["code"].as_str()),
            (status, Some(code)),
            "{path}: {body}"
        );
    }
    // Nothing was voided by the refused requests.
    let mut still = Ws::connect(&url, json!({"token": party_token})).await;
    still.drain_replay().await;
    still.ok(json!({"type": "acknowledge_notice"})).await;
    assert_eq!(member(api, &token, &room, &pat).await["link"], "used");

    // A party that left is out for good: no new link.
    let mut leaving = Ws::connect(&url, json!({"token": lee_token})).await;
    leaving.drain_replay().await;
    leaving
        .send_raw(&json!({"type": "leave", "req": 1}).to_string())
        .await;
    assert_eq!(leaving.closed().await, 1000);
    let (status, body) = api
        .call(
            Method::POST,
            &format!("/api/rooms/{room}/parties/{lee}/link"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("conflict"))
    );
}

#[tokio::test]
async fn the_member_list_reports_link_status_and_when_a_party_was_last_online() {
    let relay = spawn_relay().await;
    let api = &relay.api;
    let url = relay.ws_url();
    let token = api.login(OMBUD.0, OMBUD.1).await;
    let room = api.create_room(&token, json!({"title": "Status"})).await;
    let (pat, code) = api.invite(&token, &room, "Pat").await;

    let invited = member(api, &token, &room, &pat).await;
    assert_eq!(invited["link"], "unused");
    assert!(invited.get("last_online_at").is_none(), "{invited}");
    let ombud_entry = api
        .ok(
            Method::GET,
            &format!("/api/rooms/{room}"),
            Some(&token),
            None,
        )
        .await["participants"][0]
        .clone();
    assert_eq!(ombud_entry["role"], "ombud");
    assert!(ombud_entry.get("link").is_none() && ombud_entry.get("last_online_at").is_none());

    let (_, party_token) = api.join(&code).await;
    let joined = member(api, &token, &room, &pat).await;
    assert_eq!(joined["link"], "used");
    assert!(
        joined.get("last_online_at").is_none(),
        "joined, never connected"
    );

    let before = chrono::Utc::now();
    let mut ws = Ws::connect(&url, json!({"token": party_token})).await;
    // Recorded before the connection reads its first request.
    ws.ok(json!({"type": "acknowledge_notice"})).await;
    ws.close().await;
    let online = member(api, &token, &room, &pat).await;
    let at = chrono::DateTime::parse_from_rfc3339(online["last_online_at"].as_str().expect("set"))
        .expect("RFC 3339");
    let after = chrono::Utc::now();
    assert!(before <= at && at <= after, "{before} <= {at} <= {after}");

    new_link(api, &token, &room, &pat).await;
    let replaced = member(api, &token, &room, &pat).await;
    assert_eq!(replaced["link"], "replaced");
    assert_eq!(replaced["last_online_at"], online["last_online_at"], "kept");
    assert_eq!(replaced["joined"], true, "it was in the room, and still is");
}
