//! The websocket transport. A connection's handler parses, authenticates and
//! dispatches; it decides nothing about rooms (that is [`crate::room`]).
//!
//! One task per connection: it reads client frames and drains the bounded
//! queue the [`crate::hub`] fills. Events are delivered strictly in `seq`
//! order: a connection remembers the last `seq` it sent, skips anything not
//! newer, and fills any gap from the inbox, so a notification that is lost,
//! repeated or reordered can never show up as a missing or repeated event.

//!
//! - [`crate::admission`]: what one client may hold (sockets before `hello` per
//!   address, one rate bucket per participant) and when a peer was last heard;
//! - [`handshake`]: the first frame (`hello`) and the token check;
//! - [`reader`]: the request half, which parses, rate-limits and dispatches;
//! - [`writer`]: the sending half, the only code that writes to the socket.

mod handshake;
mod reader;
mod writer;

use std::sync::Arc;

use axum::extract::ws::{WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use futures_util::stream::SplitStream;
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tracing::Instrument;

use crate::error::Error;
use crate::http::extract::ClientAddr;
use crate::hub::ConnMsg;
use crate::state::AppState;
use reader::Requests;
use writer::{close, Out, Writer, OUT_QUEUE};

/// Frames beyond this are cut off by the websocket layer itself (close 1009);
/// between `max_frame_bytes` and this, the relay answers `too_large` and
/// keeps the connection.
const HARD_FRAME_CAP: usize = 1024 * 1024;

pub async fn upgrade(
    State(state): State<AppState>,
    ClientAddr(from): ClientAddr,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if !origin_allowed(&state, &headers) {
        return Error::forbidden("this origin may not open websockets here").into_response();
    }
    // Before the global slot: one address cannot take every slot unauthenticated.
    let Some(waiting) = state.admission.wait_for_hello(from) else {
        return Error::UnauthenticatedSockets.into_response();
    };
    let Ok(permit) = state.conn_limit.clone().try_acquire_owned() else {
        return Error::Unavailable("this node's connection limit is reached".into())
            .into_response();
    };
    let token = state.tracker.token();
    ws.max_message_size(HARD_FRAME_CAP)
        .max_frame_size(HARD_FRAME_CAP)
        // Allocated up front for every connection, and client frames are
        // small; a larger frame grows it as needed.
        .read_buffer_size(1024)
        // Frames queue here until the writer flushes once per wakeup.
        .write_buffer_size(16 * 1024)
        .on_upgrade(move |socket| async move {
            handle(state, socket, waiting).await;
            drop(permit);
            drop(token);
        })
}

/// Browsers always send `Origin`; other clients may not, and cannot be fooled
/// into using a victim's cookies anyway (tokens travel in the first frame).
fn origin_allowed(state: &AppState, headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let same = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        == Some(host);
    same || state
        .config
        .allowed_origins
        .iter()
        .any(|o| o.trim_end_matches('/') == origin)
}

async fn handle(state: AppState, socket: WebSocket, waiting: crate::admission::Waiting) {
    let (mut sink, mut stream) = socket.split();
    let hello = match handshake::read_hello(&state, &mut stream).await {
        Ok(h) => h,
        Err(e) => return close(&mut sink, e.close_code(), &e.public_message()).await,
    };
    let (room, actor, doc) = match handshake::authenticate(&state, &hello).await {
        Ok(ok) => ok,
        Err(e) => {
            e.log();
            let code = e.close_code();
            tracing::info!(
                close = code.code(),
                error = e.code().as_str(),
                "websocket rejected"
            );
            return close(&mut sink, code, &e.public_message()).await;
        }
    };
    drop(waiting);
    let left_ms = doc.expire_at_ms - chrono::Utc::now().timestamp_millis();
    let expires_in = std::time::Duration::from_millis(left_ms.max(0) as u64);
    let (registration, rx) = match state
        .hub
        .register(room, actor.id, actor.role, expires_in)
        .await
    {
        Ok(r) => r,
        Err(e) => {
            e.log();
            tracing::info!(close = e.close_code().code(), "websocket refused");
            return close(&mut sink, e.close_code(), &e.public_message()).await;
        }
    };
    // A sign-out that came between the token check and the registration
    // closed every connection but this one: check again now that a close
    // would reach it.
    if let Err(e) = state.sessions.verify(&hello.token).await {
        e.log();
        return close(&mut sink, e.close_code(), &e.public_message()).await;
    }
    let span = tracing::info_span!("conn", %room, participant = %actor.id, role = ?actor.role);
    let (me, role) = (actor.id, actor.role);
    let (out, out_rx) = mpsc::channel(OUT_QUEUE);
    let heard = Arc::new(crate::admission::Heard::new());
    let writer = Writer::new(state.clone(), room, me, sink, heard.clone());
    let bucket = state.admission.bucket(me);
    let requests = Requests::new(state.clone(), room, actor, out, bucket, heard);
    serve(writer, requests, doc, hello.since, stream, rx, out_rx)
        .instrument(span)
        .await;
    drop(registration);
    if role == protocol::Role::Party {
        state.rooms.seen(room, me).await;
    }
    // Another tab of the same participant may still be connected here.
    if !state.hub.is_connected(room, me) {
        if let Ok(Some((_, doc))) = state.rooms.load(room).await {
            state.hub.presence(&doc, me, role, false).await;
        }
    }
}

/// The life of an authenticated connection: welcome and replay, then live
/// traffic, with the two halves running side by side in this task.
async fn serve(
    writer: Writer,
    requests: Requests,
    doc: crate::room::RoomDoc,
    since: Option<u64>,
    stream: SplitStream<WebSocket>,
    rx: mpsc::Receiver<ConnMsg>,
    out_rx: mpsc::Receiver<Out>,
) {
    let welcome = requests.welcome_frame(&doc).await;
    let writing = writer.run(welcome, since.unwrap_or(0), rx, out_rx);
    let reading = async {
        requests.arrived(&doc).await;
        requests.read(stream).await;
        requests
    };
    tokio::pin!(writing, reading);
    // The writer ends the connection (shutdown, too slow, room closed, or the
    // request side asked it to); the reader ends when the client goes away.
    let requests = tokio::select! {
        () = &mut writing => None,
        requests = &mut reading => Some(requests),
    };
    if let Some(requests) = requests {
        // Dropping the request side tells the writer to finish what it has.
        drop(requests);
        writing.await;
    }
}
