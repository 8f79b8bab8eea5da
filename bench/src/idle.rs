//! Idle connections: what one more authenticated, silent connection costs
//! the relay in resident memory.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::api::{setup_rooms, Api};
use crate::args::Args;
use crate::conns::{connect_rooms, Placement};
use crate::procs::Relays;
use crate::Error;

#[derive(Debug, Clone, Serialize)]
pub struct IdleReport {
    pub connections: usize,
    pub rooms: usize,
    pub setup_s: f64,
    pub connect_s: f64,
    /// Relay RSS (all nodes) with the rooms set up, before any websocket.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rss_before_kib: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rss_after_kib: Option<u64>,
    /// (after - before) / connections.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rss_per_conn_kib: Option<f64>,
    /// after / connections: everything the relay holds, per connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rss_total_per_conn_kib: Option<f64>,
}

pub async fn run(
    args: &Args,
    relays: &Relays,
    api: &Api,
    token: &str,
    conns: usize,
) -> Result<IdleReport, Error> {
    let per_room = args.parties + 1;
    let rooms = conns.div_ceil(per_room).max(1);
    let t0 = Instant::now();
    let setup = setup_rooms(
        api,
        &relays.bases,
        token,
        rooms,
        args.parties,
        0.0,
        args.setup_concurrency,
    )
    .await?;
    let setup_s = t0.elapsed().as_secs_f64();
    let settle = Duration::from_secs_f64(args.idle_settle.max(0.0));
    tokio::time::sleep(settle).await;
    let before = relays.usage();
    let t1 = Instant::now();
    let place = Placement {
        bases: &relays.bases,
        source_addrs: args.source_addrs,
        spread: args.spread,
    };
    let opened = connect_rooms(&place, setup, token, args.setup_concurrency).await?;
    let connect_s = t1.elapsed().as_secs_f64();
    let connections = opened.len() * per_room;
    if !args.quiet {
        eprintln!("relay-bench: {connections} idle connections open in {connect_s:.1}s; settling");
    }
    // Let presence fan-out and allocator caches settle before reading RSS.
    tokio::time::sleep(settle).await;
    let after = relays.usage();
    drop(opened);
    let per_conn = match (before, after) {
        (Some(b), Some(a)) => Some(
            ((a.rss_kib as f64 - b.rss_kib as f64) / connections as f64 * 100.0).round() / 100.0,
        ),
        _ => None,
    };
    Ok(IdleReport {
        connections,
        rooms,
        setup_s: round2(setup_s),
        connect_s: round2(connect_s),
        rss_before_kib: before.map(|u| u.rss_kib),
        rss_after_kib: after.map(|u| u.rss_kib),
        rss_per_conn_kib: per_conn,
        rss_total_per_conn_kib: after
            .map(|a| (a.rss_kib as f64 / connections as f64 * 100.0).round() / 100.0),
    })
}

pub fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

pub fn round4(v: f64) -> f64 {
    (v * 10_000.0).round() / 10_000.0
}
