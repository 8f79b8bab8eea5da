//! Relaying: a forward of a party's message, its consent revisions, its
//! delivery as copies in the recipients' threads, and its withdrawal.

use protocol::acks::*;
use protocol::events::{Event, ForwardState, RelayedFrom};
use protocol::{Attribution, Channel, Decision, ParticipantId, Role};
use uuid::Uuid;

use super::*;

pub(super) fn forward(
    ctx: &Ctx,
    view: &View,
    source_id: Uuid,
    to: &[ParticipantId],
    body: &str,
    new_id: NewId,
) -> Result<Outcome, Flow> {
    require_ombud(ctx)?;
    check_body(body)?;
    let source = visible(ctx, view.message(source_id)?)?;
    if source.author_role != Role::Party || source.relayed_from.is_some() {
        // Consent belongs to the words' author: relaying a relayed copy or an
        // ombud's own message would skip it. Ombuds write directly instead.
        return Err(RoomError::invalid(
            "only a party's own message can be relayed; to pass on your own words, send them",
        )
        .into());
    }
    if !source.shareable {
        return Err(RoomError::forbidden("the author marked this message \"do not share\"").into());
    }
    let mut recipients: Vec<ParticipantId> = Vec::new();
    for p in to {
        match ctx.doc.party(*p) {
            None => {
                return Err(RoomError::not_found(
                    "`to` names someone who is not a party of this room",
                )
                .into())
            }
            Some(party) if party.left => {
                return Err(RoomError::conflict("a recipient has left the room").into())
            }
            Some(_) if *p == source.author => {
                return Err(
                    RoomError::invalid("a message cannot be relayed to its own author").into(),
                )
            }
            Some(_) if !recipients.contains(p) => recipients.push(*p),
            Some(_) => {}
        }
    }
    if recipients.is_empty() {
        return Err(RoomError::invalid("`to` must name at least one party").into());
    }
    let needs_consent = ctx.doc.consent_required && source.author_role == Role::Party;
    let mut f = ForwardRec {
        id: new_id(),
        source_message_id: source.id,
        source_author: source.author,
        source_author_name: source.author_name.clone(),
        created_by: ctx.actor.id,
        to: recipients,
        revision: 1,
        body: body.to_string(),
        delivered_body: None,
        needs_consent,
        status: ForwardState::AwaitingConsent,
        delivered: Vec::new(),
    };
    let mut out = Outcome::default();
    let mut source = source.clone();
    source.forwards.push(f.id);
    out.puts
        .push((message_key(source.id), Obj::Message(source)));
    if needs_consent {
        ask_consent(ctx, &f, false, &mut out);
    } else {
        deliver(ctx, &mut f, new_id, &mut out);
    }
    finish_forward(ctx, f, &mut out);
    Ok(out)
}

/// Tell the author the exact text proposed, and the ombuds where it stands.
pub(super) fn ask_consent(ctx: &Ctx, f: &ForwardRec, is_edit: bool, out: &mut Outcome) {
    let to_names =
        f.to.iter()
            .map(|p| {
                ctx.doc
                    .party(*p)
                    .map(|p| p.display_name.clone())
                    .unwrap_or_default()
            })
            .collect();
    out.send(
        [f.source_author],
        Event::ConsentRequested {
            forward_id: f.id,
            revision: f.revision,
            source_message_id: f.source_message_id,
            to: f.to.clone(),
            to_names,
            body: f.body.clone(),
            is_edit,
        },
    );
}

/// Create the relayed copies, one in each recipient's private thread.
pub(super) fn deliver(ctx: &Ctx, f: &mut ForwardRec, new_id: NewId, out: &mut Outcome) {
    let named = ctx.doc.attribution == Attribution::Named;
    for r in f.to.clone() {
        if ctx.doc.party(r).is_none_or(|p| p.left) {
            continue;
        }
        let channel = Channel::Private(r);
        let rec = MessageRec {
            id: new_id(),
            channel,
            // The ombud who made the forward, even when the author's consent triggers delivery.
            author: f.created_by,
            author_role: Role::Ombud,
            author_name: ctx
                .doc
                .ombud(f.created_by)
                .map(|o| o.display_name.clone())
                .unwrap_or_default(),
            body: f.body.clone(),
            sent_at: ctx.now,
            client_id: None,
            shareable: true,
            relayed_from: Some(RelayedFrom {
                message_id: f.source_message_id,
                forward_id: f.id,
                party_id: named.then_some(f.source_author),
                display_name: named.then(|| f.source_author_name.clone()),
            }),
            edited_at: None,
            retracted: false,
            resource: None,
            comment_on: None,
            recipients: audience(ctx.doc, channel),
            forwards: Vec::new(),
        };
        for p in &rec.recipients {
            out.deliveries.push((*p, Event::Message(rec.view(*p))));
        }
        f.delivered.push(rec.id);
        out.puts.push((message_key(rec.id), Obj::Message(rec)));
    }
    f.delivered_body = Some(f.body.clone());
    f.status = ForwardState::Delivered;
    out.relays_delivered += 1;
}

/// Replace the text of every delivered copy (an approved or consent-free edit).
pub(super) fn edit_copies(
    ctx: &Ctx,
    view: &View,
    f: &mut ForwardRec,
    out: &mut Outcome,
) -> Result<(), Flow> {
    view.need(f.delivered.iter().map(|id| message_key(*id)))?;
    for id in &f.delivered {
        if let Some(m) = view.message(*id)?.filter(|m| !m.retracted) {
            super::messages::edit_message(ctx, m.clone(), &f.body, out);
        }
    }
    f.delivered_body = Some(f.body.clone());
    f.status = ForwardState::Delivered;
    Ok(())
}

