//! The one error type of the relay and its one mapping to the wire: an error
//! code and HTTP status for answers, a close code for connections it ends.
//! Messages are written for the requester: they never quote content the
//! requester could not already see. Internal details are logged (without
//! bodies) by [`Error::log`] where an error is answered, and replaced by a
//! generic message.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use protocol::rest::ErrorBody;
use protocol::{CloseCode, ErrorCode};

use crate::room::RoomError;
use crate::seal::SealError;
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
    /// Too many failed logins for this account or address: wait this long.
    #[error("too many failed logins; try again in {} s", secs(*.0))]
    LoginThrottled(std::time::Duration),
    /// The relay is at a capacity limit (password hashing): retry after this.
    #[error("the relay is busy; try again shortly")]
    Busy(std::time::Duration),
    /// Too many sockets from this address are waiting for their `hello`.
    #[error("too many connections from your address are waiting to say hello")]
    UnauthenticatedSockets,
    /// This participant already has as many connections as it may have here.
    #[error("too many connections for this participant")]
    TooManySockets,
    /// A room or participant storage quota would be exceeded.
    #[error("{0}")]
    QuotaExceeded(String),
    #[error("{0}")]
    Conflict(String),
    #[error("the room is closed")]
    RoomClosed,
    #[error("this invite code has already been used")]
    Gone,
    /// The party was given a newer link: this link or session is void.
    #[error("the ombud has given you a new link; this one no longer works")]
    Replaced,
    #[error("please read and acknowledge the office notice before sending")]
    NoticeRequired,
    /// The detail is for the log; the requester is told to retry.
    #[error("the relay's state store is unavailable; try again shortly")]
    Unavailable(String),
    /// The websocket's first frame was not a valid `hello`.
    #[error("{0}")]
    BadHello(&'static str),
    #[error("no hello in time")]
    HelloTimeout,
    /// `POST /api/intake`: the proof of work is missing, wrong, expired or spent.
    #[error("{0}")]
    ChallengeFailed(String),
    #[error("the office is not taking new conversations here at the moment")]
    IntakeClosed,
    /// Too many conversations started from this address, or by everyone: wait this long.
    #[error("too many new conversations right now; try again in {} s", secs(*.0))]
    IntakeLimited(std::time::Duration),
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

    /// The single mapping from errors to the wire: code, HTTP status, and
    /// the close code when the error ends a websocket.
    fn wire(&self) -> (ErrorCode, StatusCode, CloseCode) {
        use CloseCode as C;
        use ErrorCode as E;
        use StatusCode as S;
        match self {
            Error::Unauthorized(_) => (E::Unauthorized, S::UNAUTHORIZED, C::Unauthorized),
            Error::Forbidden(_) => (E::Forbidden, S::FORBIDDEN, C::Forbidden),
            Error::NotFound(_) => (E::NotFound, S::NOT_FOUND, C::NotFound),
            Error::Invalid(_) => (E::Invalid, S::BAD_REQUEST, C::BadHello),
            Error::TooLarge(_) => (E::TooLarge, S::PAYLOAD_TOO_LARGE, C::MessageTooBig),
            Error::RateLimited => (E::RateLimited, S::TOO_MANY_REQUESTS, C::Unavailable),
            Error::LoginThrottled(_) => (E::RateLimited, S::TOO_MANY_REQUESTS, C::Unavailable),
            Error::Busy(_) => (E::Unavailable, S::SERVICE_UNAVAILABLE, C::Unavailable),
            Error::UnauthenticatedSockets => (E::RateLimited, S::TOO_MANY_REQUESTS, C::Unavailable),
            Error::TooManySockets => (E::RateLimited, S::TOO_MANY_REQUESTS, C::TooManySockets),
            Error::QuotaExceeded(_) => (E::QuotaExceeded, S::INSUFFICIENT_STORAGE, C::Unavailable),
            Error::Conflict(_) => (E::Conflict, S::CONFLICT, C::Unavailable),
            Error::RoomClosed => (E::RoomClosed, S::GONE, C::RoomClosed),
            Error::Gone => (E::Gone, S::GONE, C::NotFound),
            Error::Replaced => (E::Replaced, S::GONE, C::Replaced),
            Error::NoticeRequired => (E::NoticeRequired, S::FORBIDDEN, C::Forbidden),
            Error::Unavailable(_) => (E::Unavailable, S::SERVICE_UNAVAILABLE, C::Unavailable),
            Error::BadHello(_) => (E::Invalid, S::BAD_REQUEST, C::BadHello),
            Error::HelloTimeout => (E::Invalid, S::REQUEST_TIMEOUT, C::HelloTimeout),
            Error::ChallengeFailed(_) => (E::ChallengeFailed, S::BAD_REQUEST, C::Forbidden),
            Error::IntakeClosed => (E::IntakeClosed, S::FORBIDDEN, C::Forbidden),
            Error::IntakeLimited(_) => (E::RateLimited, S::TOO_MANY_REQUESTS, C::Unavailable),
            Error::Internal(_) => (E::Internal, S::INTERNAL_SERVER_ERROR, C::Unavailable),
        }
    }

    pub fn code(&self) -> ErrorCode {
        self.wire().0
    }

    pub fn status(&self) -> StatusCode {
        self.wire().1
    }

    /// The close code when this error ends a websocket connection.
    pub fn close_code(&self) -> CloseCode {
        self.wire().2
    }

    /// How long the requester should wait before retrying (`Retry-After`).
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            Error::LoginThrottled(d) | Error::Busy(d) | Error::IntakeLimited(d) => Some(*d),
            Error::UnauthenticatedSockets => Some(std::time::Duration::from_secs(1)),
            _ => None,
        }
    }

    /// What the requester is told. Internal details stay in the log.
    pub fn public_message(&self) -> String {
        self.to_string()
    }

    /// Logs what the requester is not told; call where the error is answered.
    pub fn log(&self) {
        match self {
            Error::Internal(detail) => tracing::error!(%detail, "internal error"),
            Error::Unavailable(detail) => {
                // An outage fails every request at once: one line, then a
                // summary at most every few seconds, not one line each.
                if let Some(suppressed) = UNAVAILABLE_LOG.admit(Instant::now()) {
                    tracing::warn!(%detail, suppressed, "store unavailable");
                }
            }
            _ => {}
        }
    }
}

