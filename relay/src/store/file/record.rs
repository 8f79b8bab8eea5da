//! The rows of a room's log: each is one [`Record`] in a compact binary
//! encoding, read without copying (`decode` borrows from the row).
//!
//! Encoding: a tag byte, then fields in order. Integers are LEB128
//! varints (signed ones zigzagged), byte strings a varint length then the
//! bytes, an optional byte string a 0 or 1 byte first, a list a varint
//! count then its items, a participant its 16 raw bytes.
//!
//! | tag | record  | fields                                                      |
//! |-----|---------|-------------------------------------------------------------|
//! | 1   | commit  | version, doc?, puts (key, value), deliveries (participant, seq, payload), counts (field, delta) |
//! | 2   | invite  | code, value? (absent once spent)                            |

use crate::store::ParticipantId;

const COMMIT: u8 = 1;
const INVITE: u8 = 2;

/// One row of a room's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Record<'a> {
    Commit(Entry<'a>),
    Invite {
        code: &'a str,
        /// `None` once the invite is spent.
        value: Option<&'a [u8]>,
    },
}

/// What one commit (or the room's creation) wrote: the version it made,
/// and whatever of its doc and objects no later commit has replaced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Entry<'a> {
    pub version: u64,
    pub doc: Option<&'a [u8]>,
    pub puts: Vec<(&'a str, &'a [u8])>,
    pub deliveries: Vec<(ParticipantId, u64, &'a [u8])>,
    pub counts: Vec<(&'a str, i64)>,
}

impl Record<'_> {
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Record::Commit(entry) => entry.encode(),
            Record::Invite { code, value } => {
                let mut out = Vec::with_capacity(code.len() + value.map_or(0, <[u8]>::len) + 8);
                out.push(INVITE);
                bytes(&mut out, code.as_bytes());
                optional(&mut out, *value);
                out
            }
        }
    }
}

impl Entry<'_> {
    /// The value this row holds for object `key`, if it still does.
    pub fn object(&self, key: &str) -> Option<&[u8]> {
        self.puts.iter().rev().find(|(k, _)| *k == key).map(|p| p.1)
    }

    /// The event this row holds for `participant` at `seq`.
    pub fn event(&self, participant: ParticipantId, seq: u64) -> Option<&[u8]> {
        self.deliveries
            .iter()
            .find(|(p, s, _)| *p == participant && *s == seq)
            .map(|d| d.2)
    }

    /// The row of a commit: `Record::Commit(entry).encode()`, without
    /// moving the entry.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len_hint());
        out.push(COMMIT);
        varint(&mut out, self.version);
        optional(&mut out, self.doc);
        varint(&mut out, self.puts.len() as u64);
        for (key, value) in &self.puts {
            bytes(&mut out, key.as_bytes());
            bytes(&mut out, value);
        }
        varint(&mut out, self.deliveries.len() as u64);
        for (participant, seq, payload) in &self.deliveries {
            out.extend_from_slice(participant.as_bytes());
            varint(&mut out, *seq);
            bytes(&mut out, payload);
        }
        varint(&mut out, self.counts.len() as u64);
        for (field, by) in &self.counts {
            bytes(&mut out, field.as_bytes());
            varint(&mut out, ((by << 1) ^ (by >> 63)) as u64);
        }
        out
    }

    fn encoded_len_hint(&self) -> usize {
        let len = |b: &[u8]| b.len() + 3;
        16 + self.doc.map_or(0, len)
            + self
                .puts
                .iter()
                .map(|(k, v)| len(k.as_bytes()) + len(v))
                .sum::<usize>()
            + self.deliveries.iter().map(|d| 19 + len(d.2)).sum::<usize>()
            + self
                .counts
                .iter()
                .map(|(f, _)| len(f.as_bytes()) + 4)
                .sum::<usize>()
    }
}

