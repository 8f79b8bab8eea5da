//! The REST endpoints.

use caucus_tests::app::{spawn_relay, OMBUD};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn room_lifecycle_over_rest() {
    let relay = spawn_relay().await;
    let api = &relay.api;
    let (status, _) = api.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(status, 200);
    let (status, _) = api.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(status, 200);

    let login = api
        .ok(
            Method::POST,
            "/api/login",
            None,
            Some(json!({"username": OMBUD.0, "password": OMBUD.1})),
        )
        .await;
    assert_eq!(login["ombud"]["username"], OMBUD.0);
    let token = login["token"].as_str().unwrap().to_string();

    let (status, room) = api
        .call(
            Method::POST,
            "/api/rooms",
            Some(&token),
            Some(json!({"title": "Lab dispute"})),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(room["consent_required"], true, "consent is the default");
    assert_eq!(room["attribution"], "named");
    assert_eq!(room["retention_hours"], 168);
    let id = room["id"].as_str().unwrap();

    let list = api.ok(Method::GET, "/api/rooms", Some(&token), None).await;
    assert!(list.as_array().unwrap().iter().any(|r| r["id"] == id));

    let (status, inv) = api
        .call(
            Method::POST,
            &format!("/api/rooms/{id}/parties"),
            Some(&token),
            Some(json!({"display_name": "Dana"})),
        )
        .await;
    assert_eq!(status, 201);
    let code = inv["invite_code"].as_str().unwrap();
    assert_eq!(
        inv["invite_url"],
        format!("/join#{code}"),
        "the code travels in the fragment"
    );

    let detail = api
        .ok(Method::GET, &format!("/api/rooms/{id}"), Some(&token), None)
        .await;
    let dana = detail["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["display_name"] == "Dana")
        .unwrap()
        .clone();
    assert_eq!(dana["joined"], false);

    let joined = api
        .ok(
            Method::POST,
            "/api/join",
            None,
            Some(json!({"invite_code": code})),
        )
        .await;
    assert_eq!(joined["room_id"], id);
    assert_eq!(joined["party_id"], inv["party_id"]);
    let (status, body) = api
        .call(
            Method::POST,
            "/api/join",
            None,
            Some(json!({"invite_code": code})),
        )
        .await;
    assert_eq!(status, 410, "an invite works once");
    assert_eq!(body["code"], "gone");
    let (status, body) = api
        .call(
            Method::POST,
            "/api/join",
            None,
            Some(json!({"invite_code": "nonsense"})),
        )
        .await;
    assert_eq!(
        (status.as_u16(), body["code"].as_str()),
        (404, Some("not_found"))
    );

    let detail = api
        .ok(Method::GET, &format!("/api/rooms/{id}"), Some(&token), None)
        .await;
    assert!(detail["participants"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["display_name"] == "Dana" && p["joined"] == true));

    let (status, _) = api
        .call(
            Method::DELETE,
            &format!("/api/rooms/{id}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = api
        .call(Method::GET, &format!("/api/rooms/{id}"), Some(&token), None)
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn another_ombud_cannot_see_a_room_it_was_not_added_to() {
    let relay = spawn_relay_with_second_ombud().await;
    let api = &relay.api;
    let first = api.login(OMBUD.0, OMBUD.1).await;
    let second = api.login("second", "second-password").await;
    let id = api.create_room(&first, json!({"title": "Mine"})).await;
    let (status, _) = api
        .call(
            Method::GET,
            &format!("/api/rooms/{id}"),
            Some(&second),
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = api
        .call(
            Method::DELETE,
            &format!("/api/rooms/{id}"),
            Some(&second),
            None,
        )
        .await;
    assert_eq!(status, 404);
    let list = api.ok(Method::GET, "/api/rooms", Some(&second), None).await;
    assert!(list.as_array().unwrap().is_empty());
}

pub async fn spawn_relay_with_second_ombud() -> caucus_tests::app::TestRelay {
    let relay = spawn_relay().await;
    relay
        .accounts()
        .upsert("second", "second-password")
        .await
        .unwrap();
    relay
}

#[tokio::test]
async fn the_web_client_is_served_with_a_strict_csp() {
    let relay = spawn_relay().await;
    let resp = reqwest::get(format!("{}/", relay.api.base)).await.unwrap();
    assert_eq!(resp.status(), 200);
    let csp = resp.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("default-src 'self'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    assert!(resp.text().await.unwrap().contains("<html"));
    let join = reqwest::get(format!("{}/join", relay.api.base))
        .await
        .unwrap();
    assert_eq!(join.status(), 200);
}

/// The room list counts what the parties stored, so a console without a
/// connection to a room can still see that something new happened there;
/// the ombud's own messages do not count.
#[tokio::test]
async fn room_list_counts_party_messages() {
    let relay = spawn_relay().await;
    let mut s = caucus_tests::app::Shuttle::open(&relay.api, json!({"title": "Counted"})).await;
    let count = |rooms: &serde_json::Value| rooms[0]["party_messages"].as_u64();
    let rooms = s
        .api
        .ok(Method::GET, "/api/rooms", Some(&s.ombud_token), None)
        .await;
    assert_eq!(count(&rooms), Some(0));

    let chan_a = s.chan_a();
    s.pa.ok(json!({"type": "send", "channel": chan_a, "body": "one", "client_id": "c1"}))
        .await;
    s.pa.ok(json!({"type": "send", "channel": chan_a, "body": "two", "client_id": "c2"}))
        .await;
    s.ombud
        .ok(json!({"type": "send", "channel": chan_a, "body": "from the ombud", "client_id": "c3"}))
        .await;
    let rooms = s
        .api
        .ok(Method::GET, "/api/rooms", Some(&s.ombud_token), None)
        .await;
    assert_eq!(count(&rooms), Some(2));
    let detail = s
        .api
        .ok(
            Method::GET,
            &format!("/api/rooms/{}", s.room),
            Some(&s.ombud_token),
            None,
        )
        .await;
    assert_eq!(detail["party_messages"], 2);
}
