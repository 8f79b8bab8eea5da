//! Conversations at the front door count in the trend reports like rooms:
//! by category, once the month has ended, with the same suppression, and
//! never by visitor. A month has to end for a report to show it, so the
//! conversations are started, claimed and tagged by a relay whose clock is
//! set two months back (libfaketime), and the report is read by a relay on
//! the real clock over the same data directory. Nothing in the relay is
//! changed or bypassed.

use caucus_tests::app::{free_port, libfaketime, RelayProcess, OMBUD};
use chrono::{Datelike, Utc};
use reqwest::Method;
use serde_json::{json, Value};

use crate::intake::{settings, start};

/// The 15th, noon, of the month two months before this one.
fn two_months_ago() -> chrono::NaiveDateTime {
    let first = Utc::now().date_naive().with_day(1).expect("day 1");
    let earlier = first - chrono::Duration::days(40);
    earlier
        .with_day(15)
        .expect("day 15")
        .and_hms_opt(12, 0, 0)
        .expect("noon")
}

async fn relay(
    dir: &std::path::Path,
    office: &std::path::Path,
    clock: &[(&str, String)],
) -> RelayProcess {
    let mut env = vec![
        ("RELAY_DATA_DIR", dir.display().to_string()),
        ("RELAY_CONFIG", office.display().to_string()),
        ("RELAY_BOOTSTRAP_OMBUD", format!("{}:{}", OMBUD.0, OMBUD.1)),
    ];
    env.extend(clock.iter().cloned());
    RelayProcess::start(free_port(), &env).await
}

#[tokio::test]
async fn tagged_conversations_count_in_an_ended_month_and_no_visitor_is_named() {
    let dir = std::env::temp_dir().join(format!("caucus-intake-trends-{}", uuid::Uuid::new_v4()));
    let office = settings("");
    let then = two_months_ago();
    let month = then.format("%Y-%m").to_string();
    let clock = [
        ("LD_PRELOAD", libfaketime()),
        ("FAKETIME", format!("@{}", then.format("%Y-%m-%d %H:%M:%S"))),
        ("FAKETIME_DONT_FAKE_MONOTONIC", "1".into()),
        ("FAKETIME_DISABLE_SHM", "1".into()),
    ];

    let mut past = relay(&dir, &office, &clock).await;
    let api = &past.api;
    let token = api.login(OMBUD.0, OMBUD.1).await;
    let categories = api.ok(Method::GET, "/api/office", Some(&token), None).await["categories"]
        .as_array()
        .expect("categories")
        .clone();
    let (many, one) = (
        categories[0].as_str().unwrap(),
        categories[1].as_str().unwrap(),
    );
    // Six conversations about one thing (over the default threshold of 5),
    // one about another: the first shows, the second stays suppressed.
    let mut labels = Vec::new();
    for i in 0..7 {
        let started = start(
            api,
            json!({"kind": "name", "name": format!("Visitor Tamsin {i}")}),
            "a concern",
        )
        .await;
        let room = started["room_id"].as_str().expect("a room").to_string();
        labels.push(format!("Visitor Tamsin {i}"));
        api.ok(
            Method::POST,
            &format!("/api/intake/{room}/claim"),
            Some(&token),
            None,
        )
        .await;
        let tag = if i < 6 { many } else { one };
        api.ok(
            Method::PUT,
            &format!("/api/rooms/{room}/categories"),
            Some(&token),
            Some(json!({"items": [tag]})),
        )
        .await;
    }
    past.kill();

    let now = relay(&dir, &office, &[]).await;
    let token = now.api.login(OMBUD.0, OMBUD.1).await;
    let report = now
        .api
        .ok(
            Method::GET,
            &format!("/api/reports/trends?from={month}&to={month}"),
            Some(&token),
            None,
        )
        .await;
    let row = |c: &str| -> Value {
        report["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .find(|r| r["category"] == c)
            .cloned()
            .unwrap_or_else(|| panic!("no row for {c}: {report}"))
    };
    assert_eq!(row(many)["suppressed"], false, "{report}");
    assert!(
        row(many)["count"].as_u64().is_some_and(|n| n > 0),
        "{report}"
    );
    assert_eq!(row(one)["suppressed"], true, "{report}");
    assert_eq!(row(one)["count"], Value::Null, "{report}");
    let text = report.to_string();
    for label in &labels {
        assert!(
            !text.contains(label),
            "a visitor's label in the report: {text}"
        );
    }
    drop(now);
    let _ = std::fs::remove_dir_all(&dir);
}
