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
use tokio::sync::mpsc;
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
        // Allocated up front for every connection, and client frames are
        // small; a larger frame grows it as needed.
        .read_buffer_size(1024)
        // Frames queue here until the writer flushes once per wakeup.
        .write_buffer_size(16 * 1024)
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

/// What the request side hands the writer.
enum Out {
    /// Boxed: every connection's queue allocates its slots up front.
    Frame(Box<Message>),
    /// Close with this code (after everything queued before it).
    Close(CloseCode, &'static str),
}

/// Frames the request side may queue before it waits for the writer.
const OUT_QUEUE: usize = 32;

/// The sending half of a connection: the only code that writes to the
/// socket. It drains the hub queue and the request side's answers, writes
/// every frame that is ready, then flushes once; and it owns `last`, the
/// newest `seq` sent, so events go out strictly in order, exactly once.
struct Writer {
    state: AppState,
    room: Uuid,
    participant: Uuid,
    sink: Sink,
    last: u64,
}

/// The request half: parses and answers client frames. It never writes to
/// the socket itself, so a request waiting on the store never stops the
/// writer from draining this connection's queue.
struct Requests {
    state: AppState,
    room: Uuid,
    actor: Actor,
    out: mpsc::Sender<Out>,
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
    let left_ms = doc.expire_at_ms - chrono::Utc::now().timestamp_millis();
    let expires_in = std::time::Duration::from_millis(left_ms.max(0) as u64);
    let (registration, rx) = match state
        .hub
        .register(room, actor.id, actor.role, expires_in)
        .await
    {
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
    let (me, role) = (actor.id, actor.role);
    let (out, out_rx) = mpsc::channel(OUT_QUEUE);
    let writer = Writer {
        state: state.clone(),
        room,
        participant: me,
        sink,
        last: 0,
    };
    let requests = Requests {
        state: state.clone(),
        room,
        actor,
        out,
    };
    serve(writer, requests, doc, hello.since, stream, rx, out_rx)
        .instrument(span)
        .await;
    drop(registration);
    // Another tab of the same participant may still be connected here.
    if !state.hub.is_connected(room, me) {
        if let Ok(Some((_, doc))) = state.rooms.load(room).await {
            presence(&state, &doc, me, role, false).await;
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
        let me = &requests.actor;
        presence(&requests.state, &doc, me.id, me.role, true).await;
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

/// The `req` of a frame, if it has a readable one (for answering errors).
fn req_of(text: &str) -> Option<ReqId> {
    let v: Value = serde_json::from_str(text).ok()?;
    serde_json::from_value(v.get("req")?.clone()).ok()
}

impl Writer {
    /// Sends the welcome and the replay, then live frames until the
    /// connection ends; always says goodbye with a close frame it can name.
    async fn run(
        mut self,
        welcome: Result<(ServerFrame, u64), CloseCode>,
        since: u64,
        mut rx: mpsc::Receiver<ConnMsg>,
        mut out_rx: mpsc::Receiver<Out>,
    ) {
        let ended = match self.start(welcome, since).await {
            Err(code) => Some((code, "could not load your inbox; retry")),
            Ok(()) => self.live(&mut rx, &mut out_rx).await,
        };
        if let Some((code, why)) = ended {
            close(&mut self.sink, code, why).await;
        }
    }

    async fn start(
        &mut self,
        welcome: Result<(ServerFrame, u64), CloseCode>,
        since: u64,
    ) -> Result<(), CloseCode> {
        let (frame, head) = welcome?;
        self.feed(frame_text(&frame)).await?;
        // A `since` beyond the inbox is a client bug; replay from what exists.
        self.last = since.min(head);
        self.catch_up(head).await?;
        self.flush().await
    }

    /// Live traffic: wait for something to send, send all that is ready, flush.
    async fn live(
        &mut self,
        rx: &mut mpsc::Receiver<ConnMsg>,
        out_rx: &mut mpsc::Receiver<Out>,
    ) -> Option<(CloseCode, &'static str)> {
        let cancel = self.state.cancel.clone();
        loop {
            let next = tokio::select! {
                _ = cancel.cancelled() => return Some((CloseCode::Restart, "relay restarting; reconnect")),
                msg = rx.recv() => match msg {
                    // The hub dropped us: our queue was full.
                    None => return Some((CloseCode::TooSlow, "too slow to read; reconnect with since")),
                    Some(m) => self.on_hub(m).await,
                },
                out = out_rx.recv() => match out {
                    // The request side is gone: the client left.
                    None => return None,
                    Some(o) => self.on_out(o).await,
                },
            };
            if let Next::Close(code, why) = next {
                return Some((code, why));
            }
            // Everything else already waiting goes out in the same flush.
            loop {
                let next = if let Ok(m) = rx.try_recv() {
                    self.on_hub(m).await
                } else if let Ok(o) = out_rx.try_recv() {
                    self.on_out(o).await
                } else {
                    break;
                };
                if let Next::Close(code, why) = next {
                    return Some((code, why));
                }
            }
            if self.flush().await.is_err() {
                return None;
            }
        }
    }

    async fn feed(&mut self, msg: Message) -> Result<(), CloseCode> {
        self.sink.feed(msg).await.map_err(|_| CloseCode::Normal)
    }

    async fn flush(&mut self) -> Result<(), CloseCode> {
        self.sink.flush().await.map_err(|_| CloseCode::Normal)
    }

    fn next_of(r: Result<(), CloseCode>) -> Next {
        match r {
            Ok(()) => Next::Continue,
            Err(code) => Next::Close(code, "send failed"),
        }
    }

    async fn on_out(&mut self, out: Out) -> Next {
        match out {
            Out::Frame(msg) => Self::next_of(self.feed(*msg).await),
            Out::Close(code, why) => Next::Close(code, why),
        }
    }

    /// Sends every stored event after `self.last` up to at least `upto`.
    async fn catch_up(&mut self, upto: u64) -> Result<(), CloseCode> {
        while self.last < upto {
            let page = self
                .state
                .rooms
                .replay(self.room, self.participant, self.last, REPLAY_PAGE)
                .await
                .map_err(|_| CloseCode::Unavailable)?;
            if page.is_empty() {
                break;
            }
            for (seq, json) in page {
                self.send_json(seq, &json).await?;
            }
        }
        Ok(())
    }

    /// Queues one event frame, unless the client already has this `seq`.
    async fn send_json(&mut self, seq: u64, json: &str) -> Result<(), CloseCode> {
        if seq <= self.last {
            return Ok(());
        }
        self.last = seq;
        self.feed(Message::text(format!(
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
            .open_bytes(&inbox_aad(self.room, self.participant), sealed);
        match opened.ok().and_then(|j| String::from_utf8(j).ok()) {
            Some(json) => Self::next_of(self.send_json(seq, &json).await),
            None => {
                tracing::error!(seq, "inbox entry does not open");
                Next::Close(CloseCode::Unavailable, "inbox unreadable")
            }
        }
    }

    async fn on_hub(&mut self, msg: ConnMsg) -> Next {
        let gap = |code| Next::Close(code, "could not read inbox; reconnect with since");
        match msg {
            ConnMsg::Deliver { seq, payload } if seq == self.last + 1 => {
                self.send_event(seq, &payload).await
            }
            ConnMsg::Deliver { seq, .. } if seq > self.last => match self.catch_up(seq).await {
                Ok(()) => Next::Continue,
                Err(code) => gap(code),
            },
            ConnMsg::Deliver { .. } => Next::Continue,
            ConnMsg::Resync => match self.catch_up(u64::MAX).await {
                Ok(()) => Next::Continue,
                Err(code) => gap(code),
            },
            ConnMsg::Frame(text) => Self::next_of(self.feed(Message::text(text.to_string())).await),
            ConnMsg::Close(CloseCode::Normal) => {
                Next::Close(CloseCode::Normal, "you left the room")
            }
            ConnMsg::Close(code) => Next::Close(code, "closed"),
            ConnMsg::RoomDeleted => {
                let seq = self.last + 1;
                let frame =
                    format!(r#"{{"type":"event","seq":{seq},"event":{{"kind":"room_closed"}}}}"#);
                let _ = self.feed(Message::text(frame)).await;
                Next::Close(CloseCode::RoomClosed, "the room was closed")
            }
        }
    }
}

impl Requests {
    /// The welcome frame and the inbox head it announces.
    async fn welcome_frame(
        &self,
        doc: &crate::room::RoomDoc,
    ) -> Result<(ServerFrame, u64), CloseCode> {
        let head = self
            .state
            .rooms
            .store
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
        let frame = ServerFrame::Welcome {
            participant: self.actor.info(),
            room: doc.info(),
            seq: head,
            notice,
            node: self.state.node,
        };
        Ok((frame, head))
    }

    /// Hands a frame to the writer; false once the writer has gone.
    async fn send(&self, msg: Message) -> Next {
        match self.out.send(Out::Frame(Box::new(msg))).await {
            Ok(()) => Next::Continue,
            Err(_) => Next::Close(CloseCode::Normal, "writer gone"),
        }
    }

    /// Reads client frames until the client goes or a request ends the connection.
    async fn read(&self, mut stream: SplitStream<WebSocket>) {
        let config = &self.state.config;
        let mut limiter = RateLimit {
            tokens: f64::from(config.rate_burst),
            last: Instant::now(),
            rate: f64::from(config.rate_per_sec),
            burst: f64::from(config.rate_burst),
        };
        loop {
            let next = match stream.next().await {
                Some(Ok(Message::Text(text))) => {
                    if limiter.allow() {
                        self.on_text(text.as_str()).await
                    } else {
                        self.send(error_frame(req_of(text.as_str()), &Error::RateLimited))
                            .await
                    }
                }
                Some(Ok(Message::Binary(_))) => {
                    let e = Error::invalid("binary frames are not supported; send JSON text");
                    self.send(error_frame(None, &e)).await
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => Next::Continue,
                Some(Ok(Message::Close(_))) | None => return,
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "websocket read failed");
                    // Over the hard cap the socket layer refuses the frame itself.
                    if e.to_string().contains("Space limit exceeded") {
                        Next::Close(CloseCode::MessageTooBig, "frame over the hard size cap")
                    } else {
                        return;
                    }
                }
            };
            if let Next::Close(code, why) = next {
                let _ = self.out.send(Out::Close(code, why)).await;
                return;
            }
        }
    }

    async fn on_text(&self, text: &str) -> Next {
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
                let e = Error::invalid(format!("malformed JSON: {e}"));
                return self.send(error_frame(None, &e)).await;
            }
        };
        let req: Option<ReqId> = value
            .get("req")
            .and_then(|r| serde_json::from_value(r.clone()).ok());
        let frame: ClientFrame = match serde_json::from_value(value) {
            Ok(f) => f,
            Err(e) => {
                let e = Error::invalid(describe_parse_error(&e.to_string()));
                return self.send(error_frame(req, &e)).await;
            }
        };
        let kind = request_kind(&frame.request);
        let started = Instant::now();
        let result = self
            .state
            .rooms
            .act(self.room, self.actor.id, self.actor.role, &frame.request)
            .await;
        tracing::trace!(
            kind,
            micros = started.elapsed().as_micros() as u64,
            "request handled"
        );
        match result {
            Ok(out) => {
                self.state.rooms.publish(self.room, out.signals).await;
                let ack = frame_text(&ServerFrame::Ack {
                    req: frame.req,
                    result: out.result,
                });
                match self.send(ack).await {
                    Next::Continue if matches!(frame.request, Request::Leave {}) => {
                        Next::Close(CloseCode::Normal, "you left the room")
                    }
                    other => other,
                }
            }
            Err(e) => {
                tracing::debug!(kind, code = e.code().as_str(), "request refused");
                let answer = self.send(error_frame(frame.req, &e)).await;
                if e.code() == ErrorCode::RoomClosed {
                    return Next::Close(CloseCode::RoomClosed, "the room is closed");
                }
                answer
            }
        }
    }
}

/// Tells the room someone came or went; on arrival, also asks who is here.
async fn presence(
    state: &AppState,
    doc: &crate::room::RoomDoc,
    who: Uuid,
    role: Role,
    online: bool,
) {
    let room = doc.id;
    let frame = ServerFrame::Presence {
        participant_id: who,
        online,
    };
    // Parties learn about the ombuds; the ombuds learn about everyone.
    let to = match role {
        Role::Party => crate::room::logic::audience(doc, protocol::Channel::Notes),
        Role::Ombud => crate::room::logic::everyone(doc),
    };
    let to = to.into_iter().filter(|p| *p != who).collect();
    let signal = crate::room::logic::Signal::Frame { to, frame };
    state.rooms.publish(room, vec![signal]).await;
    if online {
        // And learn who is already here, on every node.
        let ask = crate::hub::encode_who_is_here(who, role);
        let _ = state.rooms.store.signal(room, ask).await;
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
