//! The action loop: load the room and what the logic asks for, decide,
//! seal, commit; on a version conflict, back off and start again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use protocol::RoomId;

use super::cache::{Cached, Known, KNOWN_PER_ROOM};
use super::Rooms;
use crate::error::{Error, Result};
use crate::metrics::Refusal;
use crate::room::logic::{Flow, Outcome, View};
use crate::room::{Obj, RoomDoc};
use crate::seal::{inbox_aad, obj_aad, room_aad};
use crate::store::{Commit, CommitOutcome};

/// Moves the objects of `keys` that are known at the cached version into
/// `view`; returns the keys still to be read from the store.
fn recall(known: &Known, view: &mut View, keys: Vec<String>) -> Vec<String> {
    keys.into_iter()
        .filter(|k| match known.get(k) {
            Some(obj) => {
                view.objs.insert(k.clone(), obj.as_deref().cloned());
                false
            }
            None => true,
        })
        .collect()
}

/// How often an action is retried when another writer got to the room first.
const MAX_ATTEMPTS: usize = 16;

impl Rooms {
    /// Runs `decide` against the current room until its outcome commits.
    pub(super) async fn run<F>(&self, room: RoomId, decide: F) -> Result<Outcome>
    where
        F: FnMut(&RoomDoc, &View) -> Result<Outcome, Flow>,
    {
        let result = self.run_to_commit(room, decide).await;
        match &result {
            // Here `unavailable` can only be the store's answer.
            Err(Error::Unavailable(_)) => self.metrics.store_error(),
            Err(Error::QuotaExceeded(_)) => self.metrics.refused(Refusal::Quota),
            _ => {}
        }
        result
    }

    async fn run_to_commit<F>(&self, room: RoomId, mut decide: F) -> Result<Outcome>
    where
        F: FnMut(&RoomDoc, &View) -> Result<Outcome, Flow>,
    {
        // Holding the turn, this action owns the room's cache entry: `take`
        // moved it out, and only a commit puts one back, so a refusal, a
        // conflict or a closed room leaves nothing stale to forget.
        let _turn = self.locks.lock(room).await;
        let started = Instant::now();
        for attempt in 0..MAX_ATTEMPTS {
            let cached = if attempt == 0 {
                self.docs.take(room)
            } else {
                None
            };
            let from_cache = cached.is_some();
            let Cached {
                version,
                doc,
                mut known,
            } = match cached {
                Some(hit) => hit,
                None => {
                    let Some((version, doc)) = self.load(room).await? else {
                        return Err(Error::RoomClosed);
                    };
                    // Cached again only by a commit: until then this is the
                    // one holder, and a refusal leaves nothing stale behind.
                    let doc = Arc::new(doc);
                    Cached {
                        version,
                        doc,
                        known: Known::default(),
                    }
                }
            };
            let mut view = View::default();
            let decided = loop {
                match decide(&doc, &view) {
                    Ok(out) => break Ok(out),
                    Err(Flow::Need(keys)) => {
                        let missing = recall(&known, &mut view, keys);
                        self.fill(room, &mut view, missing).await?
                    }
                    Err(Flow::NeedInbox(p)) => {
                        let events = self.inbox(room, p).await?;
                        view.inboxes
                            .insert(p, events.into_iter().map(|(_, e)| e).collect());
                    }
                    Err(Flow::Fail(e)) => break Err(Error::from(e)),
                }
            };
            // Only a commit proves a cached document current: a refusal or a
            // read-only answer made from the cache is checked against the store.
            let writes = matches!(&decided, Ok(out) if !out.writes_nothing());
            if from_cache && !writes {
                continue;
            }
            let mut out = match decided {
                Err(e) => return Err(e),
                Ok(out) if !writes => {
                    // A repeat of an action whose first attempt was committed
                    // but not acknowledged is answered from the store.
                    self.store.settle(room).await?;
                    return Ok(out);
                }
                Ok(out) => out,
            };
            if let Some(version) = self.try_commit(room, version, &out, attempt).await? {
                // What this attempt read was as stored at the version it
                // committed on, and its puts are what that commit changed:
                // all of it is known at the new version. The puts move into
                // the cache; nothing reads them from the outcome any more.
                if known.len() + view.objs.len() + out.puts.len() > KNOWN_PER_ROOM {
                    known.clear();
                }
                known.extend(view.objs.into_iter().map(|(k, o)| (k, o.map(Arc::new))));
                known.extend(
                    std::mem::take(&mut out.puts)
                        .into_iter()
                        .map(|(k, o)| (k, Some(Arc::new(o)))),
                );
                let mut doc = out.doc.clone().map(Arc::new).unwrap_or(doc);
                if let Some((who, cost)) = out.usage {
                    Arc::make_mut(&mut doc).usage.add(who, cost);
                }
                self.docs.put(room, version, doc, known);
                self.metrics.commit(started.elapsed());
                self.metrics.relays_delivered(out.relays_delivered);
                self.count_trends(&out.trend_deltas).await?;
                return Ok(out);
            }
        }
        Err(Error::conflict(
            "the room is too busy right now; please retry",
        ))
    }

