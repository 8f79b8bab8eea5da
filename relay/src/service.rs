//! Where room logic meets storage: load the room and the objects the logic
//! asks for, apply, seal, commit; on a version conflict, start again. This is
//! the only module that turns [`crate::room`] decisions into store writes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{Datelike, Utc};
use protocol::events::Event;
use protocol::rest::{CreateRoom, OmbudInfo};
use protocol::{ParticipantId, Request, Role, RoomId};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::codec::{Sealer, GLOBAL_AAD};
use crate::config::Office;
use crate::error::{Error, Result};
use crate::room::logic::{self, Ctx, Flow, Outcome, Signal, View};
use crate::room::{Member, Obj, PartyRec, RoomDoc};
use crate::store::{Commit, CommitOutcome, InviteTake, Store};

/// How often an action is retried when another writer got to the room first.
const MAX_ATTEMPTS: usize = 16;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Account {
    pub id: Uuid,
    pub username: String,
    pub display_name: String,
    pub password_hash: String,
}

impl Account {
    pub fn info(&self) -> OmbudInfo {
        OmbudInfo {
            id: self.id,
            username: self.username.clone(),
            display_name: self.display_name.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct InviteRec {
    party_id: ParticipantId,
}

pub struct Rooms {
    pub store: Arc<dyn Store>,
    pub sealer: Sealer,
    pub office: Office,
    pub default_retention_hours: u32,
    /// The last room documents this node read or wrote, with their versions.
    /// Safe to act on: a commit succeeds only if the store is still at that
    /// version, and a conflict drops the entry and reloads.
    pub docs: DocCache,
    /// Serialises actions on one room within this node, so a node's own
    /// requests never conflict with each other; conflicts (and retries) are
    /// left to writers on other nodes.
    pub locks: RoomLocks,
}

/// A fixed set of async locks, one picked by the room id: bounded memory
/// whatever the number of rooms, and rooms rarely share one.
pub struct RoomLocks(Vec<tokio::sync::Mutex<()>>);

impl Default for RoomLocks {
    fn default() -> Self {
        RoomLocks((0..1024).map(|_| tokio::sync::Mutex::new(())).collect())
    }
}

impl RoomLocks {
    async fn lock(&self, room: RoomId) -> tokio::sync::MutexGuard<'_, ()> {
        let slot = (room.as_u128() % self.0.len() as u128) as usize;
        self.0[slot].lock().await
    }
}

/// Most rooms' documents, by room: saves a store read and a decryption per action.
#[derive(Default)]
pub struct DocCache(std::sync::Mutex<HashMap<RoomId, (u64, Arc<RoomDoc>)>>);

/// Beyond this many rooms the cache starts over (an office has far fewer).
const DOC_CACHE_ROOMS: usize = 50_000;

impl DocCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<RoomId, (u64, Arc<RoomDoc>)>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
    fn get(&self, room: RoomId) -> Option<(u64, Arc<RoomDoc>)> {
        self.lock().get(&room).cloned()
    }
    fn put(&self, room: RoomId, version: u64, doc: Arc<RoomDoc>) {
        let mut map = self.lock();
        if map.len() >= DOC_CACHE_ROOMS {
            map.clear();
        }
        map.insert(room, (version, doc));
    }
    pub fn forget(&self, room: RoomId) {
        self.lock().remove(&room);
    }
}

fn obj_aad(room: RoomId, key: &str) -> Vec<u8> {
    let mut aad = room.as_bytes().to_vec();
    aad.extend_from_slice(key.as_bytes());
    aad
}

/// Associated data of a participant's inbox entries: an event cannot be moved
/// into another participant's inbox without failing to open.
pub fn inbox_aad(room: RoomId, participant: ParticipantId) -> [u8; 32] {
    let mut aad = [0u8; 32];
    aad[..16].copy_from_slice(room.as_bytes());
    aad[16..].copy_from_slice(participant.as_bytes());
    aad
}

impl Rooms {
    // ---- accounts ----

    pub async fn account(&self, username: &str) -> Result<Option<Account>> {
        // Accounts are filed under a keyed hash of the username, so a store
        // dump shows no ombud's name; during a key rotation, try every key.
        for blinded in self.sealer.blind(username) {
            if let Some(sealed) = self.store.get_account(&blinded).await? {
                return Ok(Some(self.sealer.open(GLOBAL_AAD, &sealed)?));
            }
        }
        Ok(None)
    }

