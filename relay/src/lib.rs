//! Caucus relay: a websocket relay for shuttle mediation.
//!
//! Layers, outermost first:
//! - [`startup`] builds the [`startup::AppState`], binds, serves and shuts down gracefully;
//! - [`http`] (REST and the embedded web client) and [`ws`] (the websocket transport)
//!   parse, authenticate ([`auth`]) and dispatch;
//! - [`service`] loads a room, runs the room logic and commits the result;
//! - [`room`] is the room logic itself: pure functions, no I/O;
//! - [`codec`] seals every value before it reaches [`store`], the one storage trait
//!   with its embedded and Redis implementations;
//! - [`hub`] routes the store's notifications to this node's connections.
//!
//! [`error`] maps every failure to a wire code in one place; [`config`] reads
//! flags, environment and the office settings file.

pub mod auth;
pub mod codec;
pub mod config;
pub mod error;
pub mod http;
pub mod hub;
pub mod room;
pub mod service;
pub mod startup;
pub mod store;
pub mod ws;
