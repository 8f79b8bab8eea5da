//! The single negotiating text and range questions, decided by the pure
//! room logic and committed by the in-memory model of `sim_tests`.

use protocol::events::Event;
use protocol::onetext::{ChangeKind, RangeSide, Verdict};
use protocol::requests::{Decision, Request};
use protocol::Role;
use serde_json::Value;
use uuid::Uuid;

use super::sim_tests::Room;
use super::RoomError;

fn id(v: &Value, field: &str) -> Uuid {
    serde_json::from_value(v[field].clone()).expect("a uuid")
}

fn inbox(r: &Room, p: Uuid) -> Vec<Event> {
    r.inbox.get(&p).cloned().unwrap_or_default()
}

fn text(r: &Room, p: Uuid) -> String {
    serde_json::to_string(&inbox(r, p)).expect("events serialise")
}

fn clauses(c: &[&str]) -> Vec<String> {
    c.iter().map(|s| s.to_string()).collect()
}

fn propose(r: &mut Room, id: Option<Uuid>, title: &str, c: &[&str]) -> Value {
    let o = r.ombud;
    r.act(
        o,
        Role::Ombud,
        Request::Propose {
            proposal_id: id,
            base_version: None,
            title: title.into(),
            clauses: clauses(c),
        },
    )
    .expect("the ombud may propose")
}

fn share(r: &mut Room, p: Uuid, version: u32, to: Vec<Uuid>) {
    let o = r.ombud;
    r.act(
        o,
        Role::Ombud,
        Request::Share {
            proposal_id: p,
            version,
            to,
        },
    )
    .expect("the ombud may share");
}

fn decide(
    r: &mut Room,
    who: Uuid,
    p: Uuid,
    v: u32,
    hash: &str,
    verdict: Verdict,
) -> Result<Value, RoomError> {
    r.act(
        who,
        Role::Party,
        Request::Decide {
            proposal_id: p,
            version: v,
            hash: hash.into(),
            verdict,
            note: None,
        },
    )
}

#[test]
fn one_text_loop_ends_in_an_agreement_each_party_accepted() {
    let mut r = Room::new(true);
    let (o, [a, b]) = (r.ombud, r.parties);
    let v1 = propose(
        &mut r,
        None,
        "Lab schedule",
        &["Mornings to A", "Evenings to B"],
    );
    let pid = id(&v1, "proposal_id");
    let h1 = v1["hash"].as_str().unwrap().to_string();
    share(&mut r, pid, 1, vec![a, b]);

    // A comments privately on clause 2; B never sees it.
    let c = r
        .act(
            a,
            Role::Party,
            Request::Comment {
                proposal_id: pid,
                version: 1,
                clause: Some(2),
                body: "A-SECRET evenings are too late".into(),
                client_id: "c1".into(),
            },
        )
        .unwrap();
    let comment = id(&c["message"], "id");
    assert_eq!(c["message"]["comment_on"]["clause"], 2);
    assert!(text(&r, o).contains("A-SECRET"));
    assert!(!text(&r, b).contains("A-SECRET"));

    // Relayed with A's consent, B gets the approved words only.
    let f = r
        .act(
            o,
            Role::Ombud,
            Request::Forward {
                source_message_id: comment,
                to: vec![b],
                body: "A finds evenings too late".into(),
            },
        )
        .unwrap();
    assert!(!text(&r, b).contains("too late"));
    r.act(
        a,
        Role::Party,
        Request::Consent {
            forward_id: id(&f, "forward_id"),
            revision: 1,
            decision: Decision::Approve,
            note: None,
        },
    )
    .unwrap();
    assert!(text(&r, b).contains("A finds evenings too late"));
    assert!(!text(&r, b).contains("A-SECRET"));

    // Revised and shared again: each party sees what changed.
    let v2 = propose(
        &mut r,
        Some(pid),
        "Lab schedule",
        &["Mornings to A", "Afternoons to B"],
    );
    let h2 = v2["hash"].as_str().unwrap().to_string();
    assert_eq!(v2["version"], 2);
    share(&mut r, pid, 2, vec![a, b]);
    let shared = inbox(&r, b)
        .into_iter()
        .find_map(|e| match e {
            Event::ProposalShared {
                version: 2,
                changes,
                since,
                ..
            } => Some((changes, since)),
            _ => None,
        })
        .expect("B was shown version 2");
    assert_eq!(shared.1, Some(1));
    assert_eq!(shared.0.len(), 1);
    assert_eq!(shared.0[0].kind, ChangeKind::Changed);
    assert_eq!(shared.0[0].before.as_deref(), Some("Evenings to B"));

    r.act(
        o,
        Role::Ombud,
        Request::CallDecision {
            proposal_id: pid,
            version: 2,
            parties: vec![a, b],
        },
    )
    .unwrap();
    // A decision on the stale version, or on other words, is a conflict.
    assert!(matches!(
        decide(&mut r, a, pid, 1, &h1, Verdict::Accept),
        Err(RoomError::Conflict(_))
    ));
    assert!(matches!(
        decide(&mut r, a, pid, 2, &h1, Verdict::Accept),
        Err(RoomError::Conflict(_))
    ));
    let first = decide(&mut r, a, pid, 2, &h2, Verdict::Accept).unwrap();
    assert_eq!(first["concluded"], false);
    // B does not learn that A accepted.
    assert!(!inbox(&r, b)
        .iter()
        .any(|e| matches!(e, Event::Decided { .. })));
    let last = decide(&mut r, b, pid, 2, &h2, Verdict::Accept).unwrap();
    assert_eq!(last["concluded"], true);
    for p in [a, b, o] {
        let concluded = inbox(&r, p).into_iter().find_map(|e| match e {
            Event::AgreementConcluded { hash, accepted, .. } => Some((hash, accepted)),
            _ => None,
        });
        let (hash, accepted) = concluded.expect("everyone is told");
        assert_eq!(hash, h2);
        // Who accepted and when: the ombuds' copy only.
        assert_eq!(accepted.is_some(), p == o);
    }
    // Concluded is final.
    let again = r.act(
        o,
        Role::Ombud,
        Request::Propose {
            proposal_id: Some(pid),
            base_version: None,
            title: "t".into(),
            clauses: clauses(&["x"]),
        },
    );
    assert!(matches!(again, Err(RoomError::Conflict(_))));
}

