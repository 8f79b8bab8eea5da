//! Sealing: everything written to a store is serialised and encrypted here,
//! so message bodies, forward bodies and display names are never at rest in
//! plaintext, in any store. The associated-data builders live here too, so
//! what binds a value to its place is decided in one module.
//!
//! Format: `key_id (4 bytes) || nonce (12) || AES-256-GCM ciphertext`, with the
//! room id (or a fixed label for global values) as associated data so a value
//! cannot be replayed into another room. `key_id` lets a relay hold the
//! current key plus previous ones during a key rotation (see README).

use std::sync::Arc;

use aes_gcm::aead::{Aead, AeadCore, AeadInPlace, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// A sealed value that cannot be opened: it was not written by this code
/// under a key this relay holds, or it was moved from where it belongs.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("sealed value too short")]
    TooShort,
    #[error("value sealed with an unknown key")]
    UnknownKey,
    #[error("value failed authentication")]
    Forged,
    #[error("sealed value does not decode: {0}")]
    Decode(String),
}

/// Key id and nonce, ahead of the ciphertext.
const HEAD: usize = 4 + 12;
/// The AES-GCM tag, after it.
const TAG: usize = 16;

/// Associated data for values that belong to no room.
pub const GLOBAL_AAD: &[u8] = b"caucus-global";

/// Associated data of a room's document, invites and anything else that
/// belongs to the room as a whole.
pub fn room_aad(room: Uuid) -> [u8; 16] {
    *room.as_bytes()
}

/// Associated data of a room object: bound to its room and its key.
pub fn obj_aad(room: Uuid, key: &str) -> Vec<u8> {
    let mut aad = room.as_bytes().to_vec();
    aad.extend_from_slice(key.as_bytes());
    aad
}

/// Associated data of the ephemeral signals a room's nodes exchange
/// (presence, typing, closing a participant's connections): a signal opens
/// only in the room it was sent in, and cannot pass for a stored value.
pub fn signal_aad(room: Uuid) -> Vec<u8> {
    let mut aad = b"caucus-signal".to_vec();
    aad.extend_from_slice(room.as_bytes());
    aad
}

/// Associated data of a participant's inbox entries: an event cannot be moved
/// into another participant's inbox without failing to open.
pub fn inbox_aad(room: Uuid, participant: Uuid) -> [u8; 32] {
    let mut aad = [0u8; 32];
    aad[..16].copy_from_slice(room.as_bytes());
    aad[16..].copy_from_slice(participant.as_bytes());
    aad
}

struct SealKey {
    id: [u8; 4],
    cipher: Aes256Gcm,
    /// Keys the hashes that stand in for names in store keys.
    blinding: [u8; 32],
    /// HMAC keyed with `blinding`, its key already absorbed: cloned per
    /// name, which saves two of the four SHA-256 blocks of every blinding
    /// (one per `send`, for its `client_id`).
    blinder: Hmac<Sha256>,
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
            blinder: <Hmac<Sha256> as Mac>::new_from_slice(&blinding)
                .expect("HMAC takes a key of any length"),
            blinding,
        }
    }
}

