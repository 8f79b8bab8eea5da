//! Who is asking: ombud accounts and passwords ([`accounts`]), with login
//! throttling ([`throttle`]), and tokens ([`tokens`]). The extractors that run these checks before a handler does
//! live with the HTTP layer (`crate::http::extract`).

pub mod accounts;
pub mod throttle;
pub mod tokens;

pub use accounts::{Account, Accounts};
pub use tokens::{Claims, Tokens};
