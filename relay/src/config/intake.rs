//! `[intake]` in the office settings: the front door (`/contact`) where
//! anyone may start a confidential conversation with the office.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntakeSettings {
    /// Whether visitors may start conversations at all.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Shown on the contact page, such as "Monday to Friday, 9:00–17:00".
    pub office_hours: Option<String>,
    /// Shown on the contact page, such as "within two working days".
    pub response_time: Option<String>,
    /// Hours an unclaimed conversation waits before it is erased (fractions
    /// allowed). Once claimed, the room keeps the relay's normal retention.
    #[serde(default = "default_unclaimed_hours")]
    pub unclaimed_hours: f64,
    /// Leading zero bits the page's proof of work must find (about 2^n
    /// hashes: 16 takes around a second in a browser).
    #[serde(default = "default_difficulty")]
    pub pow_difficulty: u8,
    /// Conversations one client address may start per hour, on each node.
    #[serde(default = "default_per_address")]
    pub per_address_per_hour: u32,
    /// Conversations everyone together may start per minute, on each node.
    #[serde(default = "default_total")]
    pub total_per_minute: u32,
}

fn yes() -> bool {
    true
}
fn default_unclaimed_hours() -> f64 {
    24.0 * 7.0
}
fn default_difficulty() -> u8 {
    16
}
fn default_per_address() -> u32 {
    5
}
fn default_total() -> u32 {
    30
}

impl Default for IntakeSettings {
    fn default() -> Self {
        IntakeSettings {
            enabled: true,
            office_hours: None,
            response_time: None,
            unclaimed_hours: default_unclaimed_hours(),
            pow_difficulty: default_difficulty(),
            per_address_per_hour: default_per_address(),
            total_per_minute: default_total(),
        }
    }
}

impl IntakeSettings {
    /// What is wrong with the table, naming the setting.
    pub fn problem(&self) -> Option<(&'static str, String)> {
        if !(self.unclaimed_hours > 0.0 && self.unclaimed_hours <= 24.0 * 365.0) {
            return Some((
                "unclaimed_hours",
                "intake.unclaimed_hours must be more than 0 and at most 8760".into(),
            ));
        }
        if self.pow_difficulty > 32 {
            return Some((
                "pow_difficulty",
                "intake.pow_difficulty must be 0 to 32".into(),
            ));
        }
        if self.per_address_per_hour == 0 || self.total_per_minute == 0 {
            return Some((
                "per_",
                "intake limits must be at least 1 (set `enabled = false` to close intake)".into(),
            ));
        }
        None
    }

    /// How long an unclaimed conversation lives, in milliseconds.
    pub fn unclaimed_ms(&self) -> i64 {
        (self.unclaimed_hours * 3_600_000.0).round() as i64
    }
}

#[cfg(test)]
mod tests {
    use super::super::Office;

    #[test]
    fn intake_settings_have_defaults_and_bad_ones_name_the_line() {
        let o = Office::parse("").unwrap();
        assert!(o.intake.enabled && o.intake.office_hours.is_none());
        let o = Office::parse("[intake]\nenabled = false\nunclaimed_hours = 0.5\n").unwrap();
        assert!(!o.intake.enabled);
        assert_eq!(o.intake.unclaimed_ms(), 1_800_000);
        let (line, msg) =
            Office::parse("office_name = \"A\"\n[intake]\nunclaimed_hours = 0\n").unwrap_err();
        assert_eq!(line, 3);
        assert!(msg.contains("unclaimed_hours"), "{msg}");
        let (line, msg) = Office::parse("[intake]\n\npow_difficulty = 40\n").unwrap_err();
        assert_eq!((line, msg.contains("pow_difficulty")), (3, true), "{msg}");
        let (line, _) = Office::parse("[intake]\nper_address_per_hour = 0\n").unwrap_err();
        assert_eq!(line, 2);
        let (line, msg) = Office::parse("[intake]\nbogus = 1\n").unwrap_err();
        assert_eq!(line, 2, "{msg}");
    }
}
