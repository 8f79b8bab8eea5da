//! The room logic without sockets or stores: a tiny in-memory model commits
//! each `Outcome`, so thousands of random action sequences run in seconds
//! and check the isolation invariant at its source.

use std::collections::{HashMap, HashSet};

use chrono::Utc;
use proptest::prelude::*;
use protocol::events::Event;
use protocol::requests::{Decision, Request};
use protocol::{Attribution, Channel, Role};
use uuid::Uuid;

use super::logic::{apply, Ctx, Flow, View};
use super::*;
use crate::config::Office;

pub(super) struct Room {
    pub(super) doc: RoomDoc,
    pub(super) objs: HashMap<String, Obj>,
    pub(super) inbox: HashMap<Uuid, Vec<Event>>,
    pub(super) ombud: Uuid,
    pub(super) parties: [Uuid; 2],
    office: Office,
}

impl Room {
    pub(super) fn new(consent: bool) -> Room {
        let ombud = Uuid::new_v4();
        let parties = [Uuid::new_v4(), Uuid::new_v4()];
        let party = |id, name: &str| PartyRec {
            id,
            display_name: name.into(),
            joined: true,
            left: false,
            notice_acknowledged: true,
            link_gen: 0,
            link_used: true,
            last_online_at: None,
        };
        let doc = RoomDoc {
            id: Uuid::new_v4(),
            title: "t".into(),
            consent_required: consent,
            attribution: Attribution::Named,
            retention_hours: 1,
            created_at: Utc::now(),
            expire_at_ms: i64::MAX,
            ombuds: vec![Member {
                id: ombud,
                display_name: "O".into(),
            }],
            parties: vec![party(parties[0], "A"), party(parties[1], "B")],
            joint_open: false,
            categories: vec![],
            category_months: Default::default(),
            sensitive_terms: vec![],
            usage: Default::default(),
            intake: None,
        };
        Room {
            doc,
            objs: HashMap::new(),
            inbox: HashMap::new(),
            ombud,
            parties,
            office: Office::default(),
        }
    }

    /// Applies `req` as `who` and commits the outcome, as the service does.
    pub(super) fn act(
        &mut self,
        who: Uuid,
        role: Role,
        req: Request,
    ) -> Result<serde_json::Value, RoomError> {
        let actor = self
            .doc
            .actor(who, role)
            .ok_or_else(|| RoomError::forbidden("gone"))?;
        let mut view = View::default();
        let out = loop {
            let ctx = Ctx {
                doc: &self.doc,
                actor: &actor,
                office: &self.office,
                now: Utc::now(),
            };
            match apply(&ctx, &view, &req, &mut Uuid::new_v4) {
                Ok(out) => break out,
                Err(Flow::Need(keys)) => {
                    for k in keys {
                        let v = self.objs.get(&k).cloned();
                        view.objs.insert(k, v);
                    }
                }
                Err(Flow::NeedInbox(p)) => {
                    let events = self.inbox.get(&p).cloned().unwrap_or_default();
                    view.inboxes.insert(p, events);
                }
                Err(Flow::Fail(e)) => return Err(e),
            }
        };
        if let Some(doc) = out.doc {
            self.doc = doc;
        }
        self.objs.extend(out.puts);
        for (p, e) in out.deliveries {
            self.inbox.entry(p).or_default().push(e);
        }
        Ok(serde_json::to_value(out.result).expect("acks serialise"))
    }
}

#[derive(Debug, Clone)]
enum Step {
    Send(usize),
    Forward(usize, bool),
    Update(usize, bool),
    Decide(usize, bool),
    EditCopy(bool),
    Retract(usize),
    RetractCopy,
    Withdraw(usize),
    Joint(bool),
    JointSend(usize),
    Pry(usize),
    /// Proposals, comments, decisions and range questions.
    OneText(super::onetext_tests::OtStep),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0..2usize).prop_map(Step::Send),
        3 => (0..2usize, any::<bool>()).prop_map(|(p, v)| Step::Forward(p, v)),
        2 => (0..2usize, any::<bool>()).prop_map(|(p, v)| Step::Update(p, v)),
        3 => (0..2usize, any::<bool>()).prop_map(|(p, a)| Step::Decide(p, a)),
        1 => any::<bool>().prop_map(Step::EditCopy),
        1 => (0..2usize).prop_map(Step::Retract),
        1 => Just(Step::RetractCopy),
        1 => (0..2usize).prop_map(Step::Withdraw),
        1 => any::<bool>().prop_map(Step::Joint),
        1 => (0..2usize).prop_map(Step::JointSend),
        1 => (0..2usize).prop_map(Step::Pry),
        6 => super::onetext_tests::ot_step().prop_map(Step::OneText),
    ]
}

