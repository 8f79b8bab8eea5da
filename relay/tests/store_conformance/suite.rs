//! The conformance tests themselves, one function each, run by the
//! `store_conformance!` macro in `main.rs` against every store. One file
//! over 500 lines on purpose: it is the whole contract of the `Store`
//! trait, read top to bottom, and splitting it would scatter that contract.

use super::*;

pub async fn ping_answers(store: Arc<dyn Store>) {
    store.ping().await.unwrap();
}

pub async fn accounts_are_kept_by_username(store: Arc<dyn Store>) {
    assert_eq!(store.get_account("alice").await.unwrap(), None);
    assert_eq!(store.account_count().await.unwrap(), 0);
    store.put_account("alice", b"\0a1".to_vec()).await.unwrap();
    store.put_account("bob", b"b1".to_vec()).await.unwrap();
    store.put_account("alice", b"\0a2".to_vec()).await.unwrap();
    assert_eq!(
        store.get_account("alice").await.unwrap(),
        Some(b"\0a2".to_vec())
    );
    assert_eq!(
        store.get_account("bob").await.unwrap(),
        Some(b"b1".to_vec())
    );
    assert_eq!(store.get_account("carol").await.unwrap(), None);
    assert_eq!(store.account_count().await.unwrap(), 2);
}

pub async fn list_accounts_gives_every_current_value_once(store: Arc<dyn Store>) {
    assert!(store.list_accounts().await.unwrap().is_empty());
    store.put_account("alice", b"\0a1".to_vec()).await.unwrap();
    store.put_account("bob", b"b1".to_vec()).await.unwrap();
    store.put_account("alice", b"\0a2".to_vec()).await.unwrap();
    let mut listed = store.list_accounts().await.unwrap();
    listed.sort();
    assert_eq!(listed, vec![b"\0a2".to_vec(), b"b1".to_vec()]);
}

pub async fn counters_accumulate_per_field(store: Arc<dyn Store>) {
    assert!(store.counters().await.unwrap().is_empty());
    store.incr_counter("rooms_created", 1).await.unwrap();
    store.incr_counter("rooms_created", 2).await.unwrap();
    store.incr_counter("messages", -5).await.unwrap();
    let mut counters = store.counters().await.unwrap();
    counters.sort();
    assert_eq!(
        counters,
        vec![
            ("messages".to_string(), -5),
            ("rooms_created".to_string(), 3)
        ]
    );
}

pub async fn generations_start_at_zero_and_rise_one_at_a_time(store: Arc<dyn Store>) {
    assert_eq!(store.generation("a").await.unwrap(), 0);
    assert_eq!(store.raise_generation("a").await.unwrap(), 1);
    assert_eq!(store.raise_generation("a").await.unwrap(), 2);
    assert_eq!(store.generation("a").await.unwrap(), 2);
    assert_eq!(store.generation("b").await.unwrap(), 0, "per subject");
    // Concurrent raises are each counted.
    let raises = (0..8).map(|_| {
        let store = store.clone();
        tokio::spawn(async move { store.raise_generation("c").await.unwrap() })
    });
    let mut seen = Vec::new();
    for raise in raises {
        seen.push(raise.await.unwrap());
    }
    seen.sort_unstable();
    assert_eq!(seen, (1..=8).collect::<Vec<u64>>());
    assert_eq!(store.generation("c").await.unwrap(), 8);
}

pub async fn create_room_starts_at_version_one_and_only_once(store: Arc<dyn Store>) {
    let room = Uuid::new_v4();
    assert!(store
        .create_room(room, b"first".to_vec(), in_an_hour())
        .await
        .unwrap());
    assert!(!store
        .create_room(room, b"second".to_vec(), in_an_hour())
        .await
        .unwrap());
    assert_eq!(
        store.load_room(room).await.unwrap(),
        Some(Versioned {
            version: 1,
            doc: b"first".to_vec(),
            counts: Vec::new(),
        })
    );
}

