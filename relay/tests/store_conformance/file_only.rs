//! What only the file store can get wrong: losing data on close, leaving a
//! deleted or expired room's bytes in its files, announcing rooms nobody
//! watches, loose permissions.

use super::*;

use std::collections::HashSet;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use rand::RngCore;

pub(super) fn open(dir: &Path) -> FileStore {
    FileStore::open(dir).expect("open the file store")
}

pub(super) fn marker() -> Vec<u8> {
    let mut marker = vec![0; 48];
    rand::thread_rng().fill_bytes(&mut marker);
    marker
}

/// The files (db, -wal, -shm) in `dir` that contain `needle`.
pub(super) fn files_containing(dir: &Path, needle: &[u8]) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            let bytes = std::fs::read(path).unwrap();
            bytes.windows(needle.len()).any(|w| w == needle)
        })
        .map(|path| path.display().to_string())
        .collect()
}

/// A room holding `marker` in every place a room keeps bytes: doc,
/// objects (one of them large enough for overflow pages), two inboxes,
/// a live and a spent invite.
async fn furnished_room(store: &FileStore, marker: &[u8], expire_at: i64) -> RoomId {
    let room = Uuid::new_v4();
    assert!(store
        .create_room(room, marker.to_vec(), expire_at)
        .await
        .unwrap());
    let mut large = vec![0x5a; 50_000];
    large[20_000..20_048].copy_from_slice(marker);
    let commit = Commit {
        reads: None,
        limits: Vec::new(),
        expect_version: 1,
        doc: Some(marker.to_vec()),
        puts: vec![("m:1".into(), marker.to_vec()), ("m:2".into(), large)],
        deliveries: vec![
            (Uuid::new_v4(), marker.to_vec()),
            (Uuid::new_v4(), marker.to_vec()),
        ],
        counts: Vec::new(),
        plain: Vec::new(),
    };
    committed(store.commit(room, commit).await.unwrap());
    store
        .put_invite(room, "live", marker.to_vec())
        .await
        .unwrap();
    store
        .put_invite(room, "spent", marker.to_vec())
        .await
        .unwrap();
    store.take_invite(room, "spent").await.unwrap();
    room
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_survives_closing_and_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let (room, gone) = (Uuid::new_v4(), Uuid::new_v4());
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let expire_at = in_an_hour();
    {
        let store = open(dir.path());
        assert!(store
            .create_room(room, b"doc".to_vec(), expire_at)
            .await
            .unwrap());
        let commit = Commit {
            reads: None,
            limits: Vec::new(),
            expect_version: 1,
            doc: Some(b"doc 2".to_vec()),
            puts: vec![("m:1".into(), b"\0one".to_vec())],
            deliveries: vec![
                (a, b"a1".to_vec()),
                (b, b"b1".to_vec()),
                (a, b"a2".to_vec()),
            ],
            counts: Vec::new(),
            plain: Vec::new(),
        };
        assert_eq!(
            committed(store.commit(room, commit).await.unwrap()),
            (2, vec![1, 1, 2])
        );
        store.put_invite(room, "live", b"l".to_vec()).await.unwrap();
        store
            .put_invite(room, "spent", b"s".to_vec())
            .await
            .unwrap();
        store.take_invite(room, "spent").await.unwrap();
        store.put_account("alice", b"\0a".to_vec()).await.unwrap();
        store.incr_counter("rooms", 2).await.unwrap();
        // Counters outlive the rooms they counted.
        assert!(store
            .create_room(gone, b"doc".to_vec(), expire_at)
            .await
            .unwrap());
        store.incr_counter("rooms", 1).await.unwrap();
        assert!(store.delete_room(gone).await.unwrap());
    }

    let store = open(dir.path());
    assert_eq!(store.list_rooms().await.unwrap(), vec![room]);
    let loaded = store.load_room(room).await.unwrap().unwrap();
    assert_eq!((loaded.version, loaded.doc), (2, b"doc 2".to_vec()));
    assert_eq!(
        store.get_objects(room, &["m:1".into()]).await.unwrap(),
        vec![Some(b"\0one".to_vec())]
    );
    assert_eq!(
        store.read_inbox(room, a, 0, 10).await.unwrap(),
        vec![(1, b"a1".to_vec()), (2, b"a2".to_vec())]
    );
    assert_eq!(store.inbox_head(room, b).await.unwrap(), 1);
    assert_eq!(
        store.take_invite(room, "spent").await.unwrap(),
        InviteTake::AlreadyUsed
    );
    assert_eq!(
        store.get_account("alice").await.unwrap(),
        Some(b"\0a".to_vec())
    );
    assert_eq!(store.account_count().await.unwrap(), 1);
    assert_eq!(
        store.counters().await.unwrap(),
        vec![("rooms".to_string(), 3)]
    );
    assert_eq!(store.load_room(gone).await.unwrap(), None);

    // Versions and seqs carry on without a gap; the live invite works once.
    let commit = deliver(2, vec![(b, b"b2".to_vec()), (a, b"a3".to_vec())]);
    assert_eq!(
        committed(store.commit(room, commit).await.unwrap()),
        (3, vec![2, 3])
    );
    assert_eq!(
        store.take_invite(room, "live").await.unwrap(),
        InviteTake::Taken(b"l".to_vec())
    );
    drop(store);

    // What the second run did is there for the third.
    let store = open(dir.path());
    assert_eq!(store.load_room(room).await.unwrap().unwrap().version, 3);
    assert_eq!(store.inbox_head(room, a).await.unwrap(), 3);
    assert_eq!(
        store.take_invite(room, "live").await.unwrap(),
        InviteTake::AlreadyUsed
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_room_leaves_no_byte_in_any_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let (secret, kept_secret) = (marker(), marker());
    let room = furnished_room(&store, &secret, in_an_hour()).await;
    let kept = furnished_room(&store, &kept_secret, in_an_hour()).await;
    // Without this the test could not fail.
    assert!(!files_containing(dir.path(), &secret).is_empty());

    assert!(store.delete_room(room).await.unwrap());

    assert_eq!(files_containing(dir.path(), &secret), Vec::<String>::new());
    assert!(!files_containing(dir.path(), &kept_secret).is_empty());
    assert_eq!(
        store.load_room(kept).await.unwrap().unwrap().doc,
        kept_secret
    );
}

/// Markers that share a prefix, so one pass over the files finds all.
const TAG: &[u8; 8] = b"\xfeCAUCUS\xfe";

fn tagged_marker() -> Vec<u8> {
    let mut marker = TAG.to_vec();
    marker.resize(48, 0);
    rand::thread_rng().fill_bytes(&mut marker[TAG.len()..]);
    marker
}

/// Every tagged marker found in the files of `dir`.
fn tagged_markers_in(dir: &Path) -> HashSet<Vec<u8>> {
    let mut found = HashSet::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        // Unoptimised test builds are slow at `windows`: look for the
        // first byte of the tag, then compare.
        for at in 0..bytes.len().saturating_sub(47) {
            if bytes[at] == TAG[0] && bytes[at..at + TAG.len()] == TAG[..] {
                found.insert(bytes[at..at + 48].to_vec());
            }
        }
    }
    found
}

