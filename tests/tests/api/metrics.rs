//! `GET /metrics`: a short shuttle moves the counters by exactly what it
//! did, the output parses as Prometheus text, and no label carries an id,
//! a name or any words.

use std::collections::HashMap;

use caucus_tests::app::{spawn_relay, spawn_relay_with, Shuttle};
use caucus_tests::client::Ws;
use prometheus_parse::{Sample, Scrape, Value};
use serde_json::json;

const SECRET_SENT: &str = "alpha the debt is private";
const SECRET_RELAYED: &str = "beta a softened concern";
const TITLE: &str = "Case of the harbour";

/// One scrape, parsed by a real Prometheus text parser.
struct Metrics {
    text: String,
    samples: Vec<Sample>,
}

impl Metrics {
    async fn scrape(addr: std::net::SocketAddr) -> Metrics {
        let res = reqwest::get(format!("http://{addr}/metrics"))
            .await
            .expect("metrics answer");
        assert_eq!(res.status(), 200);
        let text = res.text().await.expect("metrics body");
        let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("parses");
        Metrics {
            text,
            samples: scrape.samples,
        }
    }

    /// A counter's or gauge's value; 0 when the series does not exist yet.
    /// (OpenMetrics names a counter's samples `_total`, which the parser
    /// reads as untyped.)
    fn value(&self, metric: &str, labels: &[(&str, &str)]) -> f64 {
        let matching: Vec<f64> = self
            .samples
            .iter()
            .filter(|s| s.metric == metric)
            .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .map(|s| match s.value {
                Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
                ref other => panic!("{metric} is not a single value: {other:?}"),
            })
            .collect();
        assert!(matching.len() <= 1, "{metric} {labels:?} is ambiguous");
        matching.first().copied().unwrap_or(0.0)
    }

    /// Observations in a histogram (its `+Inf` bucket).
    fn observations(&self, metric: &str) -> f64 {
        let sample = self
            .samples
            .iter()
            .find(|s| s.metric == metric)
            .unwrap_or_else(|| panic!("no histogram {metric}"));
        match &sample.value {
            Value::Histogram(buckets) => {
                buckets
                    .iter()
                    .find(|b| b.less_than.is_infinite())
                    .expect("+Inf bucket")
                    .count
            }
            other => panic!("{metric} is not a histogram: {other:?}"),
        }
    }

    fn requests(&self, kind: &str, result: &str) -> f64 {
        self.value(
            "relay_requests_total",
            &[("kind", kind), ("result", result)],
        )
    }

    fn labels(&self) -> HashMap<String, String> {
        self.samples
            .iter()
            .flat_map(|s| s.labels.iter().map(|(k, v)| (k.clone(), v.clone())))
            .collect()
    }
}