pub async fn missing_room_reads_as_empty(store: Arc<dyn Store>) {
    let (room, who) = (Uuid::new_v4(), Uuid::new_v4());
    assert_eq!(store.load_room(room).await.unwrap(), None);
    let keys = ["m:1".to_string(), "m:2".to_string()];
    assert_eq!(
        store.get_objects(room, &keys).await.unwrap(),
        vec![None, None]
    );
    assert!(store.read_inbox(room, who, 0, 10).await.unwrap().is_empty());
    assert_eq!(store.inbox_head(room, who).await.unwrap(), 0);
    assert_eq!(
        store.take_invite(room, "code").await.unwrap(),
        InviteTake::Unknown
    );
    assert!(!store.delete_room(room).await.unwrap());
    let commit = deliver(1, vec![(who, b"x".to_vec())]);
    assert_eq!(
        store.commit(room, commit).await.unwrap(),
        CommitOutcome::Conflict
    );
    // Nothing of the failed commit appeared.
    assert_eq!(store.load_room(room).await.unwrap(), None);
    assert_eq!(store.inbox_head(room, who).await.unwrap(), 0);
}

pub async fn list_rooms_lists_live_rooms(store: Arc<dyn Store>) {
    assert!(store.list_rooms().await.unwrap().is_empty());
    let mut rooms = vec![
        new_room(&*store).await,
        new_room(&*store).await,
        new_room(&*store).await,
    ];
    let mut listed = store.list_rooms().await.unwrap();
    rooms.sort();
    listed.sort();
    assert_eq!(listed, rooms);

    assert!(store.delete_room(rooms[1]).await.unwrap());
    rooms.remove(1);
    let mut listed = store.list_rooms().await.unwrap();
    listed.sort();
    assert_eq!(listed, rooms);
}

pub async fn commit_applies_doc_and_objects_and_bumps_version(store: Arc<dyn Store>) {
    let room = new_room(&*store).await;
    let commit = Commit {
        reads: None,
        limits: Vec::new(),
        expect_version: 1,
        doc: Some(b"doc 2".to_vec()),
        puts: vec![
            ("m:1".into(), b"one".to_vec()),
            ("m:2".into(), b"\0two".to_vec()),
        ],
        deliveries: Vec::new(),
        counts: Vec::new(),
        plain: Vec::new(),
    };
    assert_eq!(
        committed(store.commit(room, commit).await.unwrap()),
        (2, vec![])
    );
    let loaded = store.load_room(room).await.unwrap().unwrap();
    assert_eq!((loaded.version, loaded.doc), (2, b"doc 2".to_vec()));
    let keys = ["m:2".to_string(), "absent".to_string(), "m:1".to_string()];
    assert_eq!(
        store.get_objects(room, &keys).await.unwrap(),
        vec![Some(b"\0two".to_vec()), None, Some(b"one".to_vec())]
    );
    assert!(store.get_objects(room, &[]).await.unwrap().is_empty());

    // Without a doc, the doc stays and the version still moves.
    let commit = Commit {
        expect_version: 2,
        puts: vec![("m:1".into(), b"one, edited".to_vec())],
        ..Commit::default()
    };
    assert_eq!(
        committed(store.commit(room, commit).await.unwrap()),
        (3, vec![])
    );
    let loaded = store.load_room(room).await.unwrap().unwrap();
    assert_eq!((loaded.version, loaded.doc), (3, b"doc 2".to_vec()));
    assert_eq!(
        store.get_objects(room, &keys[2..]).await.unwrap(),
        vec![Some(b"one, edited".to_vec())]
    );
}

pub async fn commits_add_to_room_counters_beside_the_doc(store: Arc<dyn Store>) {
    let room = new_room(&*store).await;
    for (version, by) in [(1, 3), (2, 4)] {
        let commit = Commit {
            expect_version: version,
            counts: vec![("room.m".into(), 1), ("ab12.b".into(), by)],
            ..Commit::default()
        };
        committed(store.commit(room, commit).await.unwrap());
    }
    let mut loaded = store.load_room(room).await.unwrap().unwrap();
    loaded.counts.sort();
    assert_eq!(loaded.version, 3);
    assert_eq!(loaded.doc, b"doc".to_vec(), "counting leaves the doc alone");
    assert_eq!(
        loaded.counts,
        vec![("ab12.b".to_string(), 7), ("room.m".to_string(), 2)]
    );
    assert!(store.delete_room(room).await.unwrap());
    assert_eq!(store.load_room(room).await.unwrap(), None);
    assert!(store
        .create_room(room, b"doc".to_vec(), in_an_hour())
        .await
        .unwrap());
    assert!(
        store
            .load_room(room)
            .await
            .unwrap()
            .unwrap()
            .counts
            .is_empty(),
        "deleting a room erases its counters"
    );
}

