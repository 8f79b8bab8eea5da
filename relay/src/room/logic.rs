//! The pure room logic. [`apply`] never touches a socket or a store: the
//! service layer loads what it asks for (see [`Flow::Need`]), calls it again,
//! and commits the [`Outcome`] atomically.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use protocol::events::{Event, ForwardState, RelayedFrom};
use protocol::requests::{Decision, Request};
use protocol::{Attribution, Channel, CloseCode, ParticipantId, Role, ServerFrame};
use serde_json::{json, Value};
use uuid::Uuid;

use super::records::*;
use super::redact;
use crate::config::Office;
use crate::error::Error;

/// Longest message body, in characters.
pub const MAX_BODY_CHARS: usize = 16_000;
const MAX_CLIENT_ID: usize = 128;

/// Why `apply` stopped: it needs more objects loaded, or the request fails.
#[derive(Debug)]
pub enum Flow {
    Need(Vec<String>),
    Fail(Error),
}

impl From<Error> for Flow {
    fn from(e: Error) -> Self {
        Flow::Fail(e)
    }
}

/// Ephemeral effects: not stored, sent to whoever is connected.
// A signal is built and published at once; boxing the frame would only add noise.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Signal {
    Frame {
        to: Vec<ParticipantId>,
        frame: ServerFrame,
    },
    /// Close every connection of this participant (it left the room).
    Close {
        participant: ParticipantId,
        code: CloseCode,
    },
}

/// Everything one request changes.
#[derive(Debug, Default)]
pub struct Outcome {
    pub doc: Option<RoomDoc>,
    pub puts: Vec<(String, Obj)>,
    pub deliveries: Vec<(ParticipantId, Event)>,
    pub signals: Vec<Signal>,
    pub result: Value,
}

impl Outcome {
    pub fn writes_nothing(&self) -> bool {
        self.doc.is_none() && self.puts.is_empty() && self.deliveries.is_empty()
    }

    /// Delivers `event` to each of `to`.
    pub fn send(&mut self, to: impl IntoIterator<Item = ParticipantId>, event: Event) {
        for p in to {
            self.deliveries.push((p, event.clone()));
        }
    }
}

/// Objects loaded for this request, keyed by store key (`None`: absent).
#[derive(Debug, Default)]
pub struct View {
    pub objs: HashMap<String, Option<Obj>>,
}

impl View {
    fn get(&self, key: String) -> Result<Option<&Obj>, Flow> {
        match self.objs.get(&key) {
            Some(o) => Ok(o.as_ref()),
            None => Err(Flow::Need(vec![key])),
        }
    }

    fn message(&self, id: Uuid) -> Result<Option<&MessageRec>, Flow> {
        Ok(match self.get(message_key(id))? {
            Some(Obj::Message(m)) => Some(m),
            _ => None,
        })
    }

    fn forward(&self, id: Uuid) -> Result<Option<&ForwardRec>, Flow> {
        Ok(match self.get(forward_key(id))? {
            Some(Obj::Forward(f)) => Some(f),
            _ => None,
        })
    }
}

/// What `apply` may read besides the view.
pub struct Ctx<'a> {
    pub doc: &'a RoomDoc,
    pub actor: &'a Actor,
    pub office: &'a Office,
    pub now: DateTime<Utc>,
}

/// Who receives a channel's traffic. The one place that decides it.
pub fn audience(doc: &RoomDoc, channel: Channel) -> Vec<ParticipantId> {
    let ombuds = doc.ombuds.iter().map(|o| o.id);
    match channel {
        Channel::Private(p) => {
            let party = doc.party(p).filter(|p| !p.left).map(|p| p.id);
            party.into_iter().chain(ombuds).collect()
        }
        Channel::Joint => doc.active_parties().map(|p| p.id).chain(ombuds).collect(),
        Channel::Notes => ombuds.collect(),
    }
}

/// Everyone still in the room.
pub fn everyone(doc: &RoomDoc) -> Vec<ParticipantId> {
    audience(doc, Channel::Joint)
}

