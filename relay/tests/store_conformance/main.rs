//! One conformance suite for every [`Store`]: the same tests run against the
//! embedded store and against Redis (each Redis test on its own private
//! `redis-server`). As in tower-sessions' store tests, a macro generates the
//! tests and each backend supplies only its constructor.
//!
//! `file_only` checks what only the file store can get wrong: data lost on
//! reopening, a deleted or expired room's bytes left in its files,
//! notifications of unwatched rooms, loose permissions; `file_log` what
//! its room logs can: replaced values left in older rows, the index
//! rebuilt wrongly on reopening, a version 1 directory converted wrongly.
//!
//! `redis_only` then checks what only Redis can get wrong: keys left behind
//! after deletion or expiry, the hash tag and expiry of every key, several
//! nodes on one Redis, outages and restarts.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use relay::store::file::FileStore;
use relay::store::memory::MemoryStore;
use relay::store::redis::{Durability, RedisOptions, RedisStore};
use relay::store::*;
use tokio::sync::mpsc::UnboundedReceiver;
use uuid::Uuid;

use caucus_testkit::{RedisCluster, RedisServer};

/// A store under test, and whatever must live as long as it.
struct Harness {
    store: Arc<dyn Store>,
    _server: Option<RedisServer>,
    /// The file store's directory, removed after the store is dropped.
    _dir: Option<tempfile::TempDir>,
}

/// Generates one `#[tokio::test]` per function of [`suite`], each on a fresh
/// store from `$new_store` (an expression evaluating to a `Future<Output =
/// Harness>`).
macro_rules! store_conformance {
    ($new_store:expr) => {
        store_conformance!(@list @tests $new_store;);
    };
    // One test that runs the whole suite in turn, each function on a fresh
    // store from `$new_store`, which may use `$shared` (made once by
    // `$setup`): for a backend too costly to start once per test.
    (one test, $shared:ident = $setup:expr => $new_store:expr) => {
        store_conformance!(@list @one $new_store; $shared = $setup);
    };
    (@list @$how:ident $new_store:expr; $($extra:tt)*) => {
        store_conformance!(@$how $new_store; $($extra)*;
            ping_answers,
            accounts_are_kept_by_username,
            list_accounts_gives_every_current_value_once,
            counters_accumulate_per_field,
            generations_start_at_zero_and_rise_one_at_a_time,
            create_room_starts_at_version_one_and_only_once,
            missing_room_reads_as_empty,
            list_rooms_lists_live_rooms,
            commit_applies_doc_and_objects_and_bumps_version,
            commits_add_to_room_counters_beside_the_doc,
            stale_commit_conflicts_and_writes_nothing,
            concurrent_commits_on_one_version_let_exactly_one_win,
            commits_conflict_only_on_what_they_read,
            concurrent_commits_with_disjoint_reads_all_win_gaplessly,
            ceilings_refuse_a_commit_past_them,
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
    (@tests $new_store:expr; ; $($test:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                let harness: Harness = $new_store.await;
                crate::suite::$test(harness.store.clone()).await;
            }
        )*
    };
    (@one $new_store:expr; $shared:ident = $setup:expr; $($test:ident),* $(,)?) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn the_whole_suite() {
            let $shared = $setup;
            $(
                let harness: Harness = $new_store.await;
                crate::suite::$test(harness.store.clone()).await;
                drop(harness);
            )*
        }
    };
}

mod memory {
    use super::*;

    store_conformance!(async {
        Harness {
            store: Arc::new(MemoryStore::new()),
            _server: None,
            _dir: None,
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
            _dir: None,
        }
    });
}

/// The suite on a Redis Cluster (three primaries with a replica each),
/// started once: each suite function gets a store with a key prefix of its
/// own, so they cannot see each other's keys.
mod cluster {
    use super::*;

    store_conformance!(one test, cluster = tokio::task::spawn_blocking(RedisCluster::start)
    .await
    .expect("start the cluster")
    => async {
        let options = RedisOptions {
            cluster: true,
            ..RedisOptions::default()
        };
        let store = RedisStore::open(&cluster.url(), &options, &random_prefix(), Uuid::new_v4())
            .await
            .expect("connect to the test cluster");
        Harness {
            store: Arc::new(store),
            _server: None,
            _dir: None,
        }
    });
}

mod file {
    use super::*;

    store_conformance!(async {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = FileStore::open(dir.path()).expect("open the file store");
        Harness {
            store: Arc::new(store),
            _server: None,
            _dir: Some(dir),
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
        CommitOutcome::Committed { version, seqs, .. } => (version, seqs),
        CommitOutcome::Conflict => panic!("unexpected conflict"),
    }
}

/// One delivery to `who`, as a store's listeners get it from a commit
/// that kept no plaintext (or from another node).
fn heard_one(room: RoomId, who: ParticipantId, seq: u64, payload: &[u8]) -> Notification {
    Notification::Delivered {
        room,
        deliveries: vec![Delivery {
            participant: who,
            seq,
            payload: payload.to_vec(),
            plain: None,
        }],
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

mod file_log;
mod file_only;
mod redis_counters;
mod redis_only;
mod suite;
