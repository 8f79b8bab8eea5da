//! The shuttle under load. Each connection is one task:
//!
//! - a party sends `send` frames to its own private channel (on a clock in
//!   open mode, whenever its room has a free in-flight slot in closed mode),
//!   approves every `consent_requested` it gets, and records the latency of
//!   every relayed `message` it receives;
//! - the room's ombud forwards each party message, as soon as it arrives, to
//!   the next party of the room (party i to party i+1).
//!
//! A body carries the time it was (scheduled to be) sent, so the receiver
//! alone computes the latency; nothing is shared between tasks but counters.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{FutureExt, SinkExt, StreamExt};
use protocol::{Channel, ParticipantId, Role};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

use crate::args::{Args, Mode};
use crate::conns::RoomConns;
use crate::stats::Stats;
use crate::wire::{self, Ws};

type Sink = SplitSink<Ws, Message>;
type Stream = SplitStream<Ws>;

/// How a party paces its sends.
#[derive(Clone)]
enum Pace {
    /// One send every `period`, the first at `first`.
    Clock { first: Instant, period: Duration },
    /// Whenever the room's semaphore has a permit.
    Slots(Arc<Semaphore>),
}

struct Party {
    /// Index among all parties of the run (for the body token).
    global: usize,
    me: ParticipantId,
    pace: Pace,
    /// No send is started at or after this instant.
    until: Instant,
    body_bytes: usize,
}

