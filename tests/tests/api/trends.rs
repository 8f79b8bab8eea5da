//! Trend reports resist differencing: tagging rooms one at a time and
//! asking after each tag reveals nothing, because the month a tag counts in
//! is never shown until it has ended; and a report is the same every time
//! it is asked for.

use caucus_tests::app::{spawn_relay, OMBUD};
use chrono::Datelike;
use reqwest::Method;
use serde_json::{json, Value};

fn this_month() -> String {
    chrono::Utc::now().format("%Y-%m").to_string()
}

fn last_month() -> String {
    let first = chrono::Utc::now().date_naive().with_day0(0).expect("day 1");
    (first - chrono::Duration::days(1))
        .format("%Y-%m")
        .to_string()
}

#[tokio::test]
async fn tagging_rooms_one_at_a_time_this_month_reveals_nothing() {
    let relay = spawn_relay().await;
    let api = &relay.api;
    let token = api.login(OMBUD.0, OMBUD.1).await;
    let office = api.ok(Method::GET, "/api/office", Some(&token), None).await;
    let category = office["categories"][0].as_str().unwrap().to_string();
    let path = format!(
        "/api/reports/trends?from={}&to={}",
        last_month(),
        this_month()
    );
    let before = api.ok(Method::GET, &path, Some(&token), None).await;
    assert_every_row_suppressed(&before);
    for i in 0..12 {
        let room = api
            .create_room(&token, json!({"title": format!("room {i}")}))
            .await;
        api.ok(
            Method::PUT,
            &format!("/api/rooms/{room}/categories"),
            Some(&token),
            Some(json!({"items": [category]})),
        )
        .await;
        let after = api.ok(Method::GET, &path, Some(&token), None).await;
        assert_eq!(after, before, "after tagging room {i}");
    }
}

#[tokio::test]
async fn the_same_trends_question_gets_the_same_answer() {
    let relay = spawn_relay().await;
    let api = &relay.api;
    let token = api.login(OMBUD.0, OMBUD.1).await;
    let path = "/api/reports/trends?from=2025-01&to=2025-12";
    let first = api.ok(Method::GET, path, Some(&token), None).await;
    let second = api.ok(Method::GET, path, Some(&token), None).await;
    assert_eq!(first, second);
    assert_eq!(first["rows"].as_array().map(Vec::len), Some(12 * 5));
    assert_every_row_suppressed(&first);
}

fn assert_every_row_suppressed(report: &Value) {
    for row in report["rows"].as_array().expect("rows") {
        assert_eq!(row["suppressed"], true, "{row}");
        assert_eq!(row["count"], Value::Null, "{row}");
    }
}
