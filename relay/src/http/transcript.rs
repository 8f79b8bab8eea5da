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
    let format = Format::parse(format, Format::Text)?;
    let body = match format {
        Format::Text => transcript::text(&title, &messages, &steps, &names),
        Format::Html => transcript::html(&title, &messages, &steps, &names),
    };
    Ok(download(format, "transcript", body))
}

/// What a download is rendered as: `?format=txt` or `?format=html`.
#[derive(Clone, Copy)]
pub(super) enum Format {
    Text,
    Html,
}

impl Format {
    /// The format asked for, `default` when none was.
    pub(super) fn parse(asked: Option<&str>, default: Format) -> Result<Format> {
        match asked {
            None => Ok(default),
            Some("txt") => Ok(Format::Text),
            Some("html") => Ok(Format::Html),
            Some(_) => Err(Error::invalid("`format` must be `txt` or `html`")),
        }
    }
}

/// A file to save, `<stem>.txt` or `<stem>.html`, never cached on the way.
pub(super) fn download(format: Format, stem: &str, body: String) -> Response {
    let (mime, ext) = match format {
        Format::Text => ("text/plain; charset=utf-8", "txt"),
        Format::Html => ("text/html; charset=utf-8", "html"),
    };
    (
        [
            (header::CONTENT_TYPE, mime.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{stem}.{ext}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        body,
    )
        .into_response()
}

/// The room of a party's token, while the party is still in it.
pub(super) async fn party_room(state: &AppState, auth: &PartyAuth) -> Result<RoomDoc> {
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
    Ok(doc)
}

pub(super) async fn party_transcript(
    State(state): State<AppState>,
    auth: PartyAuth,
    Query(q): Query<TranscriptQuery>,
) -> Result<Response> {
    let doc = party_room(&state, &auth).await?;
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
