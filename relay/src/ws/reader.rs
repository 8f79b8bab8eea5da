//! The request half of a connection: parses, rate-limits and answers client
//! frames. It never writes to the socket itself, so a request waiting on the
//! store never stops the writer from draining this connection's queue.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::ws::{Message, WebSocket};
use futures_util::stream::SplitStream;
use futures_util::StreamExt;
use protocol::{ClientFrame, CloseCode, ReqId, Request, Role, ServerFrame};
use serde_json::Value;
use tokio::sync::mpsc;
use uuid::Uuid;

use super::writer::{error_frame, frame_text, Next, Out};
use crate::admission::{Bucket, Heard};
use crate::error::Error;
use crate::metrics::Refusal;
use crate::room::{Actor, RoomDoc};
use crate::state::AppState;

/// The request half: parses and answers client frames. It never writes to
/// the socket itself, so a request waiting on the store never stops the
/// writer from draining this connection's queue.
pub(super) struct Requests {
    state: AppState,
    room: Uuid,
    actor: Actor,
    out: mpsc::Sender<Out>,
    /// The participant's rate bucket, shared with its other connections here.
    bucket: Bucket,
    heard: Arc<Heard>,
}

/// Longest string `req` the cheap scan reads back.
const MAX_SCANNED_REQ: usize = 128;

/// The `req` of a frame that will not be parsed (over the size limit or the
/// rate), found by a linear byte search instead of a JSON parse: the first
/// `"req"` key (which cannot occur inside a JSON string, where quotes are
/// escaped), then a number or a short string without escapes. A nested
/// `"req"` key may be picked up instead; that only mislabels a refusal.
fn scan_req(text: &str) -> Option<ReqId> {
    let at = text.find("\"req\"")? + "\"req\"".len();
    let rest = text[at..].trim_start().strip_prefix(':')?.trim_start();
    if let Some(s) = rest.strip_prefix('"') {
        let end = s
            .bytes()
            .take(MAX_SCANNED_REQ + 1)
            .position(|b| b == b'"')?;
        let v = &s[..end];
        (!v.contains('\\')).then(|| ReqId::Str(v.to_string()))
    } else {
        let digits = rest.bytes().take(21).take_while(u8::is_ascii_digit).count();
        // More digits than any u64 has: not a `req` the relay could echo.
        (digits <= 20).then(|| rest[..digits].parse().ok().map(ReqId::Num))?
    }
}

/// A client frame, or why it is not one (with its `req` when readable, so
/// the error can answer it). Pure, so it can be fuzzed.
fn parse_frame(text: &str) -> Result<ClientFrame, (Option<ReqId>, Error)> {
    // The common case in one pass; only a frame that does not parse is
    // read again as a JSON value, to find its `req` and name the problem.
    if let Ok(frame) = serde_json::from_str(text) {
        return Ok(frame);
    }
    let value: Value = serde_json::from_str(text)
        .map_err(|e| (None, Error::invalid(format!("malformed JSON: {e}"))))?;
    let req: Option<ReqId> = value
        .get("req")
        .and_then(|r| serde_json::from_value(r.clone()).ok());
    serde_json::from_value(value)
        .map_err(|e| (req, Error::invalid(describe_parse_error(&e.to_string()))))
}

impl Requests {
    pub(super) fn new(
        state: AppState,
        room: Uuid,
        actor: Actor,
        out: mpsc::Sender<Out>,
        bucket: Bucket,
        heard: Arc<Heard>,
    ) -> Self {
        Requests {
            state,
            room,
            actor,
            out,
            bucket,
            heard,
        }
    }

    /// Tells the room this participant is here and, for a party, records
    /// it as online in the store before its first request is read.
    pub(super) async fn arrived(&self, doc: &RoomDoc) {
        let me = &self.actor;
        self.state.hub.presence(doc, me.id, me.role, true).await;
        if me.role == Role::Party {
            self.state.rooms.seen(self.room, me.id).await;
        }
    }

