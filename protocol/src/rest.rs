//! JSON bodies of the HTTP API (`/api/...`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::errors::ErrorCode;
use crate::model::{Attribution, ParticipantId, ParticipantSummary, Resource, RoomId, RoomInfo};

/// Every non-2xx API answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

/// `GET /api/login`: how an ombud may sign in here. Needs no token: the
/// console asks before anyone has signed in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LoginOptions {
    /// Whether `POST /api/login` (username and password) is accepted.
    pub password: bool,
    /// Set when ombuds may sign in with their institution (OpenID Connect).
    pub oidc: Option<OidcOption>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OidcOption {
    /// The institution's name, for "Sign in with <institution>".
    pub institution: String,
    /// Where the browser goes to begin (`/api/oidc/start`).
    pub start_url: String,
}

/// Why a sign-in with the institution was refused. The callback sends the
/// browser to the console at `/#/signin/error/<code>`; the console says it
/// in words.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum OidcRefusal {
    /// Sign-in with the institution is not configured on this relay.
    NotConfigured,
    /// The identity provider answered with an error (the person cancelled, or
    /// it refused the request or the code).
    ProviderError,
    /// The sign-in took longer than 10 minutes, or came back to a browser
    /// that did not start it (no or an unreadable cookie).
    Expired,
    /// The `state` that came back is not the one this browser sent.
    BadState,
    /// The ID token's `nonce` is not the one this browser's sign-in sent.
    BadNonce,
    /// The ID token was issued for another client (`aud`/`azp`).
    WrongAudience,
    /// The ID token failed another check: issuer, signature, expiry.
    BadToken,
    /// A valid identity that the office settings do not map to an ombud.
    NotOmbud,
    /// The ombud account of this identity is disabled.
    Disabled,
    /// The identity provider could not be reached, or answered nonsense.
    Unavailable,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OmbudInfo {
    pub id: ParticipantId,
    pub username: String,
    pub display_name: String,
}

/// `PUT /api/me`: the name parties see in rooms this ombud creates from now on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UpdateMe {
    /// 1 to 80 characters once trimmed.
    pub display_name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LoginResponse {
    pub token: String,
    pub ombud: OmbudInfo,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CreateRoom {
    pub title: String,
    #[serde(default = "yes")]
    pub consent_required: bool,
    #[serde(default)]
    pub attribution: Attribution,
    /// Hours until every trace of the room expires; the relay's default when absent.
    #[serde(default)]
    pub retention_hours: Option<u32>,
}

/// A room with its participants, as its ombuds see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RoomDetail {
    #[serde(flatten)]
    pub room: RoomInfo,
    pub participants: Vec<ParticipantSummary>,
    /// Trend categories this room is tagged with.
    pub categories: Vec<String>,
    /// Room-specific terms the redaction helper flags.
    pub sensitive_terms: Vec<String>,
    /// Messages stored by the parties' own requests: what they wrote, and
    /// the relayed copies their consent released. It only grows, so a
    /// console that remembers the value it last saw can show new activity
    /// in a room it holds no connection to.
    #[serde(default)]
    pub party_messages: u64,
    /// Set when the room began as a conversation at the office's front door.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intake: Option<crate::intake::IntakeInfo>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CreateParty {
    pub display_name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PartyInvite {
    pub party_id: ParticipantId,
    pub invite_code: String,
    /// `/join#<code>`: the code sits in the fragment so it never reaches a server log.
    pub invite_url: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct JoinRequest {
    pub invite_code: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct JoinResponse {
    pub token: String,
    pub room_id: RoomId,
    pub party_id: ParticipantId,
}

/// Ombud: add a co-ombud (an existing ombud account) to a room.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AddOmbud {
    pub username: String,
}

/// Ombud: replace a room's trend categories or sensitive terms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SetList {
    pub items: Vec<String>,
}

/// Office settings an ombud's console needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OfficeInfo {
    pub office_name: String,
    pub notice: String,
    pub resources: Vec<Resource>,
    pub categories: Vec<String>,
    /// The notice and resources per language tag, for the languages the
    /// settings file names, each already completed from the defaults.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub languages: std::collections::BTreeMap<String, OfficeLanguage>,
}

/// One language's notice and resources (`OfficeInfo::languages`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OfficeLanguage {
    pub notice: String,
    pub resources: Vec<Resource>,
}

/// `GET /api/reports/trends`: rooms per category per month, small counts suppressed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TrendsReport {
    pub from: String,
    pub to: String,
    /// Counts below this are reported as `null` with `suppressed: true`.
    pub threshold: u32,
    pub rows: Vec<TrendRow>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TrendRow {
    /// `YYYY-MM`
    pub month: String,
    pub category: String,
    pub count: Option<u32>,
    pub suppressed: bool,
}
