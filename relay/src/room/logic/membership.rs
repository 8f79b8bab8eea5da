//! Who is in the room and what its settings are: joint sessions, leaving,
//! the notice, and the changes ombuds make over REST (creating a room,
//! inviting, joining, co-ombuds, categories, sensitive terms).

use protocol::acks::*;
use protocol::events::Event;
use protocol::{CloseCode, ParticipantId, Role};
use uuid::Uuid;

use super::*;

pub(super) fn joint(ctx: &Ctx, open: bool) -> Result<Outcome, Flow> {
    require_ombud(ctx)?;
    let mut out = Outcome {
        result: AckResult::Joint(JointAck { open }),
        ..Outcome::default()
    };
    if ctx.doc.joint_open != open {
        let mut doc = ctx.doc.clone();
        doc.joint_open = open;
        let event = if open {
            Event::JointOpened { by: ctx.actor.id }
        } else {
            Event::JointClosed { by: ctx.actor.id }
        };
        out.send(everyone(ctx.doc), event);
        out.doc = Some(doc);
    }
    Ok(out)
}

pub(super) fn leave(ctx: &Ctx) -> Result<Outcome, Flow> {
    require_party(ctx)?;
    let mut doc = ctx.doc.clone();
    if let Some(p) = doc.party_mut(ctx.actor.id) {
        p.left = true;
    }
    let mut out = Outcome {
        result: AckResult::Left(LeftAck { left: true }),
        ..Outcome::default()
    };
    out.send(
        ombuds(ctx.doc),
        Event::ParticipantLeft {
            participant_id: ctx.actor.id,
        },
    );
    out.signals.push(Signal::Close {
        participant: ctx.actor.id,
        code: CloseCode::Normal,
    });
    out.doc = Some(doc);
    Ok(out)
}

pub(super) fn acknowledge_notice(ctx: &Ctx) -> Result<Outcome, Flow> {
    require_party(ctx)?;
    let mut doc = ctx.doc.clone();
    let mut out = Outcome::default();
    if let Some(p) = doc
        .party_mut(ctx.actor.id)
        .filter(|p| !p.notice_acknowledged)
    {
        p.notice_acknowledged = true;
        out.send(
            ombuds(ctx.doc),
            Event::NoticeAcknowledged {
                participant_id: ctx.actor.id,
            },
        );
        out.doc = Some(doc);
    }
    Ok(out)
}

// ---- changes ombuds make over REST ----

/// The room `by` may change over REST, or "no such room": to an ombud
/// outside it, a room does not exist.
pub(super) fn as_ombud(doc: &RoomDoc, by: ParticipantId) -> Result<RoomDoc, RoomError> {
    if !doc.is_ombud(by) {
        return Err(RoomError::not_found("no such room"));
    }
    Ok(doc.clone())
}

/// A new room with `ombud` as its first ombud.
pub fn create_room(
    req: &protocol::rest::CreateRoom,
    ombud: Member,
    id: Uuid,
    now: Now,
    default_retention_hours: u32,
) -> Result<RoomDoc, RoomError> {
    let title = req.title.trim();
    if title.is_empty() || title.chars().count() > 200 {
        return Err(RoomError::invalid("`title` must be 1 to 200 characters"));
    }
    let retention_hours = req.retention_hours.unwrap_or(default_retention_hours);
    if retention_hours == 0 || retention_hours > 24 * 365 {
        return Err(RoomError::invalid("`retention_hours` must be 1 to 8760"));
    }
    Ok(RoomDoc {
        id,
        title: title.to_string(),
        consent_required: req.consent_required,
        attribution: req.attribution,
        retention_hours,
        created_at: now,
        expire_at_ms: now.timestamp_millis() + i64::from(retention_hours) * 3_600_000,
        ombuds: vec![ombud],
        parties: Vec::new(),
        joint_open: false,
        categories: Vec::new(),
        category_months: Default::default(),
        sensitive_terms: Vec::new(),
        usage: Default::default(),
        intake: None,
    })
}

/// The ombud `by` invites a party; it is in the room once it joins.
pub fn add_party(
    doc: &RoomDoc,
    by: ParticipantId,
    display_name: &str,
    party_id: ParticipantId,
) -> Result<Outcome, Flow> {
    let name = display_name.trim();
    if name.is_empty() || name.chars().count() > 80 {
        return Err(RoomError::invalid("`display_name` must be 1 to 80 characters").into());
    }
    let mut doc = as_ombud(doc, by)?;
    super::intake::may_invite(&doc)?;
    doc.parties.push(PartyRec {
        id: party_id,
        display_name: name.to_string(),
        joined: false,
        left: false,
        notice_acknowledged: false,
        link_gen: 0,
        link_used: false,
        last_online_at: None,
    });
    Ok(Outcome {
        doc: Some(doc),
        ..Outcome::default()
    })
}