/// How often a repeated failure is logged.
const LOG_EVERY: Duration = Duration::from_secs(5);

static UNAVAILABLE_LOG: LogThrottle = LogThrottle::new();

/// Admits one log line per [`LOG_EVERY`] and counts the ones it holds back.
struct LogThrottle(Mutex<(Option<Instant>, u64)>);

impl LogThrottle {
    const fn new() -> Self {
        LogThrottle(Mutex::new((None, 0)))
    }

    /// `Some(n)`: log now, mentioning the `n` lines held back since the last one.
    fn admit(&self, now: Instant) -> Option<u64> {
        let mut state = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let (last, held) = &mut *state;
        match last {
            Some(t) if now.duration_since(*t) < LOG_EVERY => {
                *held += 1;
                None
            }
            _ => {
                *last = Some(now);
                Some(std::mem::take(held))
            }
        }
    }
}

impl From<RoomError> for Error {
    fn from(e: RoomError) -> Self {
        match e {
            RoomError::Forbidden(m) => Error::Forbidden(m),
            RoomError::NotFound(m) => Error::NotFound(m),
            RoomError::Invalid(m) => Error::Invalid(m),
            RoomError::TooLarge(m) => Error::TooLarge(m),
            RoomError::Conflict(m) => Error::Conflict(m),
            RoomError::RoomClosed => Error::RoomClosed,
            RoomError::Replaced => Error::Replaced,
            RoomError::NoticeRequired => Error::NoticeRequired,
            RoomError::QuotaExceeded(m) => Error::QuotaExceeded(m),
        }
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(detail) => Error::Unavailable(detail),
            StoreError::Corrupt(detail) | StoreError::Config(detail) => Error::Internal(detail),
        }
    }
}

impl From<SealError> for Error {
    fn from(e: SealError) -> Self {
        Error::Internal(e.to_string())
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        self.log();
        let body = ErrorBody {
            code: self.code(),
            message: self.public_message(),
        };
        let mut response = (self.status(), Json(body)).into_response();
        if let Some(wait) = self.retry_after() {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs(wait)));
        }
        response
    }
}

/// Whole seconds to wait, rounded up, at least 1 (`Retry-After` has no fractions).
fn secs(d: std::time::Duration) -> u64 {
    (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_logs_a_line_then_a_summary_every_few_seconds() {
        let throttle = LogThrottle::new();
        let start = Instant::now();
        assert_eq!(throttle.admit(start), Some(0));
        let logged = (1..=600u64)
            .filter_map(|ms| throttle.admit(start + Duration::from_millis(ms * 5)))
            .collect::<Vec<_>>();
        // 3 s of failures, one every 5 ms: nothing more until 5 s have passed.
        assert!(logged.is_empty(), "{logged:?}");
        assert_eq!(throttle.admit(start + LOG_EVERY), Some(600));
        assert_eq!(throttle.admit(start + LOG_EVERY * 3), Some(0));
    }
}
