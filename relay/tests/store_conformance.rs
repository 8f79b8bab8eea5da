//! One conformance suite for every [`Store`]: the same tests run against the
//! embedded store and against Redis (each Redis test on its own private
//! `redis-server`). As in tower-sessions' store tests, a macro generates the
//! tests and each backend supplies only its constructor.
//!
//! `redis_only` then checks what only Redis can get wrong: keys left behind
//! after deletion or expiry, the hash tag and expiry of every key, several
//! nodes on one Redis, outages and restarts.

// Shared with the caucus-tests library (relay cannot depend on it: it depends
// on relay); this binary uses only part of it.
#[allow(dead_code)]
#[path = "../../tests/src/redis_server.rs"]
mod redis_server;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use relay::store::memory::MemoryStore;
use relay::store::redis::RedisStore;
use relay::store::*;
use tokio::sync::mpsc::UnboundedReceiver;
use uuid::Uuid;

use redis_server::RedisServer;

/// A store under test, and whatever must live as long as it.
struct Harness {
    store: Arc<dyn Store>,
    _server: Option<RedisServer>,
}

/// Generates one `#[tokio::test]` per function of [`suite`], each on a fresh
/// store from `$new_store` (an expression evaluating to a `Future<Output =
/// Harness>`).
macro_rules! store_conformance {
    ($new_store:expr) => {
        store_conformance!(@tests $new_store;
            ping_answers,
            accounts_are_kept_by_username,
            counters_accumulate_per_field,
            generations_start_at_zero_and_rise_one_at_a_time,
            create_room_starts_at_version_one_and_only_once,
            missing_room_reads_as_empty,
            list_rooms_lists_live_rooms,
            commit_applies_doc_and_objects_and_bumps_version,
            stale_commit_conflicts_and_writes_nothing,
            concurrent_commits_on_one_version_let_exactly_one_win,
            seqs_increase_by_one_per_inbox,
            read_inbox_honours_after_and_limit,
            stored_values_are_binary_safe,
            invites_are_single_use,
            concurrent_takes_spend_an_invite_once,
            delete_room_removes_everything_and_announces_it,
            watched_commits_are_announced_in_order_with_exact_bytes,
            signals_reach_watchers_with_exact_bytes,
            notifications_name_their_room,
            rooms_expire_with_everything_in_them,
        );
    };
    (@tests $new_store:expr; $($test:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                let harness: Harness = $new_store.await;
                crate::suite::$test(harness.store.clone()).await;
            }
        )*
    };
}

mod memory {
    use super::*;

    store_conformance!(async {
        Harness {
            store: Arc::new(MemoryStore::new()),
            _server: None,
        }
    });
}

mod redis {
    use super::*;

    store_conformance!(async {
        let server = RedisServer::start();
        let store = connect(&server.url(), &random_prefix()).await;
        Harness {
            store: Arc::new(store),
            _server: Some(server),
        }
    });
}

// ---- helpers ----

const WAIT: Duration = Duration::from_secs(5);

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn in_an_hour() -> i64 {
    now_ms() + 3_600_000
}

fn random_prefix() -> String {
    format!("caucus-test-{}", Uuid::new_v4().simple())
}

async fn connect(url: &str, prefix: &str) -> RedisStore {
    RedisStore::connect(url, prefix, Uuid::new_v4())
        .await
        .expect("connect to the test redis-server")
}

async fn new_room(store: &dyn Store) -> RoomId {
    let room = Uuid::new_v4();
    assert!(store
        .create_room(room, b"doc".to_vec(), in_an_hour())
        .await
        .unwrap());
    room
}

fn deliver(expect_version: u64, deliveries: Vec<(ParticipantId, Vec<u8>)>) -> Commit {
    Commit {
        expect_version,
        deliveries,
        ..Commit::default()
    }
}

fn committed(outcome: CommitOutcome) -> (u64, Vec<u64>) {
    match outcome {
        CommitOutcome::Committed { version, seqs } => (version, seqs),
        CommitOutcome::Conflict => panic!("unexpected conflict"),
    }
}

