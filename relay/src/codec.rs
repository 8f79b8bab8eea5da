//! Sealing: everything written to a store is serialised and encrypted here,
//! so message bodies, forward bodies and display names are never at rest in
//! plaintext, in either store.
//!
//! Format: `key_id (4 bytes) || nonce (12) || AES-256-GCM ciphertext`, with the
//! room id (or a fixed label for global values) as associated data so a value
//! cannot be replayed into another room. `key_id` lets a relay hold the
//! current key plus previous ones during a key rotation (see README).

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::store::StoreError;

struct SealKey {
    id: [u8; 4],
    cipher: Aes256Gcm,
    /// Keys the hashes that stand in for names in store keys.
    blinding: [u8; 32],
}

impl SealKey {
    fn new(raw: &[u8; 32]) -> Self {
        let digest = Sha256::digest(raw);
        let mut id = [0u8; 4];
        id.copy_from_slice(&digest[..4]);
        let mut blinding = [0u8; 32];
        blinding.copy_from_slice(
            &Sha256::new()
                .chain_update(b"caucus-blind")
                .chain_update(raw)
                .finalize(),
        );
        SealKey {
            id,
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(raw)),
            blinding,
        }
    }
}

/// The current key seals; every key (current first) may open.
pub struct Sealer {
    keys: Vec<SealKey>,
}

impl Sealer {
    /// `current` and `previous` are base64 (standard or URL-safe) 32-byte keys.
    pub fn from_base64(current: &str, previous: &[String]) -> Result<Self, String> {
        let mut keys = vec![SealKey::new(&decode_key(current)?)];
        for p in previous {
            keys.push(SealKey::new(&decode_key(p)?));
        }
        Ok(Sealer { keys })
    }

    pub fn random() -> Self {
        let key = Aes256Gcm::generate_key(OsRng);
        let mut raw = [0u8; 32];
        raw.copy_from_slice(&key);
        Sealer {
            keys: vec![SealKey::new(&raw)],
        }
    }

    /// A keyed hash of `name` under every key, current first: a store key
    /// that finds a value by name without holding the name.
    pub fn blind(&self, name: &str) -> Vec<String> {
        self.keys
            .iter()
            .map(|k| {
                hex::encode(
                    Sha256::new()
                        .chain_update(k.blinding)
                        .chain_update(name.as_bytes())
                        .finalize(),
                )
            })
            .collect()
    }

    pub fn seal_bytes(&self, aad: &[u8], plain: &[u8]) -> Vec<u8> {
        let key = &self.keys[0];
        // A CSPRNG reseeded from the OS, not a syscall per value.
        let nonce = Aes256Gcm::generate_nonce(&mut rand::thread_rng());
        let ct = key
            .cipher
            .encrypt(&nonce, Payload { msg: plain, aad })
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        let mut out = Vec::with_capacity(4 + 12 + ct.len());
        out.extend_from_slice(&key.id);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    pub fn open_bytes(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, StoreError> {
        if sealed.len() < 16 {
            return Err(StoreError::Corrupt("sealed value too short".into()));
        }
        let (kid, rest) = sealed.split_at(4);
        let (nonce, ct) = rest.split_at(12);
        let key = self
            .keys
            .iter()
            .find(|k| k.id == kid)
            .ok_or_else(|| StoreError::Corrupt("value sealed with an unknown key".into()))?;
        key.cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad })
            .map_err(|_| StoreError::Corrupt("value failed authentication".into()))
    }

    pub fn seal<T: Serialize>(&self, aad: &[u8], value: &T) -> Vec<u8> {
        let plain = serde_json::to_vec(value).expect("stored types always serialise");
        self.seal_bytes(aad, &plain)
    }

    pub fn open<T: DeserializeOwned>(&self, aad: &[u8], sealed: &[u8]) -> Result<T, StoreError> {
        let plain = self.open_bytes(aad, sealed)?;
        serde_json::from_slice(&plain).map_err(|e| StoreError::Corrupt(e.to_string()))
    }
}

fn decode_key(b64: &str) -> Result<[u8; 32], String> {
    let b64 = b64.trim();
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(b64))
        .map_err(|_| "data key must be base64".to_string())?;
    raw.try_into()
        .map_err(|_| "data key must be 32 bytes (256 bits)".to_string())
}

/// Associated data for values that belong to no room.
pub const GLOBAL_AAD: &[u8] = b"caucus-global";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_in_their_room_and_with_a_known_key() {
        let s = Sealer::random();
        let sealed = s.seal(b"room-a", &"secret words");
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
        assert_eq!(
            s.open::<String>(b"room-a", &sealed).unwrap(),
            "secret words"
        );
        assert!(s.open::<String>(b"room-b", &sealed).is_err());
        assert!(Sealer::random().open::<String>(b"room-a", &sealed).is_err());
    }

    #[test]
    fn previous_keys_still_open_after_rotation() {
        let old = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        let new = base64::engine::general_purpose::STANDARD.encode([9u8; 32]);
        let before = Sealer::from_base64(&old, &[]).unwrap();
        let sealed = before.seal(b"r", &1u32);
        let after = Sealer::from_base64(&new, &[old]).unwrap();
        assert_eq!(after.open::<u32>(b"r", &sealed).unwrap(), 1);
    }
}
