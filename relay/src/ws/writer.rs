//! The sending half of a connection: the only code that writes to the
//! socket. It drains the hub queue and the request side's answers, writes
//! every frame that is ready, then flushes once; and it owns `last`, the
//! newest `seq` sent, so events go out strictly in order, exactly once.
//!
//! Deliveries can arrive out of order: on Redis a commit made on this node
//! is announced from its reply, one made elsewhere through pub/sub. One
//! that arrives ahead of a missing `seq` is held for [`GAP_WAIT`], which is
//! nearly always enough for the missing one to arrive too; only then is the
//! gap filled from the inbox.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::stream::SplitSink;
use futures_util::{FutureExt, SinkExt};
use protocol::envelope::event_frame_text;
use protocol::{CloseCode, ReqId, ServerFrame};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::admission::Heard;
use crate::error::Error;
use crate::hub::ConnMsg;
use crate::state::AppState;

const REPLAY_PAGE: usize = 512;

/// How long a delivery that arrived ahead of a missing `seq` waits for it
/// before the gap is read from the inbox.
const GAP_WAIT: Duration = Duration::from_millis(100);
/// Deliveries held at most; one more and the gap is read at once.
const HELD_MAX: usize = 64;

/// A delivery held for a missing `seq` before it.
type Held = (Arc<Vec<u8>>, Option<Arc<str>>);

type Sink = SplitSink<WebSocket, Message>;

/// Longest wait for a close frame to go out: a peer that does not read
/// must not hold its connection (and its slot) open by never taking it.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Says goodbye with `code`; the connection ends after at most
/// [`CLOSE_TIMEOUT`] whether or not the peer takes the close frame. The
/// relay does not wait for the peer's answering close frame.
pub(super) async fn close(sink: &mut Sink, code: CloseCode, reason: &str) {
    let frame = CloseFrame {
        code: code.code(),
        reason: Utf8Bytes::from(reason),
    };
    let goodbye = async {
        let _ = sink.send(Message::Close(Some(frame))).await;
        let _ = sink.close().await;
    };
    if tokio::time::timeout(CLOSE_TIMEOUT, goodbye).await.is_err() {
        tracing::debug!("close frame not taken in time");
    }
}

/// Runs a write, giving up as too slow after `limit`. Most writes finish
/// at once (the socket has room): the clock starts only for one that has
/// to wait, so a frame costs no timer.
async fn bounded(
    limit: Duration,
    write: impl Future<Output = Result<(), axum::Error>>,
) -> Result<(), CloseCode> {
    tokio::pin!(write);
    let done = match write.as_mut().now_or_never() {
        Some(done) => done,
        None => match tokio::time::timeout(limit, write).await {
            Ok(done) => done,
            Err(_) => return Err(CloseCode::TooSlow),
        },
    };
    done.map_err(|_| CloseCode::Normal)
}

pub(super) fn frame_text(frame: &ServerFrame) -> Message {
    Message::text(serde_json::to_string(frame).expect("frames serialise"))
}

/// An `error` frame answering `req`; what the requester is not told is logged.
pub(super) fn error_frame(req: Option<ReqId>, e: &Error) -> Message {
    e.log();
    frame_text(&ServerFrame::Error {
        req,
        code: e.code(),
        message: e.public_message(),
    })
}

/// What the request side hands the writer.
pub(super) enum Out {
    /// Boxed: every connection's queue allocates its slots up front.
    Frame(Box<Message>),
    /// Close with this code (after everything queued before it).
    Close(CloseCode, &'static str),
}

/// Frames the request side may queue before it waits for the writer.
pub(super) const OUT_QUEUE: usize = 32;

/// What to do after handling something.
pub(super) enum Next {
    Continue,
    Close(CloseCode, &'static str),
}

pub(super) struct Writer {
    state: AppState,
    room: Uuid,
    participant: Uuid,
    sink: Sink,
    last: u64,
    /// Deliveries after a missing `seq`, by `seq`.
    held: BTreeMap<u64, Held>,
    heard: Arc<Heard>,
    /// Pings go out this often; a peer silent for twice as long is gone.
    ping_every: Duration,
}

impl Writer {
    pub(super) fn new(
        state: AppState,
        room: Uuid,
        participant: Uuid,
        sink: Sink,
        heard: Arc<Heard>,
    ) -> Self {
        let ping_every = Duration::from_secs(state.config.ping_secs);
        Writer {
            state,
            room,
            participant,
            sink,
            last: 0,
            held: BTreeMap::new(),
            heard,
            ping_every,
        }
    }

