//! The handshake: the first frame must be a `hello` in time, and its token
//! must name a participant of the room. A refusal reveals nothing about the
//! room beyond what the token's holder may know.

use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use futures_util::stream::SplitStream;
use futures_util::StreamExt;
use protocol::{ClientFrame, Hello, Request, Role};
use uuid::Uuid;

use crate::error::Error;
use crate::room::{Actor, RoomDoc};
use crate::state::AppState;

pub(super) async fn read_hello(
    state: &AppState,
    stream: &mut SplitStream<WebSocket>,
) -> Result<Hello, Error> {
    let wait = Duration::from_secs(state.config.hello_timeout_secs);
    let first = match tokio::time::timeout(wait, stream.next()).await {
        Err(_) => return Err(Error::HelloTimeout),
        Ok(Some(Ok(Message::Text(t)))) => t,
        Ok(_) => {
            return Err(Error::BadHello(
                "the first frame must be a hello text frame",
            ))
        }
    };
    if first.len() > state.config.max_frame_bytes {
        return Err(Error::BadHello("hello frame too large"));
    }
    match serde_json::from_str::<ClientFrame>(first.as_str()) {
        Ok(ClientFrame {
            request: Request::Hello(h),
            ..
        }) => Ok(h),
        _ => Err(Error::BadHello("the first frame must be a valid hello")),
    }
}

/// Checks the token against the room; the reply reveals nothing about the room.
pub(super) async fn authenticate(
    state: &AppState,
    hello: &Hello,
) -> Result<(Uuid, Actor, RoomDoc), Error> {
    let claims = match state.sessions.verify(&hello.token).await {
        Ok(claims) => claims,
        // A party whose link was replaced is told so (close 4010), so its
        // page can say what to do; the token's holder knows that party.
        Err(e @ (Error::Unavailable(_) | Error::Replaced)) => return Err(e),
        Err(_) => return Err(Error::unauthorized("invalid token")),
    };
    if claims.role == Role::Ombud {
        // As on REST: a disabled or deleted account's token opens nothing.
        state.accounts.of(&claims).await?;
    }
    let room = match (claims.role, claims.room, hello.room_id) {
        (Role::Party, Some(bound), Some(asked)) if bound != asked => {
            return Err(Error::forbidden("this token is for another room"))
        }
        (Role::Party, Some(bound), _) => bound,
        (Role::Ombud, _, Some(asked)) => asked,
        _ => return Err(Error::BadHello("hello needs room_id")),
    };
    let doc = match state.rooms.load(room).await? {
        Some((_, doc)) => doc,
        None if claims.role == Role::Party => return Err(Error::RoomClosed),
        None => return Err(Error::not_found("no such room")),
    };
    let actor = match doc.actor(claims.sub, claims.role) {
        Some(actor) => actor,
        // To an ombud outside the room, a room it may not see does not exist.
        None if claims.role == Role::Ombud => return Err(Error::not_found("no such room")),
        None => return Err(Error::forbidden("you are no longer in this room")),
    };
    Ok((room, actor, doc))
}
