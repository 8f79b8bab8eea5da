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
use crate::room::{first_use_key, Obj, RoomDoc};
use crate::seal::{inbox_aad, obj_aad, room_aad};
use crate::store::{Commit, CommitOutcome};

/// The version that last wrote each object an attempt read (0: never).
type Seen = foldhash::HashMap<String, u64>;

/// Moves the objects of `keys` that this node knows into `view`, with
/// their write versions into `seen`; returns the keys still to be read from
/// the store.
fn recall(known: &Known, view: &mut View, seen: &mut Seen, keys: Vec<String>) -> Vec<String> {
    keys.into_iter()
        .filter(|k| match known.get(k) {
            Some((obj, at)) => {
                view.objs.insert(k.clone(), obj.as_deref().cloned());
                seen.insert(k.clone(), *at);
                false
            }
            None => true,
        })
        .collect()
}

/// On a first attempt, takes a key that is nearly always absent
/// ([`first_use_key`]: present only when a request is sent again) as absent
/// without reading it, saving a round trip per request. The commit checks
/// it is still absent (version 0); if it was there after all, the commit
/// conflicts and the next attempt reads it.
fn assume_absent(key: &str, view: &mut View, seen: &mut Seen) -> bool {
    let first_use = first_use_key(key);
    if first_use {
        view.objs.insert(key.to_string(), None);
        seen.insert(key.to_string(), 0);
    }
    first_use
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
            let mut seen = Seen::default();
            let mut assumed = false;
            let decided = loop {
                match decide(&doc, &view) {
                    Ok(out) => break Ok(out),
                    Err(Flow::Need(keys)) => {
                        let mut missing = recall(&known, &mut view, &mut seen, keys);
                        if attempt == 0 {
                            let before = missing.len();
                            missing.retain(|k| !assume_absent(k, &mut view, &mut seen));
                            assumed |= missing.len() < before;
                        }
                        seen.extend(self.fill_at(room, &mut view, missing).await?);
                    }
                    Err(Flow::NeedInbox(p)) => {
                        let events = self.inbox(room, p).await?;
                        view.inboxes
                            .insert(p, events.into_iter().map(|(_, e)| e).collect());
                    }
                    Err(Flow::Fail(e)) => break Err(Error::from(e)),
                }
            };
            // Only a commit proves a cached document (or an object assumed
            // absent) current: a refusal or a read-only answer made from one
            // is checked against the store.
            let writes = matches!(&decided, Ok(out) if !out.writes_nothing());
            if (from_cache || assumed) && !writes {
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
            // What the decision read: the document at `version` and the
            // objects in the view at their versions, unless it read an
            // inbox, which every delivery changes (then the whole room).
            let reads = view.inboxes.is_empty().then_some(&seen);
            let commit = self.seal_outcome(room, version, &doc, reads, &out);
            if let Some((version, counts)) = self.try_commit(room, commit, attempt).await? {
                // What this attempt read is still as stored (its versions
                // passed the commit's check), and its puts are what the
                // commit wrote, at the new version: all of it is known. The
                // puts move into the cache; nothing reads them from the
                // outcome any more.
                if known.len() + view.objs.len() + out.puts.len() > KNOWN_PER_ROOM {
                    known.clear();
                }
                known.extend(view.objs.into_iter().map(|(k, o)| {
                    let at = seen.get(&k).copied().unwrap_or_default();
                    (k, (o.map(Arc::new), at))
                }));
                known.extend(
                    std::mem::take(&mut out.puts)
                        .into_iter()
                        .map(|(k, o)| (k, (Some(Arc::new(o)), version))),
                );
                let mut doc = out.doc.clone().map(Arc::new).unwrap_or(doc);
                if out.usage.is_some() {
                    self.usage_after(&mut Arc::make_mut(&mut doc).usage, &out, &counts);
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
        self.fill_at(room, view, keys).await.map(drop)
    }

    /// Reads `keys` into `view`; returns the version that last wrote each
    /// under its current name (a read set's entries, [`Commit::reads`]).
    async fn fill_at(
        &self,
        room: RoomId,
        view: &mut View,
        keys: Vec<String>,
    ) -> Result<Vec<(String, u64)>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let names: Vec<Vec<String>> = keys.iter().map(|k| self.store_names(room, k)).collect();
        let flat: Vec<String> = names.iter().flatten().cloned().collect();
        let mut values = self.store.read_objects(room, &flat).await?.into_iter();
        let mut seen = Vec::with_capacity(keys.len());
        for (k, forms) in keys.into_iter().zip(names) {
            let forms: Vec<_> = values.by_ref().take(forms.len()).collect();
            // A commit writes the current form only, so its version is the one to check.
            let at = forms.first().map_or(0, |(_, at)| *at);
            // The first form found: the current key's, or an earlier one's.
            let found = forms.into_iter().find_map(|(value, _)| value);
            let obj = match found {
                Some(sealed) => Some(self.sealer.open::<Obj>(&obj_aad(room, &k), &sealed)?),
                None => None,
            };
            view.objs.insert(k.clone(), obj);
            seen.push((k, at));
        }
        Ok(seen)
    }

    /// Commits an outcome; returns the new version and the counters it
    /// moved, as they now stand. On a conflict it backs off a little
    /// (jittered) and returns `None`: the caller starts again from the store.
    async fn try_commit(
        &self,
        room: RoomId,
        commit: Commit,
        attempt: usize,
    ) -> Result<Option<(u64, Vec<i64>)>> {
        match self.store.commit(room, commit).await? {
            CommitOutcome::Committed {
                version, counts, ..
            } => Ok(Some((version, counts))),
            CommitOutcome::Conflict => {
                self.metrics.commit_retry();
                let ms = rand::random::<u64>() % (1 + 2 * attempt as u64);
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Ok(None)
            }
        }
    }

    /// `out`, decided from `doc` at `version` after reading `reads` (by
    /// logic key), as the store commits it: sealed, under store names, with
    /// its counters and ceilings.
    fn seal_outcome(
        &self,
        room: RoomId,
        version: u64,
        doc: &RoomDoc,
        reads: Option<&Seen>,
        out: &Outcome,
    ) -> Commit {
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
        let sealed_doc = out
            .doc
            .as_ref()
            .map(|d| self.sealer.seal(&room_aad(room), d));
        let puts: Vec<(String, Vec<u8>)> = out
            .puts
            .iter()
            .map(|(k, o)| {
                let name = self.store_names(room, k).swap_remove(0);
                (name, self.sealer.seal(&obj_aad(room, k), o))
            })
            .collect();
        // A key both read and written (a send's `client_id` record) has
        // its store name, a keyed hash, computed once.
        let reads = reads.map(|seen| {
            seen.iter()
                .map(|(k, at)| {
                    let name = match out.puts.iter().position(|(put, _)| put == k) {
                        Some(i) => puts[i].0.clone(),
                        None => self.store_names(room, k).swap_remove(0),
                    };
                    (name, *at)
                })
                .collect()
        });
        let (counts, limits) = self.usage_counts(room, doc, out);
        Commit {
            expect_version: version,
            reads,
            doc: sealed_doc,
            puts,
            deliveries,
            plain,
            counts,
            limits,
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
            ("m:1".to_string(), (Some(Arc::new(obj.clone())), 7)),
            ("c:gone".to_string(), (None, 0)),
        ]
        .into_iter()
        .collect();
        let (mut view, mut seen) = (View::default(), Seen::default());
        let keys = ["m:1", "c:gone", "m:2"].map(String::from).to_vec();
        assert_eq!(
            recall(&known, &mut view, &mut seen, keys),
            vec!["m:2".to_string()]
        );
        assert_eq!(view.objs.get("m:1"), Some(&Some(obj)));
        assert_eq!(view.objs.get("c:gone"), Some(&None));
        assert!(!view.objs.contains_key("m:2"));
        assert_eq!(
            (seen["m:1"], seen["c:gone"]),
            (7, 0),
            "read at their versions"
        );
    }
}
