//! Confidential at rest: after a session across two nodes, no message body,
//! forward body, display name, room title or consent note is found in
//! plaintext anywhere in Redis: not in any key or value of any type, not in
//! the append-only file or a snapshot on disk, and not in what the nodes
//! publish to each other.

use std::path::Path;
use std::sync::{Arc, Mutex};

use caucus_tests::redis_server::Persistence;
use futures_util::StreamExt;
use redis::aio::MultiplexedConnection;
use redis::Value as RedisValue;
use reqwest::Method;
use serde_json::json;

use crate::support::*;

const TITLE: &str = "Harbourmaster grievance";
const NAME_A: &str = "Philippa Quenneville";
const NAME_B: &str = "Zoë Ångström-Wędrowska";
const NAME_LATE: &str = "Tobiah Marchbanks";
const A_SAYS: &str = "my manager Rupert shredded the Ventnor invoices";
const A_EDITS: &str = "my manager shredded the Ventnor invoices, I think";
const B_SAYS: &str = "the invoices were forged by someone in Dunmore";
const DRAFT: &str = "Philippa worries about invoice handling";
const REVISED: &str = "Philippa raises invoice handling concerns";
const RELAY_EDIT: &str = "Philippa would like to discuss invoices";
const NOTE: &str = "only if you leave out Rupert";
const JOINT: &str = "shall we meet on Thursday at the pier";
const NOTES: &str = "possible retaliation risk, follow up";
const TERM: &str = "Ventnor-ledger";
const PROPOSAL: &str = "Quayside reconciliation accord";
const CLAUSE: &str = "Rupert repays the Pembrokeshire levy";
const CLAUSE_2: &str = "Invoices are audited by Glenrothes";
const COMMENT: &str = "the levy figure is far too Byzantine";
const DECLINE: &str = "not without an apology from Aldiss";
const RANGE: &str = "Compensation for Kittiwake berth";
/// A bound: a number only its party and the relay's sealed store hold.
const BOUND: i64 = 48_361_729;

/// Whole phrases and their most telling words.
const SECRETS: &[&str] = &[
    TITLE,
    NAME_A,
    NAME_B,
    NAME_LATE,
    A_SAYS,
    A_EDITS,
    B_SAYS,
    DRAFT,
    REVISED,
    RELAY_EDIT,
    NOTE,
    JOINT,
    NOTES,
    TERM,
    PROPOSAL,
    CLAUSE,
    CLAUSE_2,
    COMMENT,
    DECLINE,
    RANGE,
    "48361729",
    "Quayside",
    "Pembrokeshire",
    "Glenrothes",
    "Byzantine",
    "Aldiss",
    "Kittiwake",
    "Harbourmaster",
    "Quenneville",
    "Ångström",
    "Wędrowska",
    "Marchbanks",
    "Rupert",
    "Ventnor",
    "Dunmore",
    "Thursday",
    "retaliation",
];

#[tokio::test]
async fn no_message_body_name_or_title_is_stored_or_published_in_plaintext() {
    let d = Deployment::start(2, Persistence::AppendOnly).await;
    let published = capture_publications(&d).await;
    session(&d).await;
    let mut conn = d.redis_conn().await;

    // Every value of every key, read by type.
    let hits = find_secrets(&mut conn, SECRETS).await;
    assert!(hits.is_empty(), "plaintext in Redis: {hits:?}");

    // What is on disk: the append-only file and a fresh snapshot.
    let _: () = redis::cmd("SAVE")
        .query_async(&mut conn)
        .await
        .expect("SAVE");
    let on_disk = files_under(d.redis.dir());
    assert!(on_disk.iter().any(|(p, _)| p.contains("appendonly")));
    for (path, bytes) in &on_disk {
        for secret in SECRETS {
            assert!(!contains(bytes, secret.as_bytes()), "{secret:?} in {path}");
        }
    }

    // What the nodes told each other through Redis.
    let marker = "end-of-capture-marker";
    let _: i64 = redis::cmd("PUBLISH")
        .arg("probe")
        .arg(marker)
        .query_async(&mut conn)
        .await
        .expect("PUBLISH");
    wait_for(&published, marker).await;
    let messages = locked(&published).clone();
    assert!(messages.len() > 20, "the session published notifications");
    for secret in SECRETS {
        assert!(
            !messages.iter().any(|m| contains(m, secret.as_bytes())),
            "{secret:?} published in plaintext"
        );
    }

    // The scan does find plaintext where there is some: one planted secret
    // in a key of every type is found, and nothing else is.
    let planted = plant_canaries(&mut conn).await;
    let hits: Vec<String> = find_secrets(&mut conn, SECRETS)
        .await
        .into_iter()
        .map(|h| h.0)
        .collect();
    assert_eq!(hits, planted);
    let aof = files_under(d.redis.dir());
    assert!(aof
        .iter()
        .any(|(_, bytes)| contains(bytes, A_SAYS.as_bytes())));
}

