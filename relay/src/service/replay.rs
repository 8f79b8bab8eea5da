//! Reading inboxes back: replay on connect and resume, whole inboxes for
//! transcripts and co-ombud history, and opening one live event.

use protocol::events::Event;
use protocol::{ParticipantId, RoomId};

use super::Rooms;
use crate::error::{Error, Result};
use crate::room::logic::View;
use crate::room::scrub;
use crate::seal::inbox_aad;

impl Rooms {
    /// A page of a participant's inbox as JSON events for replay.
    pub async fn replay(
        &self,
        room: RoomId,
        participant: ParticipantId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(u64, String)>> {
        let events = self.open_page(room, participant, after, limit).await?;
        Ok(events
            .into_iter()
            .map(|(seq, e)| (seq, serde_json::to_string(&e).expect("events serialise")))
            .collect())
    }

    /// Every event in a participant's inbox, opened.
    pub async fn inbox(
        &self,
        room: RoomId,
        participant: ParticipantId,
    ) -> Result<Vec<(u64, Event)>> {
        let mut events = Vec::new();
        loop {
            let after = events.last().map_or(0, |(seq, _)| *seq);
            let page = self.open_page(room, participant, after, 1000).await?;
            if page.is_empty() {
                return Ok(events);
            }
            events.extend(page);
        }
    }

    /// The newest `seq` in a participant's inbox.
    pub async fn inbox_head(&self, room: RoomId, participant: ParticipantId) -> Result<u64> {
        Ok(self.store.inbox_head(room, participant).await?)
    }

    /// One live inbox entry as announced by the store, opened to its JSON.
    pub fn open_event(
        &self,
        room: RoomId,
        participant: ParticipantId,
        sealed: &[u8],
    ) -> Result<String> {
        let plain = self
            .sealer
            .open_bytes(&inbox_aad(room, participant), sealed)?;
        String::from_utf8(plain).map_err(|_| Error::internal("inbox entry is not UTF-8"))
    }

    /// Inbox events with `seq > after`, opened, with every word since
    /// taken back blanked (`room::scrub`). Every reader of an inbox (replay,
    /// resume, transcripts, a co-ombud's copy) comes through here.
    async fn open_page(
        &self,
        room: RoomId,
        participant: ParticipantId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(u64, Event)>> {
        let aad = inbox_aad(room, participant);
        let page = self
            .store
            .read_inbox(room, participant, after, limit)
            .await?;
        let mut events = Vec::with_capacity(page.len());
        for (seq, sealed) in page {
            events.push((seq, self.sealer.open::<Event>(&aad, &sealed)?));
        }
        let keys = scrub::needed(events.iter().map(|(_, e)| e));
        if !keys.is_empty() {
            let mut view = View::default();
            self.fill(room, &mut view, keys).await?;
            scrub::scrub(events.iter_mut().map(|(_, e)| e), &view);
        }
        Ok(events)
    }
}