pub async fn stale_commit_conflicts_and_writes_nothing(store: Arc<dyn Store>) {
    let room = new_room(&*store).await;
    let who = Uuid::new_v4();
    committed(
        store
            .commit(
                room,
                Commit {
                    expect_version: 1,
                    ..Commit::default()
                },
            )
            .await
            .unwrap(),
    );
    for stale in [1, 3] {
        let commit = Commit {
            expect_version: stale,
            doc: Some(b"lost".to_vec()),
            puts: vec![("m:lost".into(), b"lost".to_vec())],
            deliveries: vec![(who, b"lost".to_vec())],
            counts: vec![("lost".into(), 7)],
            plain: Vec::new(),
            reads: None,
            limits: Vec::new(),
        };
        assert_eq!(
            store.commit(room, commit).await.unwrap(),
            CommitOutcome::Conflict
        );
    }
    let loaded = store.load_room(room).await.unwrap().unwrap();
    assert_eq!((loaded.version, loaded.doc), (2, b"doc".to_vec()));
    assert!(loaded.counts.is_empty(), "a conflict adds to no counter");
    assert_eq!(
        store.get_objects(room, &["m:lost".into()]).await.unwrap(),
        vec![None]
    );
    assert_eq!(store.inbox_head(room, who).await.unwrap(), 0);
}

pub async fn concurrent_commits_on_one_version_let_exactly_one_win(store: Arc<dyn Store>) {
    let room = new_room(&*store).await;
    let who = Uuid::new_v4();
    let racers: Vec<_> = (0..8u8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move { store.commit(room, deliver(1, vec![(who, vec![i])])).await })
        })
        .collect();
    let mut wins = 0;
    for racer in racers {
        if let CommitOutcome::Committed { version, seqs, .. } = racer.await.unwrap().unwrap() {
            assert_eq!((version, seqs), (2, vec![1]));
            wins += 1;
        }
    }
    assert_eq!(wins, 1);
    assert_eq!(store.load_room(room).await.unwrap().unwrap().version, 2);
    assert_eq!(store.inbox_head(room, who).await.unwrap(), 1);
}

/// A commit that read only the document and some objects conflicts only
/// if the document was written since the version it read, or an object
/// since the version that had written it when it was read.
pub async fn commits_conflict_only_on_what_they_read(store: Arc<dyn Store>) {
    let room = new_room(&*store).await;
    let put = |expect_version, reads: &[(&str, u64)], key: &str| Commit {
        expect_version,
        reads: Some(reads.iter().map(|(k, at)| (k.to_string(), *at)).collect()),
        puts: vec![(key.to_string(), key.as_bytes().to_vec())],
        ..Commit::default()
    };
    // Both read at version 1; the second read nothing the first wrote.
    let (v, _) = committed(
        store
            .commit(room, put(1, &[("m:a", 0)], "m:a"))
            .await
            .unwrap(),
    );
    assert_eq!(v, 2);
    let reads = [("m:b", 0), ("c:x", 0)];
    let (v, _) = committed(store.commit(room, put(1, &reads, "m:b")).await.unwrap());
    assert_eq!(v, 3, "a disjoint read set commits on a later version");
    assert_eq!(
        store
            .read_objects(room, &["m:a".into(), "m:b".into(), "m:none".into()])
            .await
            .unwrap(),
        vec![
            (Some(b"m:a".to_vec()), 2),
            (Some(b"m:b".to_vec()), 3),
            (None, 0)
        ],
        "each object with the version that wrote it"
    );
    // m:a (present) and m:b (then absent) have moved since they were read.
    for reads in [&[("m:a", 0)][..], &[("c:y", 0), ("m:b", 0)][..]] {
        assert_eq!(
            store.commit(room, put(1, reads, "m:lost")).await.unwrap(),
            CommitOutcome::Conflict
        );
    }
    // Read later, at the versions that wrote them: both still hold, even
    // though the document was read at version 1.
    committed(
        store
            .commit(room, put(1, &[("m:a", 2), ("m:b", 3)], "m:c"))
            .await
            .unwrap(),
    );
    // The whole room (no read set) conflicts on any commit since.
    let whole = Commit {
        reads: None,
        ..put(3, &[], "m:lost")
    };
    assert_eq!(
        store.commit(room, whole).await.unwrap(),
        CommitOutcome::Conflict
    );
    // Every action reads the document: a new one conflicts with every
    // read of it at an earlier version.
    let doc = Commit {
        doc: Some(b"doc 2".to_vec()),
        ..put(4, &[], "m:d")
    };
    assert_eq!(committed(store.commit(room, doc).await.unwrap()).0, 5);
    assert_eq!(
        store.commit(room, put(4, &[], "m:lost")).await.unwrap(),
        CommitOutcome::Conflict
    );
    committed(
        store
            .commit(room, put(5, &[("m:a", 2)], "m:e"))
            .await
            .unwrap(),
    );
    assert_eq!(
        store.get_objects(room, &["m:lost".into()]).await.unwrap(),
        vec![None],
        "a conflict writes nothing"
    );
    assert_eq!(store.load_room(room).await.unwrap().unwrap().version, 6);
    store.delete_room(room).await.unwrap();
    assert_eq!(
        store.commit(room, put(6, &[], "m:lost")).await.unwrap(),
        CommitOutcome::Conflict,
        "a room that is gone conflicts"
    );
}

