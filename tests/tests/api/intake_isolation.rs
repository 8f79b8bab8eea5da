//! The isolation invariant for the front door, over random sequences of
//! visitors starting and writing, ombuds claiming, adding co-ombuds, handing
//! off and writing: an unclaimed conversation's words reach no one but its
//! visitor; once claimed, they reach only the ombuds of that room (the
//! claimer, co-ombuds it added, a colleague it handed off to); the queue
//! never carries words; and no visitor learns of another visitor or of any
//! ombud who was never in its room.

use std::collections::{BTreeSet, HashMap};

use caucus_tests::app::OMBUD;
use caucus_tests::client::{Api, Ws};
use proptest::prelude::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::intake::{queue, relay_with, start, SECOND};

const THIRD: (&str, &str) = ("third", "third-password");
const VISITORS: usize = 3;
const OMBUDS: usize = 3;

#[derive(Debug, Clone)]
enum Action {
    Start(usize),
    VisitorSend(usize),
    /// Ombud `o` tries to claim visitor `v`'s conversation.
    Claim {
        o: usize,
        v: usize,
    },
    /// Ombud `o` tries to add `colleague` to visitor `v`'s room.
    AddColleague {
        o: usize,
        v: usize,
        colleague: usize,
    },
    /// Ombud `o` tries to hand visitor `v`'s room to `colleague`.
    Handoff {
        o: usize,
        v: usize,
        colleague: usize,
    },
    OmbudSend {
        o: usize,
        v: usize,
    },
    /// Ombud `o` tries to open visitor `v`'s room (must be refused unless it is in it).
    Pry {
        o: usize,
        v: usize,
    },
}

fn action() -> impl Strategy<Value = Action> {
    let v = 0..VISITORS;
    let o = 0..OMBUDS;
    prop_oneof![
        2 => v.clone().prop_map(Action::Start),
        4 => v.clone().prop_map(Action::VisitorSend),
        2 => (o.clone(), v.clone()).prop_map(|(o, v)| Action::Claim { o, v }),
        1 => (o.clone(), v.clone(), o.clone()).prop_map(|(o, v, colleague)| Action::AddColleague { o, v, colleague }),
        1 => (o.clone(), v.clone(), o.clone()).prop_map(|(o, v, colleague)| Action::Handoff { o, v, colleague }),
        3 => (o.clone(), v.clone()).prop_map(|(o, v)| Action::OmbudSend { o, v }),
        1 => (o, v).prop_map(|(o, v)| Action::Pry { o, v }),
    ]
}

struct Visitor {
    room: String,
    token: String,
    chan: String,
    /// Ombuds of the room now.
    ombuds: BTreeSet<usize>,
    /// Every ombud that was ever in the room.
    ever: BTreeSet<usize>,
}

