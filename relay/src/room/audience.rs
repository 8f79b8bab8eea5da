//! Who receives what. Every stored event and every ephemeral frame is
//! addressed through these functions and nothing else.

use protocol::{Channel, ParticipantId, Role};

use super::records::RoomDoc;

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

/// One party alone, while it is in the room: what it was shown of a
/// proposal, and its own steps in a decision or a range question.
pub fn party_only(doc: &RoomDoc, party: ParticipantId) -> Vec<ParticipantId> {
    doc.party(party)
        .filter(|p| !p.left)
        .map(|p| p.id)
        .into_iter()
        .collect()
}

/// Everyone still in the room.
pub fn everyone(doc: &RoomDoc) -> Vec<ParticipantId> {
    audience(doc, Channel::Joint)
}

pub fn ombuds(doc: &RoomDoc) -> Vec<ParticipantId> {
    audience(doc, Channel::Notes)
}

/// Who is told that `who` came online or went away: parties learn only
/// about the ombuds; the ombuds learn about everyone.
pub fn presence(doc: &RoomDoc, who: ParticipantId, role: Role) -> Vec<ParticipantId> {
    let to = match role {
        Role::Party => ombuds(doc),
        Role::Ombud => everyone(doc),
    };
    to.into_iter().filter(|p| *p != who).collect()
}

/// May a participant with `role` learn that `other` (with `other_role`) is
/// online? The same rule as [`presence`], seen from the asker's side.
pub fn may_see_presence(role: Role, other_role: Role) -> bool {
    role == Role::Ombud || other_role == Role::Ombud
}
