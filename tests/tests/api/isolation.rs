//! The isolation invariant, checked over many random action sequences: no
//! frame a party receives (live or replayed) ever contains text of the other
//! party's private messages or proposal comments, except through a forward
//! whose exact revision that party approved, nor a proposal version shown
//! only to the other party, its decline note or its bound.

use std::collections::HashSet;
use std::time::Duration;

use caucus_tests::app::{spawn_relay, Shuttle};
use caucus_tests::client::Ws;
use proptest::prelude::*;
use serde_json::{json, Value};

#[derive(Debug, Clone)]
enum Action {
    /// A party (0 = A, 1 = B) writes in its own thread.
    Send(usize),
    /// The ombud relays the party's latest message to the other party,
    /// either verbatim (secret included) or redacted.
    Forward {
        from: usize,
        verbatim: bool,
    },
    /// The ombud revises the latest forward from that party.
    Update {
        from: usize,
        verbatim: bool,
    },
    /// The author decides on the latest revision it was asked about.
    Decide {
        who: usize,
        approve: bool,
    },
    /// The author approves an older revision (must be refused).
    ApproveStale(usize),
    Retract(usize),
    Edit(usize),
    Withdraw(usize),
    Joint(bool),
    /// A party writes in the joint session (public by design, marked JOINT).
    JointSend(usize),
    /// The other party tries to read or act on this party's objects.
    Pry(usize),
    /// A party drops its connection and resumes with `since`.
    Reconnect(usize),
    /// The ombud saves a new proposal version and shows it to this party only.
    Show(usize),
    /// The party comments on the latest version it was shown (a comment is
    /// one of its private messages, so `Forward` may relay it).
    Comment(usize),
    /// The ombud asks this party alone to decide; it declines with a note.
    DeclineWithNote(usize),
    /// The party gives or revises its bound in the range question.
    Bound(usize),
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        4 => (0..2usize).prop_map(Action::Send),
        3 => (0..2usize, any::<bool>()).prop_map(|(from, verbatim)| Action::Forward { from, verbatim }),
        1 => (0..2usize, any::<bool>()).prop_map(|(from, verbatim)| Action::Update { from, verbatim }),
        3 => (0..2usize, any::<bool>()).prop_map(|(who, approve)| Action::Decide { who, approve }),
        1 => (0..2usize).prop_map(Action::ApproveStale),
        1 => (0..2usize).prop_map(Action::Retract),
        1 => (0..2usize).prop_map(Action::Edit),
        1 => (0..2usize).prop_map(Action::Withdraw),
        1 => any::<bool>().prop_map(Action::Joint),
        1 => (0..2usize).prop_map(Action::JointSend),
        1 => (0..2usize).prop_map(Action::Pry),
        2 => (0..2usize).prop_map(Action::Show),
        2 => (0..2usize).prop_map(Action::Comment),
        1 => (0..2usize).prop_map(Action::DeclineWithNote),
        1 => (0..2usize).prop_map(Action::Bound),
        1 => (0..2usize).prop_map(Action::Reconnect),
    ]
}

#[derive(Default)]
struct Party {
    /// Latest message id this party wrote, and its secret.
    last: Option<(Value, String)>,
    /// Forwards of this party's words: (forward id, current body, current revision).
    forwards: Vec<(Value, String, u64)>,
    /// Secrets this party agreed to share.
    approved: HashSet<String>,
    secrets: Vec<String>,
    /// What only this party (and the ombuds) may ever hold: versions shown
    /// to it alone, its decline notes, its bounds. Never relayable.
    private: Vec<String>,
    /// The proposal versions shown to it: (version, hash).
    shown: Vec<(u64, Value)>,
}

