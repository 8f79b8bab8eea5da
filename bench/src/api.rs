//! Setting rooms up through the relay's real REST API: log in, create
//! rooms, invite parties, join with the invite codes.

use futures_util::{stream, StreamExt};
use protocol::rest::{
    CreateParty, CreateRoom, JoinRequest, JoinResponse, LoginRequest, LoginResponse, PartyInvite,
    RoomDetail,
};
use protocol::{Attribution, ParticipantId, RoomId};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::Error;

#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
}

/// A room ready for connections: its parties have joined (not yet connected).
#[derive(Debug, Clone)]
pub struct RoomSetup {
    pub id: RoomId,
    pub consent: bool,
    /// `(party_id, token)` in invitation order.
    pub parties: Vec<(ParticipantId, String)>,
}

impl Default for Api {
    fn default() -> Self {
        Api::new()
    }
}

impl Api {
    pub fn new() -> Api {
        Api {
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(64)
                .build()
                .unwrap_or_default(),
        }
    }

    async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        url: String,
        token: Option<&str>,
        body: &B,
    ) -> Result<T, Error> {
        let mut req = self.http.post(&url).json(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await?;
        let status = resp.status();
        let text = resp.text().await?;
        if !status.is_success() {
            return Err(Error(format!("POST {url}: {status}: {text}")));
        }
        serde_json::from_str(&text).map_err(|e| Error(format!("POST {url}: {e}: {text}")))
    }

    /// Logs in as `user:pass`; returns the ombud token.
    pub async fn login(&self, base: &str, login: &str) -> Result<String, Error> {
        let (username, password) = login
            .split_once(':')
            .ok_or_else(|| Error("the ombud login must be username:password".into()))?;
        let r: LoginResponse = self
            .post(
                format!("{base}/api/login"),
                None,
                &LoginRequest {
                    username: username.into(),
                    password: password.into(),
                },
            )
            .await?;
        Ok(r.token)
    }

    /// Creates a room, invites `parties` parties and joins each.
    pub async fn room(
        &self,
        base: &str,
        ombud_token: &str,
        title: String,
        consent: bool,
        parties: usize,
    ) -> Result<RoomSetup, Error> {
        let room: RoomDetail = self
            .post(
                format!("{base}/api/rooms"),
                Some(ombud_token),
                &CreateRoom {
                    title,
                    consent_required: consent,
                    attribution: Attribution::Named,
                    retention_hours: Some(1),
                },
            )
            .await?;
        let id = room.room.id;
        let mut joined = Vec::with_capacity(parties);
        for p in 0..parties {
            let invite: PartyInvite = self
                .post(
                    format!("{base}/api/rooms/{id}/parties"),
                    Some(ombud_token),
                    &CreateParty {
                        display_name: format!("Party {p}"),
                    },
                )
                .await?;
            let j: JoinResponse = self
                .post(
                    format!("{base}/api/join"),
                    None,
                    &JoinRequest {
                        invite_code: invite.invite_code,
                    },
                )
                .await?;
            joined.push((j.party_id, j.token));
        }
        Ok(RoomSetup {
            id,
            consent,
            parties: joined,
        })
    }
}

/// Which rooms need consent: `share` of them, spread evenly over the indexes.
pub fn needs_consent(index: usize, share: f64) -> bool {
    // Room i needs consent when the running count floor((i+1)*share) steps up.
    let before = (index as f64 * share).floor();
    let after = ((index + 1) as f64 * share).floor();
    after > before
}

/// Sets up `rooms` rooms concurrently, room i through node `i % bases.len()`.
pub async fn setup_rooms(
    api: &Api,
    bases: &[String],
    ombud_token: &str,
    rooms: usize,
    parties: usize,
    consent_share: f64,
    concurrency: usize,
) -> Result<Vec<RoomSetup>, Error> {
    let mut out: Vec<(usize, RoomSetup)> = stream::iter(0..rooms)
        .map(|i| {
            let base = &bases[i % bases.len()];
            async move {
                let r = api
                    .room(
                        base,
                        ombud_token,
                        format!("bench room {i}"),
                        needs_consent(i, consent_share),
                        parties,
                    )
                    .await?;
                Ok::<_, Error>((i, r))
            }
        })
        .buffer_unordered(concurrency.max(1))
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    out.sort_by_key(|(i, _)| *i);
    Ok(out.into_iter().map(|(_, r)| r).collect())
}

#[cfg(test)]
mod tests {
    use super::needs_consent;

    #[test]
    fn consent_share_picks_that_share_of_rooms() {
        let count = |n: usize, share: f64| (0..n).filter(|i| needs_consent(*i, share)).count();
        assert_eq!(count(100, 0.2), 20);
        assert_eq!(count(10, 0.0), 0);
        assert_eq!(count(10, 1.0), 10);
        assert_eq!(count(4, 0.5), 2);
    }
}
