//! Proof of work without a third party: the relay issues
//! `base64url(random 16 bytes ‖ expiry ‖ difficulty) "." mac`, where the
//! MAC is keyed by the node's data key, so any node verifies a challenge
//! without having stored it. The page finds a nonce such that
//! SHA-256(`challenge:nonce`) starts with `difficulty` zero bits. A solved
//! challenge is spent once, through a store counter filed under a blinded
//! name (as the institution sign-in's one-time grant is).

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use protocol::intake::IntakeChallenge;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::seal::Sealer;
use crate::store::Store;

/// How long a challenge may be worked on and used.
const VALID_SECS: i64 = 10 * 60;
const MAC_SCOPE: &[u8] = b"caucus-intake-challenge";
const SPENT_SCOPE: &[u8] = b"caucus-intake-spent";
/// Hex characters of the MAC kept in a challenge (128 bits).
const MAC_HEX: usize = 32;
const PAYLOAD: usize = 16 + 8 + 1;

pub struct Challenges {
    sealer: Arc<Sealer>,
    store: Arc<dyn Store>,
}

fn failed(why: &str) -> Error {
    Error::ChallengeFailed(format!("{why}; fetch a new challenge and solve it"))
}

impl Challenges {
    pub fn new(sealer: Arc<Sealer>, store: Arc<dyn Store>) -> Self {
        Challenges { sealer, store }
    }

    pub fn issue(&self, difficulty: u8, now: DateTime<Utc>) -> IntakeChallenge {
        let expires = now.timestamp() + VALID_SECS;
        let mut payload = rand::random::<[u8; 16]>().to_vec();
        payload.extend_from_slice(&expires.to_be_bytes());
        payload.push(difficulty);
        let body = URL_SAFE_NO_PAD.encode(&payload);
        let mac = &self.sealer.blind_in(MAC_SCOPE, &body)[0][..MAC_HEX];
        IntakeChallenge {
            challenge: format!("{body}.{mac}"),
            difficulty,
            expires_at: DateTime::from_timestamp(expires, 0).unwrap_or(now),
        }
    }

    /// Checks a solution without spending it; returns the challenge's id
    /// for [`Challenges::spend`]. `min_difficulty` is the office's current
    /// setting: a challenge issued easier than that no longer counts.
    pub fn verify(
        &self,
        challenge: &str,
        nonce: &str,
        min_difficulty: u8,
        now: DateTime<Utc>,
    ) -> Result<String> {
        let (body, mac) = challenge
            .split_once('.')
            .ok_or_else(|| failed("no challenge"))?;
        let genuine = self
            .sealer
            .blind_in(MAC_SCOPE, body)
            .iter()
            .any(|m| m.get(..MAC_HEX) == Some(mac));
        let payload = URL_SAFE_NO_PAD
            .decode(body)
            .ok()
            .filter(|p| genuine && p.len() == PAYLOAD)
            .ok_or_else(|| failed("this challenge was not issued here"))?;
        let mut expiry = [0u8; 8];
        expiry.copy_from_slice(&payload[16..24]);
        if i64::from_be_bytes(expiry) <= now.timestamp() {
            return Err(failed("the challenge has expired"));
        }
        let difficulty = payload[24];
        if difficulty < min_difficulty {
            return Err(failed("the challenge is too easy"));
        }
        if nonce.is_empty() || nonce.len() > 64 || !nonce.is_ascii() {
            return Err(failed("the nonce must be 1 to 64 ASCII characters"));
        }
        if !solves(challenge, nonce, difficulty) {
            return Err(failed("the nonce does not solve the challenge"));
        }
        Ok(hex::encode(&payload[..16]))
    }

    /// Spends a verified challenge: the first spend succeeds, every later
    /// one (on any node) fails.
    pub async fn spend(&self, id: &str) -> Result<()> {
        let key = &self.sealer.blind_in(SPENT_SCOPE, id)[0];
        if self.store.raise_generation(key).await? != 1 {
            return Err(failed("this challenge has already been used"));
        }
        Ok(())
    }
}

/// Does SHA-256(`challenge:nonce`) start with `difficulty` zero bits?
pub fn solves(challenge: &str, nonce: &str, difficulty: u8) -> bool {
    let digest = Sha256::new()
        .chain_update(challenge.as_bytes())
        .chain_update(b":")
        .chain_update(nonce.as_bytes())
        .finalize();
    leading_zero_bits(&digest) >= u32::from(difficulty)
}

fn leading_zero_bits(bytes: &[u8]) -> u32 {
    let mut n = 0;
    for b in bytes {
        n += b.leading_zeros();
        if *b != 0 {
            break;
        }
    }
    n
}

/// Finds a nonce (tests and tools; the page does the same in JavaScript).
pub fn solve(challenge: &str, difficulty: u8) -> String {
    (0u64..)
        .map(|i| i.to_string())
        .find(|n| solves(challenge, n, difficulty))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;

    fn challenges() -> Challenges {
        Challenges::new(Arc::new(Sealer::random()), Arc::new(MemoryStore::new()))
    }

    #[test]
    fn leading_zeros_count_across_bytes() {
        assert_eq!(leading_zero_bits(&[0, 0x10, 0xff]), 11);
        assert_eq!(leading_zero_bits(&[0x80]), 0);
    }

    #[tokio::test]
    async fn a_solved_challenge_is_accepted_once() {
        let c = challenges();
        let now = Utc::now();
        let issued = c.issue(8, now);
        let nonce = solve(&issued.challenge, 8);
        let id = c.verify(&issued.challenge, &nonce, 8, now).unwrap();
        c.spend(&id).await.unwrap();
        let again = c.verify(&issued.challenge, &nonce, 8, now).unwrap();
        assert!(matches!(
            c.spend(&again).await,
            Err(Error::ChallengeFailed(_))
        ));
    }

    #[test]
    fn forged_expired_unsolved_or_too_easy_challenges_fail() {
        let c = challenges();
        let now = Utc::now();
        let issued = c.issue(8, now);
        let nonce = solve(&issued.challenge, 8);
        let late = now + chrono::Duration::seconds(VALID_SECS + 1);
        assert!(c.verify(&issued.challenge, &nonce, 8, late).is_err());
        assert!(c.verify(&issued.challenge, &nonce, 9, now).is_err());
        let other = challenges().issue(8, now);
        let nonce2 = solve(&other.challenge, 8);
        assert!(
            c.verify(&other.challenge, &nonce2, 8, now).is_err(),
            "another key"
        );
        let wrong = (0u64..)
            .map(|i| i.to_string())
            .find(|n| !solves(&issued.challenge, n, 8))
            .unwrap();
        assert!(c.verify(&issued.challenge, &wrong, 8, now).is_err());
        assert!(c.verify("", "1", 0, now).is_err());
    }
}
