//! Conversations that begin at the office's front door. A conversation is a
//! room whose one party is the visitor. Until an ombud claims it, the room
//! has no ombud, so `audience` keeps the visitor's words with the visitor;
//! claiming adds the ombud (with a copy of the visitor's thread so far),
//! handing off swaps it for a colleague, and converting lets the ombud
//! invite more parties.

use protocol::events::Event;
use protocol::intake::{IntakeKind, QueueEntry};
use protocol::{Attribution, CloseCode, ParticipantId, Role};
use uuid::Uuid;

use super::membership::{as_ombud, copy_inbox, ombud_joined};
use super::*;

/// What the service knows when a visitor starts a conversation.
pub struct NewConversation<'a> {
    pub id: Uuid,
    pub visitor: ParticipantId,
    pub label: &'a str,
    pub now: Now,
    pub retention_hours: u32,
    pub unclaimed_ms: i64,
}

/// A new conversation: the visitor is in (it has acknowledged the notice
/// on the contact page), no ombud is. Forwards from it never name the
/// visitor (`Attribution::Anonymous`), so surfacing a concern to a
/// stakeholder cannot identify who raised it.
pub fn create_conversation(n: NewConversation) -> Result<RoomDoc, RoomError> {
    let label = n.label.trim();
    if label.is_empty() || label.chars().count() > 80 {
        return Err(RoomError::invalid("the name must be 1 to 80 characters"));
    }
    let created = n.now.timestamp_millis();
    Ok(RoomDoc {
        id: n.id,
        title: format!("Conversation with {label}"),
        consent_required: true,
        attribution: Attribution::Anonymous,
        retention_hours: n.retention_hours,
        created_at: n.now,
        expire_at_ms: created + i64::from(n.retention_hours) * 3_600_000,
        ombuds: Vec::new(),
        parties: vec![PartyRec {
            id: n.visitor,
            display_name: label.to_string(),
            joined: true,
            left: false,
            notice_acknowledged: true,
            link_gen: 0,
            link_used: true,
            last_online_at: None,
        }],
        joint_open: false,
        categories: Vec::new(),
        category_months: Default::default(),
        sensitive_terms: Vec::new(),
        usage: Default::default(),
        intake: Some(IntakeRec {
            kind: IntakeKind::Consultation,
            claimed_by: None,
            unread: 0,
            unclaimed_until_ms: created + n.unclaimed_ms,
        }),
    })
}

/// Is this a conversation nobody has claimed?
pub fn unclaimed(doc: &RoomDoc) -> bool {
    doc.intake.as_ref().is_some_and(|i| i.claimed_by.is_none())
}

/// An unclaimed conversation past its time: to be erased like an expired room.
pub fn expired_unclaimed(doc: &RoomDoc, now: Now) -> bool {
    doc.intake
        .as_ref()
        .is_some_and(|i| i.claimed_by.is_none() && i.unclaimed_until_ms <= now.timestamp_millis())
}

/// The queue's view of an unclaimed conversation: the label and times, never its words.
pub fn queue_entry(doc: &RoomDoc, now: Now) -> Option<QueueEntry> {
    let i = doc.intake.as_ref().filter(|i| i.claimed_by.is_none())?;
    let visitor = doc.parties.first()?;
    Some(QueueEntry {
        room_id: doc.id,
        label: visitor.display_name.clone(),
        created_at: doc.created_at,
        waiting_secs: (now - doc.created_at).num_seconds().max(0) as u64,
        unread: i.unread,
        expires_at: chrono::DateTime::from_timestamp_millis(i.unclaimed_until_ms)
            .unwrap_or(doc.created_at),
    })
}

/// A message from the visitor while nobody has claimed the conversation
/// raises the queue's unread count.
pub(super) fn count_unread(ctx: &Ctx, out: &mut Outcome) {
    let base = out.doc.as_ref().unwrap_or(ctx.doc);
    if ctx.actor.role != Role::Party || out.deliveries.is_empty() || !unclaimed(base) {
        return;
    }
    let mut doc = base.clone();
    if let Some(i) = doc.intake.as_mut() {
        i.unread += 1;
    }
    out.doc = Some(doc);
}

/// A consultation stays one to one: converting it comes before inviting.
pub(super) fn may_invite(doc: &RoomDoc) -> Result<(), RoomError> {
    match &doc.intake {
        Some(i) if i.kind == IntakeKind::Consultation => Err(RoomError::conflict(
            "convert this conversation to a mediation before inviting anyone",
        )),
        _ => Ok(()),
    }
}

