//! The names room objects are filed under in the store. The room logic
//! names objects by what they are (`m:<id>`, `f:<id>`, `c:<author>:<client_id>`);
//! an idempotency key's name holds a `client_id`, free text a client chose
//! (and `refer:<id>` for referrals), so it is filed under a keyed hash of
//! its name, scoped to the room, instead. Message and forward names are
//! random ids the relay minted and stay as they are: blinding them would
//! only cost a lookup per form during a key rotation.

use protocol::RoomId;

use super::Rooms;

impl Rooms {
    /// Every store name `key` may be filed under, the one to write first
    /// (during a key rotation, earlier keys' forms follow).
    pub(super) fn store_names(&self, room: RoomId, key: &str) -> Vec<String> {
        if key.starts_with("c:") {
            self.sealer
                .blind_in(room.as_bytes(), key)
                .into_iter()
                .map(|h| format!("c:{h}"))
                .collect()
        } else {
            vec![key.to_string()]
        }
    }
}
