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
    /// Set by `relay admin disable-ombud`: the account cannot log in and its
    /// tokens stop working. Absent in accounts stored before it existed.
    #[serde(default)]
    pub disabled: bool,
    /// Set when the ombud chose its display name (`PUT /api/me`): signing
    /// in with the institution then no longer overwrites it with `name`.
    #[serde(default)]
    pub display_name_chosen: bool,
    /// The institution identity this account belongs to, if it was made by
    /// signing in with OpenID Connect (it then has no password).
    #[serde(default)]
    pub oidc: Option<OidcLink>,
}

/// An identity at an OpenID provider: `sub` is unique and stable only per
/// issuer, and an e-mail address can change hands, so accounts are keyed by both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OidcLink {
    pub issuer: String,
    pub subject: String,
}

impl OidcLink {
    /// The account's username: the issuer and subject, under a prefix that
    /// local usernames may not use, so no local account can stand in for it.
    pub fn username(&self) -> String {
        format!("{OIDC_PREFIX}{}#{}", self.issuer, self.subject)
    }
}

/// Usernames starting with this belong to institution identities.
pub const OIDC_PREFIX: &str = "oidc:";

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

/// Longest display name an ombud may choose, in characters.
pub const MAX_DISPLAY_NAME: usize = 80;

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

    /// Every account, by username.
    pub async fn list(&self) -> Result<Vec<Account>> {
        let mut all = Vec::new();
        for sealed in self.store.list_accounts().await? {
            all.push(self.sealer.open::<Account>(GLOBAL_AAD, &sealed)?);
        }
        all.sort_by(|a, b| a.username.cmp(&b.username));
        Ok(all)
    }

    async fn save(&self, account: &Account) -> Result<()> {
        self.store
            .put_account(
                &self.sealer.blind(&account.username)[0],
                self.sealer.seal(GLOBAL_AAD, account),
            )
            .await?;
        Ok(())
    }

    async fn existing(&self, username: &str) -> Result<Account> {
        self.find(username)
            .await?
            .ok_or_else(|| Error::not_found(format!("no ombud account named {username:?}")))
    }

    /// A new account; `conflict` if the username is taken.
    pub async fn create(&self, username: &str, password: &str) -> Result<Account> {
        if username.trim().is_empty() || username != username.trim() {
            return Err(Error::invalid(
                "a username must be non-empty, without leading or trailing spaces",
            ));
        }
        if username.starts_with(OIDC_PREFIX) {
            return Err(Error::invalid(format!(
                "usernames starting with {OIDC_PREFIX:?} are kept for institution sign-in"
            )));
        }
        if self.find(username).await?.is_some() {
            return Err(Error::conflict(format!(
                "an ombud account named {username:?} already exists"
            )));
        }
        self.upsert(username, password).await
    }

    /// A new password for an existing account.
    pub async fn reset_password(&self, username: &str, password: &str) -> Result<Account> {
        if self.existing(username).await?.oidc.is_some() {
            return Err(Error::invalid(
                "this ombud signs in with the institution and has no password",
            ));
        }
        self.upsert(username, password).await
    }

    /// Stops (or lets again) the account log in and use its tokens.
    pub async fn set_disabled(&self, username: &str, disabled: bool) -> Result<Account> {
        let mut account = self.existing(username).await?;
        account.disabled = disabled;
        self.save(&account).await?;
        Ok(account)
    }

    /// The name parties see: 1 to 80 characters once trimmed.
    pub async fn set_display_name(&self, account: &Account, name: &str) -> Result<Account> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > MAX_DISPLAY_NAME {
            return Err(Error::invalid(format!(
                "display_name must be 1 to {MAX_DISPLAY_NAME} characters"
            )));
        }
        let mut account = account.clone();
        account.display_name = name.to_string();
        account.display_name_chosen = true;
        self.save(&account).await?;
        Ok(account)
    }

    /// The account of an identity the office maps to an ombud: created on
    /// its first sign-in, its display name following the provider's `name`
    /// until the ombud chooses one. A disabled account stays disabled.
    pub async fn sign_in_oidc(&self, link: &OidcLink, name: Option<&str>) -> Result<Account> {
        let username = link.username();
        let name = name
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(|n| n.chars().take(MAX_DISPLAY_NAME).collect::<String>());
        let account = match self.find(&username).await? {
            Some(a) if a.disabled => {
                return Err(Error::forbidden("this ombud account is disabled"))
            }
            Some(mut a) => {
                match name {
                    Some(n) if !a.display_name_chosen && a.display_name != n => {
                        a.display_name = n;
                        self.save(&a).await?;
                    }
                    _ => {}
                }
                a
            }
            None => {
                let a = Account {
                    id: Uuid::new_v4(),
                    username,
                    display_name: name.unwrap_or_else(|| "Ombud".into()),
                    password_hash: String::new(),
                    disabled: false,
                    display_name_chosen: false,
                    oidc: Some(link.clone()),
                };
                self.save(&a).await?;
                a
            }
        };
        Ok(account)
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
        let account = match existing {
            Some(a) => Account { password_hash, ..a },
            None => Account {
                id: Uuid::new_v4(),
                username: username.to_string(),
                display_name: username.to_string(),
                password_hash,
                disabled: false,
                display_name_chosen: false,
                oidc: None,
            },
        };
        self.save(&account).await?;
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
            // A disabled account gets the wrong password's answer: the
            // message does not tell a guesser that the password was right.
            Some(a) if ok && !a.disabled => {
                self.throttle.succeeded(&attempt, Instant::now());
                Ok(a)
            }
            _ => {
                self.throttle.failed(&attempt, Instant::now());
                Err(Error::unauthorized("wrong username or password"))
            }
        }
    }

    /// The account behind an ombud token, if it still exists and is not disabled.
    pub async fn of(&self, claims: &Claims) -> Result<Account> {
        let username = claims.usr.as_deref().unwrap_or_default();
        match self.find(username).await? {
            Some(a) if a.id == claims.sub && !a.disabled => Ok(a),
            Some(a) if a.id == claims.sub => {
                Err(Error::unauthorized("this ombud account is disabled"))
            }
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