/// The running load: tasks plus what they share.
pub struct Load {
    pub stats: Arc<Stats>,
    pub start: Instant,
    pub until: Instant,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Load {
    /// Spawns every connection's task; sending starts shortly after.
    pub fn start(args: &Args, rooms: Vec<RoomConns>) -> Load {
        let epoch = Instant::now();
        let start = epoch + Duration::from_millis(200);
        let warmup = Duration::from_secs_f64(args.warmup);
        let duration = Duration::from_secs_f64(args.duration);
        // The window is measured from `start`, so shift the epoch-based bounds.
        let stats = Arc::new(Stats::new(epoch, warmup + (start - epoch), duration));
        let until = start + warmup + duration;
        let (shutdown, _) = watch::channel(false);
        let total_parties = rooms.len() * args.parties;
        let period = Duration::from_secs_f64(total_parties as f64 / args.rate.max(1) as f64);
        let mut tasks = Vec::new();
        for (r, room) in rooms.into_iter().enumerate() {
            let ids: Arc<Vec<ParticipantId>> =
                Arc::new(room.setup.parties.iter().map(|(id, _)| *id).collect());
            let slots = Arc::new(Semaphore::new(args.inflight));
            tasks.push(tokio::spawn(ombud(
                room.ombud,
                ids.clone(),
                stats.clone(),
                shutdown.subscribe(),
            )));
            for (k, ws) in room.parties.into_iter().enumerate() {
                let global = r * args.parties + k;
                let pace = match args.mode {
                    Mode::Open => Pace::Clock {
                        // Spread the parties' clocks evenly over one period.
                        first: start + period.mul_f64(global as f64 / total_parties as f64),
                        period,
                    },
                    Mode::Closed => Pace::Slots(slots.clone()),
                };
                let party = Party {
                    global,
                    me: ids[k],
                    pace,
                    until,
                    body_bytes: args.body_bytes,
                };
                tasks.push(tokio::spawn(run_party(
                    ws,
                    party,
                    stats.clone(),
                    shutdown.subscribe(),
                )));
            }
        }
        Load {
            stats,
            start,
            until,
            shutdown,
            tasks,
        }
    }

    /// Tells every task to stop and waits for them.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// Reads every frame that is ready now, after the one just received, so a
/// burst is answered with one flush.
type Read = Option<Result<Message, tokio_tungstenite::tungstenite::Error>>;

/// Handles `first` and then every frame already waiting, so the answers can
/// go out in one flush; false as soon as `handle` says the connection is gone.
fn each_ready(stream: &mut Stream, first: Read, mut handle: impl FnMut(Read) -> bool) -> bool {
    let mut msg = first;
    loop {
        if !handle(msg) {
            return false;
        }
        match stream.next().now_or_never() {
            Some(m) => msg = m,
            None => return true,
        }
    }
}

async fn run_party(ws: Ws, p: Party, stats: Arc<Stats>, mut shutdown: watch::Receiver<bool>) {
    let (mut sink, mut stream) = ws.split();
    let chan = Channel::Private(p.me);
    let mut req: u64 = 10;
    let mut n: u64 = 0;
    let mut out: Vec<Message> = Vec::new();
    let (mut next, period) = match &p.pace {
        Pace::Clock { first, period } => (*first, *period),
        Pace::Slots(_) => (p.until, Duration::ZERO),
    };
    let slots = match &p.pace {
        Pace::Slots(s) => Some(s.clone()),
        Pace::Clock { .. } => None,
    };
    let mut sending = true;
    let sleep = tokio::time::sleep_until(next.into());
    tokio::pin!(sleep);
    loop {
        tokio::select! {
            _ = &mut sleep, if sending && slots.is_none() => {
                let now = Instant::now();
                while next <= now && next < p.until {
                    let at = stats.ns(next);
                    req += 1;
                    n += 1;
                    out.push(wire::send(req, chan, wire::body(at, p.global, n, p.body_bytes)));
                    stats.sent(at);
                    next += period;
                }
                if next >= p.until {
                    sending = false;
                }
                sleep.as_mut().reset(next.into());
            }
            permit = acquire(&slots), if sending && slots.is_some() => {
                let now = Instant::now();
                if now >= p.until {
                    sending = false;
                    drop(permit);
                } else {
                    let mut take = 1;
                    if let Some(s) = &slots {
                        permit.forget();
                        while let Ok(more) = s.try_acquire() {
                            more.forget();
                            take += 1;
                        }
                    }
                    let at = stats.ns(now);
                    for _ in 0..take {
                        req += 1;
                        n += 1;
                        out.push(wire::send(req, chan, wire::body(at, p.global, n, p.body_bytes)));
                        stats.sent(at);
                    }
                }
            }
            msg = stream.next() => {
                let open = each_ready(&mut stream, msg, |m| {
                    party_frame(m, &stats, slots.as_deref(), &mut req, &mut out, &shutdown)
                });
                if !open {
                    return;
                }
            }
            _ = shutdown.changed() => return,
        }
        if !out.is_empty() && !flush(&mut sink, &mut out, &stats, &shutdown).await {
            return;
        }
    }
}

async fn acquire(slots: &Option<Arc<Semaphore>>) -> tokio::sync::OwnedSemaphorePermit {
    match slots {
        Some(s) => match s.clone().acquire_owned().await {
            Ok(p) => p,
            Err(_) => std::future::pending().await,
        },
        None => std::future::pending().await,
    }
}

async fn flush(
    sink: &mut Sink,
    out: &mut Vec<Message>,
    stats: &Stats,
    shutdown: &watch::Receiver<bool>,
) -> bool {
    for m in out.drain(..) {
        if sink.feed(m).await.is_err() {
            lost(stats, shutdown, "send failed");
            return false;
        }
    }
    if sink.flush().await.is_err() {
        lost(stats, shutdown, "send failed");
        return false;
    }
    true
}

/// A connection ended while the run still needed it.
fn lost(stats: &Stats, shutdown: &watch::Receiver<bool>, why: &str) {
    if !*shutdown.borrow() {
        stats.error(why);
    }
}

/// What a read from a websocket gave.
enum Got {
    Text(tokio_tungstenite::tungstenite::Utf8Bytes),
    /// A ping, pong or binary frame: nothing to do.
    Other,
    /// The connection is gone (and the loss is counted).
    Gone,
}

/// The text of a frame; a close or an error counts as a lost connection.
fn text_of(msg: Read, stats: &Stats, shutdown: &watch::Receiver<bool>, who: &str) -> Got {
    match msg {
        Some(Ok(Message::Text(t))) => Got::Text(t),
        Some(Ok(Message::Close(c))) => {
            let code = c.map_or(1005, |c| u16::from(c.code));
            lost(stats, shutdown, &format!("{who}closed by relay ({code})"));
            Got::Gone
        }
        Some(Ok(_)) => Got::Other,
        Some(Err(_)) | None => {
            lost(stats, shutdown, &format!("{who}connection lost"));
            Got::Gone
        }
    }
}

/// Handles one frame for a party; false when the connection is gone.
fn party_frame(
    msg: Read,
    stats: &Stats,
    slots: Option<&Semaphore>,
    req: &mut u64,
    out: &mut Vec<Message>,
    shutdown: &watch::Receiver<bool>,
) -> bool {
    let text = match text_of(msg, stats, shutdown, "") {
        Got::Text(t) => t,
        Got::Other => return true,
        Got::Gone => return false,
    };
    let f = match wire::parse(text.as_str()) {
        Ok(f) => f,
        Err(_) => {
            stats.error("unreadable frame");
            return true;
        }
    };
    match (f.kind.as_ref(), f.event) {
        ("event", Some(e)) => match e.kind.as_ref() {
            "message" if e.relayed_from.is_some() => {
                if let Some(sent) = e.body.as_deref().and_then(wire::sent_ns) {
                    stats.delivered(sent);
                    if let Some(s) = slots {
                        s.add_permits(1);
                    }
                }
            }
            "consent_requested" => {
                if let (Some(fid), Some(rev)) = (e.forward_id, e.revision) {
                    *req += 1;
                    out.push(wire::approve(*req, fid, rev));
                }
            }
            _ => {}
        },
        ("error", _) => {
            let code = f.code.as_deref().unwrap_or("unknown");
            stats.error(&format!("party: {code}"));
        }
        _ => {}
    }
    true
}

async fn ombud(
    ws: Ws,
    parties: Arc<Vec<ParticipantId>>,
    stats: Arc<Stats>,
    mut shutdown: watch::Receiver<bool>,
) {
    let (mut sink, mut stream) = ws.split();
    let mut req: u64 = 10;
    let mut out = Vec::new();
    loop {
        tokio::select! {
            msg = stream.next() => {
                let open = each_ready(&mut stream, msg, |m| {
                    ombud_frame(m, &parties, &stats, &mut req, &mut out, &shutdown)
                });
                if !open {
                    return;
                }
            }
            _ = shutdown.changed() => return,
        }
        if !out.is_empty() && !flush(&mut sink, &mut out, &stats, &shutdown).await {
            return;
        }
    }
}

fn ombud_frame(
    msg: Read,
    parties: &[ParticipantId],
    stats: &Stats,
    req: &mut u64,
    out: &mut Vec<Message>,
    shutdown: &watch::Receiver<bool>,
) -> bool {
    let text = match text_of(msg, stats, shutdown, "ombud ") {
        Got::Text(t) => t,
        Got::Other => return true,
        Got::Gone => return false,
    };
    let Ok(f) = wire::parse(text.as_str()) else {
        stats.error("unreadable frame");
        return true;
    };
    match (f.kind.as_ref(), f.event) {
        ("event", Some(e)) if e.kind == "message" && e.relayed_from.is_none() => {
            let (Some(id), Some(author), Some(body)) = (e.id, e.author, e.body) else {
                return true;
            };
            if author.role != Role::Party || wire::sent_ns(&body).is_none() {
                return true;
            }
            if let Some(i) = parties.iter().position(|p| *p == author.id) {
                let to = parties[(i + 1) % parties.len()];
                *req += 1;
                out.push(wire::forward(*req, id, to, format!("relayed: {body}")));
            }
        }
        ("error", _) => {
            let code = f.code.as_deref().unwrap_or("unknown");
            stats.error(&format!("ombud: {code}"));
        }
        _ => {}
    }
    true
}