async fn run(actions: Vec<Action>) {
    let relay = relay_with("pow_difficulty = 1\n").await;
    relay.accounts().upsert(THIRD.0, THIRD.1).await.unwrap();
    let api: &Api = &relay.api;
    let url = relay.ws_url();
    let mut tokens = Vec::new();
    let mut ids = Vec::new();
    for (user, pass) in [OMBUD, SECOND, THIRD] {
        let t = api.login(user, pass).await;
        let me = api.ok(Method::GET, "/api/me", Some(&t), None).await;
        ids.push(me["id"].as_str().unwrap().to_string());
        tokens.push(t);
    }
    let usernames = [OMBUD.0, SECOND.0, THIRD.0];
    let mut visitors: HashMap<usize, Visitor> = HashMap::new();
    let mut words: HashMap<usize, Vec<String>> = HashMap::new();
    let mut n = 0;
    for action in actions {
        n += 1;
        match action {
            Action::Start(v) if !visitors.contains_key(&v) => {
                let word = format!("zqv{v}w{n}x");
                let s = start(api, json!({"kind": "anonymous"}), &word).await;
                words.entry(v).or_default().push(word);
                visitors.insert(
                    v,
                    Visitor {
                        room: s["room_id"].as_str().unwrap().into(),
                        token: s["token"].as_str().unwrap().into(),
                        chan: format!("private:{}", s["party_id"].as_str().unwrap()),
                        ombuds: BTreeSet::new(),
                        ever: BTreeSet::new(),
                    },
                );
            }
            Action::Start(_) => {}
            Action::VisitorSend(v) => {
                let Some(vis) = visitors.get(&v) else {
                    continue;
                };
                let word = format!("zqv{v}w{n}x");
                let mut ws = Ws::connect(&url, json!({"token": vis.token})).await;
                ws.ok(
                    json!({"type": "send", "channel": vis.chan, "body": word, "client_id": word}),
                )
                .await;
                ws.close().await;
                words.entry(v).or_default().push(word);
            }
            Action::Claim { o, v } => {
                let Some(vis) = visitors.get_mut(&v) else {
                    continue;
                };
                let (status, _) = api
                    .call(
                        Method::POST,
                        &format!("/api/intake/{}/claim", vis.room),
                        Some(&tokens[o]),
                        None,
                    )
                    .await;
                if vis.ever.is_empty() {
                    assert_eq!(status, StatusCode::OK);
                    vis.ombuds.insert(o);
                    vis.ever.insert(o);
                } else {
                    assert_eq!(status, StatusCode::CONFLICT, "a second claim");
                }
            }
            Action::AddColleague { o, v, colleague } => {
                let Some(vis) = visitors.get_mut(&v) else {
                    continue;
                };
                let (status, _) = api
                    .call(
                        Method::POST,
                        &format!("/api/rooms/{}/ombuds", vis.room),
                        Some(&tokens[o]),
                        Some(json!({"username": usernames[colleague]})),
                    )
                    .await;
                if vis.ombuds.contains(&o) {
                    assert_eq!(status, StatusCode::OK);
                    vis.ombuds.insert(colleague);
                    vis.ever.insert(colleague);
                } else {
                    assert_eq!(status, StatusCode::NOT_FOUND);
                }
            }
            Action::Handoff { o, v, colleague } => {
                let Some(vis) = visitors.get_mut(&v) else {
                    continue;
                };
                let (status, _) = api
                    .call(
                        Method::POST,
                        &format!("/api/rooms/{}/handoff", vis.room),
                        Some(&tokens[o]),
                        Some(json!({"username": usernames[colleague]})),
                    )
                    .await;
                match (vis.ombuds.contains(&o), o == colleague) {
                    (true, false) => {
                        assert_eq!(status, StatusCode::NO_CONTENT);
                        vis.ombuds.remove(&o);
                        vis.ombuds.insert(colleague);
                        vis.ever.insert(colleague);
                    }
                    (true, true) => assert_eq!(status, StatusCode::BAD_REQUEST),
                    (false, _) => assert_eq!(status, StatusCode::NOT_FOUND),
                }
            }
            Action::OmbudSend { o, v } => {
                let Some(vis) = visitors.get(&v) else {
                    continue;
                };
                if !vis.ombuds.contains(&o) {
                    continue;
                }
                let word = format!("zqo{o}r{v}w{n}x");
                let mut ws =
                    Ws::connect(&url, json!({"token": tokens[o], "room_id": vis.room})).await;
                ws.ok(
                    json!({"type": "send", "channel": vis.chan, "body": word, "client_id": word}),
                )
                .await;
                ws.close().await;
                words.entry(v).or_default().push(word);
            }
            Action::Pry { o, v } => {
                let Some(vis) = visitors.get(&v) else {
                    continue;
                };
                let hello = json!({"token": tokens[o], "room_id": vis.room});
                let got = Ws::try_connect(&url, hello).await;
                assert_eq!(
                    got.is_ok(),
                    vis.ombuds.contains(&o),
                    "ombud {o} opening room {v}"
                );
                if let Ok(ws) = got {
                    ws.close().await;
                }
            }
        }
        // The queue carries labels and times, never words.
        for t in &tokens {
            let q = serde_json::to_string(&queue(api, t).await).unwrap();
            assert!(!q.contains("zq"), "{q}");
        }
    }

    // Every inbox, read back: who received which words.
    for (v, vis) in &visitors {
        let mut ws = Ws::connect(&url, json!({"token": vis.token})).await;
        ws.drain_replay().await;
        let seen: String = ws.received.concat();
        for (other, list) in &words {
            for w in list {
                assert_eq!(seen.contains(w.as_str()), other == v, "visitor {v} and {w}");
            }
        }
        for (o, id) in ids.iter().enumerate() {
            if !vis.ever.contains(&o) {
                assert!(
                    !seen.contains(id.as_str()),
                    "visitor {v} learned of ombud {o}"
                );
            }
        }
        for (other, ovis) in &visitors {
            if other != v {
                assert!(!seen.contains(ovis.room.as_str()) && !seen.contains(&ovis.chan[8..]));
            }
        }
        for (o, token) in tokens.iter().enumerate() {
            let hello = json!({"token": token, "room_id": vis.room});
            match Ws::try_connect(&url, hello).await {
                Ok(mut ws) => {
                    assert!(vis.ombuds.contains(&o), "ombud {o} in room {v}");
                    ws.drain_replay().await;
                    let seen: String = ws.received.concat();
                    for w in words.get(v).into_iter().flatten() {
                        assert!(seen.contains(w.as_str()), "ombud {o} lacks {w}");
                    }
                    for (other, list) in &words {
                        if other != v {
                            assert!(list.iter().all(|w| !seen.contains(w.as_str())));
                        }
                    }
                }
                Err(_) => assert!(
                    !vis.ombuds.contains(&o),
                    "ombud {o} refused from its room {v}"
                ),
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, max_shrink_iters: 20, ..ProptestConfig::default() })]
    #[test]
    fn visitors_words_reach_only_their_conversations_ombuds(actions in proptest::collection::vec(action(), 1..30)) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(run(actions));
    }
}
