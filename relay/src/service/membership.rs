//! Rooms over REST: creating, listing, inviting (single-use codes), joining,
//! co-ombuds, categories, terms and deletion. Each decision is a pure
//! function of `room::logic`; this module loads, seals and commits.

use chrono::Utc;
use protocol::rest::CreateRoom;
use protocol::{ParticipantId, RoomId};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{closed_is_not_found, member, Rooms};
use crate::auth::{Account, Sessions};
use crate::error::{Error, Result};
use crate::room::logic::{self, Flow, Signal};
use crate::room::RoomDoc;
use crate::seal::room_aad;
use crate::store::InviteTake;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct InviteRec {
    party_id: ParticipantId,
    /// The party's token generation this link was issued at (0 for its
    /// first link; invites stored before new links existed have none).
    #[serde(default)]
    gen: u64,
}

/// A party that joined: who, where, and the token generation of its link.
pub struct Joined {
    pub doc: RoomDoc,
    pub party_id: ParticipantId,
    pub gen: u64,
}

/// The bytes of an invite code: the room id, then a random secret.
const INVITE_CODE_BYTES: usize = 16 + 18;

impl Rooms {
    pub async fn create_room(&self, ombud: &Account, req: CreateRoom) -> Result<RoomDoc> {
        let me = member(ombud);
        let doc = logic::create_room(
            &req,
            me,
            Uuid::new_v4(),
            Utc::now(),
            self.default_retention_hours,
        )?;
        self.store_new_room(&doc).await?;
        Ok(doc)
    }

    /// Seals a new room's document and stores it at version 1.
    pub(super) async fn store_new_room(&self, doc: &RoomDoc) -> Result<()> {
        let sealed = self.sealer.seal(&room_aad(doc.id), doc);
        if !self
            .store
            .create_room(doc.id, sealed, doc.expire_at_ms)
            .await?
        {
            return Err(Error::internal("room id collision"));
        }
        Ok(())
    }

    /// Rooms this ombud belongs to, newest first.
    pub async fn rooms_of(&self, ombud: Uuid) -> Result<Vec<RoomDoc>> {
        let mut docs = Vec::new();
        for id in self.store.list_rooms().await? {
            if let Some((_, doc)) = self.load(id).await? {
                if doc.is_ombud(ombud) {
                    docs.push(doc);
                }
            }
        }
        docs.sort_by_key(|d| std::cmp::Reverse(d.created_at));
        Ok(docs)
    }

    /// The room, if `ombud` is one of its ombuds (otherwise as if it did not exist).
    pub async fn room_for_ombud(&self, room: RoomId, ombud: Uuid) -> Result<RoomDoc> {
        let doc = self.doc(room).await?;
        if !doc.is_ombud(ombud) {
            return Err(Error::not_found("no such room"));
        }
        Ok(doc)
    }

    /// Invites a party; returns its id and the one-time invite code.
    pub async fn add_party(
        &self,
        room: RoomId,
        ombud: Uuid,
        display_name: &str,
    ) -> Result<(Uuid, String)> {
        let party_id = Uuid::new_v4();
        self.run(room, |doc, _| {
            logic::add_party(doc, ombud, display_name, party_id)
        })
        .await
        .map_err(closed_is_not_found("room"))?;
        let code = self.put_invite(room, party_id, 0).await?;
        Ok((party_id, code))
    }