#[test]
fn a_party_sees_only_versions_shared_with_it() {
    let mut r = Room::new(true);
    let [a, b] = r.parties;
    let v = propose(&mut r, None, "Draft", &["B-ONLY clause"]);
    let pid = id(&v, "proposal_id");
    share(&mut r, pid, 1, vec![b]);
    assert!(!text(&r, a).contains("B-ONLY"));
    assert!(text(&r, b).contains("B-ONLY"));
    // A can neither comment on it nor tell that it exists.
    let refused = r.act(
        a,
        Role::Party,
        Request::Comment {
            proposal_id: pid,
            version: 1,
            clause: None,
            body: "x".into(),
            client_id: "x".into(),
        },
    );
    assert!(matches!(refused, Err(RoomError::NotFound(_))));
    let unknown = r.act(
        a,
        Role::Party,
        Request::Comment {
            proposal_id: Uuid::new_v4(),
            version: 1,
            clause: None,
            body: "x".into(),
            client_id: "x".into(),
        },
    );
    assert_eq!(refused, unknown);
    // Parties cannot draft, share or call.
    let draft = r.act(
        a,
        Role::Party,
        Request::Propose {
            proposal_id: None,
            base_version: None,
            title: "mine".into(),
            clauses: clauses(&["x"]),
        },
    );
    assert!(matches!(draft, Err(RoomError::Forbidden(_))));
    // A decision cannot be called from a party not shown the version.
    let o = r.ombud;
    let call = r.act(
        o,
        Role::Ombud,
        Request::CallDecision {
            proposal_id: pid,
            version: 1,
            parties: vec![a, b],
        },
    );
    assert!(matches!(call, Err(RoomError::Conflict(_))));
}

#[test]
fn saving_from_a_stale_base_version_is_a_conflict() {
    let mut r = Room::new(true);
    let o = r.ombud;
    let v = propose(&mut r, None, "Draft", &["one"]);
    let pid = id(&v, "proposal_id");
    propose(&mut r, Some(pid), "Draft", &["two"]);
    let stale = r.act(
        o,
        Role::Ombud,
        Request::Propose {
            proposal_id: Some(pid),
            base_version: Some(1),
            title: "Draft".into(),
            clauses: clauses(&["three"]),
        },
    );
    assert!(matches!(stale, Err(RoomError::Conflict(_))));
    let empty = r.act(
        o,
        Role::Ombud,
        Request::Propose {
            proposal_id: Some(pid),
            base_version: Some(2),
            title: "Draft".into(),
            clauses: clauses(&["  "]),
        },
    );
    assert!(matches!(empty, Err(RoomError::Invalid(_))));
}

