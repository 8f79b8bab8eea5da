//! The HTTP API and the static web client. Handlers are short: extract,
//! call the service, shape the answer. Errors become `{code, message}` bodies
//! through [`crate::error::Error`]'s one mapping.

use axum::body::Body;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{FromRequest, FromRequestParts, Query, Request, State};
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use protocol::rest::*;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use uuid::Uuid;

use crate::auth::{verify_password, OmbudAuth, PartyAuth};
use crate::error::{Error, Result};
use crate::room::transcript;
use crate::room::RoomDoc;
use crate::service::Account;
use crate::startup::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/api/login", post(login))
        .route("/api/rooms", post(create_room).get(list_rooms))
        .route("/api/rooms/{room_id}", get(get_room).delete(delete_room))
        .route("/api/rooms/{room_id}/parties", post(add_party))
        .route("/api/rooms/{room_id}/ombuds", post(add_ombud))
        .route("/api/rooms/{room_id}/categories", put(set_categories))
        .route("/api/rooms/{room_id}/terms", put(set_terms))
        .route("/api/rooms/{room_id}/transcript", get(room_transcript))
        .route("/api/join", post(join))
        .route("/api/office", get(office))
        .route("/api/transcript", get(party_transcript))
        .route("/api/reports/trends", get(trends))
        .route("/ws", get(crate::ws::upgrade))
        .fallback(static_file)
}

/// `Json`, but a bad body answers with our `{code: "invalid" | "too_large"}`.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = Error;
    async fn from_request(req: Request, state: &S) -> Result<Self> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(Error::TooLarge("request body too large".into()))
            }
            Err(JsonRejection::MissingJsonContentType(_)) => Err(Error::invalid(
                "send the body as JSON with `Content-Type: application/json`",
            )),
            Err(r) => Err(Error::invalid(r.body_text())),
        }
    }
}

/// A room id from the path; anything else is simply "no such room".
pub struct RoomPath(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for RoomPath {
    type Rejection = Error;
    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self> {
        let axum::extract::Path(id) = axum::extract::Path::<Uuid>::from_request_parts(parts, state)
            .await
            .map_err(|_: PathRejection| Error::not_found("no such room"))?;
        Ok(RoomPath(id))
    }
}

async fn readyz(State(state): State<AppState>) -> Response {
    match state.rooms.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(e) => Error::from(e).into_response(),
    }
}

