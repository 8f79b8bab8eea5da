//! Words taken back never come back. Over random sequences of sends, edits,
//! retractions, forwards, revisions, decisions, withdrawals, a co-ombud
//! joining, and reconnects with a random `since`: once a message is
//! retracted or a forward withdrawn (as the ombud is told), no replay,
//! resume, co-ombud copy or transcript carries any version of its words,
//! for anyone.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use caucus_tests::app::{spawn_relay, Shuttle};
use caucus_tests::client::Ws;
use proptest::prelude::*;
use reqwest::Method;
use serde_json::{json, Value};

const COLLEAGUE: (&str, &str) = ("colleague", "colleague-password");

#[derive(Debug, Clone)]
enum Action {
    Send(usize),
    Edit(usize),
    Retract(usize),
    Forward(usize),
    Update(usize),
    Decide(usize, bool),
    Withdraw(usize),
    /// The ombud retracts the latest relayed copy it made.
    RetractCopy,
    AddCoOmbud,
    /// Reconnect A, B, the ombud or the co-ombud, from a fraction of its `seq`.
    Reconnect(usize, u8),
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        4 => (0..2usize).prop_map(Action::Send),
        2 => (0..2usize).prop_map(Action::Edit),
        2 => (0..2usize).prop_map(Action::Retract),
        3 => (0..2usize).prop_map(Action::Forward),
        2 => (0..2usize).prop_map(Action::Update),
        3 => (0..2usize, any::<bool>()).prop_map(|(p, a)| Action::Decide(p, a)),
        2 => (0..2usize).prop_map(Action::Withdraw),
        1 => Just(Action::RetractCopy),
        1 => Just(Action::AddCoOmbud),
        3 => (0..4usize, any::<u8>()).prop_map(|(w, f)| Action::Reconnect(w, f)),
    ]
}

/// What the test wrote, by the id the relay gave it.
#[derive(Default)]
struct Words {
    /// Markers in each message's versions (source messages).
    messages: HashMap<String, Vec<String>>,
    /// Markers in each forward's revisions; its copies carry the same.
    forwards: HashMap<String, Vec<String>>,
    /// Relayed copy -> its forward.
    copies: HashMap<String, String>,
}

impl Words {
    /// Markers whose words were taken back, judged from what the ombud was told.
    fn gone(&self, told: &[String]) -> HashSet<String> {
        let mut gone = HashSet::new();
        for frame in told {
            let Ok(v) = serde_json::from_str::<Value>(frame) else {
                continue;
            };
            let e = &v["event"];
            match e["kind"].as_str() {
                Some("message_retracted") => {
                    let id = e["message_id"].as_str().unwrap_or_default();
                    gone.extend(self.messages.get(id).into_iter().flatten().cloned());
                }
                Some("forward_status") if e["status"] == "withdrawn" => {
                    let id = e["forward_id"].as_str().unwrap_or_default();
                    gone.extend(self.forwards.get(id).into_iter().flatten().cloned());
                }
                _ => {}
            }
        }
        gone
    }
}

/// Reads whatever arrives within `d`.
async fn settle(ws: &mut Ws, d: Duration) {
    while let Ok(Some(_)) = tokio::time::timeout(d, ws.next_frame()).await {}
}

fn assert_clean(what: &str, frames: &[String], gone: &HashSet<String>) {
    for f in frames {
        for marker in gone {
            assert!(
                !f.contains(marker.as_str()),
                "{what} carried taken-back words {marker}: {f}"
            );
        }
    }
}