fn ombuds(doc: &RoomDoc) -> Vec<ParticipantId> {
    audience(doc, Channel::Notes)
}

/// May `actor` post (or show typing) in `channel`?
fn check_post(ctx: &Ctx, channel: Channel) -> Result<(), Error> {
    match (ctx.actor.role, channel) {
        (_, Channel::Joint) if !ctx.doc.joint_open => {
            Err(Error::conflict("the joint session is not open"))
        }
        (_, Channel::Joint) => Ok(()),
        (Role::Party, Channel::Private(p)) if p == ctx.actor.id => Ok(()),
        (Role::Party, _) => Err(Error::forbidden("a party may only write in its own thread")),
        (Role::Ombud, Channel::Private(p)) => match ctx.doc.party(p) {
            Some(party) if !party.left => Ok(()),
            Some(_) => Err(Error::conflict("that party has left the room")),
            None => Err(Error::not_found("no such party in this room")),
        },
        (Role::Ombud, Channel::Notes) => Ok(()),
    }
}

fn check_body(body: &str) -> Result<(), Error> {
    if body.trim().is_empty() {
        return Err(Error::invalid("`body` must not be empty"));
    }
    if body.chars().count() > MAX_BODY_CHARS {
        return Err(Error::TooLarge(format!(
            "`body` is over {MAX_BODY_CHARS} characters"
        )));
    }
    Ok(())
}

fn require_ombud(ctx: &Ctx) -> Result<(), Error> {
    if ctx.actor.role != Role::Ombud {
        return Err(Error::forbidden("only an ombud may do that"));
    }
    Ok(())
}

fn require_party(ctx: &Ctx) -> Result<(), Error> {
    if ctx.actor.role != Role::Party {
        return Err(Error::forbidden("only a party may do that"));
    }
    Ok(())
}

/// A message `actor` may see, or `not_found` (never revealing that it exists).
fn visible<'v>(ctx: &Ctx, m: Option<&'v MessageRec>) -> Result<&'v MessageRec, Error> {
    match m {
        Some(m)
            if !m.retracted
                && (ctx.actor.role == Role::Ombud || m.recipients.contains(&ctx.actor.id)) =>
        {
            Ok(m)
        }
        _ => Err(Error::not_found("no such message")),
    }
}

