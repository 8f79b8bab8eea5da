//! Bad input gets a clear error, and nothing breaks or leaks.

use caucus_tests::app::{spawn_relay, spawn_relay_with, Shuttle, OMBUD};
use caucus_tests::client::Ws;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

fn room() -> serde_json::Value {
    json!({"title": "Bad input", "consent_required": true})
}

#[tokio::test]
async fn malformed_frames_get_invalid_and_the_connection_stays_open() {
    let relay = spawn_relay().await;
    let mut s = Shuttle::open(&relay.api, room()).await;
    for (raw, needle) in [
        ("{not json", "malformed JSON"),
        (r#"{"type":"fly","req":1}"#, "fly"),
        (
            r#"{"type":"send","req":2,"body":"x","client_id":"c"}"#,
            "channel",
        ),
        (
            r#"{"type":"send","req":3,"channel":"private:nope","body":"x","client_id":"c"}"#,
            "channel",
        ),
        (r#"{"type":"joint","req":4,"open":"yes"}"#, "invalid type"),
        (r#"[1,2,3]"#, "invalid"),
    ] {
        s.ombud.send_raw(raw).await;
        let f = loop {
            let f = s.ombud.next_frame().await.expect("still open");
            if f["type"] == "error" {
                break f;
            }
        };
        assert_eq!(f["code"], "invalid", "{raw}");
        assert!(
            f["message"].as_str().unwrap().contains(needle),
            "{raw}: {}",
            f["message"]
        );
    }
    s.ombud.send_message(Message::binary(vec![1, 2, 3])).await;
    // Still serving requests afterwards.
    s.ombud
        .ok(json!({"type": "send", "channel": "notes", "body": "still here", "client_id": "ok"}))
        .await;
    let (status, _) = s
        .api
        .call(reqwest::Method::GET, "/healthz", None, None)
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn hello_in_the_middle_is_invalid() {
    let relay = spawn_relay().await;
    let mut s = Shuttle::open(&relay.api, room()).await;
    let code = s.pa.err(json!({"type": "hello", "token": "x"})).await;
    assert_eq!(code, "invalid");
}

#[tokio::test]
async fn oversized_frames_get_too_large_and_store_nothing() {
    let relay = spawn_relay_with(|c| c.max_frame_bytes = 4096).await;
    let mut s = Shuttle::open(&relay.api, room()).await;
    let big = "x".repeat(5000);
    let code =
        s.pa.err(json!({"type": "send", "channel": s.chan_a(), "body": big, "client_id": "big"}))
            .await;
    assert_eq!(code, "too_large");
    s.ombud.no_event_within(Duration::from_millis(300)).await;
    // The connection survives.
    s.pa.ok(json!({"type": "send", "channel": s.chan_a(), "body": "small", "client_id": "small"}))
        .await;
}

async fn refused_with(url: &str, first: Message) -> u16 {
    let mut ws = Ws::raw(url).await;
    ws.send(first).await.unwrap();
    loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("closed in time")
        {
            Some(Ok(Message::Close(Some(f)))) => return u16::from(f.code),
            Some(Ok(Message::Text(t))) => {
                assert!(!t.contains("welcome"), "no welcome for a bad hello: {t}")
            }
            Some(Ok(_)) => {}
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn bad_tokens_are_refused_with_4001() {
    let relay = spawn_relay().await;
    let s = Shuttle::open(&relay.api, room()).await;
    let url = relay.ws_url();
    let good = s.ombud_token.clone();
    let parts: Vec<&str> = good.split('.').collect();
    let tampered = format!("{}.{}x.{}", parts[0], parts[1], parts[2]);
    let alg_none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.", parts[1]);
    let hs512 = {
        use jsonwebtoken_free::*;
        forge_hs512(parts[1])
    };
    for token in [
        "garbage",
        tampered.as_str(),
        alg_none.as_str(),
        hs512.as_str(),
        "",
    ] {
        let hello = json!({"type": "hello", "token": token, "room_id": s.room}).to_string();
        assert_eq!(
            refused_with(&url, Message::text(hello)).await,
            4001,
            "{token}"
        );
    }
}

/// A token signed with the right secret but the wrong algorithm.
mod jsonwebtoken_free {
    pub fn forge_hs512(payload: &str) -> String {
        // {"alg":"HS512","typ":"JWT"} with a junk signature: the pinned algorithm rejects it first.
        format!("eyJhbGciOiJIUzUxMiIsInR5cCI6IkpXVCJ9.{payload}.c2lnbmF0dXJl")
    }
}

#[tokio::test]
async fn expired_tokens_are_refused() {
    let relay = spawn_relay().await;
    let tokens = relay::auth::Tokens::new(b"test-secret-test-secret-test-secret");
    let expired = tokens.issue_party(uuid::Uuid::new_v4(), uuid::Uuid::new_v4(), 1_000, 0);
    let hello = json!({"type": "hello", "token": expired}).to_string();
    assert_eq!(
        refused_with(&relay.ws_url(), Message::text(hello)).await,
        4001
    );
}

#[tokio::test]
async fn a_party_token_cannot_open_another_room_or_act_as_an_ombud() {
    let relay = spawn_relay().await;
    let s = Shuttle::open(&relay.api, room()).await;
    let other_room = relay
        .api
        .create_room(&s.ombud_token, json!({"title": "Other"}))
        .await;
    let hello = json!({"type": "hello", "token": s.a.1, "room_id": other_room}).to_string();
    assert_eq!(
        refused_with(&relay.ws_url(), Message::text(hello)).await,
        4003
    );
    let (status, body) = relay
        .api
        .call(reqwest::Method::GET, "/api/rooms", Some(&s.a.1), None)
        .await;
    assert_eq!(status, 403);
    assert_eq!(body["code"], "forbidden");
    // An ombud token for a room it does not belong to.
    relay
        .api
        .ok(
            reqwest::Method::POST,
            "/api/login",
            None,
            Some(json!({"username": OMBUD.0, "password": OMBUD.1})),
        )
        .await;
}

#[tokio::test]
async fn first_frame_must_be_hello_and_must_come_in_time() {
    let relay = spawn_relay_with(|c| c.hello_timeout_secs = 1).await;
    let url = relay.ws_url();
    assert_eq!(
        refused_with(&url, Message::text(r#"{"type":"send"}"#)).await,
        4000
    );
    assert_eq!(
        refused_with(&url, Message::binary(vec![0u8; 3])).await,
        4000
    );
    let mut ws = Ws::raw(&url).await;
    match tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .unwrap()
    {
        Some(Ok(Message::Close(Some(f)))) => assert_eq!(u16::from(f.code), 4008),
        other => panic!("expected close 4008, got {other:?}"),
    }
}

#[tokio::test]
async fn a_party_cannot_touch_another_partys_thread_or_objects() {
    let relay = spawn_relay().await;
    let mut s = Shuttle::open(&relay.api, room()).await;
    let sent = s.pa.ok(json!({"type": "send", "channel": s.chan_a(), "body": "alpha secret", "client_id": "c1"})).await;
    let mid = sent["message"]["id"].clone();
    let fwd = s
        .ombud
        .ok(json!({"type": "forward", "source_message_id": mid, "to": [s.b.0], "body": "beta"}))
        .await;
    let chan_a = s.chan_a();
    let cases = vec![
        json!({"type": "send", "channel": chan_a, "body": "intrude", "client_id": "x"}),
        json!({"type": "edit", "message_id": mid, "body": "mine now"}),
        json!({"type": "retract", "message_id": mid}),
        json!({"type": "consent", "forward_id": fwd["forward_id"], "revision": 1, "decision": "approve"}),
        json!({"type": "forward", "source_message_id": mid, "to": [s.a.0], "body": "x"}),
        json!({"type": "forward_withdraw", "forward_id": fwd["forward_id"]}),
        json!({"type": "suggest_redactions", "message_id": mid}),
        json!({"type": "joint", "open": true}),
        json!({"type": "typing", "channel": chan_a}),
    ];
    for c in cases {
        let text = c.to_string();
        match s.pb.request(c).await {
            Err((code, message)) => {
                assert!(code == "forbidden" || code == "not_found", "{text}: {code}");
                assert!(!message.contains("alpha"), "error leaks content: {message}");
            }
            Ok(v) => panic!("{text} should be refused, got {v}"),
        }
    }
    assert!(!s.pb.saw("alpha secret"));
}

#[tokio::test]
async fn send_is_rate_limited_per_connection() {
    let relay = spawn_relay_with(|c| {
        c.rate_per_sec = 1;
        c.rate_burst = 5;
    })
    .await;
    let mut s = Shuttle::open(&relay.api, room()).await;
    let mut limited = 0;
    for i in 0..12 {
        if let Err((code, _)) = s.ombud.request(json!({"type": "send", "channel": "notes", "body": "n", "client_id": format!("r{i}")})).await {
            assert_eq!(code, "rate_limited");
            limited += 1;
        }
    }
    assert!(limited >= 6, "only {limited} limited");
    let (status, _) = s
        .api
        .call(reqwest::Method::GET, "/healthz", None, None)
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn foreign_origins_are_refused_before_the_upgrade() {
    let relay = spawn_relay().await;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = relay.ws_url().into_client_request().unwrap();
    req.headers_mut()
        .insert("Origin", "https://evil.example".parse().unwrap());
    let err = tokio_tungstenite::connect_async(req)
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("403"), "{err}");
    let mut ok = relay.ws_url().into_client_request().unwrap();
    ok.headers_mut().insert(
        "Origin",
        format!("http://{}", relay.running.addr).parse().unwrap(),
    );
    assert!(tokio_tungstenite::connect_async(ok).await.is_ok());
}

#[tokio::test]
async fn bad_rest_bodies_get_documented_errors() {
    let relay = spawn_relay().await;
    let token = relay.api.login(OMBUD.0, OMBUD.1).await;
    let (status, body) = relay
        .api
        .call(
            reqwest::Method::POST,
            "/api/rooms",
            Some(&token),
            Some(json!({"titel": "x"})),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["code"], "invalid");
    assert!(body["message"].as_str().unwrap().contains("title"));
    let (status, body) = relay
        .api
        .call(
            reqwest::Method::POST,
            "/api/login",
            None,
            Some(json!({"username": "ombud", "password": "nope"})),
        )
        .await;
    assert_eq!(status, 401);
    assert_eq!(body["code"], "unauthorized");
    let (status, _) = relay
        .api
        .call(
            reqwest::Method::GET,
            "/api/rooms/not-a-uuid",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, body) = relay
        .api
        .call(reqwest::Method::GET, "/api/rooms", None, None)
        .await;
    assert_eq!(
        (status.as_u16(), body["code"].as_str()),
        (401, Some("unauthorized"))
    );
}

#[tokio::test]
async fn frames_over_the_hard_cap_close_with_1009() {
    let relay = spawn_relay().await;
    let mut s = Shuttle::open(&relay.api, room()).await;
    let huge = format!(
        r#"{{"type":"send","channel":"notes","body":"{}","client_id":"h"}}"#,
        "x".repeat(1_100_000)
    );
    s.ombud.send_raw(&huge).await;
    assert_eq!(s.ombud.closed().await, 1009);
    // The relay is unharmed.
    s.pa.ok(json!({"type": "send", "channel": s.chan_a(), "body": "fine", "client_id": "f"}))
        .await;
}
