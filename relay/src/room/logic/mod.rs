//! The pure room logic. [`apply`] never touches a socket or a store: the
//! service layer loads what it asks for (see [`Flow::Need`]), calls it again,
//! and commits the [`Outcome`] atomically. Each request type is an arm of
//! `apply`; the arms live beside their kin in [`messages`], [`forwards`],
//! [`membership`] and [`onetext`] (proposals, decisions, range questions).

mod forwards;
pub mod intake;
mod membership;
mod messages;
mod onetext;
pub mod quota;

pub use membership::{
    add_ombud, add_party, create_room, join, new_link, seen, set_categories, set_terms, untag_all,
};
pub use quota::{charge, Quotas};

use protocol::acks::{AckResult, SpansAck};
use protocol::requests::Request;
use protocol::{Channel, Role, ServerFrame};

pub use super::audience::{audience, everyone, ombuds};
pub use super::outcome::{Ctx, Flow, NewId, Now, Outcome, RedactJob, Signal, View};
use super::records::*;
use super::RoomError;

/// Longest message body, in characters.
pub const MAX_BODY_CHARS: usize = 16_000;
const MAX_CLIENT_ID: usize = 128;

/// May `actor` post (or show typing) in `channel`?
pub(super) fn check_post(ctx: &Ctx, channel: Channel) -> Result<(), RoomError> {
    match (ctx.actor.role, channel) {
        (_, Channel::Joint) if !ctx.doc.joint_open => {
            Err(RoomError::conflict("the joint session is not open"))
        }
        (_, Channel::Joint) => Ok(()),
        (Role::Party, Channel::Private(p)) if p == ctx.actor.id => Ok(()),
        (Role::Party, _) => Err(RoomError::forbidden(
            "a party may only write in its own thread",
        )),
        (Role::Ombud, Channel::Private(p)) => match ctx.doc.party(p) {
            Some(party) if !party.left => Ok(()),
            Some(_) => Err(RoomError::conflict("that party has left the room")),
            None => Err(RoomError::not_found("no such party in this room")),
        },
        (Role::Ombud, Channel::Notes) => Ok(()),
    }
}

pub(super) fn check_body(body: &str) -> Result<(), RoomError> {
    if body.trim().is_empty() {
        return Err(RoomError::invalid("`body` must not be empty"));
    }
    if body.chars().count() > MAX_BODY_CHARS {
        return Err(RoomError::TooLarge(format!(
            "`body` is over {MAX_BODY_CHARS} characters"
        )));
    }
    Ok(())
}

pub(super) fn require_ombud(ctx: &Ctx) -> Result<(), RoomError> {
    if ctx.actor.role != Role::Ombud {
        return Err(RoomError::forbidden("only an ombud may do that"));
    }
    Ok(())
}

pub(super) fn require_party(ctx: &Ctx) -> Result<(), RoomError> {
    if ctx.actor.role != Role::Party {
        return Err(RoomError::forbidden("only a party may do that"));
    }
    Ok(())
}

/// A message `actor` may see, or `not_found` (never revealing that it exists).
pub(super) fn visible<'v>(
    ctx: &Ctx,
    m: Option<&'v MessageRec>,
) -> Result<&'v MessageRec, RoomError> {
    match m {
        Some(m)
            if !m.retracted
                && (ctx.actor.role == Role::Ombud || m.recipients.contains(&ctx.actor.id)) =>
        {
            Ok(m)
        }
        _ => Err(RoomError::not_found("no such message")),
    }
}

/// The author may change a message; any ombud of the room may change a relayed copy.
pub(super) fn may_change(ctx: &Ctx, m: &MessageRec) -> bool {
    m.author == ctx.actor.id || (m.relayed_from.is_some() && ctx.actor.role == Role::Ombud)
}

/// Applies `req` at most once per actor and idempotency key: a repeat gets
/// the first answer and changes nothing. Without a key, as [`apply`].
pub fn apply_once(
    ctx: &Ctx,
    view: &View,
    req: &Request,
    key: Option<&str>,
    new_id: NewId,
) -> Result<Outcome, Flow> {
    let Some(key) = key else {
        return apply(ctx, view, req, new_id);
    };
    if key.is_empty() || key.len() > MAX_CLIENT_ID {
        return Err(RoomError::invalid(format!(
            "`idempotency_key` must be 1 to {MAX_CLIENT_ID} bytes"
        ))
        .into());
    }
    let stored = answer_key(ctx.actor.id, key);
    if let Some(Obj::Answer(result)) = view.get(stored.clone())? {
        return Ok(Outcome {
            result: result.clone(),
            ..Outcome::default()
        });
    }
    let mut out = apply(ctx, view, req, new_id)?;
    if !out.writes_nothing() {
        out.puts.push((stored, Obj::Answer(out.result.clone())));
    }
    Ok(out)
}