async fn run(actions: Vec<Action>) {
    let relay = spawn_relay().await;
    let mut s = Shuttle::open(
        &relay.api,
        json!({"title": "Prop", "consent_required": true}),
    )
    .await;
    let ids = [s.a.0.clone(), s.b.0.clone()];
    let tokens = [s.a.1.clone(), s.b.1.clone()];
    let mut st = [Party::default(), Party::default()];
    let mut n = 0;
    let mut received: [Vec<String>; 2] = [Vec::new(), Vec::new()];
    let mut proposal: Option<Value> = None;
    let mut range: Option<Value> = None;
    for act in actions {
        n += 1;
        match act {
            Action::Send(p) => {
                // Terminated, so no secret is a prefix of another (-1 of -10).
                let secret = format!("SECRET-{}-{n}.", ["A", "B"][p]);
                let ws = if p == 0 { &mut s.pa } else { &mut s.pb };
                let r = ws.ok(json!({"type": "send", "channel": format!("private:{}", ids[p]), "body": format!("my words {secret}"), "client_id": format!("c{n}")})).await;
                st[p].last = Some((r["message"]["id"].clone(), secret.clone()));
                st[p].secrets.push(secret);
            }
            Action::Forward { from, verbatim } => {
                let Some((mid, secret)) = st[from].last.clone() else {
                    continue;
                };
                let body = if verbatim {
                    format!("relayed {secret}")
                } else {
                    format!("relayed redacted {n}")
                };
                if let Ok(r) = s.ombud.request(json!({"type": "forward", "source_message_id": mid, "to": [ids[1 - from]], "body": body})).await {
                    st[from].forwards.push((r["forward_id"].clone(), body, r["revision"].as_u64().unwrap()));
                }
            }
            Action::Update { from, verbatim } => {
                let Some((fid, _, _)) = st[from].forwards.last().cloned() else {
                    continue;
                };
                let secret = st[from]
                    .last
                    .as_ref()
                    .map(|l| l.1.clone())
                    .unwrap_or_default();
                let body = if verbatim {
                    format!("revised {secret}")
                } else {
                    format!("revised redacted {n}")
                };
                if let Ok(r) = s
                    .ombud
                    .request(json!({"type": "forward_update", "forward_id": fid, "body": body}))
                    .await
                {
                    let last = st[from].forwards.last_mut().unwrap();
                    *last = (fid, body, r["revision"].as_u64().unwrap());
                }
            }
            Action::Decide { who, approve } => {
                let Some((fid, body, rev)) = st[who].forwards.last().cloned() else {
                    continue;
                };
                let ws = if who == 0 { &mut s.pa } else { &mut s.pb };
                let decision = if approve { "approve" } else { "decline" };
                let ok = ws.request(json!({"type": "consent", "forward_id": fid, "revision": rev, "decision": decision})).await.is_ok();
                if ok && approve {
                    for sec in &st[who].secrets {
                        if body.contains(sec.as_str()) {
                            st[who].approved.insert(sec.clone());
                        }
                    }
                }
            }
            Action::ApproveStale(who) => {
                let Some((fid, _, rev)) = st[who].forwards.last().cloned() else {
                    continue;
                };
                if rev < 2 {
                    continue;
                }
                let ws = if who == 0 { &mut s.pa } else { &mut s.pb };
                let r = ws.request(json!({"type": "consent", "forward_id": fid, "revision": rev - 1, "decision": "approve"})).await;
                assert!(r.is_err(), "a stale revision must never be approvable");
            }
            Action::Retract(p) => {
                let Some((mid, _)) = st[p].last.clone() else {
                    continue;
                };
                let ws = if p == 0 { &mut s.pa } else { &mut s.pb };
                let _ = ws
                    .request(json!({"type": "retract", "message_id": mid}))
                    .await;
            }
            Action::Edit(p) => {
                let Some((mid, secret)) = st[p].last.clone() else {
                    continue;
                };
                let ws = if p == 0 { &mut s.pa } else { &mut s.pb };
                let _ = ws.request(json!({"type": "edit", "message_id": mid, "body": format!("edited {secret}")})).await;
            }
            Action::Withdraw(p) => {
                let Some((fid, _, _)) = st[p].forwards.last().cloned() else {
                    continue;
                };
                let _ = s
                    .ombud
                    .request(json!({"type": "forward_withdraw", "forward_id": fid}))
                    .await;
            }
            Action::Joint(open) => {
                s.ombud.ok(json!({"type": "joint", "open": open})).await;
            }
            Action::JointSend(p) => {
                let ws = if p == 0 { &mut s.pa } else { &mut s.pb };
                let _ = ws.request(json!({"type": "send", "channel": "joint", "body": format!("JOINT-{n}"), "client_id": format!("j{n}")})).await;
            }
            Action::Pry(victim) => {
                let Some((mid, _)) = st[victim].last.clone() else {
                    continue;
                };
                let ws = if victim == 0 { &mut s.pb } else { &mut s.pa };
                for f in [
                    json!({"type": "edit", "message_id": mid, "body": "x"}),
                    json!({"type": "retract", "message_id": mid}),
                    json!({"type": "send", "channel": format!("private:{}", ids[victim]), "body": "x", "client_id": format!("p{n}")}),
                ] {
                    assert!(ws.request(f).await.is_err());
                }
                if let Some((fid, _, rev)) = st[victim].forwards.last().cloned() {
                    assert!(ws.request(json!({"type": "consent", "forward_id": fid, "revision": rev, "decision": "approve"})).await.is_err());
                }
            }
            Action::Show(p) => {
                let marker = format!("VERSION-{}-{n}.", ["A", "B"][p]);
                let mut frame = json!({"type": "propose", "title": "Draft", "clauses": [format!("clause {marker}")]});
                if let Some(id) = &proposal {
                    frame["proposal_id"] = id.clone();
                }
                let v = s.ombud.ok(frame).await;
                proposal = Some(v["proposal_id"].clone());
                s.ombud.ok(json!({"type": "share", "proposal_id": v["proposal_id"], "version": v["version"], "to": [ids[p]]})).await;
                st[p].private.push(marker);
                st[p]
                    .shown
                    .push((v["version"].as_u64().unwrap(), v["hash"].clone()));
            }
            Action::Comment(p) => {
                let (Some(pid), Some((version, _))) = (&proposal, st[p].shown.last().cloned())
                else {
                    continue;
                };
                let secret = format!("SECRET-{}-{n}.", ["A", "B"][p]);
                let ws = if p == 0 { &mut s.pa } else { &mut s.pb };
                let r = ws.ok(json!({"type": "comment", "proposal_id": pid, "version": version, "clause": 1, "body": format!("comment {secret}"), "client_id": format!("k{n}")})).await;
                st[p].last = Some((r["message"]["id"].clone(), secret.clone()));
                st[p].secrets.push(secret);
            }
            Action::DeclineWithNote(p) => {
                let (Some(pid), Some((version, hash))) = (&proposal, st[p].shown.last().cloned())
                else {
                    continue;
                };
                s.ombud.ok(json!({"type": "call_decision", "proposal_id": pid, "version": version, "parties": [ids[p]]})).await;
                let note = format!("NOTE-{}-{n}.", ["A", "B"][p]);
                let ws = if p == 0 { &mut s.pa } else { &mut s.pb };
                ws.ok(json!({"type": "decide", "proposal_id": pid, "version": version, "hash": hash, "verdict": "decline", "note": note})).await;
                st[p].private.push(note);
            }
            Action::Bound(p) => {
                let rid = match &range {
                    Some(r) => r.clone(),
                    None => {
                        let r = s.ombud.ok(json!({"type": "range_open", "title": "amount", "ceilings": [ids[0]], "floors": [ids[1]]})).await;
                        range = Some(r["range_id"].clone());
                        r["range_id"].clone()
                    }
                };
                // Distinct from any other number a frame holds.
                let value = 880_000_000_000i64 + (n as i64) * 10 + p as i64;
                let ws = if p == 0 { &mut s.pa } else { &mut s.pb };
                ws.ok(json!({"type": "range_bound", "range_id": rid, "value": value}))
                    .await;
                st[p].private.push(value.to_string());
            }
            Action::Reconnect(p) => {
                let ws = if p == 0 { &mut s.pa } else { &mut s.pb };
                let since = ws.last_seq;
                let fresh =
                    Ws::connect(&s.ws_url, json!({"token": tokens[p], "since": since})).await;
                let old = std::mem::replace(ws, fresh);
                received[p].extend(old.received.iter().cloned());
                old.drop_abruptly();
            }
        }
    }
    // Let live deliveries settle, then also replay each full inbox.
    tokio::time::sleep(Duration::from_millis(100)).await;
    for p in 0..2 {
        let ws = if p == 0 { &mut s.pa } else { &mut s.pb };
        received[p].extend(ws.received.iter().cloned());
        let mut full = Ws::connect(&s.ws_url, json!({"token": tokens[p], "since": 0})).await;
        let head = full.welcome["seq"].as_u64().unwrap();
        while full.last_seq < head {
            full.next_frame().await.unwrap();
        }
        received[p].extend(full.received.iter().cloned());
    }
    for (p, frames) in received.iter().enumerate() {
        let other = 1 - p;
        for item in &st[other].private {
            assert!(
                !frames.iter().any(|f| f.contains(item.as_str())),
                "party {p} received {item}, which only the other party may hold"
            );
        }
        for secret in &st[other].secrets {
            let leaked = frames.iter().any(|f| f.contains(secret.as_str()));
            if leaked {
                assert!(
                    st[other].approved.contains(secret),
                    "party {p} received {secret} without the author's approval"
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, max_shrink_iters: 50, ..ProptestConfig::default() })]
    #[test]
    fn no_party_ever_receives_the_other_partys_words_without_consent(actions in proptest::collection::vec(action(), 1..40)) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(run(actions));
    }
}