/// Commits that read nothing in common all win, however they interleave,
/// and the inbox they share still gets gapless seqs.
pub async fn concurrent_commits_with_disjoint_reads_all_win_gaplessly(store: Arc<dyn Store>) {
    let room = new_room(&*store).await;
    let who = Uuid::new_v4();
    let racers: Vec<_> = (0..8u8)
        .map(|i| {
            let store = store.clone();
            let key = format!("m:{i}");
            tokio::spawn(async move {
                let commit = Commit {
                    expect_version: 1,
                    reads: Some(vec![(key.clone(), 0)]),
                    puts: vec![(key, vec![i])],
                    deliveries: vec![(who, vec![i])],
                    counts: vec![("room.m".into(), 1)],
                    ..Commit::default()
                };
                store.commit(room, commit).await
            })
        })
        .collect();
    let (mut versions, mut seqs, mut counts) = (Vec::new(), Vec::new(), Vec::new());
    for racer in racers {
        match racer.await.unwrap().unwrap() {
            CommitOutcome::Committed {
                version,
                seqs: s,
                counts: c,
            } => {
                versions.push(version);
                seqs.extend(s);
                counts.extend(c);
            }
            CommitOutcome::Conflict => panic!("disjoint reads conflicted"),
        }
    }
    for got in [&mut versions, &mut seqs] {
        got.sort_unstable();
    }
    counts.sort_unstable();
    assert_eq!(versions, (2..=9).collect::<Vec<u64>>());
    assert_eq!(seqs, (1..=8).collect::<Vec<u64>>());
    assert_eq!(
        counts,
        (1..=8).collect::<Vec<i64>>(),
        "each sees the others' counts"
    );
    let inbox = store.read_inbox(room, who, 0, 100).await.unwrap();
    assert_eq!(inbox.len(), 8);
    let loaded = store.load_room(room).await.unwrap().unwrap();
    assert_eq!(loaded.counts, vec![("room.m".to_string(), 8)]);
}

