//! The websocket transport. A connection's handler parses, authenticates and
//! dispatches; it decides nothing about rooms (that is [`crate::room`]).
//!
//! One task per connection: it reads client frames and drains the bounded
//! queue the [`crate::hub`] fills. Events are delivered strictly in `seq`
//! order: a connection remembers the last `seq` it sent, skips anything not
//! newer, and fills any gap from the inbox, so a notification that is lost,
//! repeated or reordered can never show up as a missing or repeated event.

use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use protocol::{ClientFrame, CloseCode, ErrorCode, ReqId, Request, Role, ServerFrame};
use serde_json::Value;
use tracing::Instrument;
use uuid::Uuid;

use crate::error::Error;
use crate::hub::ConnMsg;
use crate::room::Actor;
use crate::service::inbox_aad;
use crate::startup::AppState;

/// Frames beyond this are cut off by the websocket layer itself (close 1009);
/// between `max_frame_bytes` and this, the relay answers `too_large` and
/// keeps the connection.
const HARD_FRAME_CAP: usize = 1024 * 1024;
const REPLAY_PAGE: usize = 512;

pub async fn upgrade(
    State(state): State<AppState>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if !origin_allowed(&state, &headers) {
        return Error::forbidden("this origin may not open websockets here").into_response();
    }
    let Ok(permit) = state.conn_limit.clone().try_acquire_owned() else {
        return Error::Unavailable.into_response();
    };
    let token = state.tracker.token();
    ws.max_message_size(HARD_FRAME_CAP)
        .max_frame_size(HARD_FRAME_CAP)
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .on_upgrade(move |socket| async move {
            handle(state, socket).await;
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

type Sink = SplitSink<WebSocket, Message>;

async fn close(sink: &mut Sink, code: CloseCode, reason: &str) {
    let frame = CloseFrame {
        code: code.code(),
        reason: Utf8Bytes::from(reason),
    };
    let _ = sink.send(Message::Close(Some(frame))).await;
    let _ = sink.close().await;
}

fn frame_text(frame: &ServerFrame) -> Message {
    Message::text(serde_json::to_string(frame).expect("frames serialise"))
}

fn error_frame(req: Option<ReqId>, e: &Error) -> Message {
    frame_text(&ServerFrame::Error {
        req,
        code: e.code(),
        message: e.public_message(),
    })
}

/// Why the handshake failed, as a close code and a reason the client may read.
struct Reject(CloseCode, &'static str);

async fn read_hello(
    state: &AppState,
    stream: &mut SplitStream<WebSocket>,
) -> Result<protocol::Hello, Reject> {
    let wait = Duration::from_secs(state.config.hello_timeout_secs);
    let first = match tokio::time::timeout(wait, stream.next()).await {
        Err(_) => return Err(Reject(CloseCode::HelloTimeout, "no hello in time")),
        Ok(Some(Ok(Message::Text(t)))) => t,
        Ok(_) => {
            return Err(Reject(
                CloseCode::BadHello,
                "the first frame must be a hello text frame",
            ))
        }
    };
    if first.len() > state.config.max_frame_bytes {
        return Err(Reject(CloseCode::BadHello, "hello frame too large"));
    }
    match serde_json::from_str::<ClientFrame>(first.as_str()) {
        Ok(ClientFrame {
            request: Request::Hello(h),
            ..
        }) => Ok(h),
        _ => Err(Reject(
            CloseCode::BadHello,
            "the first frame must be a valid hello",
        )),
    }
}

/// Checks the token against the room; the reply reveals nothing about the room.
async fn authenticate(
    state: &AppState,
    hello: &protocol::Hello,
) -> Result<(Uuid, Actor, crate::room::RoomDoc), Reject> {
    let claims = state
        .tokens
        .verify(&hello.token)
        .map_err(|_| Reject(CloseCode::Unauthorized, "invalid token"))?;
    let room = match (claims.role, claims.room, hello.room_id) {
        (Role::Party, Some(bound), Some(asked)) if bound != asked => {
            return Err(Reject(
                CloseCode::Forbidden,
                "this token is for another room",
            ))
        }
        (Role::Party, Some(bound), _) => bound,
        (Role::Ombud, _, Some(asked)) => asked,
        _ => return Err(Reject(CloseCode::BadHello, "hello needs room_id")),
    };
    let doc = match state.rooms.load(room).await {
        Ok(Some((_, doc))) => doc,
        Ok(None) if claims.role == Role::Party => {
            return Err(Reject(CloseCode::RoomClosed, "the room is closed"))
        }
        Ok(None) => return Err(Reject(CloseCode::NotFound, "no such room")),
        Err(_) => return Err(Reject(CloseCode::Unavailable, "store unavailable; retry")),
    };
    let actor = match doc.actor(claims.sub, claims.role) {
        Some(actor) => actor,
        // To an ombud outside the room, a room it may not see does not exist.
        None if claims.role == Role::Ombud => {
            return Err(Reject(CloseCode::NotFound, "no such room"))
        }
        None => {
            return Err(Reject(
                CloseCode::Forbidden,
                "you are no longer in this room",
            ))
        }
    };
    Ok((room, actor, doc))
}

/// A token bucket: `rate` per second, up to `burst` at once.
struct RateLimit {
    tokens: f64,
    last: Instant,
    rate: f64,
    burst: f64,
}

impl RateLimit {
    fn allow(&mut self) -> bool {
        let now = Instant::now();
        self.tokens =
            (self.tokens + now.duration_since(self.last).as_secs_f64() * self.rate).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

struct Conn {
    state: AppState,
    room: Uuid,
    actor: Actor,
    sink: Sink,
    /// The newest `seq` this client has been sent.
    last: u64,
}

/// What to do after handling something.
enum Next {
    Continue,
    Close(CloseCode, &'static str),
}

async fn handle(state: AppState, socket: WebSocket) {
    let (mut sink, mut stream) = socket.split();
    let hello = match read_hello(&state, &mut stream).await {
        Ok(h) => h,
        Err(Reject(code, why)) => return close(&mut sink, code, why).await,
    };
    let (room, actor, doc) = match authenticate(&state, &hello).await {
        Ok(ok) => ok,
        Err(Reject(code, why)) => {
            tracing::info!(close = code.code(), reason = why, "websocket rejected");
            return close(&mut sink, code, why).await;
        }
    };
    let (registration, rx) = match state.hub.register(room, actor.id, actor.role).await {
        Ok(r) => r,
        Err(_) => {
            return close(
                &mut sink,
                CloseCode::Unavailable,
                "store unavailable; retry",
            )
            .await
        }
    };
    let span = tracing::info_span!("conn", %room, participant = %actor.id, role = ?actor.role);
    serve(
        Conn {
            state: state.clone(),
            room,
            actor,
            sink,
            last: 0,
        },
        doc,
        hello.since,
        stream,
        registration,
        rx,
    )
    .instrument(span)
    .await;
}

/// The life of an authenticated connection: welcome, replay, then live traffic.
async fn serve(
    mut conn: Conn,
    doc: crate::room::RoomDoc,
    since: Option<u64>,
    mut stream: SplitStream<WebSocket>,
    registration: crate::hub::Registration,
    mut rx: tokio::sync::mpsc::Receiver<ConnMsg>,
) {
    let state = conn.state.clone();
    if let Err(code) = conn.welcome(&doc, since.unwrap_or(0)).await {
        return close(&mut conn.sink, code, "could not load your inbox; retry").await;
    }
    conn.presence(true).await;
    let mut limiter = RateLimit {
        tokens: f64::from(state.config.rate_burst),
        last: Instant::now(),
        rate: f64::from(state.config.rate_per_sec),
        burst: f64::from(state.config.rate_burst),
    };
    let next = loop {
        let step = tokio::select! {
            _ = state.cancel.cancelled() => Next::Close(CloseCode::Restart, "relay restarting; reconnect"),
            msg = rx.recv() => match msg {
                None => Next::Close(CloseCode::TooSlow, "too slow to read; reconnect with since"),
                Some(m) => conn.on_hub(m).await,
            },
            frame = stream.next() => match frame {
                Some(Ok(Message::Text(text))) => {
                    if limiter.allow() {
                        conn.on_text(text.as_str()).await
                    } else {
                        conn.send(error_frame(req_of(text.as_str()), &Error::RateLimited)).await
                    }
                }
                Some(Ok(Message::Binary(_))) => {
                    conn.send(error_frame(None, &Error::invalid("binary frames are not supported; send JSON text"))).await
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => Next::Continue,
                Some(Ok(Message::Close(_))) | None => break None,
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "websocket read failed");
                    // Over the hard cap the socket layer refuses the frame itself.
                    let too_big = e.to_string().contains("Space limit exceeded");
                    break too_big.then_some((CloseCode::MessageTooBig, "frame over the hard size cap"));
                }
            },
        };
        if let Next::Close(code, why) = step {
            break Some((code, why));
        }
    };
    drop(registration);
    // Another tab of the same participant may still be connected here.
    if !state.hub.is_connected(conn.room, conn.actor.id) {
        conn.presence(false).await;
    }
    if let Some((code, why)) = next {
        close(&mut conn.sink, code, why).await;
    }
}

/// The `req` of a frame, if it has a readable one (for answering errors).
fn req_of(text: &str) -> Option<ReqId> {
    let v: Value = serde_json::from_str(text).ok()?;
    serde_json::from_value(v.get("req")?.clone()).ok()
}

impl Conn {
    async fn send(&mut self, msg: Message) -> Next {
        match self.sink.send(msg).await {
            Ok(()) => Next::Continue,
            Err(_) => Next::Close(CloseCode::Normal, "send failed"),
        }
    }

    async fn welcome(&mut self, doc: &crate::room::RoomDoc, since: u64) -> Result<(), CloseCode> {
        let store = &self.state.rooms.store;
        let head = store
            .inbox_head(self.room, self.actor.id)
            .await
            .map_err(|_| CloseCode::Unavailable)?;
        let notice = (self.actor.role == Role::Party
            && !doc
                .party(self.actor.id)
                .is_some_and(|p| p.notice_acknowledged))
        .then(|| protocol::Notice {
            office_name: self.state.rooms.office.office_name.clone(),
            text: self.state.rooms.office.notice.clone(),
        });
        let welcome = ServerFrame::Welcome {
            participant: self.actor.info(),
            room: doc.info(),
            seq: head,
            notice,
            node: self.state.node,
        };
        if let Next::Close(..) = self.send(frame_text(&welcome)).await {
            return Err(CloseCode::Normal);
        }
        // A `since` beyond the inbox is a client bug; replay from what exists.
        self.last = since.min(head);
        self.catch_up(head).await
    }

    /// Sends every stored event after `self.last` up to at least `upto`.
    async fn catch_up(&mut self, upto: u64) -> Result<(), CloseCode> {
        while self.last < upto {
            let page = self
                .state
                .rooms
                .replay(self.room, self.actor.id, self.last, REPLAY_PAGE)
                .await
                .map_err(|_| CloseCode::Unavailable)?;
            if page.is_empty() {
                break;
            }
            for (seq, json) in page {
                if let Next::Close(code, _) = self.send_json(seq, &json).await {
                    return Err(code);
                }
            }
        }
        Ok(())
    }

    /// Sends one event frame, unless the client already has this `seq`.
    async fn send_json(&mut self, seq: u64, json: &str) -> Next {
        if seq <= self.last {
            return Next::Continue;
        }
        self.last = seq;
        self.send(Message::text(format!(
            r#"{{"type":"event","seq":{seq},"event":{json}}}"#
        )))
        .await
    }

    async fn send_event(&mut self, seq: u64, sealed: &[u8]) -> Next {
        if seq <= self.last {
            return Next::Continue;
        }
        let opened = self
            .state
            .rooms
            .sealer
            .open_bytes(&inbox_aad(self.room, self.actor.id), sealed);
        match opened.ok().and_then(|j| String::from_utf8(j).ok()) {
            Some(json) => self.send_json(seq, &json).await,
            None => {
                tracing::error!(seq, "inbox entry does not open");
                Next::Close(CloseCode::Unavailable, "inbox unreadable")
            }
        }
    }

    async fn on_hub(&mut self, msg: ConnMsg) -> Next {
        match msg {
            ConnMsg::Deliver { seq, payload } => {
                if seq == self.last + 1 {
                    self.send_event(seq, &payload).await
                } else if seq > self.last {
                    match self.catch_up(seq).await {
                        Ok(()) => Next::Continue,
                        Err(code) => {
                            Next::Close(code, "could not read inbox; reconnect with since")
                        }
                    }
                } else {
                    Next::Continue
                }
            }
            ConnMsg::Resync => match self.catch_up(u64::MAX).await {
                Ok(()) => Next::Continue,
                Err(code) => Next::Close(code, "could not read inbox; reconnect with since"),
            },
            ConnMsg::Frame(text) => self.send(Message::text(text.to_string())).await,
            ConnMsg::Close(CloseCode::Normal) => {
                Next::Close(CloseCode::Normal, "you left the room")
            }
            ConnMsg::Close(code) => Next::Close(code, "closed"),
            ConnMsg::RoomDeleted => {
                let seq = self.last + 1;
                let frame =
                    format!(r#"{{"type":"event","seq":{seq},"event":{{"kind":"room_closed"}}}}"#);
                let _ = self.send(Message::text(frame)).await;
                Next::Close(CloseCode::RoomClosed, "the room was closed")
            }
        }
    }

    async fn on_text(&mut self, text: &str) -> Next {
        if text.len() > self.state.config.max_frame_bytes {
            let e = Error::TooLarge(format!(
                "frame is over {} bytes",
                self.state.config.max_frame_bytes
            ));
            return self.send(error_frame(req_of(text), &e)).await;
        }
        let value: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                return self
                    .send(error_frame(
                        None,
                        &Error::invalid(format!("malformed JSON: {e}")),
                    ))
                    .await
            }
        };
        let req: Option<ReqId> = value
            .get("req")
            .and_then(|r| serde_json::from_value(r.clone()).ok());
        let frame: ClientFrame = match serde_json::from_value(value) {
            Ok(f) => f,
            Err(e) => {
                return self
                    .send(error_frame(
                        req,
                        &Error::invalid(describe_parse_error(&e.to_string())),
                    ))
                    .await
            }
        };
        let mut leaving = false;
        let kind = request_kind(&frame.request);
        let started = Instant::now();
        let answer = match self
            .state
            .rooms
            .act(self.room, self.actor.id, self.actor.role, &frame.request)
            .await
        {
            Ok(out) => {
                leaving = matches!(frame.request, Request::Leave {});
                self.state.rooms.publish(self.room, out.signals).await;
                frame_text(&ServerFrame::Ack {
                    req: frame.req,
                    result: out.result,
                })
            }
            Err(e) => {
                tracing::debug!(kind, code = e.code().as_str(), "request refused");
                if e.code() == ErrorCode::RoomClosed {
                    let _ = self.send(error_frame(frame.req, &e)).await;
                    return Next::Close(CloseCode::RoomClosed, "the room is closed");
                }
                error_frame(frame.req, &e)
            }
        };
        tracing::trace!(
            kind,
            micros = started.elapsed().as_micros() as u64,
            "request handled"
        );
        match self.send(answer).await {
            Next::Continue if leaving => Next::Close(CloseCode::Normal, "you left the room"),
            other => other,
        }
    }

    async fn presence(&self, online: bool) {
        let frame = ServerFrame::Presence {
            participant_id: self.actor.id,
            online,
        };
        let Ok(Some((_, doc))) = self.state.rooms.load(self.room).await else {
            return;
        };
        // Parties learn about the ombuds; the ombuds learn about everyone.
        let to = match self.actor.role {
            Role::Party => crate::room::logic::audience(&doc, protocol::Channel::Notes),
            Role::Ombud => crate::room::logic::everyone(&doc),
        };
        let to = to.into_iter().filter(|p| *p != self.actor.id).collect();
        let signal = crate::room::logic::Signal::Frame { to, frame };
        self.state.rooms.publish(self.room, vec![signal]).await;
        if online {
            // And learn who is already here, on every node.
            let ask = crate::hub::encode_who_is_here(self.actor.id, self.actor.role);
            let _ = self.state.rooms.store.signal(self.room, ask).await;
        }
    }
}

/// A request's `type`, for logs (never its content).
fn request_kind(r: &Request) -> &'static str {
    match r {
        Request::Hello(_) => "hello",
        Request::Send { .. } => "send",
        Request::Forward { .. } => "forward",
        Request::ForwardUpdate { .. } => "forward_update",
        Request::ForwardWithdraw { .. } => "forward_withdraw",
        Request::Consent { .. } => "consent",
        Request::Edit { .. } => "edit",
        Request::Retract { .. } => "retract",
        Request::Typing { .. } => "typing",
        Request::Joint { .. } => "joint",
        Request::Leave {} => "leave",
        Request::AcknowledgeNotice {} => "acknowledge_notice",
        Request::Refer { .. } => "refer",
        Request::SuggestRedactions { .. } => "suggest_redactions",
    }
}

/// serde's messages name the problem; drop serde's line/column noise for a
/// frame the client sent as one line anyway.
fn describe_parse_error(raw: &str) -> String {
    let msg = raw.split(" at line ").next().unwrap_or(raw);
    format!("invalid frame: {msg}")
}
