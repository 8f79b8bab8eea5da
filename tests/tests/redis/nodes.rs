//! Three relay processes on one Redis: the ombud on node 1, party A on node
//! 2, party B on node 3. The whole shuttle flow works exactly as it does
//! when everyone is on one node, and B never receives A's own words.

use std::collections::HashMap;

use caucus_tests::client::Ws;
use caucus_tests::redis_server::Persistence;
use serde_json::{json, Value};

use crate::support::*;

/// A's own words: only A and the ombuds may ever see them.
const ORIGINAL: &str = "Ada's raw account: Ben sabotaged the Q3 audit";
const FIRST_DRAFT: &str = "Ada has concerns about the audit (draft one)";
const APPROVED: &str = "Ada has concerns about how the audit went";
const EDITED: &str = "Ada would like to talk about how the audit went";
const B_WORDS: &str = "Ben's side: the audit deadline was impossible";

/// Which node each participant uses: (ombud, party A, party B).
#[derive(Clone, Copy)]
struct Placement {
    ombud: usize,
    a: usize,
    b: usize,
}

/// Every participant's stored events at the end of a run, normalised (ids
/// numbered by first appearance, times blanked) so that two runs compare.
#[derive(Debug, PartialEq)]
struct Transcripts {
    ombud: Vec<Value>,
    a: Vec<Value>,
    b: Vec<Value>,
}

#[tokio::test]
async fn the_shuttle_flow_across_three_nodes_works_exactly_as_on_one_node() {
    let d = Deployment::start(3, Persistence::None).await;
    let one_node = shuttle_flow(
        &d,
        Placement {
            ombud: 0,
            a: 0,
            b: 0,
        },
    )
    .await;
    let three_nodes = shuttle_flow(
        &d,
        Placement {
            ombud: 0,
            a: 1,
            b: 2,
        },
    )
    .await;
    assert_eq!(three_nodes, one_node);
}

/// Both parties write at once through different nodes, each many requests
/// pipelined: the room's optimistic concurrency serialises them, and the
/// ombud on a third node gets every message once, in each author's order,
/// with contiguous seqs.
#[tokio::test]
async fn concurrent_writers_on_different_nodes_reach_the_ombud_once_each_in_order() {
    const EACH: usize = 40;
    let d = Deployment::start(3, Persistence::None).await;
    let mut s = spread_room(&d, json!({"title": "Busy room"})).await;

    let said =
        |who: &str| -> Vec<String> { (0..EACH).map(|i| format!("{who} says {i}")).collect() };
    let (a_said, b_said) = (said("Ada"), said("Ben"));
    let (a_channel, b_channel) = (s.a.channel(), s.b.channel());
    tokio::join!(
        pipelined_sends(&mut s.pa, &a_channel, &a_said),
        pipelined_sends(&mut s.pb, &b_channel, &b_said),
    );

    let hello = json!({"token": s.token, "room_id": s.room});
    let stored = stored_inbox(&d.ws_url(0), hello).await;
    assert_contiguous(&stored, 1, "ombud's inbox");
    assert_eq!(bodies_in(&stored, &a_channel), a_said);
    assert_eq!(bodies_in(&stored, &b_channel), b_said);
    read_to(&mut s.ombud, stored.last().unwrap().0).await;
    assert_eq!(
        events(&s.ombud),
        stored,
        "live delivery and the stored inbox differ"
    );
}