fn uuid(v: &serde_json::Value) -> Uuid {
    serde_json::from_value(v.clone()).expect("a uuid")
}

fn uuids(v: &serde_json::Value) -> Vec<Uuid> {
    serde_json::from_value(v.clone()).expect("a list of uuids")
}

fn revision(ack: &serde_json::Value) -> u32 {
    ack["revision"].as_u64().expect("a revision") as u32
}

fn text_of(e: &Event) -> String {
    serde_json::to_string(e).expect("events serialise")
}

fn run(consent: bool, steps: Vec<Step>) {
    let mut r = Room::new(consent);
    let (o, ps) = (r.ombud, r.parties);
    let mut last: [Option<(Uuid, String)>; 2] = [None, None];
    // Forwards by source party: (forward id, revision, body).
    let mut fwds: [Vec<(Uuid, u32, String)>; 2] = [vec![], vec![]];
    let mut secrets: [Vec<String>; 2] = [vec![], vec![]];
    let mut approved: HashSet<String> = HashSet::new();
    // Relayed copies, with the party whose words they carry.
    let mut copies: Vec<(Uuid, usize)> = vec![];
    let mut onetext = super::onetext_tests::OtState::default();
    for (n, s) in steps.into_iter().enumerate() {
        match s {
            Step::OneText(step) => onetext.step(&mut r, step, n, &mut secrets, &mut last),
            Step::Send(p) => {
                // Terminated, so no secret is a prefix of another ("S1x1" of "S1x10").
                let secret = format!("S{p}x{n}.");
                let req = Request::Send {
                    channel: Channel::Private(ps[p]),
                    body: format!("words {secret}"),
                    client_id: format!("c{n}"),
                    shareable: true,
                };
                let res = r
                    .act(ps[p], Role::Party, req)
                    .expect("a party may write in its thread");
                let id = uuid(&res["message"]["id"]);
                last[p] = Some((id, secret.clone()));
                secrets[p].push(secret);
            }
            Step::Forward(p, verbatim) => {
                let Some((src, secret)) = last[p].clone() else {
                    continue;
                };
                let body = if verbatim {
                    format!("fwd {secret}")
                } else {
                    format!("fwd redacted {n}")
                };
                let req = Request::Forward {
                    source_message_id: src,
                    to: vec![ps[1 - p]],
                    body: body.clone(),
                };
                if let Ok(res) = r.act(o, Role::Ombud, req) {
                    if !consent && verbatim {
                        approved.insert(secret);
                    }
                    copies.extend(uuids(&res["delivered"]).into_iter().map(|id| (id, p)));
                    fwds[p].push((uuid(&res["forward_id"]), revision(&res), body));
                }
            }
            Step::Update(p, verbatim) => {
                let Some((fid, _, _)) = fwds[p].last().cloned() else {
                    continue;
                };
                let secret = last[p].as_ref().map(|l| l.1.clone()).unwrap_or_default();
                let body = if verbatim {
                    format!("upd {secret}")
                } else {
                    format!("upd redacted {n}")
                };
                let req = Request::ForwardUpdate {
                    forward_id: fid,
                    body: body.clone(),
                };
                if let Ok(res) = r.act(o, Role::Ombud, req) {
                    if !consent && verbatim {
                        approved.insert(secret);
                    }
                    *fwds[p].last_mut().unwrap() = (fid, revision(&res), body);
                }
            }
            Step::Decide(p, approve) => {
                let Some((fid, rev, body)) = fwds[p].last().cloned() else {
                    continue;
                };
                let decision = if approve {
                    Decision::Approve
                } else {
                    Decision::Decline
                };
                let req = Request::Consent {
                    forward_id: fid,
                    revision: rev,
                    decision,
                    note: None,
                };
                if let Ok(res) = r.act(ps[p], Role::Party, req) {
                    if approve {
                        approved.extend(
                            secrets[p]
                                .iter()
                                .filter(|s| body.contains(s.as_str()))
                                .cloned(),
                        );
                        copies.extend(uuids(&res["delivered"]).into_iter().map(|id| (id, p)));
                    }
                }
                // A stale revision is never accepted.
                if rev > 1 {
                    let stale = Request::Consent {
                        forward_id: fid,
                        revision: rev - 1,
                        decision: Decision::Approve,
                        note: None,
                    };
                    assert!(r.act(ps[p], Role::Party, stale).is_err());
                }
            }
            Step::EditCopy(verbatim) => {
                let Some((copy, p)) = copies.last().copied() else {
                    continue;
                };
                let secret = last[p].as_ref().map(|l| l.1.clone()).unwrap_or_default();
                let body = if verbatim {
                    format!("edit {secret}")
                } else {
                    format!("edit redacted {n}")
                };
                let _ = r.act(
                    o,
                    Role::Ombud,
                    Request::Edit {
                        message_id: copy,
                        body,
                    },
                );
                if !consent && verbatim {
                    approved.insert(secret);
                }
            }
            Step::Retract(p) => {
                let Some((id, _)) = last[p].clone() else {
                    continue;
                };
                let _ = r.act(ps[p], Role::Party, Request::Retract { message_id: id });
            }
            Step::RetractCopy => {
                let Some((copy, _)) = copies.pop() else {
                    continue;
                };
                let _ = r.act(o, Role::Ombud, Request::Retract { message_id: copy });
            }
            Step::Withdraw(p) => {
                let Some((fid, _, _)) = fwds[p].last().cloned() else {
                    continue;
                };
                let _ = r.act(o, Role::Ombud, Request::ForwardWithdraw { forward_id: fid });
            }
            Step::Joint(open) => {
                r.act(o, Role::Ombud, Request::Joint { open })
                    .expect("the ombud opens and closes");
            }
            Step::JointSend(p) => {
                let req = Request::Send {
                    channel: Channel::Joint,
                    body: format!("J{n}"),
                    client_id: format!("j{n}"),
                    shareable: true,
                };
                let _ = r.act(ps[p], Role::Party, req);
            }
            Step::Pry(victim) => {
                let thief = ps[1 - victim];
                if let Some((id, _)) = last[victim].clone() {
                    assert!(r
                        .act(
                            thief,
                            Role::Party,
                            Request::Edit {
                                message_id: id,
                                body: "x".into()
                            }
                        )
                        .is_err());
                    assert!(r
                        .act(thief, Role::Party, Request::Retract { message_id: id })
                        .is_err());
                    let fwd = Request::Forward {
                        source_message_id: id,
                        to: vec![thief],
                        body: "x".into(),
                    };
                    assert!(r.act(thief, Role::Party, fwd).is_err());
                }
                let send = Request::Send {
                    channel: Channel::Private(ps[victim]),
                    body: "x".into(),
                    client_id: format!("p{n}"),
                    shareable: true,
                };
                assert!(matches!(
                    r.act(thief, Role::Party, send),
                    Err(RoomError::Forbidden(_))
                ));
            }
        }
    }
    onetext.check(&r);
    for p in 0..2 {
        let frames: Vec<String> = r
            .inbox
            .get(&ps[p])
            .map(|v| v.iter().map(text_of).collect())
            .unwrap_or_default();
        for secret in &secrets[1 - p] {
            if frames.iter().any(|f| f.contains(secret.as_str())) {
                assert!(
                    approved.contains(secret),
                    "party {p} received {secret} without consent"
                );
            }
        }
        // Notes never reach a party.
        assert!(!frames.iter().any(|f| f.contains("\"notes\"")));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn consent_rooms_never_leak_a_partys_words(steps in proptest::collection::vec(step(), 1..60)) {
        run(true, steps);
    }

    #[test]
    fn rooms_without_consent_leak_only_what_the_ombud_relayed(steps in proptest::collection::vec(step(), 1..60)) {
        run(false, steps);
    }
}

#[test]
fn audiences_follow_the_channel() {
    let r = Room::new(true);
    let (o, [a, b]) = (r.ombud, r.parties);
    assert_eq!(logic::audience(&r.doc, Channel::Private(a)), vec![a, o]);
    assert_eq!(logic::audience(&r.doc, Channel::Notes), vec![o]);
    let joint: HashSet<Uuid> = logic::audience(&r.doc, Channel::Joint)
        .into_iter()
        .collect();
    assert_eq!(joint, HashSet::from([a, b, o]));
}