/// A party spent its invite of generation `link_gen`: it is in the room
/// (again, with its identity and thread, when the link was a new one), and
/// the ombuds are told. A link older than the party's newest is refused,
/// decided here at the room's version, so a join and a new link for the
/// same party can never both win.
pub fn join(doc: &RoomDoc, party_id: ParticipantId, link_gen: u64) -> Result<Outcome, Flow> {
    let mut doc = doc.clone();
    let p = doc
        .party_mut(party_id)
        .ok_or_else(|| RoomError::not_found("unknown invite code"))?;
    if p.link_gen != link_gen {
        return Err(RoomError::Replaced.into());
    }
    if p.left {
        return Err(RoomError::forbidden("you have left this room").into());
    }
    p.joined = true;
    p.link_used = true;
    let participant = protocol::ParticipantInfo {
        id: p.id,
        role: Role::Party,
        display_name: p.display_name.clone(),
    };
    let mut out = Outcome::default();
    out.send(ombuds(&doc), Event::ParticipantJoined { participant });
    out.doc = Some(doc);
    Ok(out)
}

/// The ombud `by` gives party `party_id` a new link, of token generation
/// `link_gen` (already raised in the store, which voids the party's earlier
/// tokens): earlier links can no longer join, and the party's open
/// connections close with 4010. The party keeps its id, so with the new
/// link it finds its whole thread. A party that left is out for good.
pub fn new_link(
    doc: &RoomDoc,
    by: ParticipantId,
    party_id: ParticipantId,
    link_gen: u64,
) -> Result<Outcome, Flow> {
    let mut doc = as_ombud(doc, by)?;
    let p = doc
        .party_mut(party_id)
        .ok_or_else(|| RoomError::not_found("no such party in this room"))?;
    if p.left {
        return Err(RoomError::conflict("this party has left the room for good").into());
    }
    // Generations only grow; a slower request carrying an older one must
    // not bring back a link a newer request replaced.
    p.link_gen = p.link_gen.max(link_gen);
    p.link_used = false;
    let mut out = Outcome::default();
    out.signals.push(Signal::Close {
        participant: party_id,
        code: CloseCode::Replaced,
    });
    out.doc = Some(doc);
    Ok(out)
}

/// How stale `last_online_at` may be before a connection updates it: each
/// update is a commit of the room, and a reconnecting client should not
/// turn into a stream of them.
const SEEN_EVERY_SECS: i64 = 60;

/// Party `party_id` is, or just was, connected: remember when, to within
/// [`SEEN_EVERY_SECS`].
pub fn seen(doc: &RoomDoc, party_id: ParticipantId, now: Now) -> Result<Outcome, Flow> {
    let mut doc = doc.clone();
    let mut out = Outcome::default();
    if let Some(p) = doc.party_mut(party_id).filter(|p| {
        p.last_online_at
            .is_none_or(|t| (now - t).num_seconds() >= SEEN_EVERY_SECS)
    }) {
        p.last_online_at = Some(now);
        out.doc = Some(doc);
    }
    Ok(out)
}

/// The ombud `by` adds a colleague, who sees every thread from the start:
/// its inbox begins with a copy of `by`'s, read at the same room version as
/// the commit, so nothing falls between the two. Everyone in the room is
/// told a new ombud can see their thread.
pub fn add_ombud(
    doc: &RoomDoc,
    view: &View,
    by: ParticipantId,
    colleague: Member,
) -> Result<Outcome, Flow> {
    let mut doc = as_ombud(doc, by)?;
    let mut out = Outcome::default();
    if doc.is_ombud(colleague.id) {
        return Ok(out);
    }
    copy_inbox(view, by, colleague.id, &mut out)?;
    doc.ombuds.push(colleague.clone());
    ombud_joined(&doc, &colleague, &mut out);
    out.doc = Some(doc);
    Ok(out)
}

/// `to` receives a copy of `from`'s inbox as read in `view` (at the room
/// version the commit is made at, so nothing falls between the two), without
/// the `client_id`s, which belong to `from`'s own retries.
pub(super) fn copy_inbox(
    view: &View,
    from: ParticipantId,
    to: ParticipantId,
    out: &mut Outcome,
) -> Result<(), Flow> {
    for event in view.inbox(from)? {
        let event = match event {
            Event::Message(m) => Event::Message(protocol::events::Message {
                client_id: None,
                ..m.clone()
            }),
            other => other.clone(),
        };
        out.deliveries.push((to, event));
    }
    Ok(())
}