/// One commit to each room at once, each with a value of random size
/// that holds the room's marker.
async fn write_to_all(store: &Arc<FileStore>, rooms: &mut [(RoomId, Vec<u8>, u64)]) {
    let writers: Vec<_> = rooms
        .iter()
        .map(|(room, marker, version)| {
            let (store, room, version) = (store.clone(), *room, *version);
            let sized = |len: usize| {
                let mut value = vec![version as u8; len];
                value.extend_from_slice(marker);
                value
            };
            let mut sizes = std::iter::repeat_with(|| rand::random::<usize>() % 700);
            let mut next = || sized(sizes.next().unwrap_or(0));
            let commit = Commit {
                reads: None,
                limits: Vec::new(),
                expect_version: version,
                doc: Some(next()),
                puts: vec![("m:0".into(), next()), (format!("m:{version}"), next())],
                deliveries: vec![(Uuid::new_v4(), next())],
                counts: Vec::new(),
                plain: Vec::new(),
            };
            tokio::spawn(async move { committed(store.commit(room, commit).await.unwrap()).0 })
        })
        .collect();
    for (writer, (_, _, version)) in writers.into_iter().zip(rooms.iter_mut()) {
        *version = writer.await.unwrap();
    }
}

/// Rooms written in turn share pages wherever they share a b-tree, and
/// page splits can leave stale copies of moved cells in the free space
/// of pages that stay in use, which `secure_delete` never overwrites.
/// So: many interleaved rooms, values of varied sizes, rooms deleted
/// while others go on; no marker of a deleted room may be left anywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interleaved_rooms_leave_nothing_behind_when_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(dir.path()));
    let (mut live, mut deleted) = (Vec::new(), Vec::new());
    for cycle in 0..20 {
        for _ in 0..40 {
            let (room, marker) = (Uuid::new_v4(), tagged_marker());
            assert!(store
                .create_room(room, marker.clone(), in_an_hour())
                .await
                .unwrap());
            live.push((room, marker, 1));
        }
        write_to_all(&store, &mut live).await;
        write_to_all(&store, &mut live).await;
        // Every other room goes; the rest carry on into the next cycle.
        let (gone, stay): (Vec<_>, Vec<_>) = std::mem::take(&mut live)
            .into_iter()
            .enumerate()
            .partition(|(i, _)| i % 2 == 0);
        live = stay.into_iter().map(|(_, room)| room).collect();
        // At once, so that deletions share transactions too.
        let deleting: Vec<_> = gone
            .into_iter()
            .map(|(_, (room, marker, _))| {
                let store = store.clone();
                deleted.push(marker);
                tokio::spawn(async move { store.delete_room(room).await })
            })
            .collect();
        for deletion in deleting {
            assert!(deletion.await.unwrap().unwrap());
        }

        let found = tagged_markers_in(dir.path());
        let left = deleted.iter().filter(|m| found.contains(*m)).count();
        assert_eq!(left, 0, "cycle {cycle}: deleted rooms left on disk");
        assert!(live.iter().all(|(_, marker, _)| found.contains(marker)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_room_leaves_no_byte_in_any_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let (secret, kept_secret) = (marker(), marker());
    let expire_at = now_ms() + 1_500;
    furnished_room(&store, &secret, expire_at).await;
    furnished_room(&store, &kept_secret, in_an_hour()).await;
    assert!(!files_containing(dir.path(), &secret).is_empty());

    // Nothing reads the room: only the sweeper can erase it.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !files_containing(dir.path(), &secret).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the expired room is still on disk"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(now_ms() >= expire_at, "erased before it expired");
    assert!(!files_containing(dir.path(), &kept_secret).is_empty());
}

/// One node, so notifications stay in process: only watched rooms are
/// heard, and `unwatch` silences a room again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_watched_rooms_are_heard() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let (heard, quiet) = (new_room(&store).await, new_room(&store).await);
    let who = Uuid::new_v4();
    let mut rx = store.notifications();
    store.watch(heard).await.unwrap();
    store.watch(quiet).await.unwrap();
    store.unwatch(quiet).await.unwrap();

    committed(
        store
            .commit(quiet, deliver(1, vec![(who, b"unheard".to_vec())]))
            .await
            .unwrap(),
    );
    store.signal(quiet, b"unheard".to_vec()).await.unwrap();
    assert!(store.delete_room(quiet).await.unwrap());
    store.signal(heard, b"end".to_vec()).await.unwrap();

    assert_eq!(
        next(&mut rx).await,
        Notification::Signal {
            room: heard,
            payload: b"end".to_vec()
        }
    );
    assert!(rx.try_recv().is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_and_files_are_private() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("store");
    let store = open(&dir);
    new_room(&store).await;
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    assert!(files.iter().any(|f| f.ends_with("caucus.db")), "{files:?}");
    for file in files {
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }
}
