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
fn as_ombud(doc: &RoomDoc, by: ParticipantId) -> Result<RoomDoc, RoomError> {
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
    doc.parties.push(PartyRec {
        id: party_id,
        display_name: name.to_string(),
        joined: false,
        left: false,
        notice_acknowledged: false,
    });
    Ok(Outcome {
        doc: Some(doc),
        ..Outcome::default()
    })
}

/// A party spent its invite: it is in the room, and the ombuds are told.
pub fn join(doc: &RoomDoc, party_id: ParticipantId) -> Result<Outcome, Flow> {
    let mut doc = doc.clone();
    let p = doc
        .party_mut(party_id)
        .ok_or_else(|| RoomError::not_found("unknown invite code"))?;
    p.joined = true;
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
    for event in view.inbox(by)? {
        let event = match event {
            Event::Message(m) => Event::Message(protocol::events::Message {
                client_id: None,
                ..m.clone()
            }),
            other => other.clone(),
        };
        out.deliveries.push((colleague.id, event));
    }
    let participant = protocol::ParticipantInfo {
        id: colleague.id,
        role: Role::Ombud,
        display_name: colleague.display_name.clone(),
    };
    doc.ombuds.push(colleague);
    out.send(everyone(&doc), Event::ParticipantJoined { participant });
    out.doc = Some(doc);
    Ok(out)
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
