//! Error codes (in `error` frames and REST error bodies) and websocket close codes.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Why a request failed. Messages that accompany a code never quote content
/// the requester could not already see.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum ErrorCode {
    /// No credentials, bad credentials, or a token that does not verify.
    Unauthorized,
    /// Authenticated, but this participant may not do or see that.
    Forbidden,
    /// No such object in this room (or not one the requester may know of).
    NotFound,
    /// Malformed frame or body: bad JSON, unknown type, missing or mistyped field.
    Invalid,
    /// The frame or body is over the size limit; nothing was stored.
    TooLarge,
    /// Too many requests from this participant, or too many failed logins
    /// (REST answers carry `Retry-After`); retry later.
    RateLimited,
    /// The request lost a race: a stale consent revision, an object in the wrong state.
    Conflict,
    /// The room is closed (or was deleted).
    RoomClosed,
    /// An invite code that has already been used.
    Gone,
    /// The ombud gave this party a new link: this earlier link, or a token
    /// obtained with an earlier link, no longer works. The party needs the
    /// new link.
    Replaced,
    /// A party must acknowledge the office notice before sending.
    NoticeRequired,
    /// The state store is unreachable, or the relay is at a capacity limit;
    /// nothing was done, retry later.
    Unavailable,
    /// The room, or this participant in it, has stored as much as it may;
    /// nothing was stored. The room's ombuds see its usage in `quota`.
    QuotaExceeded,
    /// `POST /api/intake`: the proof-of-work challenge is missing, malformed,
    /// expired, already spent, or the nonce does not solve it. Fetch a new
    /// one with `GET /api/intake`.
    ChallengeFailed,
    /// `POST /api/intake`: the office has turned intake off.
    IntakeClosed,
    /// A bug or an unexpected failure; nothing is revealed.
    Internal,
}

impl ErrorCode {
    /// The code as it appears on the wire (serde's name; a test holds them together).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Websocket close codes the relay uses. 1xxx are standard; 4xxx are ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum CloseCode {
    /// Normal close, e.g. after `leave`.
    Normal = 1000,
    /// A frame over the hard cap (1 MiB); the socket layer cannot read it.
    MessageTooBig = 1009,
    /// The relay is shutting down or restarting: reconnect (elsewhere) with `since`.
    Restart = 1012,
    /// The first frame was not a valid `hello`.
    BadHello = 4000,
    /// Missing, bad, expired or tampered token.
    Unauthorized = 4001,
    /// The token is valid but not for this room, or the party has left.
    Forbidden = 4003,
    /// The room does not exist.
    NotFound = 4004,
    /// No `hello` arrived in time.
    HelloTimeout = 4008,
    /// The room was closed; its state is gone.
    RoomClosed = 4009,
    /// The ombud gave this party a new link: every earlier session of the
    /// party is void. Do not reconnect; the party needs the new link.
    Replaced = 4010,
    /// The client read too slowly and its outgoing queue filled up: reconnect with `since`.
    TooSlow = 4013,
    /// The state store is unavailable: reconnect later with `since`.
    Unavailable = 4014,
    /// This participant already holds `RELAY_MAX_SOCKETS_PER_PARTICIPANT`
    /// connections on this node: close one before opening another.
    TooManySockets = 4029,
}

impl CloseCode {
    pub const ALL: [CloseCode; 13] = [
        CloseCode::Normal,
        CloseCode::MessageTooBig,
        CloseCode::Restart,
        CloseCode::BadHello,
        CloseCode::Unauthorized,
        CloseCode::Forbidden,
        CloseCode::NotFound,
        CloseCode::HelloTimeout,
        CloseCode::RoomClosed,
        CloseCode::Replaced,
        CloseCode::TooSlow,
        CloseCode::Unavailable,
        CloseCode::TooManySockets,
    ];

    pub fn code(self) -> u16 {
        self as u16
    }
}

impl TryFrom<u16> for CloseCode {
    type Error = u16;
    /// Only the codes the relay uses; anything else is handed back.
    fn try_from(code: u16) -> Result<Self, u16> {
        CloseCode::ALL
            .into_iter()
            .find(|c| c.code() == code)
            .ok_or(code)
    }
}
