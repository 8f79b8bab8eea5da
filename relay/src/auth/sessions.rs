//! Sessions: issuing tokens, and deciding whether a token is still good.
//!
//! Every subject (an ombud or a party) has a token generation, a counter in
//! the store filed under a keyed hash of its id ([`Tokens::generation_key`]);
//! a token carries the generation it was issued at and is honoured only
//! while that is still the current one. Raising the counter voids every
//! earlier token of that subject, on every node at once: the generation is
//! read from the store on every REST request and every websocket `hello`,
//! never cached.
//!
//! An ombud raises its own by signing out. A party's is raised when an ombud
//! gives it a new link ([`Sessions::void_party`]); its new link and the token
//! it gets with it carry the new generation. A party that leaves is refused
//! through the room document instead, whose `left` flag only ever goes from
//! false to true.

use std::sync::Arc;

use protocol::Role;

use super::{Account, Claims, Tokens};
use crate::error::{Error, Result};
use crate::store::Store;

pub struct Sessions {
    tokens: Tokens,
    store: Arc<dyn Store>,
}

impl Sessions {
    pub fn new(tokens: Tokens, store: Arc<dyn Store>) -> Self {
        Sessions { tokens, store }
    }

    /// A token for `account` at its current generation.
    pub async fn issue_ombud(&self, account: &Account) -> Result<String> {
        let gen = self
            .store
            .generation(&self.tokens.generation_key(account.id))
            .await?;
        Ok(self.tokens.issue_ombud(account.id, &account.username, gen))
    }

    /// A party's token at generation `gen`, that of the link it joined
    /// with. It lives as long as its room.
    pub fn issue_party(
        &self,
        party: uuid::Uuid,
        room: uuid::Uuid,
        expires_at_ms: i64,
        gen: u64,
    ) -> String {
        self.tokens.issue_party(party, room, expires_at_ms, gen)
    }

    /// The claims of a token that is well-formed, signed by this relay,
    /// within its validity and at its subject's current generation: not
    /// signed out (an ombud's), not replaced by a newer link (a party's).
    pub async fn verify(&self, token: &str) -> Result<Claims> {
        let claims = self.tokens.verify(token)?;
        let current = self
            .store
            .generation(&self.tokens.generation_key(claims.sub))
            .await?;
        match claims.role {
            Role::Ombud if claims.gen != Some(current) => {
                Err(Error::unauthorized("this session has been signed out"))
            }
            Role::Party if claims.gen.unwrap_or(0) != current => Err(Error::Replaced),
            _ => Ok(claims),
        }
    }

    /// Voids every token issued to this party so far; returns the
    /// generation its next link and token carry.
    pub async fn void_party(&self, party: uuid::Uuid) -> Result<u64> {
        Ok(self
            .store
            .raise_generation(&self.tokens.generation_key(party))
            .await?)
    }

    /// Voids every token issued to this ombud so far.
    pub async fn sign_out(&self, claims: &Claims) -> Result<()> {
        self.store
            .raise_generation(&self.tokens.generation_key(claims.sub))
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;

    fn account() -> Account {
        Account {
            id: uuid::Uuid::new_v4(),
            username: "o".into(),
            display_name: "o".into(),
            password_hash: String::new(),
            disabled: false,
            display_name_chosen: false,
            oidc: None,
        }
    }

    #[tokio::test]
    async fn signing_out_voids_every_earlier_token_and_no_later_one() {
        let sessions = Sessions::new(
            Tokens::new(b"0123456789abcdef0123456789abcdef"),
            Arc::new(MemoryStore::new()),
        );
        let (me, colleague) = (account(), account());
        let first = sessions.issue_ombud(&me).await.unwrap();
        let second = sessions.issue_ombud(&me).await.unwrap();
        let theirs = sessions.issue_ombud(&colleague).await.unwrap();
        let claims = sessions.verify(&second).await.unwrap();
        sessions.sign_out(&claims).await.unwrap();
        for old in [&first, &second] {
            let refused = sessions.verify(old).await.unwrap_err();
            assert!(matches!(refused, Error::Unauthorized(_)), "{refused:?}");
        }
        assert!(sessions.verify(&theirs).await.is_ok(), "only mine");
        let fresh = sessions.issue_ombud(&me).await.unwrap();
        assert!(
            sessions.verify(&fresh).await.is_ok(),
            "signing in again works"
        );
    }

    #[tokio::test]
    async fn a_new_link_voids_every_earlier_party_token_and_no_later_one() {
        let sessions = Sessions::new(
            Tokens::new(b"0123456789abcdef0123456789abcdef"),
            Arc::new(MemoryStore::new()),
        );
        let (party, other, room) = (
            uuid::Uuid::new_v4(),
            uuid::Uuid::new_v4(),
            uuid::Uuid::new_v4(),
        );
        let expires = chrono::Utc::now().timestamp_millis() + 3_600_000;
        let first = sessions.issue_party(party, room, expires, 0);
        let theirs = sessions.issue_party(other, room, expires, 0);
        assert!(sessions.verify(&first).await.is_ok());
        let gen = sessions.void_party(party).await.unwrap();
        assert_eq!(gen, 1);
        let refused = sessions.verify(&first).await.unwrap_err();
        assert!(matches!(refused, Error::Replaced), "{refused:?}");
        assert!(sessions.verify(&theirs).await.is_ok(), "only that party's");
        let again = sessions.issue_party(party, room, expires, gen);
        assert!(
            sessions.verify(&again).await.is_ok(),
            "the new link's token"
        );
    }
}
