//! Revocation holds on every node: an ombud who signs out on one node is
//! refused and disconnected on the others, and a party that leaves on one
//! node can use its token on none.

use caucus_tests::client::Ws;
use caucus_tests::redis_server::Persistence;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn an_ombud_signed_out_on_one_node_is_refused_and_disconnected_on_every_node() {
    let d = Deployment::start(2, Persistence::None).await;
    let (home, other) = (d.api(0), d.api(1));
    let token = login(home).await;
    let room = create_room(home, &token, json!({"title": "Two nodes"})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut elsewhere = connect_ombud(&d.ws_url(1), &token, &room).await;
    other
        .ok(Method::GET, "/api/rooms", Some(&token), None)
        .await;

    let (status, body) = home
        .call(Method::POST, "/api/logout", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

    assert_eq!(elsewhere.closed().await, 4001);
    for api in [home, other] {
        let (status, _) = api
            .call(Method::GET, "/api/rooms", Some(&token), None)
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{}", api.base);
    }
    for node in 0..2 {
        let refused = Ws::try_connect(&d.ws_url(node), json!({"token": token, "room_id": room}))
            .await
            .err()
            .expect("hello refused");
        assert_eq!(refused.0, 4001, "node {node}");
    }
    // A node started after the sign-out knows it too: it is in the store.
    let fresh = login(other).await;
    other
        .ok(Method::GET, "/api/rooms", Some(&fresh), None)
        .await;
}

#[tokio::test]
async fn a_party_that_left_on_one_node_cannot_use_its_token_on_any_node() {
    let d = Deployment::start(2, Persistence::None).await;
    let home = d.api(0);
    let token = login(home).await;
    let room = create_room(home, &token, json!({"title": "Leaving"})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let party = add_party(home, d.api(1), &token, &room, "Lee").await;
    let mut here = connect_party(&d.ws_url(0), &party).await;
    let mut there = connect_party(&d.ws_url(1), &party).await;

    // Its own connection may close before the ack arrives: the close
    // signal and the answer race.
    here.send_raw(&json!({"type": "leave", "req": 1}).to_string())
        .await;
    assert_eq!(here.closed().await, 1000);
    assert_eq!(there.closed().await, 1000, "its other connection");
    for node in 0..2 {
        let refused = Ws::try_connect(&d.ws_url(node), json!({"token": party.token}))
            .await
            .err()
            .expect("hello refused");
        assert_eq!(refused.0, 4003, "node {node}");
        let (status, _) = d
            .api(node)
            .call(Method::GET, "/api/transcript", Some(&party.token), None)
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "node {node}");
    }
}