/// Concurrency control by read set: both parties write through their own
/// nodes while the ombud, on a third, relays each of A's messages to B as it
/// arrives. None of these actions reads what another writes (a send reads
/// its own `client_id`, a forward the message it relays), so no commit on
/// any node is retried, although every node's cached room is behind the
/// others' commits; and everything arrives once, in order.
#[tokio::test]
async fn unrelated_actions_on_different_nodes_commit_without_a_retry() {
    const EACH: usize = 30;
    let (d, metrics) = Deployment::start_with_metrics(3, Persistence::None, &[]).await;
    let settings = json!({"title": "Side by side", "consent_required": false});
    let Spread {
        token,
        room,
        a,
        b,
        mut ombud,
        mut pa,
        mut pb,
    } = spread_room(&d, settings).await;
    // Joining wrote the room document through every node: each node's first
    // action after that finds its cached document stale and retries once.
    let (a_channel, b_channel) = (a.channel(), b.channel());
    pa.ok(
        json!({"type": "send", "channel": a_channel, "body": "Ada says hello", "client_id": "w"}),
    )
    .await;
    pb.ok(
        json!({"type": "send", "channel": b_channel, "body": "Ben says hello", "client_id": "w"}),
    )
    .await;
    let hello = message_in(&mut ombud, &a_channel).await;
    ombud
        .ok(json!({"type": "forward", "source_message_id": hello["id"], "to": [b.id], "body": "relayed hello"}))
        .await;
    let mut retried_before = 0.0;
    for addr in &metrics {
        retried_before += counter(addr, "relay_commit_retries_total").await;
    }

    let said =
        |who: &str| -> Vec<String> { (0..EACH).map(|i| format!("{who} says {i}")).collect() };
    let (a_said, b_said) = (said("Ada"), said("Ben"));
    let relay_each = async {
        for i in 0..EACH {
            let m = message_in(&mut ombud, &a_channel).await;
            let fwd = ombud
                .ok(json!({"type": "forward", "source_message_id": m["id"], "to": [b.id], "body": format!("relayed {i}")}))
                .await;
            assert_eq!(fwd["status"], "delivered", "{fwd}");
        }
    };
    tokio::join!(
        pipelined_sends(&mut pa, &a_channel, &a_said),
        pipelined_sends(&mut pb, &b_channel, &b_said),
        relay_each,
    );

    let mut retried = 0.0;
    for addr in &metrics {
        retried += counter(addr, "relay_commit_retries_total").await;
    }
    assert_eq!(retried - retried_before, 0.0, "commits retried");
    let stored = stored_inbox(&d.ws_url(0), json!({"token": token, "room_id": room})).await;
    assert_contiguous(&stored, 1, "ombud's inbox");
    let with_hello = |who: &str, said: &[String]| {
        let mut all = vec![format!("{who} says hello")];
        all.extend_from_slice(said);
        all
    };
    assert_eq!(bodies_in(&stored, &a_channel), with_hello("Ada", &a_said));
    let mut b_own = bodies_in(&stored, &b_channel);
    b_own.retain(|body| body.starts_with("Ben"));
    assert_eq!(b_own, with_hello("Ben", &b_said));
    let mut relayed = vec!["relayed hello".to_string()];
    relayed.extend((0..EACH).map(|i| format!("relayed {i}")));
    let at_b = stored_inbox(&d.ws_url(2), json!({"token": b.token, "room_id": room})).await;
    assert_contiguous(&at_b, 1, "B's inbox");
    let mut b_got = bodies_in(&at_b, &b_channel);
    b_got.retain(|body| body.starts_with("relayed"));
    assert_eq!(b_got, relayed);
}

/// A room with its ombud on node 0, party A on node 1 and party B on node
/// 2, everyone connected.
struct Spread {
    token: String,
    room: String,
    a: Party,
    b: Party,
    ombud: Ws,
    pa: Ws,
    pb: Ws,
}

async fn spread_room(d: &Deployment, settings: Value) -> Spread {
    let home = d.api(0);
    let token = login(home).await;
    let room = create_room(home, &token, settings).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let a = add_party(home, d.api(1), &token, &room, "Ada").await;
    let b = add_party(home, d.api(2), &token, &room, "Ben").await;
    Spread {
        ombud: connect_ombud(&d.ws_url(0), &token, &room).await,
        pa: connect_party(&d.ws_url(1), &a).await,
        pb: connect_party(&d.ws_url(2), &b).await,
        token,
        room,
        a,
        b,
    }
}

