//! Tokens: HS256 JWTs with a pinned algorithm, `exp`, `aud` and `iss`
//! checked. An ombud token and a party token can never stand in for each
//! other (a party token names exactly one room; an ombud token none).

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use protocol::Role;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::Error;

const ISSUER: &str = "caucus-relay";
const AUDIENCE: &str = "caucus";
/// Ombud sessions last a working day.
const OMBUD_TOKEN_SECS: i64 = 12 * 3600;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// The participant id (an ombud's account id, or a party id).
    pub sub: Uuid,
    pub role: Role,
    /// A party token is bound to exactly one room.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<Uuid>,
    /// The ombud's username (ombud tokens only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usr: Option<String>,
    pub exp: i64,
    pub iat: i64,
    pub aud: String,
    pub iss: String,
}

pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl Tokens {
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[AUDIENCE]);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
        validation.leeway = 5;
        Tokens {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    fn issue(
        &self,
        sub: Uuid,
        role: Role,
        room: Option<Uuid>,
        usr: Option<String>,
        exp: i64,
    ) -> String {
        let claims = Claims {
            sub,
            role,
            room,
            usr,
            exp,
            iat: chrono::Utc::now().timestamp(),
            aud: AUDIENCE.into(),
            iss: ISSUER.into(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing cannot fail")
    }

    pub fn issue_ombud(&self, id: Uuid, username: &str) -> String {
        let exp = chrono::Utc::now().timestamp() + OMBUD_TOKEN_SECS;
        self.issue(id, Role::Ombud, None, Some(username.to_string()), exp)
    }

    /// A party's token lives as long as its room.
    pub fn issue_party(&self, party: Uuid, room: Uuid, room_expires_at_ms: i64) -> String {
        self.issue(
            party,
            Role::Party,
            Some(room),
            None,
            room_expires_at_ms / 1000,
        )
    }

    pub fn verify(&self, token: &str) -> Result<Claims, Error> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| Error::unauthorized(format!("invalid token: {}", describe(&e))))?;
        let c = data.claims;
        match (c.role, c.room, &c.usr) {
            (Role::Party, Some(_), None) | (Role::Ombud, None, Some(_)) => Ok(c),
            _ => Err(Error::unauthorized("invalid token: malformed claims")),
        }
    }
}

fn describe(e: &jsonwebtoken::errors::Error) -> &'static str {
    use jsonwebtoken::errors::ErrorKind::*;
    match e.kind() {
        ExpiredSignature => "expired",
        InvalidSignature => "bad signature",
        InvalidAlgorithm => "wrong algorithm",
        InvalidAudience | InvalidIssuer => "not issued for this relay",
        _ => "malformed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_pinned_to_hs256_and_to_this_relay() {
        let t = Tokens::new(b"0123456789abcdef0123456789abcdef");
        let tok = t.issue_ombud(Uuid::new_v4(), "o");
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
        assert!(t.verify(&other.issue_ombud(Uuid::new_v4(), "o")).is_err());
        // Expired.
        let old = t.issue(Uuid::new_v4(), Role::Ombud, None, Some("o".into()), 1000);
        assert!(t.verify(&old).is_err());
    }
}
