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
        reads: None,
        limits: Vec::new(),
        expect_version: 1,
        doc: Some(b"doc 2".to_vec()),
        puts: vec![("m:1".into(), b"one".to_vec())],
        deliveries: vec![
            (Uuid::new_v4(), b"a".to_vec()),
            (Uuid::new_v4(), b"b".to_vec()),
        ],
        counts: Vec::new(),
        plain: Vec::new(),
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
        6,
        "doc, objects, written, invites, two inboxes: {before:?}"
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
        6
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
        heard_one(room, who, seqs[0], b"\0e")
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
    assert_eq!(next(&mut rx).await, heard_one(room, who, seqs[0], b"after"));
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
        reads: None,
        limits: Vec::new(),
        expect_version: 1,
        doc: Some(b"doc 2".to_vec()),
        puts: vec![("m:1".into(), b"one".to_vec())],
        deliveries: vec![(who, b"e1".to_vec()), (who, b"e2".to_vec())],
        counts: Vec::new(),
        plain: Vec::new(),
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
    assert_eq!(next(&mut rx).await, heard_one(room, who, 3, b"e3"));
}

/// With a replication wait, a write is acknowledged only once a replica
/// holds it: refused (`Unavailable`) while the primary has none, accepted
/// once one is attached; a repeated read-only answer settles the same way.
#[tokio::test]
async fn writes_wait_for_the_replicas_asked_for() {
    let primary = RedisServer::start();
    let options = RedisOptions {
        durability: Durability {
            replicas: 1,
            timeout_ms: 200,
        },
        ..RedisOptions::default()
    };
    let prefix = random_prefix();
    let store = RedisStore::open(&primary.url(), &options, &prefix, Uuid::new_v4())
        .await
        .unwrap();
    let room = Uuid::new_v4();
    let refused = store.create_room(room, b"doc".to_vec(), in_an_hour()).await;
    assert!(
        matches!(&refused, Err(StoreError::Unavailable(why)) if why.contains("0 of 1")),
        "{refused:?}"
    );
    assert!(matches!(
        store.settle(room).await,
        Err(StoreError::Unavailable(_))
    ));

    let mut primary_conn = raw(&primary).await;
    // Start the first sync at once, not after the default 5 s delay.
    let _: () = ::redis::cmd("CONFIG")
        .arg("SET")
        .arg("repl-diskless-sync-delay")
        .arg(0)
        .query_async(&mut primary_conn)
        .await
        .unwrap();
    let replica = RedisServer::start();
    let mut replica_conn = raw(&replica).await;
    let _: () = ::redis::cmd("REPLICAOF")
        .arg("127.0.0.1")
        .arg(primary.port())
        .query_async(&mut replica_conn)
        .await
        .unwrap();
    let deadline = Instant::now() + WAIT * 4;
    loop {
        let info: String = ::redis::cmd("INFO")
            .arg("replication")
            .query_async(&mut primary_conn)
            .await
            .unwrap();
        if info.contains("connected_slaves:1") && info.contains(",state=online,") {
            break;
        }
        assert!(Instant::now() < deadline, "the replica never caught up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // After a sync the primary streams writes to the replica only from its
    // first `REPLCONF ACK`, sent once a second: until then a write is not
    // acknowledged in the store's 200 ms. A write made after the sync and
    // acknowledged shows the stream is on.
    loop {
        let _: () = ::redis::cmd("SET")
            .arg(format!("{prefix}:probe"))
            .arg(1)
            .query_async(&mut primary_conn)
            .await
            .unwrap();
        let acked: u64 = ::redis::cmd("WAIT")
            .arg(1)
            .arg(100)
            .query_async(&mut primary_conn)
            .await
            .unwrap();
        if acked == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "the replica never acknowledged");
    }
    // The refused write did happen on the primary; now it is replicated too.
    assert!(!store
        .create_room(room, b"doc".to_vec(), in_an_hour())
        .await
        .unwrap());
    let fresh = new_room(&store).await;
    committed(
        store
            .commit(fresh, deliver(1, vec![(Uuid::new_v4(), b"e".to_vec())]))
            .await
            .unwrap(),
    );
    store.settle(fresh).await.unwrap();
    // Acknowledged means on the replica.
    let on_replica: Option<String> = ::redis::cmd("HGET")
        .arg(format!("{prefix}:{{{fresh}}}:doc"))
        .arg("v")
        .query_async(&mut replica_conn)
        .await
        .unwrap();
    assert_eq!(on_replica.as_deref(), Some("2"));
}

/// Two nodes on one private Redis (under one key prefix), and a room
/// created through the first.
async fn two_nodes() -> (RedisServer, String, RedisStore, RedisStore, RoomId) {
    let server = RedisServer::start();
    let prefix = random_prefix();
    let (a, b) = (
        connect(&server.url(), &prefix).await,
        connect(&server.url(), &prefix).await,
    );
    let room = new_room(&a).await;
    (server, prefix, a, b, room)
}

/// A node hears its own commits from their replies; Redis publishes a
/// commit only while another node watches the room, and stops when it
/// leaves. A raw subscriber on the room's channel sees what is published.
#[tokio::test]
async fn a_commit_is_published_only_while_another_node_watches() {
    use futures_util::StreamExt;
    let (server, prefix, a, b, room) = two_nodes().await;
    let who = Uuid::new_v4();
    let (mut heard_a, mut heard_b) = (a.notifications(), b.notifications());
    let mut spy = ::redis::Client::open(server.url())
        .unwrap()
        .get_async_pubsub()
        .await
        .unwrap();
    spy.subscribe(format!("{prefix}:{{{room}}}:n"))
        .await
        .unwrap();
    let heard = |seq: u64, payload: &[u8]| heard_one(room, who, seq, payload);
    let quiet = Duration::from_millis(300);

    a.watch(room).await.unwrap();
    let (v, seqs) = committed(
        a.commit(room, deliver(1, vec![(who, b"alone".to_vec())]))
            .await
            .unwrap(),
    );
    assert_eq!(next(&mut heard_a).await, heard(seqs[0], b"alone"));
    assert!(
        tokio::time::timeout(quiet, spy.on_message().next())
            .await
            .is_err(),
        "published with no other node watching"
    );

    b.watch(room).await.unwrap();
    let (v, seqs) = committed(
        a.commit(room, deliver(v, vec![(who, b"shared".to_vec())]))
            .await
            .unwrap(),
    );
    assert_eq!(next(&mut heard_a).await, heard(seqs[0], b"shared"));
    assert_eq!(next(&mut heard_b).await, heard(seqs[0], b"shared"));
    let published = tokio::time::timeout(WAIT, spy.on_message().next())
        .await
        .expect("published while another node watches");
    assert!(published.is_some());
    assert!(
        tokio::time::timeout(quiet, heard_a.recv()).await.is_err(),
        "a node hears its own commit once"
    );

    b.unwatch(room).await.unwrap();
    committed(
        a.commit(room, deliver(v, vec![(who, b"alone again".to_vec())]))
            .await
            .unwrap(),
    );
    assert!(
        tokio::time::timeout(quiet, spy.on_message().next())
            .await
            .is_err(),
        "published after the other node left"
    );
}

/// A registration lost with Redis data (here deleted by hand) is made
/// again when the pub/sub connection is, and the room is resynced again
/// then; from there other nodes' commits reach the node once more.
#[tokio::test]
async fn a_lost_watch_registration_is_made_again_with_the_subscription() {
    let (server, prefix, a, b, room) = two_nodes().await;
    let who = Uuid::new_v4();
    let mut heard_b = b.notifications();
    b.watch(room).await.unwrap();

    let mut conn = raw(&server).await;
    let _: i64 = ::redis::cmd("DEL")
        .arg(format!("{prefix}:{{{room}}}:nodes"))
        .query_async(&mut conn)
        .await
        .unwrap();
    let _: i64 = ::redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("pubsub")
        .query_async(&mut conn)
        .await
        .unwrap();
    // Once for the lost subscription, once for the lost registration.
    assert_eq!(next(&mut heard_b).await, Notification::Resync { room });
    assert_eq!(next(&mut heard_b).await, Notification::Resync { room });

    let seqs = committed(
        a.commit(room, deliver(1, vec![(who, b"after".to_vec())]))
            .await
            .unwrap(),
    )
    .1;
    assert_eq!(
        next(&mut heard_b).await,
        heard_one(room, who, seqs[0], b"after")
    );
}
