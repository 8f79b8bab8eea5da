//! Downloads of a concluded agreement, as a self-contained HTML page or
//! plain text, for each participant: a party for an agreement it accepted,
//! an ombud for any in its room. Read from the room's objects, so it is
//! erased with the room.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use protocol::Role;
use uuid::Uuid;

use super::extract::{OmbudAuth, PartyAuth};
use super::transcript::{download, party_room, Format, TranscriptQuery};
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
    let format = Format::parse(format, Format::Html)?;
    let body = match format {
        Format::Text => a.text(),
        Format::Html => a.html(),
    };
    Ok(download(format, &format!("agreement-v{}", a.version), body))
}

/// `GET /api/agreements/{proposal_id}`: the party's own copy.
pub(super) async fn party_agreement(
    State(state): State<AppState>,
    auth: PartyAuth,
    Path(proposal): Path<String>,
    Query(q): Query<TranscriptQuery>,
) -> Result<Response> {
    let doc = party_room(&state, &auth).await?;
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
