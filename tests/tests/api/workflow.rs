//! The ombuds workflow: notice, co-ombuds, redaction help, referrals, transcripts, trends.

use caucus_tests::app::{spawn_relay, Shuttle, OMBUD};
use caucus_tests::client::Ws;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn a_party_cannot_send_until_it_acknowledges_the_notice() {
    let relay = spawn_relay().await;
    let api = &relay.api;
    let token = api.login(OMBUD.0, OMBUD.1).await;
    let room = api.create_room(&token, json!({"title": "Notice"})).await;
    let (pid, ptoken) = api.add_joined_party(&token, &room, "Eve").await;
    let mut ombud = Ws::connect(&relay.ws_url(), json!({"token": token, "room_id": room})).await;
    let mut p = Ws::connect(&relay.ws_url(), json!({"token": ptoken})).await;
    assert!(p.welcome["notice"]["text"]
        .as_str()
        .unwrap()
        .contains("confidential"));
    let chan = format!("private:{pid}");
    assert_eq!(
        p.err(json!({"type": "send", "channel": chan, "body": "hi", "client_id": "1"}))
            .await,
        "notice_required"
    );
    p.ok(json!({"type": "acknowledge_notice"})).await;
    let ack = ombud.event_of("notice_acknowledged").await;
    assert_eq!(ack["participant_id"], pid);
    p.ok(json!({"type": "send", "channel": chan, "body": "hi", "client_id": "1"}))
        .await;
    let again = Ws::connect(&relay.ws_url(), json!({"token": ptoken})).await;
    assert!(
        again.welcome.get("notice").is_none(),
        "acknowledged once, for good"
    );
}

#[tokio::test]
async fn a_co_ombud_added_later_sees_every_thread_and_forward() {
    let relay = spawn_relay().await;
    relay
        .accounts()
        .upsert("colleague", "colleague-pass")
        .await
        .unwrap();
    let mut s = Shuttle::open(&relay.api, json!({"title": "Co", "consent_required": true})).await;
    let sent = s.pa.ok(json!({"type": "send", "channel": s.chan_a(), "body": "before colleague", "client_id": "1"})).await;
    relay
        .api
        .ok(
            Method::POST,
            &format!("/api/rooms/{}/ombuds", s.room),
            Some(&s.ombud_token),
            Some(json!({"username": "colleague"})),
        )
        .await;
    let joined = s.pa.event_of("participant_joined").await;
    assert_eq!(
        joined["participant"]["role"], "ombud",
        "parties are told who can read their thread"
    );
    let ctoken = relay.api.login("colleague", "colleague-pass").await;
    let mut co = Ws::connect(&s.ws_url, json!({"token": ctoken, "room_id": s.room})).await;
    // The colleague's replay already holds the thread from before it was added.
    co.drain_replay().await;
    assert!(
        co.saw("before colleague"),
        "history of every thread is visible to a co-ombud"
    );
    s.pb.ok(
        json!({"type": "send", "channel": s.chan_b(), "body": "after colleague", "client_id": "2"}),
    )
    .await;
    assert_eq!(co.event_of("message").await["body"], "after colleague");
    s.ombud.ok(json!({"type": "forward", "source_message_id": sent["message"]["id"], "to": [s.b.0], "body": "relay"})).await;
    assert_eq!(
        co.event_of("forward_status").await["status"],
        "awaiting_consent"
    );
    // The colleague can act on threads too, and its inbox resumes on its own.
    co.ok(json!({"type": "send", "channel": s.chan_a(), "body": "hello from colleague", "client_id": "c"})).await;
    assert_eq!(co.event_of("message").await["body"], "hello from colleague");
    let seen = co.last_seq;
    let mut co2 = Ws::connect(
        &s.ws_url,
        json!({"token": ctoken, "room_id": s.room, "since": seen}),
    )
    .await;
    s.pa.ok(
        json!({"type": "send", "channel": s.chan_a(), "body": "to both ombuds", "client_id": "3"}),
    )
    .await;
    assert_eq!(co2.event_of("message").await["body"], "to both ombuds");
}

async fn transcript(base: &str, token: &str, format: &str) -> String {
    let url = format!("{base}/api/transcript?format={format}");
    let resp = reqwest::Client::new()
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.text().await.unwrap()
}

fn utf16_slice(s: &str, start: usize, end: usize) -> String {
    let units: Vec<u16> = s.encode_utf16().collect();
    String::from_utf16(&units[start..end]).unwrap()
}