    pub(super) async fn fill(
        &self,
        room: RoomId,
        view: &mut View,
        keys: Vec<String>,
    ) -> Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let names: Vec<Vec<String>> = keys.iter().map(|k| self.store_names(room, k)).collect();
        let flat: Vec<String> = names.iter().flatten().cloned().collect();
        let mut values = self.store.get_objects(room, &flat).await?.into_iter();
        for (k, forms) in keys.into_iter().zip(names) {
            // The first form found: the current key's, or an earlier one's.
            let found = values.by_ref().take(forms.len()).flatten().next();
            let obj = match found {
                Some(sealed) => Some(self.sealer.open::<Obj>(&obj_aad(room, &k), &sealed)?),
                None => None,
            };
            view.objs.insert(k, obj);
        }
        Ok(())
    }

    /// Commits `out`, decided from the room at `version`; returns the new
    /// version. On a conflict it backs off a little (jittered) and returns
    /// `None`: the caller starts again from the store.
    async fn try_commit(
        &self,
        room: RoomId,
        version: u64,
        out: &Outcome,
        attempt: usize,
    ) -> Result<Option<u64>> {
        match self
            .store
            .commit(room, self.seal_outcome(room, version, out))
            .await?
        {
            CommitOutcome::Committed { version, .. } => Ok(Some(version)),
            CommitOutcome::Conflict => {
                self.metrics.commit_retry();
                let ms = rand::random::<u64>() % (1 + 2 * attempt as u64);
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Ok(None)
            }
        }
    }

    fn seal_outcome(&self, room: RoomId, version: u64, out: &Outcome) -> Commit {
        let keep_plain = self.store.announces_in_process();
        let mut plain = Vec::new();
        let deliveries = out
            .deliveries
            .iter()
            .map(|(p, e)| {
                let aad = inbox_aad(room, *p);
                if !keep_plain {
                    return (*p, self.sealer.seal(&aad, e));
                }
                let (sealed, json) = self.sealer.seal_keeping_json(&aad, e);
                plain.push(json);
                (*p, sealed)
            })
            .collect();
        Commit {
            expect_version: version,
            doc: out
                .doc
                .as_ref()
                .map(|d| self.sealer.seal(&room_aad(room), d)),
            puts: out
                .puts
                .iter()
                .map(|(k, o)| {
                    let name = self.store_names(room, k).swap_remove(0);
                    (name, self.sealer.seal(&obj_aad(room, k), o))
                })
                .collect(),
            deliveries,
            plain,
            counts: self.usage_counts(room, out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_objects_and_known_absences_are_not_read_again() {
        let obj = Obj::ClientId {
            message_id: uuid::Uuid::new_v4(),
        };
        let known: Known = [
            ("m:1".to_string(), Some(Arc::new(obj.clone()))),
            ("c:gone".to_string(), None),
        ]
        .into_iter()
        .collect();
        let mut view = View::default();
        let keys = ["m:1", "c:gone", "m:2"].map(String::from).to_vec();
        assert_eq!(recall(&known, &mut view, keys), vec!["m:2".to_string()]);
        assert_eq!(view.objs.get("m:1"), Some(&Some(obj)));
        assert_eq!(view.objs.get("c:gone"), Some(&None));
        assert!(!view.objs.contains_key("m:2"));
    }
}