/// Read a row back; `None` if it is not what [`Record::encode`] writes.
pub(super) fn decode(row: &[u8]) -> Option<Record<'_>> {
    let mut r = Reader(row);
    let record = match r.byte()? {
        COMMIT => {
            let version = r.varint()?;
            let doc = r.optional()?;
            let mut puts = Vec::new();
            for _ in 0..r.varint()? {
                puts.push((r.str()?, r.bytes()?));
            }
            let mut deliveries = Vec::new();
            for _ in 0..r.varint()? {
                let participant = ParticipantId::from_slice(r.take(16)?).ok()?;
                deliveries.push((participant, r.varint()?, r.bytes()?));
            }
            let mut counts = Vec::new();
            for _ in 0..r.varint()? {
                let field = r.str()?;
                let zigzag = r.varint()?;
                counts.push((field, (zigzag >> 1) as i64 ^ -((zigzag & 1) as i64)));
            }
            Record::Commit(Entry {
                version,
                doc,
                puts,
                deliveries,
                counts,
            })
        }
        INVITE => Record::Invite {
            code: r.str()?,
            value: r.optional()?,
        },
        _ => return None,
    };
    r.0.is_empty().then_some(record)
}

fn varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn bytes(out: &mut Vec<u8>, b: &[u8]) {
    varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn optional(out: &mut Vec<u8>, b: Option<&[u8]>) {
    match b {
        Some(b) => {
            out.push(1);
            bytes(out, b);
        }
        None => out.push(0),
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn byte(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn varint(&mut self) -> Option<u64> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            n |= u64::from(b & 0x7f).checked_shl(shift)?;
            if b < 0x80 {
                return Some(n);
            }
        }
        None
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.varint()?).ok()?;
        self.take(len)
    }

    fn str(&mut self) -> Option<&'a str> {
        std::str::from_utf8(self.bytes()?).ok()
    }

    fn optional(&mut self) -> Option<Option<&'a [u8]>> {
        match self.byte()? {
            0 => Some(None),
            1 => self.bytes().map(Some),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn commits_round_trip_with_every_field() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let big = vec![0xab; 70_000];
        let entry = Entry {
            version: u64::MAX,
            doc: Some(b"\0doc"),
            puts: vec![("m:1", b"one"), ("", b""), ("m:2", &big)],
            deliveries: vec![(a, 1, b"a1"), (b, 300, b""), (a, 2, &big)],
            counts: vec![("bytes", i64::MIN), ("n", -1), ("z", 0), ("m", i64::MAX)],
        };
        let row = Record::Commit(entry.clone()).encode();
        let Some(Record::Commit(back)) = decode(&row) else {
            panic!("not a commit")
        };
        assert_eq!(back, entry);
        assert_eq!(back.object("m:2"), Some(&big[..]));
        assert_eq!(back.object("m:3"), None);
        assert_eq!(back.event(b, 300), Some(&b""[..]));
        assert_eq!(back.event(b, 1), None);
    }

    #[test]
    fn a_small_commit_costs_a_few_bytes_beyond_its_values() {
        let entry = Entry {
            version: 1_000,
            doc: None,
            puts: vec![("m:1", &[7; 100])],
            deliveries: vec![(Uuid::new_v4(), 5, &[9; 100])],
            counts: vec![("bytes", 300)],
        };
        let row = Record::Commit(entry).encode();
        assert!(row.len() < 100 + 100 + 16 + 30, "{} bytes", row.len());
    }

    #[test]
    fn invites_round_trip_live_and_spent() {
        for value in [Some(&b"v"[..]), None] {
            let record = Record::Invite { code: "c", value };
            assert_eq!(decode(&record.encode()), Some(record));
        }
    }

    #[test]
    fn what_this_code_did_not_write_is_refused() {
        let row = Record::Commit(Entry {
            version: 3,
            doc: Some(b"doc"),
            ..Entry::default()
        })
        .encode();
        for cut in 0..row.len() {
            assert_eq!(decode(&row[..cut]), None, "cut at {cut}");
        }
        let mut longer = row.clone();
        longer.push(0);
        assert_eq!(decode(&longer), None);
        assert_eq!(decode(&[9]), None);
        assert_eq!(
            decode(&[COMMIT, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
            None
        );
    }
}
