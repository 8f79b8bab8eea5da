//! Sign-in, rooms, invites, co-ombuds, room settings, office settings and
//! trend reports.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use protocol::rest::*;
use serde::Deserialize;

use super::extract::{ApiJson, ClientAddr, OmbudAuth, PartyPath, RoomPath};
use protocol::CloseCode;

use crate::error::{Error, Result};
use crate::room::logic::Signal;
use crate::room::RoomDoc;
use crate::state::AppState;

pub(super) async fn readyz(State(state): State<AppState>) -> Response {
    match state.rooms.ping().await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(e) => e.into_response(),
    }
}

pub(super) async fn login(
    State(state): State<AppState>,
    ClientAddr(from): ClientAddr,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Json<LoginResponse>> {
    if state.config.disable_password_login {
        let how = match &state.oidc {
            Some(o) => format!("sign in with {}", o.institution()),
            None => "ask an administrator".into(),
        };
        return Err(Error::forbidden(format!(
            "password sign-in is turned off on this relay: {how}"
        )));
    }
    let a = state
        .accounts
        .login(&req.username, &req.password, from)
        .await?;
    Ok(Json(LoginResponse {
        token: state.sessions.issue_ombud(&a).await?,
        ombud: a.info(),
    }))
}

/// Signs the ombud out everywhere: every token issued to it so far stops
/// working, and its open connections, on every node, are closed with 4001.
pub(super) async fn logout(State(state): State<AppState>, auth: OmbudAuth) -> Result<StatusCode> {
    let ombud = auth.0.sub;
    state.sessions.sign_out(&auth.0).await?;
    tracing::info!(%ombud, "ombud signed out");
    // The sign-out itself has happened: a failure to list the rooms leaves
    // connections open (their token is refused at the next hello), which is
    // no reason to tell the ombud it is still signed in.
    match state.rooms.rooms_of(ombud).await {
        Ok(docs) => {
            for doc in docs {
                let close = Signal::Close {
                    participant: ombud,
                    code: CloseCode::Unauthorized,
                };
                state.hub.publish(doc.id, vec![close]).await;
            }
        }
        Err(e) => {
            e.log();
            tracing::warn!(%ombud, "signed out, but its open connections could not be closed");
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn me(auth: OmbudAuth) -> Json<OmbudInfo> {
    Json(auth.1.info())
}

/// Changes the name parties see in rooms created from now on; rooms
/// already open keep the name they were created with.
pub(super) async fn update_me(
    State(state): State<AppState>,
    auth: OmbudAuth,
    ApiJson(req): ApiJson<UpdateMe>,
) -> Result<Json<OmbudInfo>> {
    let account = state
        .accounts
        .set_display_name(&auth.1, &req.display_name)
        .await?;
    Ok(Json(account.info()))
}

/// A room as its ombuds see it (the only callers: every route here is an ombud's).
pub(super) fn detail(state: &AppState, doc: &RoomDoc) -> RoomDetail {
    RoomDetail {
        room: state.rooms.info_for_ombuds(doc),
        participants: doc.participants(),
        categories: doc.categories.clone(),
        sensitive_terms: doc.sensitive_terms.clone(),
        party_messages: doc.party_messages(),
        intake: doc.intake.as_ref().map(|i| protocol::intake::IntakeInfo {
            kind: i.kind,
            claimed_by: i.claimed_by,
        }),
    }
}

pub(super) async fn create_room(
    State(state): State<AppState>,
    auth: OmbudAuth,
    ApiJson(req): ApiJson<CreateRoom>,
) -> Result<(StatusCode, Json<RoomDetail>)> {
    let doc = state.rooms.create_room(&auth.1, req).await?;
    tracing::info!(room = %doc.id, "room created");
    Ok((StatusCode::CREATED, Json(detail(&state, &doc))))
}

pub(super) async fn list_rooms(
    State(state): State<AppState>,
    auth: OmbudAuth,
) -> Result<Json<Vec<RoomDetail>>> {
    let docs = state.rooms.rooms_of(auth.0.sub).await?;
    Ok(Json(docs.iter().map(|d| detail(&state, d)).collect()))
}

pub(super) async fn get_room(
    State(state): State<AppState>,
    auth: OmbudAuth,
    RoomPath(room): RoomPath,
) -> Result<Json<RoomDetail>> {
    let doc = state.rooms.room_for_ombud(room, auth.0.sub).await?;
    Ok(Json(detail(&state, &doc)))
}

pub(super) async fn delete_room(
    State(state): State<AppState>,
    auth: OmbudAuth,
    RoomPath(room): RoomPath,
) -> Result<StatusCode> {
    state.rooms.delete_room(room, auth.0.sub).await?;
    tracing::info!(%room, "room closed and erased");
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn add_party(
    State(state): State<AppState>,
    auth: OmbudAuth,
    RoomPath(room): RoomPath,
    ApiJson(req): ApiJson<CreateParty>,
) -> Result<(StatusCode, Json<PartyInvite>)> {
    let (party_id, invite_code) = state
        .rooms
        .add_party(room, auth.0.sub, &req.display_name)
        .await?;
    let invite_url = format!("/join#{invite_code}");
    Ok((
        StatusCode::CREATED,
        Json(PartyInvite {
            party_id,
            invite_code,
            invite_url,
        }),
    ))
}

/// A new one-time link for a party already in the room: it keeps its id
/// and thread; every earlier link and token of it stops working, and its
/// open connections, on every node, are closed with 4010.
pub(super) async fn new_link(
    State(state): State<AppState>,
    auth: OmbudAuth,
    PartyPath(room, party_id): PartyPath,
) -> Result<(StatusCode, Json<PartyInvite>)> {
    let (invite_code, close) = state
        .rooms
        .new_link(room, auth.0.sub, party_id, &state.sessions)
        .await?;
    tracing::info!(%room, party = %party_id, "new link for a party");
    state.hub.publish(room, close).await;
    let invite_url = format!("/join#{invite_code}");
    Ok((
        StatusCode::CREATED,
        Json(PartyInvite {
            party_id,
            invite_code,
            invite_url,
        }),
    ))
}

pub(super) async fn join(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<JoinRequest>,
) -> Result<Json<JoinResponse>> {
    let joined = state.rooms.join(&req.invite_code).await?;
    let (room_id, party_id) = (joined.doc.id, joined.party_id);
    tracing::info!(room = %room_id, party = %party_id, "party joined");
    let token = state
        .sessions
        .issue_party(party_id, room_id, joined.doc.expire_at_ms, joined.gen);
    Ok(Json(JoinResponse {
        token,
        room_id,
        party_id,
    }))
}

pub(super) async fn add_ombud(
    State(state): State<AppState>,
    auth: OmbudAuth,
    RoomPath(room): RoomPath,
    ApiJson(req): ApiJson<AddOmbud>,
) -> Result<Json<RoomDetail>> {
    state.rooms.room_for_ombud(room, auth.0.sub).await?;
    let colleague = state
        .accounts
        .find(&req.username)
        .await?
        .ok_or_else(|| Error::not_found("no ombud with that username"))?;
    let doc = state.rooms.add_ombud(room, auth.0.sub, &colleague).await?;
    Ok(Json(detail(&state, &doc)))
}

pub(super) async fn set_categories(
    State(state): State<AppState>,
    auth: OmbudAuth,
    RoomPath(room): RoomPath,
    ApiJson(req): ApiJson<SetList>,
) -> Result<StatusCode> {
    state
        .rooms
        .set_categories(room, auth.0.sub, req.items)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn set_terms(
    State(state): State<AppState>,
    auth: OmbudAuth,
    RoomPath(room): RoomPath,
    ApiJson(req): ApiJson<SetList>,
) -> Result<StatusCode> {
    state.rooms.set_terms(room, auth.0.sub, req.items).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn office(State(state): State<AppState>, _auth: OmbudAuth) -> Json<OfficeInfo> {
    let o = state.rooms.office();
    Json(OfficeInfo {
        office_name: o.office_name.clone(),
        notice: o.notice.clone(),
        resources: o.resources.clone(),
        categories: o.categories.clone(),
        languages: o.language_info(),
    })
}

#[derive(Deserialize)]
pub(super) struct TrendsQuery {
    from: String,
    to: String,
}

pub(super) async fn trends(
    State(state): State<AppState>,
    _auth: OmbudAuth,
    query: std::result::Result<Query<TrendsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<TrendsReport>> {
    let Query(q) = query.map_err(|_| Error::invalid("give `from` and `to` as YYYY-MM"))?;
    Ok(Json(
        state
            .rooms
            .trends(&q.from, &q.to, state.config.trend_threshold)
            .await?,
    ))
}
