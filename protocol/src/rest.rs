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
