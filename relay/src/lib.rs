//! Caucus relay: a websocket relay for shuttle mediation.
//!
//! Layers, outermost first (each depends only on those below it):
//! - [`startup`] builds the [`state::AppState`], binds, and shuts down
//!   gracefully; [`serve`] accepts connections and bounds how long one may
//!   take to send a request;
//! - [`http`] (REST, its extractors and the embedded web client) and [`ws`]
//!   (the websocket transport) parse, authenticate and dispatch;
//! - [`service`] loads a room, runs the room logic and commits the result;
//!   [`hub`] routes the store's notifications to this node's connections and
//!   publishes ephemeral signals;
//! - [`auth`] holds ombud accounts and tokens; [`intake`] guards the
//!   office's front door (proof of work, creation limits);
//! - [`room`] is the room logic itself: pure functions, no I/O;
//! - [`seal`] encrypts every value before it reaches [`store`], the one
//!   storage trait with its file (the default), memory and Redis
//!   implementations; [`node_secrets`] keeps a single node's generated keys.
//!
//! [`error`] maps every failure to the wire in one place; [`config`] reads
//! flags, environment and the office settings file. [`admin`] is the
//! `relay admin` command line: accounts managed without the server.

pub mod admin;
pub mod admission;
pub mod auth;
pub mod config;
pub mod error;
pub mod http;
pub mod hub;
pub mod intake;
pub mod metrics;
pub mod node_secrets;
pub mod room;
pub mod seal;
pub mod serve;
pub mod service;
pub mod startup;
pub mod state;
pub mod store;
pub mod ws;
