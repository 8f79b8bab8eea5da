//! Why the room logic refuses a request. It knows nothing of HTTP or
//! websockets: `crate::error::Error` maps each refusal to its wire code.

/// A refusal. Messages are written for the requester and never quote
/// content the requester could not already see.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoomError {
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    Conflict(String),
    #[error("the room is closed")]
    RoomClosed,
    /// An invite link older than the party's newest one.
    #[error("the ombud has given you a new link; this one no longer works")]
    Replaced,
    #[error("please read and acknowledge the office notice before sending")]
    NoticeRequired,
    /// Storing this would take the room or its author over a quota.
    #[error("{0}")]
    QuotaExceeded(String),
}

impl RoomError {
    pub fn forbidden(msg: impl Into<String>) -> Self {
        RoomError::Forbidden(msg.into())
    }
    pub fn not_found(msg: impl Into<String>) -> Self {
        RoomError::NotFound(msg.into())
    }
    pub fn invalid(msg: impl Into<String>) -> Self {
        RoomError::Invalid(msg.into())
    }
    pub fn too_large(msg: impl Into<String>) -> Self {
        RoomError::TooLarge(msg.into())
    }
    pub fn conflict(msg: impl Into<String>) -> Self {
        RoomError::Conflict(msg.into())
    }
}
