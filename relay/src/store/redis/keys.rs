//! Key and channel names; see the layout table in the module docs.

use uuid::Uuid;

use crate::store::{ParticipantId, RoomId};

/// Key names; see the module docs for the layout.
#[derive(Clone)]
pub(super) struct KeySpace {
    pub(super) prefix: String,
}

impl KeySpace {
    pub(super) fn room(&self, room: RoomId, suffix: &str) -> String {
        self.room_key(room, &[suffix])
    }
    /// `<prefix>:{<room>}:` and the suffix's parts: what `format!` would
    /// make, sized once and without its machinery (several keys a commit).
    fn room_key(&self, room: RoomId, suffix: &[&str]) -> String {
        let mut id = Uuid::encode_buffer();
        let id = room.hyphenated().encode_lower(&mut id);
        let tail: usize = suffix.iter().map(|s| s.len()).sum();
        let mut key = String::with_capacity(self.prefix.len() + id.len() + 4 + tail);
        key.push_str(&self.prefix);
        key.push_str(":{");
        key.push_str(id);
        key.push_str("}:");
        for part in suffix {
            key.push_str(part);
        }
        key
    }
    pub(super) fn doc(&self, room: RoomId) -> String {
        self.room(room, "doc")
    }
    pub(super) fn objects(&self, room: RoomId) -> String {
        self.room(room, "o")
    }
    /// The version that last wrote each object (concurrency control).
    pub(super) fn written(&self, room: RoomId) -> String {
        self.room(room, "w")
    }
    /// The nodes watching the room, other than through pub/sub alone.
    pub(super) fn watchers(&self, room: RoomId) -> String {
        self.room(room, "nodes")
    }
    pub(super) fn invites(&self, room: RoomId) -> String {
        self.room(room, "inv")
    }
    pub(super) fn inbox(&self, room: RoomId, participant: ParticipantId) -> String {
        let mut id = Uuid::encode_buffer();
        self.room_key(
            room,
            &["in:", participant.hyphenated().encode_lower(&mut id)],
        )
    }
    pub(super) fn channel(&self, room: RoomId) -> String {
        self.room(room, "n")
    }
    pub(super) fn accounts(&self) -> String {
        format!("{}:accounts", self.prefix)
    }
    pub(super) fn counters(&self) -> String {
        format!("{}:counters", self.prefix)
    }
    pub(super) fn generations(&self) -> String {
        format!("{}:generations", self.prefix)
    }
    /// SCAN pattern for every key of one room.
    pub(super) fn room_pattern(&self, room: RoomId) -> String {
        format!("{}:{{{room}}}:*", glob_escape(&self.prefix))
    }
    /// SCAN pattern for every room's document key.
    pub(super) fn docs_pattern(&self) -> String {
        format!("{}:{{*}}:doc", glob_escape(&self.prefix))
    }
    /// The room of a `P:{R}:<suffix>` name.
    pub(super) fn parse_room(&self, name: &str, suffix: &str) -> Option<RoomId> {
        let id = name
            .strip_prefix(self.prefix.as_str())?
            .strip_prefix(":{")?
            .strip_suffix(suffix)?
            .strip_suffix("}:")?;
        Uuid::parse_str(id).ok()
    }
}

/// Escape the characters SCAN MATCH treats as glob syntax (braces are not).
fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_only_under_the_prefix() {
        let keys = KeySpace {
            prefix: "p*".into(),
        };
        let room = Uuid::new_v4();
        assert_eq!(keys.parse_room(&keys.doc(room), "doc"), Some(room));
        assert_eq!(keys.parse_room(&keys.channel(room), "n"), Some(room));
        assert_eq!(keys.parse_room(&keys.objects(room), "doc"), None);
        assert_eq!(
            KeySpace { prefix: "q".into() }.parse_room(&keys.doc(room), "doc"),
            None
        );
        assert_eq!(keys.docs_pattern(), r"p\*:{*}:doc");
    }

    /// Rooms already in Redis are found under these names: they must not move.
    #[test]
    fn key_names_keep_their_layout() {
        let keys = KeySpace {
            prefix: "caucus".into(),
        };
        let room = Uuid::parse_str("0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9").unwrap();
        let who = Uuid::parse_str("11111111-2222-4333-8444-555555555555").unwrap();
        assert_eq!(
            keys.doc(room),
            "caucus:{0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9}:doc"
        );
        assert_eq!(
            keys.inbox(room, who),
            "caucus:{0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9}:in:11111111-2222-4333-8444-555555555555"
        );
        assert_eq!(keys.inbox(room, who), format!("caucus:{{{room}}}:in:{who}"));
        assert_eq!(keys.channel(room), format!("caucus:{{{room}}}:n"));
    }
}
