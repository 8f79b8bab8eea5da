//! An ombud's own account: `GET /api/me` and `PUT /api/me`, the display
//! name parties see.

use caucus_tests::app::spawn_relay_with;
use caucus_tests::client::Ws;
use reqwest::Method;
use serde_json::json;

/// A login name that must never reach a party (and that no other text in
/// a frame could contain by chance).
const USERNAME: &str = "kim.login-7731";
const PASSWORD: &str = "correct horse battery";

#[tokio::test]
async fn parties_see_the_chosen_display_name_never_the_username() {
    let relay = spawn_relay_with(|c| {
        c.bootstrap_ombud = Some(format!("{USERNAME}:{PASSWORD}"));
    })
    .await;
    let api = &relay.api;
    let token = api.login(USERNAME, PASSWORD).await;

    let me = api.ok(Method::GET, "/api/me", Some(&token), None).await;
    assert_eq!(me["username"], USERNAME);
    assert_eq!(
        me["display_name"], USERNAME,
        "the username until one is chosen"
    );

    let me = api
        .ok(
            Method::PUT,
            "/api/me",
            Some(&token),
            Some(json!({"display_name": "  Kim (Ombuds Office)  "})),
        )
        .await;
    assert_eq!(me["display_name"], "Kim (Ombuds Office)", "trimmed");
    assert_eq!(me["username"], USERNAME, "the login name stays");
    let again = api.ok(Method::GET, "/api/me", Some(&token), None).await;
    assert_eq!(again, me, "the new name is stored");

    let room = api
        .create_room(&token, json!({"title": "Lab dispute"}))
        .await;
    let detail = api
        .ok(
            Method::GET,
            &format!("/api/rooms/{room}"),
            Some(&token),
            None,
        )
        .await;
    let ombuds: Vec<_> = detail["participants"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["role"] == "ombud")
        .map(|p| p["display_name"].clone())
        .collect();
    assert_eq!(ombuds, vec![json!("Kim (Ombuds Office)")]);
    let (party, party_token) = api.add_joined_party(&token, &room, "Dana").await;
    let ws_url = api.ws_url();
    let mut ombud = Ws::connect(&ws_url, json!({"token": token, "room_id": room})).await;
    ombud.drain_replay().await;
    let mut dana = Ws::connect(&ws_url, json!({"token": party_token})).await;
    dana.ok(json!({"type": "acknowledge_notice"})).await;
    dana.drain_replay().await;

    ombud
        .ok(json!({"type": "send", "channel": format!("private:{party}"), "body": "Welcome, Dana.", "client_id": "w1"}))
        .await;
    let message = dana.event_of("message").await;
    assert_eq!(message["author"]["role"], "ombud");
    assert_eq!(message["author"]["display_name"], "Kim (Ombuds Office)");
    assert_eq!(dana.welcome["participant"]["display_name"], "Dana");
    for frame in &dana.received {
        assert!(
            !frame.contains(USERNAME),
            "a party saw the username: {frame}"
        );
    }
}

#[tokio::test]
async fn display_names_empty_blank_or_too_long_are_refused() {
    let relay = spawn_relay_with(|c| {
        c.bootstrap_ombud = Some(format!("{USERNAME}:{PASSWORD}"));
    })
    .await;
    let api = &relay.api;
    let token = api.login(USERNAME, PASSWORD).await;
    let longest = "é".repeat(80);
    let too_long = "é".repeat(81);
    for bad in ["", "   ", "\t\n", too_long.as_str()] {
        let (status, body) = api
            .call(
                Method::PUT,
                "/api/me",
                Some(&token),
                Some(json!({"display_name": bad})),
            )
            .await;
        assert_eq!(status, 400, "{bad:?}");
        assert_eq!(body["code"], "invalid", "{bad:?}");
    }
    let (status, body) = api
        .call(
            Method::PUT,
            "/api/me",
            Some(&token),
            Some(json!({"name": "Kim"})),
        )
        .await;
    assert_eq!(status, 400, "a body without display_name");
    assert_eq!(body["code"], "invalid");
    let me = api.ok(Method::GET, "/api/me", Some(&token), None).await;
    assert_eq!(me["display_name"], USERNAME, "refusals change nothing");

    let me = api
        .ok(
            Method::PUT,
            "/api/me",
            Some(&token),
            Some(json!({"display_name": longest})),
        )
        .await;
    assert_eq!(me["display_name"], longest, "80 characters, not bytes");

    let (status, _) = api.call(Method::GET, "/api/me", None, None).await;
    assert_eq!(status, 401);
    let (status, _) = api
        .call(
            Method::PUT,
            "/api/me",
            None,
            Some(json!({"display_name": "X"})),
        )
        .await;
    assert_eq!(status, 401);
}
