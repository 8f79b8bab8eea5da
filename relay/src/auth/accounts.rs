//! Ombud accounts: argon2 password hashes, sealed and filed under a blinded
//! username, so a store dump shows neither names nor hashes.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use protocol::rest::OmbudInfo;
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use uuid::Uuid;

use super::throttle::{LoginThrottle, Policy};
use super::Claims;
use crate::error::{Error, Result};
use crate::seal::{Sealer, GLOBAL_AAD};
use crate::store::Store;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Account {
    pub id: Uuid,
    pub username: String,
    pub display_name: String,
    pub password_hash: String,
}

impl Account {
    pub fn info(&self) -> OmbudInfo {
        OmbudInfo {
            id: self.id,
            username: self.username.clone(),
            display_name: self.display_name.clone(),
        }
    }
}

pub struct Accounts {
    store: Arc<dyn Store>,
    sealer: Arc<Sealer>,
    /// Verified against when the username is unknown, so the time a login
    /// takes does not tell who has an account.
    dummy_hash: String,
    /// Password hashes running at once: each takes argon2's 19 MiB, so an
    /// unbounded login flood would take the relay's memory with it.
    hashing: Semaphore,
    throttle: LoginThrottle,
}

/// How long a login waits for a hashing slot before it is told to retry.
const HASH_QUEUE_WAIT: Duration = Duration::from_secs(2);

impl Accounts {
    /// Accounts that compute at most `hashes` password hashes at once.
    pub fn new(store: Arc<dyn Store>, sealer: Arc<Sealer>, hashes: usize) -> Self {
        Accounts {
            store,
            sealer,
            dummy_hash: hash_password("not-a-real-password"),
            hashing: Semaphore::new(hashes),
            throttle: LoginThrottle::new(Policy::default()),
        }
    }

    pub async fn find(&self, username: &str) -> Result<Option<Account>> {
        // During a key rotation (or after a change of blinding) a name may
        // be filed under any of its blinded forms: try each, current first.
        for blinded in self.sealer.blind(username) {
            if let Some(sealed) = self.store.get_account(&blinded).await? {
                return Ok(Some(self.sealer.open(GLOBAL_AAD, &sealed)?));
            }
        }
        Ok(None)
    }

    pub async fn count(&self) -> Result<u64> {
        Ok(self.store.account_count().await?)
    }

    /// Creates the account, or updates its password if it exists.
    pub async fn upsert(&self, username: &str, password: &str) -> Result<Account> {
        let existing = self.find(username).await?;
        let password = password.to_string();
        let _slot = self
            .hashing
            .acquire()
            .await
            .map_err(|e| Error::internal(e.to_string()))?;
        let password_hash = tokio::task::spawn_blocking(move || hash_password(&password))
            .await
            .map_err(|e| Error::internal(e.to_string()))?;
        let account = Account {
            id: existing.as_ref().map_or_else(Uuid::new_v4, |a| a.id),
            username: username.to_string(),
            display_name: existing.map_or_else(|| username.to_string(), |a| a.display_name),
            password_hash,
        };
        self.store
            .put_account(
                &self.sealer.blind(username)[0],
                self.sealer.seal(GLOBAL_AAD, &account),
            )
            .await?;
        Ok(account)
    }

    /// The account if `password` is its password; the same refusal (and
    /// about the same time) whether or not the account exists. Logins from
    /// `from` that failed too often wait first (see [`LoginThrottle`]); the
    /// password is not even checked while they do.
    pub async fn login(&self, username: &str, password: &str, from: IpAddr) -> Result<Account> {
        let attempt = self.throttle.attempt(username, from);
        self.throttle
            .check(&attempt, Instant::now())
            .map_err(Error::LoginThrottled)?;
        let account = self.find(username).await?;
        let hash = account
            .as_ref()
            .map_or_else(|| self.dummy_hash.clone(), |a| a.password_hash.clone());
        let password = password.to_string();
        let Ok(Ok(_slot)) = tokio::time::timeout(HASH_QUEUE_WAIT, self.hashing.acquire()).await
        else {
            tracing::warn!("password hashing is at its limit; login refused");
            return Err(Error::Busy(Duration::from_secs(1)));
        };
        let ok = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
            .await
            .map_err(|e| Error::internal(e.to_string()))?;
        match account {
            Some(a) if ok => {
                self.throttle.succeeded(&attempt, Instant::now());
                Ok(a)
            }
            _ => {
                self.throttle.failed(&attempt, Instant::now());
                Err(Error::unauthorized("wrong username or password"))
            }
        }
    }

    /// The account behind an ombud token, if it still exists.
    pub async fn of(&self, claims: &Claims) -> Result<Account> {
        let username = claims.usr.as_deref().unwrap_or_default();
        match self.find(username).await? {
            Some(a) if a.id == claims.sub => Ok(a),
            _ => Err(Error::unauthorized("this ombud account no longer exists")),
        }
    }
}

pub fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 hashing with default params cannot fail")
        .to_string()
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_with_the_right_password() {
        let h = hash_password("hunter22");
        assert!(verify_password("hunter22", &h));
        assert!(!verify_password("hunter23", &h));
    }
}