/// Sends every body as a `send` without waiting, then collects the acks.
async fn pipelined_sends(ws: &mut Ws, channel: &str, bodies: &[String]) {
    const REQ_BASE: u64 = 1_000_000;
    for (i, body) in bodies.iter().enumerate() {
        let frame = json!({"type": "send", "req": REQ_BASE + i as u64, "channel": channel, "body": body, "client_id": format!("p{i}")});
        ws.send_raw(&frame.to_string()).await;
    }
    let mut acked = 0;
    while acked < bodies.len() {
        let frame = ws.next_frame().await.expect("connection open");
        assert_ne!(frame["type"], "error", "{frame}");
        if frame["type"] == "ack" && frame["req"].as_u64() >= Some(REQ_BASE) {
            acked += 1;
        }
    }
}

/// Runs the full flow, asserting each step live; returns what each
/// participant's inbox holds at the end.
async fn shuttle_flow(d: &Deployment, at: Placement) -> Transcripts {
    let home = d.api(at.ombud);
    let token = login(home).await;
    let room = create_room(
        home,
        &token,
        json!({"title": "Audit dispute", "consent_required": true}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut ombud = connect_ombud(&d.ws_url(at.ombud), &token, &room).await;

    // Each party joins through its own node; the ombud hears of it live.
    let a = add_party(home, d.api(at.a), &token, &room, "Ada Lovelace").await;
    assert_eq!(
        ombud.event_of("participant_joined").await["participant"]["id"],
        a.id
    );
    let b = add_party(home, d.api(at.b), &token, &room, "Ben Okafor").await;
    assert_eq!(
        ombud.event_of("participant_joined").await["participant"]["id"],
        b.id
    );
    let mut pa = connect_party(&d.ws_url(at.a), &a).await;
    let mut pb = connect_party(&d.ws_url(at.b), &b).await;
    for _ in 0..2 {
        ombud.event_of("notice_acknowledged").await;
    }
    // Presence crosses nodes: the ombud sees both parties come online.
    for party in [&a, &b] {
        seen(&mut ombud, |f| {
            f["type"] == "presence" && f["participant_id"] == party.id && f["online"] == true
        })
        .await;
    }

    // A writes to the ombud; B hears nothing of it.
    let sent = pa
        .ok(json!({"type": "send", "channel": a.channel(), "body": ORIGINAL, "client_id": "a1"}))
        .await;
    let source = sent["message"]["id"].clone();
    let got = message_in(&mut ombud, &a.channel()).await;
    assert_eq!(
        (got["id"].clone(), got["body"].clone()),
        (source.clone(), json!(ORIGINAL))
    );
    assert_eq!(message_in(&mut pa, &a.channel()).await["client_id"], "a1");
    pb.ok(json!({"type": "send", "channel": b.channel(), "body": B_WORDS, "client_id": "b1"}))
        .await;
    assert_eq!(message_in(&mut ombud, &b.channel()).await["body"], B_WORDS);

    // Typing crosses nodes, to the ombud only.
    pa.ok(json!({"type": "typing", "channel": a.channel()}))
        .await;
    seen(&mut ombud, |f| {
        f["type"] == "typing" && f["participant_id"] == a.id && f.get("seq").is_none()
    })
    .await;

    // Forward with consent: A is asked about the exact text, B gets nothing yet.
    let fwd = ombud
        .ok(json!({"type": "forward", "source_message_id": source, "to": [b.id], "body": FIRST_DRAFT}))
        .await;
    assert_eq!(fwd["status"], "awaiting_consent");
    let forward_id = fwd["forward_id"].clone();
    let ask = pa.event_of("consent_requested").await;
    assert_eq!(
        (ask["revision"].clone(), ask["body"].clone()),
        (json!(1), json!(FIRST_DRAFT))
    );

    // A new revision: A is asked again, and consent to the old one is refused.
    ombud
        .ok(json!({"type": "forward_update", "forward_id": forward_id, "body": APPROVED}))
        .await;
    let ask = pa.event_of("consent_requested").await;
    assert_eq!(
        (ask["revision"].clone(), ask["body"].clone()),
        (json!(2), json!(APPROVED))
    );
    let stale = pa
        .err(json!({"type": "consent", "forward_id": forward_id, "revision": 1, "decision": "approve"}))
        .await;
    assert_eq!(stale, "conflict");

    // A approves the current revision: B gets exactly that text, attributed.
    pa.ok(
        json!({"type": "consent", "forward_id": forward_id, "revision": 2, "decision": "approve"}),
    )
    .await;
    let relayed = loop {
        let m = message_in(&mut pb, &b.channel()).await;
        if m.get("relayed_from").is_some() {
            break m;
        }
    };
    assert_eq!(relayed["body"], APPROVED);
    assert_eq!(relayed["relayed_from"]["display_name"], "Ada Lovelace");
    assert_eq!(relayed["author"]["role"], "ombud");
    assert_eq!(
        ombud.event_of("consent_decided").await["decision"],
        "approve"
    );
    seen(&mut ombud, |f| {
        f["type"] == "event"
            && f["event"]["kind"] == "forward_status"
            && f["event"]["status"] == "delivered"
    })
    .await;

    // The ombud edits the relayed copy: fresh consent first, then B sees the edit.
    let edit = ombud
        .ok(json!({"type": "edit", "message_id": relayed["id"], "body": EDITED}))
        .await;
    assert_eq!(edit["pending_consent"], true);
    let ask = pa.event_of("consent_requested").await;
    assert_eq!(
        (
            ask["revision"].clone(),
            ask["body"].clone(),
            ask["is_edit"].clone()
        ),
        (json!(3), json!(EDITED), json!(true))
    );
    pa.ok(
        json!({"type": "consent", "forward_id": forward_id, "revision": 3, "decision": "approve"}),
    )
    .await;
    let edited = pb.event_of("message_edited").await;
    assert_eq!(
        (edited["message_id"].clone(), edited["body"].clone()),
        (relayed["id"].clone(), json!(EDITED))
    );

    // The ombud retracts it.
    ombud
        .ok(json!({"type": "retract", "message_id": relayed["id"]}))
        .await;
    assert_eq!(
        pb.event_of("message_retracted").await["message_id"],
        relayed["id"]
    );

    // A joint session: everyone hears everyone, until it closes.
    ombud.ok(json!({"type": "joint", "open": true})).await;
    pa.event_of("joint_opened").await;
    pb.event_of("joint_opened").await;
    pa.ok(
        json!({"type": "send", "channel": "joint", "body": "Ada, to everyone", "client_id": "j1"}),
    )
    .await;
    for ws in [&mut pb, &mut ombud] {
        let heard = message_with(ws, "joint", "Ada, to everyone").await;
        assert_eq!(heard["author"]["id"], a.id);
    }
    pb.ok(
        json!({"type": "send", "channel": "joint", "body": "Ben, to everyone", "client_id": "j2"}),
    )
    .await;
    let heard = message_with(&mut pa, "joint", "Ben, to everyone").await;
    assert_eq!(heard["author"]["id"], b.id);
    ombud.ok(json!({"type": "joint", "open": false})).await;
    pa.event_of("joint_closed").await;
    pb.event_of("joint_closed").await;
    let late = pb
        .err(json!({"type": "send", "channel": "joint", "body": "too late", "client_id": "j3"}))
        .await;
    assert_eq!(late, "conflict");

    // B typing reaches the ombud, never A.
    pb.ok(json!({"type": "typing", "channel": b.channel()}))
        .await;
    seen(&mut ombud, |f| {
        f["type"] == "typing" && f["participant_id"] == b.id
    })
    .await;

    // What each inbox holds now, and everything delivered live, agree exactly.
    let ombud_hello = json!({"token": token, "room_id": room});
    let ombud_events = settle(&mut ombud, &d.ws_url(at.ombud), ombud_hello).await;
    let a_events = settle(&mut pa, &d.ws_url(at.a), json!({"token": a.token})).await;
    let b_events = settle(&mut pb, &d.ws_url(at.b), json!({"token": b.token})).await;

    // B never received A's words, nor a revision A did not approve, nor
    // anyone's typing; A never received B's private words.
    for secret in [ORIGINAL, FIRST_DRAFT, "sabotaged"] {
        assert!(!pb.saw(secret), "B received {secret:?}");
    }
    assert!(!pb.received.iter().any(|f| f.contains("\"typing\"")));
    assert!(!pa.saw(B_WORDS), "A received B's private words");
    assert!(!pa.received.iter().any(|f| f.contains("\"typing\"")));

    Transcripts {
        ombud: normalise(&ombud_events),
        a: normalise(&a_events),
        b: normalise(&b_events),
    }
}

/// Reads `ws` up to the head of its stored inbox, and checks that what it
/// was sent live is exactly that inbox: every seq from 1, once, in order.
async fn settle(ws: &mut Ws, url: &str, hello: Value) -> Vec<(u64, Value)> {
    let stored = stored_inbox(url, hello).await;
    let head = stored.last().map_or(0, |(seq, _)| *seq);
    read_to(ws, head).await;
    assert_contiguous(&stored, 1, "stored inbox");
    assert_eq!(
        as_replayed(events(ws)),
        stored,
        "live delivery and the stored inbox differ"
    );
    stored
}

/// Live events as a replay sends them: words taken back since are replayed
/// blank (PROTOCOL.md, "Words taken back"): every version of a retracted
/// message, every draft of a withdrawn forward.
fn as_replayed(mut live: Vec<(u64, Value)>) -> Vec<(u64, Value)> {
    let retracted: Vec<Value> = live
        .iter()
        .filter(|(_, e)| e["kind"] == "message_retracted")
        .map(|(_, e)| e["message_id"].clone())
        .collect();
    let withdrawn: Vec<Value> = live
        .iter()
        .filter(|(_, e)| e["kind"] == "forward_status" && e["status"] == "withdrawn")
        .map(|(_, e)| e["forward_id"].clone())
        .collect();
    for (_, e) in live.iter_mut() {
        let gone = match e["kind"].as_str() {
            Some("message") => retracted.contains(&e["id"]),
            Some("message_edited") => retracted.contains(&e["message_id"]),
            Some("consent_requested" | "forward_status") => withdrawn.contains(&e["forward_id"]),
            _ => false,
        };
        if gone {
            e["body"] = json!("");
        }
    }
    live
}

/// Replaces ids (numbered by first appearance) and timestamps, which differ
/// from run to run, so that two runs of the same flow compare equal.
fn normalise(events: &[(u64, Value)]) -> Vec<Value> {
    let mut ids = HashMap::new();
    events
        .iter()
        .map(|(seq, e)| json!({"seq": seq, "event": blank(e, &mut ids, "")}))
        .collect()
}

fn blank(v: &Value, ids: &mut HashMap<String, usize>, field: &str) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), blank(v, ids, k)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|v| blank(v, ids, field)).collect()),
        Value::String(_) if field.ends_with("_at") => json!("<time>"),
        Value::String(s) => {
            let (head, id) = match s.split_once(':') {
                Some((head, id)) => (format!("{head}:"), id),
                None => (String::new(), s.as_str()),
            };
            if uuid::Uuid::parse_str(id).is_ok() {
                let n = ids.len();
                let n = *ids.entry(id.to_string()).or_insert(n);
                json!(format!("{head}<id {n}>"))
            } else {
                v.clone()
            }
        }
        _ => v.clone(),
    }
}