/// An ombud claims an unclaimed conversation: it becomes the room's ombud
/// and receives the visitor's thread so far, read at the same room version
/// as the commit. A second claim, by anyone, is a `conflict`.
pub fn claim(doc: &RoomDoc, view: &View, ombud: Member, now: Now) -> Result<Outcome, Flow> {
    let Some(intake) = &doc.intake else {
        return Err(RoomError::not_found("no such conversation").into());
    };
    if intake.claimed_by.is_some() {
        return Err(
            RoomError::conflict("another ombud has already claimed this conversation").into(),
        );
    }
    if expired_unclaimed(doc, now) {
        return Err(RoomError::RoomClosed.into());
    }
    let visitor = doc
        .parties
        .first()
        .ok_or_else(|| RoomError::not_found("no such conversation"))?
        .id;
    let mut out = Outcome::default();
    copy_inbox(view, visitor, ombud.id, &mut out)?;
    let mut doc = doc.clone();
    if let Some(i) = doc.intake.as_mut() {
        i.claimed_by = Some(ombud.id);
    }
    doc.ombuds.push(ombud.clone());
    ombud_joined(&doc, &ombud, &mut out);
    out.doc = Some(doc);
    Ok(out)
}

/// The ombud `by` hands the room to `colleague`, who receives `by`'s view of
/// every thread so far; `by` leaves, and its connections close with 4003.
pub fn handoff(
    doc: &RoomDoc,
    view: &View,
    by: ParticipantId,
    colleague: Member,
) -> Result<Outcome, Flow> {
    let mut doc = as_ombud(doc, by)?;
    if colleague.id == by {
        return Err(RoomError::invalid("hand the room to someone else").into());
    }
    let mut out = Outcome::default();
    if !doc.is_ombud(colleague.id) {
        copy_inbox(view, by, colleague.id, &mut out)?;
        doc.ombuds.push(colleague.clone());
        ombud_joined(&doc, &colleague, &mut out);
    }
    doc.ombuds.retain(|o| o.id != by);
    if let Some(i) = doc.intake.as_mut() {
        i.claimed_by = Some(colleague.id);
    }
    out.send(
        everyone(&doc),
        Event::ParticipantLeft { participant_id: by },
    );
    out.signals.push(Signal::Close {
        participant: by,
        code: CloseCode::Forbidden,
    });
    out.doc = Some(doc);
    Ok(out)
}

/// A consultation becomes a mediation room: nothing is re-sent, the
/// visitor's thread is its private thread, and parties may be invited.
pub fn convert(doc: &RoomDoc, by: ParticipantId, title: Option<&str>) -> Result<Outcome, Flow> {
    let mut doc = as_ombud(doc, by)?;
    let Some(intake) = doc.intake.as_mut() else {
        return Err(RoomError::conflict("this room did not begin as a conversation").into());
    };
    intake.kind = IntakeKind::Mediation;
    if let Some(t) = title.map(str::trim) {
        if t.is_empty() || t.chars().count() > 200 {
            return Err(RoomError::invalid("`title` must be 1 to 200 characters").into());
        }
        doc.title = t.to_string();
    }
    Ok(Outcome {
        doc: Some(doc),
        ..Outcome::default()
    })
}

