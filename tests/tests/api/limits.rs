//! No single client can exhaust the relay: login guessing is throttled,
//! password hashing is bounded, one participant cannot hold every socket or
//! outrun the rate limit with more connections, rooms have quotas, and heavy
//! requests stay off the paths that keep the relay answering.

use std::time::{Duration, Instant};

use caucus_tests::app::{spawn_relay, spawn_relay_with, Shuttle, TestRelay, OMBUD};
use caucus_tests::client::Ws;
use reqwest::Method;
use serde_json::json;

fn room() -> serde_json::Value {
    json!({"title": "Limits", "consent_required": true})
}

/// Polls `/healthz` every 10 ms until told to stop; returns the slowest answer.
fn watch_health(
    base: String,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Duration>,
) {
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let http = reqwest::Client::new();
    let task = tokio::spawn(async move {
        let mut worst = Duration::ZERO;
        loop {
            let started = Instant::now();
            let resp = http.get(format!("{base}/healthz")).send().await;
            assert!(resp.is_ok_and(|r| r.status() == 200), "healthz answers");
            worst = worst.max(started.elapsed());
            tokio::select! {
                _ = &mut stopped => return worst,
                () = tokio::time::sleep(Duration::from_millis(10)) => {}
            }
        }
    });
    (stop, task)
}

#[tokio::test]
async fn redaction_with_two_hundred_terms_is_quick_and_never_stalls_the_relay() {
    let relay = spawn_relay().await;
    let mut s = Shuttle::open(&relay.api, room()).await;
    let terms: Vec<String> = (0..200)
        .map(|i| format!("Codename{i} Östlund{i}"))
        .collect();
    s.api
        .ok(
            Method::PUT,
            &format!("/api/rooms/{}/terms", s.room),
            Some(&s.ombud_token),
            Some(json!({ "items": terms })),
        )
        .await;
    let mut body = String::new();
    let mut i = 0;
    while body.chars().count() < 16_000 {
        body.push_str(&format!(
            "Bob said codename{} to Östlund{} again. ",
            i % 300,
            i % 9
        ));
        i += 1;
    }
    let body: String = body.chars().take(16_000).collect();
    let sent =
        s.pa.ok(json!({"type": "send", "channel": s.chan_a(), "body": body, "client_id": "long"}))
            .await;
    let (stop, health) = watch_health(s.api.base.clone());
    tokio::time::sleep(Duration::from_millis(30)).await;
    let started = Instant::now();
    let spans = s
        .ombud
        .ok(json!({"type": "suggest_redactions", "message_id": sent["message"]["id"]}))
        .await;
    let took = started.elapsed();
    tokio::time::sleep(Duration::from_millis(30)).await;
    let _ = stop.send(());
    let worst = health.await.expect("health watcher");
    let spans = spans["spans"].as_array().expect("spans");
    assert!(spans.iter().any(|s| s["kind"] == "term"));
    assert!(spans.iter().any(|s| s["kind"] == "name"));
    // A debug build; release takes a few milliseconds (docs/BENCHMARKS.md).
    assert!(
        took < Duration::from_millis(1000),
        "suggestions took {took:?}"
    );
    assert!(
        worst < Duration::from_millis(250),
        "/healthz stalled for {worst:?}"
    );
}

// --- Logins ---------------------------------------------------------------

/// A login attempt: status, `Retry-After` seconds if any, and the body.
async fn login(
    http: &reqwest::Client,
    base: &str,
    password: &str,
    forwarded_for: Option<&str>,
) -> (u16, Option<u64>, serde_json::Value) {
    let mut req = http
        .post(format!("{base}/api/login"))
        .json(&json!({"username": OMBUD.0, "password": password}));
    if let Some(f) = forwarded_for {
        req = req.header("x-forwarded-for", f);
    }
    let resp = req.send().await.expect("relay answers");
    let status = resp.status().as_u16();
    let retry = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let body = resp.json().await.unwrap_or(serde_json::Value::Null);
    (status, retry, body)
}

