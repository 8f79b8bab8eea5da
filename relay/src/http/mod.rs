//! The HTTP API and the static web client. Handlers are short: extract,
//! call the service, shape the answer. Errors become `{code, message}` bodies
//! through [`crate::error::Error`]'s one mapping.
//!
//! - [`extract`]: extractors that turn bad input into the documented error
//!   before a handler runs (JSON bodies, room ids, ombud and party tokens);
//! - [`oidc`]: sign-in with the institution (redirects and cookies);
//! - [`rooms`]: sign-in, rooms, invites, co-ombuds, settings, reports;
//! - [`intake`]: the office's front door (`/contact`) and its queue;
//! - [`transcript`]: transcript downloads;
//! - [`agreements`]: concluded agreements, downloaded;
//! - [`assets`]: the web client, compiled into the binary.

mod agreements;
mod assets;
pub mod extract;
mod intake;
mod oidc;
mod rooms;
mod transcript;

use axum::routing::{get, post, put};
use axum::Router;

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(rooms::readyz))
        .route("/api/login", get(oidc::options).post(rooms::login))
        .route("/api/oidc/start", get(oidc::start))
        .route("/api/oidc/callback", get(oidc::callback))
        .route("/api/oidc/session", post(oidc::session))
        .route("/api/logout", post(rooms::logout))
        .route("/api/me", get(rooms::me).put(rooms::update_me))
        .route(
            "/api/rooms",
            post(rooms::create_room).get(rooms::list_rooms),
        )
        .route(
            "/api/rooms/{room_id}",
            get(rooms::get_room).delete(rooms::delete_room),
        )
        .route("/api/rooms/{room_id}/parties", post(rooms::add_party))
        .route(
            "/api/rooms/{room_id}/parties/{party_id}/link",
            post(rooms::new_link),
        )
        .route("/api/rooms/{room_id}/ombuds", post(rooms::add_ombud))
        .route(
            "/api/rooms/{room_id}/categories",
            put(rooms::set_categories),
        )
        .route("/api/rooms/{room_id}/terms", put(rooms::set_terms))
        .route(
            "/api/rooms/{room_id}/transcript",
            get(transcript::room_transcript),
        )
        .route(
            "/api/rooms/{room_id}/agreements/{proposal_id}",
            get(agreements::room_agreement),
        )
        .route(
            "/api/agreements/{proposal_id}",
            get(agreements::party_agreement),
        )
        .route("/api/join", post(rooms::join))
        .route("/api/intake", get(intake::office).post(intake::start))
        .route("/api/intake/queue", get(intake::queue))
        .route("/api/intake/{room_id}/claim", post(intake::claim))
        .route("/api/rooms/{room_id}/handoff", post(intake::handoff))
        .route("/api/rooms/{room_id}/convert", post(intake::convert))
        .route("/api/rooms/{room_id}/block", post(intake::block))
        .route("/api/office", get(rooms::office))
        .route("/api/transcript", get(transcript::party_transcript))
        .route("/api/reports/trends", get(rooms::trends))
        .fallback(assets::static_file)
}
