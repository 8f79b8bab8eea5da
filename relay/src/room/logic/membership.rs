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
pub fn set_categories(
    doc: &RoomDoc,
    by: ParticipantId,
    items: &[String],
    office: &crate::config::Office,
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
    let month = doc.created_at.format("%Y-%m");
    let mut out = Outcome::default();
    for c in wanted.iter().filter(|c| !doc.categories.contains(c)) {
        out.trend_deltas.push((format!("{month}|{c}"), 1));
    }
    for c in doc.categories.iter().filter(|c| !wanted.contains(c)) {
        out.trend_deltas.push((format!("{month}|{c}"), -1));
    }
    doc.categories = wanted;
    out.doc = Some(doc);
    Ok(out)
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