    /// The welcome frame and the inbox head it announces.
    pub(super) async fn welcome_frame(
        &self,
        doc: &RoomDoc,
    ) -> Result<(ServerFrame, u64), CloseCode> {
        let head = self
            .state
            .rooms
            .inbox_head(self.room, self.actor.id)
            .await
            .map_err(|e| e.close_code())?;
        let notice = (self.actor.role == Role::Party
            && !doc
                .party(self.actor.id)
                .is_some_and(|p| p.notice_acknowledged))
        .then(|| protocol::Notice {
            office_name: self.state.rooms.office().office_name.clone(),
            text: self.state.rooms.office().notice.clone(),
            translations: self.state.rooms.office().notice_translations(),
        });
        let room = match self.actor.role {
            Role::Ombud => self.state.rooms.info_for_ombuds(doc),
            Role::Party => doc.info(),
        };
        let frame = ServerFrame::Welcome {
            participant: self.actor.info(),
            room,
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
    /// Every frame, of any kind, takes a token from the participant's bucket.
    pub(super) async fn read(&self, mut stream: SplitStream<WebSocket>) {
        loop {
            let msg = stream.next().await;
            self.heard.now();
            let allowed = || {
                self.bucket
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .allow()
            };
            let next = match msg {
                Some(Ok(Message::Text(text))) if allowed() => self.on_text(text.as_str()).await,
                Some(Ok(Message::Text(text))) => {
                    self.state.metrics.refused(Refusal::RateLimit);
                    self.send(error_frame(scan_req(text.as_str()), &Error::RateLimited))
                        .await
                }
                Some(Ok(Message::Binary(_))) if allowed() => {
                    let e = Error::invalid("binary frames are not supported; send JSON text");
                    self.send(error_frame(None, &e)).await
                }
                Some(Ok(Message::Binary(_))) => {
                    self.state.metrics.refused(Refusal::RateLimit);
                    self.send(error_frame(None, &Error::RateLimited)).await
                }
                // The socket layer answers pings itself; over the rate they
                // are only counted, as an answer would cost a write.
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {
                    allowed();
                    Next::Continue
                }
                Some(Ok(Message::Close(_))) | None => return,
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "websocket read failed");
                    // Over the hard cap the socket layer refuses the frame itself.
                    if over_hard_cap(e) {
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
            return self.send(error_frame(scan_req(text), &e)).await;
        }
        let frame = match parse_frame(text) {
            Ok(f) => f,
            Err((req, e)) => return self.send(error_frame(req, &e)).await,
        };
        // The heartbeat proves the socket and this node are alive; it needs
        // no room, so it never waits behind one.
        if matches!(frame.request, Request::Ping {}) {
            let ack = frame_text(&ServerFrame::Ack {
                req: frame.req,
                result: protocol::AckResult::default(),
            });
            return self.send(ack).await;
        }
        let kind = frame.request.kind();
        let started = Instant::now();
        let result = self
            .state
            .rooms
            .act(
                self.room,
                self.actor.id,
                self.actor.role,
                &frame.request,
                frame.idempotency_key.as_deref(),
            )
            .await;
        tracing::trace!(
            kind,
            micros = started.elapsed().as_micros() as u64,
            "request handled"
        );
        let code = result.as_ref().map(|_| ()).map_err(Error::code);
        self.state.metrics.request(kind, code);
        match result {
            Ok(out) => {
                let ack = frame_text(&ServerFrame::Ack {
                    req: frame.req,
                    result: out.result,
                });
                // The answer is queued before the signals go out: one of them
                // may close this very connection (`leave`), and the writer
                // sends every queued answer before it closes.
                let answered = self.send(ack).await;
                self.state.hub.publish(self.room, out.signals).await;
                match answered {
                    Next::Continue if matches!(frame.request, Request::Leave {}) => {
                        Next::Close(CloseCode::Normal, "you left the room")
                    }
                    other => other,
                }
            }
            Err(e) => {
                tracing::debug!(kind, code = e.code().as_str(), "request refused");
                let answer = self.send(error_frame(frame.req, &e)).await;
                if matches!(e, Error::RoomClosed) {
                    return Next::Close(e.close_code(), "the room is closed");
                }
                answer
            }
        }
    }
}

/// serde's messages name the problem; drop serde's line/column noise for a
/// frame the client sent as one line anyway.
fn describe_parse_error(raw: &str) -> String {
    let msg = raw.split(" at line ").next().unwrap_or(raw);
    format!("invalid frame: {msg}")
}

/// Did the socket layer refuse a frame over the hard size cap?
fn over_hard_cap(e: axum::Error) -> bool {
    use tungstenite::error::{CapacityError, Error as WsError};
    matches!(
        e.into_inner().downcast_ref::<WsError>(),
        Some(WsError::Capacity(CapacityError::MessageTooLong { .. }))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn req_is_found_without_parsing_the_frame() {
        let num = |n| Some(ReqId::Num(n));
        assert_eq!(scan_req(r#"{"type":"send","req":42,"body":"x"}"#), num(42));
        assert_eq!(
            scan_req(r#"{"body":"say \"req\": 7","req" : "a-1"}"#),
            Some(ReqId::Str("a-1".into()))
        );
        assert_eq!(scan_req(r#"{"type":"send","body":"x"}"#), None);
        assert_eq!(scan_req(r#"{"req":"esc\"aped"}"#), None);
        assert_eq!(
            scan_req(&format!(r#"{{"req":"{}"}}"#, "x".repeat(500))),
            None
        );
        assert_eq!(scan_req(r#"{"req":123456789012345678901234}"#), None);
        assert_eq!(scan_req(r#"{"req""#), None);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: fuzz_cases(), ..Default::default() })]

        /// Fuzz: any text at all is a frame or a clear `invalid`, never a panic.
        #[test]
        fn any_text_parses_or_is_refused_as_invalid(text in ".{0,300}") {
            if let Err((_, e)) = parse_frame(&text) {
                proptest::prop_assert_eq!(e.code(), protocol::ErrorCode::Invalid);
            }
            let _ = scan_req(&text);
        }

        /// Fuzz: valid frames cut, spliced and sprinkled with JSON's own
        /// characters; the scan and the parse never panic, and the scan
        /// agrees with the parse on every frame that parses.
        #[test]
        fn mangled_frames_never_panic(
            base in proptest::sample::select(SEEDS.to_vec()),
            cut in 0usize..200,
            insert in "[\\\"{}\\[\\]:,0-9a-z \\\\u]{0,12}",
        ) {
            let at = base.char_indices().map(|(i, _)| i).nth(cut % (base.chars().count() + 1)).unwrap_or(base.len());
            let text = format!("{}{}{}", &base[..at], insert, &base[at..]);
            let scanned = scan_req(&text);
            if let Ok(frame) = parse_frame(&text) {
                if let Some(protocol::ReqId::Num(n)) = frame.req {
                    if text.matches("\"req\"").count() == 1 && !text.contains("\\") {
                        proptest::prop_assert_eq!(scanned, Some(protocol::ReqId::Num(n)));
                    }
                }
            }
        }
    }

    /// Seeds for the frame fuzzers: one frame of every kind clients send.
    const SEEDS: &[&str] = &[
        r#"{"type":"hello","token":"t","since":3}"#,
        r#"{"type":"send","req":7,"channel":"private:7f1c4c6e-0c1a-4a47-9a43-5c4f7f1f6a10","body":"hi é","client_id":"c1"}"#,
        r#"{"type":"forward","req":"a","idempotency_key":"k","source_message_id":"7f1c4c6e-0c1a-4a47-9a43-5c4f7f1f6a10","to":[],"body":"x"}"#,
        r#"{"type":"consent","req":1,"forward_id":"7f1c4c6e-0c1a-4a47-9a43-5c4f7f1f6a10","revision":2,"decision":"approve","note":null}"#,
        r#"{"type":"typing","channel":"joint"}"#,
        r#"{"type":"leave","req":18446744073709551615}"#,
    ];

    /// Cases per fuzz run: a short bounded run in every `cargo test`; set
    /// `FUZZ_CASES` (say 100000) for a longer one.
    fn fuzz_cases() -> u32 {
        std::env::var("FUZZ_CASES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(512)
    }
}