#[tokio::test]
async fn a_shuttle_moves_the_counters_and_no_label_says_who_or_what() {
    let relay = spawn_relay_with(|c| {
        c.metrics_addr = Some("127.0.0.1:0".parse().expect("address"));
        c.participant_max_messages = 1;
        c.rate_per_sec = 1;
        c.rate_burst = 12;
    })
    .await;
    let addr = relay.running.metrics_addr.expect("metrics listener");
    let mut s = Shuttle::open(
        &relay.api,
        json!({"title": TITLE, "consent_required": true}),
    )
    .await;
    let before = Metrics::scrape(addr).await;
    assert_eq!(before.value("relay_connections", &[]), 3.0);
    assert_eq!(before.value("relay_rooms_served", &[]), 1.0);

    // Send, a refused second send (quota), forward, consent.
    let sent = s
        .pa
        .ok(json!({"type": "send", "channel": s.chan_a(), "body": SECRET_SENT, "client_id": "c1"}))
        .await;
    let refused = s
        .pa
        .err(json!({"type": "send", "channel": s.chan_a(), "body": SECRET_SENT, "client_id": "c2"}))
        .await;
    assert_eq!(refused, "quota_exceeded");
    let fwd = s.ombud.ok(json!({"type": "forward", "source_message_id": sent["message"]["id"], "to": [s.b.0], "body": SECRET_RELAYED})).await;
    s.pa.event_of("consent_requested").await;
    s.pa.ok(json!({"type": "consent", "forward_id": fwd["forward_id"], "revision": 1, "decision": "approve"}))
        .await;
    assert_eq!(s.pb.event_of("message").await["body"], SECRET_RELAYED);

    // B outruns its rate: every frame gets exactly one answer, ack or refusal.
    let frames = 20;
    for i in 0..frames {
        s.pb.send_raw(
            &json!({"type": "typing", "channel": s.chan_b(), "req": 1000 + i}).to_string(),
        )
        .await;
    }
    let (mut acked, mut limited) = (0, 0);
    while acked + limited < frames {
        let f = s.pb.next_frame().await.expect("an answer");
        match f["type"].as_str() {
            Some("ack") => acked += 1,
            Some("error") => {
                assert_eq!(f["code"], "rate_limited");
                limited += 1;
            }
            _ => {}
        }
    }
    assert!(limited > 0, "the burst of {frames} is over the rate");

    // A resume: B connects again from the start and replays its inbox.
    let resumed = Ws::connect(&s.ws_url, json!({"token": s.b.1, "since": 0})).await;
    let replayed = resumed.welcome["seq"].as_u64().expect("head") as f64;
    assert!(replayed > 0.0);

    let after = Metrics::scrape(addr).await;
    let moved = |f: &dyn Fn(&Metrics) -> f64| f(&after) - f(&before);
    assert_eq!(moved(&|m| m.requests("send", "ok")), 1.0);
    assert_eq!(moved(&|m| m.requests("send", "quota_exceeded")), 1.0);
    assert_eq!(moved(&|m| m.requests("forward", "ok")), 1.0);
    assert_eq!(moved(&|m| m.requests("consent", "ok")), 1.0);
    assert_eq!(moved(&|m| m.requests("typing", "ok")), acked as f64);
    let refusals =
        |reason| move |m: &Metrics| m.value("relay_refusals_total", &[("reason", reason)]);
    assert_eq!(moved(&refusals("quota")), 1.0);
    assert_eq!(moved(&refusals("rate_limit")), limited as f64);
    assert_eq!(
        moved(&|m| m.value("relay_relays_delivered_total", &[])),
        1.0
    );
    assert!(moved(&|m| m.observations("relay_commit_seconds")) >= 3.0);
    assert_eq!(moved(&|m| m.value("relay_commit_retries_total", &[])), 0.0);
    assert_eq!(moved(&|m| m.value("relay_store_errors_total", &[])), 0.0);
    assert_eq!(moved(&|m| m.value("relay_pubsub_resyncs_total", &[])), 0.0);
    assert_eq!(
        moved(&|m| m.value("relay_pubsub_reconnects_total", &[])),
        0.0
    );
    assert_eq!(moved(&|m| m.observations("relay_replay_events")), 1.0);
    assert_eq!(
        moved(&|m| m.value("relay_replay_events_sum", &[])),
        replayed
    );
    assert_eq!(after.value("relay_connections", &[]), 4.0);
    assert_eq!(after.value("relay_rooms_served", &[]), 1.0);

    // Labels are fixed words: no id, no name, no text.
    for (key, value) in after.labels() {
        assert!(
            key == "le" || value.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
            "label {key}={value} is not a fixed word"
        );
        assert!(!holds_uuid(&value), "label {key}={value} looks like an id");
    }
    let words = [
        SECRET_SENT,
        SECRET_RELAYED,
        TITLE,
        "Alice",
        "Bob",
        "ombud",
        s.room.as_str(),
        s.a.0.as_str(),
        s.b.0.as_str(),
    ];
    for word in words {
        assert!(!after.text.contains(word), "the scrape mentions {word:?}");
    }
}

/// Does `s` hold a UUID (8-4-4-4-12 hex digits)?
fn holds_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.windows(36).any(|w| {
        w.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
    })
}

#[tokio::test]
async fn metrics_are_not_served_unless_an_address_is_set() {
    let relay = spawn_relay().await;
    assert!(relay.running.metrics_addr.is_none());
    let res = reqwest::get(format!("http://{}/metrics", relay.running.addr))
        .await
        .expect("an answer");
    let body = res.text().await.expect("body");
    assert!(
        !body.contains("relay_requests"),
        "the main listener serves no metrics"
    );
}
