//! Nothing of a room outlives it: every key of a room expires with the
//! room's retention, deleting a room removes every key at once, and a room
//! past its retention is gone from Redis and from every relay.

use std::time::{Duration, Instant};

use caucus_tests::app::libfaketime;
use caucus_tests::client::{Api, Ws};
use caucus_tests::redis_server::Persistence;
use redis::aio::MultiplexedConnection;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::*;

const HOUR_MS: i64 = 3_600_000;

/// A room used in every way that writes to Redis: parties joined through
/// both nodes, messages, a forward with consent and a revision, an edit,
/// a joint session, notes, an idempotent resend and a spare invite.
struct Furnished {
    id: String,
    room: Value,
    a: Party,
    b: Party,
    spare_code: String,
    ombud: Ws,
    pa: Ws,
    pb: Ws,
}

async fn furnished(d: &Deployment, token: &str, settings: Value) -> Furnished {
    let (home, other) = (d.api(0), d.api(1));
    let room = create_room(home, token, settings).await;
    let id = room["id"].as_str().unwrap().to_string();
    let a = add_party(home, home, token, &id, "Ada").await;
    let b = add_party(home, other, token, &id, "Ben").await;
    let spare_code = home.invite(token, &id, "Cyd").await.1;
    let mut ombud = connect_ombud(&d.ws_url(0), token, &id).await;
    let mut pa = connect_party(&d.ws_url(0), &a).await;
    let mut pb = connect_party(&d.ws_url(1), &b).await;
    let send = json!({"type": "send", "channel": a.channel(), "body": "first", "client_id": "a1"});
    let sent = pa.ok(send.clone()).await;
    pa.ok(send).await;
    pa.ok(json!({"type": "edit", "message_id": sent["message"]["id"], "body": "first, edited"}))
        .await;
    pb.ok(json!({"type": "send", "channel": b.channel(), "body": "second", "client_id": "b1"}))
        .await;
    let fwd = ombud
        .ok(json!({"type": "forward", "source_message_id": sent["message"]["id"], "to": [b.id], "body": "relay v1"}))
        .await;
    ombud
        .ok(json!({"type": "forward_update", "forward_id": fwd["forward_id"], "body": "relay v2"}))
        .await;
    pa.ok(json!({"type": "consent", "forward_id": fwd["forward_id"], "revision": 2, "decision": "approve"}))
        .await;
    message_with(&mut pb, &b.channel(), "relay v2").await;
    ombud.ok(json!({"type": "joint", "open": true})).await;
    pb.ok(json!({"type": "send", "channel": "joint", "body": "joint", "client_id": "j1"}))
        .await;
    ombud
        .ok(json!({"type": "send", "channel": "notes", "body": "note", "client_id": "n1"}))
        .await;
    Furnished {
        id,
        room,
        a,
        b,
        spare_code,
        ombud,
        pa,
        pb,
    }
}

/// Every key under the prefix belongs to one of `rooms` or is one of the
/// documented global keys (accounts, counters), which hold no room data.
async fn assert_only_room_and_global_keys(
    conn: &mut MultiplexedConnection,
    prefix: &str,
    rooms: &[&str],
) {
    for key in scan(conn, &format!("{prefix}:*")).await {
        let global = key == format!("{prefix}:accounts") || key == format!("{prefix}:counters");
        let of_a_room = rooms
            .iter()
            .any(|r| key.starts_with(&format!("{prefix}:{{{r}}}:")));
        assert!(global || of_a_room, "a key outside any room: {key}");
    }
}

