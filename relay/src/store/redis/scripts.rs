//! The Lua scripts: everything that writes more than one key, or must check
//! before it writes, is one script, so it is atomic without WATCH. The Lua
//! lives in `lua/`, annotated with its KEYS and ARGV.

use std::sync::LazyLock;

use redis::Script;

/// KEYS: doc. ARGV: doc, expire_at_ms.
pub static CREATE_ROOM: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/create_room.lua")));

/// KEYS: doc, objects, then one inbox per delivery.
/// ARGV: expect_version, channel, notification head, has_doc ('0'/'1'), doc,
/// put count, the puts as key/value pairs, then participant (16 raw bytes)
/// and payload per delivery.
///
/// Returns nil on a version conflict, else `{version, seq...}`. The next seq
/// of an inbox is one past its newest entry id (entries are never trimmed).
/// The notification appends one `participant seq ':' len ':' payload`
/// record per delivery to the head; see [`decode_notification`].
pub static COMMIT: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/commit.lua")));

/// KEYS: doc, invites. ARGV: code, `+value`. Does nothing if the room is gone.
pub static PUT_INVITE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/put_invite.lua")));

/// KEYS: invites. ARGV: code. Returns what was stored before; a live code
/// (`+value`) is replaced by the tombstone `-`, which keeps the hash's expiry.
pub static TAKE_INVITE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/take_invite.lua")));

/// KEYS: doc, then every other key of the room. ARGV: channel, notification.
/// Announces the deletion only if the room existed.
pub static DELETE_ROOM: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/delete_room.lua")));