#[test]
fn range_bounds_stay_with_their_party_and_only_the_overlap_is_revealed() {
    let mut r = Room::new(true);
    let (o, [a, b]) = (r.ombud, r.parties);
    let open = r
        .act(
            o,
            Role::Ombud,
            Request::RangeOpen {
                title: "Settlement amount".into(),
                unit: "EUR".into(),
                ceilings: vec![a],
                floors: vec![b],
                ombuds_see_bounds: false,
            },
        )
        .unwrap();
    let rid = id(&open, "range_id");
    let bound = |r: &mut Room, who, value| {
        r.act(
            who,
            Role::Party,
            Request::RangeBound {
                range_id: rid,
                value,
            },
        )
    };
    bound(&mut r, a, 777_001).unwrap();
    bound(&mut r, a, 777_002).unwrap(); // revised
    bound(&mut r, b, 555_001).unwrap();
    assert!(!text(&r, b).contains("777001") && !text(&r, b).contains("777002"));
    assert!(!text(&r, a).contains("555001"));
    assert!(!text(&r, o).contains("777002") && !text(&r, o).contains("555001"));
    let progress = inbox(&r, o).into_iter().rev().find_map(|e| match e {
        Event::RangeProgress {
            overlap, bounds, ..
        } => Some((overlap, bounds)),
        _ => None,
    });
    assert_eq!(progress, Some((Some(true), None)));
    // Only the party asked may answer.
    assert!(r
        .act(
            o,
            Role::Ombud,
            Request::RangeBound {
                range_id: rid,
                value: 1
            }
        )
        .is_err());
    r.act(
        o,
        Role::Ombud,
        Request::RangeClose {
            range_id: rid,
            reveal: true,
            suggest: true,
        },
    )
    .unwrap();
    for p in [a, b] {
        let closed = inbox(&r, p).into_iter().find_map(|e| match e {
            Event::RangeClosed {
                overlap,
                suggestion,
                ..
            } => Some((overlap, suggestion)),
            _ => None,
        });
        assert_eq!(closed, Some((Some(true), Some((555_001 + 777_002) / 2))));
        let side = inbox(&r, p).into_iter().find_map(|e| match e {
            Event::RangeOpened { side, seats, .. } => Some((side, seats)),
            _ => None,
        });
        let mine = if p == a {
            RangeSide::Ceiling
        } else {
            RangeSide::Floor
        };
        assert_eq!(side, Some((Some(mine), None)));
    }
    assert!(matches!(bound(&mut r, a, 1), Err(RoomError::Conflict(_))));
}

#[test]
fn ombuds_see_bounds_only_when_the_question_allows_it() {
    let mut r = Room::new(true);
    let (o, [a, b]) = (r.ombud, r.parties);
    let open = r
        .act(
            o,
            Role::Ombud,
            Request::RangeOpen {
                title: "Days of notice".into(),
                unit: "days".into(),
                ceilings: vec![a],
                floors: vec![b],
                ombuds_see_bounds: true,
            },
        )
        .unwrap();
    let rid = id(&open, "range_id");
    r.act(
        a,
        Role::Party,
        Request::RangeBound {
            range_id: rid,
            value: 30,
        },
    )
    .unwrap();
    r.act(
        b,
        Role::Party,
        Request::RangeBound {
            range_id: rid,
            value: 45,
        },
    )
    .unwrap();
    let last = inbox(&r, o).into_iter().rev().find_map(|e| match e {
        Event::RangeProgress {
            overlap, bounds, ..
        } => Some((overlap, bounds.map(|b| b.len()))),
        _ => None,
    });
    assert_eq!(last, Some((Some(false), Some(2))));
    r.act(
        o,
        Role::Ombud,
        Request::RangeClose {
            range_id: rid,
            reveal: true,
            suggest: true,
        },
    )
    .unwrap();
    let closed = inbox(&r, a).into_iter().find_map(|e| match e {
        Event::RangeClosed {
            overlap,
            suggestion,
            ..
        } => Some((overlap, suggestion)),
        _ => None,
    });
    assert_eq!(closed, Some((Some(false), None)), "no overlap, no figure");
}

