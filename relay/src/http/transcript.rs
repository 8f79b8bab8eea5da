//! Transcript downloads: the reader's own inbox, rendered, so a transcript
//! never shows more than its reader already received.

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use uuid::Uuid;

use super::extract::{OmbudAuth, PartyAuth, RoomPath};
use crate::error::{Error, Result};
use crate::room::{transcript, RoomDoc};
use crate::state::AppState;

#[derive(Deserialize)]
pub(super) struct TranscriptQuery {
    pub(super) format: Option<String>,
}

/// A transcript download: the reader's own inbox, rendered.
async fn transcript_response(
    state: &AppState,
    doc: &RoomDoc,
    reader: Uuid,
    format: Option<&str>,
) -> Result<Response> {
    let events: Vec<_> = state
        .rooms
        .inbox(doc.id, reader)
        .await?
        .into_iter()
        .map(|(_, e)| e)
        .collect();
    let names = |p: Uuid| {
        doc.party(p)
            .map(|p| p.display_name.clone())
            .unwrap_or_else(|| "a party".into())
    };
    let steps = transcript::steps(&events, &names);
    let mut messages = transcript::rebuild(events);
    messages.sort_by_cached_key(|m| m.channel.to_string());
    let title = format!("Caucus transcript: {}", doc.title);
    let (body, mime, ext) = match format.unwrap_or("txt") {
        "txt" => (
            transcript::text(&title, &messages, &steps, &names),
            "text/plain; charset=utf-8",
            "txt",
        ),
        "html" => (
            transcript::html(&title, &messages, &steps, &names),
            "text/html; charset=utf-8",
            "html",
        ),
        _ => return Err(Error::invalid("`format` must be `txt` or `html`")),
    };
    Ok((
        [
            (header::CONTENT_TYPE, mime.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"transcript.{ext}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        body,
    )
        .into_response())
}

pub(super) async fn party_transcript(
    State(state): State<AppState>,
    auth: PartyAuth,
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
    doc.actor(auth.0.sub, protocol::Role::Party)
        .ok_or_else(|| Error::forbidden("you have left this room"))?;
    transcript_response(&state, &doc, auth.0.sub, q.format.as_deref()).await
}

pub(super) async fn room_transcript(
    State(state): State<AppState>,
    auth: OmbudAuth,
    RoomPath(room): RoomPath,
    Query(q): Query<TranscriptQuery>,
) -> Result<Response> {
    let doc = state.rooms.room_for_ombud(room, auth.0.sub).await?;
    transcript_response(&state, &doc, auth.0.sub, q.format.as_deref()).await
}
