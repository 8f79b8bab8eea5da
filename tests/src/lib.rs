//! Shared helpers for Caucus's end-to-end tests and the benchmark: start the
//! relay (in-process on port 0, or as a process), a private redis-server,
//! clients that speak the real protocol over real sockets, the Node.js
//! scripts that drive Chromium, and the OpenID provider they sign in with.

pub mod app;
pub mod browser;
pub mod client;
pub mod oidc;
pub use caucus_testkit::redis_server;