/// A ceiling on a counter refuses the commit that would pass it, and
/// writes nothing of it; a commit returns its counters as they now stand.
pub async fn ceilings_refuse_a_commit_past_them(store: Arc<dyn Store>) {
    let room = new_room(&*store).await;
    let who = Uuid::new_v4();
    let add = |expect_version, by: i64| Commit {
        expect_version,
        reads: Some(Vec::new()),
        puts: vec![(format!("m:{expect_version}"), b"x".to_vec())],
        deliveries: vec![(who, b"x".to_vec())],
        counts: vec![("room.b".into(), by), ("p.b".into(), 1)],
        limits: vec![("room.b".into(), 10), ("other".into(), 5)],
        ..Commit::default()
    };
    match store.commit(room, add(1, 4)).await.unwrap() {
        CommitOutcome::Committed { counts, .. } => assert_eq!(counts, vec![4, 1]),
        CommitOutcome::Conflict => panic!("within the ceiling"),
    }
    // Read at version 1 (4 bytes ago): reaching the ceiling exactly is allowed.
    match store.commit(room, add(1, 6)).await.unwrap() {
        CommitOutcome::Committed { counts, .. } => assert_eq!(counts, vec![10, 2]),
        CommitOutcome::Conflict => panic!("at the ceiling"),
    }
    assert_eq!(
        store.commit(room, add(3, 1)).await.unwrap(),
        CommitOutcome::Conflict,
        "one past the ceiling"
    );
    // Refused on its last counter: the counters before it, one of them
    // new, are as they were.
    let past_last = Commit {
        counts: vec![("p.b".into(), 1), ("fresh".into(), 6), ("room.b".into(), 1)],
        ..add(3, 1)
    };
    assert_eq!(
        store.commit(room, past_last).await.unwrap(),
        CommitOutcome::Conflict,
        "one past the ceiling, on the last counter"
    );
    let loaded = store.load_room(room).await.unwrap().unwrap();
    assert_eq!(loaded.version, 3);
    let mut counts = loaded.counts;
    counts.sort();
    assert_eq!(
        counts,
        vec![("p.b".to_string(), 2), ("room.b".to_string(), 10)]
    );
    assert_eq!(store.inbox_head(room, who).await.unwrap(), 2);
    assert_eq!(
        store.get_objects(room, &["m:3".into()]).await.unwrap(),
        vec![None]
    );
    // A ceiling holds whatever the sign of the increment.
    let lower = Commit {
        counts: vec![("room.b".into(), -3)],
        limits: vec![("room.b".into(), 0)],
        ..Commit::default()
    };
    assert_eq!(
        store
            .commit(
                room,
                Commit {
                    expect_version: 3,
                    ..lower
                }
            )
            .await
            .unwrap(),
        CommitOutcome::Conflict,
        "below its old value, but still over the ceiling"
    );
}

pub async fn seqs_increase_by_one_per_inbox(store: Arc<dyn Store>) {
    let room = new_room(&*store).await;
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let commit = deliver(
        1,
        vec![
            (a, b"a1".to_vec()),
            (b, b"b1".to_vec()),
            (a, b"a2".to_vec()),
        ],
    );
    assert_eq!(
        committed(store.commit(room, commit).await.unwrap()),
        (2, vec![1, 1, 2])
    );
    let commit = deliver(2, vec![(b, b"b2".to_vec()), (a, b"a3".to_vec())]);
    assert_eq!(
        committed(store.commit(room, commit).await.unwrap()),
        (3, vec![2, 3])
    );
    assert_eq!(store.inbox_head(room, a).await.unwrap(), 3);
    assert_eq!(store.inbox_head(room, b).await.unwrap(), 2);
    assert_eq!(
        store.read_inbox(room, a, 0, 10).await.unwrap(),
        vec![
            (1, b"a1".to_vec()),
            (2, b"a2".to_vec()),
            (3, b"a3".to_vec())
        ]
    );
    assert_eq!(
        store.read_inbox(room, b, 0, 10).await.unwrap(),
        vec![(1, b"b1".to_vec()), (2, b"b2".to_vec())]
    );
}

pub async fn read_inbox_honours_after_and_limit(store: Arc<dyn Store>) {
    let room = new_room(&*store).await;
    let (who, other) = (Uuid::new_v4(), Uuid::new_v4());
    let events: Vec<Vec<u8>> = (1..=5u8).map(|i| vec![b'e', i]).collect();
    let commit = deliver(1, events[..3].iter().map(|e| (who, e.clone())).collect());
    committed(store.commit(room, commit).await.unwrap());
    let commit = deliver(2, events[3..].iter().map(|e| (who, e.clone())).collect());
    committed(store.commit(room, commit).await.unwrap());

    let seqs = |entries: Vec<(u64, Vec<u8>)>| {
        for (seq, payload) in &entries {
            assert_eq!(payload, &events[*seq as usize - 1]);
        }
        entries.into_iter().map(|(seq, _)| seq).collect::<Vec<_>>()
    };
    let read = |after, limit| store.read_inbox(room, who, after, limit);
    assert_eq!(seqs(read(0, 100).await.unwrap()), vec![1, 2, 3, 4, 5]);
    assert_eq!(seqs(read(2, 100).await.unwrap()), vec![3, 4, 5]);
    assert_eq!(seqs(read(0, 2).await.unwrap()), vec![1, 2]);
    assert_eq!(seqs(read(3, 1).await.unwrap()), vec![4]);
    assert_eq!(seqs(read(4, 1).await.unwrap()), vec![5]);
    assert!(read(5, 10).await.unwrap().is_empty());
    assert!(read(500, 10).await.unwrap().is_empty());
    assert!(read(u64::MAX, 10).await.unwrap().is_empty());
    assert!(read(0, 0).await.unwrap().is_empty());
    assert!(store
        .read_inbox(room, other, 0, 10)
        .await
        .unwrap()
        .is_empty());
}

