//! The single negotiating text and private bottom lines: an ombud drafts
//! versions of a proposal, shows each to chosen parties, collects their
//! private comments, calls for a decision on one exact version, and the
//! agreement concludes when every party asked accepts it. Range questions
//! collect private bounds and answer only whether they overlap.
//!
//! Who hears what: a party receives only what it was shown and what it did
//! itself ([`party_only`]); the ombuds receive everything, except the bounds
//! of a range question that did not allow it. Comments are messages in the
//! commenting party's private thread, so they reach nobody else except as a
//! consent-bound forward.

use protocol::acks::AckResult;
use protocol::events::Event;
use protocol::onetext::*;
use protocol::{Channel, ParticipantId};

use super::*;
use crate::room::audience::party_only;
use crate::room::onetext::*;

const MAX_TITLE_CHARS: usize = 200;
const MAX_UNIT_CHARS: usize = 40;
const MAX_CLAUSES: usize = 200;
/// A version's text in all: clauses are counted against the room's quota
/// as well, this only keeps one frame's worth of work bounded.
const MAX_VERSION_CHARS: usize = 64_000;
const MAX_VERSIONS: usize = 200;

fn check_title(title: &str) -> Result<(), RoomError> {
    let n = title.trim().chars().count();
    if n == 0 || n > MAX_TITLE_CHARS {
        return Err(RoomError::invalid(format!(
            "`title` must be 1 to {MAX_TITLE_CHARS} characters"
        )));
    }
    Ok(())
}

fn check_clauses(clauses: &[String]) -> Result<(), RoomError> {
    if clauses.is_empty() || clauses.len() > MAX_CLAUSES {
        return Err(RoomError::invalid(format!(
            "`clauses` must hold 1 to {MAX_CLAUSES} clauses"
        )));
    }
    if clauses.iter().any(|c| c.trim().is_empty()) {
        return Err(RoomError::invalid("a clause must not be empty"));
    }
    let total: usize = clauses.iter().map(|c| c.chars().count()).sum();
    if total > MAX_VERSION_CHARS {
        return Err(RoomError::too_large(format!(
            "a version is over {MAX_VERSION_CHARS} characters"
        )));
    }
    Ok(())
}

/// Each of `ids` once, each an active party of the room.
fn parties(ctx: &Ctx, ids: &[ParticipantId], field: &str) -> Result<Vec<ParticipantId>, RoomError> {
    let mut out = Vec::new();
    for p in ids {
        match ctx.doc.party(*p) {
            None => {
                return Err(RoomError::not_found(format!(
                    "`{field}` names someone who is not a party of this room"
                )))
            }
            Some(party) if party.left => {
                return Err(RoomError::conflict(format!(
                    "`{field}` names a party that has left the room"
                )))
            }
            Some(_) if !out.contains(p) => out.push(*p),
            Some(_) => {}
        }
    }
    if out.is_empty() {
        return Err(RoomError::invalid(format!(
            "`{field}` must name at least one party"
        )));
    }
    Ok(out)
}

fn proposal(view: &View, id: ProposalId) -> Result<Option<&ProposalRec>, Flow> {
    Ok(match view.get(proposal_key(id))? {
        Some(Obj::Proposal(p)) => Some(p),
        _ => None,
    })
}

fn version(view: &View, id: ProposalId, n: u32) -> Result<Option<&VersionRec>, Flow> {
    Ok(match view.get(version_key(id, n))? {
        Some(Obj::Version(v)) => Some(v),
        _ => None,
    })
}

fn range(view: &View, id: RangeId) -> Result<Option<&RangeRec>, Flow> {
    Ok(match view.get(range_key(id))? {
        Some(Obj::Range(r)) => Some(r),
        _ => None,
    })
}

/// The proposal as the ombud acting sees it, or `not_found`.
fn ombuds_proposal(ctx: &Ctx, view: &View, id: ProposalId) -> Result<ProposalRec, Flow> {
    require_ombud(ctx)?;
    Ok(proposal(view, id)?
        .ok_or_else(|| RoomError::not_found("no such proposal"))?
        .clone())
}

/// The proposal if the acting party was shown `version` of it; otherwise
/// `not_found`, the same whether or not it exists.
fn partys_proposal(
    ctx: &Ctx,
    view: &View,
    id: ProposalId,
    version: u32,
) -> Result<ProposalRec, Flow> {
    require_party(ctx)?;
    match proposal(view, id)? {
        Some(p) if p.was_shown(ctx.actor.id, version) => Ok(p.clone()),
        _ => Err(RoomError::not_found("no such proposal version was shared with you").into()),
    }
}