    /// Creates the account, or updates its password if it exists.
    pub async fn upsert_account(&self, username: &str, password: &str) -> Result<Account> {
        let existing = self.account(username).await?;
        let account = Account {
            id: existing.as_ref().map(|a| a.id).unwrap_or_else(Uuid::new_v4),
            username: username.to_string(),
            display_name: existing
                .map(|a| a.display_name)
                .unwrap_or_else(|| username.to_string()),
            password_hash: crate::auth::hash_password(password),
        };
        self.store
            .put_account(
                &self.sealer.blind(username)[0],
                self.sealer.seal(GLOBAL_AAD, &account),
            )
            .await?;
        Ok(account)
    }

    // ---- loading ----

    pub async fn load(&self, room: RoomId) -> Result<Option<(u64, RoomDoc)>> {
        match self.store.load_room(room).await? {
            Some(v) => Ok(Some((
                v.version,
                self.sealer.open(room.as_bytes(), &v.doc)?,
            ))),
            None => Ok(None),
        }
    }

    pub async fn doc(&self, room: RoomId) -> Result<RoomDoc> {
        self.load(room)
            .await?
            .map(|(_, d)| d)
            .ok_or_else(|| Error::not_found("no such room"))
    }

    async fn fill(&self, room: RoomId, view: &mut View, keys: Vec<String>) -> Result<()> {
        let values = self.store.get_objects(room, &keys).await?;
        for (k, v) in keys.into_iter().zip(values) {
            let obj = match v {
                Some(sealed) => Some(self.sealer.open::<Obj>(&obj_aad(room, &k), &sealed)?),
                None => None,
            };
            view.objs.insert(k, obj);
        }
        Ok(())
    }

    // ---- the action loop ----

    /// Runs `decide` against the current room until its outcome commits.
    async fn run<F>(&self, room: RoomId, mut decide: F) -> Result<Outcome>
    where
        F: FnMut(&RoomDoc, &View) -> Result<Outcome, Flow>,
    {
        let _turn = self.locks.lock(room).await;
        for attempt in 0..MAX_ATTEMPTS {
            let cached = if attempt == 0 {
                self.docs.get(room)
            } else {
                None
            };
            let from_cache = cached.is_some();
            let (version, doc) = match cached {
                Some(hit) => hit,
                None => {
                    let Some((version, doc)) = self.load(room).await? else {
                        self.docs.forget(room);
                        return Err(Error::RoomClosed);
                    };
                    let doc = Arc::new(doc);
                    self.docs.put(room, version, doc.clone());
                    (version, doc)
                }
            };
            let mut view = View::default();
            let decided = loop {
                match decide(&doc, &view) {
                    Ok(out) => break Ok(out),
                    Err(Flow::Need(keys)) => self.fill(room, &mut view, keys).await?,
                    Err(Flow::Fail(e)) => break Err(e),
                }
            };
            // Only a commit proves a cached document current: a refusal or a
            // read-only answer made from the cache is checked against the store.
            let writes = matches!(&decided, Ok(out) if !out.writes_nothing());
            if from_cache && !writes {
                self.docs.forget(room);
                continue;
            }
            let out = match decided {
                Err(e) => return Err(e),
                Ok(out) if !writes => return Ok(out),
                Ok(out) => out,
            };
            if self.try_commit(room, version, doc, &out, attempt).await? {
                return Ok(out);
            }
        }
        Err(too_busy())
    }

    /// Commits `out`, decided from the room at `version`, and caches the
    /// document it leaves. On a conflict it drops the cached document, backs
    /// off a little (jittered) and returns false: the caller starts again.
    async fn try_commit(
        &self,
        room: RoomId,
        version: u64,
        doc: Arc<RoomDoc>,
        out: &Outcome,
        attempt: usize,
    ) -> Result<bool> {
        match self
            .store
            .commit(room, self.seal_outcome(room, version, out))
            .await?
        {
            CommitOutcome::Committed { version, .. } => {
                let doc = out.doc.clone().map(Arc::new).unwrap_or(doc);
                self.docs.put(room, version, doc);
                Ok(true)
            }
            CommitOutcome::Conflict => {
                self.docs.forget(room);
                let ms = rand::random::<u64>() % (1 + 2 * attempt as u64);
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Ok(false)
            }
        }
    }

    fn seal_outcome(&self, room: RoomId, version: u64, out: &Outcome) -> Commit {
        Commit {
            expect_version: version,
            doc: out
                .doc
                .as_ref()
                .map(|d| self.sealer.seal(room.as_bytes(), d)),
            puts: out
                .puts
                .iter()
                .map(|(k, o)| (k.clone(), self.sealer.seal(&obj_aad(room, k), o)))
                .collect(),
            deliveries: out
                .deliveries
                .iter()
                .map(|(p, e)| (*p, self.sealer.seal(&inbox_aad(room, *p), e)))
                .collect(),
        }
    }