#[tokio::test]
async fn wrong_passwords_are_throttled_with_a_growing_retry_after() {
    let relay = spawn_relay().await;
    let (http, base) = (reqwest::Client::new(), relay.api.base.clone());
    for _ in 0..5 {
        assert_eq!(login(&http, &base, "guess", None).await.0, 401);
    }
    let (status, retry, body) = login(&http, &base, "guess", None).await;
    assert_eq!((status, body["code"].as_str()), (429, Some("rate_limited")));
    let first = retry.expect("Retry-After");
    assert!(first >= 1);
    // Even the right password waits: a guesser must not learn it was right.
    assert_eq!(login(&http, &base, OMBUD.1, None).await.0, 429);
    tokio::time::sleep(Duration::from_secs(first)).await;
    assert_eq!(login(&http, &base, "guess", None).await.0, 401);
    let (status, retry, _) = login(&http, &base, "guess", None).await;
    assert_eq!(status, 429);
    let second = retry.expect("Retry-After");
    assert!(second > first, "the wait grows: {first} then {second}");
    tokio::time::sleep(Duration::from_secs(second)).await;
    assert_eq!(login(&http, &base, OMBUD.1, None).await.0, 200);
    // A success starts the count over.
    assert_eq!(login(&http, &base, "typo", None).await.0, 401);
}

#[tokio::test]
async fn the_real_ombud_gets_in_from_another_address_while_someone_guesses() {
    let relay = spawn_relay().await;
    let base = relay.api.base.clone();
    let attacker = reqwest::Client::new();
    for _ in 0..8 {
        login(&attacker, &base, "guess", None).await;
    }
    assert_eq!(login(&attacker, &base, "guess", None).await.0, 429);
    let elsewhere = reqwest::Client::builder()
        .local_address(Some("127.0.0.2".parse().unwrap()))
        .build()
        .unwrap();
    assert_eq!(login(&elsewhere, &base, OMBUD.1, None).await.0, 200);
}

#[tokio::test]
async fn forwarded_for_names_the_client_only_behind_a_trusted_proxy() {
    let relay = spawn_relay_with(|c| c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()]).await;
    let (http, base) = (reqwest::Client::new(), relay.api.base.clone());
    for _ in 0..5 {
        login(&http, &base, "guess", Some("203.0.113.5")).await;
    }
    assert_eq!(
        login(&http, &base, "guess", Some("203.0.113.5")).await.0,
        429
    );
    let via_proxy = Some("198.51.100.1, 203.0.113.6");
    assert_eq!(login(&http, &base, OMBUD.1, via_proxy).await.0, 200);

    // Without a trusted proxy the header is anyone's to write: ignored.
    let relay = spawn_relay().await;
    let base = relay.api.base.clone();
    for i in 0..5 {
        let forged = format!("203.0.113.{i}");
        login(&http, &base, "guess", Some(&forged)).await;
    }
    assert_eq!(
        login(&http, &base, "guess", Some("203.0.113.99")).await.0,
        429
    );
}

#[tokio::test]
async fn password_hashing_is_bounded_and_the_rest_are_told_to_retry() {
    let relay = spawn_relay_with(|c| c.max_concurrent_hashes = 1).await;
    let (http, base) = (reqwest::Client::new(), relay.api.base.clone());
    let flood = (0..150).map(|_| login(&http, &base, OMBUD.1, None));
    let answers = futures_util::future::join_all(flood).await;
    let ok = answers.iter().filter(|a| a.0 == 200).count();
    let busy: Vec<_> = answers.iter().filter(|a| a.0 == 503).collect();
    assert_eq!(ok + busy.len(), answers.len());
    assert!(ok > 0, "some logins got through");
    assert!(
        !busy.is_empty(),
        "one hash at a time cannot serve 150 logins in 2 s"
    );
    for (_, retry, body) in busy {
        assert_eq!(body["code"], "unavailable");
        assert!(retry.is_some(), "503 carries Retry-After");
    }
}

// --- HTTP connections -----------------------------------------------------

/// Reads until the relay closes the connection; how long that took.
async fn closed_after(tcp: &mut tokio::net::TcpStream, dribble: bool) -> Duration {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    while started.elapsed() < Duration::from_secs(8) {
        if dribble && tcp.write_all(b"X-Slow: 1\r\n").await.is_err() {
            break;
        }
        let read = tokio::time::timeout(Duration::from_millis(200), tcp.read(&mut buf)).await;
        // End of stream or a reset: closed. Data or nothing yet: keep waiting.
        if let Ok(Ok(0) | Err(_)) = read {
            break;
        }
    }
    started.elapsed()
}