/// Applies one request. `new_id` mints ids (random in production, seeded in tests).
pub fn apply(
    ctx: &Ctx,
    view: &View,
    req: &Request,
    new_id: &mut dyn FnMut() -> Uuid,
) -> Result<Outcome, Flow> {
    match req {
        Request::Hello(_) => Err(Error::invalid("`hello` is only valid as the first frame").into()),
        Request::Send {
            channel,
            body,
            client_id,
            shareable,
        } => send(
            ctx, view, *channel, body, client_id, *shareable, None, new_id,
        ),
        Request::Forward {
            source_message_id,
            to,
            body,
        } => forward(ctx, view, *source_message_id, to, body, new_id),
        Request::ForwardUpdate { forward_id, body } => {
            require_ombud(ctx)?;
            check_body(body)?;
            let f = view
                .forward(*forward_id)?
                .ok_or_else(|| Error::not_found("no such forward"))?;
            update_forward(ctx, view, f.clone(), body, new_id)
        }
        Request::ForwardWithdraw { forward_id } => withdraw(ctx, view, *forward_id),
        Request::Consent {
            forward_id,
            revision,
            decision,
            note,
        } => consent(
            ctx,
            view,
            *forward_id,
            *revision,
            *decision,
            note.as_deref(),
            new_id,
        ),
        Request::Edit { message_id, body } => edit(ctx, view, *message_id, body, new_id),
        Request::Retract { message_id } => retract(ctx, view, *message_id),
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
                result: json!({}),
                ..Outcome::default()
            })
        }
        Request::Joint { open } => joint(ctx, *open),
        Request::Leave {} => leave(ctx),
        Request::AcknowledgeNotice {} => {
            require_party(ctx)?;
            let mut doc = ctx.doc.clone();
            let mut out = Outcome {
                result: json!({}),
                ..Outcome::default()
            };
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
        Request::Refer {
            party_id,
            resource_id,
            client_id,
        } => {
            require_ombud(ctx)?;
            let resource = ctx
                .office
                .resources
                .iter()
                .find(|r| &r.id == resource_id)
                .ok_or_else(|| Error::not_found("no such resource in the office list"))?;
            let body = format!("{}: {}", resource.title, resource.url);
            let cid = client_id
                .clone()
                .unwrap_or_else(|| format!("refer:{}", new_id()));
            send(
                ctx,
                view,
                Channel::Private(*party_id),
                &body,
                &cid,
                false,
                Some(resource.clone()),
                new_id,
            )
        }
        Request::SuggestRedactions { message_id } => {
            require_ombud(ctx)?;
            let m = visible(ctx, view.message(*message_id)?)?;
            let mut names: Vec<&str> = ctx
                .doc
                .parties
                .iter()
                .map(|p| p.display_name.as_str())
                .collect();
            names.extend(ctx.doc.ombuds.iter().map(|o| o.display_name.as_str()));
            let spans = redact::suggest(&m.body, &names, &ctx.doc.sensitive_terms);
            Ok(Outcome {
                result: json!({ "spans": spans }),
                ..Outcome::default()
            })
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn send(
    ctx: &Ctx,
    view: &View,
    channel: Channel,
    body: &str,
    client_id: &str,
    shareable: bool,
    resource: Option<protocol::Resource>,
    new_id: &mut dyn FnMut() -> Uuid,
) -> Result<Outcome, Flow> {
    if ctx.actor.role == Role::Party
        && !ctx
            .doc
            .party(ctx.actor.id)
            .is_some_and(|p| p.notice_acknowledged)
    {
        return Err(Error::NoticeRequired.into());
    }
    check_post(ctx, channel)?;
    check_body(body)?;
    if client_id.is_empty() || client_id.len() > MAX_CLIENT_ID {
        return Err(
            Error::invalid(format!("`client_id` must be 1 to {MAX_CLIENT_ID} bytes")).into(),
        );
    }
    let ckey = client_key(ctx.actor.id, client_id);
    if let Some(Obj::ClientId { message_id }) = view.get(ckey.clone())? {
        // A resend: answer with the original, deliver nothing again.
        let m = view
            .message(*message_id)?
            .filter(|m| !m.retracted)
            .ok_or_else(|| {
                Error::conflict("that client_id was used for a message since retracted")
            })?;
        return Ok(Outcome {
            result: json!({ "message": m.view(ctx.actor.id), "duplicate": true }),
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
        recipients: audience(ctx.doc, channel),
        forwards: Vec::new(),
    };
    let mut out = Outcome {
        result: json!({ "message": rec.view(ctx.actor.id) }),
        ..Outcome::default()
    };
    for p in &rec.recipients {
        out.deliveries.push((*p, Event::Message(rec.view(*p))));
    }
    out.puts.push((ckey, Obj::ClientId { message_id: rec.id }));
    out.puts.push((message_key(rec.id), Obj::Message(rec)));
    Ok(out)
}

fn forward(
    ctx: &Ctx,
    view: &View,
    source_id: Uuid,
    to: &[ParticipantId],
    body: &str,
    new_id: &mut dyn FnMut() -> Uuid,
) -> Result<Outcome, Flow> {
    require_ombud(ctx)?;
    check_body(body)?;
    let source = visible(ctx, view.message(source_id)?)?;
    if source.author_role != Role::Party || source.relayed_from.is_some() {
        // Consent belongs to the words' author: relaying a relayed copy or an
        // ombud's own message would skip it. Ombuds write directly instead.
        return Err(Error::invalid(
            "only a party's own message can be relayed; to pass on your own words, send them",
        )
        .into());
    }
    if !source.shareable {
        return Err(Error::forbidden("the author marked this message \"do not share\"").into());
    }
    let mut recipients: Vec<ParticipantId> = Vec::new();
    for p in to {
        match ctx.doc.party(*p) {
            None => {
                return Err(
                    Error::not_found("`to` names someone who is not a party of this room").into(),
                )
            }
            Some(party) if party.left => {
                return Err(Error::conflict("a recipient has left the room").into())
            }
            Some(_) if *p == source.author => {
                return Err(Error::invalid("a message cannot be relayed to its own author").into())
            }
            Some(_) if !recipients.contains(p) => recipients.push(*p),
            Some(_) => {}
        }
    }
    if recipients.is_empty() {
        return Err(Error::invalid("`to` must name at least one party").into());
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
fn ask_consent(ctx: &Ctx, f: &ForwardRec, is_edit: bool, out: &mut Outcome) {
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
fn deliver(ctx: &Ctx, f: &mut ForwardRec, new_id: &mut dyn FnMut() -> Uuid, out: &mut Outcome) {
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
}

/// Replace the text of every delivered copy (an approved or consent-free edit).
fn edit_copies(ctx: &Ctx, view: &View, f: &mut ForwardRec, out: &mut Outcome) -> Result<(), Flow> {
    let keys: Vec<String> = f.delivered.iter().map(|id| message_key(*id)).collect();
    let missing: Vec<String> = keys
        .iter()
        .filter(|k| !view.objs.contains_key(*k))
        .cloned()
        .collect();
    if !missing.is_empty() {
        return Err(Flow::Need(missing));
    }
    for id in &f.delivered {
        if let Some(m) = view.message(*id)?.filter(|m| !m.retracted) {
            edit_message(ctx, m.clone(), &f.body, out);
        }
    }
    f.delivered_body = Some(f.body.clone());
    f.status = ForwardState::Delivered;
    Ok(())
}

/// Store the forward, tell the ombuds (and the author) its status, answer the request.
fn finish_forward(ctx: &Ctx, f: ForwardRec, out: &mut Outcome) {
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
    out.result = json!({
        "forward_id": f.id,
        "revision": f.revision,
        "status": f.status,
        "delivered": f.delivered,
        "pending_consent": matches!(f.status, ForwardState::AwaitingConsent | ForwardState::EditAwaitingConsent),
    });
    out.puts.push((forward_key(f.id), Obj::Forward(f)));
}

fn update_forward(
    ctx: &Ctx,
    view: &View,
    mut f: ForwardRec,
    body: &str,
    new_id: &mut dyn FnMut() -> Uuid,
) -> Result<Outcome, Flow> {
    let source_gone = view
        .message(f.source_message_id)?
        .is_none_or(|m| m.retracted);
    if source_gone {
        return Err(Error::conflict("the author retracted the source message").into());
    }
    let mut out = Outcome::default();
    f.revision += 1;
    f.body = body.to_string();
    match f.status {
        ForwardState::Withdrawn => return Err(Error::conflict("this forward was withdrawn").into()),
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

fn withdraw(ctx: &Ctx, view: &View, forward_id: Uuid) -> Result<Outcome, Flow> {
    require_ombud(ctx)?;
    let mut f = view
        .forward(forward_id)?
        .ok_or_else(|| Error::not_found("no such forward"))?
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
                    retract_message(m.clone(), &mut out);
                }
            }
            f.status = ForwardState::Withdrawn;
        }
        ForwardState::Withdrawn => {
            return Err(Error::conflict("this forward was already withdrawn").into())
        }
    }
    finish_forward(ctx, f, &mut out);
    Ok(out)
}

fn consent(
    ctx: &Ctx,
    view: &View,
    forward_id: Uuid,
    revision: u32,
    decision: Decision,
    note: Option<&str>,
    new_id: &mut dyn FnMut() -> Uuid,
) -> Result<Outcome, Flow> {
    let f = view.forward(forward_id)?;
    let mut f = match f {
        Some(f) if f.source_author == ctx.actor.id => f.clone(),
        // Not the author's forward: same answer whether or not it exists.
        _ => {
            return Err(Error::forbidden("only the author of the source message can decide").into())
        }
    };
    if !matches!(
        f.status,
        ForwardState::AwaitingConsent | ForwardState::EditAwaitingConsent
    ) {
        return Err(Error::conflict("nothing awaits your consent on this forward").into());
    }
    if revision != f.revision {
        return Err(Error::conflict(format!(
            "revision {revision} is no longer current; revision {} awaits your decision",
            f.revision
        ))
        .into());
    }
    if note.is_some_and(|n| n.chars().count() > MAX_BODY_CHARS) {
        return Err(Error::TooLarge("`note` is too long".into()).into());
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

fn edit(
    ctx: &Ctx,
    view: &View,
    message_id: Uuid,
    body: &str,
    new_id: &mut dyn FnMut() -> Uuid,
) -> Result<Outcome, Flow> {
    check_body(body)?;
    let m = visible(ctx, view.message(message_id)?)?;
    if !may_change(ctx, m) {
        return Err(Error::forbidden("only the author may edit a message").into());
    }
    if let Some(rf) = &m.relayed_from {
        // Editing a relayed copy revises its forward: consent applies again.
        let f = view
            .forward(rf.forward_id)?
            .ok_or_else(|| Error::not_found("no such forward"))?;
        return update_forward(ctx, view, f.clone(), body, new_id);
    }
    let mut out = Outcome {
        result: json!({ "message_id": m.id, "edited_at": ctx.now }),
        ..Outcome::default()
    };
    edit_message(ctx, m.clone(), body, &mut out);
    Ok(out)
}

/// Replace a message's text and tell everyone who had it.
fn edit_message(ctx: &Ctx, mut m: MessageRec, body: &str, out: &mut Outcome) {
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
fn retract_message(mut m: MessageRec, out: &mut Outcome) {
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

/// The author may change a message; any ombud of the room may change a relayed copy.
fn may_change(ctx: &Ctx, m: &MessageRec) -> bool {
    m.author == ctx.actor.id || (m.relayed_from.is_some() && ctx.actor.role == Role::Ombud)
}

fn retract(ctx: &Ctx, view: &View, message_id: Uuid) -> Result<Outcome, Flow> {
    let m = visible(ctx, view.message(message_id)?)?;
    if !may_change(ctx, m) {
        return Err(Error::forbidden("only the author may retract a message").into());
    }
    let mut out = Outcome {
        result: json!({ "message_id": m.id }),
        ..Outcome::default()
    };
    if let Some(rf) = &m.relayed_from {
        // A relayed copy: its forward no longer reaches that recipient.
        let mut f = view
            .forward(rf.forward_id)?
            .ok_or_else(|| Error::not_found("no such forward"))?
            .clone();
        f.delivered.retain(|id| *id != m.id);
        if f.delivered.is_empty() {
            f.status = ForwardState::Withdrawn;
        }
        retract_message(m.clone(), &mut out);
        let result = out.result.clone();
        finish_forward(ctx, f, &mut out);
        out.result = result;
        return Ok(out);
    }
    // Retracting a source withdraws every forward still waiting for consent.
    let pending_keys: Vec<String> = m.forwards.iter().map(|f| forward_key(*f)).collect();
    let missing: Vec<String> = pending_keys
        .iter()
        .filter(|k| !view.objs.contains_key(*k))
        .cloned()
        .collect();
    if !missing.is_empty() {
        return Err(Flow::Need(missing));
    }
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
        finish_forward(ctx, f, &mut out);
    }
    out.result = result;
    Ok(out)
}

fn joint(ctx: &Ctx, open: bool) -> Result<Outcome, Flow> {
    require_ombud(ctx)?;
    let mut out = Outcome {
        result: json!({ "open": open }),
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

fn leave(ctx: &Ctx) -> Result<Outcome, Flow> {
    require_party(ctx)?;
    let mut doc = ctx.doc.clone();
    if let Some(p) = doc.party_mut(ctx.actor.id) {
        p.left = true;
    }
    let mut out = Outcome {
        result: json!({ "left": true }),
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