    /// A websocket request from `actor`. Returns the ack result and the ephemeral signals.
    pub async fn act(
        &self,
        room: RoomId,
        who: ParticipantId,
        role: Role,
        req: &Request,
    ) -> Result<Outcome> {
        let now = Utc::now();
        let ids: Vec<Uuid> = (0..8).map(|_| Uuid::new_v4()).collect();
        self.run(room, |doc, view| {
            let actor = doc
                .actor(who, role)
                .ok_or_else(|| Error::forbidden("you are no longer in this room"))?;
            let ctx = Ctx {
                doc,
                actor: &actor,
                office: &self.office,
                now,
            };
            // `apply` may run several times (each time it asks for more objects);
            // it must mint the same ids each time, so they come from a fixed pool.
            let mut minted = ids.iter().copied();
            logic::apply(&ctx, view, req, &mut || {
                minted.next().unwrap_or_else(Uuid::new_v4)
            })
        })
        .await
    }

    /// A change to the room document made over REST, with the events it causes.
    async fn mutate<F>(&self, room: RoomId, mut f: F) -> Result<Outcome>
    where
        F: FnMut(&mut RoomDoc, &mut Outcome) -> Result<()>,
    {
        self.run(room, |doc, _| {
            let mut doc = doc.clone();
            let mut out = Outcome::default();
            f(&mut doc, &mut out)?;
            out.doc = Some(doc);
            Ok(out)
        })
        .await
    }

    // ---- rooms over REST ----

    pub async fn create_room(&self, ombud: &Account, req: CreateRoom) -> Result<RoomDoc> {
        let title = req.title.trim();
        if title.is_empty() || title.chars().count() > 200 {
            return Err(Error::invalid("`title` must be 1 to 200 characters"));
        }
        let retention_hours = req.retention_hours.unwrap_or(self.default_retention_hours);
        if retention_hours == 0 || retention_hours > 24 * 365 {
            return Err(Error::invalid("`retention_hours` must be 1 to 8760"));
        }
        let now = Utc::now();
        let doc = RoomDoc {
            id: Uuid::new_v4(),
            title: title.to_string(),
            consent_required: req.consent_required,
            attribution: req.attribution,
            retention_hours,
            created_at: now,
            expire_at_ms: now.timestamp_millis() + i64::from(retention_hours) * 3_600_000,
            ombuds: vec![Member {
                id: ombud.id,
                display_name: ombud.display_name.clone(),
            }],
            parties: Vec::new(),
            joint_open: false,
            categories: Vec::new(),
            sensitive_terms: Vec::new(),
        };
        let sealed = self.sealer.seal(doc.id.as_bytes(), &doc);
        if !self
            .store
            .create_room(doc.id, sealed, doc.expire_at_ms)
            .await?
        {
            return Err(Error::internal("room id collision"));
        }
        Ok(doc)
    }

    /// Rooms this ombud belongs to, newest first.
    pub async fn rooms_of(&self, ombud: Uuid) -> Result<Vec<RoomDoc>> {
        let mut docs = Vec::new();
        for id in self.store.list_rooms().await? {
            if let Some((_, doc)) = self.load(id).await? {
                if doc.is_ombud(ombud) {
                    docs.push(doc);
                }
            }
        }
        docs.sort_by_key(|d| std::cmp::Reverse(d.created_at));
        Ok(docs)
    }

    /// The room, if `ombud` is one of its ombuds (otherwise as if it did not exist).
    pub async fn room_for_ombud(&self, room: RoomId, ombud: Uuid) -> Result<RoomDoc> {
        let doc = self.doc(room).await?;
        if !doc.is_ombud(ombud) {
            return Err(Error::not_found("no such room"));
        }
        Ok(doc)
    }

    /// Invites a party; returns its id and the one-time invite code.
    pub async fn add_party(
        &self,
        room: RoomId,
        ombud: Uuid,
        display_name: &str,
    ) -> Result<(Uuid, String)> {
        let name = display_name.trim();
        if name.is_empty() || name.chars().count() > 80 {
            return Err(Error::invalid("`display_name` must be 1 to 80 characters"));
        }
        self.room_for_ombud(room, ombud).await?;
        let party_id = Uuid::new_v4();
        self.mutate(room, |doc, _| {
            doc.parties.push(PartyRec {
                id: party_id,
                display_name: name.to_string(),
                joined: false,
                left: false,
                notice_acknowledged: false,
            });
            Ok(())
        })
        .await?;
        let secret: [u8; 18] = rand::random();
        let mut raw = room.as_bytes().to_vec();
        raw.extend_from_slice(&secret);
        let code = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, raw);
        let sealed = self.sealer.seal(room.as_bytes(), &InviteRec { party_id });
        self.store
            .put_invite(room, &invite_key(&code), sealed)
            .await?;
        Ok((party_id, code))
    }

