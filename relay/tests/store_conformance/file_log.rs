//! What the file store's room logs can get wrong: a replaced value left
//! readable in an older row, an index rebuilt wrongly after reopening, a
//! version 1 directory converted wrongly (or leaving old bytes behind).

use super::file_only::{files_containing, marker, open};
use super::*;

use std::path::Path;

use rusqlite::{params, Connection};

fn in_files(dir: &Path, needle: &[u8]) -> bool {
    !files_containing(dir, needle).is_empty()
}

/// Poll until `needle` has left every file of `dir` (the sweeper empties
/// the WAL about once a second).
async fn until_gone(dir: &Path, needle: &[u8], what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while in_files(dir, needle) {
        assert!(Instant::now() < deadline, "{what} is still on disk");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaced_values_leave_no_byte_in_any_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let room = Uuid::new_v4();
    let (doc1, v1, big1, code1) = (marker(), marker(), marker(), marker());
    assert!(store
        .create_room(room, doc1.clone(), in_an_hour())
        .await
        .unwrap());
    // One value small, one large enough for overflow pages.
    let mut big = vec![0x5a; 50_000];
    big[30_000..30_048].copy_from_slice(&big1);
    let first = Commit {
        expect_version: 1,
        puts: vec![("k".into(), v1.clone()), ("big".into(), big)],
        deliveries: vec![(Uuid::new_v4(), b"event".to_vec())],
        ..Commit::default()
    };
    committed(store.commit(room, first).await.unwrap());
    store.put_invite(room, "c", code1.clone()).await.unwrap();
    store.put_invite(room, "d", b"d".to_vec()).await.unwrap();
    // Without this the test could not fail.
    for value in [&doc1, &v1, &big1, &code1] {
        assert!(in_files(dir.path(), value));
    }

    let (doc2, v2) = (marker(), marker());
    let second = Commit {
        expect_version: 2,
        doc: Some(doc2.clone()),
        puts: vec![("k".into(), v2.clone()), ("big".into(), b"small".to_vec())],
        ..Commit::default()
    };
    committed(store.commit(room, second).await.unwrap());
    store
        .put_invite(room, "c", b"again".to_vec())
        .await
        .unwrap();
    assert_eq!(
        store.take_invite(room, "d").await.unwrap(),
        InviteTake::Taken(b"d".to_vec())
    );

    until_gone(dir.path(), &v1, "a replaced object").await;
    until_gone(dir.path(), &big1, "a replaced large object").await;
    until_gone(dir.path(), &doc1, "a replaced doc").await;
    until_gone(dir.path(), &code1, "a replaced invite").await;
    assert!(in_files(dir.path(), &v2) && in_files(dir.path(), &doc2));
    let keys = ["k".to_string(), "big".to_string()];
    assert_eq!(
        store.get_objects(room, &keys).await.unwrap(),
        vec![Some(v2), Some(b"small".to_vec())]
    );
    assert_eq!(store.load_room(room).await.unwrap().unwrap().doc, doc2);
}

/// Everything a room holds, as read back through the store.
async fn snapshot(
    store: &FileStore,
    room: RoomId,
    keys: &[String],
    who: &[ParticipantId],
) -> (
    Option<Versioned>,
    Vec<Option<Vec<u8>>>,
    Vec<Vec<(u64, Vec<u8>)>>,
) {
    let mut loaded = store.load_room(room).await.unwrap();
    if let Some(loaded) = &mut loaded {
        loaded.counts.sort();
    }
    let objects = store.get_objects(room, keys).await.unwrap();
    let mut inboxes = Vec::new();
    for p in who {
        inboxes.push(store.read_inbox(room, *p, 0, 1_000).await.unwrap());
    }
    (loaded, objects, inboxes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_index_is_rebuilt_the_same_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let (room, a, b) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let keys: Vec<String> = (0..6).map(|i| format!("m:{i}")).collect();
    let before = {
        let store = open(dir.path());
        assert!(store
            .create_room(room, b"doc 1".to_vec(), in_an_hour())
            .await
            .unwrap());
        for version in 1..=40u64 {
            let i = version as usize;
            let commit = Commit {
                reads: None,
                limits: Vec::new(),
                expect_version: version,
                doc: (version % 7 == 0).then(|| format!("doc {version}").into_bytes()),
                puts: vec![(keys[i % 6].clone(), format!("v{version}").into_bytes())],
                deliveries: [(a, 1), (b, i % 3)]
                    .into_iter()
                    .flat_map(|(p, n)| std::iter::repeat_n(p, n))
                    .map(|p| (p, format!("e{version}").into_bytes()))
                    .collect(),
                counts: vec![("bytes".into(), 10), ("undo".into(), -(version as i64 % 2))],
                plain: Vec::new(),
            };
            committed(store.commit(room, commit).await.unwrap());
        }
        store.put_invite(room, "live", b"l".to_vec()).await.unwrap();
        store
            .put_invite(room, "spent", b"s".to_vec())
            .await
            .unwrap();
        store.take_invite(room, "spent").await.unwrap();
        snapshot(&store, room, &keys, &[a, b]).await
    };
    let loaded = before.0.as_ref().unwrap();
    assert_eq!(
        (loaded.version, loaded.doc.as_slice()),
        (41, &b"doc 35"[..])
    );
    assert_eq!(
        loaded.counts,
        vec![("bytes".to_string(), 400), ("undo".to_string(), -20)]
    );
    assert_eq!(before.1[0], Some(b"v36".to_vec()));
    assert_eq!(before.2[0].len(), 40);
    assert_eq!(before.2[1].len(), 40);

    let store = open(dir.path());
    assert_eq!(snapshot(&store, room, &keys, &[a, b]).await, before);
    assert_eq!(store.inbox_head(room, b).await.unwrap(), 40);
    assert_eq!(
        store.read_inbox(room, b, 38, 1).await.unwrap(),
        vec![(39, b"e38".to_vec())]
    );
    let commit = deliver(41, vec![(b, b"x".to_vec()), (a, b"y".to_vec())]);
    assert_eq!(
        committed(store.commit(room, commit).await.unwrap()),
        (42, vec![41, 41])
    );
    assert_eq!(
        store.take_invite(room, "live").await.unwrap(),
        InviteTake::Taken(b"l".to_vec())
    );
    assert_eq!(
        store.take_invite(room, "spent").await.unwrap(),
        InviteTake::AlreadyUsed
    );
}

/// The layout of schema version 1, as the relay before the logs wrote it.
const V1_SCHEMA: &str = "
CREATE TABLE rooms (n INTEGER PRIMARY KEY AUTOINCREMENT, id BLOB NOT NULL UNIQUE,
    version INTEGER NOT NULL, expire_at_ms INTEGER NOT NULL);
CREATE INDEX rooms_by_expiry ON rooms (expire_at_ms);
CREATE TABLE accounts (username TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE counters (field TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE generations (subject TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
PRAGMA user_version = 1;
";

/// Write a room the way version 1 did: its row in `rooms`, its table.
fn v1_room(conn: &Connection, room: RoomId, version: i64, rows: &[(i64, &[u8], i64, &[u8])]) {
    let n: i64 = conn
        .query_row(
            "INSERT INTO rooms (id, version, expire_at_ms) VALUES (?1, ?2, ?3) RETURNING n",
            params![room.as_bytes().as_slice(), version, in_an_hour()],
            |row| row.get(0),
        )
        .unwrap();
    conn.execute_batch(&format!(
        "CREATE TABLE room_{n} (kind INTEGER NOT NULL, a BLOB NOT NULL,
         seq INTEGER NOT NULL, v BLOB, PRIMARY KEY (kind, a, seq)) WITHOUT ROWID"
    ))
    .unwrap();
    let insert = format!("INSERT INTO room_{n} (kind, a, seq, v) VALUES (?1, ?2, ?3, ?4)");
    for (kind, a, seq, v) in rows {
        conn.execute(&insert, params![kind, a, seq, v]).unwrap();
    }
    conn.execute(
        &format!(
            "INSERT INTO room_{n} VALUES
            (3, CAST('spent' AS BLOB), 0, NULL), (4, CAST('bytes' AS BLOB), 0, 123)"
        ),
        [],
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_1_directory_is_converted_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let (room, gone) = (Uuid::new_v4(), Uuid::new_v4());
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let secret = marker();
    {
        let conn = Connection::open(dir.path().join("caucus.db")).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.execute_batch(V1_SCHEMA).unwrap();
        let (a, b) = (a.as_bytes().as_slice(), b.as_bytes().as_slice());
        v1_room(
            &conn,
            room,
            7,
            &[
                (0, b"", 0, b"doc"),
                (1, b"m:1", 0, b"\0one"),
                (1, b"m:2", 0, b"two"),
                (2, a, 1, b"a1"),
                (2, a, 2, b"a2"),
                (2, b, 1, b"b1"),
                (3, b"live", 0, b"invite"),
            ],
        );
        v1_room(&conn, gone, 2, &[(0, b"", 0, &secret), (2, a, 1, &secret)]);
        conn.execute("INSERT INTO accounts VALUES ('alice', x'00')", [])
            .unwrap();
        conn.execute("INSERT INTO counters VALUES ('rooms', 2)", [])
            .unwrap();
        conn.execute("INSERT INTO generations VALUES ('s', 3)", [])
            .unwrap();
    }
    assert!(in_files(dir.path(), &secret));

    let store = open(dir.path());
    let mut rooms = store.list_rooms().await.unwrap();
    rooms.sort();
    let mut expected = vec![room, gone];
    expected.sort();
    assert_eq!(rooms, expected);
    let loaded = store.load_room(room).await.unwrap().unwrap();
    assert_eq!(
        (loaded.version, loaded.doc, loaded.counts),
        (7, b"doc".to_vec(), vec![("bytes".to_string(), 123)])
    );
    let keys = ["m:1".to_string(), "m:2".to_string(), "m:3".to_string()];
    assert_eq!(
        store.get_objects(room, &keys).await.unwrap(),
        vec![Some(b"\0one".to_vec()), Some(b"two".to_vec()), None]
    );
    assert_eq!(
        store.read_inbox(room, a, 0, 10).await.unwrap(),
        vec![(1, b"a1".to_vec()), (2, b"a2".to_vec())]
    );
    assert_eq!(store.inbox_head(room, b).await.unwrap(), 1);
    assert_eq!(store.get_account("alice").await.unwrap(), Some(vec![0]));
    assert_eq!(
        store.counters().await.unwrap(),
        vec![("rooms".to_string(), 2)]
    );
    assert_eq!(store.generation("s").await.unwrap(), 3);
    assert_eq!(
        store.take_invite(room, "spent").await.unwrap(),
        InviteTake::AlreadyUsed
    );
    assert_eq!(
        store.take_invite(room, "live").await.unwrap(),
        InviteTake::Taken(b"invite".to_vec())
    );
    let commit = deliver(7, vec![(b, b"b2".to_vec())]);
    assert_eq!(
        committed(store.commit(room, commit).await.unwrap()),
        (8, vec![2])
    );

    // The old tables are gone whole: deleting a converted room leaves
    // none of its bytes, in the new layout or the old.
    assert!(store.delete_room(gone).await.unwrap());
    assert!(
        !in_files(dir.path(), &secret),
        "a deleted room's value is left"
    );
    drop(store);
    let store = open(dir.path());
    assert_eq!(store.load_room(room).await.unwrap().unwrap().version, 8);
}
