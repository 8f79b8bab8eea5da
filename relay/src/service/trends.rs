//! Trend counters: monthly counts per category, global, holding no room id,
//! so they survive a room's deletion. Reports suppress small counts.

use std::collections::HashMap;

use protocol::rest::{TrendRow, TrendsReport};

use super::Rooms;
use crate::error::{Error, Result};

impl Rooms {
    /// Moves the counters a committed outcome asked for.
    pub(super) async fn count_trends(&self, deltas: &[(String, i64)]) -> Result<()> {
        for (field, by) in deltas {
            self.store.incr_counter(field, *by).await?;
        }
        Ok(())
    }

    /// Monthly counts per category; counts under the threshold are suppressed.
    pub async fn trends(&self, from: &str, to: &str, threshold: u32) -> Result<TrendsReport> {
        let months = month_range(from, to)?;
        let counts: HashMap<String, i64> = self.store.counters().await?.into_iter().collect();
        let mut rows = Vec::new();
        for m in &months {
            for c in &self.office.categories {
                let n = counts.get(&format!("{m}|{c}")).copied().unwrap_or(0).max(0) as u32;
                let suppressed = n < threshold;
                rows.push(TrendRow {
                    month: m.clone(),
                    category: c.clone(),
                    count: (!suppressed).then_some(n),
                    suppressed,
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