/// Quota usage is counted in the store, not in one node's memory: what a
/// party stored through one node counts against it on every other node,
/// and the ombud on a third node sees the room's total.
#[tokio::test]
async fn quotas_count_what_was_stored_through_every_node() {
    let d = Deployment::start_with(
        3,
        Persistence::None,
        &[
            ("RELAY_PARTICIPANT_MAX_MESSAGES", "4".into()),
            ("RELAY_ROOM_MAX_MESSAGES", "100".into()),
        ],
    )
    .await;
    let token = login(d.api(0)).await;
    let room = create_room(d.api(0), &token, json!({"title": "Counted"})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let a = add_party(d.api(0), d.api(1), &token, &room, "Ada").await;
    let send = |i: usize| json!({"type": "send", "channel": a.channel(), "body": format!("note {i}"), "client_id": format!("q{i}")});
    let mut on_1 = connect_party(&d.ws_url(1), &a).await;
    let mut on_2 = connect_party(&d.ws_url(2), &a).await;
    for i in 0..2 {
        on_1.ok(send(i)).await;
        on_2.ok(send(10 + i)).await;
    }
    assert_eq!(on_1.err(send(20)).await, "quota_exceeded");
    assert_eq!(on_2.err(send(21)).await, "quota_exceeded");
    assert_eq!(stored_messages(&d, &token, &room).await, 4);
}

/// The room's message count as its ombud sees it (`quota.messages`).
async fn stored_messages(d: &Deployment, token: &str, room: &str) -> u64 {
    let detail = d
        .api(0)
        .ok(
            reqwest::Method::GET,
            &format!("/api/rooms/{room}"),
            Some(token),
            None,
        )
        .await;
    detail["quota"]["messages"]
        .as_u64()
        .expect("quota in the detail")
}

/// The room's quota holds exactly while two nodes fill the room at once:
/// neither node's cached count knows of the other's sends, and the store's
/// ceiling refuses the commit that would pass the quota.
#[tokio::test]
async fn a_room_quota_holds_exactly_while_two_nodes_fill_the_room_at_once() {
    const QUOTA: usize = 10;
    const EACH: usize = 8;
    let d = Deployment::start_with(
        3,
        Persistence::None,
        &[("RELAY_ROOM_MAX_MESSAGES", QUOTA.to_string())],
    )
    .await;
    let token = login(d.api(0)).await;
    let room = create_room(d.api(0), &token, json!({"title": "Nearly full"})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let a = add_party(d.api(0), d.api(1), &token, &room, "Ada").await;
    let b = add_party(d.api(0), d.api(2), &token, &room, "Ben").await;
    let mut pa = connect_party(&d.ws_url(1), &a).await;
    let mut pb = connect_party(&d.ws_url(2), &b).await;
    let (a_channel, b_channel) = (a.channel(), b.channel());
    let ((a_ok, a_full), (b_ok, b_full)) = tokio::join!(
        sends_until_full(&mut pa, &a_channel, EACH),
        sends_until_full(&mut pb, &b_channel, EACH),
    );
    assert_eq!(a_ok + b_ok, QUOTA, "stored");
    assert_eq!(a_full + b_full, 2 * EACH - QUOTA, "refused");
    assert_eq!(stored_messages(&d, &token, &room).await, QUOTA as u64);
}

/// Sends `n` messages without waiting; returns how many were stored and how
/// many refused with `quota_exceeded` (any other error fails the test).
async fn sends_until_full(ws: &mut Ws, channel: &str, n: usize) -> (usize, usize) {
    const REQ_BASE: u64 = 2_000_000;
    for i in 0..n {
        let frame = json!({"type": "send", "req": REQ_BASE + i as u64, "channel": channel, "body": format!("note {i}"), "client_id": format!("f{i}")});
        ws.send_raw(&frame.to_string()).await;
    }
    let (mut stored, mut refused) = (0, 0);
    while stored + refused < n {
        let frame = ws.next_frame().await.expect("connection open");
        if frame["req"].as_u64() < Some(REQ_BASE) {
            continue;
        }
        match frame["type"].as_str() {
            Some("ack") => stored += 1,
            Some("error") if frame["code"] == "quota_exceeded" => refused += 1,
            _ => panic!("unexpected answer {frame}"),
        }
    }
    (stored, refused)
}
