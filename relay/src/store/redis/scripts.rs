//! The Lua scripts: everything that writes more than one key, or must check
//! before it writes, is one script, so it is atomic without WATCH. The Lua
//! lives in `lua/`, annotated with its KEYS and ARGV.
//!
//! On a Redis Cluster, the scripts that announce (`commit`, `delete_room`)
//! publish with `SPUBLISH`: the room's channel carries its hash tag, so the
//! notification stays on the room's shard instead of being broadcast over
//! the cluster bus to every node.

use std::sync::LazyLock;

use redis::{Cmd, Script, ToRedisArgs};

/// One set of scripts, for one Redis or for a cluster.
pub(super) struct Scripts {
    /// KEYS: doc. ARGV: doc, expire_at_ms.
    pub(super) create_room: Script,
    /// KEYS: doc, objects, written, watchers, then one inbox per delivery.
    /// ARGV: expect_version, channel, notification head, has_doc ('0'/'1'),
    /// doc, put count, the puts as key/value pairs, counter count, the
    /// counters as field/increment/ceiling triples, read count (-1: the
    /// whole room) and the keys read, then per delivery the recipient's
    /// inbox counter field (`s` and 16 raw bytes) and the payload.
    ///
    /// Returns nil on a conflict or a ceiling passed, else `{version,
    /// seq..., counter...}`.
    /// The next seq of an inbox is one past its counter in the doc hash
    /// (one past its newest entry id in a room written before the
    /// counters). One HMGET reads the version and flags, one HSET writes
    /// them, and each counter, inbox counters included, is a HINCRBY. The
    /// notification appends one `participant seq ':' len ':' payload`
    /// record per delivery to the head; see `notify`. It is published only
    /// if a node other than the committing one (named in the head) is
    /// registered in the watchers hash.
    pub(super) commit: Script,
    /// KEYS: doc, watchers. ARGV: node, '1' (register) or '0' (withdraw).
    /// Returns 1 if a registration was added.
    pub(super) watch: Script,
    /// KEYS: doc, invites. ARGV: code, `+value`. Does nothing if the room is gone.
    pub(super) put_invite: Script,
    /// KEYS: invites. ARGV: code. Returns what was stored before; a live code
    /// (`+value`) is replaced by the tombstone `-`, which keeps the hash's expiry.
    pub(super) take_invite: Script,
    /// KEYS: doc, then every other key of the room. ARGV: channel, notification.
    /// Announces the deletion only if the room existed.
    pub(super) delete_room: Script,
    /// KEYS: doc. Sets the room's expiry to what it is: no change, but a
    /// write, so a `WAIT` after it covers every earlier write of the room.
    pub(super) settle: Script,
}

impl Scripts {
    fn new(publish: &str) -> Scripts {
        let announcing = |lua: &str| Script::new(&lua.replace("redis.call('PUBLISH'", publish));
        Scripts {
            create_room: Script::new(include_str!("lua/create_room.lua")),
            commit: announcing(include_str!("lua/commit.lua")),
            watch: Script::new(include_str!("lua/watch.lua")),
            put_invite: Script::new(include_str!("lua/put_invite.lua")),
            take_invite: Script::new(include_str!("lua/take_invite.lua")),
            delete_room: announcing(include_str!("lua/delete_room.lua")),
            settle: Script::new(include_str!("lua/settle.lua")),
        }
    }
}

pub(super) static SINGLE: LazyLock<Scripts> =
    LazyLock::new(|| Scripts::new("redis.call('PUBLISH'"));
pub(super) static CLUSTER: LazyLock<Scripts> =
    LazyLock::new(|| Scripts::new("redis.call('SPUBLISH'"));

/// A script with its KEYS and ARGV, built like redis-rs's
/// `ScriptInvocation`, but able to give its `EVALSHA` as a command, so it
/// can be pipelined with `WAIT`. The keys are given first, as `EVALSHA`
/// counts them before it names them; each argument is then written once,
/// straight into the command (a commit's payloads are most of its bytes).
pub(super) struct Call {
    pub(super) script: &'static Script,
    command: Cmd,
}

impl Call {
    pub(super) fn new(script: &'static Script, keys: &[String]) -> Call {
        Call::with_room(script, keys, 0, 0)
    }

    /// As [`Call::new`], with room for `args` more arguments of `bytes` in
    /// all, so that a large commit's command is allocated once, not grown.
    pub(super) fn with_room(
        script: &'static Script,
        keys: &[String],
        args: usize,
        bytes: usize,
    ) -> Call {
        let named: usize = keys.iter().map(String::len).sum();
        let mut command = Cmd::with_capacity(3 + keys.len() + args, 64 + named + bytes);
        command
            .arg("EVALSHA")
            .arg(script.get_hash())
            .arg(keys.len())
            .arg(keys);
        Call { script, command }
    }

    pub(super) fn arg(&mut self, arg: impl ToRedisArgs) -> &mut Call {
        self.command.arg(arg);
        self
    }

    pub(super) fn command(&self) -> &Cmd {
        &self.command
    }
}
