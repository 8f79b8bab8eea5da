//! Extractors: each turns bad input into the documented error before a
//! handler runs, so handlers see only well-formed, authenticated requests.

use std::net::{IpAddr, SocketAddr};

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use protocol::Role;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::auth::{Account, Claims};
use crate::error::{Error, Result};
use crate::state::AppState;

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
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self> {
        let axum::extract::Path(id) = axum::extract::Path::<Uuid>::from_request_parts(parts, state)
            .await
            .map_err(|_: PathRejection| Error::not_found("no such room"))?;
        Ok(RoomPath(id))
    }
}

/// A room id and a party id from the path (`…/{room_id}/parties/{party_id}/…`);
/// a malformed room id is "no such room", a malformed party id "no such party".
pub struct PartyPath(pub Uuid, pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for PartyPath {
    type Rejection = Error;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self> {
        let axum::extract::Path((room, party)) =
            axum::extract::Path::<(String, String)>::from_request_parts(parts, state)
                .await
                .map_err(|_: PathRejection| Error::not_found("no such room"))?;
        let room = Uuid::parse_str(&room).map_err(|_| Error::not_found("no such room"))?;
        let party =
            Uuid::parse_str(&party).map_err(|_| Error::not_found("no such party in this room"))?;
        Ok(PartyPath(room, party))
    }
}

fn bearer(parts: &Parts) -> Result<&str, Error> {
    parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| Error::unauthorized("missing `Authorization: Bearer <token>` header"))
}

/// An authenticated ombud, extracted before the handler runs.
/// The account is read on every call, so a disabled or deleted account's
/// tokens stop working at once rather than when they expire.
pub struct OmbudAuth(pub Claims, pub Account);

impl FromRequestParts<AppState> for OmbudAuth {
    type Rejection = Error;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let claims = state.sessions.verify(bearer(parts)?).await?;
        if claims.role != Role::Ombud {
            return Err(Error::forbidden("this needs an ombud's token"));
        }
        let account = state.accounts.of(&claims).await?;
        Ok(OmbudAuth(claims, account))
    }
}

/// An authenticated party, extracted before the handler runs.
pub struct PartyAuth(pub Claims);

impl FromRequestParts<AppState> for PartyAuth {
    type Rejection = Error;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let claims = state.sessions.verify(bearer(parts)?).await?;
        if claims.role != Role::Party {
            return Err(Error::forbidden("this needs a party's token"));
        }
        Ok(PartyAuth(claims))
    }
}

/// The client's address: the socket peer, or, when the peer is one of
/// `RELAY_TRUSTED_PROXIES`, the address that proxy saw (the rightmost
/// `X-Forwarded-For` entry that is not itself a trusted proxy). Anyone can
/// write that header, so it counts only when a trusted proxy passed it on.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub IpAddr);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = Error;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(a)| a.ip())
            .ok_or_else(|| Error::internal("no peer address on the request"))?;
        Ok(ClientAddr(client_addr(
            peer,
            &parts.headers,
            &state.config.trusted_proxies,
        )))
    }
}

/// See [`ClientAddr`].
pub fn client_addr(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse().ok())
        .collect();
    forwarded
        .iter()
        .rev()
        .find(|a| !trusted.contains(a))
        .or(forwarded.first())
        .copied()
        .unwrap_or(peer)
}