#[tokio::test]
async fn silent_dribbling_and_idle_http_connections_are_closed_in_time() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let relay = spawn_relay_with(|c| c.http_timeout_secs = 1).await;
    let addr = relay.running.addr;

    let mut silent = tokio::net::TcpStream::connect(addr).await.unwrap();
    let took = closed_after(&mut silent, false).await;
    assert!(
        took < Duration::from_secs(3),
        "a silent connection lived {took:?}"
    );

    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let took = closed_after(&mut slow, true).await;
    assert!(
        took < Duration::from_secs(3),
        "a dribbling request lived {took:?}"
    );

    let mut idle = tokio::net::TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = idle.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let took = closed_after(&mut idle, false).await;
    assert!(
        took < Duration::from_secs(3),
        "an idle keep-alive lived {took:?}"
    );
}

// --- Websockets -----------------------------------------------------------

/// An ombud token, a room and one joined party (id, token).
async fn room_with_party(relay: &TestRelay) -> (String, String, (String, String)) {
    let token = relay.api.login(OMBUD.0, OMBUD.1).await;
    let room = relay.api.create_room(&token, room()).await;
    let party = relay.api.add_joined_party(&token, &room, "Pat").await;
    (token, room, party)
}

#[tokio::test]
async fn one_party_cannot_hold_every_socket_and_the_ombud_still_connects() {
    let relay = spawn_relay_with(|c| c.max_connections = 12).await;
    let (token, room, (_, party)) = room_with_party(&relay).await;
    let url = relay.ws_url();
    let (mut held, mut refused) = (Vec::new(), 0);
    for _ in 0..12 {
        match Ws::try_connect(&url, json!({ "token": party })).await {
            Ok(ws) => held.push(ws),
            Err((code, _)) => {
                assert_eq!(code, 4029, "too many connections for this participant");
                refused += 1;
            }
        }
    }
    assert_eq!((held.len(), refused), (8, 4));
    let ombud = Ws::connect(&url, json!({"token": token, "room_id": room})).await;
    assert_eq!(ombud.welcome["participant"]["role"], "ombud");
    // A closed connection gives its place back.
    held.pop().expect("held").close().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(Ws::try_connect(&url, json!({ "token": party }))
        .await
        .is_ok());
}

#[tokio::test]
async fn an_address_holds_only_so_many_sockets_before_hello() {
    let relay = spawn_relay_with(|c| c.max_unauthenticated_per_address = 3).await;
    let (_, _, (_, party)) = room_with_party(&relay).await;
    let url = relay.ws_url();
    let mut waiting = Vec::new();
    for _ in 0..3 {
        waiting.push(Ws::raw(&url).await);
    }
    match tokio_tungstenite::connect_async(url.as_str()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status(), 429);
            assert!(resp.headers().contains_key("retry-after"));
        }
        other => panic!(
            "a fourth socket before hello was let in: {:?}",
            other.is_ok()
        ),
    }
    // Once one says hello, its place is free again.
    drop(waiting.pop());
    let _authenticated = Ws::connect(&url, json!({ "token": party })).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(tokio_tungstenite::connect_async(url.as_str()).await.is_ok());
}

#[tokio::test]
async fn the_rate_limit_holds_across_a_participants_connections() {
    let relay = spawn_relay_with(|c| {
        c.rate_per_sec = 1;
        c.rate_burst = 5;
    })
    .await;
    let (_, _, (_, party)) = room_with_party(&relay).await;
    let url = relay.ws_url();
    let mut conns = Vec::new();
    for _ in 0..3 {
        conns.push(Ws::connect(&url, json!({ "token": party })).await);
    }
    let mut limited = 0;
    for _ in 0..4 {
        for ws in &mut conns {
            match ws.request(json!({"type": "acknowledge_notice"})).await {
                Ok(_) => {}
                Err((code, _)) => {
                    assert_eq!(code, "rate_limited");
                    limited += 1;
                }
            }
        }
    }
    assert!(
        limited >= 6,
        "12 requests on 3 sockets, burst 5: only {limited} limited"
    );
}

#[tokio::test]
async fn binary_frames_and_pings_count_against_the_rate() {
    use tokio_tungstenite::tungstenite::Message;
    let relay = spawn_relay_with(|c| {
        c.rate_per_sec = 1;
        c.rate_burst = 6;
    })
    .await;
    let (_, _, (_, party)) = room_with_party(&relay).await;
    let mut ws = Ws::connect(&relay.ws_url(), json!({ "token": party })).await;
    for _ in 0..3 {
        ws.send_message(Message::binary(vec![0u8; 16])).await;
        ws.send_message(Message::Ping(vec![1u8].into())).await;
    }
    let code = ws.err(json!({"type": "acknowledge_notice"})).await;
    assert_eq!(code, "rate_limited");
}

