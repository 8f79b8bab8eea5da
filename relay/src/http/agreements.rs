//! Downloads of a concluded agreement, as a self-contained HTML page or
//! plain text, for each participant: a party for an agreement it accepted,
//! an ombud for any in its room. Read from the room's objects, so it is
//! erased with the room.

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use protocol::Role;
use uuid::Uuid;

use super::extract::{OmbudAuth, PartyAuth};
use super::transcript::TranscriptQuery;
use crate::error::{Error, Result};
use crate::room::agreement;
use crate::room::RoomDoc;
use crate::state::AppState;

fn id(s: &str, what: &str) -> Result<Uuid> {
    Uuid::parse_str(s).map_err(|_| Error::not_found(format!("no such {what}")))
}

async fn respond(
    state: &AppState,
    doc: &RoomDoc,
    proposal: Uuid,
    reader: Uuid,
    role: Role,
    format: Option<&str>,
) -> Result<Response> {
    let (p, v) = state.rooms.concluded_proposal(doc.id, proposal).await?;
    let a = agreement::for_reader(doc, p.as_ref(), v.as_ref(), reader, role)?;
    let (body, mime, ext) = match format.unwrap_or("html") {
        "txt" => (a.text(), "text/plain; charset=utf-8", "txt"),
        "html" => (a.html(), "text/html; charset=utf-8", "html"),
        _ => return Err(Error::invalid("`format` must be `txt` or `html`")),
    };
    Ok((
        [
            (header::CONTENT_TYPE, mime.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"agreement-v{}.{ext}\"", a.version),
            ),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        body,
    )
        .into_response())
}

/// `GET /api/agreements/{proposal_id}`: the party's own copy.
pub(super) async fn party_agreement(
    State(state): State<AppState>,
    auth: PartyAuth,
    Path(proposal): Path<String>,
    Query(q): Query<TranscriptQuery>,
) -> Result<Response> {
    let room = auth
        .0
        .room
        .ok_or_else(|| Error::unauthorized("party token without a room"))?;
    let doc = state
        .rooms
        .load(room)
        .await?
        .map(|(_, d)| d)
        .ok_or(Error::RoomClosed)?;
    doc.actor(auth.0.sub, Role::Party)
        .ok_or_else(|| Error::forbidden("you have left this room"))?;
    let proposal = id(&proposal, "agreement")?;
    respond(
        &state,
        &doc,
        proposal,
        auth.0.sub,
        Role::Party,
        q.format.as_deref(),
    )
    .await
}

/// `GET /api/rooms/{room_id}/agreements/{proposal_id}`: an ombud's copy.
pub(super) async fn room_agreement(
    State(state): State<AppState>,
    auth: OmbudAuth,
    Path((room, proposal)): Path<(String, String)>,
    Query(q): Query<TranscriptQuery>,
) -> Result<Response> {
    let doc = state
        .rooms
        .room_for_ombud(id(&room, "room")?, auth.0.sub)
        .await?;
    let proposal = id(&proposal, "agreement")?;
    respond(
        &state,
        &doc,
        proposal,
        auth.0.sub,
        Role::Ombud,
        q.format.as_deref(),
    )
    .await
}