    /// Stores a new one-time invite code for `party_id` at token generation
    /// `gen`; returns the code.
    async fn put_invite(&self, room: RoomId, party_id: ParticipantId, gen: u64) -> Result<String> {
        let secret: [u8; 18] = rand::random();
        let mut raw = room.as_bytes().to_vec();
        raw.extend_from_slice(&secret);
        let code = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, raw);
        let sealed = self
            .sealer
            .seal(&room_aad(room), &InviteRec { party_id, gen });
        self.store
            .put_invite(room, &invite_key(&code), sealed)
            .await?;
        Ok(code)
    }

    /// A new one-time link for a party already in the room, from one of
    /// its ombuds. Every earlier link and token of the party stops working
    /// (the store's generation is raised before anything else, so on every
    /// node at once); returns the new code and the signals that close the
    /// party's open connections.
    pub async fn new_link(
        &self,
        room: RoomId,
        by: Uuid,
        party_id: ParticipantId,
        sessions: &Sessions,
    ) -> Result<(String, Vec<Signal>)> {
        // Refuse before voiding anything: only an ombud of the room may, and
        // only for a party still in it.
        let doc = self.room_for_ombud(room, by).await?;
        if let Err(Flow::Fail(refused)) = logic::new_link(&doc, by, party_id, 0) {
            return Err(refused.into());
        }
        let gen = sessions.void_party(party_id).await?;
        let out = self
            .run(room, |doc, _| logic::new_link(doc, by, party_id, gen))
            .await
            .map_err(closed_is_not_found("room"))?;
        let code = self.put_invite(room, party_id, gen).await?;
        Ok((code, out.signals))
    }

    /// Spends an invite code: the party is now in the room.
    pub async fn join(&self, code: &str) -> Result<Joined> {
        let unknown = || Error::not_found("unknown invite code");
        let raw = base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            code.trim(),
        )
        .ok()
        .filter(|r| r.len() == INVITE_CODE_BYTES)
        .ok_or_else(unknown)?;
        let room = Uuid::from_slice(&raw[..16]).map_err(|_| unknown())?;
        let invite: InviteRec = match self
            .store
            .take_invite(room, &invite_key(code.trim()))
            .await?
        {
            InviteTake::Taken(sealed) => self.sealer.open(&room_aad(room), &sealed)?,
            InviteTake::AlreadyUsed => return Err(Error::Gone),
            InviteTake::Unknown => return Err(unknown()),
        };
        let (party_id, gen) = (invite.party_id, invite.gen);
        let out = self
            .run(room, |doc, _| logic::join(doc, party_id, gen))
            .await?;
        let doc = out
            .doc
            .ok_or_else(|| Error::internal("join produced no room"))?;
        Ok(Joined { doc, party_id, gen })
    }

    /// A party is, or just was, connected: its `last_online_at` moves on.
    /// Failing to record it is logged, never a reason to refuse the party.
    pub async fn seen(&self, room: RoomId, party_id: ParticipantId) {
        let now = Utc::now();
        if let Err(e) = self
            .run(room, |doc, _| logic::seen(doc, party_id, now))
            .await
        {
            if !matches!(e, Error::RoomClosed) {
                e.log();
                tracing::debug!(%room, error = e.code().as_str(), "last online not recorded");
            }
        }
    }

    /// Adds a co-ombud; everyone in the room is told a new ombud can see their thread.
    pub async fn add_ombud(&self, room: RoomId, by: Uuid, colleague: &Account) -> Result<RoomDoc> {
        let member = member(colleague);
        let out = self
            .run(room, |doc, view| {
                logic::add_ombud(doc, view, by, member.clone())
            })
            .await
            .map_err(closed_is_not_found("room"))?;
        match out.doc {
            Some(doc) => Ok(doc),
            // Already an ombud of the room: nothing changed.
            None => self.room_for_ombud(room, by).await,
        }
    }

    /// Tags a room with trend categories; counters move with the tags and hold no room id.
    pub async fn set_categories(&self, room: RoomId, by: Uuid, items: Vec<String>) -> Result<()> {
        self.run(room, |doc, _| {
            logic::set_categories(doc, by, &items, &self.office, Utc::now())
        })
        .await
        .map_err(closed_is_not_found("room"))?;
        Ok(())
    }

    pub async fn set_terms(&self, room: RoomId, by: Uuid, items: Vec<String>) -> Result<()> {
        self.run(room, |doc, _| logic::set_terms(doc, by, &items))
            .await
            .map_err(closed_is_not_found("room"))?;
        Ok(())
    }

    /// Erases the room; its tags leave the open month's counts with it.
    pub async fn delete_room(&self, room: RoomId, by: Uuid) -> Result<()> {
        let doc = self.room_for_ombud(room, by).await?;
        if self.store.delete_room(room).await? {
            self.count_trends(&logic::untag_all(&doc, Utc::now()))
                .await?;
        }
        self.docs.forget(room);
        Ok(())
    }
}

/// Store key of an invite: a hash, so the code itself is never stored.
fn invite_key(code: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(code.as_bytes()))
}
