//! Trend counters: monthly counts per category, global, holding no room id,
//! so they survive a room's deletion once their month has ended. Counter
//! names are blinded (a keyed hash of `month|category`): the store shows
//! neither the office's categories nor which months were busy.
//!
//! Reports are built to resist differencing (see PROTOCOL.md, §3.1):
//! - a tag counts in the month it is applied, and only while that month is
//!   open can it be taken back (`room::logic::set_categories`), so an ended
//!   month's count never changes;
//! - only ended months are shown, so no one watches a count move;
//! - a count under the threshold is suppressed, and one at or over it is
//!   coarsened to a multiple of the threshold after adding a secret offset,
//!   fixed per month and category by a keyed hash: the same question always
//!   gets the same answer, and where within its band the true count lies
//!   stays hidden.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use protocol::rest::{TrendRow, TrendsReport};

use super::Rooms;
use crate::error::{Error, Result};

/// Scope of the blinded counter names.
const COUNTER_SCOPE: &[u8] = b"caucus-trend-counter";

impl Rooms {
    /// Moves the counters a committed outcome asked for (`month|category`
    /// names, filed under their blinded form).
    pub(super) async fn count_trends(&self, deltas: &[(String, i64)]) -> Result<()> {
        for (field, by) in deltas {
            let blinded = &self.sealer.blind_in(COUNTER_SCOPE, field)[0];
            self.store.incr_counter(blinded, *by).await?;
        }
        Ok(())
    }

    /// Monthly counts per category, as of now.
    pub async fn trends(&self, from: &str, to: &str, threshold: u32) -> Result<TrendsReport> {
        self.trends_at(from, to, threshold, Utc::now()).await
    }

    /// Monthly counts per category as a report made at `now` shows them:
    /// months not yet ended and counts under `threshold` suppressed, the
    /// others coarsened.
    pub async fn trends_at(
        &self,
        from: &str,
        to: &str,
        threshold: u32,
        now: DateTime<Utc>,
    ) -> Result<TrendsReport> {
        let months = month_range(from, to)?;
        let open_month = now.format("%Y-%m").to_string();
        let counts: HashMap<String, i64> = self.store.counters().await?.into_iter().collect();
        let mut rows = Vec::new();
        for m in &months {
            for c in &self.office.categories {
                // During a key rotation a count is split between the names
                // under the old key and under the new one; counts written
                // by releases before blinding are under the plain name.
                let field = format!("{m}|{c}");
                let n: i64 = self
                    .sealer
                    .blind_in(COUNTER_SCOPE, &field)
                    .iter()
                    .chain([&field])
                    .filter_map(|name| counts.get(name))
                    .sum();
                let n = u32::try_from(n.max(0)).unwrap_or(u32::MAX);
                // Months compare as text: both are `YYYY-MM`.
                let shown = (*m < open_month && n >= threshold).then(|| {
                    coarsen(
                        n,
                        threshold,
                        self.sealer.keyed_number(&format!("trend|{field}")),
                    )
                });
                rows.push(TrendRow {
                    month: m.clone(),
                    category: c.clone(),
                    count: shown,
                    suppressed: shown.is_none(),
                });
            }
        }
        Ok(TrendsReport {
            from: from.into(),
            to: to.into(),
            threshold,
            rows,
        })
    }
}

/// `n` rounded down to a multiple of `step` after adding `secret % step`:
/// the result is a multiple of `step` within `step - 1` of `n` on either
/// side, and with the offset unknown, every position of `n` within its band
/// is equally likely. A `step` of 0 or 1 leaves `n` as it is.
fn coarsen(n: u32, step: u32, secret: u64) -> u32 {
    if step <= 1 {
        return n;
    }
    let offset = (secret % u64::from(step)) as u32;
    n.saturating_add(offset) / step * step
}

fn parse_month(s: &str) -> Option<(i32, u32)> {
    let (y, m) = s.split_once('-')?;
    let (y, m) = (y.parse().ok()?, m.parse().ok()?);
    (s.len() == 7 && (1..=12).contains(&m) && (2000..=2999).contains(&y)).then_some((y, m))
}