/// Steps of the randomised isolation test (`sim_tests`) that drive
/// proposals, comments, decisions and range questions.
#[derive(Debug, Clone)]
pub(super) enum OtStep {
    Propose(bool),
    Share(usize),
    Comment(usize),
    Call,
    Decide(usize, bool, bool),
    RangeOpen(bool),
    Bound(usize),
    RangeClose(bool, bool),
}

pub(super) fn ot_step() -> impl proptest::strategy::Strategy<Value = OtStep> {
    use proptest::prelude::*;
    prop_oneof![
        2 => any::<bool>().prop_map(OtStep::Propose),
        2 => (0..2usize).prop_map(OtStep::Share),
        2 => (0..2usize).prop_map(OtStep::Comment),
        1 => Just(OtStep::Call),
        2 => (0..2usize, any::<bool>(), any::<bool>()).prop_map(|(p, a, s)| OtStep::Decide(p, a, s)),
        1 => any::<bool>().prop_map(OtStep::RangeOpen),
        2 => (0..2usize).prop_map(OtStep::Bound),
        1 => (any::<bool>(), any::<bool>()).prop_map(|(r, s)| OtStep::RangeClose(r, s)),
    ]
}

/// What the one-text steps did, to check each party's inbox against.
#[derive(Default)]
pub(super) struct OtState {
    /// The current proposal: id, and (hash, marker) of each version.
    proposal: Option<(Uuid, Vec<(String, String)>)>,
    /// Markers of every version, and those shown to each party.
    all_markers: Vec<String>,
    shown: [Vec<String>; 2],
    /// Versions each party was shown of the current proposal.
    shown_now: [Vec<u32>; 2],
    call: Option<u32>,
    /// Decline notes: they go to the ombuds and never to the other party.
    notes: [Vec<String>; 2],
    range: Option<Uuid>,
    bounds: [Vec<i64>; 2],
}

