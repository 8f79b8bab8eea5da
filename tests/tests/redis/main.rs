//! Redis-backed relays, end to end: real `relay` processes (started from the
//! binary, so they can be SIGKILLed) sharing a private `redis-server` per
//! test, driven over real sockets. These are the "Done when" checks of the
//! Redis state issue: a relay killed and restarted loses nothing
//! acknowledged, three nodes behave as one, a Redis outage is survived,
//! nothing of a closed or expired room remains, and nothing confidential is
//! at rest in plaintext. `browser` runs the web client in Chromium on two
//! such nodes (`tests/browser/e2e.mjs` and `onetext.mjs`, the ombud on one
//! node and the parties on the other), so the browser scripts also run on
//! the Redis store, not only on the embedded one (`tests/browser.rs`); like
//! that suite it needs Node.js and Chromium.
//!
//! Each test starts its own redis-server (or Redis Cluster) on free ports and gives its relays
//! a random key prefix, JWT secret and data key. Relay logs stay quiet unless
//! `TEST_LOG` is set.

mod at_rest;
mod browser;
mod cluster;
mod metrics;
mod nodes;
mod outage;
mod restart;
mod retention;
mod revocation;
mod support;
mod tls;