/// Everyone in the room is told a new ombud can see their thread.
pub(super) fn ombud_joined(doc: &RoomDoc, who: &Member, out: &mut Outcome) {
    let participant = protocol::ParticipantInfo {
        id: who.id,
        role: Role::Ombud,
        display_name: who.display_name.clone(),
    };
    out.send(everyone(doc), Event::ParticipantJoined { participant });
}

/// Tags the room with trend categories; the counters move with the tags.
///
/// A tag counts in the month it is applied (`now`, UTC), and taking it off
/// (or deleting the room, [`untag_all`]) takes it back out only while that
/// month is still open. So a month's counts are final once it ends: tagging
/// or untagging rooms later, including rooms created in that month, never
/// changes a number a report has already shown (reports show only ended
/// months), and comparing reports taken at different times reveals nothing.
pub fn set_categories(
    doc: &RoomDoc,
    by: ParticipantId,
    items: &[String],
    office: &crate::config::Office,
    now: Now,
) -> Result<Outcome, Flow> {
    let mut doc = as_ombud(doc, by)?;
    if let Some(c) = items.iter().find(|c| !office.categories.contains(c)) {
        return Err(
            RoomError::invalid(format!("`{c}` is not one of the office's categories")).into(),
        );
    }
    let mut wanted = items.to_vec();
    wanted.sort();
    wanted.dedup();
    let month = now.format("%Y-%m").to_string();
    let mut out = Outcome::default();
    for c in doc.categories.iter().filter(|c| !wanted.contains(c)) {
        out.trend_deltas.extend(untag(&doc, c, &month));
    }
    for c in wanted.iter().filter(|c| !doc.categories.contains(c)) {
        out.trend_deltas.push((format!("{month}|{c}"), 1));
        doc.category_months.insert(c.clone(), month.clone());
    }
    doc.category_months.retain(|c, _| wanted.contains(c));
    doc.categories = wanted;
    out.doc = Some(doc);
    Ok(out)
}

/// The counter moves that take every tag of a room being deleted back out
/// of the open month, as untagging would: a room tagged and deleted within
/// a month leaves no count behind, so tag-then-delete cannot inflate one.
pub fn untag_all(doc: &RoomDoc, now: Now) -> Vec<(String, i64)> {
    let month = now.format("%Y-%m").to_string();
    doc.categories
        .iter()
        .filter_map(|c| untag(doc, c, &month))
        .collect()
}

/// Taking `category` off: a decrement if it was counted in the open month
/// `month`, nothing if its month has ended (that count is final).
fn untag(doc: &RoomDoc, category: &str, month: &str) -> Option<(String, i64)> {
    (doc.category_month(category) == month).then(|| (format!("{month}|{category}"), -1))
}