/// A start request that could be accepted, checked before its proof of
/// work is spent: the notice acknowledged, a usable name, a first message.
pub fn check_start(req: &protocol::intake::StartConversation) -> Result<(), RoomError> {
    if !req.notice_acknowledged {
        return Err(RoomError::invalid(
            "read and acknowledge the office notice first (`notice_acknowledged: true`)",
        ));
    }
    if let protocol::intake::VisitorLabel::Name { name } = &req.label {
        if name.trim().is_empty() || name.trim().chars().count() > 80 {
            return Err(RoomError::invalid("the name must be 1 to 80 characters"));
        }
    }
    super::check_body(&req.body)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::config::Office;

    fn now() -> Now {
        chrono::Utc.with_ymd_and_hms(2026, 5, 15, 12, 0, 0).unwrap()
    }

    fn conversation() -> (RoomDoc, ParticipantId) {
        let visitor = Uuid::new_v4();
        let doc = create_conversation(NewConversation {
            id: Uuid::new_v4(),
            visitor,
            label: "Visitor 1234",
            now: now(),
            retention_hours: 24,
            unclaimed_ms: 3_600_000,
        })
        .unwrap();
        (doc, visitor)
    }

    fn ombud(name: &str) -> Member {
        Member {
            id: Uuid::new_v4(),
            display_name: name.into(),
        }
    }

    fn view_with(inbox_of: ParticipantId, events: Vec<Event>) -> View {
        let mut view = View::default();
        view.inboxes.insert(inbox_of, events);
        view
    }

    #[test]
    fn a_claim_copies_the_visitors_thread_to_the_claimer_alone_and_only_once() {
        let (doc, visitor) = conversation();
        assert!(ombuds(&doc).is_empty(), "unclaimed: nobody but the visitor");
        assert_eq!(audience(&doc, Channel::Private(visitor)), vec![visitor]);
        let a = ombud("A");
        let seen = view_with(visitor, vec![Event::JointOpened { by: visitor }]);
        let out = claim(&doc, &seen, a.clone(), now()).unwrap();
        let copied: Vec<_> = out.deliveries.iter().filter(|(p, _)| *p == a.id).collect();
        assert_eq!(
            copied.len(),
            2,
            "the thread so far, then participant_joined"
        );
        assert!(out
            .deliveries
            .iter()
            .all(|(p, _)| *p == a.id || *p == visitor));
        let doc = out.doc.unwrap();
        assert_eq!(
            audience(&doc, Channel::Private(visitor)),
            vec![visitor, a.id]
        );
        let again = claim(&doc, &seen, ombud("B"), now());
        assert!(matches!(again, Err(Flow::Fail(RoomError::Conflict(_)))));
    }

    #[test]
    fn an_unclaimed_conversation_expires_and_cannot_be_claimed_then() {
        let (doc, visitor) = conversation();
        let late = now() + chrono::Duration::hours(2);
        assert!(expired_unclaimed(&doc, late) && !expired_unclaimed(&doc, now()));
        let seen = view_with(visitor, vec![]);
        assert!(matches!(
            claim(&doc, &seen, ombud("A"), late),
            Err(Flow::Fail(RoomError::RoomClosed))
        ));
        let claimed = claim(&doc, &seen, ombud("A"), now()).unwrap().doc.unwrap();
        assert!(
            !expired_unclaimed(&claimed, late),
            "claimed: normal retention"
        );
        assert!(queue_entry(&claimed, now()).is_none());
    }

    #[test]
    fn a_handoff_swaps_the_ombud_and_closes_the_previous_ones_connections() {
        let (doc, visitor) = conversation();
        let (a, b) = (ombud("A"), ombud("B"));
        let doc = claim(&doc, &view_with(visitor, vec![]), a.clone(), now())
            .unwrap()
            .doc
            .unwrap();
        let out = handoff(&doc, &view_with(a.id, vec![]), a.id, b.clone()).unwrap();
        assert_eq!(
            out.signals,
            vec![Signal::Close {
                participant: a.id,
                code: CloseCode::Forbidden
            }]
        );
        let doc = out.doc.unwrap();
        assert_eq!(ombuds(&doc), vec![b.id]);
        assert_eq!(doc.intake.as_ref().unwrap().claimed_by, Some(b.id));
        assert!(
            handoff(&doc, &View::default(), a.id, b).is_err(),
            "A is out"
        );
    }

    #[test]
    fn a_consultation_takes_no_parties_until_converted_and_counts_in_trends_like_a_room() {
        let (doc, visitor) = conversation();
        let a = ombud("A");
        let doc = claim(&doc, &view_with(visitor, vec![]), a.clone(), now())
            .unwrap()
            .doc
            .unwrap();
        let invite = super::super::add_party(&doc, a.id, "Head", Uuid::new_v4());
        assert!(matches!(invite, Err(Flow::Fail(RoomError::Conflict(_)))));
        let doc = convert(&doc, a.id, Some("Team climate"))
            .unwrap()
            .doc
            .unwrap();
        assert_eq!(doc.title, "Team climate");
        assert!(super::super::add_party(&doc, a.id, "Head", Uuid::new_v4()).is_ok());
        let office = Office::default();
        let category = office.categories[0].clone();
        let tagged = super::super::set_categories(
            &doc,
            a.id,
            std::slice::from_ref(&category),
            &office,
            now(),
        )
        .unwrap();
        assert_eq!(
            tagged.trend_deltas,
            vec![(format!("2026-05|{category}"), 1)]
        );
    }
}