fn month_range(from: &str, to: &str) -> Result<Vec<String>> {
    let bad = || {
        Error::invalid("`from` and `to` must be months as YYYY-MM, from <= to, at most 120 months")
    };
    let (mut y, mut m) = parse_month(from).ok_or_else(bad)?;
    let end = parse_month(to).ok_or_else(bad)?;
    let mut out = Vec::new();
    while (y, m) <= end {
        out.push(format!("{y:04}-{m:02}"));
        if out.len() > 120 {
            return Err(bad());
        }
        (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    }
    if out.is_empty() {
        return Err(bad());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use protocol::rest::CreateRoom;
    use uuid::Uuid;

    use super::*;
    use crate::auth::Account;
    use crate::config::Office;
    use crate::seal::Sealer;
    use crate::store::memory::MemoryStore;
    use crate::store::Store;

    #[test]
    fn coarse_counts_are_multiples_of_the_step_within_one_step_of_the_truth() {
        for secret in [0u64, 1, 2, 3, 4, 12345, u64::MAX] {
            for n in 0..60u32 {
                let c = coarsen(n, 5, secret);
                assert_eq!(c % 5, 0);
                assert!(c <= n + 4 && c + 5 > n, "{n} -> {c}");
            }
        }
        // The offset moves the band edges: some true count is shown
        // differently under two secrets.
        assert!((5..10).any(|n| coarsen(n, 5, 0) != coarsen(n, 5, 4)));
        assert_eq!(coarsen(7, 1, 99), 7);
        assert_eq!(coarsen(7, 0, 99), 7);
    }

    fn ombud() -> Account {
        Account {
            id: Uuid::new_v4(),
            username: "o".into(),
            display_name: "O".into(),
            password_hash: String::new(),
            disabled: false,
            display_name_chosen: false,
            oidc: None,
        }
    }

    async fn count(rooms: &Rooms, m: &str, c: &str, now: DateTime<Utc>) -> Option<u32> {
        let report = rooms.trends_at(m, m, 5, now).await.unwrap();
        let row = report.rows.iter().find(|r| r.category == c).unwrap();
        assert_eq!(row.suppressed, row.count.is_none());
        row.count
    }

    /// Tags applied now count in this month, which no report shows until
    /// it ends; from then on the count is fixed, whatever happens to the
    /// rooms, and the store holds no category name.
    #[tokio::test]
    async fn a_month_is_shown_only_once_it_has_ended_and_never_changes_after() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let rooms = Rooms::new(
            store.clone(),
            Arc::new(Sealer::random()),
            Office::default(),
            24 * 365,
            crate::room::logic::Quotas {
                room_messages: u64::MAX,
                room_bytes: u64::MAX,
                participant_messages: u64::MAX,
                participant_bytes: u64::MAX,
            },
            Arc::default(),
        );
        let category = Office::default().categories[0].clone();
        let rare = Office::default().categories[1].clone();
        let now = Utc::now();
        let this_month = now.format("%Y-%m").to_string();
        let next_month = now + chrono::Duration::days(40);
        let me = ombud();
        let mut ids = Vec::new();
        for i in 0..12 {
            let req: CreateRoom =
                serde_json::from_value(serde_json::json!({"title": format!("r{i}")})).unwrap();
            let doc = rooms.create_room(&me, req).await.unwrap();
            let mut tags = vec![category.clone()];
            if i < 4 {
                tags.push(rare.clone());
            }
            rooms.set_categories(doc.id, me.id, tags).await.unwrap();
            assert_eq!(count(&rooms, &this_month, &category, now).await, None);
            ids.push(doc.id);
        }
        // Two tagged and deleted within the month leave nothing behind.
        for id in &ids[..2] {
            rooms.delete_room(*id, me.id).await.unwrap();
        }
        let shown = count(&rooms, &this_month, &category, next_month).await;
        let shown = shown.expect("10 rooms are over the threshold");
        assert!(shown % 5 == 0 && (6..=14).contains(&shown), "{shown}");
        assert_eq!(
            count(&rooms, &this_month, &category, next_month).await,
            Some(shown),
            "the same question, the same answer"
        );
        assert_eq!(
            count(&rooms, &this_month, &rare, next_month).await,
            None,
            "4 rooms, 2 of them deleted: under the threshold"
        );
        let fields: Vec<String> = store
            .counters()
            .await
            .unwrap()
            .into_iter()
            .map(|f| f.0)
            .collect();
        assert!(fields
            .iter()
            .all(|f| !f.contains(&this_month) && !f.contains('|')));
        assert!(fields.iter().all(|f| !f.contains(category.as_str())));
    }
}
