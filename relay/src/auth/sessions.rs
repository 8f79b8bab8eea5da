//! Sessions: issuing tokens, and deciding whether a token is still good.
//!
//! An ombud's tokens are revoked by signing out. Each ombud has a token
//! generation, a counter in the store filed under a keyed hash of its id
//! ([`Tokens::generation_key`]); a token carries the generation it was
//! issued at and is honoured only while that is still the current one.
//! Signing out raises the counter, so every earlier token of that ombud
//! stops working, on every node at once: the generation is read from the
//! store on every REST request and every websocket `hello`, never cached.
//!
//! A party needs no generation. It gets exactly one token (invite codes are
//! single use), bound to one room, and everything a party does already
//! reads that room's document, whose `left` flag only ever goes from false
//! to true: that flag is the party's revocation, and a store-wide counter
//! would add a read and nothing else.

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

    /// A party's token lives as long as its room.
    pub fn issue_party(&self, party: uuid::Uuid, room: uuid::Uuid, expires_at_ms: i64) -> String {
        self.tokens.issue_party(party, room, expires_at_ms)
    }

    /// The claims of a token that is well-formed, signed by this relay,
    /// within its validity and, for an ombud, not signed out.
    pub async fn verify(&self, token: &str) -> Result<Claims> {
        let claims = self.tokens.verify(token)?;
        if claims.role == Role::Ombud {
            let current = self
                .store
                .generation(&self.tokens.generation_key(claims.sub))
                .await?;
            if claims.gen != Some(current) {
                return Err(Error::unauthorized("this session has been signed out"));
            }
        }
        Ok(claims)
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
}