async fn login(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Json<LoginResponse>> {
    let account = state.rooms.account(&req.username).await?;
    // Verify against a dummy hash for unknown users, so timing does not tell who exists.
    let hash = account
        .as_ref()
        .map(|a| a.password_hash.clone())
        .unwrap_or_else(|| state.dummy_hash.to_string());
    let ok = tokio::task::spawn_blocking(move || verify_password(&req.password, &hash))
        .await
        .map_err(|e| Error::internal(e.to_string()))?;
    match account {
        Some(a) if ok => Ok(Json(LoginResponse {
            token: state.tokens.issue_ombud(a.id, &a.username),
            ombud: a.info(),
        })),
        _ => Err(Error::unauthorized("wrong username or password")),
    }
}

async fn me(state: &AppState, auth: &OmbudAuth) -> Result<Account> {
    let username = auth.0.usr.as_deref().unwrap_or_default();
    match state.rooms.account(username).await? {
        Some(a) if a.id == auth.0.sub => Ok(a),
        _ => Err(Error::unauthorized("this ombud account no longer exists")),
    }
}

fn detail(doc: &RoomDoc) -> RoomDetail {
    RoomDetail {
        room: doc.info(),
        participants: doc.participants(),
        categories: doc.categories.clone(),
        sensitive_terms: doc.sensitive_terms.clone(),
    }
}

async fn create_room(
    State(state): State<AppState>,
    auth: OmbudAuth,
    ApiJson(req): ApiJson<CreateRoom>,
) -> Result<(StatusCode, Json<RoomDetail>)> {
    let account = me(&state, &auth).await?;
    let doc = state.rooms.create_room(&account, req).await?;
    tracing::info!(room = %doc.id, "room created");
    Ok((StatusCode::CREATED, Json(detail(&doc))))
}

async fn list_rooms(
    State(state): State<AppState>,
    auth: OmbudAuth,
) -> Result<Json<Vec<RoomDetail>>> {
    let docs = state.rooms.rooms_of(auth.0.sub).await?;
    Ok(Json(docs.iter().map(detail).collect()))
}

async fn get_room(
    State(state): State<AppState>,
    auth: OmbudAuth,
    RoomPath(room): RoomPath,
) -> Result<Json<RoomDetail>> {
    Ok(Json(detail(
        &state.rooms.room_for_ombud(room, auth.0.sub).await?,
    )))
}

async fn delete_room(
    State(state): State<AppState>,
    auth: OmbudAuth,
    RoomPath(room): RoomPath,
) -> Result<StatusCode> {
    state.rooms.delete_room(room, auth.0.sub).await?;
    tracing::info!(%room, "room closed and erased");
    Ok(StatusCode::NO_CONTENT)
}

async fn add_party(
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

async fn join(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<JoinRequest>,
) -> Result<Json<JoinResponse>> {
    let (doc, party_id) = state.rooms.join(&req.invite_code).await?;
    tracing::info!(room = %doc.id, party = %party_id, "party joined");
    let token = state.tokens.issue_party(party_id, doc.id, doc.expire_at_ms);
    Ok(Json(JoinResponse {
        token,
        room_id: doc.id,
        party_id,
    }))
}

async fn add_ombud(
    State(state): State<AppState>,
    auth: OmbudAuth,
    RoomPath(room): RoomPath,
    ApiJson(req): ApiJson<AddOmbud>,
) -> Result<Json<RoomDetail>> {
    Ok(Json(detail(
        &state
            .rooms
            .add_ombud(room, auth.0.sub, &req.username)
            .await?,
    )))
}

async fn set_categories(
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

async fn set_terms(
    State(state): State<AppState>,
    auth: OmbudAuth,
    RoomPath(room): RoomPath,
    ApiJson(req): ApiJson<SetList>,
) -> Result<StatusCode> {
    state.rooms.set_terms(room, auth.0.sub, req.items).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn office(State(state): State<AppState>, _auth: OmbudAuth) -> Json<OfficeInfo> {
    let o = &state.rooms.office;
    Json(OfficeInfo {
        office_name: o.office_name.clone(),
        notice: o.notice.clone(),
        resources: o.resources.clone(),
        categories: o.categories.clone(),
    })
}

#[derive(Deserialize)]
struct TrendsQuery {
    from: String,
    to: String,
}

async fn trends(
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

#[derive(Deserialize)]
struct TranscriptQuery {
    format: Option<String>,
}

/// A transcript download: the reader's own inbox, rendered.
async fn transcript_response(
    state: &AppState,
    doc: &RoomDoc,
    reader: Uuid,
    format: Option<&str>,
) -> Result<Response> {
    let events = state.rooms.inbox(doc.id, reader).await?;
    let mut messages = transcript::rebuild(events.into_iter().map(|(_, e)| e));
    messages.sort_by_cached_key(|m| m.channel.to_string());
    let names = |p: Uuid| {
        doc.party(p)
            .map(|p| p.display_name.clone())
            .unwrap_or_else(|| "a party".into())
    };
    let title = format!("Caucus transcript: {}", doc.title);
    let (body, mime, ext) = match format.unwrap_or("txt") {
        "txt" => (
            transcript::text(&title, &messages, &names),
            "text/plain; charset=utf-8",
            "txt",
        ),
        "html" => (
            transcript::html(&title, &messages, &names),
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

async fn party_transcript(
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

async fn room_transcript(
    State(state): State<AppState>,
    auth: OmbudAuth,
    RoomPath(room): RoomPath,
    Query(q): Query<TranscriptQuery>,
) -> Result<Response> {
    let doc = state.rooms.room_for_ombud(room, auth.0.sub).await?;
    transcript_response(&state, &doc, auth.0.sub, q.format.as_deref()).await
}

#[derive(rust_embed::RustEmbed)]
#[folder = "../web-client/"]
struct Assets;

/// The web client, compiled into the binary.
async fn static_file(uri: Uri) -> Response {
    let path = match uri.path() {
        "/" => "index.html",
        "/join" => "join.html",
        p => p.trim_start_matches('/'),
    };
    match Assets::get(path) {
        Some(file) => {
            let mime = match path.rsplit('.').next() {
                Some("html") => "text/html; charset=utf-8",
                Some("js" | "mjs") => "text/javascript; charset=utf-8",
                Some("css") => "text/css; charset=utf-8",
                Some("svg") => "image/svg+xml",
                Some("png") => "image/png",
                Some("json") => "application/json",
                _ => "application/octet-stream",
            };
            (
                [
                    (header::CONTENT_TYPE, mime),
                    (header::CACHE_CONTROL, "no-cache"),
                ],
                Body::from(file.data.into_owned()),
            )
                .into_response()
        }
        None => Error::not_found("no such page").into_response(),
    }
}
