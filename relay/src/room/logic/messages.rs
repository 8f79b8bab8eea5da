//! Posting, editing and retracting messages.

use protocol::acks::*;
use protocol::events::{Event, ForwardState};
use protocol::{Channel, Role};
use uuid::Uuid;

use super::*;

#[allow(clippy::too_many_arguments)]
pub(super) fn send(
    ctx: &Ctx,
    view: &View,
    channel: Channel,
    body: &str,
    client_id: &str,
    shareable: bool,
    resource: Option<protocol::Resource>,
    comment_on: Option<protocol::onetext::CommentOn>,
    new_id: NewId,
) -> Result<Outcome, Flow> {
    if ctx.actor.role == Role::Party
        && !ctx
            .doc
            .party(ctx.actor.id)
            .is_some_and(|p| p.notice_acknowledged)
    {
        return Err(RoomError::NoticeRequired.into());
    }
    check_post(ctx, channel)?;
    check_body(body)?;
    if client_id.is_empty() || client_id.len() > MAX_CLIENT_ID {
        return Err(
            RoomError::invalid(format!("`client_id` must be 1 to {MAX_CLIENT_ID} bytes")).into(),
        );
    }
    let ckey = client_key(ctx.actor.id, client_id);
    if let Some(Obj::ClientId { message_id }) = view.get(ckey.clone())? {
        // A resend: answer with the original, deliver nothing again.
        let m = view
            .message(*message_id)?
            .filter(|m| !m.retracted)
            .ok_or_else(|| {
                RoomError::conflict("that client_id was used for a message since retracted")
            })?;
        return Ok(Outcome {
            result: AckResult::Message(MessageAck {
                message: m.view(ctx.actor.id),
                duplicate: true,
            }),
            ..Outcome::default()
        });
    }
    let rec = MessageRec {
        id: new_id(),
        channel,
        author: ctx.actor.id,
        author_role: ctx.actor.role,
        author_name: ctx.actor.display_name.clone(),
        body: body.to_string(),
        sent_at: ctx.now,
        client_id: Some(client_id.to_string()),
        shareable,
        relayed_from: None,
        edited_at: None,
        retracted: false,
        resource,
        comment_on,
        recipients: audience(ctx.doc, channel),
        forwards: Vec::new(),
    };
    let mut out = Outcome {
        result: AckResult::Message(MessageAck {
            message: rec.view(ctx.actor.id),
            duplicate: false,
        }),
        ..Outcome::default()
    };
    for p in &rec.recipients {
        out.deliveries.push((*p, Event::Message(rec.view(*p))));
    }
    out.puts.push((ckey, Obj::ClientId { message_id: rec.id }));
    out.puts.push((message_key(rec.id), Obj::Message(rec)));
    Ok(out)
}

pub(super) fn edit(
    ctx: &Ctx,
    view: &View,
    message_id: Uuid,
    body: &str,
    new_id: NewId,
) -> Result<Outcome, Flow> {
    check_body(body)?;
    let m = visible(ctx, view.message(message_id)?)?;
    if !may_change(ctx, m) {
        return Err(RoomError::forbidden("only the author may edit a message").into());
    }
    if let Some(rf) = &m.relayed_from {
        // Editing a relayed copy revises its forward: consent applies again.
        let f = view
            .forward(rf.forward_id)?
            .ok_or_else(|| RoomError::not_found("no such forward"))?;
        return super::forwards::update_forward(ctx, view, f.clone(), body, new_id);
    }
    let mut out = Outcome {
        result: AckResult::Edited(EditedAck {
            message_id: m.id,
            edited_at: ctx.now,
        }),
        ..Outcome::default()
    };
    edit_message(ctx, m.clone(), body, &mut out);
    Ok(out)
}

/// Replace a message's text and tell everyone who had it.
pub(super) fn edit_message(ctx: &Ctx, mut m: MessageRec, body: &str, out: &mut Outcome) {
    m.body = body.to_string();
    m.edited_at = Some(ctx.now);
    out.send(
        m.recipients.clone(),
        Event::MessageEdited {
            message_id: m.id,
            channel: m.channel,
            body: m.body.clone(),
            edited_at: ctx.now,
        },
    );
    out.puts.push((message_key(m.id), Obj::Message(m)));
}

/// Erase a message's text and tell everyone who had it.
pub(super) fn retract_message(mut m: MessageRec, out: &mut Outcome) {
    m.retracted = true;
    m.body.clear();
    out.send(
        m.recipients.clone(),
        Event::MessageRetracted {
            message_id: m.id,
            channel: m.channel,
        },
    );
    out.puts.push((message_key(m.id), Obj::Message(m)));
}

pub(super) fn retract(ctx: &Ctx, view: &View, message_id: Uuid) -> Result<Outcome, Flow> {
    let m = visible(ctx, view.message(message_id)?)?;
    if !may_change(ctx, m) {
        return Err(RoomError::forbidden("only the author may retract a message").into());
    }
    let mut out = Outcome {
        result: AckResult::Retracted(RetractedAck { message_id: m.id }),
        ..Outcome::default()
    };
    if let Some(rf) = &m.relayed_from {
        // A relayed copy: its forward no longer reaches that recipient.
        let mut f = view
            .forward(rf.forward_id)?
            .ok_or_else(|| RoomError::not_found("no such forward"))?
            .clone();
        f.delivered.retain(|id| *id != m.id);
        if f.delivered.is_empty() {
            f.status = ForwardState::Withdrawn;
        }
        retract_message(m.clone(), &mut out);
        let result = out.result.clone();
        super::forwards::finish_forward(ctx, f, &mut out);
        out.result = result;
        return Ok(out);
    }
    // Retracting a source withdraws every forward still waiting for consent.
    view.need(m.forwards.iter().map(|f| forward_key(*f)))?;
    let mut statuses = Vec::new();
    for fid in &m.forwards {
        if let Some(f) = view.forward(*fid)? {
            if matches!(
                f.status,
                ForwardState::AwaitingConsent | ForwardState::Declined
            ) {
                let mut f = f.clone();
                f.status = ForwardState::Withdrawn;
                statuses.push(f);
            } else if f.status == ForwardState::EditAwaitingConsent {
                let mut f = f.clone();
                f.keep_delivered_text();
                statuses.push(f);
            }
        }
    }
    retract_message(m.clone(), &mut out);
    let result = out.result.clone();
    for f in statuses {
        super::forwards::finish_forward(ctx, f, &mut out);
    }
    out.result = result;
    Ok(out)
}