#[tokio::test]
async fn an_oversized_frame_is_refused_with_its_req_without_being_parsed() {
    let relay = spawn_relay_with(|c| c.max_frame_bytes = 4096).await;
    let (_, _, (_, party)) = room_with_party(&relay).await;
    let mut ws = Ws::connect(&relay.ws_url(), json!({ "token": party })).await;
    // Not even JSON: a parse could not have found `req`.
    let frame = format!(
        r#"{{"req": 9, "type": "send", "body": "{}"#,
        "x".repeat(5000)
    );
    ws.send_raw(&frame).await;
    let answer = loop {
        let f = ws.next_frame().await.expect("still open");
        if f["type"] == "error" {
            break f;
        }
    };
    assert_eq!(answer["code"], "too_large");
    assert_eq!(answer["req"], 9);
}

#[tokio::test]
async fn a_peer_that_never_answers_pings_is_closed_and_a_talking_one_is_not() {
    let relay = spawn_relay_with(|c| c.ping_secs = 1).await;
    let (token, room, (_, party)) = room_with_party(&relay).await;
    let url = relay.ws_url();
    let mut silent = Ws::connect(&url, json!({ "token": party })).await;
    let mut talking = Ws::connect(&url, json!({"token": token, "room_id": room})).await;
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(3500) {
        talking
            .ok(json!({"type": "typing", "channel": "notes"}))
            .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // The silent one read nothing, so it answered no ping: it was closed.
    assert_eq!(silent.closed().await, 4013);
    talking
        .ok(json!({"type": "typing", "channel": "notes"}))
        .await;
}

// --- Quotas ---------------------------------------------------------------

#[tokio::test]
async fn rooms_and_participants_stop_storing_at_their_quotas() {
    let relay = spawn_relay_with(|c| {
        c.room_max_messages = 5;
        c.participant_max_messages = 3;
    })
    .await;
    let mut s = Shuttle::open(&relay.api, room()).await;
    let send = |chan: String, i: usize| json!({"type": "send", "channel": chan, "body": format!("message {i}"), "client_id": format!("c{i}")});
    for i in 0..3 {
        s.pa.ok(send(s.chan_a(), i)).await;
    }
    assert_eq!(s.pa.err(send(s.chan_a(), 3)).await, "quota_exceeded");
    for i in 0..2 {
        s.pb.ok(send(s.chan_b(), i)).await;
    }
    assert_eq!(s.pb.err(send(s.chan_b(), 2)).await, "quota_exceeded");
    assert_eq!(s.ombud.err(send("notes".into(), 9)).await, "quota_exceeded");

    let detail = s
        .api
        .ok(
            Method::GET,
            &format!("/api/rooms/{}", s.room),
            Some(&s.ombud_token),
            None,
        )
        .await;
    assert_eq!(detail["quota"]["messages"], 5);
    assert_eq!(detail["quota"]["max_messages"], 5);
    let ombud = Ws::connect(
        &s.ws_url,
        json!({"token": s.ombud_token, "room_id": s.room}),
    )
    .await;
    assert_eq!(ombud.welcome["room"]["quota"]["messages"], 5);
    let party = Ws::connect(&s.ws_url, json!({"token": s.a.1})).await;
    assert!(
        party.welcome["room"].get("quota").is_none(),
        "parties do not see the room's usage"
    );
    // A full room can still be left.
    s.pb.ok(json!({"type": "leave"})).await;
}

#[tokio::test]
async fn a_room_stops_at_its_byte_quota() {
    let relay = spawn_relay_with(|c| c.room_max_bytes = 40_000).await;
    let mut s = Shuttle::open(&relay.api, room()).await;
    let body = "w".repeat(4000);
    let mut sent: u64 = 0;
    loop {
        let frame = json!({"type": "send", "channel": s.chan_a(), "body": body, "client_id": format!("b{sent}")});
        match s.pa.request(frame).await {
            Ok(_) => sent += 1,
            Err((code, _)) => {
                assert_eq!(code, "quota_exceeded");
                break;
            }
        }
        assert!(
            sent < 20,
            "40,000 bytes hold fewer than 20 copies of 4,000 characters"
        );
    }
    assert!(sent >= 3, "only {sent} sent");
    let detail = s
        .api
        .ok(
            Method::GET,
            &format!("/api/rooms/{}", s.room),
            Some(&s.ombud_token),
            None,
        )
        .await;
    let bytes = detail["quota"]["bytes"].as_u64().expect("bytes");
    assert!(
        bytes <= 40_000 && bytes > 4000 * sent,
        "{bytes} bytes for {sent} messages"
    );
}