    /// How long one write may wait for the peer to take data: as long as a
    /// silent peer is given before it counts as gone.
    fn stall_limit(&self) -> Duration {
        2 * self.ping_every
    }

    /// Sends the welcome and the replay, then live frames until the
    /// connection ends; always says goodbye with a close frame it can name.
    pub(super) async fn run(
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
        let from = self.last;
        self.catch_up(head).await?;
        self.state.metrics.replay(self.last - from);
        self.flush().await
    }

    /// Live traffic: wait for something to send, send all that is ready, flush.
    async fn live(
        &mut self,
        rx: &mut mpsc::Receiver<ConnMsg>,
        out_rx: &mut mpsc::Receiver<Out>,
    ) -> Option<(CloseCode, &'static str)> {
        let cancel = self.state.cancel.clone();
        let ended = self.serve_live(rx, out_rx, &cancel).await;
        if ended.is_some() {
            self.answer_queued(out_rx).await;
        }
        ended
    }

    /// Every request gets exactly one answer before any close: answers the
    /// request side queued before the connection ended still go out.
    async fn answer_queued(&mut self, out_rx: &mut mpsc::Receiver<Out>) {
        while let Ok(out) = out_rx.try_recv() {
            if let Out::Frame(msg) = out {
                if self.feed(*msg).await.is_err() {
                    return;
                }
            }
        }
    }

