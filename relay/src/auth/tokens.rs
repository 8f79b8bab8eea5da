//! Tokens: HS256 JWTs with a pinned algorithm; `exp`, `aud`, `iss` and
//! `sub` required, `nbf` checked when present. Every token names its
//! purpose (`typ`), and the purpose must agree with every other claim, so an
//! ombud token and a party token can never stand in for each other even if
//! a future change made their other claims look alike.
//!
//! Whether a well-formed token has been revoked is not decided here (that
//! needs the store): see [`super::sessions`].

use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use protocol::Role;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use uuid::Uuid;

use crate::error::Error;

const ISSUER: &str = "caucus-relay";
const AUDIENCE: &str = "caucus";
/// Ombud sessions last a working day.
const OMBUD_TOKEN_SECS: i64 = 12 * 3600;

/// What a token was issued for.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// An ombud's sign-in: any room the ombud belongs to, revocable by
    /// signing out.
    OmbudSession,
    /// A party's admission to exactly one room.
    PartyRoom,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// The participant id (an ombud's account id, or a party id).
    pub sub: Uuid,
    /// Always set on tokens issued now. A party token issued before `typ`
    /// existed has none and is read as [`Purpose::PartyRoom`] (see
    /// [`Claims::purpose`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typ: Option<Purpose>,
    pub role: Role,
    /// A party token is bound to exactly one room.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<Uuid>,
    /// The ombud's username (ombud tokens only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usr: Option<String>,
    /// The subject's token generation when the token was issued: an
    /// ombud's sign-out, or a new link for a party, raises the stored
    /// generation, and every token with an older one stops working. Always
    /// set on an ombud token; a party token from before parties had
    /// generations has none, read as 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gen: Option<u64>,
    pub exp: i64,
    pub iat: i64,
    /// Not valid before; checked when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    pub aud: String,
    pub iss: String,
}

impl Claims {
    /// What the token is for. A token without `typ` can only be a party
    /// token from before `typ` existed: parties cannot sign in again (their
    /// invite code is spent), so those stay good until their room expires,
    /// while ombuds simply sign in again. Such a token must still have the
    /// exact party shape, so it can never pass for an ombud's.
    pub fn purpose(&self) -> Purpose {
        self.typ.unwrap_or(Purpose::PartyRoom)
    }

    /// Does the purpose agree with every other claim?
    fn consistent(&self) -> bool {
        match self.purpose() {
            Purpose::OmbudSession => {
                self.role == Role::Ombud
                    && self.room.is_none()
                    && self.usr.is_some()
                    && self.gen.is_some()
            }
            Purpose::PartyRoom => {
                self.role == Role::Party && self.room.is_some() && self.usr.is_none()
            }
        }
    }
}

pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    /// Keys the store names of token generations (see [`Tokens::generation_key`]).
    generation_mac: Hmac<Sha256>,
}

