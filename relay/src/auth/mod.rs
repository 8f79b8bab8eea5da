//! Who is asking: ombud accounts and passwords ([`accounts`]), with login
//! throttling ([`throttle`]), tokens ([`tokens`]) and whether a token is
//! still good ([`sessions`]), and signing in with the institution's
//! OpenID provider ([`oidc`]). The extractors that run these checks before a
//! handler does live with the HTTP layer (`crate::http::extract`).

pub mod accounts;
pub mod oidc;
pub mod sessions;
pub mod throttle;
pub mod tokens;

pub use accounts::{Account, Accounts};
pub use sessions::Sessions;
pub use tokens::{Claims, Purpose, Tokens};
