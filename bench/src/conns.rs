//! Opening a room's websockets: `hello` for every participant, then the
//! office notice acknowledged by each party (the relay refuses a party's
//! `send` before that). Connection `c` of room `r` goes to node `c % nodes`,
//! or with `--spread room` to node `r % nodes`.

use std::net::Ipv4Addr;

use futures_util::{stream, StreamExt};
use protocol::Request;

use crate::api::RoomSetup;
use crate::args::Spread;
use crate::wire::{self, Ws};
use crate::Error;

pub struct RoomConns {
    pub setup: RoomSetup,
    pub ombud: Ws,
    pub parties: Vec<Ws>,
}

/// Where connection number `c` of room `r` goes, and from which source address.
pub struct Placement<'a> {
    pub bases: &'a [String],
    pub source_addrs: u8,
    pub spread: Spread,
}

impl Placement<'_> {
    pub fn base(&self, c: usize, r: usize) -> &str {
        let node = match self.spread {
            Spread::Connection => c,
            Spread::Room => r,
        };
        &self.bases[node % self.bases.len()]
    }

    pub fn source(&self, c: usize) -> Option<Ipv4Addr> {
        (self.source_addrs > 1)
            .then(|| Ipv4Addr::new(127, 0, 0, 1 + (c % self.source_addrs as usize) as u8))
    }
}

/// Opens connection `c`, of room number `r`: the ombud's (`party` None) or a party's.
pub async fn connect_one(
    place: &Placement<'_>,
    (c, r): (usize, usize),
    room: &RoomSetup,
    ombud_token: &str,
    party: Option<usize>,
) -> Result<Ws, Error> {
    let mut ws = wire::open(place.base(c, r), place.source(c)).await?;
    match party {
        None => {
            wire::hello(&mut ws, ombud_token, Some(room.id), None).await?;
        }
        Some(p) => {
            wire::hello(&mut ws, &room.parties[p].1, None, None).await?;
            wire::request(&mut ws, 1, Request::AcknowledgeNotice {}).await?;
        }
    }
    Ok(ws)
}

/// Connects every participant of every room, `concurrency` handshakes at a time.
pub async fn connect_rooms(
    place: &Placement<'_>,
    rooms: Vec<RoomSetup>,
    ombud_token: &str,
    concurrency: usize,
) -> Result<Vec<RoomConns>, Error> {
    let per_room = rooms.first().map_or(1, |r| r.parties.len() + 1);
    let jobs: Vec<(usize, usize)> = (0..rooms.len())
        .flat_map(|r| (0..per_room).map(move |k| (r, k)))
        .collect();
    let rooms_ref = &rooms;
    let opened: Vec<(usize, usize, Ws)> = stream::iter(jobs)
        .map(|(r, k)| async move {
            let c = r * per_room + k;
            let party = k.checked_sub(1);
            let ws = connect_one(place, (c, r), &rooms_ref[r], ombud_token, party)
                .await
                .map_err(|e| Error(format!("connection {c} (room {r}): {}", e.0)))?;
            Ok::<_, Error>((r, k, ws))
        })
        .buffer_unordered(concurrency.max(1))
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    let mut slots: Vec<Vec<Option<Ws>>> = (0..rooms.len())
        .map(|_| (0..per_room).map(|_| None).collect())
        .collect();
    for (r, k, ws) in opened {
        slots[r][k] = Some(ws);
    }
    rooms
        .into_iter()
        .zip(slots)
        .map(|(setup, mut conns)| {
            let ombud = conns[0]
                .take()
                .ok_or_else(|| Error("an ombud connection is missing".into()))?;
            let parties = conns
                .into_iter()
                .skip(1)
                .map(|w| w.ok_or_else(|| Error("a party connection is missing".into())))
                .collect::<Result<_, _>>()?;
            Ok(RoomConns {
                setup,
                ombud,
                parties,
            })
        })
        .collect()
}
