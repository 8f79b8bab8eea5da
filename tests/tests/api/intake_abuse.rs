//! The front door's guards against abuse, over real sockets: the proof of
//! work cannot be skipped, forged or reused by calling the API directly; a
//! burst from one address is refused with `rate_limited` and `Retry-After`
//! while the node keeps serving everyone else; and creations are limited in
//! total across addresses.

use std::time::{Duration, Instant};

use caucus_tests::app::{spawn_relay_with, OMBUD};
use caucus_tests::client::Api;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::intake::{queue, relay_with, settings, solved};

async fn post_raw(
    api: &Api,
    body: Value,
    forwarded_for: Option<&str>,
) -> (StatusCode, Value, Option<String>) {
    let mut req = reqwest::Client::new()
        .post(format!("{}/api/intake", api.base))
        .json(&body);
    if let Some(addr) = forwarded_for {
        req = req.header("x-forwarded-for", addr);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let retry = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    (status, resp.json().await.unwrap_or(Value::Null), retry)
}

async fn solved_request(api: &Api, body: &str) -> Value {
    let (challenge, nonce) = solved(api).await;
    json!({"label": {"kind": "anonymous"}, "notice_acknowledged": true, "body": body, "challenge": challenge, "nonce": nonce})
}

#[tokio::test]
async fn the_challenge_cannot_be_skipped_forged_or_reused() {
    let relay = relay_with("").await;
    let api = &relay.api;
    let good = solved_request(api, "hello").await;
    let mut cases = Vec::new();
    for (field, value) in [
        ("challenge", json!("")),
        ("challenge", json!("AAAA.0123456789abcdef0123456789abcdef")),
        ("nonce", json!("")),
    ] {
        let mut bad = good.clone();
        bad[field] = value;
        cases.push(bad);
    }
    // A nonce that does not solve it.
    let challenge = good["challenge"].as_str().unwrap();
    let wrong = (0u64..)
        .map(|i| format!("w{i}"))
        .find(|n| !relay::intake::challenge::solves(challenge, n, 6))
        .unwrap();
    let mut bad = good.clone();
    bad["nonce"] = json!(wrong);
    cases.push(bad);
    for bad in cases {
        let (status, v, _) = post_raw(api, bad.clone(), None).await;
        assert_eq!(
            (status, v["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("challenge_failed")),
            "{bad}"
        );
    }
    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("challenge");
    let (status, v, _) = post_raw(api, missing, None).await;
    assert_eq!(
        (status, v["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid"))
    );
    // The genuine solution works once.
    let (status, _, _) = post_raw(api, good.clone(), None).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, v, _) = post_raw(api, good, None).await;
    assert_eq!(
        (status, v["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("challenge_failed"))
    );
    // The notice must be acknowledged; a refused request spends nothing.
    let mut unacknowledged = solved_request(api, "hello").await;
    unacknowledged["notice_acknowledged"] = json!(false);
    let (status, _, _) = post_raw(api, unacknowledged.clone(), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    unacknowledged["notice_acknowledged"] = json!(true);
    assert_eq!(
        post_raw(api, unacknowledged, None).await.0,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn a_burst_from_one_address_is_refused_and_the_node_stays_responsive() {
    let relay = relay_with("per_address_per_hour = 3\ntotal_per_minute = 1000\n").await;
    let api = relay.api.clone();
    let token = api.login(OMBUD.0, OMBUD.1).await;
    let mut requests = Vec::new();
    for i in 0..12 {
        requests.push(solved_request(&api, &format!("burst {i}")).await);
    }
    let burst: Vec<_> = requests
        .into_iter()
        .map(|r| {
            let api = api.clone();
            tokio::spawn(async move { post_raw(&api, r, None).await })
        })
        .collect();
    // While the burst is answered, the node still serves everyone else.
    let t0 = Instant::now();
    let health = reqwest::get(format!("{}/healthz", api.base)).await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    api.create_room(&token, json!({"title": "An ordinary room"}))
        .await;
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());

    let mut created = 0;
    for r in burst {
        let (status, v, retry) = r.await.unwrap();
        match status {
            StatusCode::CREATED => created += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                assert_eq!(v["code"], "rate_limited");
                let secs: u64 = retry.expect("Retry-After").parse().unwrap();
                assert!(secs > 0 && secs <= 3600, "{secs}");
            }
            other => panic!("unexpected {other}: {v}"),
        }
    }
    assert_eq!(created, 3);
    assert_eq!(queue(&api, &token).await.len(), 3);
}

#[tokio::test]
async fn creations_are_limited_in_total_across_addresses() {
    let path = settings("per_address_per_hour = 100\ntotal_per_minute = 2\n");
    let relay = spawn_relay_with(|c| {
        c.office_config = Some(path);
        c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    let api = &relay.api;
    for (i, addr) in ["192.0.2.1", "192.0.2.2"].into_iter().enumerate() {
        let r = solved_request(api, &format!("hello {i}")).await;
        assert_eq!(post_raw(api, r, Some(addr)).await.0, StatusCode::CREATED);
    }
    let r = solved_request(api, "one too many").await;
    let (status, v, retry) = post_raw(api, r, Some("192.0.2.3")).await;
    assert_eq!(
        (status, v["code"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("rate_limited"))
    );
    assert!(retry.unwrap().parse::<u64>().unwrap() <= 60);
}