#[tokio::test]
async fn every_key_of_a_room_expires_with_the_rooms_retention() {
    // The configured default applies when a room does not choose its own.
    let d = Deployment::start_with(
        2,
        Persistence::None,
        &[("RELAY_RETENTION_HOURS", "5".into())],
    )
    .await;
    let token = login(d.api(0)).await;
    let chosen = furnished(&d, &token, json!({"title": "Chosen", "retention_hours": 3})).await;
    let default = furnished(&d, &token, json!({"title": "Default"})).await;
    assert_eq!(default.room["retention_hours"], 5);

    let mut conn = d.redis_conn().await;
    for (room, hours) in [(&chosen, 3), (&default, 5)] {
        let expire_at = created_at_ms(&room.room) + hours * HOUR_MS;
        let keys = keys_naming(&mut conn, &room.id).await;
        // The room document, its objects, its invites, and an inbox per participant.
        let suffixes: Vec<&str> = keys
            .iter()
            .map(|k| k.rsplit_once("}:").expect("hash-tagged key").1)
            .collect();
        for want in ["doc", "o", "inv"] {
            assert!(suffixes.contains(&want), "no {want} key in {keys:?}");
        }
        let ombud_id = room.ombud.welcome["participant"]["id"].as_str().unwrap();
        for who in [ombud_id, &room.a.id, &room.b.id] {
            let inbox = format!("in:{who}");
            assert!(suffixes.contains(&inbox.as_str()), "no {inbox} in {keys:?}");
        }
        for key in &keys {
            assert!(
                key.starts_with(&format!("{}:{{{}}}:", d.prefix, room.id)),
                "{key} is not under the room's hash tag"
            );
            assert_eq!(
                pexpiretime(&mut conn, key).await,
                expire_at,
                "{key} must expire with the room"
            );
        }
    }
    assert_only_room_and_global_keys(&mut conn, &d.prefix, &[&chosen.id, &default.id]).await;
}