/// An ombud's display name is a display name too. Today it is the
/// account's username, and the accounts hash is keyed by username in
/// plaintext (`P:accounts`), so this fails until accounts are keyed by
/// something that does not reveal the name (a keyed hash of it, say).
#[tokio::test]
async fn an_ombuds_name_is_not_stored_in_plaintext() {
    const USERNAME: &str = "hildegard.okonkwo";
    const PASSWORD: &str = "a long enough password";
    let d = Deployment::start_with(
        1,
        Persistence::None,
        &[("RELAY_BOOTSTRAP_OMBUD", format!("{USERNAME}:{PASSWORD}"))],
    )
    .await;
    let api = d.api(0);
    let token = api.login(USERNAME, PASSWORD).await;
    let room = create_room(api, &token, json!({"title": "Named ombud"})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let a = add_party(api, api, &token, &room, NAME_A).await;
    let mut pa = connect_party(&d.ws_url(0), &a).await;
    let mut ombud = connect_ombud(&d.ws_url(0), &token, &room).await;
    let hello = json!({"type": "send", "channel": a.channel(), "body": "hello", "client_id": "o1"});
    ombud.ok(hello).await;
    let got = message_with(&mut pa, &a.channel(), "hello").await;
    assert_eq!(
        got["author"]["display_name"], USERNAME,
        "the name parties see"
    );

    let hits = find_secrets(&mut d.redis_conn().await, &[USERNAME, "okonkwo"]).await;
    assert!(hits.is_empty(), "the ombud's name in plaintext: {hits:?}");
}

/// A full session, ombud on node 0, A on node 0, B and a late party on node 1.
async fn session(d: &Deployment) {
    let (home, other) = (d.api(0), d.api(1));
    let token = login(home).await;
    let room = create_room(
        home,
        &token,
        json!({"title": TITLE, "consent_required": true}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    home.ok(
        Method::PUT,
        &format!("/api/rooms/{room}/terms"),
        Some(&token),
        Some(json!({"items": [TERM]})),
    )
    .await;
    let a = add_party(home, home, &token, &room, NAME_A).await;
    let b = add_party(home, other, &token, &room, NAME_B).await;
    home.invite(&token, &room, NAME_LATE).await;
    let mut ombud = connect_ombud(&d.ws_url(0), &token, &room).await;
    let mut pa = connect_party(&d.ws_url(0), &a).await;
    let mut pb = connect_party(&d.ws_url(1), &b).await;

    let sent = pa
        .ok(json!({"type": "send", "channel": a.channel(), "body": A_SAYS, "client_id": "a1"}))
        .await;
    let source = sent["message"]["id"].clone();
    pa.ok(json!({"type": "edit", "message_id": source, "body": A_EDITS}))
        .await;
    pb.ok(json!({"type": "send", "channel": b.channel(), "body": B_SAYS, "client_id": "b1"}))
        .await;
    let fwd = ombud
        .ok(json!({"type": "forward", "source_message_id": source, "to": [b.id], "body": DRAFT}))
        .await;
    let forward_id = fwd["forward_id"].clone();
    pa.ok(json!({"type": "consent", "forward_id": forward_id, "revision": 1, "decision": "decline", "note": NOTE}))
        .await;
    ombud
        .ok(json!({"type": "forward_update", "forward_id": forward_id, "body": REVISED}))
        .await;
    pa.ok(
        json!({"type": "consent", "forward_id": forward_id, "revision": 2, "decision": "approve"}),
    )
    .await;
    let relayed = message_with(&mut pb, &b.channel(), REVISED).await;
    ombud
        .ok(json!({"type": "edit", "message_id": relayed["id"], "body": RELAY_EDIT}))
        .await;
    pa.ok(
        json!({"type": "consent", "forward_id": forward_id, "revision": 3, "decision": "approve"}),
    )
    .await;
    pb.event_of("message_edited").await;
    ombud.ok(json!({"type": "joint", "open": true})).await;
    pb.ok(json!({"type": "send", "channel": "joint", "body": JOINT, "client_id": "j1"}))
        .await;
    message_with(&mut pa, "joint", JOINT).await;
    ombud
        .ok(json!({"type": "send", "channel": "notes", "body": NOTES, "client_id": "n1"}))
        .await;
    pa.ok(json!({"type": "typing", "channel": a.channel()}))
        .await;
    // The single text: two versions, a comment, a call, a decline with a
    // note, and a range question with a bound left in place.
    let v1 = ombud
        .ok(json!({"type": "propose", "title": PROPOSAL, "clauses": [CLAUSE]}))
        .await;
    let pid = v1["proposal_id"].clone();
    let v2 = ombud
        .ok(json!({"type": "propose", "proposal_id": pid, "title": PROPOSAL, "clauses": [CLAUSE, CLAUSE_2]}))
        .await;
    for v in [1, 2] {
        ombud
            .ok(json!({"type": "share", "proposal_id": pid, "version": v, "to": [a.id, b.id]}))
            .await;
    }
    pa.ok(json!({"type": "comment", "proposal_id": pid, "version": 2, "clause": 1, "body": COMMENT, "client_id": "k1"}))
        .await;
    ombud
        .ok(json!({"type": "call_decision", "proposal_id": pid, "version": 2, "parties": [a.id, b.id]}))
        .await;
    pb.ok(json!({"type": "decide", "proposal_id": pid, "version": 2, "hash": v2["hash"], "verdict": "decline", "note": DECLINE}))
        .await;
    pa.ok(json!({"type": "decide", "proposal_id": pid, "version": 2, "hash": v2["hash"], "verdict": "accept"}))
        .await;
    let range = ombud
        .ok(json!({"type": "range_open", "title": RANGE, "unit": "EUR", "ceilings": [a.id], "floors": [b.id]}))
        .await;
    pa.ok(json!({"type": "range_bound", "range_id": range["range_id"], "value": BOUND}))
        .await;
    // The session was real: the words reached who they were for.
    assert!(ombud.saw(A_SAYS) && ombud.saw(NOTE) && pb.saw(RELAY_EDIT));
    assert!(ombud.saw(COMMENT) && ombud.saw(DECLINE) && pb.saw(CLAUSE_2));
    assert_eq!(pa.event_of("range_bound_set").await["value"], BOUND);
}

/// Every published message on every channel, from now on.
async fn capture_publications(d: &Deployment) -> Arc<Mutex<Vec<Vec<u8>>>> {
    let client = redis::Client::open(d.redis.url()).expect("url");
    let mut pubsub = client.get_async_pubsub().await.expect("pubsub");
    pubsub.psubscribe("*").await.expect("PSUBSCRIBE");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    tokio::spawn(async move {
        let mut messages = pubsub.into_on_message();
        while let Some(m) = messages.next().await {
            locked(&sink).push(m.get_payload_bytes().to_vec());
        }
    });
    seen
}

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// `(key, secret)` for every secret found in a key's name or any of its
/// values, reading each key with the command for its type, and its DUMP.
async fn find_secrets(
    conn: &mut MultiplexedConnection,
    secrets: &[&'static str],
) -> Vec<(String, &'static str)> {
    let mut hits = Vec::new();
    for key in scan(conn, "*").await {
        let kind: String = redis::cmd("TYPE")
            .arg(&key)
            .query_async(conn)
            .await
            .expect("TYPE");
        let read = match kind.as_str() {
            "string" => redis::cmd("GET").arg(&key).clone(),
            "hash" => redis::cmd("HGETALL").arg(&key).clone(),
            "stream" => redis::cmd("XRANGE").arg(&key).arg("-").arg("+").clone(),
            "list" => redis::cmd("LRANGE").arg(&key).arg(0).arg(-1).clone(),
            "set" => redis::cmd("SMEMBERS").arg(&key).clone(),
            "zset" => redis::cmd("ZRANGE").arg(&key).arg(0).arg(-1).clone(),
            // Deleted since the scan: a node's registration in a room's
            // `nodes` hash goes when its last connection there closes.
            // Only the name is left to check.
            "none" => {
                if let Some(secret) = secrets.iter().find(|s| key.contains(**s)) {
                    hits.push((key.clone(), *secret));
                }
                continue;
            }
            other => panic!("{key}: a {other} key, which this scan cannot read"),
        };
        let value: RedisValue = read.query_async(conn).await.expect("read");
        let dump: RedisValue = redis::cmd("DUMP")
            .arg(&key)
            .query_async(conn)
            .await
            .expect("DUMP");
        let mut blobs = vec![key.as_bytes().to_vec()];
        flatten(&value, &mut blobs);
        flatten(&dump, &mut blobs);
        // Nothing read and no DUMP: deleted between TYPE and the reads.
        assert!(
            blobs.len() > 2 || matches!(dump, RedisValue::Nil),
            "{key}: nothing read"
        );
        for secret in secrets {
            if blobs.iter().any(|b| contains(b, secret.as_bytes())) {
                hits.push((key.clone(), *secret));
            }
        }
    }
    hits.dedup_by(|a, b| a.0 == b.0);
    hits
}

fn flatten(v: &RedisValue, out: &mut Vec<Vec<u8>>) {
    match v {
        RedisValue::BulkString(bytes) => out.push(bytes.clone()),
        RedisValue::SimpleString(s) => out.push(s.as_bytes().to_vec()),
        RedisValue::Array(items) | RedisValue::Set(items) => {
            items.iter().for_each(|i| flatten(i, out));
        }
        RedisValue::Map(pairs) => pairs.iter().for_each(|(k, v)| {
            flatten(k, out);
            flatten(v, out);
        }),
        _ => {}
    }
}

/// One key of every type, outside the relay's prefix, holding a secret.
async fn plant_canaries(conn: &mut MultiplexedConnection) -> Vec<String> {
    let planted = [
        (
            "canary:hash",
            redis::cmd("HSET")
                .arg("canary:hash")
                .arg("f")
                .arg(A_SAYS)
                .clone(),
        ),
        (
            "canary:list",
            redis::cmd("RPUSH").arg("canary:list").arg(A_SAYS).clone(),
        ),
        (
            "canary:set",
            redis::cmd("SADD").arg("canary:set").arg(A_SAYS).clone(),
        ),
        (
            "canary:stream",
            redis::cmd("XADD")
                .arg("canary:stream")
                .arg("*")
                .arg("e")
                .arg(A_SAYS)
                .clone(),
        ),
        (
            "canary:string",
            redis::cmd("SET").arg("canary:string").arg(A_SAYS).clone(),
        ),
        (
            "canary:zset",
            redis::cmd("ZADD")
                .arg("canary:zset")
                .arg(1)
                .arg(A_SAYS)
                .clone(),
        ),
    ];
    let mut keys = Vec::new();
    for (key, write) in planted {
        let _: RedisValue = write.query_async(conn).await.expect("plant");
        keys.push(key.to_string());
    }
    keys
}

/// Every regular file under `dir`, with its contents.
fn files_under(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).expect("redis dir").flatten() {
        let path = entry.path();
        let kind = entry.file_type().expect("file type");
        if kind.is_dir() {
            found.extend(files_under(&path));
        } else if kind.is_file() {
            found.push((
                path.display().to_string(),
                std::fs::read(&path).expect("read"),
            ));
        }
    }
    found
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A `client_id` the client chose, distinctive enough to find anywhere.
const CLIENT_ID: &str = "zanzibar-client-7731";
const OMBUD_CLIENT_ID: &str = "quetzal-ombud-4412";
/// An office category, distinctive enough to find anywhere.
const CATEGORY: &str = "Quixotic-Grievance-Category";

/// Metadata is confidential too: the `client_id`s clients choose (filed as
/// idempotency keys), the `refer:` ids of referrals, the office's trend
/// categories (counter names), and who is online or typing (pub/sub
/// signals). None of them may show in a key name, a field name or a value,
/// in any command Redis receives (MONITOR), or in what the nodes publish.
#[tokio::test]
async fn no_client_id_category_or_signalled_participant_id_is_in_redis_in_plaintext() {
    let dir = std::env::temp_dir().join(format!("caucus-office-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("office dir");
    let office = dir.join("office.toml");
    std::fs::write(
        &office,
        format!("categories = [\"{CATEGORY}\", \"Workload\"]\n"),
    )
    .expect("office file");
    let d = Deployment::start_with(
        2,
        Persistence::None,
        &[("RELAY_CONFIG", office.display().to_string())],
    )
    .await;
    let commands = capture_commands(&d).await;
    let published = capture_publications(&d).await;

    let (home, other) = (d.api(0), d.api(1));
    let token = login(home).await;
    let room = create_room(home, &token, json!({"title": "Metadata"})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    home.ok(
        Method::PUT,
        &format!("/api/rooms/{room}/categories"),
        Some(&token),
        Some(json!({"items": [CATEGORY]})),
    )
    .await;
    let a = add_party(home, other, &token, &room, "Party A").await;
    let mut ombud = connect_ombud(&d.ws_url(0), &token, &room).await;
    let ombud_id = ombud.welcome["participant"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut pa = connect_party(&d.ws_url(1), &a).await;
    // Presence crossed the nodes: the ombud saw A come online.
    seen(&mut ombud, |f| {
        f["type"] == "presence" && f["participant_id"] == a.id.as_str()
    })
    .await;
    pa.ok(json!({"type": "typing", "channel": a.channel()}))
        .await;
    seen(&mut ombud, |f| f["type"] == "typing").await;
    pa.ok(json!({"type": "send", "channel": a.channel(), "body": "hi", "client_id": CLIENT_ID}))
        .await;
    let resend = pa
        .ok(json!({"type": "send", "channel": a.channel(), "body": "hi", "client_id": CLIENT_ID}))
        .await;
    assert_eq!(
        resend["duplicate"], true,
        "the idempotency key is found again"
    );
    ombud
        .ok(json!({"type": "send", "channel": a.channel(), "body": "hello", "client_id": OMBUD_CLIENT_ID}))
        .await;
    ombud
        .ok(json!({"type": "refer", "party_id": a.id, "resource_id": "eap"}))
        .await;
    message_in(&mut pa, &a.channel()).await;

    let secrets = [CLIENT_ID, OMBUD_CLIENT_ID, CATEGORY, "Quixotic", "refer:"];
    let mut conn = d.redis_conn().await;
    let hits = find_secrets(&mut conn, &secrets).await;
    assert!(hits.is_empty(), "in Redis in plaintext: {hits:?}");

    // Everything Redis was asked to do, scripts' own commands included.
    let marker = "end-of-monitor-marker";
    let _: i64 = redis::cmd("PUBLISH")
        .arg("probe")
        .arg(marker)
        .query_async(&mut conn)
        .await
        .expect("PUBLISH");
    wait_for(&commands, marker).await;
    wait_for(&published, marker).await;
    let commands = locked(&commands).clone();
    assert!(commands.len() > 20, "MONITOR saw the session");
    for secret in secrets {
        let hit = commands.iter().find(|c| contains(c, secret.as_bytes()));
        let hit = hit.map(|c| String::from_utf8_lossy(c));
        assert!(hit.is_none(), "{secret:?} sent to Redis: {hit:?}");
    }

    // What the nodes published: no participant id in any signal.
    let messages = locked(&published).clone();
    for id in [&ombud_id, &a.id] {
        let simple = id.replace('-', "");
        let hit = messages
            .iter()
            .find(|m| contains(m, id.as_bytes()) || contains(m, simple.as_bytes()));
        let hit = hit.map(|m| String::from_utf8_lossy(m));
        assert!(hit.is_none(), "participant id {id} published: {hit:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every command Redis runs from now on, as MONITOR reports it.
async fn capture_commands(d: &Deployment) -> Arc<Mutex<Vec<Vec<u8>>>> {
    let client = redis::Client::open(d.redis.url()).expect("url");
    let monitor = client.get_async_monitor().await.expect("MONITOR");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    tokio::spawn(async move {
        // Lines come as simple strings; a type that fails to convert would
        // end the stream.
        let mut lines = monitor.into_on_message::<RedisValue>();
        while let Some(line) = lines.next().await {
            let mut parts = Vec::new();
            flatten(&line, &mut parts);
            locked(&sink).extend(parts);
        }
    });
    seen
}

async fn wait_for(captured: &Mutex<Vec<Vec<u8>>>, marker: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !locked(captured)
        .iter()
        .any(|m| contains(m, marker.as_bytes()))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "capture lost the marker"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
