//! What the relay stores about proposals and range questions, and the pure
//! calculations on them: a version's hash, the clause-level diff a party is
//! shown, and whether private bounds overlap. The request arms that use
//! them are in `logic::onetext`.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use protocol::onetext::{ChangeKind, ClauseChange, ProposalId, RangeId, RangeSide, Verdict};
use protocol::ParticipantId;
use serde::{Deserialize, Serialize};

/// A proposal without its text: each version is a [`VersionRec`] of its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProposalRec {
    pub id: ProposalId,
    /// The hash of each version, oldest first (version `n` at `n - 1`).
    pub hashes: Vec<String>,
    /// The versions each party was shown, so a comment or a decision can
    /// only be about words the party read, and a diff starts from the last.
    pub shown: BTreeMap<ParticipantId, BTreeSet<u32>>,
    pub call: Option<CallRec>,
    /// Set once every party called accepted; the proposal is then final.
    pub concluded: Option<DateTime<Utc>>,
}

impl ProposalRec {
    pub fn latest(&self) -> u32 {
        self.hashes.len() as u32
    }

    pub fn hash(&self, version: u32) -> Option<&str> {
        let i = version.checked_sub(1)?;
        self.hashes.get(i as usize).map(String::as_str)
    }

    pub fn was_shown(&self, party: ParticipantId, version: u32) -> bool {
        self.shown.get(&party).is_some_and(|v| v.contains(&version))
    }

    /// The newest version `party` was shown before now.
    pub fn last_shown(&self, party: ParticipantId) -> Option<u32> {
        self.shown
            .get(&party)
            .and_then(|v| v.iter().next_back().copied())
    }
}

/// A call for decision on one version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallRec {
    pub version: u32,
    pub asked: Vec<ParticipantId>,
    pub decisions: BTreeMap<ParticipantId, DecisionRec>,
}

