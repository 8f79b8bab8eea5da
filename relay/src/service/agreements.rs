//! Loading a proposal and one of its versions for a download. Read-only:
//! nothing is written, and what is read is erased with the room.

use protocol::onetext::ProposalId;
use protocol::RoomId;

use super::Rooms;
use crate::error::Result;
use crate::room::logic::View;
use crate::room::onetext::{proposal_key, version_key, ProposalRec, VersionRec};
use crate::room::Obj;

impl Rooms {
    /// The proposal and its called version, if they exist.
    pub async fn concluded_proposal(
        &self,
        room: RoomId,
        id: ProposalId,
    ) -> Result<(Option<ProposalRec>, Option<VersionRec>)> {
        let mut view = View::default();
        self.fill(room, &mut view, vec![proposal_key(id)]).await?;
        let p = match view.objs.remove(&proposal_key(id)).flatten() {
            Some(Obj::Proposal(p)) => p,
            _ => return Ok((None, None)),
        };
        let Some(n) = p.call.as_ref().map(|c| c.version) else {
            return Ok((Some(p), None));
        };
        self.fill(room, &mut view, vec![version_key(id, n)]).await?;
        let v = match view.objs.remove(&version_key(id, n)).flatten() {
            Some(Obj::Version(v)) => Some(v),
            _ => None,
        };
        Ok((Some(p), v))
    }
}