pub async fn stored_values_are_binary_safe(store: Arc<dyn Store>) {
    let room = Uuid::new_v4();
    let who = Uuid::new_v4();
    for (i, value) in awkward_payloads().into_iter().enumerate() {
        store
            .put_account(&format!("user{i}"), value.clone())
            .await
            .unwrap();
        assert_eq!(
            store.get_account(&format!("user{i}")).await.unwrap(),
            Some(value.clone())
        );
        if i == 0 {
            assert!(store
                .create_room(room, value.clone(), in_an_hour())
                .await
                .unwrap());
        }
        let version = i as u64 + 1;
        let commit = Commit {
            reads: None,
            limits: Vec::new(),
            expect_version: version,
            doc: Some(value.clone()),
            puts: vec![(format!("o:{i}"), value.clone())],
            deliveries: vec![(who, value.clone())],
            counts: Vec::new(),
            plain: Vec::new(),
        };
        assert_eq!(
            committed(store.commit(room, commit).await.unwrap()),
            (version + 1, vec![version])
        );
        assert_eq!(store.load_room(room).await.unwrap().unwrap().doc, value);
        assert_eq!(
            store.get_objects(room, &[format!("o:{i}")]).await.unwrap(),
            vec![Some(value.clone())]
        );
        assert_eq!(
            store.read_inbox(room, who, version - 1, 1).await.unwrap(),
            vec![(version, value.clone())]
        );
        store
            .put_invite(room, &format!("c{i}"), value.clone())
            .await
            .unwrap();
        assert_eq!(
            store.take_invite(room, &format!("c{i}")).await.unwrap(),
            InviteTake::Taken(value)
        );
    }
}

pub async fn invites_are_single_use(store: Arc<dyn Store>) {
    let room = new_room(&*store).await;
    // Values that look like the Redis store's own markers.
    for (code, value) in [("c1", &b"-"[..]), ("c2", b"+v"), ("c3", b"")] {
        store.put_invite(room, code, value.to_vec()).await.unwrap();
        assert_eq!(
            store.take_invite(room, code).await.unwrap(),
            InviteTake::Taken(value.to_vec())
        );
        assert_eq!(
            store.take_invite(room, code).await.unwrap(),
            InviteTake::AlreadyUsed
        );
        assert_eq!(
            store.take_invite(room, code).await.unwrap(),
            InviteTake::AlreadyUsed
        );
    }
    assert_eq!(
        store.take_invite(room, "never").await.unwrap(),
        InviteTake::Unknown
    );
    // A code is scoped to its room.
    store.put_invite(room, "c4", b"v".to_vec()).await.unwrap();
    let other = new_room(&*store).await;
    assert_eq!(
        store.take_invite(other, "c4").await.unwrap(),
        InviteTake::Unknown
    );
    // An invite to a room that does not exist is not kept.
    let missing = Uuid::new_v4();
    store
        .put_invite(missing, "c5", b"v".to_vec())
        .await
        .unwrap();
    assert_eq!(
        store.take_invite(missing, "c5").await.unwrap(),
        InviteTake::Unknown
    );
}