impl SealKey {
    /// HMAC-SHA-256 over `scope`, a separator and `name`. The scope is
    /// length-prefixed, so no two (scope, name) pairs hash the same input.
    fn mac(&self, scope: &[u8], name: &str) -> [u8; 32] {
        let mut mac = self.blinder.clone();
        mac.update(b"caucus-blind-in");
        mac.update(&(scope.len() as u64).to_be_bytes());
        mac.update(scope);
        mac.update(name.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

/// The current key seals; every key (current first) may open.
pub struct Sealer {
    keys: Vec<SealKey>,
}

/// `value` as JSON after room for the key id and nonce; most events and
/// records fit the first allocation.
fn plain_buffer<T: Serialize>(value: &T) -> Vec<u8> {
    let mut buf = Vec::with_capacity(512);
    buf.extend_from_slice(&[0; HEAD]);
    serde_json::to_writer(&mut buf, value).expect("stored types always serialise");
    buf
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

    /// HMAC-SHA-256 of `name` under every key, current first: a store key
    /// that finds a value by name without holding the name. Names blinded
    /// by earlier releases (SHA-256 of key and name) follow, so accounts
    /// written then are still found; the next write files them anew.
    pub fn blind(&self, name: &str) -> Vec<String> {
        let hmac = self.keys.iter().map(|k| {
            let mut mac = k.blinder.clone();
            mac.update(name.as_bytes());
            hex::encode(mac.finalize().into_bytes())
        });
        let legacy = self.keys.iter().map(|k| {
            hex::encode(
                Sha256::new()
                    .chain_update(k.blinding)
                    .chain_update(name.as_bytes())
                    .finalize(),
            )
        });
        hmac.chain(legacy).collect()
    }

    /// HMAC-SHA-256 of `name` within `scope` under every key, current first:
    /// a store name (an object key, a counter field) that stands in for
    /// text a client chose or an office's category, without showing it.
    /// `scope` (a room id, a label) keeps equal names in different places
    /// from looking alike. Look a value up under every form; write under
    /// the first.
    pub fn blind_in(&self, scope: &[u8], name: &str) -> Vec<String> {
        self.keys
            .iter()
            .map(|k| hex::encode(k.mac(scope, name)))
            .collect()
    }

    /// A number fixed by `name` under the current key and unpredictable
    /// without it: reports derive their coarsening from it, so the same
    /// question always gets the same answer. It changes when the data key
    /// is rotated.
    pub fn keyed_number(&self, name: &str) -> u64 {
        let digest = self.keys[0].mac(b"caucus-keyed-number", name);
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        u64::from_be_bytes(first)
    }

    pub fn seal_bytes(&self, aad: &[u8], plain: &[u8]) -> Vec<u8> {
        let mut buf = Vec::with_capacity(HEAD + plain.len() + TAG);
        buf.extend_from_slice(&[0; HEAD]);
        buf.extend_from_slice(plain);
        self.seal_in_place(aad, buf)
    }

    /// Encrypts `buf[HEAD..]` where it lies, writes the key id and nonce
    /// into `buf[..HEAD]` and appends the tag: the same bytes as
    /// encrypting into a fresh buffer, without the copies.
    fn seal_in_place(&self, aad: &[u8], mut buf: Vec<u8>) -> Vec<u8> {
        let key = &self.keys[0];
        // A CSPRNG reseeded from the OS, not a syscall per value.
        let nonce = Aes256Gcm::generate_nonce(&mut rand::thread_rng());
        buf[..4].copy_from_slice(&key.id);
        buf[4..HEAD].copy_from_slice(&nonce);
        let tag = key
            .cipher
            .encrypt_in_place_detached(&nonce, aad, &mut buf[HEAD..])
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        buf.extend_from_slice(&tag);
        buf
    }

    pub fn open_bytes(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, SealError> {
        if sealed.len() < 16 {
            return Err(SealError::TooShort);
        }
        let (kid, rest) = sealed.split_at(4);
        let (nonce, ct) = rest.split_at(12);
        let key = self
            .keys
            .iter()
            .find(|k| k.id == kid)
            .ok_or(SealError::UnknownKey)?;
        key.cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad })
            .map_err(|_| SealError::Forged)
    }

    pub fn seal<T: Serialize>(&self, aad: &[u8], value: &T) -> Vec<u8> {
        self.seal_in_place(aad, plain_buffer(value))
    }

    /// [`Sealer::seal`], also returning the JSON it sealed (for a reader in
    /// this process that would otherwise open the value straight away).
    pub fn seal_keeping_json<T: Serialize>(&self, aad: &[u8], value: &T) -> (Vec<u8>, Arc<str>) {
        let buf = plain_buffer(value);
        let json = std::str::from_utf8(&buf[HEAD..]).expect("serde_json writes UTF-8");
        let json = Arc::from(json);
        (self.seal_in_place(aad, buf), json)
    }

    pub fn open<T: DeserializeOwned>(&self, aad: &[u8], sealed: &[u8]) -> Result<T, SealError> {
        let plain = self.open_bytes(aad, sealed)?;
        serde_json::from_slice(&plain).map_err(|e| SealError::Decode(e.to_string()))
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
    fn blinded_names_are_hmacs_first_and_legacy_hashes_after() {
        let s = Sealer::from_base64(
            &base64::engine::general_purpose::STANDARD.encode([3u8; 32]),
            &[],
        )
        .unwrap();
        let names = s.blind("ombud");
        assert_eq!(names.len(), 2);
        assert_ne!(names[0], names[1]);
        assert_eq!(names, s.blind("ombud"), "stable");
        assert_ne!(names[0], s.blind("ombud2")[0]);
    }

    #[test]
    fn names_blinded_in_a_scope_differ_by_scope_and_survive_rotation() {
        let old = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        let new = base64::engine::general_purpose::STANDARD.encode([9u8; 32]);
        let before = Sealer::from_base64(&old, &[]).unwrap();
        let after = Sealer::from_base64(&new, &[old]).unwrap();
        let name = before.blind_in(b"room-a", "my-client-id");
        assert_eq!(name.len(), 1);
        assert!(!name[0].contains("client"));
        assert_ne!(name, before.blind_in(b"room-b", "my-client-id"));
        assert_ne!(name, before.blind_in(b"room-a", "other"));
        assert_ne!(before.blind_in(b"ab", "c"), before.blind_in(b"a", "bc"));
        assert_eq!(after.blind_in(b"room-a", "my-client-id")[1], name[0]);
        assert_eq!(before.keyed_number("x"), before.keyed_number("x"));
        assert_ne!(before.keyed_number("x"), before.keyed_number("y"));
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