impl OtState {
    /// Applies one step; a comment's secret is added to `secrets` and made
    /// the party's latest message, so a later `Forward` step may relay it.
    pub(super) fn step(
        &mut self,
        r: &mut Room,
        s: OtStep,
        n: usize,
        secrets: &mut [Vec<String>; 2],
        last: &mut [Option<(Uuid, String)>; 2],
    ) {
        let (o, ps) = (r.ombud, r.parties);
        match s {
            OtStep::Propose(fresh) => {
                let marker = format!("VER{n}.");
                let id = if fresh {
                    None
                } else {
                    self.proposal.as_ref().map(|p| p.0)
                };
                let req = Request::Propose {
                    proposal_id: id,
                    base_version: None,
                    title: format!("title {marker}"),
                    clauses: vec![format!("clause {marker}"), "shared words".into()],
                };
                if let Ok(ack) = r.act(o, Role::Ombud, req) {
                    let pid: Uuid = serde_json::from_value(ack["proposal_id"].clone()).unwrap();
                    let hash = ack["hash"].as_str().unwrap().to_string();
                    if id.is_none() {
                        self.proposal = Some((pid, vec![]));
                        self.shown_now = [vec![], vec![]];
                        self.call = None;
                    }
                    self.proposal
                        .as_mut()
                        .unwrap()
                        .1
                        .push((hash, marker.clone()));
                    self.all_markers.push(marker);
                }
            }
            OtStep::Share(p) => {
                let Some((pid, versions)) = &self.proposal else {
                    return;
                };
                let v = versions.len() as u32;
                let req = Request::Share {
                    proposal_id: *pid,
                    version: v,
                    to: vec![ps[p]],
                };
                if r.act(o, Role::Ombud, req).is_ok() {
                    self.shown[p].push(versions[v as usize - 1].1.clone());
                    self.shown_now[p].push(v);
                }
            }
            OtStep::Comment(p) => {
                let (Some((pid, _)), Some(v)) = (&self.proposal, self.shown_now[p].last()) else {
                    return;
                };
                let secret = format!("S{p}x{n}.");
                let req = Request::Comment {
                    proposal_id: *pid,
                    version: *v,
                    clause: Some(1),
                    body: format!("comment {secret}"),
                    client_id: format!("k{n}"),
                };
                let ack = r
                    .act(ps[p], Role::Party, req)
                    .expect("a party may comment on what it was shown");
                let id: Uuid = serde_json::from_value(ack["message"]["id"].clone()).unwrap();
                last[p] = Some((id, secret.clone()));
                secrets[p].push(secret);
            }
            OtStep::Call => {
                let Some((pid, versions)) = &self.proposal else {
                    return;
                };
                let v = versions.len() as u32;
                let asked: Vec<Uuid> = (0..2)
                    .filter(|p| self.shown_now[*p].contains(&v))
                    .map(|p| ps[p])
                    .collect();
                let req = Request::CallDecision {
                    proposal_id: *pid,
                    version: v,
                    parties: asked,
                };
                if r.act(o, Role::Ombud, req).is_ok() {
                    self.call = Some(v);
                }
            }
            OtStep::Decide(p, accept, stale) => {
                let (Some((pid, versions)), Some(v)) = (&self.proposal, self.call) else {
                    return;
                };
                let v = if stale { v.saturating_sub(1).max(1) } else { v };
                let note = (!accept).then(|| format!("N{p}x{n}."));
                let req = Request::Decide {
                    proposal_id: *pid,
                    version: v,
                    hash: versions[v as usize - 1].0.clone(),
                    verdict: if accept {
                        Verdict::Accept
                    } else {
                        Verdict::Decline
                    },
                    note: note.clone(),
                };
                let res = r.act(ps[p], Role::Party, req);
                if stale && Some(v) != self.call {
                    assert!(res.is_err(), "a decision on a stale version is refused");
                }
                if res.is_ok() {
                    self.notes[p].extend(note);
                }
            }
            OtStep::RangeOpen(see) => {
                let req = Request::RangeOpen {
                    title: "amount".into(),
                    unit: "EUR".into(),
                    ceilings: vec![ps[0]],
                    floors: vec![ps[1]],
                    ombuds_see_bounds: see,
                };
                let ack = r
                    .act(o, Role::Ombud, req)
                    .expect("the ombud may open a range question");
                self.range = serde_json::from_value(ack["range_id"].clone()).ok();
            }
            OtStep::Bound(p) => {
                let Some(rid) = self.range else {
                    return;
                };
                // Distinct from every other number in a frame.
                let value = 7_000_000_000 + (n as i64) * 10 + p as i64;
                let req = Request::RangeBound {
                    range_id: rid,
                    value,
                };
                if r.act(ps[p], Role::Party, req).is_ok() {
                    self.bounds[p].push(value);
                }
            }
            OtStep::RangeClose(reveal, suggest) => {
                let Some(rid) = self.range else {
                    return;
                };
                let req = Request::RangeClose {
                    range_id: rid,
                    reveal,
                    suggest: suggest && reveal,
                };
                let _ = r.act(o, Role::Ombud, req);
            }
        }
    }

    /// No party received a version it was not shown, another party's
    /// decision, note or bound, or anything meant for the ombuds alone.
    pub(super) fn check(&self, r: &Room) {
        for p in 0..2 {
            let me = r.parties[p];
            let events = inbox(r, me);
            let frames = text(r, me);
            for m in &self.all_markers {
                assert!(
                    !frames.contains(m.as_str()) || self.shown[p].contains(m),
                    "party {p} received version {m} it was not shown"
                );
            }
            for note in &self.notes[1 - p] {
                assert!(!frames.contains(note.as_str()), "party {p} received a note");
            }
            for e in events {
                match e {
                    Event::ProposalVersion { .. }
                    | Event::ProposalShown { .. }
                    | Event::RangeProgress { .. } => panic!("party {p} received {e:?}"),
                    Event::Decided { party_id, .. } => assert_eq!(party_id, me),
                    Event::DecisionRequested { parties, .. } => assert!(parties.is_none()),
                    Event::AgreementConcluded { accepted, .. } => assert!(accepted.is_none()),
                    Event::RangeOpened { seats, .. } => assert!(seats.is_none()),
                    Event::RangeBoundSet { value, .. } => {
                        assert!(self.bounds[p].contains(&value), "another party's bound")
                    }
                    _ => {}
                }
            }
            for value in &self.bounds[1 - p] {
                assert!(
                    !frames.contains(&value.to_string()),
                    "party {p} saw a bound"
                );
            }
        }
    }
}