pub async fn concurrent_takes_spend_an_invite_once(store: Arc<dyn Store>) {
    let room = new_room(&*store).await;
    store.put_invite(room, "code", b"v".to_vec()).await.unwrap();
    let takers: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.take_invite(room, "code").await })
        })
        .collect();
    let mut taken = 0;
    for taker in takers {
        match taker.await.unwrap().unwrap() {
            InviteTake::Taken(value) => {
                assert_eq!(value, b"v");
                taken += 1;
            }
            InviteTake::AlreadyUsed => {}
            InviteTake::Unknown => panic!("a valid code read as unknown"),
        }
    }
    assert_eq!(taken, 1);
}

pub async fn delete_room_removes_everything_and_announces_it(store: Arc<dyn Store>) {
    let (room, kept) = (new_room(&*store).await, new_room(&*store).await);
    let who = Uuid::new_v4();
    for r in [room, kept] {
        let commit = Commit {
            reads: None,
            limits: Vec::new(),
            expect_version: 1,
            doc: Some(b"doc 2".to_vec()),
            puts: vec![("m:1".into(), b"one".to_vec())],
            deliveries: vec![(who, b"e1".to_vec())],
            counts: Vec::new(),
            plain: Vec::new(),
        };
        committed(store.commit(r, commit).await.unwrap());
        store.put_invite(r, "live", b"v".to_vec()).await.unwrap();
        store.put_invite(r, "spent", b"v".to_vec()).await.unwrap();
        store.take_invite(r, "spent").await.unwrap();
    }
    let mut rx = store.notifications();
    store.watch(room).await.unwrap();

    assert!(store.delete_room(room).await.unwrap());
    assert_eq!(next(&mut rx).await, Notification::RoomDeleted { room });

    assert_eq!(store.load_room(room).await.unwrap(), None);
    assert!(!store.list_rooms().await.unwrap().contains(&room));
    assert_eq!(
        store.get_objects(room, &["m:1".into()]).await.unwrap(),
        vec![None]
    );
    assert!(store.read_inbox(room, who, 0, 10).await.unwrap().is_empty());
    assert_eq!(store.inbox_head(room, who).await.unwrap(), 0);
    for code in ["live", "spent"] {
        assert_eq!(
            store.take_invite(room, code).await.unwrap(),
            InviteTake::Unknown
        );
    }
    assert_eq!(
        store
            .commit(room, deliver(2, vec![(who, b"late".to_vec())]))
            .await
            .unwrap(),
        CommitOutcome::Conflict
    );

    // A second delete finds nothing and announces nothing.
    assert!(!store.delete_room(room).await.unwrap());
    store.signal(room, b"after".to_vec()).await.unwrap();
    assert_eq!(
        next(&mut rx).await,
        Notification::Signal {
            room,
            payload: b"after".to_vec()
        }
    );

    // The other room is untouched.
    assert_eq!(store.load_room(kept).await.unwrap().unwrap().version, 2);
    assert_eq!(store.inbox_head(kept, who).await.unwrap(), 1);
    assert_eq!(
        store.take_invite(kept, "live").await.unwrap(),
        InviteTake::Taken(b"v".to_vec())
    );

    // The id can be used again, from scratch.
    assert!(store
        .create_room(room, b"new".to_vec(), in_an_hour())
        .await
        .unwrap());
    assert_eq!(store.load_room(room).await.unwrap().unwrap().version, 1);
    assert_eq!(
        committed(
            store
                .commit(room, deliver(1, vec![(who, b"x".to_vec())]))
                .await
                .unwrap()
        ),
        (2, vec![1])
    );
}