    /// Spends an invite code: the party is now in the room.
    pub async fn join(&self, code: &str) -> Result<(RoomDoc, ParticipantId)> {
        let raw = base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            code.trim(),
        )
        .ok()
        .filter(|r| r.len() == 34)
        .ok_or_else(|| Error::not_found("unknown invite code"))?;
        let room =
            Uuid::from_slice(&raw[..16]).map_err(|_| Error::not_found("unknown invite code"))?;
        let invite: InviteRec = match self
            .store
            .take_invite(room, &invite_key(code.trim()))
            .await?
        {
            InviteTake::Taken(sealed) => self.sealer.open(room.as_bytes(), &sealed)?,
            InviteTake::AlreadyUsed => return Err(Error::Gone),
            InviteTake::Unknown => return Err(Error::not_found("unknown invite code")),
        };
        let party_id = invite.party_id;
        let mut joined_doc = None;
        self.mutate(room, |doc, out| {
            let p = doc
                .party_mut(party_id)
                .ok_or_else(|| Error::not_found("unknown invite code"))?;
            p.joined = true;
            let info = protocol::ParticipantInfo {
                id: p.id,
                role: Role::Party,
                display_name: p.display_name.clone(),
            };
            out.send(
                logic::audience(doc, protocol::Channel::Notes),
                Event::ParticipantJoined { participant: info },
            );
            joined_doc = Some(doc.clone());
            Ok(())
        })
        .await?;
        Ok((
            joined_doc.ok_or_else(|| Error::internal("join produced no room"))?,
            party_id,
        ))
    }

    /// Adds a co-ombud; everyone in the room is told a new ombud can see their thread.
    pub async fn add_ombud(&self, room: RoomId, by: Uuid, username: &str) -> Result<RoomDoc> {
        self.room_for_ombud(room, by).await?;
        let account = self
            .account(username)
            .await?
            .ok_or_else(|| Error::not_found("no ombud with that username"))?;
        let _turn = self.locks.lock(room).await;
        for attempt in 0..MAX_ATTEMPTS {
            let (version, mut doc) = self.load(room).await?.ok_or(Error::RoomClosed)?;
            if doc.is_ombud(account.id) {
                return Ok(doc);
            }
            // The colleague sees every thread from the start: its inbox begins
            // with a copy of the adding ombud's, read at the same room version
            // as the commit below, so nothing falls between the two.
            let history = self.inbox(room, by).await?;
            let mut out = Outcome::default();
            for (_, event) in history {
                let event = match event {
                    Event::Message(mut m) => {
                        m.client_id = None;
                        Event::Message(m)
                    }
                    other => other,
                };
                out.deliveries.push((account.id, event));
            }
            doc.ombuds.push(Member {
                id: account.id,
                display_name: account.display_name.clone(),
            });
            let info = protocol::ParticipantInfo {
                id: account.id,
                role: Role::Ombud,
                display_name: account.display_name.clone(),
            };
            out.send(
                logic::everyone(&doc),
                Event::ParticipantJoined { participant: info },
            );
            out.doc = Some(doc.clone());
            if self
                .try_commit(room, version, Arc::new(doc.clone()), &out, attempt)
                .await?
            {
                return Ok(doc);
            }
        }
        Err(too_busy())
    }

    /// Tags a room with trend categories; counters move with the tags and hold no room id.
    pub async fn set_categories(&self, room: RoomId, by: Uuid, items: Vec<String>) -> Result<()> {
        self.room_for_ombud(room, by).await?;
        for c in &items {
            if !self.office.categories.contains(c) {
                return Err(Error::invalid(format!(
                    "`{c}` is not one of the office's categories"
                )));
            }
        }
        let mut wanted = items;
        wanted.sort();
        wanted.dedup();
        let mut before = Vec::new();
        let mut month = String::new();
        self.mutate(room, |doc, _| {
            before = doc.categories.clone();
            month = format!("{:04}-{:02}", doc.created_at.year(), doc.created_at.month());
            doc.categories = wanted.clone();
            Ok(())
        })
        .await?;
        for c in wanted.iter().filter(|c| !before.contains(c)) {
            self.store.incr_counter(&format!("{month}|{c}"), 1).await?;
        }
        for c in before.iter().filter(|c| !wanted.contains(c)) {
            self.store.incr_counter(&format!("{month}|{c}"), -1).await?;
        }
        Ok(())
    }

    pub async fn set_terms(&self, room: RoomId, by: Uuid, items: Vec<String>) -> Result<()> {
        self.room_for_ombud(room, by).await?;
        if items.len() > 200
            || items
                .iter()
                .any(|t| t.trim().is_empty() || t.chars().count() > 200)
        {
            return Err(Error::invalid(
                "terms must be 1 to 200 characters, at most 200 of them",
            ));
        }
        self.mutate(room, |doc, _| {
            doc.sensitive_terms = items.clone();
            Ok(())
        })
        .await?;
        Ok(())
    }

    pub async fn delete_room(&self, room: RoomId, by: Uuid) -> Result<()> {
        self.room_for_ombud(room, by).await?;
        self.store.delete_room(room).await?;
        self.docs.forget(room);
        Ok(())
    }

    /// A page of a participant's inbox as JSON events for replay. A message
    /// retracted since it was stored is replayed with an empty body: words
    /// their author withdrew are never sent again.
    pub async fn replay(
        &self,
        room: RoomId,
        participant: ParticipantId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(u64, String)>> {
        let mut events = self.open_page(room, participant, after, limit).await?;
        let keys: Vec<String> = events
            .iter()
            .filter_map(|(_, e)| match e {
                Event::Message(m) => Some(crate::room::message_key(m.id)),
                _ => None,
            })
            .collect();
        if !keys.is_empty() {
            let mut view = View::default();
            self.fill(room, &mut view, keys).await?;
            for (_, e) in events.iter_mut() {
                if let Event::Message(m) = e {
                    let key = crate::room::message_key(m.id);
                    if let Some(Some(Obj::Message(rec))) = view.objs.get(&key) {
                        if rec.retracted {
                            m.body.clear();
                        }
                    }
                }
            }
        }
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

    /// Inbox events with `seq > after`, opened.
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
        Ok(events)
    }

    /// Monthly counts per category; counts under the threshold are suppressed.
    pub async fn trends(
        &self,
        from: &str,
        to: &str,
        threshold: u32,
    ) -> Result<protocol::rest::TrendsReport> {
        let months = month_range(from, to)?;
        let counts: HashMap<String, i64> = self.store.counters().await?.into_iter().collect();
        let mut rows = Vec::new();
        for m in &months {
            for c in &self.office.categories {
                let n = counts.get(&format!("{m}|{c}")).copied().unwrap_or(0).max(0) as u32;
                let suppressed = n < threshold;
                rows.push(protocol::rest::TrendRow {
                    month: m.clone(),
                    category: c.clone(),
                    count: (!suppressed).then_some(n),
                    suppressed,
                });
            }
        }
        Ok(protocol::rest::TrendsReport {
            from: from.into(),
            to: to.into(),
            threshold,
            rows,
        })
    }

    /// Publishes ephemeral signals (typing, presence, closing a participant's connections).
    pub async fn publish(&self, room: RoomId, signals: Vec<Signal>) {
        for s in signals {
            let payload = crate::hub::encode_signal(&s);
            if let Err(e) = self.store.signal(room, payload).await {
                tracing::debug!(%room, error = %e, "signal not published");
            }
        }
    }
}

fn too_busy() -> Error {
    Error::conflict("the room is too busy right now; please retry")
}

/// Store key of an invite: a hash, so the code itself is never stored.
fn invite_key(code: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(code.as_bytes()))
}

fn parse_month(s: &str) -> Option<(i32, u32)> {
    let (y, m) = s.split_once('-')?;
    let (y, m) = (y.parse().ok()?, m.parse().ok()?);
    (s.len() == 7 && (1..=12).contains(&m) && (2000..=2999).contains(&y)).then_some((y, m))
}

fn month_range(from: &str, to: &str) -> Result<Vec<String>> {
    let bad = || {
        Error::invalid("`from` and `to` must be months as YYYY-MM, from <= to, at most 120 months")
    };
    let (mut y, mut m) = parse_month(from).ok_or_else(bad)?;
    let end = parse_month(to).ok_or_else(bad)?;
    let mut out = Vec::new();
    while (y, m) <= end {
        out.push(format!("{y:04}-{m:02}"));
        if out.len() > 120 {
            return Err(bad());
        }
        (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    }
    if out.is_empty() {
        return Err(bad());
    }
    Ok(out)
}