/// Store the forward, tell the ombuds (and the author) its status, answer the request.
/// A withdrawn forward keeps none of its words: not in its record, not in
/// the status that announces the withdrawal (see `room::scrub` for the
/// events that carried them before).
pub(super) fn finish_forward(ctx: &Ctx, mut f: ForwardRec, out: &mut Outcome) {
    if f.status == ForwardState::Withdrawn {
        f.body.clear();
        f.delivered_body = None;
    }
    let mut to = ombuds(ctx.doc);
    if f.needs_consent {
        to.push(f.source_author);
    }
    out.send(
        to,
        Event::ForwardStatus {
            forward_id: f.id,
            revision: f.revision,
            status: f.status,
            source_message_id: f.source_message_id,
            to: f.to.clone(),
            body: f.body.clone(),
            delivered: f.delivered.clone(),
        },
    );
    out.result = AckResult::Forward(ForwardAck::new(
        f.id,
        f.revision,
        f.status,
        f.delivered.clone(),
    ));
    out.puts.push((forward_key(f.id), Obj::Forward(f)));
}

pub(super) fn update_forward(
    ctx: &Ctx,
    view: &View,
    mut f: ForwardRec,
    body: &str,
    new_id: NewId,
) -> Result<Outcome, Flow> {
    let source_gone = view
        .message(f.source_message_id)?
        .is_none_or(|m| m.retracted);
    if source_gone {
        return Err(RoomError::conflict("the author retracted the source message").into());
    }
    let mut out = Outcome::default();
    f.revision += 1;
    f.body = body.to_string();
    match f.status {
        ForwardState::Withdrawn => {
            return Err(RoomError::conflict("this forward was withdrawn").into())
        }
        ForwardState::AwaitingConsent | ForwardState::Declined => {
            if f.needs_consent {
                f.status = ForwardState::AwaitingConsent;
                ask_consent(ctx, &f, false, &mut out);
            } else {
                deliver(ctx, &mut f, new_id, &mut out);
            }
        }
        ForwardState::Delivered | ForwardState::EditAwaitingConsent => {
            if f.needs_consent {
                f.status = ForwardState::EditAwaitingConsent;
                ask_consent(ctx, &f, true, &mut out);
            } else {
                edit_copies(ctx, view, &mut f, &mut out)?;
            }
        }
    }
    finish_forward(ctx, f, &mut out);
    Ok(out)
}

pub(super) fn withdraw(ctx: &Ctx, view: &View, forward_id: Uuid) -> Result<Outcome, Flow> {
    require_ombud(ctx)?;
    let mut f = view
        .forward(forward_id)?
        .ok_or_else(|| RoomError::not_found("no such forward"))?
        .clone();
    let mut out = Outcome::default();
    match f.status {
        ForwardState::AwaitingConsent | ForwardState::Declined => {
            f.status = ForwardState::Withdrawn
        }
        ForwardState::EditAwaitingConsent => {
            // Withdrawing a proposed edit leaves the delivered text as it was.
            f.keep_delivered_text();
        }
        ForwardState::Delivered => {
            for id in f.delivered.clone() {
                if let Some(m) = view.message(id)?.filter(|m| !m.retracted) {
                    super::messages::retract_message(m.clone(), &mut out);
                }
            }
            f.status = ForwardState::Withdrawn;
        }
        ForwardState::Withdrawn => {
            return Err(RoomError::conflict("this forward was already withdrawn").into())
        }
    }
    finish_forward(ctx, f, &mut out);
    Ok(out)
}

pub(super) fn consent(
    ctx: &Ctx,
    view: &View,
    forward_id: Uuid,
    revision: u32,
    decision: Decision,
    note: Option<&str>,
    new_id: NewId,
) -> Result<Outcome, Flow> {
    let f = view.forward(forward_id)?;
    let mut f = match f {
        Some(f) if f.source_author == ctx.actor.id => f.clone(),
        // Not the author's forward: same answer whether or not it exists.
        _ => {
            return Err(
                RoomError::forbidden("only the author of the source message can decide").into(),
            )
        }
    };
    if !matches!(
        f.status,
        ForwardState::AwaitingConsent | ForwardState::EditAwaitingConsent
    ) {
        return Err(RoomError::conflict("nothing awaits your consent on this forward").into());
    }
    if revision != f.revision {
        return Err(RoomError::conflict(format!(
            "revision {revision} is no longer current; revision {} awaits your decision",
            f.revision
        ))
        .into());
    }
    if note.is_some_and(|n| n.chars().count() > MAX_BODY_CHARS) {
        return Err(RoomError::TooLarge("`note` is too long".into()).into());
    }
    let mut out = Outcome::default();
    match (decision, f.status) {
        (Decision::Approve, ForwardState::AwaitingConsent) => {
            deliver(ctx, &mut f, new_id, &mut out)
        }
        (Decision::Approve, _) => edit_copies(ctx, view, &mut f, &mut out)?,
        (Decision::Decline, ForwardState::AwaitingConsent) => f.status = ForwardState::Declined,
        (Decision::Decline, _) => {
            f.keep_delivered_text();
        }
    }
    let mut to = ombuds(ctx.doc);
    to.push(f.source_author);
    out.send(
        to,
        Event::ConsentDecided {
            forward_id,
            revision,
            decision,
            note: note.map(String::from),
        },
    );
    finish_forward(ctx, f, &mut out);
    Ok(out)
}
