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
        format!("{}:{{{room}}}:{suffix}", self.prefix)
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
        self.room(room, &format!("in:{participant}"))
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
}
