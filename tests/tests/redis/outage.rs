//! Redis stopped in the middle of a session and started again (same port,
//! same append-only file), under two running relay nodes that are never
//! restarted: clear, fast errors while it is down, full service after.

use caucus_tests::app::OMBUD;
use caucus_tests::client::Ws;
use caucus_tests::redis_server::Persistence;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::*;

/// How long Redis stays down in the test of open connections: long enough
/// that the relays' notification connection is still waiting to reconnect
/// (its backoff has grown past a second) when Redis is back and the relays
/// report ready, so what is sent then reaches open connections through the
/// resync that follows the reconnect, not through a live notification.
const OUTAGE: std::time::Duration = std::time::Duration::from_millis(2200);

/// A room with the ombud on node 0 and party A on node 1, past the notice.
struct Session {
    token: String,
    room: String,
    a: Party,
    /// An invite nobody has used yet.
    spare_code: String,
    ombud: Ws,
    pa: Ws,
}

async fn session(d: &Deployment) -> Session {
    let home = d.api(0);
    let token = login(home).await;
    let room = create_room(home, &token, json!({"title": "Outage"})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let a = add_party(home, d.api(1), &token, &room, "Ada").await;
    let spare_code = home.invite(&token, &room, "Cyd").await.1;
    let ombud = connect_ombud(&d.ws_url(0), &token, &room).await;
    let pa = connect_party(&d.ws_url(1), &a).await;
    Session {
        token,
        room,
        a,
        spare_code,
        ombud,
        pa,
    }
}

async fn send(ws: &mut Ws, channel: &str, body: &str) -> Result<Value, (String, String)> {
    ws.request(json!({"type": "send", "channel": channel, "body": body, "client_id": body}))
        .await
}

#[tokio::test]
async fn requests_fail_fast_while_redis_is_down_and_nothing_acknowledged_is_lost_after() {
    let mut d = Deployment::start(2, Persistence::AppendOnly).await;
    let mut s = session(&d).await;
    let chan = s.a.channel();
    for body in ["before 1", "before 2"] {
        send(&mut s.pa, &chan, body).await.expect("sent");
        message_with(&mut s.ombud, &chan, body).await;
    }

    d.redis.terminate();

    for node in 0..2 {
        let api = d.api(node).clone();
        assert_eq!(
            quickly("GET /readyz", readyz(&api)).await,
            StatusCode::SERVICE_UNAVAILABLE
        );
        // /healthz says the process serves; only readiness depends on Redis.
        assert_eq!(
            api.call(Method::GET, "/healthz", None, None).await.0,
            StatusCode::OK
        );
    }
    // Websocket requests on open connections: `unavailable`, and the
    // connection stays open.
    let refused = quickly("send", send(&mut s.pa, &chan, "during outage")).await;
    assert_eq!(refused.err().map(|e| e.0).as_deref(), Some("unavailable"));
    let refused = quickly(
        "typing",
        s.pa.request(json!({"type": "typing", "channel": chan})),
    )
    .await;
    assert_eq!(refused.err().map(|e| e.0).as_deref(), Some("unavailable"));
    let refused = quickly("notes", send(&mut s.ombud, "notes", "ombud during outage")).await;
    assert_eq!(refused.err().map(|e| e.0).as_deref(), Some("unavailable"));
    // REST, on either node: 503 with code `unavailable`.
    let room_path = format!("/api/rooms/{}", s.room);
    let calls: [(Method, &str, Option<&str>, Option<Value>); 5] = [
        (
            Method::POST,
            "/api/login",
            None,
            Some(json!({"username": OMBUD.0, "password": OMBUD.1})),
        ),
        (
            Method::POST,
            "/api/rooms",
            Some(&s.token),
            Some(json!({"title": "New"})),
        ),
        (Method::GET, &room_path, Some(&s.token), None),
        (Method::GET, "/api/rooms", Some(&s.token), None),
        (
            Method::POST,
            "/api/join",
            None,
            Some(json!({"invite_code": s.spare_code})),
        ),
    ];
    for (node, (method, path, token, body)) in calls.into_iter().enumerate() {
        let api = d.api(node % 2).clone();
        let (status, answer) = quickly(path, api.call(method, path, token, body)).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{path}: {answer}");
        assert_eq!(answer["code"], "unavailable", "{path}");
    }
    // A new connection is refused with the documented "retry later" code.
    let refused = quickly(
        "hello",
        Ws::try_connect(&d.ws_url(0), json!({"token": s.a.token})),
    )
    .await;
    assert_eq!(refused.err().map(|e| e.0), Some(4014));

    d.redis.restart();

    // Both relays recover by themselves.
    for node in 0..2 {
        wait_ready(d.api(node)).await;
    }
    assert!(d.nodes_still_running(), "no relay was restarted");
    // REST works again, the unused invite included (it was not spent by the
    // refused attempt).
    let (status, _) = d
        .api(1)
        .call(
            Method::POST,
            "/api/join",
            None,
            Some(json!({"invite_code": s.spare_code})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // Clients reconnect with `since`, each on the other node this time.
    let mut ombud = connect_when_available(
        &d.ws_url(1),
        json!({"token": s.token, "room_id": s.room, "since": s.ombud.last_seq}),
    )
    .await;
    let mut pa = connect_when_available(
        &d.ws_url(0),
        json!({"token": s.a.token, "since": s.pa.last_seq}),
    )
    .await;
    // The refused message was not stored; sent again, it is stored once.
    let first = send(&mut pa, &chan, "during outage").await.expect("sent");
    assert_ne!(first["duplicate"], true, "the refused send was stored");
    let again = send(&mut pa, &chan, "during outage").await.expect("resent");
    assert_eq!(again["duplicate"], true);
    send(&mut pa, &chan, "after").await.expect("sent");
    // New messages flow live across nodes.
    message_with(&mut ombud, &chan, "after").await;
    let reply = send(&mut ombud, &chan, "ombud answers")
        .await
        .expect("sent");
    assert_eq!(
        message_with(&mut pa, &chan, "ombud answers").await["id"],
        reply["message"]["id"]
    );

    // Nothing acknowledged is lost, nothing is repeated.
    message_with(&mut ombud, &chan, "ombud answers").await;
    let all: Vec<(u64, Value)> = events(&s.ombud).into_iter().chain(events(&ombud)).collect();
    assert_contiguous(&all, 1, "ombud");
    assert_eq!(
        bodies_in(&all, &chan),
        [
            "before 1",
            "before 2",
            "during outage",
            "after",
            "ombud answers"
        ]
    );
    let stored = stored_inbox(&d.ws_url(0), json!({"token": s.token, "room_id": s.room})).await;
    assert_eq!(stored, all);
}

/// Connections that stayed open through the outage get what is sent after
/// it, live, without reconnecting: as soon as the relays report ready, a
/// message sent through one node reaches an open connection on the other.
#[tokio::test]
async fn connections_that_stay_open_through_a_redis_outage_get_new_messages_live_after_it() {
    let mut d = Deployment::start(2, Persistence::AppendOnly).await;
    let mut s = session(&d).await;
    let chan = s.a.channel();
    send(&mut s.pa, &chan, "before").await.expect("sent");
    message_with(&mut s.ombud, &chan, "before").await;

    d.redis.terminate();
    assert_eq!(readyz(d.api(0)).await, StatusCode::SERVICE_UNAVAILABLE);
    // The outage's length is the scenario here, not a wait for a condition.
    tokio::time::sleep(OUTAGE).await;
    d.redis.restart();
    for node in 0..2 {
        wait_ready(d.api(node)).await;
    }

    send(&mut s.pa, &chan, "after").await.expect("sent");
    message_with(&mut s.ombud, &chan, "after").await;
    let reply = send(&mut s.ombud, &chan, "ombud answers")
        .await
        .expect("sent");
    assert_eq!(
        message_with(&mut s.pa, &chan, "ombud answers").await["id"],
        reply["message"]["id"]
    );
    assert_contiguous(&events(&s.ombud), 1, "ombud");
    assert_contiguous(&events(&s.pa), 1, "party A");
}

/// Ready means ready: the moment `/readyz` answers 200 after an outage, a
/// new websocket handshake succeeds (it needs the notification connection,
/// which comes back after the command connection).
#[tokio::test]
async fn ready_after_an_outage_means_new_connections_succeed() {
    let mut d = Deployment::start(2, Persistence::AppendOnly).await;
    let s = session(&d).await;
    d.redis.terminate();
    assert_eq!(readyz(d.api(0)).await, StatusCode::SERVICE_UNAVAILABLE);
    tokio::time::sleep(OUTAGE).await;
    d.redis.restart();
    wait_ready(d.api(0)).await;
    let hello = json!({"token": s.a.token, "since": s.pa.last_seq});
    if let Err(refused) = Ws::try_connect(&d.ws_url(0), hello).await {
        panic!("/readyz said ready, but a new connection was refused: {refused:?}");
    }
}

/// A stream of forwards through a Redis stop, each retried with its
/// idempotency key until it is answered, as PROTOCOL.md tells clients to:
/// every relayed text reaches the recipient exactly once.
#[tokio::test]
async fn forwards_retried_through_a_redis_stop_are_delivered_exactly_once() {
    let mut d = Deployment::start(1, Persistence::AppendOnly).await;
    let home = d.api(0).clone();
    let token = login(&home).await;
    let room = create_room(
        &home,
        &token,
        json!({"title": "Retries", "consent_required": false}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let a = add_party(&home, &home, &token, &room, "Ada").await;
    let b = add_party(&home, &home, &token, &room, "Bo").await;
    let mut pa = connect_party(&d.ws_url(0), &a).await;
    let source = send(&mut pa, &a.channel(), "source").await.expect("sent");
    let source_id = source["message"]["id"].clone();
    let mut ombud = connect_ombud(&d.ws_url(0), &token, &room).await;
    const FORWARDS: usize = 30;
    let mut refused = 0;
    for i in 0..FORWARDS {
        if i == FORWARDS / 3 {
            d.redis.terminate();
        }
        let forward = json!({
            "type": "forward",
            "idempotency_key": format!("fwd-{i}"),
            "source_message_id": source_id,
            "to": [b.id],
            "body": format!("relayed text {i}."),
        });
        loop {
            match ombud.request(forward.clone()).await {
                Ok(_) => break,
                Err((code, _)) if code == "unavailable" => {
                    refused += 1;
                    // Down for a few attempts, then back, as an outage goes.
                    if refused == 3 {
                        d.redis.restart();
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await
                }
                Err(other) => panic!("forward {i}: {other:?}"),
            }
        }
        if ombud.close.is_some() {
            ombud = connect_when_available(
                &d.ws_url(0),
                json!({"token": token, "room_id": room, "since": ombud.last_seq}),
            )
            .await;
        }
    }
    assert!(refused >= 3, "the outage was not seen");
    // Commands may be back before the notification connection is.
    wait_ready(&home).await;
    let stored = stored_inbox(&d.ws_url(0), json!({"token": b.token})).await;
    let bodies = bodies_in(&stored, &b.channel());
    for i in 0..FORWARDS {
        let text = format!("relayed text {i}.");
        let times = bodies.iter().filter(|body| **body == text).count();
        assert_eq!(times, 1, "{text:?} reached B {times} times");
    }
}
