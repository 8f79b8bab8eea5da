//! Redis-backed relays, end to end: real `relay` processes (started from the
//! binary, so they can be SIGKILLed) sharing a private `redis-server` per
//! test, driven over real sockets. These are the "Done when" checks of the
//! Redis state issue: a relay killed and restarted loses nothing
//! acknowledged, three nodes behave as one, a Redis outage is survived,
//! nothing of a closed or expired room remains, and nothing confidential is
//! at rest in plaintext.
//!
//! Each test starts its own redis-server (or Redis Cluster) on free ports and gives its relays
//! a random key prefix, JWT secret and data key. Relay logs stay quiet unless
//! `TEST_LOG` is set.

mod at_rest;
mod cluster;
mod metrics;
mod nodes;
mod outage;
mod restart;
mod retention;
mod revocation;
mod support;
mod tls;
