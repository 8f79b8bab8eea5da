//! The notification wire format: what a commit script, a signal and a
//! deletion publish on a room's channel, and its decoder.

use uuid::Uuid;

use crate::store::{Delivery, Notification, RoomId};

/// Version byte of the notification wire format (see [`decode_notification`]).
pub(super) const FORMAT: u8 = b'1';
pub(super) const KIND_DELIVERED: u8 = b'D';
pub(super) const KIND_SIGNAL: u8 = b'S';
pub(super) const KIND_DELETED: u8 = b'X';

/// The start of every notification this node publishes.
pub(super) fn head(kind: u8, node: Uuid) -> Vec<u8> {
    let mut head = vec![FORMAT, kind];
    head.extend_from_slice(node.as_bytes());
    head
}

/// The node that published a notification and its kind, read without
/// decoding the rest (a node drops its own deliveries unread).
pub(super) fn origin_and_kind(bytes: &[u8]) -> Option<(Uuid, u8)> {
    match bytes {
        [FORMAT, kind, rest @ ..] if rest.len() >= 16 => {
            Some((Uuid::from_slice(&rest[..16]).ok()?, *kind))
        }
        _ => None,
    }
}

/// Parse a notification published on a room's channel.
///
/// Wire format (binary safe: the only variable-length field that is not last
/// is length-prefixed; numbers are ASCII decimal):
///
/// ```text
/// message  = "1" kind node body       ; "1" is the format version
/// node     = 16 bytes                 ; the publishing node's id
/// kind     = "D" | "S" | "X"
/// body "D" = *( participant seq ":" length ":" payload )
///            ; participant: 16 bytes; payload: `length` bytes; commit order
/// body "S" = payload                  ; the rest of the message
/// body "X" = ""                       ; room deleted
/// ```
///
/// The commit script builds "D" bodies by string concatenation.
pub(super) fn decode_notification(
    room: RoomId,
    bytes: &[u8],
) -> Result<(Uuid, Notification), &'static str> {
    let mut r = WireReader { rest: bytes };
    if r.take(1)? != [FORMAT] {
        return Err("unknown format version");
    }
    let kind = r.take(1)?[0];
    let origin = r.uuid()?;
    let notification = match kind {
        KIND_DELIVERED => {
            let mut deliveries = Vec::new();
            while !r.rest.is_empty() {
                let participant = r.uuid()?;
                let seq = r.number()?;
                let len = usize::try_from(r.number()?).map_err(|_| "length out of range")?;
                let payload = r.take(len)?.to_vec();
                deliveries.push(Delivery {
                    participant,
                    seq,
                    payload,
                    plain: None,
                });
            }
            Notification::Delivered { room, deliveries }
        }
        KIND_SIGNAL => Notification::Signal {
            room,
            payload: std::mem::take(&mut r.rest).to_vec(),
        },
        KIND_DELETED if r.rest.is_empty() => Notification::RoomDeleted { room },
        _ => return Err("unknown kind"),
    };
    Ok((origin, notification))
}

struct WireReader<'a> {
    rest: &'a [u8],
}