async fn run(actions: Vec<Action>) {
    let relay = spawn_relay().await;
    relay
        .accounts()
        .upsert(COLLEAGUE.0, COLLEAGUE.1)
        .await
        .expect("second ombud");
    let mut s = Shuttle::open(
        &relay.api,
        json!({"title": "Taken back", "consent_required": true}),
    )
    .await;
    let ids = [s.a.0.clone(), s.b.0.clone()];
    let party_tokens = [s.a.1.clone(), s.b.1.clone()];
    let mut co: Option<(String, Ws)> = None;
    let mut words = Words::default();
    let mut latest_message: [Option<String>; 2] = [None, None];
    let mut latest_forward: [Option<(String, u64)>; 2] = [None, None];
    let mut latest_copy: Option<String> = None;
    let mut told: Vec<String> = Vec::new();
    for (n, act) in actions.into_iter().enumerate() {
        match act {
            Action::Send(p) => {
                let marker = format!("MSG-{n}.");
                let ws = if p == 0 { &mut s.pa } else { &mut s.pb };
                let r = ws.ok(json!({"type": "send", "channel": format!("private:{}", ids[p]), "body": format!("words {marker}"), "client_id": format!("c{n}")})).await;
                let id = r["message"]["id"].as_str().unwrap().to_string();
                words.messages.insert(id.clone(), vec![marker]);
                latest_message[p] = Some(id);
            }
            Action::Edit(p) => {
                let Some(id) = latest_message[p].clone() else {
                    continue;
                };
                let marker = format!("EDIT-{n}.");
                let ws = if p == 0 { &mut s.pa } else { &mut s.pb };
                // Recorded first: a refused edit stores nothing, a taken one must go too.
                words
                    .messages
                    .entry(id.clone())
                    .or_default()
                    .push(marker.clone());
                let _ = ws.request(json!({"type": "edit", "message_id": id, "body": format!("edited {marker}")})).await;
            }
            Action::Retract(p) => {
                let Some(id) = latest_message[p].clone() else {
                    continue;
                };
                let ws = if p == 0 { &mut s.pa } else { &mut s.pb };
                let _ = ws
                    .request(json!({"type": "retract", "message_id": id}))
                    .await;
            }
            Action::Forward(p) => {
                let Some(id) = latest_message[p].clone() else {
                    continue;
                };
                let marker = format!("FWD-{n}.");
                let r = s.ombud.request(json!({"type": "forward", "source_message_id": id, "to": [ids[1 - p]], "body": format!("relayed {marker}")})).await;
                if let Ok(r) = r {
                    let fid = r["forward_id"].as_str().unwrap().to_string();
                    words.forwards.insert(fid.clone(), vec![marker]);
                    latest_forward[p] = Some((fid, r["revision"].as_u64().unwrap()));
                }
            }
            Action::Update(p) => {
                let Some((fid, _)) = latest_forward[p].clone() else {
                    continue;
                };
                let marker = format!("REV-{n}.");
                words
                    .forwards
                    .entry(fid.clone())
                    .or_default()
                    .push(marker.clone());
                let r = s.ombud.request(json!({"type": "forward_update", "forward_id": fid, "body": format!("revised {marker}")})).await;
                if let Ok(r) = r {
                    latest_forward[p] = Some((fid, r["revision"].as_u64().unwrap()));
                }
            }
            Action::Decide(p, approve) => {
                let Some((fid, rev)) = latest_forward[p].clone() else {
                    continue;
                };
                let ws = if p == 0 { &mut s.pa } else { &mut s.pb };
                let decision = if approve { "approve" } else { "decline" };
                if let Ok(r) = ws.request(json!({"type": "consent", "forward_id": fid, "revision": rev, "decision": decision})).await {
                    for copy in r["delivered"].as_array().into_iter().flatten() {
                        let copy = copy.as_str().unwrap().to_string();
                        words.copies.insert(copy.clone(), fid.clone());
                        latest_copy = Some(copy);
                    }
                }
            }
            Action::Withdraw(p) => {
                let Some((fid, _)) = latest_forward[p].clone() else {
                    continue;
                };
                let _ = s
                    .ombud
                    .request(json!({"type": "forward_withdraw", "forward_id": fid}))
                    .await;
            }
            Action::RetractCopy => {
                let Some(copy) = latest_copy.clone() else {
                    continue;
                };
                if let Some(fid) = words.copies.get(&copy) {
                    // The copy carries the forward's words.
                    let markers = words.forwards.get(fid).cloned().unwrap_or_default();
                    words.messages.insert(copy.clone(), markers);
                }
                let _ = s
                    .ombud
                    .request(json!({"type": "retract", "message_id": copy}))
                    .await;
            }
            Action::AddCoOmbud => {
                if co.is_some() {
                    continue;
                }
                s.api
                    .ok(
                        Method::POST,
                        &format!("/api/rooms/{}/ombuds", s.room),
                        Some(&s.ombud_token),
                        Some(json!({"username": COLLEAGUE.0})),
                    )
                    .await;
                let token = s.api.login(COLLEAGUE.0, COLLEAGUE.1).await;
                let mut ws =
                    Ws::connect(&s.ws_url, json!({"token": token, "room_id": s.room})).await;
                ws.drain_replay().await;
                settle(&mut s.ombud, Duration::from_millis(30)).await;
                told.append(&mut s.ombud.received);
                assert_clean("a co-ombud's copy", &ws.received, &words.gone(&told));
                co = Some((token, ws));
            }
            Action::Reconnect(who, fraction) => {
                settle(&mut s.ombud, Duration::from_millis(30)).await;
                told.append(&mut s.ombud.received);
                let gone = words.gone(&told);
                let (ws, hello) = match who {
                    0 | 1 => {
                        let ws = if who == 0 { &mut s.pa } else { &mut s.pb };
                        (ws, json!({"token": party_tokens[who]}))
                    }
                    2 => (
                        &mut s.ombud,
                        json!({"token": s.ombud_token, "room_id": s.room}),
                    ),
                    _ => match co.as_mut() {
                        Some((token, ws)) => (ws, json!({"token": token, "room_id": s.room})),
                        None => continue,
                    },
                };
                let since = ws.last_seq * u64::from(fraction) / 255;
                let mut hello = hello;
                hello["since"] = json!(since);
                let mut fresh = Ws::connect(&s.ws_url, hello).await;
                fresh.drain_replay().await;
                assert_clean("a replay", &fresh.received, &gone);
                let old = std::mem::replace(ws, fresh);
                if who == 2 {
                    told.extend(old.received.iter().cloned());
                }
                old.drop_abruptly();
            }
        }
    }
    // Finally: every full replay and every transcript.
    settle(&mut s.ombud, Duration::from_millis(50)).await;
    told.append(&mut s.ombud.received);
    let gone = words.gone(&told);
    let mut hellos = vec![
        json!({"token": party_tokens[0]}),
        json!({"token": party_tokens[1]}),
        json!({"token": s.ombud_token, "room_id": s.room}),
    ];
    if let Some((token, _)) = &co {
        hellos.push(json!({"token": token, "room_id": s.room}));
    }
    for mut hello in hellos {
        hello["since"] = json!(0);
        let mut full = Ws::connect(&s.ws_url, hello).await;
        full.drain_replay().await;
        assert_clean("a full replay", &full.received, &gone);
    }
    for (token, path) in [
        (&party_tokens[0], "/api/transcript?format=txt".to_string()),
        (&party_tokens[1], "/api/transcript?format=html".to_string()),
        (&s.ombud_token, format!("/api/rooms/{}/transcript", s.room)),
    ] {
        let text = reqwest::Client::new()
            .get(format!("{}{path}", s.api.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("transcript")
            .text()
            .await
            .expect("transcript body");
        assert_clean("a transcript", &[text], &gone);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, max_shrink_iters: 50, ..ProptestConfig::default() })]
    #[test]
    fn taken_back_words_never_come_back(actions in proptest::collection::vec(action(), 1..40)) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(run(actions));
    }
}