/// Applies one request. `new_id` mints ids (random in production, seeded in tests).
pub fn apply(ctx: &Ctx, view: &View, req: &Request, new_id: NewId) -> Result<Outcome, Flow> {
    match req {
        Request::Hello(_) => {
            Err(RoomError::invalid("`hello` is only valid as the first frame").into())
        }
        Request::Send {
            channel,
            body,
            client_id,
            shareable,
        } => {
            let mut out = messages::send(
                ctx, view, *channel, body, client_id, *shareable, None, None, new_id,
            )?;
            intake::count_unread(ctx, &mut out);
            Ok(out)
        }
        Request::Forward {
            source_message_id,
            to,
            body,
        } => forwards::forward(ctx, view, *source_message_id, to, body, new_id),
        Request::ForwardUpdate { forward_id, body } => {
            require_ombud(ctx)?;
            check_body(body)?;
            let f = view
                .forward(*forward_id)?
                .ok_or_else(|| RoomError::not_found("no such forward"))?;
            forwards::update_forward(ctx, view, f.clone(), body, new_id)
        }
        Request::ForwardWithdraw { forward_id } => forwards::withdraw(ctx, view, *forward_id),
        Request::Consent {
            forward_id,
            revision,
            decision,
            note,
        } => forwards::consent(
            ctx,
            view,
            *forward_id,
            *revision,
            *decision,
            note.as_deref(),
            new_id,
        ),
        Request::Edit { message_id, body } => messages::edit(ctx, view, *message_id, body, new_id),
        Request::Retract { message_id } => messages::retract(ctx, view, *message_id),
        Request::Typing { channel } => {
            check_post(ctx, *channel)?;
            let to = audience(ctx.doc, *channel)
                .into_iter()
                .filter(|p| *p != ctx.actor.id)
                .collect();
            let frame = ServerFrame::Typing {
                participant_id: ctx.actor.id,
                channel: *channel,
            };
            Ok(Outcome {
                signals: vec![Signal::Frame { to, frame }],
                ..Outcome::default()
            })
        }
        // The websocket reader answers `ping` itself; nothing to do here.
        Request::Ping {} => Ok(Outcome::default()),
        Request::Joint { open } => membership::joint(ctx, *open),
        Request::Leave {} => membership::leave(ctx),
        Request::AcknowledgeNotice {} => membership::acknowledge_notice(ctx),
        Request::Refer {
            party_id,
            resource_id,
            client_id,
            language,
        } => {
            require_ombud(ctx)?;
            let resource = ctx
                .office
                .resource(resource_id, language.as_deref())
                .ok_or_else(|| RoomError::not_found("no such resource in the office list"))?;
            let body = format!("{}: {}", resource.title, resource.url);
            let cid = client_id
                .clone()
                .unwrap_or_else(|| format!("refer:{}", new_id()));
            messages::send(
                ctx,
                view,
                Channel::Private(*party_id),
                &body,
                &cid,
                false,
                Some(resource.clone()),
                None,
                new_id,
            )
        }
        Request::SuggestRedactions { message_id } => {
            require_ombud(ctx)?;
            let m = visible(ctx, view.message(*message_id)?)?;
            let mut names: Vec<String> = ctx
                .doc
                .parties
                .iter()
                .map(|p| p.display_name.clone())
                .collect();
            names.extend(ctx.doc.ombuds.iter().map(|o| o.display_name.clone()));
            Ok(Outcome {
                result: AckResult::Spans(SpansAck { spans: Vec::new() }),
                redact: Some(RedactJob {
                    body: m.body.clone(),
                    names,
                    terms: ctx.doc.sensitive_terms.clone(),
                }),
                ..Outcome::default()
            })
        }
        Request::Propose {
            proposal_id,
            base_version,
            title,
            clauses,
        } => onetext::propose(
            ctx,
            view,
            *proposal_id,
            *base_version,
            title,
            clauses,
            new_id,
        ),
        Request::Share {
            proposal_id,
            version,
            to,
        } => onetext::share(ctx, view, *proposal_id, *version, to),
        Request::Comment {
            proposal_id,
            version,
            clause,
            body,
            client_id,
        } => onetext::comment(
            ctx,
            view,
            *proposal_id,
            *version,
            *clause,
            body,
            client_id,
            new_id,
        ),
        Request::CallDecision {
            proposal_id,
            version,
            parties,
        } => onetext::call_decision(ctx, view, *proposal_id, *version, parties),
        Request::Decide {
            proposal_id,
            version,
            hash,
            verdict,
            note,
        } => onetext::decide(
            ctx,
            view,
            *proposal_id,
            *version,
            hash,
            *verdict,
            note.as_deref(),
        ),
        Request::RangeOpen {
            title,
            unit,
            ceilings,
            floors,
            ombuds_see_bounds,
        } => onetext::range_open(
            ctx,
            title,
            unit,
            ceilings,
            floors,
            *ombuds_see_bounds,
            new_id,
        ),
        Request::RangeBound { range_id, value } => {
            onetext::range_bound(ctx, view, *range_id, *value)
        }
        Request::RangeClose {
            range_id,
            reveal,
            suggest,
        } => onetext::range_close(ctx, view, *range_id, *reveal, *suggest),
    }
}
