//! Room logic: who may see what, forwards and consent revisions. No I/O.
//!
//! [`logic::apply`] takes the room document, the objects it asked for and a
//! request, and returns what to write and which events go to whose inbox.
//! Every event passes through [`audience`], the one place that decides
//! who may receive a channel's traffic.
//!
//! Architecture Invariant: a party's inbox only ever receives events whose
//! audience includes it; a party's words reach another party only as a
//! forward whose exact revision the author approved (or, in a room without
//! consent, that the ombud sent).
//!
//! Architecture Invariant: nothing here imports axum, a store or the codec;
//! refusals are [`RoomError`]s, which know nothing of HTTP.

pub mod agreement;
pub mod audience;
mod error;
pub mod logic;
pub mod onetext;
pub mod outcome;
pub mod records;
pub mod redact;
pub mod scrub;
pub mod transcript;

#[cfg(test)]
mod onetext_tests;
#[cfg(test)]
mod sim_tests;

pub use error::RoomError;
pub use records::*;