#[tokio::test]
async fn redaction_suggestions_land_exactly_on_sensitive_substrings() {
    let relay = spawn_relay().await;
    let mut s = Shuttle::open(&relay.api, json!({"title": "Redact"})).await;
    relay
        .api
        .ok(
            Method::PUT,
            &format!("/api/rooms/{}/terms", s.room),
            Some(&s.ombud_token),
            Some(json!({"items": ["Kestrel"]})),
        )
        .await;
    let body = "🙂 Alice Émile here — mail alice.emile@exämple.org, call +1 (555) 010-9999, see https://intra.example/x 🎉 about Kestrel";
    let sent =
        s.pa.ok(json!({"type": "send", "channel": s.chan_a(), "body": body, "client_id": "r"}))
            .await;
    let res = s
        .ombud
        .ok(json!({"type": "suggest_redactions", "message_id": sent["message"]["id"]}))
        .await;
    let got: Vec<(String, String)> = res["spans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|sp| {
            let (a, b) = (
                sp["start"].as_u64().unwrap() as usize,
                sp["end"].as_u64().unwrap() as usize,
            );
            (
                utf16_slice(body, a, b),
                sp["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = [
        ("Alice Émile", "name"),
        ("alice.emile@exämple.org", "email"),
        ("+1 (555) 010-9999", "phone"),
        ("https://intra.example/x", "url"),
        ("Kestrel", "term"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(got, want);
}

#[tokio::test]
async fn a_referral_arrives_as_a_resource_card() {
    let relay = spawn_relay().await;
    let mut s = Shuttle::open(&relay.api, json!({"title": "Refer"})).await;
    let office = relay
        .api
        .ok(Method::GET, "/api/office", Some(&s.ombud_token), None)
        .await;
    let rid = office["resources"][0]["id"].as_str().unwrap().to_string();
    s.ombud
        .ok(json!({"type": "refer", "party_id": s.a.0, "resource_id": rid}))
        .await;
    let m = s.pa.event_of("message").await;
    assert_eq!(m["resource"]["id"], rid);
    assert!(m["resource"]["url"]
        .as_str()
        .unwrap()
        .starts_with("https://"));
    assert_eq!(
        s.ombud
            .err(json!({"type": "refer", "party_id": s.a.0, "resource_id": "nope"}))
            .await,
        "not_found"
    );
}

#[tokio::test]
async fn a_party_transcript_holds_exactly_that_partys_view() {
    let relay = spawn_relay().await;
    let mut s = Shuttle::open(
        &relay.api,
        json!({"title": "Transcript <b>", "consent_required": false}),
    )
    .await;
    let a_msg = s
        .pa
        .ok(json!({"type": "send", "channel": s.chan_a(), "body": "alpha words", "client_id": "1"}))
        .await;
    s.pb.ok(json!({"type": "send", "channel": s.chan_b(), "body": "bravo private words", "client_id": "2"})).await;
    s.ombud.ok(json!({"type": "send", "channel": s.chan_a(), "body": "ombud reply <script>", "client_id": "3"})).await;
    s.ombud
        .ok(json!({"type": "send", "channel": "notes", "body": "note words", "client_id": "4"}))
        .await;
    s.ombud.ok(json!({"type": "forward", "source_message_id": a_msg["message"]["id"], "to": [s.b.0], "body": "relayed alpha"})).await;
    let retracted = s.pa.ok(json!({"type": "send", "channel": s.chan_a(), "body": "oops retracted", "client_id": "5"})).await;
    s.pa.ok(json!({"type": "retract", "message_id": retracted["message"]["id"]}))
        .await;

    let http = reqwest::Client::new();
    let txt = http
        .get(format!("{}/api/transcript?format=txt", relay.api.base))
        .bearer_auth(&s.a.1)
        .send()
        .await
        .unwrap();
    assert_eq!(txt.status(), 200);
    let txt = txt.text().await.unwrap();
    assert!(txt.contains("alpha words") && txt.contains("ombud reply"));
    for absent in ["bravo", "note words", "relayed alpha", "oops retracted"] {
        assert!(
            !txt.contains(absent),
            "A's transcript must not contain {absent:?}:\n{txt}"
        );
    }
    let html = transcript(&relay.api.base, &s.b.1, "html").await;
    assert!(html.contains("bravo private words") && html.contains("relayed alpha"));
    assert!(!html.contains("alpha words</li>") && !html.contains("note words"));
    let a_html = transcript(&relay.api.base, &s.a.1, "html").await;
    assert!(
        !a_html.contains("<script>") && a_html.contains("ombud reply &lt;script&gt;"),
        "user text is escaped"
    );
    let room_html = http
        .get(format!(
            "{}/api/rooms/{}/transcript?format=html",
            relay.api.base, s.room
        ))
        .bearer_auth(&s.ombud_token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(room_html.contains("bravo private words") && room_html.contains("note words"));
    let (status, _) = relay
        .api
        .call(
            Method::GET,
            "/api/transcript?format=txt",
            Some(&s.ombud_token),
            None,
        )
        .await;
    assert_eq!(status, 403, "the party transcript needs a party token");
}

#[tokio::test]
async fn trends_hide_the_open_month_and_never_name_rooms() {
    let relay = spawn_relay().await;
    let api = &relay.api;
    let token = api.login(OMBUD.0, OMBUD.1).await;
    let office = api.ok(Method::GET, "/api/office", Some(&token), None).await;
    let big = office["categories"][0].as_str().unwrap().to_string();
    let small = office["categories"][1].as_str().unwrap().to_string();
    let mut rooms = Vec::new();
    for i in 0..6 {
        let id = api
            .create_room(&token, json!({"title": format!("r{i}")}))
            .await;
        let items = if i < 2 {
            json!([big, small])
        } else {
            json!([big])
        };
        api.ok(
            Method::PUT,
            &format!("/api/rooms/{id}/categories"),
            Some(&token),
            Some(json!({"items": items})),
        )
        .await;
        rooms.push(id);
    }
    let (status, body) = api
        .call(
            Method::PUT,
            &format!("/api/rooms/{}/categories", rooms[0]),
            Some(&token),
            Some(json!({"items": ["Not a category"]})),
        )
        .await;
    assert_eq!(
        (status.as_u16(), body["code"].as_str()),
        (400, Some("invalid"))
    );
    for id in &rooms {
        api.ok(
            Method::DELETE,
            &format!("/api/rooms/{id}"),
            Some(&token),
            None,
        )
        .await;
    }
    let month = chrono_month();
    let report = api
        .ok(
            Method::GET,
            &format!("/api/reports/trends?from={month}&to={month}"),
            Some(&token),
            None,
        )
        .await;
    let row = |c: &str| {
        report["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["category"] == c)
            .unwrap()
            .clone()
    };
    // This month is still open: not shown, whatever its counts (the
    // guarantees are tested in `trends`).
    for c in [&big, &small] {
        assert_eq!(row(c)["count"], serde_json::Value::Null);
        assert_eq!(row(c)["suppressed"], true);
    }
    let text = report.to_string();
    for id in &rooms {
        assert!(!text.contains(id.as_str()));
    }
    let (status, _) = api
        .call(
            Method::GET,
            "/api/reports/trends?from=2026-13&to=2026-01",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, 400);
}

fn chrono_month() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    // Civil-from-days (Howard Hinnant), to avoid a date dependency in tests.
    let z = now / 86_400 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    format!("{y:04}-{m:02}")
}

#[tokio::test]
async fn a_bad_settings_file_stops_startup_naming_file_line_and_problem() {
    let dir = std::env::temp_dir().join(format!("caucus-settings-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("relay.toml");
    std::fs::write(
        &path,
        "office_name = \"Ombuds\"\n\n[[resources]]\nid = \"eap\"\ntitle = \"EAP\"\ndescription = \"x\"\nurl = \"ftp://nope\"\n",
    )
    .unwrap();
    let out = std::process::Command::new(caucus_tests::app::relay_binary())
        .env_clear()
        .env("RELAY_ADDR", "127.0.0.1:0")
        .env("RELAY_CONFIG", &path)
        .output()
        .expect("relay runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("{}:7:", path.display())) && stderr.contains("http(s) url"),
        "{stderr}"
    );

    // A good file is taken: its resources are what the office API returns.
    std::fs::write(
        &path,
        "office_name = \"Harbour Ombuds\"\ncategories = [\"Noise\"]\n",
    )
    .unwrap();
    let relay = caucus_tests::app::spawn_relay_with(|c| c.office_config = Some(path.clone())).await;
    let token = relay.api.login(OMBUD.0, OMBUD.1).await;
    let office = relay
        .api
        .ok(Method::GET, "/api/office", Some(&token), None)
        .await;
    assert_eq!(office["office_name"], "Harbour Ombuds");
    assert_eq!(office["categories"], json!(["Noise"]));
    std::fs::remove_dir_all(&dir).ok();
}