impl CallRec {
    pub fn all_accepted(&self) -> bool {
        self.asked.iter().all(|p| {
            self.decisions
                .get(p)
                .is_some_and(|d| d.verdict == Verdict::Accept)
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionRec {
    pub verdict: Verdict,
    pub at: DateTime<Utc>,
}

/// One immutable version of a proposal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionRec {
    pub proposal_id: ProposalId,
    pub version: u32,
    pub hash: String,
    pub title: String,
    pub clauses: Vec<String>,
    pub by: ParticipantId,
    pub at: DateTime<Utc>,
}

/// A range question. `bounds` never leave the relay except to the party
/// that gave each one (and to the ombuds if `ombuds_see_bounds`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RangeRec {
    pub id: RangeId,
    pub title: String,
    pub unit: String,
    pub seats: BTreeMap<ParticipantId, RangeSide>,
    pub ombuds_see_bounds: bool,
    pub bounds: BTreeMap<ParticipantId, i64>,
    pub open: bool,
}

impl RangeRec {
    /// Whether the bounds overlap, once every party asked has given one:
    /// the highest floor is at most the lowest ceiling. With overlap, the
    /// zone of agreement (highest floor, lowest ceiling).
    pub fn zone(&self) -> Option<Result<(i64, i64), ()>> {
        if self.seats.keys().any(|p| !self.bounds.contains_key(p)) {
            return None;
        }
        let side = |s: RangeSide| {
            self.seats
                .iter()
                .filter(move |(_, side)| **side == s)
                .map(|(p, _)| self.bounds[p])
        };
        let floor = side(RangeSide::Floor).max();
        let ceiling = side(RangeSide::Ceiling).min();
        Some(match (floor, ceiling) {
            (Some(f), Some(c)) if f <= c => Ok((f, c)),
            (Some(_), Some(_)) => Err(()),
            // Only one side asked: any bounds agree with themselves.
            (Some(f), None) => Ok((f, f)),
            (None, Some(c)) => Ok((c, c)),
            (None, None) => Err(()),
        })
    }
}

/// Midpoint of a zone of agreement, rounded down, without overflow.
pub fn midpoint((lo, hi): (i64, i64)) -> i64 {
    ((lo as i128 + hi as i128).div_euclid(2)) as i64
}

pub fn proposal_key(id: ProposalId) -> String {
    format!("p:{id}")
}
pub fn version_key(id: ProposalId, version: u32) -> String {
    format!("pv:{id}:{version}")
}
pub fn range_key(id: RangeId) -> String {
    format!("r:{id}")
}

/// The SHA-256 of a version's content (title and clauses), in hex. The
/// JSON form is unambiguous where a plain concatenation would not be.
pub fn content_hash(title: &str, clauses: &[String]) -> String {
    use sha2::{Digest, Sha256};
    let canonical = serde_json::to_vec(&(title, clauses)).expect("strings serialise");
    hex::encode(Sha256::digest(canonical))
}

/// The clause-level changes from `old` to `new`: clauses both share (by
/// longest common subsequence) are unchanged; between two shared clauses,
/// old and new clauses pair up as changed, and the rest are removed or added.
pub fn diff(old: &[String], new: &[String]) -> Vec<ClauseChange> {
    let (n, m) = (old.len(), new.len());
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if old[i] == new[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    let (mut gap_old, mut gap_new) = (Vec::new(), Vec::new());
    let flush = |gap_old: &mut Vec<usize>, gap_new: &mut Vec<usize>, out: &mut Vec<_>| {
        let pairs = gap_old.len().max(gap_new.len());
        for k in 0..pairs {
            let (o, nw) = (gap_old.get(k).copied(), gap_new.get(k).copied());
            let kind = match (o, nw) {
                (Some(_), Some(_)) => ChangeKind::Changed,
                (Some(_), None) => ChangeKind::Removed,
                _ => ChangeKind::Added,
            };
            out.push(ClauseChange {
                kind,
                clause: nw.map(|x| x as u32 + 1),
                was: o.map(|x| x as u32 + 1),
                before: o.map(|x| old[x].clone()),
            });
        }
        gap_old.clear();
        gap_new.clear();
    };
    while i < n || j < m {
        if i < n && j < m && old[i] == new[j] {
            flush(&mut gap_old, &mut gap_new, &mut out);
            i += 1;
            j += 1;
        } else if j < m && (i == n || lcs[i][j + 1] >= lcs[i + 1][j]) {
            gap_new.push(j);
            j += 1;
        } else {
            gap_old.push(i);
            i += 1;
        }
    }
    flush(&mut gap_old, &mut gap_new, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn diff_names_added_removed_and_changed_clauses() {
        let old = v(&["pay 100", "by May", "no admission"]);
        let new = v(&["pay 120", "by May", "no admission", "confidential"]);
        let d = diff(&old, &new);
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].kind, ChangeKind::Changed);
        assert_eq!((d[0].clause, d[0].was), (Some(1), Some(1)));
        assert_eq!(d[0].before.as_deref(), Some("pay 100"));
        assert_eq!(d[1].kind, ChangeKind::Added);
        assert_eq!((d[1].clause, d[1].was), (Some(4), None));
        let d = diff(&new, &v(&["by May", "confidential"]));
        let kinds: Vec<_> = d.iter().map(|c| (c.kind, c.was)).collect();
        assert_eq!(
            kinds,
            vec![
                (ChangeKind::Removed, Some(1)),
                (ChangeKind::Removed, Some(3))
            ]
        );
        assert!(diff(&old, &old).is_empty());
    }

    #[test]
    fn content_hash_depends_on_every_word_and_boundary() {
        let a = content_hash("T", &v(&["ab", "c"]));
        assert_eq!(a, content_hash("T", &v(&["ab", "c"])));
        assert_ne!(a, content_hash("T", &v(&["a", "bc"])));
        assert_ne!(a, content_hash("U", &v(&["ab", "c"])));
        assert_eq!(a.len(), 64);
    }

    #[test]
    fn bounds_overlap_when_the_highest_floor_is_at_most_the_lowest_ceiling() {
        let (a, b) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
        let mut r = RangeRec {
            id: uuid::Uuid::new_v4(),
            title: "amount".into(),
            unit: "EUR".into(),
            seats: BTreeMap::from([(a, RangeSide::Ceiling), (b, RangeSide::Floor)]),
            ombuds_see_bounds: false,
            bounds: BTreeMap::from([(a, 5000)]),
            open: true,
        };
        assert_eq!(r.zone(), None, "not every bound is in");
        r.bounds.insert(b, 4000);
        assert_eq!(r.zone(), Some(Ok((4000, 5000))));
        assert_eq!(midpoint((4000, 5000)), 4500);
        r.bounds.insert(b, 6000);
        assert_eq!(r.zone(), Some(Err(())));
        assert_eq!(midpoint((i64::MAX, i64::MAX)), i64::MAX);
    }
}