async fn next(rx: &mut UnboundedReceiver<Notification>) -> Notification {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("a notification in time")
        .expect("notification stream open")
}

/// Payloads that break anything that is not binary safe.
fn awkward_payloads() -> Vec<Vec<u8>> {
    vec![
        Vec::new(),
        vec![0],
        b"\0\xff\xfe:12:+-\r\n".to_vec(),
        (0..=255).collect(),
        vec![0xab; 100_000],
    ]
}

// ---- the suite ----

mod suite {
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
                doc: b"first".to_vec()
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
            expect_version: 1,
            doc: Some(b"doc 2".to_vec()),
            puts: vec![
                ("m:1".into(), b"one".to_vec()),
                ("m:2".into(), b"\0two".to_vec()),
            ],
            deliveries: Vec::new(),
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
            };
            assert_eq!(
                store.commit(room, commit).await.unwrap(),
                CommitOutcome::Conflict
            );
        }
        let loaded = store.load_room(room).await.unwrap().unwrap();
        assert_eq!((loaded.version, loaded.doc), (2, b"doc".to_vec()));
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
                tokio::spawn(
                    async move { store.commit(room, deliver(1, vec![(who, vec![i])])).await },
                )
            })
            .collect();
        let mut wins = 0;
        for racer in racers {
            if let CommitOutcome::Committed { version, seqs } = racer.await.unwrap().unwrap() {
                assert_eq!((version, seqs), (2, vec![1]));
                wins += 1;
            }
        }
        assert_eq!(wins, 1);
        assert_eq!(store.load_room(room).await.unwrap().unwrap().version, 2);
        assert_eq!(store.inbox_head(room, who).await.unwrap(), 1);
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
                expect_version: version,
                doc: Some(value.clone()),
                puts: vec![(format!("o:{i}"), value.clone())],
                deliveries: vec![(who, value.clone())],
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
                expect_version: 1,
                doc: Some(b"doc 2".to_vec()),
                puts: vec![("m:1".into(), b"one".to_vec())],
                deliveries: vec![(who, b"e1".to_vec())],
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
            let commit = deliver(version, vec![(a, payload.clone()), (b, payload.clone())]);
            let (v, seqs) = committed(store.commit(room, commit).await.unwrap());
            assert_eq!(seqs, vec![seq, seq]);
            version = v;
            expected.push(Notification::Delivered {
                room,
                deliveries: vec![
                    Delivery {
                        participant: a,
                        seq,
                        payload: payload.clone(),
                    },
                    Delivery {
                        participant: b,
                        seq,
                        payload: payload.clone(),
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
}

// ---- Redis only ----

mod redis_only {
    use super::*;

    use ::redis::aio::MultiplexedConnection;

    async fn raw(server: &RedisServer) -> MultiplexedConnection {
        ::redis::Client::open(server.url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }

    /// Every key under the prefix, found the way the issue asks: with SCAN.
    async fn keys_under(conn: &mut MultiplexedConnection, prefix: &str) -> Vec<String> {
        let mut found = Vec::new();
        let mut cursor = 0u64;
        loop {
            let (next, keys): (u64, Vec<String>) = ::redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{prefix}*"))
                .query_async(conn)
                .await
                .unwrap();
            found.extend(keys);
            if next == 0 {
                return found;
            }
            cursor = next;
        }
    }

    /// A room with something in every kind of key: doc, objects, two
    /// inboxes, live and spent invites.
    async fn furnished_room(store: &RedisStore, expire_at: i64) -> RoomId {
        let room = Uuid::new_v4();
        assert!(store
            .create_room(room, b"doc".to_vec(), expire_at)
            .await
            .unwrap());
        let commit = Commit {
            expect_version: 1,
            doc: Some(b"doc 2".to_vec()),
            puts: vec![("m:1".into(), b"one".to_vec())],
            deliveries: vec![
                (Uuid::new_v4(), b"a".to_vec()),
                (Uuid::new_v4(), b"b".to_vec()),
            ],
        };
        committed(store.commit(room, commit).await.unwrap());
        store.put_invite(room, "live", b"v".to_vec()).await.unwrap();
        store
            .put_invite(room, "spent", b"v".to_vec())
            .await
            .unwrap();
        store.take_invite(room, "spent").await.unwrap();
        store.put_account("alice", b"a".to_vec()).await.unwrap();
        store.incr_counter("rooms", 1).await.unwrap();
        room
    }

    async fn fails_fast<T: std::fmt::Debug>(what: &str, op: impl Future<Output = StoreResult<T>>) {
        let started = Instant::now();
        let result = op.await;
        assert!(
            matches!(result, Err(StoreError::Unavailable(_))),
            "{what} while redis is down: {result:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{what} took {:?} to fail",
            started.elapsed()
        );
    }

    /// Signal `room` until a signal comes back, then drain to a marker, so
    /// that late probes do not confuse what the test expects next.
    async fn await_subscription(
        store: &RedisStore,
        rx: &mut UnboundedReceiver<Notification>,
        room: RoomId,
    ) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            assert!(Instant::now() < deadline, "notifications did not come back");
            if store.signal(room, b"probe".to_vec()).await.is_ok()
                && tokio::time::timeout(Duration::from_millis(200), rx.recv())
                    .await
                    .is_ok()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let marker = Uuid::new_v4().as_bytes().to_vec();
        store.signal(room, marker.clone()).await.unwrap();
        while next(rx).await
            != (Notification::Signal {
                room,
                payload: marker.clone(),
            })
        {}
    }

    async fn eventually_ping(store: &RedisStore) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while store.ping().await.is_err() {
            assert!(Instant::now() < deadline, "store did not recover");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    #[tokio::test]
    async fn deleted_room_leaves_no_key() {
        let server = RedisServer::start();
        let prefix = random_prefix();
        let store = connect(&server.url(), &prefix).await;
        let (room, kept) = (
            furnished_room(&store, in_an_hour()).await,
            furnished_room(&store, in_an_hour()).await,
        );
        let mut conn = raw(&server).await;
        let before = keys_under(&mut conn, &prefix).await;
        assert_eq!(
            before
                .iter()
                .filter(|k| k.contains(&room.to_string()))
                .count(),
            5,
            "{before:?}"
        );

        assert!(store.delete_room(room).await.unwrap());

        let after = keys_under(&mut conn, &prefix).await;
        assert!(
            !after.iter().any(|k| k.contains(&room.to_string())),
            "{after:?}"
        );
        assert_eq!(
            after
                .iter()
                .filter(|k| k.contains(&kept.to_string()))
                .count(),
            5
        );
        assert!(after.contains(&format!("{prefix}:accounts")));
        assert!(after.contains(&format!("{prefix}:counters")));
    }

    #[tokio::test]
    async fn room_keys_share_the_hash_tag_and_the_expiry() {
        let server = RedisServer::start();
        let prefix = random_prefix();
        let store = connect(&server.url(), &prefix).await;
        let expire_at = in_an_hour();
        let room = furnished_room(&store, expire_at).await;
        let mut conn = raw(&server).await;
        for key in keys_under(&mut conn, &prefix).await {
            let expiry: i64 = ::redis::cmd("PEXPIRETIME")
                .arg(&key)
                .query_async(&mut conn)
                .await
                .unwrap();
            if key.contains(&room.to_string()) {
                assert!(key.starts_with(&format!("{prefix}:{{{room}}}:")), "{key}");
                assert_eq!(expiry, expire_at, "{key}");
            } else {
                // Global keys (accounts, counters) never expire.
                assert_eq!(expiry, -1, "{key}");
            }
        }
    }

    #[tokio::test]
    async fn expired_room_leaves_no_key() {
        let server = RedisServer::start();
        let prefix = random_prefix();
        let store = connect(&server.url(), &prefix).await;
        let expire_at = now_ms() + 3_000;
        let room = furnished_room(&store, expire_at).await;
        let mut conn = raw(&server).await;
        assert!(keys_under(&mut conn, &prefix)
            .await
            .iter()
            .any(|k| k.contains(&room.to_string())));

        tokio::time::sleep(Duration::from_millis(
            (expire_at - now_ms() + 300).max(0) as u64
        ))
        .await;

        let left = keys_under(&mut conn, &prefix).await;
        assert!(
            !left.iter().any(|k| k.contains(&room.to_string())),
            "{left:?}"
        );
    }

    #[tokio::test]
    async fn glob_characters_in_the_prefix_match_literally() {
        let server = RedisServer::start();
        let base = random_prefix();
        let starred = connect(&server.url(), &format!("{base}*")).await;
        let plain = connect(&server.url(), &format!("{base}x")).await;
        let room = Uuid::new_v4();
        for store in [&starred, &plain] {
            assert!(store
                .create_room(room, b"doc".to_vec(), in_an_hour())
                .await
                .unwrap());
        }
        let only_plain = new_room(&plain).await;
        assert_eq!(starred.list_rooms().await.unwrap(), vec![room]);
        assert!(starred.delete_room(room).await.unwrap());
        assert!(plain.load_room(room).await.unwrap().is_some());
        assert!(plain.load_room(only_plain).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn braces_in_the_prefix_are_refused() {
        let server = RedisServer::start();
        assert!(
            RedisStore::connect(&server.url(), "caucus{x}", Uuid::new_v4())
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn connects_over_a_unix_socket() {
        let server = RedisServer::start();
        let unix = format!("unix://{}", server.socket_path().display());
        for url in [server.unix_url(), unix] {
            let store = connect(&url, &random_prefix()).await;
            let room = new_room(&store).await;
            assert_eq!(store.load_room(room).await.unwrap().unwrap().version, 1);
        }
    }

    #[tokio::test]
    async fn other_nodes_hear_only_the_rooms_they_watch() {
        let server = RedisServer::start();
        let prefix = random_prefix();
        let (writer, reader) = (
            connect(&server.url(), &prefix).await,
            connect(&server.url(), &prefix).await,
        );
        let (room, quiet) = (new_room(&writer).await, new_room(&writer).await);
        let who = Uuid::new_v4();
        let mut heard_by_writer = writer.notifications();
        let mut heard = reader.notifications();
        reader.watch(room).await.unwrap();
        reader.watch(quiet).await.unwrap();
        reader.unwatch(quiet).await.unwrap();

        writer.signal(quiet, b"unheard".to_vec()).await.unwrap();
        committed(
            writer
                .commit(quiet, deliver(1, vec![(who, b"unheard".to_vec())]))
                .await
                .unwrap(),
        );
        let seqs = committed(
            writer
                .commit(room, deliver(1, vec![(who, b"\0e".to_vec())]))
                .await
                .unwrap(),
        )
        .1;
        writer.signal(room, b"s".to_vec()).await.unwrap();
        assert!(writer.delete_room(room).await.unwrap());

        assert_eq!(
            next(&mut heard).await,
            Notification::Delivered {
                room,
                deliveries: vec![Delivery {
                    participant: who,
                    seq: seqs[0],
                    payload: b"\0e".to_vec()
                }],
            }
        );
        assert_eq!(
            next(&mut heard).await,
            Notification::Signal {
                room,
                payload: b"s".to_vec()
            }
        );
        assert_eq!(next(&mut heard).await, Notification::RoomDeleted { room });
        // The writer watches nothing, so it hears nothing.
        assert!(heard_by_writer.try_recv().is_err());
    }

    #[tokio::test]
    async fn connecting_to_a_stopped_server_fails_fast() {
        let mut server = RedisServer::start();
        server.kill();
        let url = server.url();
        let connecting = async {
            let store = RedisStore::connect(&url, &random_prefix(), Uuid::new_v4()).await;
            store.map(drop)
        };
        fails_fast("connect", connecting).await;
    }

    /// Redis stopped under a running store: every operation fails fast with
    /// `Unavailable`; started again (empty, no persistence), the same store
    /// serves again and notifications of rooms watched before come back.
    #[tokio::test]
    async fn outage_fails_fast_and_the_store_recovers_by_itself() {
        let mut server = RedisServer::start();
        let store = connect(&server.url(), &random_prefix()).await;
        let mut rx = store.notifications();
        let room = new_room(&store).await;
        let who = Uuid::new_v4();
        store.watch(room).await.unwrap();

        server.terminate();
        fails_fast("ping", store.ping()).await;
        fails_fast("load_room", store.load_room(room)).await;
        fails_fast(
            "create_room",
            store.create_room(Uuid::new_v4(), vec![], in_an_hour()),
        )
        .await;
        fails_fast(
            "commit",
            store.commit(room, deliver(1, vec![(who, b"x".to_vec())])),
        )
        .await;
        fails_fast("read_inbox", store.read_inbox(room, who, 0, 10)).await;
        fails_fast("list_rooms", store.list_rooms()).await;
        fails_fast("take_invite", store.take_invite(room, "code")).await;
        fails_fast("delete_room", store.delete_room(room)).await;
        fails_fast("signal", store.signal(room, b"x".to_vec())).await;
        fails_fast("watch", store.watch(Uuid::new_v4())).await;
        fails_fast("counters", store.counters()).await;

        server.restart();
        eventually_ping(&store).await;
        // The room was watched before the outage; nobody watched it again.
        await_subscription(&store, &mut rx, room).await;

        assert!(store
            .create_room(room, b"doc".to_vec(), in_an_hour())
            .await
            .unwrap());
        let seqs = committed(
            store
                .commit(room, deliver(1, vec![(who, b"after".to_vec())]))
                .await
                .unwrap(),
        )
        .1;
        assert_eq!(
            next(&mut rx).await,
            Notification::Delivered {
                room,
                deliveries: vec![Delivery {
                    participant: who,
                    seq: seqs[0],
                    payload: b"after".to_vec()
                }],
            }
        );
        let fresh = new_room(&store).await;
        store.watch(fresh).await.unwrap();
        store.signal(fresh, b"fresh".to_vec()).await.unwrap();
        assert_eq!(
            next(&mut rx).await,
            Notification::Signal {
                room: fresh,
                payload: b"fresh".to_vec()
            }
        );
    }

    /// With `appendfsync always`, what a commit acknowledged survives a
    /// SIGKILL of Redis, and the same store carries on afterwards.
    #[tokio::test]
    async fn acknowledged_commits_survive_a_redis_kill() {
        let mut server = RedisServer::start_durable();
        let store = connect(&server.url(), &random_prefix()).await;
        let mut rx = store.notifications();
        let room = new_room(&store).await;
        let who = Uuid::new_v4();
        store.watch(room).await.unwrap();
        let commit = Commit {
            expect_version: 1,
            doc: Some(b"doc 2".to_vec()),
            puts: vec![("m:1".into(), b"one".to_vec())],
            deliveries: vec![(who, b"e1".to_vec()), (who, b"e2".to_vec())],
        };
        committed(store.commit(room, commit).await.unwrap());
        store.put_invite(room, "code", b"v".to_vec()).await.unwrap();
        next(&mut rx).await;

        server.kill();
        fails_fast("load_room", store.load_room(room)).await;
        server.restart();
        eventually_ping(&store).await;

        let loaded = store.load_room(room).await.unwrap().unwrap();
        assert_eq!((loaded.version, loaded.doc), (2, b"doc 2".to_vec()));
        assert_eq!(
            store.read_inbox(room, who, 0, 10).await.unwrap(),
            vec![(1, b"e1".to_vec()), (2, b"e2".to_vec())]
        );
        assert_eq!(
            store.take_invite(room, "code").await.unwrap(),
            InviteTake::Taken(b"v".to_vec())
        );
        await_subscription(&store, &mut rx, room).await;
        let seqs = committed(
            store
                .commit(room, deliver(2, vec![(who, b"e3".to_vec())]))
                .await
                .unwrap(),
        )
        .1;
        assert_eq!(seqs, vec![3]);
        assert_eq!(
            next(&mut rx).await,
            Notification::Delivered {
                room,
                deliveries: vec![Delivery {
                    participant: who,
                    seq: 3,
                    payload: b"e3".to_vec()
                }],
            }
        );
    }
}
