//! The Redis commit keeps each inbox's newest seq in a counter beside the
//! room document instead of reading the inbox's newest entry on every
//! append. Rooms written by releases before the counters have none: their
//! seqs must continue without a gap or a repeat. Nor have their objects
//! write versions (concurrency control by read set): such an object reads
//! as version 1, and a commit that took it for absent conflicts.

use super::*;

async fn raw(server: &RedisServer) -> ::redis::aio::MultiplexedConnection {
    ::redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

fn deliver(expect_version: u64, to: &[(ParticipantId, &[u8])]) -> Commit {
    Commit {
        expect_version,
        deliveries: to.iter().map(|(p, e)| (*p, e.to_vec())).collect(),
        ..Commit::default()
    }
}

#[tokio::test]
async fn an_inbox_written_before_the_counters_continues_its_seq() {
    let server = RedisServer::start();
    let prefix = random_prefix();
    let store = connect(&server.url(), &prefix).await;
    let room = new_room(&store).await;
    let (old, new) = (Uuid::new_v4(), Uuid::new_v4());
    // The layout an earlier release left: entries, no counter.
    let mut conn = raw(&server).await;
    let inbox = format!("{prefix}:{{{room}}}:in:{old}");
    for seq in 1..=3 {
        let _: String = ::redis::cmd("XADD")
            .arg(&inbox)
            .arg(format!("{seq}-0"))
            .arg("e")
            .arg(format!("old {seq}"))
            .query_async(&mut conn)
            .await
            .unwrap();
    }

    let (_, seqs) = committed(
        store
            .commit(room, deliver(1, &[(old, b"a"), (new, b"b"), (old, b"c")]))
            .await
            .unwrap(),
    );
    assert_eq!(seqs, vec![4, 1, 5]);
    let (_, seqs) = committed(
        store
            .commit(room, deliver(2, &[(new, b"d"), (old, b"e")]))
            .await
            .unwrap(),
    );
    assert_eq!(seqs, vec![2, 6]);

    // A counter lost (or never written) mid-life falls back the same way.
    let doc = format!("{prefix}:{{{room}}}:doc");
    let mut field = b"s".to_vec();
    field.extend_from_slice(new.as_bytes());
    let removed: i64 = ::redis::cmd("HDEL")
        .arg(&doc)
        .arg(field)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(removed, 1, "the counter lives in the doc hash");
    let (_, seqs) = committed(
        store
            .commit(room, deliver(3, &[(new, b"f")]))
            .await
            .unwrap(),
    );
    assert_eq!(seqs, vec![3]);

    let seqs_of =
        |entries: Vec<(u64, Vec<u8>)>| entries.into_iter().map(|(s, _)| s).collect::<Vec<_>>();
    assert_eq!(
        seqs_of(store.read_inbox(room, old, 0, 100).await.unwrap()),
        vec![1, 2, 3, 4, 5, 6]
    );
    assert_eq!(
        seqs_of(store.read_inbox(room, new, 0, 100).await.unwrap()),
        vec![1, 2, 3]
    );
    assert_eq!(store.inbox_head(room, old).await.unwrap(), 6);
}

#[tokio::test]
async fn one_commit_carries_many_objects_and_counters() {
    let server = RedisServer::start();
    let store = connect(&server.url(), &random_prefix()).await;
    let room = new_room(&store).await;
    let who = Uuid::new_v4();
    let puts: Vec<(String, Vec<u8>)> = (0..1500)
        .map(|n| (format!("m:{n}"), format!("v{n}").into_bytes()))
        .collect();
    let commit = Commit {
        expect_version: 1,
        puts: puts.clone(),
        deliveries: (0..700)
            .map(|n| (who, format!("e{n}").into_bytes()))
            .collect(),
        counts: vec![("a".into(), 3), ("b".into(), -2), ("a".into(), 4)],
        ..Commit::default()
    };
    let (version, seqs) = committed(store.commit(room, commit).await.unwrap());
    assert_eq!(version, 2);
    assert_eq!(seqs, (1..=700).collect::<Vec<u64>>());
    let keys: Vec<String> = puts.iter().map(|(k, _)| k.clone()).collect();
    let got = store.get_objects(room, &keys).await.unwrap();
    assert_eq!(
        got,
        puts.into_iter().map(|(_, v)| Some(v)).collect::<Vec<_>>()
    );
    let mut counts = store.load_room(room).await.unwrap().unwrap().counts;
    counts.sort();
    assert_eq!(counts, vec![("a".to_string(), 7), ("b".to_string(), -2)]);

    // A read set as large: every object checked, in chunks.
    let reads = || {
        let mut reads: Vec<(String, u64)> = keys.iter().map(|k| (k.clone(), 2)).collect();
        reads.push(("m:none".into(), 0));
        Commit {
            expect_version: 2,
            reads: Some(reads),
            ..Commit::default()
        }
    };
    committed(store.commit(room, reads()).await.unwrap());
    let mut stale = reads();
    stale.reads.as_mut().unwrap()[1499].1 = 1;
    assert_eq!(
        store.commit(room, stale).await.unwrap(),
        CommitOutcome::Conflict,
        "the last chunk is checked too"
    );
}

#[tokio::test]
async fn an_object_written_before_write_versions_reads_as_version_one() {
    let server = RedisServer::start();
    let prefix = random_prefix();
    let store = connect(&server.url(), &prefix).await;
    let room = new_room(&store).await;
    let mut conn = raw(&server).await;
    let _: i64 = ::redis::cmd("HSET")
        .arg(format!("{prefix}:{{{room}}}:o"))
        .arg("c:old")
        .arg("message id")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        store
            .read_objects(room, &["c:old".into(), "c:new".into()])
            .await
            .unwrap(),
        vec![(Some(b"message id".to_vec()), 1), (None, 0)]
    );
    let reading = |at: u64| Commit {
        expect_version: 1,
        reads: Some(vec![("c:old".into(), at), ("c:new".into(), 0)]),
        puts: vec![("m:1".into(), b"m".to_vec())],
        ..Commit::default()
    };
    assert_eq!(
        store.commit(room, reading(0)).await.unwrap(),
        CommitOutcome::Conflict,
        "taken for absent, but there"
    );
    committed(store.commit(room, reading(1)).await.unwrap());
}
