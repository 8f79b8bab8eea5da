//! Signing out: an ombud's `POST /api/logout` voids every token it was
//! issued so far, on REST and at `hello`, and closes its open connections.

use caucus_tests::app::{spawn_relay, OMBUD};
use caucus_tests::client::Ws;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn signing_out_voids_every_earlier_ombud_token_and_closes_its_connections() {
    let relay = spawn_relay().await;
    let api = &relay.api;
    let laptop = api.login(OMBUD.0, OMBUD.1).await;
    let phone = api.login(OMBUD.0, OMBUD.1).await;
    let room = api.create_room(&laptop, json!({"title": "Sign-out"})).await;
    let (_, party) = api.add_joined_party(&laptop, &room, "Pat").await;
    let mut on_phone = Ws::connect(&relay.ws_url(), json!({"token": phone, "room_id": room})).await;
    on_phone.drain_replay().await;
    let mut pat = Ws::connect(&relay.ws_url(), json!({"token": party})).await;
    pat.drain_replay().await;

    let (status, body) = api
        .call(Method::POST, "/api/logout", Some(&laptop), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

    assert_eq!(on_phone.closed().await, 4001, "the phone's live connection");
    for token in [&laptop, &phone] {
        let (status, body) = api.call(Method::GET, "/api/rooms", Some(token), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(body["code"], "unauthorized");
        let refused = Ws::try_connect(&relay.ws_url(), json!({"token": token, "room_id": room}))
            .await
            .err()
            .expect("hello refused");
        assert_eq!(refused.0, 4001);
        let (status, _) = api
            .call(Method::POST, "/api/logout", Some(token), None)
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "signing out twice");
    }

    // Only that ombud's tokens: the party is untouched, and signing in again works.
    pat.ok(json!({"type": "acknowledge_notice"})).await;
    let again = api.login(OMBUD.0, OMBUD.1).await;
    let rooms = api.ok(Method::GET, "/api/rooms", Some(&again), None).await;
    assert_eq!(rooms.as_array().map(Vec::len), Some(1));
    let mut back = Ws::connect(&relay.ws_url(), json!({"token": again, "room_id": room})).await;
    back.drain_replay().await;
}

#[tokio::test]
async fn logout_needs_an_ombud_token() {
    let relay = spawn_relay().await;
    let api = &relay.api;
    let token = api.login(OMBUD.0, OMBUD.1).await;
    let room = api.create_room(&token, json!({"title": "Sign-out"})).await;
    let (_, party) = api.add_joined_party(&token, &room, "Pat").await;
    let (status, _) = api.call(Method::POST, "/api/logout", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = api
        .call(Method::POST, "/api/logout", Some(&party), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    api.ok(Method::GET, "/api/rooms", Some(&token), None).await;
}