pub(super) fn propose(
    ctx: &Ctx,
    view: &View,
    id: Option<ProposalId>,
    base_version: Option<u32>,
    title: &str,
    clauses: &[String],
    new_id: NewId,
) -> Result<Outcome, Flow> {
    require_ombud(ctx)?;
    check_title(title)?;
    check_clauses(clauses)?;
    let mut p = match id {
        Some(id) => ombuds_proposal(ctx, view, id)?,
        None => ProposalRec {
            id: new_id(),
            hashes: Vec::new(),
            shown: Default::default(),
            call: None,
            concluded: None,
        },
    };
    if p.concluded.is_some() {
        return Err(RoomError::conflict("this proposal is concluded; start a new one").into());
    }
    if let Some(base) = base_version.filter(|b| *b != p.latest()) {
        return Err(RoomError::conflict(format!(
            "version {base} is no longer the newest; version {} is",
            p.latest()
        ))
        .into());
    }
    if p.hashes.len() >= MAX_VERSIONS {
        return Err(RoomError::conflict("this proposal has as many versions as it may").into());
    }
    let v = VersionRec {
        proposal_id: p.id,
        version: p.latest() + 1,
        hash: content_hash(title, clauses),
        title: title.to_string(),
        clauses: clauses.to_vec(),
        by: ctx.actor.id,
        at: ctx.now,
    };
    p.hashes.push(v.hash.clone());
    let mut out = Outcome {
        result: AckResult::Proposal(ProposalAck {
            proposal_id: p.id,
            version: v.version,
            hash: v.hash.clone(),
        }),
        ..Outcome::default()
    };
    out.send(
        ombuds(ctx.doc),
        Event::ProposalVersion {
            proposal_id: p.id,
            version: v.version,
            hash: v.hash.clone(),
            title: v.title.clone(),
            clauses: v.clauses.clone(),
            by: v.by,
            at: v.at,
        },
    );
    out.puts
        .push((version_key(p.id, v.version), Obj::Version(v)));
    out.puts.push((proposal_key(p.id), Obj::Proposal(p)));
    Ok(out)
}

