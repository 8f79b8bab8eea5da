//! Resume: a party is offline while `n` events land in its inbox; it then
//! reconnects with `since` and the time until all `n` arrived is measured
//! (TCP connect, upgrade, `hello`, `welcome` and the replay included).

use std::time::Instant;

use futures_util::{SinkExt, StreamExt};
use protocol::Channel;
use serde::Serialize;
use tokio_tungstenite::tungstenite::Message;

use crate::api::Api;
use crate::args::Args;
use crate::idle::round2;
use crate::procs::Relays;
use crate::wire;
use crate::Error;

/// Sends in flight at once while filling the inbox.
const CHUNK: usize = 50;

#[derive(Debug, Clone, Serialize)]
pub struct ResumeReport {
    pub events: usize,
    /// Milliseconds from starting the reconnect to the last missed event, per run.
    pub runs_ms: Vec<f64>,
    /// Milliseconds from starting the reconnect to `welcome`, per run.
    pub welcome_ms: Vec<f64>,
    pub median_ms: f64,
    pub max_ms: f64,
}

pub async fn run(
    args: &Args,
    relays: &Relays,
    api: &Api,
    token: &str,
    n: usize,
) -> Result<ResumeReport, Error> {
    let base = &relays.bases[0];
    // The reconnecting party talks to the last node, so with several nodes
    // the events were written through another one.
    let party_base = relays.bases.last().unwrap_or(base);
    let room = api
        .room(base, token, "bench resume".into(), false, 2)
        .await?;
    let (party_id, party_token) = room.parties[1].clone();
    let mut ombud = wire::open(base, None).await?;
    wire::hello(&mut ombud, token, Some(room.id), None).await?;

    // Connect once to acknowledge the notice and learn the inbox head.
    let mut party = wire::open(party_base, None).await?;
    let mut seen = wire::hello(&mut party, &party_token, None, None).await?.seq;
    wire::request(&mut party, 1, protocol::Request::AcknowledgeNotice {}).await?;
    drop(party);

    let mut runs_ms = Vec::new();
    let mut welcome_ms = Vec::new();
    let mut req: u64 = 100;
    for _ in 0..args.resume_runs.max(1) {
        // The ombud writes `n` messages into the offline party's thread, in
        // chunks, reading the answers in between so its own queue never fills.
        for chunk_start in (0..n).step_by(CHUNK) {
            let first = req + 1;
            for i in chunk_start..(chunk_start + CHUNK).min(n) {
                req += 1;
                let body = wire::body(0, 0, i as u64, args.body_bytes);
                ombud
                    .feed(wire::send(req, Channel::Private(party_id), body))
                    .await?;
            }
            ombud.flush().await?;
            await_acks(&mut ombud, first, req).await?;
        }

        // The party comes back.
        let started = Instant::now();
        let mut party = wire::open(party_base, None).await?;
        let welcome = wire::hello(&mut party, &party_token, None, Some(seen)).await?;
        welcome_ms.push(round2(started.elapsed().as_secs_f64() * 1000.0));
        let target = seen + n as u64;
        if welcome.seq < target {
            return Err(Error(format!(
                "resume: the inbox head is {} after {n} events from {seen}",
                welcome.seq
            )));
        }
        let mut got = 0;
        while seen < target {
            match party.next().await {
                Some(Ok(Message::Text(t))) => {
                    let f = wire::parse(t.as_str())?;
                    if let ("event", Some(s)) = (f.kind.as_ref(), f.seq) {
                        if s != seen + 1 {
                            return Err(Error(format!("resume: got seq {s} after {seen}")));
                        }
                        seen = s;
                        got += 1;
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.into()),
                None => return Err(Error("resume: the party connection closed".into())),
            }
        }
        runs_ms.push(round2(started.elapsed().as_secs_f64() * 1000.0));
        if got != n {
            return Err(Error(format!("resume: {got} of {n} events arrived")));
        }
        drop(party);
    }
    let mut sorted = runs_ms.clone();
    sorted.sort_by(f64::total_cmp);
    Ok(ResumeReport {
        events: n,
        median_ms: sorted[sorted.len() / 2],
        max_ms: sorted[sorted.len() - 1],
        runs_ms,
        welcome_ms,
    })
}

/// Reads until every request numbered `first..=last` is acknowledged.
async fn await_acks(ws: &mut wire::Ws, first: u64, last: u64) -> Result<(), Error> {
    let mut acked = 0;
    while acked < last + 1 - first {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => {
                let v: serde_json::Value = serde_json::from_str(t.as_str())?;
                let r = v["req"].as_u64().unwrap_or(0);
                if (first..=last).contains(&r) {
                    if v["type"] != "ack" {
                        return Err(Error(format!("resume: a send failed: {}", t.as_str())));
                    }
                    acked += 1;
                }
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e.into()),
            None => return Err(Error("resume: the ombud connection closed".into())),
        }
    }
    Ok(())
}
