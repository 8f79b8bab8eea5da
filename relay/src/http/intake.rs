//! The office's front door: the public page's data and a visitor starting a
//! conversation (no token), and the ombuds' queue, claim, handoff,
//! conversion and block. Nothing a visitor typed, nor its label or address,
//! is logged: ids only.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::Utc;
use protocol::intake::*;
use protocol::rest::RoomDetail;

use super::extract::{ApiJson, ClientAddr, OmbudAuth, RoomPath};
use super::rooms::detail;
use crate::error::{Error, Result};
use crate::room::logic::intake::check_start;
use crate::state::AppState;

pub(super) async fn office(State(state): State<AppState>) -> Json<IntakeOffice> {
    let o = state.rooms.office();
    Json(IntakeOffice {
        office_name: o.office_name.clone(),
        notice: o.notice.clone(),
        office_hours: o.intake.office_hours.clone(),
        response_time: o.intake.response_time.clone(),
        open: o.intake.enabled,
        challenge: state.intake.challenge(Utc::now()),
    })
}

pub(super) async fn start(
    State(state): State<AppState>,
    ClientAddr(from): ClientAddr,
    ApiJson(req): ApiJson<StartConversation>,
) -> Result<(StatusCode, Json<ConversationStarted>)> {
    if !state.rooms.office().intake.enabled {
        return Err(Error::IntakeClosed);
    }
    check_start(&req)?;
    state
        .intake
        .admit(from, &req.challenge, &req.nonce, Utc::now())
        .await?;
    let started = state
        .rooms
        .start_conversation(&req.label, &req.body)
        .await?;
    let (doc, party_id) = (started.doc, started.visitor);
    tracing::info!(room = %doc.id, "conversation started at the front door");
    let token = state
        .sessions
        .issue_party(party_id, doc.id, doc.expire_at_ms, 0);
    Ok((
        StatusCode::CREATED,
        Json(ConversationStarted {
            room_id: doc.id,
            party_id,
            label: doc.parties[0].display_name.clone(),
            return_url: format!("/join#return.{token}"),
            token,
        }),
    ))
}

pub(super) async fn queue(
    State(state): State<AppState>,
    _auth: OmbudAuth,
) -> Result<Json<Vec<QueueEntry>>> {
    Ok(Json(state.rooms.queue().await?))
}

pub(super) async fn claim(
    State(state): State<AppState>,
    auth: OmbudAuth,
    RoomPath(room): RoomPath,
) -> Result<Json<RoomDetail>> {
    let doc = state.rooms.claim(room, &auth.1).await?;
    tracing::info!(%room, ombud = %auth.0.sub, "conversation claimed");
    Ok(Json(detail(&state, &doc)))
}

pub(super) async fn handoff(
    State(state): State<AppState>,
    auth: OmbudAuth,
    RoomPath(room): RoomPath,
    ApiJson(req): ApiJson<Handoff>,
) -> Result<StatusCode> {
    state.rooms.room_for_ombud(room, auth.0.sub).await?;
    let colleague = state
        .accounts
        .find(&req.username)
        .await?
        .filter(|a| !a.disabled)
        .ok_or_else(|| Error::not_found("no ombud with that username"))?;
    let (_, close) = state.rooms.handoff(room, auth.0.sub, &colleague).await?;
    tracing::info!(%room, from = %auth.0.sub, to = %colleague.id, "room handed off");
    state.hub.publish(room, close).await;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn convert(
    State(state): State<AppState>,
    auth: OmbudAuth,
    RoomPath(room): RoomPath,
    ApiJson(req): ApiJson<Convert>,
) -> Result<Json<RoomDetail>> {
    let doc = state
        .rooms
        .convert(room, auth.0.sub, req.title.as_deref())
        .await?;
    tracing::info!(%room, "conversation converted to a mediation");
    Ok(Json(detail(&state, &doc)))
}

pub(super) async fn block(
    State(state): State<AppState>,
    auth: OmbudAuth,
    RoomPath(room): RoomPath,
) -> Result<StatusCode> {
    state.rooms.block(room, auth.0.sub, &state.sessions).await?;
    tracing::info!(%room, "conversation closed and blocked");
    Ok(StatusCode::NO_CONTENT)
}
