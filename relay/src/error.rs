//! The one error type of the relay and its one mapping to wire codes and
//! HTTP statuses. Messages are written for the requester: they never quote
//! content the requester could not already see. Internal details are logged
//! (without bodies) and replaced by a generic message.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use protocol::rest::ErrorBody;
use protocol::ErrorCode;

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("too many requests; slow down")]
    RateLimited,
    #[error("{0}")]
    Conflict(String),
    #[error("the room is closed")]
    RoomClosed,
    #[error("this invite code has already been used")]
    Gone,
    #[error("please read and acknowledge the office notice before sending")]
    NoticeRequired,
    #[error("the relay's state store is unavailable; try again shortly")]
    Unavailable,
    #[error("internal error")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn forbidden(msg: impl Into<String>) -> Self {
        Error::Forbidden(msg.into())
    }
    pub fn invalid(msg: impl Into<String>) -> Self {
        Error::Invalid(msg.into())
    }
    pub fn not_found(msg: impl Into<String>) -> Self {
        Error::NotFound(msg.into())
    }
    pub fn conflict(msg: impl Into<String>) -> Self {
        Error::Conflict(msg.into())
    }
    pub fn unauthorized(msg: impl Into<String>) -> Self {
        Error::Unauthorized(msg.into())
    }
    pub fn internal(msg: impl Into<String>) -> Self {
        Error::Internal(msg.into())
    }

    /// The single mapping from errors to the wire: code and HTTP status.
    pub fn code_and_status(&self) -> (ErrorCode, StatusCode) {
        match self {
            Error::Unauthorized(_) => (ErrorCode::Unauthorized, StatusCode::UNAUTHORIZED),
            Error::Forbidden(_) => (ErrorCode::Forbidden, StatusCode::FORBIDDEN),
            Error::NotFound(_) => (ErrorCode::NotFound, StatusCode::NOT_FOUND),
            Error::Invalid(_) => (ErrorCode::Invalid, StatusCode::BAD_REQUEST),
            Error::TooLarge(_) => (ErrorCode::TooLarge, StatusCode::PAYLOAD_TOO_LARGE),
            Error::RateLimited => (ErrorCode::RateLimited, StatusCode::TOO_MANY_REQUESTS),
            Error::Conflict(_) => (ErrorCode::Conflict, StatusCode::CONFLICT),
            Error::RoomClosed => (ErrorCode::RoomClosed, StatusCode::GONE),
            Error::Gone => (ErrorCode::Gone, StatusCode::GONE),
            Error::NoticeRequired => (ErrorCode::NoticeRequired, StatusCode::FORBIDDEN),
            Error::Unavailable => (ErrorCode::Unavailable, StatusCode::SERVICE_UNAVAILABLE),
            Error::Internal(_) => (ErrorCode::Internal, StatusCode::INTERNAL_SERVER_ERROR),
        }
    }

    pub fn code(&self) -> ErrorCode {
        self.code_and_status().0
    }

    /// What the requester is told. Internal details stay in the log.
    pub fn public_message(&self) -> String {
        if let Error::Internal(detail) = self {
            tracing::error!(%detail, "internal error");
        }
        self.to_string()
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(detail) => {
                tracing::warn!(%detail, "store unavailable");
                Error::Unavailable
            }
            StoreError::Corrupt(detail) => Error::Internal(detail),
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let (code, status) = self.code_and_status();
        let body = ErrorBody {
            code,
            message: self.public_message(),
        };
        (status, Json(body)).into_response()
    }
}