#[tokio::test]
async fn deleting_a_room_leaves_no_key_of_it_even_after_late_requests() {
    let d = Deployment::start(2, Persistence::None).await;
    let token = login(d.api(0)).await;
    let mut gone = furnished(&d, &token, json!({"title": "To be closed"})).await;
    let kept = furnished(&d, &token, json!({"title": "Kept"})).await;
    let mut conn = d.redis_conn().await;
    let kept_keys = keys_naming(&mut conn, &kept.id).await;
    assert!(keys_naming(&mut conn, &gone.id).await.len() >= 6);

    // Deleted through the other node than the ombud's and A's connections.
    let (status, _) = d
        .api(1)
        .call(
            Method::DELETE,
            &format!("/api/rooms/{}", gone.id),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for ws in [&mut gone.ombud, &mut gone.pa, &mut gone.pb] {
        ws.event_of("room_closed").await;
        assert_eq!(ws.closed().await, 4009);
    }
    assert_eq!(keys_naming(&mut conn, &gone.id).await, Vec::<String>::new());

    // Late requests about the room, on both nodes, write nothing back.
    for node in 0..2 {
        let api = d.api(node);
        let room_path = format!("/api/rooms/{}", gone.id);
        assert_eq!(
            status_of(api, Method::GET, &room_path, &token, None).await,
            404
        );
        let parties = format!("{room_path}/parties");
        let body = json!({"display_name": "Late"});
        assert_eq!(
            status_of(api, Method::POST, &parties, &token, Some(body)).await,
            404
        );
        let terms = format!("{room_path}/terms");
        let body = json!({"items": ["late"]});
        assert_eq!(
            status_of(api, Method::PUT, &terms, &token, Some(body)).await,
            404
        );
        let join = json!({"invite_code": gone.spare_code});
        let (status, _) = api.call(Method::POST, "/api/join", None, Some(join)).await;
        assert_eq!(status, 404, "a spare invite of a deleted room is unknown");
        for (hello, code) in [
            (json!({"token": gone.a.token}), 4009),
            (json!({"token": gone.b.token, "since": 3}), 4009),
            (json!({"token": token, "room_id": gone.id}), 4004),
        ] {
            let refused = Ws::try_connect(&d.ws_url(node), hello).await;
            assert_eq!(refused.err().map(|e| e.0), Some(code));
        }
    }
    assert_eq!(keys_naming(&mut conn, &gone.id).await, Vec::<String>::new());

    // The other room is untouched and still works.
    assert_eq!(keys_naming(&mut conn, &kept.id).await, kept_keys);
    let mut pa = kept.pa;
    pa.ok(json!({"type": "send", "channel": kept.a.channel(), "body": "still here", "client_id": "k"}))
        .await;
    let mut ombud = kept.ombud;
    message_with(&mut ombud, &kept.a.channel(), "still here").await;
    assert_only_room_and_global_keys(&mut conn, &d.prefix, &[&kept.id]).await;
}

async fn status_of(api: &Api, method: Method, path: &str, token: &str, body: Option<Value>) -> u16 {
    api.call(method, path, Some(token), body).await.0.as_u16()
}

/// The shortest retention a room may have is an hour. Rather than wait an
/// hour, the relay runs with its clock set back by a little less than one
/// (libfaketime), as if the room had been created an hour ago: the relay
/// computes the room's expiry from its own clock exactly as always, and
/// Redis, on the real clock, expires the keys a few seconds later. Nothing
/// in the relay is changed or bypassed.
#[tokio::test]
async fn a_room_past_its_retention_is_gone_from_redis_and_from_the_relay() {
    const WINDOW_SECS: i64 = 8;
    let behind = format!("-{}", 3600 - WINDOW_SECS);
    let d = Deployment::start_with(
        1,
        Persistence::None,
        &[
            ("LD_PRELOAD", libfaketime()),
            ("FAKETIME", behind),
            ("FAKETIME_DONT_FAKE_MONOTONIC", "1".into()),
            ("FAKETIME_DISABLE_SHM", "1".into()),
        ],
    )
    .await;
    let api = d.api(0);
    let url = d.ws_url(0);
    let token = login(api).await;
    let short = create_room(api, &token, json!({"title": "Short", "retention_hours": 1})).await;
    let long = create_room(api, &token, json!({"title": "Long", "retention_hours": 2})).await;
    let (short_id, long_id) = (short["id"].as_str().unwrap(), long["id"].as_str().unwrap());
    let a = add_party(api, api, &token, short_id, "Ada").await;
    let spare = api.invite(&token, short_id, "Cyd").await.1;
    let mut pa = connect_party(&url, &a).await;
    pa.ok(json!({"type": "send", "channel": a.channel(), "body": "soon gone", "client_id": "1"}))
        .await;
    let l = add_party(api, api, &token, long_id, "Lee").await;
    let mut pl = connect_party(&url, &l).await;
    pl.ok(json!({"type": "send", "channel": l.channel(), "body": "staying", "client_id": "1"}))
        .await;

    // The relay's clock really is an hour behind, and the room's keys carry
    // its expiry, which is seconds away on Redis's clock.
    let expire_at = created_at_ms(&short) + HOUR_MS;
    let now = now_ms();
    assert!(
        expire_at > now + 1000 && expire_at < now + WINDOW_SECS * 1000 + 1000,
        "expiry {expire_at} should be a few seconds after now ({now}); set-up too slow?"
    );
    let mut conn = d.redis_conn().await;
    let keys = keys_naming(&mut conn, short_id).await;
    assert!(keys.len() >= 4, "{keys:?}");
    for key in &keys {
        assert_eq!(pexpiretime(&mut conn, key).await, expire_at, "{key}");
    }
    let long_keys = keys_naming(&mut conn, long_id).await;

    // Redis removes every key of the room when its time comes.
    let deadline = Instant::now() + Duration::from_secs(WINDOW_SECS as u64 + 5);
    while !keys_naming(&mut conn, short_id).await.is_empty() {
        assert!(Instant::now() < deadline, "the room's keys did not expire");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(now_ms() >= expire_at, "keys went before the room's expiry");

    // The relay treats the room as closed: the open connection is told so,
    // new ones are refused, the invite is unknown, the listing omits it.
    let code = pa
        .err(json!({"type": "send", "channel": a.channel(), "body": "late", "client_id": "2"}))
        .await;
    assert_eq!(code, "room_closed");
    assert_eq!(pa.closed().await, 4009);
    let refused = Ws::try_connect(&url, json!({"token": a.token})).await;
    assert_eq!(refused.err().map(|e| e.0), Some(4009));
    let join = json!({"invite_code": spare});
    assert_eq!(
        api.call(Method::POST, "/api/join", None, Some(join))
            .await
            .0,
        404
    );
    let room_path = format!("/api/rooms/{short_id}");
    assert_eq!(
        status_of(api, Method::GET, &room_path, &token, None).await,
        404
    );
    let listed = api.ok(Method::GET, "/api/rooms", Some(&token), None).await;
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [long_id]);
    assert_eq!(keys_naming(&mut conn, short_id).await, Vec::<String>::new());

    // The longer-lived room is whole and working.
    assert_eq!(keys_naming(&mut conn, long_id).await, long_keys);
    pl.ok(json!({"type": "send", "channel": l.channel(), "body": "still here", "client_id": "2"}))
        .await;
}