pub async fn watched_commits_are_announced_in_order_with_exact_bytes(store: Arc<dyn Store>) {
    let room = new_room(&*store).await;
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let mut rx = store.notifications();
    store.watch(room).await.unwrap();

    let payloads = awkward_payloads();
    let mut version = 1;
    let mut expected = Vec::new();
    for (i, payload) in payloads.iter().enumerate() {
        let seq = i as u64 + 1;
        // The plaintext beside each payload reaches this process's
        // listeners only from a store that announces commits itself.
        let plain: Vec<Arc<str>> = vec![format!("a{i}").into(), format!("b{i}").into()];
        let commit = Commit {
            plain: plain.clone(),
            ..deliver(version, vec![(a, payload.clone()), (b, payload.clone())])
        };
        let (v, seqs) = committed(store.commit(room, commit).await.unwrap());
        assert_eq!(seqs, vec![seq, seq]);
        version = v;
        let kept = |j: usize| store.announces_in_process().then(|| plain[j].clone());
        expected.push(Notification::Delivered {
            room,
            deliveries: vec![
                Delivery {
                    participant: a,
                    seq,
                    payload: payload.clone(),
                    plain: kept(0),
                },
                Delivery {
                    participant: b,
                    seq,
                    payload: payload.clone(),
                    plain: kept(1),
                },
            ],
        });
        // A commit without deliveries is not announced.
        let quiet = Commit {
            expect_version: version,
            doc: Some(b"quiet".to_vec()),
            ..Commit::default()
        };
        version = committed(store.commit(room, quiet).await.unwrap()).0;
    }
    store.signal(room, b"end".to_vec()).await.unwrap();
    expected.push(Notification::Signal {
        room,
        payload: b"end".to_vec(),
    });
    for want in expected {
        assert_eq!(next(&mut rx).await, want);
    }
}

pub async fn signals_reach_watchers_with_exact_bytes(store: Arc<dyn Store>) {
    let room = new_room(&*store).await;
    let mut rx = store.notifications();
    store.watch(room).await.unwrap();
    for payload in awkward_payloads() {
        store.signal(room, payload.clone()).await.unwrap();
        assert_eq!(next(&mut rx).await, Notification::Signal { room, payload });
    }
}

pub async fn notifications_name_their_room(store: Arc<dyn Store>) {
    let (r1, r2) = (new_room(&*store).await, new_room(&*store).await);
    let who = Uuid::new_v4();
    let mut rx = store.notifications();
    store.watch(r1).await.unwrap();
    store.watch(r2).await.unwrap();
    let mut versions = [1, 1];
    for (i, room) in [r1, r2, r1].into_iter().enumerate() {
        let slot = usize::from(room == r2);
        let commit = deliver(versions[slot], vec![(who, vec![i as u8])]);
        versions[slot] = committed(store.commit(room, commit).await.unwrap()).0;
    }
    let rooms: Vec<RoomId> = [
        next(&mut rx).await,
        next(&mut rx).await,
        next(&mut rx).await,
    ]
    .iter()
    .map(Notification::room)
    .collect();
    assert_eq!(rooms, vec![r1, r2, r1]);
}

pub async fn rooms_expire_with_everything_in_them(store: Arc<dyn Store>) {
    let (room, kept) = (Uuid::new_v4(), new_room(&*store).await);
    let who = Uuid::new_v4();
    let expire_at = now_ms() + 3_000;
    assert!(store
        .create_room(room, b"doc".to_vec(), expire_at)
        .await
        .unwrap());
    let commit = Commit {
        expect_version: 1,
        puts: vec![("m:1".into(), b"one".to_vec())],
        deliveries: vec![(who, b"e1".to_vec())],
        ..Commit::default()
    };
    committed(store.commit(room, commit).await.unwrap());
    store.put_invite(room, "code", b"v".to_vec()).await.unwrap();
    assert!(store.list_rooms().await.unwrap().contains(&room));

    let wait = expire_at - now_ms() + 300;
    tokio::time::sleep(Duration::from_millis(wait.max(0) as u64)).await;

    assert_eq!(store.load_room(room).await.unwrap(), None);
    assert_eq!(store.list_rooms().await.unwrap(), vec![kept]);
    assert_eq!(
        store.get_objects(room, &["m:1".into()]).await.unwrap(),
        vec![None]
    );
    assert!(store.read_inbox(room, who, 0, 10).await.unwrap().is_empty());
    assert_eq!(store.inbox_head(room, who).await.unwrap(), 0);
    assert_eq!(
        store.take_invite(room, "code").await.unwrap(),
        InviteTake::Unknown
    );
    assert_eq!(
        store.commit(room, deliver(2, vec![])).await.unwrap(),
        CommitOutcome::Conflict
    );

    // A room created already expired is never visible.
    let stillborn = Uuid::new_v4();
    store
        .create_room(stillborn, b"doc".to_vec(), now_ms() - 1)
        .await
        .unwrap();
    assert_eq!(store.load_room(stillborn).await.unwrap(), None);
    assert_eq!(store.list_rooms().await.unwrap(), vec![kept]);
}