impl Tokens {
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[AUDIENCE]);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = 5;
        let mut generation_mac =
            <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes a key of any length");
        generation_mac.update(b"caucus-token-generation");
        Tokens {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            generation_mac,
        }
    }

    fn issue(&self, claims: Claims) -> String {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing cannot fail")
    }

    fn claims(
        sub: Uuid,
        typ: Purpose,
        role: Role,
        room: Option<Uuid>,
        usr: Option<String>,
        gen: Option<u64>,
        exp: i64,
    ) -> Claims {
        let now = chrono::Utc::now().timestamp();
        Claims {
            sub,
            typ: Some(typ),
            role,
            room,
            usr,
            gen,
            exp,
            iat: now,
            nbf: Some(now),
            aud: AUDIENCE.into(),
            iss: ISSUER.into(),
        }
    }

    /// An ombud's token at its current generation `gen`.
    pub fn issue_ombud(&self, id: Uuid, username: &str, gen: u64) -> String {
        let exp = chrono::Utc::now().timestamp() + OMBUD_TOKEN_SECS;
        self.issue(Self::claims(
            id,
            Purpose::OmbudSession,
            Role::Ombud,
            None,
            Some(username.to_string()),
            Some(gen),
            exp,
        ))
    }

    /// A party's token at generation `gen` (that of the link it joined
    /// with) lives as long as its room.
    pub fn issue_party(
        &self,
        party: Uuid,
        room: Uuid,
        room_expires_at_ms: i64,
        gen: u64,
    ) -> String {
        self.issue(Self::claims(
            party,
            Purpose::PartyRoom,
            Role::Party,
            Some(room),
            None,
            Some(gen),
            room_expires_at_ms / 1000,
        ))
    }

    /// The claims of a well-formed, current token signed by this relay.
    /// (Revocation is checked by [`super::Sessions`].)
    pub fn verify(&self, token: &str) -> Result<Claims, Error> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| Error::unauthorized(format!("invalid token: {}", describe(&e))))?;
        let c = data.claims;
        if !c.consistent() {
            return Err(Error::unauthorized("invalid token: malformed claims"));
        }
        Ok(c)
    }

    /// The store name of a subject's token generation: a keyed hash of its
    /// id under the token secret. A store dump does not show whose it is,
    /// and changing the secret (which voids every token anyway) starts every
    /// generation afresh without leaving a way back for an old token.
    pub fn generation_key(&self, subject: Uuid) -> String {
        let mut mac = self.generation_mac.clone();
        mac.update(subject.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

fn describe(e: &jsonwebtoken::errors::Error) -> &'static str {
    use jsonwebtoken::errors::ErrorKind::*;
    match e.kind() {
        ExpiredSignature => "expired",
        ImmatureSignature => "not valid yet",
        InvalidSignature => "bad signature",
        InvalidAlgorithm => "wrong algorithm",
        InvalidAudience | InvalidIssuer => "not issued for this relay",
        _ => "malformed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn tokens_are_pinned_to_hs256_and_to_this_relay() {
        let t = Tokens::new(SECRET);
        let tok = t.issue_ombud(Uuid::new_v4(), "o", 0);
        assert!(t.verify(&tok).is_ok());
        // Tampered payload.
        let mut parts: Vec<String> = tok.split('.').map(String::from).collect();
        parts[1].insert(3, 'A');
        assert!(t.verify(&parts.join(".")).is_err());
        // alg: none
        let none = format!(
            "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.",
            tok.split('.').nth(1).unwrap()
        );
        assert!(t.verify(&none).is_err());
        // Another relay's secret.
        let other = Tokens::new(b"another-secret-another-secret-xx");
        assert!(t
            .verify(&other.issue_ombud(Uuid::new_v4(), "o", 0))
            .is_err());
        // Expired.
        let mut old = Tokens::claims(
            Uuid::new_v4(),
            Purpose::OmbudSession,
            Role::Ombud,
            None,
            Some("o".into()),
            Some(0),
            1000,
        );
        assert!(t.verify(&t.issue(old.clone())).is_err());
        old.exp = chrono::Utc::now().timestamp() + 60;
        assert!(t.verify(&t.issue(old)).is_ok(), "the control is valid");
    }

    /// Claims as a JSON object, signed with the relay's own secret: what an
    /// attacker could only produce with the secret, or a future bug in
    /// issuing could produce by accident.
    fn signed(t: &Tokens, claims: serde_json::Value) -> String {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &t.encoding).unwrap()
    }

    fn base(extra: serde_json::Value) -> serde_json::Value {
        let now = chrono::Utc::now().timestamp();
        let mut claims = serde_json::json!({
            "sub": Uuid::new_v4(), "exp": now + 600, "iat": now,
            "aud": AUDIENCE, "iss": ISSUER,
        });
        for (k, v) in extra.as_object().unwrap() {
            claims[k] = v.clone();
        }
        claims
    }

    #[test]
    fn ombud_and_party_tokens_cannot_pass_for_each_other() {
        let t = Tokens::new(SECRET);
        let room = Uuid::new_v4();
        let ombud =
            serde_json::json!({"typ": "ombud_session", "role": "ombud", "usr": "o", "gen": 0});
        let party = serde_json::json!({"typ": "party_room", "role": "party", "room": room});
        let relinked =
            serde_json::json!({"typ": "party_room", "role": "party", "room": room, "gen": 2});
        assert!(t.verify(&signed(&t, base(ombud))).is_ok());
        assert!(t.verify(&signed(&t, base(party))).is_ok());
        assert!(t.verify(&signed(&t, base(relinked))).is_ok());
        // A party token from before `typ`: still a party token, and only that.
        let legacy = serde_json::json!({"role": "party", "room": room});
        let claims = t.verify(&signed(&t, base(legacy))).unwrap();
        assert_eq!(claims.purpose(), Purpose::PartyRoom);
        for confused in [
            // No purpose is read as a party's: an ombud token needs one.
            serde_json::json!({"role": "ombud", "usr": "o", "gen": 0}),
            serde_json::json!({"role": "ombud", "usr": "o"}),
            serde_json::json!({"role": "party", "room": room, "usr": "o"}),
            // A purpose that contradicts the role or the shape.
            serde_json::json!({"typ": "party_room", "role": "ombud", "usr": "o", "gen": 0}),
            serde_json::json!({"typ": "ombud_session", "role": "party", "room": room}),
            serde_json::json!({"typ": "ombud_session", "role": "ombud", "room": room, "usr": "o", "gen": 0}),
            serde_json::json!({"typ": "party_room", "role": "party", "gen": 0}),
            // An ombud token without a generation could never be revoked.
            serde_json::json!({"typ": "ombud_session", "role": "ombud", "usr": "o"}),
            serde_json::json!({"typ": "admin", "role": "ombud", "usr": "o", "gen": 0}),
        ] {
            let token = signed(&t, base(confused.clone()));
            assert!(t.verify(&token).is_err(), "accepted {confused}");
        }
    }

    #[test]
    fn a_token_is_refused_before_its_nbf() {
        let t = Tokens::new(SECRET);
        let now = chrono::Utc::now().timestamp();
        let claims = |nbf: i64| {
            base(serde_json::json!({
                "typ": "ombud_session", "role": "ombud", "usr": "o", "gen": 0, "nbf": nbf,
            }))
        };
        assert!(t.verify(&signed(&t, claims(now + 3600))).is_err());
        assert!(t.verify(&signed(&t, claims(now - 10))).is_ok());
    }

    #[test]
    fn generation_keys_are_keyed_per_secret_and_subject() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let t = Tokens::new(SECRET);
        assert_eq!(t.generation_key(a), t.generation_key(a));
        assert_ne!(t.generation_key(a), t.generation_key(b));
        assert!(!t.generation_key(a).contains(&a.simple().to_string()));
        let other = Tokens::new(b"another-secret-another-secret-xx");
        assert_ne!(t.generation_key(a), other.generation_key(a));
    }
}