impl<'a> WireReader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        if self.rest.len() < n {
            return Err("truncated");
        }
        let (taken, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(taken)
    }

    fn uuid(&mut self) -> Result<Uuid, &'static str> {
        Uuid::from_slice(self.take(16)?).map_err(|_| "bad id")
    }

    /// ASCII decimal digits up to and including a ':'.
    fn number(&mut self) -> Result<u64, &'static str> {
        let end = self
            .rest
            .iter()
            .position(|&b| b == b':')
            .ok_or("truncated")?;
        let digits = self.take(end)?;
        self.take(1)?;
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return Err("bad number");
        }
        std::str::from_utf8(digits)
            .ok()
            .and_then(|d| d.parse().ok())
            .ok_or("bad number")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivered_notification_round_trips_binary_payloads() {
        let (room, node, a, b) = (
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
        );
        let mut wire = head(KIND_DELIVERED, node);
        for (p, seq, payload) in [(a, 7u64, &b"1:2:\0\xff"[..]), (b, 1, &b""[..])] {
            wire.extend_from_slice(p.as_bytes());
            wire.extend_from_slice(format!("{seq}:{}:", payload.len()).as_bytes());
            wire.extend_from_slice(payload);
        }
        let (origin, n) = decode_notification(room, &wire).expect("decodes");
        assert_eq!(origin, node);
        assert_eq!(
            n,
            Notification::Delivered {
                room,
                deliveries: vec![
                    Delivery {
                        participant: a,
                        seq: 7,
                        payload: b"1:2:\0\xff".to_vec(),
                        plain: None,
                    },
                    Delivery {
                        participant: b,
                        seq: 1,
                        payload: Vec::new(),
                        plain: None,
                    },
                ],
            }
        );
    }

    #[test]
    fn the_origin_is_read_from_the_head_alone() {
        let node = Uuid::new_v4();
        let mut wire = head(KIND_DELIVERED, node);
        assert_eq!(origin_and_kind(&wire), Some((node, KIND_DELIVERED)));
        wire.extend_from_slice(b"anything after the head");
        assert_eq!(origin_and_kind(&wire), Some((node, KIND_DELIVERED)));
        assert_eq!(
            origin_and_kind(&head(KIND_SIGNAL, node)),
            Some((node, KIND_SIGNAL))
        );
        assert_eq!(origin_and_kind(&wire[..17]), None, "truncated");
        assert_eq!(origin_and_kind(b"2D0123456789abcdef"), None, "other format");
    }

    #[test]
    fn malformed_notifications_are_rejected() {
        let (room, node) = (Uuid::new_v4(), Uuid::new_v4());
        let mut truncated = head(KIND_DELIVERED, node);
        truncated.extend_from_slice(node.as_bytes());
        truncated.extend_from_slice(b"1:10:short");
        let mut deleted_with_body = head(KIND_DELETED, node);
        deleted_with_body.push(b'x');
        for wire in [
            &b""[..],
            b"2D",
            &head(b'?', node),
            &truncated,
            &deleted_with_body,
        ] {
            assert!(decode_notification(room, wire).is_err(), "{wire:?}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: std::env::var("FUZZ_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(512),
            ..Default::default()
        })]

        /// Fuzz: whatever arrives on a room's channel (a bug, another
        /// release, a hostile client of the same Redis) decodes or is
        /// refused; it never panics.
        #[test]
        fn any_bytes_decode_or_are_refused(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let _ = decode_notification(Uuid::nil(), &bytes);
        }

        /// Fuzz: every well-formed delivery record round-trips exactly,
        /// and every truncation of it is refused or decodes to a prefix.
        #[test]
        fn deliveries_round_trip_and_truncations_are_refused(
            records in proptest::collection::vec((0u64..u64::MAX, proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40)), 0..5),
            cut in 0usize..400,
        ) {
            let node = Uuid::new_v4();
            let mut wire = head(KIND_DELIVERED, node);
            let mut want = Vec::new();
            for (seq, payload) in &records {
                let participant = Uuid::new_v4();
                wire.extend_from_slice(participant.as_bytes());
                wire.extend_from_slice(format!("{seq}:{}:", payload.len()).as_bytes());
                wire.extend_from_slice(payload);
                want.push(Delivery { participant, seq: *seq, payload: payload.clone(), plain: None });
            }
            let room = Uuid::new_v4();
            let (origin, n) = decode_notification(room, &wire).expect("decodes");
            proptest::prop_assert_eq!(origin, node);
            proptest::prop_assert_eq!(n, Notification::Delivered { room, deliveries: want.clone() });
            let cut = cut.min(wire.len());
            if let Ok((_, Notification::Delivered { deliveries, .. })) = decode_notification(room, &wire[..cut]) {
                proptest::prop_assert!(want.starts_with(&deliveries));
            }
        }
    }
}
