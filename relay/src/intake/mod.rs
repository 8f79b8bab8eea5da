//! The front door's guards, checked before a visitor's conversation is
//! created: a proof-of-work [`challenge`] that any node can verify without
//! state and that is spent once through the store, and this node's creation
//! [`limits`] per client address and in total. Nothing here keeps or logs
//! anything a visitor typed; addresses live only in memory, for an hour.

pub mod challenge;
pub mod limits;

use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use protocol::intake::IntakeChallenge;

use crate::config::IntakeSettings;
use crate::error::{Error, Result};
use crate::seal::Sealer;
use crate::store::Store;
use challenge::Challenges;
use limits::Limits;

pub struct Gate {
    settings: IntakeSettings,
    challenges: Challenges,
    limits: Limits,
}

impl Gate {
    pub fn new(settings: IntakeSettings, sealer: Arc<Sealer>, store: Arc<dyn Store>) -> Self {
        Gate {
            challenges: Challenges::new(sealer, store),
            limits: Limits::new(settings.per_address_per_hour, settings.total_per_minute),
            settings,
        }
    }

    pub fn settings(&self) -> &IntakeSettings {
        &self.settings
    }

    /// A fresh challenge, or none while intake is closed.
    pub fn challenge(&self, now: DateTime<Utc>) -> Option<IntakeChallenge> {
        self.settings
            .enabled
            .then(|| self.challenges.issue(self.settings.pow_difficulty, now))
    }

    /// Admits one creation from `from`: intake open, the challenge solved
    /// (checked before the limits, so requests without work cannot use up
    /// everyone's allowance), within the limits, and the challenge spent.
    pub async fn admit(
        &self,
        from: IpAddr,
        challenge: &str,
        nonce: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        if !self.settings.enabled {
            return Err(Error::IntakeClosed);
        }
        let id = self
            .challenges
            .verify(challenge, nonce, self.settings.pow_difficulty, now)?;
        self.limits.take(from, std::time::Instant::now())?;
        self.challenges.spend(&id).await
    }
}