/// The room's sensitive terms, which redaction suggestions look for.
pub fn set_terms(doc: &RoomDoc, by: ParticipantId, items: &[String]) -> Result<Outcome, Flow> {
    let mut doc = as_ombud(doc, by)?;
    if items.len() > 200
        || items
            .iter()
            .any(|t| t.trim().is_empty() || t.chars().count() > 200)
    {
        return Err(
            RoomError::invalid("terms must be 1 to 200 characters, at most 200 of them").into(),
        );
    }
    doc.sensitive_terms = items.to_vec();
    Ok(Outcome {
        doc: Some(doc),
        ..Outcome::default()
    })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::config::Office;

    fn at(month: u32) -> Now {
        chrono::Utc
            .with_ymd_and_hms(2026, month, 15, 12, 0, 0)
            .unwrap()
    }

    fn room_created_in_march() -> (RoomDoc, ParticipantId) {
        let me = Member {
            id: Uuid::new_v4(),
            display_name: "O".into(),
        };
        let by = me.id;
        let req = serde_json::from_value(serde_json::json!({"title": "t"})).unwrap();
        (
            create_room(&req, me, Uuid::new_v4(), at(3), 24 * 365).unwrap(),
            by,
        )
    }

    fn tag(
        doc: &RoomDoc,
        by: ParticipantId,
        items: &[&str],
        now: Now,
    ) -> (RoomDoc, Vec<(String, i64)>) {
        let office = Office::default();
        let items: Vec<String> = items.iter().map(|c| c.to_string()).collect();
        let out = set_categories(doc, by, &items, &office, now).unwrap();
        (out.doc.unwrap(), out.trend_deltas)
    }

    fn refusal(out: Result<Outcome, Flow>) -> RoomError {
        match out {
            Err(Flow::Fail(e)) => e,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_new_link_replaces_every_earlier_one_and_closes_the_partys_connections() {
        let (doc, by) = room_created_in_march();
        let pat = Uuid::new_v4();
        let doc = add_party(&doc, by, "Pat", pat).unwrap().doc.unwrap();
        assert_eq!(doc.party(pat).unwrap().link(), protocol::LinkStatus::Unused);
        let doc = join(&doc, pat, 0).unwrap().doc.unwrap();
        assert_eq!(doc.party(pat).unwrap().link(), protocol::LinkStatus::Used);

        let out = new_link(&doc, by, pat, 1).unwrap();
        assert_eq!(
            out.signals,
            vec![Signal::Close {
                participant: pat,
                code: CloseCode::Replaced
            }]
        );
        let doc = out.doc.unwrap();
        assert_eq!(
            doc.party(pat).unwrap().link(),
            protocol::LinkStatus::Replaced
        );
        assert_eq!(
            refusal(join(&doc, pat, 0)),
            RoomError::Replaced,
            "the first link"
        );
        // A slower request with an older generation cannot bring one back.
        let doc = new_link(&doc, by, pat, 3).unwrap().doc.unwrap();
        let doc = new_link(&doc, by, pat, 2).unwrap().doc.unwrap();
        assert_eq!(refusal(join(&doc, pat, 2)), RoomError::Replaced);
        let back = join(&doc, pat, 3).unwrap();
        assert_eq!(back.deliveries.len(), 1, "the ombud is told it joined");
        let doc = back.doc.unwrap();
        let p = doc.party(pat).unwrap();
        assert_eq!((p.link(), p.joined), (protocol::LinkStatus::Used, true));
    }

    #[test]
    fn only_an_ombud_of_the_room_gives_a_new_link_and_never_to_a_party_that_left() {
        let (doc, by) = room_created_in_march();
        let pat = Uuid::new_v4();
        let mut doc = add_party(&doc, by, "Pat", pat).unwrap().doc.unwrap();
        for stranger in [Uuid::new_v4(), pat] {
            assert!(matches!(
                refusal(new_link(&doc, stranger, pat, 1)),
                RoomError::NotFound(_)
            ));
        }
        assert!(matches!(
            refusal(new_link(&doc, by, Uuid::new_v4(), 1)),
            RoomError::NotFound(_)
        ));
        doc.party_mut(pat).unwrap().left = true;
        assert!(matches!(
            refusal(new_link(&doc, by, pat, 1)),
            RoomError::Conflict(_)
        ));
    }

    #[test]
    fn last_online_moves_at_most_once_a_minute() {
        let (doc, by) = room_created_in_march();
        let pat = Uuid::new_v4();
        let doc = add_party(&doc, by, "Pat", pat).unwrap().doc.unwrap();
        let t0 = at(4);
        let doc = seen(&doc, pat, t0).unwrap().doc.unwrap();
        assert_eq!(doc.party(pat).unwrap().last_online_at, Some(t0));
        let soon = t0 + chrono::Duration::seconds(30);
        assert!(seen(&doc, pat, soon).unwrap().writes_nothing());
        let later = t0 + chrono::Duration::seconds(61);
        let doc = seen(&doc, pat, later).unwrap().doc.unwrap();
        assert_eq!(doc.party(pat).unwrap().last_online_at, Some(later));
        assert!(
            seen(&doc, by, later).unwrap().writes_nothing(),
            "parties only"
        );
    }

    #[test]
    fn tags_count_in_the_month_they_are_applied_and_ended_months_stay_final() {
        let c = Office::default().categories[0].clone();
        let (doc, by) = room_created_in_march();
        // Tagged in May: counted in May, not in the month the room was made.
        let (doc, deltas) = tag(&doc, by, &[&c], at(5));
        assert_eq!(deltas, vec![(format!("2026-05|{c}"), 1)]);
        // Untagged while May is open: taken back out of May.
        let (untagged, deltas) = tag(&doc, by, &[], at(5));
        assert_eq!(deltas, vec![(format!("2026-05|{c}"), -1)]);
        assert!(untagged.category_months.is_empty());
        // Untagged or deleted in June: May has ended and its count is final.
        let (_, deltas) = tag(&doc, by, &[], at(6));
        assert!(deltas.is_empty(), "{deltas:?}");
        assert!(untag_all(&doc, at(6)).is_empty());
        // Deleted while May is open: as if untagged.
        assert_eq!(untag_all(&doc, at(5)), vec![(format!("2026-05|{c}"), -1)]);
        // Setting the same tags again moves nothing.
        let (_, deltas) = tag(&doc, by, &[&c], at(6));
        assert!(deltas.is_empty(), "{deltas:?}");
    }
}