    async fn serve_live(
        &mut self,
        rx: &mut mpsc::Receiver<ConnMsg>,
        out_rx: &mut mpsc::Receiver<Out>,
        cancel: &tokio_util::sync::CancellationToken,
    ) -> Option<(CloseCode, &'static str)> {
        let mut ping = tokio::time::interval_at(
            tokio::time::Instant::now() + self.ping_every,
            self.ping_every,
        );
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // One waiter for the whole connection: every connection shares the
        // node's token, and a fresh `cancelled()` per wakeup would take its
        // lock twice (register, drop) on every frame of every connection.
        let cancelled = cancel.cancelled();
        tokio::pin!(cancelled);
        // Armed while deliveries are held; one timer for the connection.
        let gap = tokio::time::sleep(GAP_WAIT);
        tokio::pin!(gap);
        let mut armed = false;
        loop {
            let next = tokio::select! {
                _ = &mut cancelled => return Some((CloseCode::Restart, "relay restarting; reconnect")),
                _ = &mut gap, if armed => {
                    armed = false;
                    self.fill_gap().await
                }
                _ = ping.tick() => {
                    if self.heard.silent_for() > self.stall_limit() {
                        tracing::info!("peer silent through two pings; closing");
                        return Some((CloseCode::TooSlow, "no answer to pings; reconnect with since"));
                    }
                    Self::next_of(self.feed(Message::Ping(Default::default())).await)
                }
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
            // Everything else already waiting goes out in the same flush;
            // and once more after a yield, which lets the tasks about to
            // hand us more (an answer and the events of the same commit)
            // run first.
            let mut yielded = false;
            loop {
                let next = if let Ok(m) = rx.try_recv() {
                    self.on_hub(m).await
                } else if let Ok(o) = out_rx.try_recv() {
                    self.on_out(o).await
                } else if !yielded {
                    yielded = true;
                    tokio::task::yield_now().await;
                    continue;
                } else {
                    break;
                };
                if let Next::Close(code, why) = next {
                    return Some((code, why));
                }
            }
            if self.held.is_empty() {
                armed = false;
            } else if !armed {
                gap.as_mut().reset(tokio::time::Instant::now() + GAP_WAIT);
                armed = true;
            }
            if self.flush().await.is_err() {
                return None;
            }
        }
    }

    /// Queues a frame; a peer that takes nothing for [`Self::stall_limit`]
    /// is given up on (as too slow) rather than holding this task forever.
    async fn feed(&mut self, msg: Message) -> Result<(), CloseCode> {
        let limit = self.stall_limit();
        bounded(limit, self.sink.feed(msg)).await
    }

    async fn flush(&mut self) -> Result<(), CloseCode> {
        let limit = self.stall_limit();
        bounded(limit, self.sink.flush()).await
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
        self.feed(Message::text(event_frame_text(seq, json))).await
    }

    /// Sends inbox entry `seq`: its JSON as this node sealed it, or else
    /// the sealed entry opened.
    async fn send_event(&mut self, seq: u64, sealed: &[u8], plain: Option<&str>) -> Next {
        if seq <= self.last {
            return Next::Continue;
        }
        if let Some(json) = plain {
            return Self::next_of(self.send_json(seq, json).await);
        }
        match self
            .state
            .rooms
            .open_event(self.room, self.participant, sealed)
        {
            Ok(json) => Self::next_of(self.send_json(seq, &json).await),
            Err(e) => {
                tracing::error!(seq, error = %e, "inbox entry does not open");
                Next::Close(CloseCode::Unavailable, "inbox unreadable")
            }
        }
    }

    /// Sends what is held and now next in line.
    async fn send_held(&mut self) -> Next {
        while let Some(entry) = self.held.first_entry() {
            let seq = *entry.key();
            if seq > self.last + 1 {
                break;
            }
            let (payload, plain) = entry.remove();
            if let Next::Close(code, why) = self.send_event(seq, &payload, plain.as_deref()).await {
                return Next::Close(code, why);
            }
        }
        Next::Continue
    }

    /// The missing `seq` did not come in time (or too much is held): read
    /// the gap, and everything held, from the inbox.
    async fn fill_gap(&mut self) -> Next {
        let upto = self.held.last_key_value().map_or(0, |(seq, _)| *seq);
        self.held.clear();
        match self.catch_up(upto).await {
            Ok(()) => Next::Continue,
            Err(code) => Next::Close(code, "could not read inbox; reconnect with since"),
        }
    }

    async fn on_hub(&mut self, msg: ConnMsg) -> Next {
        let gap = |code| Next::Close(code, "could not read inbox; reconnect with since");
        match msg {
            ConnMsg::Deliver {
                seq,
                payload,
                plain,
            } if seq == self.last + 1 => {
                match self.send_event(seq, &payload, plain.as_deref()).await {
                    Next::Continue => self.send_held().await,
                    close => close,
                }
            }
            ConnMsg::Deliver {
                seq,
                payload,
                plain,
            } if seq > self.last => {
                self.held.insert(seq, (payload, plain));
                if self.held.len() > HELD_MAX {
                    return self.fill_gap().await;
                }
                Next::Continue
            }
            ConnMsg::Deliver { .. } => Next::Continue,
            ConnMsg::Resync => {
                self.held.clear();
                match self.catch_up(u64::MAX).await {
                    Ok(()) => Next::Continue,
                    Err(code) => gap(code),
                }
            }
            ConnMsg::Frame(text) => Self::next_of(self.feed(Message::text(text.to_string())).await),
            ConnMsg::Close(CloseCode::Normal) => {
                Next::Close(CloseCode::Normal, "you left the room")
            }
            ConnMsg::Close(CloseCode::Replaced) => {
                Next::Close(CloseCode::Replaced, "you were given a new link")
            }
            ConnMsg::Close(code) => Next::Close(code, "closed"),
            ConnMsg::RoomDeleted => {
                let closed = serde_json::to_string(&protocol::Event::RoomClosed {})
                    .expect("events serialise");
                let frame = event_frame_text(self.last + 1, &closed);
                let _ = self.feed(Message::text(frame)).await;
                Next::Close(CloseCode::RoomClosed, "the room was closed")
            }
        }
    }
}