pub(super) fn share(
    ctx: &Ctx,
    view: &View,
    id: ProposalId,
    n: u32,
    to: &[ParticipantId],
) -> Result<Outcome, Flow> {
    let mut p = ombuds_proposal(ctx, view, id)?;
    if p.hash(n).is_none() {
        return Err(RoomError::not_found("no such version of this proposal").into());
    }
    let to = parties(ctx, to, "to")?;
    let earlier: Vec<Option<u32>> = to.iter().map(|party| p.last_shown(*party)).collect();
    view.need(
        std::iter::once(version_key(id, n))
            .chain(earlier.iter().flatten().map(|e| version_key(id, *e))),
    )?;
    let v = version(view, id, n)?.ok_or_else(|| RoomError::not_found("no such version"))?;
    let mut out = Outcome {
        result: AckResult::Shared(SharedAck {
            proposal_id: id,
            version: n,
            parties: to.clone(),
        }),
        ..Outcome::default()
    };
    for (party, since) in to.iter().zip(earlier) {
        let changes = match since {
            Some(e) => diff(
                &version(view, id, e)?
                    .ok_or_else(|| RoomError::not_found("no such version"))?
                    .clauses,
                &v.clauses,
            ),
            None => Vec::new(),
        };
        out.send(
            party_only(ctx.doc, *party),
            Event::ProposalShared {
                proposal_id: id,
                version: n,
                hash: v.hash.clone(),
                title: v.title.clone(),
                clauses: v.clauses.clone(),
                since,
                changes,
            },
        );
        out.send(
            ombuds(ctx.doc),
            Event::ProposalShown {
                proposal_id: id,
                version: n,
                party_id: *party,
            },
        );
        p.shown.entry(*party).or_default().insert(n);
    }
    out.puts.push((proposal_key(id), Obj::Proposal(p)));
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
pub(super) fn comment(
    ctx: &Ctx,
    view: &View,
    id: ProposalId,
    n: u32,
    clause: Option<u32>,
    body: &str,
    client_id: &str,
    new_id: NewId,
) -> Result<Outcome, Flow> {
    partys_proposal(ctx, view, id, n)?;
    if let Some(c) = clause {
        let v = version(view, id, n)?.ok_or_else(|| RoomError::not_found("no such version"))?;
        if c == 0 || c as usize > v.clauses.len() {
            return Err(RoomError::invalid(format!(
                "`clause` must be 1 to {} for this version",
                v.clauses.len()
            ))
            .into());
        }
    }
    let on = CommentOn {
        proposal_id: id,
        version: n,
        clause,
    };
    messages::send(
        ctx,
        view,
        Channel::Private(ctx.actor.id),
        body,
        client_id,
        true,
        None,
        Some(on),
        new_id,
    )
}

pub(super) fn call_decision(
    ctx: &Ctx,
    view: &View,
    id: ProposalId,
    n: u32,
    asked: &[ParticipantId],
) -> Result<Outcome, Flow> {
    let mut p = ombuds_proposal(ctx, view, id)?;
    if p.concluded.is_some() {
        return Err(RoomError::conflict("this proposal is already concluded").into());
    }
    let hash = p
        .hash(n)
        .ok_or_else(|| RoomError::not_found("no such version of this proposal"))?
        .to_string();
    let asked = parties(ctx, asked, "parties")?;
    if asked.iter().any(|party| !p.was_shown(*party, n)) {
        return Err(RoomError::conflict(
            "share this version with every party asked before calling for a decision",
        )
        .into());
    }
    let mut out = Outcome {
        result: AckResult::Shared(SharedAck {
            proposal_id: id,
            version: n,
            parties: asked.clone(),
        }),
        ..Outcome::default()
    };
    for party in &asked {
        out.send(
            party_only(ctx.doc, *party),
            Event::DecisionRequested {
                proposal_id: id,
                version: n,
                hash: hash.clone(),
                parties: None,
            },
        );
    }
    out.send(
        ombuds(ctx.doc),
        Event::DecisionRequested {
            proposal_id: id,
            version: n,
            hash,
            parties: Some(asked.clone()),
        },
    );
    p.call = Some(CallRec {
        version: n,
        asked,
        decisions: Default::default(),
    });
    out.puts.push((proposal_key(id), Obj::Proposal(p)));
    Ok(out)
}

pub(super) fn decide(
    ctx: &Ctx,
    view: &View,
    id: ProposalId,
    n: u32,
    hash: &str,
    verdict: Verdict,
    note: Option<&str>,
) -> Result<Outcome, Flow> {
    let mut p = partys_proposal(ctx, view, id, n)?;
    if p.concluded.is_some() {
        return Err(RoomError::conflict("this agreement is already concluded").into());
    }
    // The title, for the news that the agreement is concluded.
    let title = version(view, id, n)?
        .map(|v| v.title.clone())
        .unwrap_or_default();
    let me = ctx.actor.id;
    let Some(call) = p.call.as_mut().filter(|c| c.asked.contains(&me)) else {
        return Err(RoomError::conflict("no decision is asked of you on this proposal").into());
    };
    // As with consent: a decision counts only for the exact words called.
    if call.version != n || p.hashes.get(n as usize - 1).map(String::as_str) != Some(hash) {
        return Err(RoomError::conflict(format!(
            "version {n} with that hash is not the one called; version {} awaits your decision",
            call.version
        ))
        .into());
    }
    if let Some(note) = note {
        if verdict == Verdict::Accept {
            return Err(RoomError::invalid("a `note` goes with a decline only").into());
        }
        check_body(note)?;
    }
    call.decisions.insert(
        me,
        DecisionRec {
            verdict,
            at: ctx.now,
        },
    );
    let concluded = call.all_accepted();
    let mut out = Outcome {
        result: AckResult::Decided(DecidedAck {
            proposal_id: id,
            version: n,
            verdict,
            concluded,
        }),
        ..Outcome::default()
    };
    out.send(
        audience(ctx.doc, Channel::Private(me)),
        Event::Decided {
            proposal_id: id,
            version: n,
            party_id: me,
            verdict,
            note: note.map(String::from),
            at: ctx.now,
        },
    );
    if concluded {
        let accepted: Vec<Acceptance> = call
            .asked
            .iter()
            .filter_map(|party| {
                call.decisions.get(party).map(|d| Acceptance {
                    party_id: *party,
                    at: d.at,
                })
            })
            .collect();
        let concluded = |accepted| Event::AgreementConcluded {
            proposal_id: id,
            version: n,
            hash: hash.to_string(),
            title: title.clone(),
            at: ctx.now,
            accepted,
        };
        for party in &call.asked {
            out.send(party_only(ctx.doc, *party), concluded(None));
        }
        out.send(ombuds(ctx.doc), concluded(Some(accepted)));
        p.concluded = Some(ctx.now);
    }
    out.puts.push((proposal_key(id), Obj::Proposal(p)));
    Ok(out)
}

pub(super) fn range_open(
    ctx: &Ctx,
    title: &str,
    unit: &str,
    ceilings: &[ParticipantId],
    floors: &[ParticipantId],
    ombuds_see_bounds: bool,
    new_id: NewId,
) -> Result<Outcome, Flow> {
    require_ombud(ctx)?;
    check_title(title)?;
    if unit.chars().count() > MAX_UNIT_CHARS {
        return Err(RoomError::invalid(format!(
            "`unit` must be at most {MAX_UNIT_CHARS} characters"
        ))
        .into());
    }
    let mut seats = std::collections::BTreeMap::new();
    for (ids, side, field) in [
        (ceilings, RangeSide::Ceiling, "ceilings"),
        (floors, RangeSide::Floor, "floors"),
    ] {
        if ids.is_empty() {
            continue;
        }
        for p in parties(ctx, ids, field)? {
            if seats.insert(p, side).is_some() {
                return Err(
                    RoomError::invalid("a party cannot give both a ceiling and a floor").into(),
                );
            }
        }
    }
    if seats.is_empty() {
        return Err(RoomError::invalid("a range question must ask at least one party").into());
    }
    let r = RangeRec {
        id: new_id(),
        title: title.to_string(),
        unit: unit.to_string(),
        seats,
        ombuds_see_bounds,
        bounds: Default::default(),
        open: true,
    };
    let mut out = Outcome {
        result: AckResult::Range(RangeAck {
            range_id: r.id,
            open: true,
        }),
        ..Outcome::default()
    };
    let opened = |side, seats| Event::RangeOpened {
        range_id: r.id,
        title: r.title.clone(),
        unit: r.unit.clone(),
        ombuds_see_bounds,
        side,
        seats,
    };
    for (p, side) in &r.seats {
        out.send(party_only(ctx.doc, *p), opened(Some(*side), None));
    }
    let seats = r
        .seats
        .iter()
        .map(|(p, side)| RangeSeat {
            party_id: *p,
            side: *side,
        })
        .collect();
    out.send(ombuds(ctx.doc), opened(None, Some(seats)));
    out.puts.push((range_key(r.id), Obj::Range(r)));
    Ok(out)
}

pub(super) fn range_bound(
    ctx: &Ctx,
    view: &View,
    id: RangeId,
    value: i64,
) -> Result<Outcome, Flow> {
    require_party(ctx)?;
    let me = ctx.actor.id;
    let mut r = match range(view, id)? {
        Some(r) if r.seats.contains_key(&me) => r.clone(),
        _ => return Err(RoomError::not_found("no such range question was put to you").into()),
    };
    if !r.open {
        return Err(RoomError::conflict("this range question is closed").into());
    }
    r.bounds.insert(me, value);
    let mut out = Outcome {
        result: AckResult::Range(RangeAck {
            range_id: id,
            open: true,
        }),
        ..Outcome::default()
    };
    out.send(
        party_only(ctx.doc, me),
        Event::RangeBoundSet {
            range_id: id,
            value,
        },
    );
    out.send(ombuds(ctx.doc), progress(&r));
    out.puts.push((range_key(id), Obj::Range(r)));
    Ok(out)
}

/// Where a question stands, as the ombuds may see it.
fn progress(r: &RangeRec) -> Event {
    Event::RangeProgress {
        range_id: r.id,
        submitted: r.bounds.keys().copied().collect(),
        overlap: r.zone().map(|z| z.is_ok()),
        bounds: r.ombuds_see_bounds.then(|| {
            r.bounds
                .iter()
                .map(|(p, v)| RangeBound {
                    party_id: *p,
                    value: *v,
                })
                .collect()
        }),
    }
}

pub(super) fn range_close(
    ctx: &Ctx,
    view: &View,
    id: RangeId,
    reveal: bool,
    suggest: bool,
) -> Result<Outcome, Flow> {
    require_ombud(ctx)?;
    let mut r = range(view, id)?
        .ok_or_else(|| RoomError::not_found("no such range question"))?
        .clone();
    if !r.open {
        return Err(RoomError::conflict("this range question is already closed").into());
    }
    if suggest && !reveal {
        return Err(RoomError::invalid("`suggest` needs `reveal`").into());
    }
    let zone = r.zone().and_then(Result::ok);
    let overlap = reveal.then_some(zone.is_some());
    let suggestion = zone.filter(|_| reveal && suggest).map(midpoint);
    r.open = false;
    // Closed for good: the numbers are no longer needed, so not kept.
    r.bounds.clear();
    let mut out = Outcome {
        result: AckResult::Range(RangeAck {
            range_id: id,
            open: false,
        }),
        ..Outcome::default()
    };
    let to = r
        .seats
        .keys()
        .flat_map(|p| party_only(ctx.doc, *p))
        .chain(ombuds(ctx.doc));
    out.send(
        to,
        Event::RangeClosed {
            range_id: id,
            overlap,
            suggestion,
        },
    );
    out.puts.push((range_key(id), Obj::Range(r)));
    Ok(out)
}
