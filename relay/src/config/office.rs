//! The office settings file (`RELAY_CONFIG`, TOML): the office's name, its
//! notice, resources and categories, sign-in rules, languages and intake.
//! Every error names the file's line.

use std::path::Path;

use protocol::Resource;
use serde::Deserialize;

use super::{IntakeSettings, OfficeLanguage};

/// The office's own settings: its name, the notice parties acknowledge,
/// referral resources and trend categories.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Office {
    #[serde(default = "default_office_name")]
    pub office_name: String,
    #[serde(default = "default_notice")]
    pub notice: String,
    #[serde(default = "default_resources")]
    pub resources: Vec<Resource>,
    #[serde(default = "default_categories")]
    pub categories: Vec<String>,
    /// Sign-in with the institution: which identities are ombuds.
    #[serde(default)]
    pub oidc: OidcOffice,
    /// `[languages.<tag>]`: the notice and resources in other languages.
    #[serde(default)]
    pub languages: std::collections::BTreeMap<String, OfficeLanguage>,
    /// The front door: visitors starting conversations at `/contact`.
    #[serde(default)]
    pub intake: IntakeSettings,
}

/// `[oidc]` in the office settings: who, of the people the institution's
/// identity provider vouches for, is an ombud here. An identity is an ombud
/// if any rule matches it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcOffice {
    /// The name on the console's button: "Sign in with <institution>".
    pub institution: Option<String>,
    /// Extra scopes to ask for besides `openid email profile` (for example
    /// the one that makes the provider include a group claim).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// `sub` claims of ombuds, exactly as the provider sends them.
    #[serde(default)]
    pub ombud_subjects: Vec<String>,
    /// E-mail addresses of ombuds (any case); only a verified address
    /// (`email_verified: true`) counts.
    #[serde(default)]
    pub ombud_emails: Vec<String>,
    /// A claim that marks ombuds, such as `{ claim = "groups", value = "ombuds" }`:
    /// the claim equals the value or is a list holding it.
    pub ombud_claim: Option<ClaimRule>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimRule {
    pub claim: String,
    pub value: String,
}

impl OidcOffice {
    /// The button's institution name when the settings give none.
    pub fn institution(&self) -> &str {
        self.institution.as_deref().unwrap_or("your institution")
    }

    /// Whether any rule could match anyone: without one nobody can sign in.
    pub fn has_rules(&self) -> bool {
        !self.ombud_subjects.is_empty()
            || !self.ombud_emails.is_empty()
            || self.ombud_claim.is_some()
    }
}

fn default_office_name() -> String {
    "Ombuds Office".into()
}

fn default_notice() -> String {
    "This conversation is confidential and informal. Talking with the ombuds office does not start any formal process or put anyone on notice. The ombud will not share what you say without your permission, except where there is an imminent risk of serious harm. Taking part is voluntary: you may leave at any time.".into()
}

fn default_resources() -> Vec<Resource> {
    vec![
        Resource {
            id: "eap".into(),
            title: "Employee Assistance Programme".into(),
            description: "Free, confidential counselling, available 24/7.".into(),
            url: "https://example.org/eap".into(),
        },
        Resource {
            id: "hr-policies".into(),
            title: "Policies and formal options".into(),
            description: "What formal routes exist, if you decide you want one.".into(),
            url: "https://example.org/policies".into(),
        },
    ]
}

fn default_categories() -> Vec<String> {
    [
        "Interpersonal conflict",
        "Workload",
        "Evaluative relationships",
        "Career progression",
        "Policies and procedures",
    ]
    .map(String::from)
    .to_vec()
}

impl Default for Office {
    fn default() -> Self {
        Office {
            office_name: default_office_name(),
            notice: default_notice(),
            resources: default_resources(),
            categories: default_categories(),
            oidc: OidcOffice::default(),
            languages: Default::default(),
            intake: IntakeSettings::default(),
        }
    }
}

impl Office {
    /// Loads and validates the settings file. Errors read
    /// `<file>:<line>: <problem>` so the office can fix the file.
    pub fn load(path: &Path) -> Result<Office, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: cannot read office settings: {e}", path.display()))?;
        Office::parse(&text).map_err(|(line, msg)| format!("{}:{line}: {msg}", path.display()))
    }

    /// Parses settings text; an error carries the 1-based line it is about.
    pub fn parse(text: &str) -> Result<Office, (usize, String)> {
        let office: Office = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start)).unwrap_or(1);
            // Some parse errors come without a message ("0=", found by the
            // fuzzer): still say what is wrong.
            let message = match e.message().trim() {
                "" => "this line is not valid TOML (`key = value`)".to_string(),
                m => m.to_string(),
            };
            (line, message)
        })?;
        let line_for = |needle: &str| text.find(needle).map(|at| line_of(text, at)).unwrap_or(1);
        if office.office_name.trim().is_empty() {
            return Err((
                line_for("office_name"),
                "office_name must not be empty".into(),
            ));
        }
        if office.notice.trim().is_empty() {
            return Err((line_for("notice"), "notice must not be empty".into()));
        }
        check_resources(&office.resources, &line_for)?;
        super::languages::validate(&office, text)?;
        let mut cats = std::collections::HashSet::new();
        for c in &office.categories {
            if c.trim().is_empty() || !cats.insert(c.clone()) {
                return Err((
                    line_for("categories"),
                    format!("category `{c}` is empty or repeated"),
                ));
            }
            if c.contains('|') {
                return Err((line_for(c), format!("category `{c}` must not contain `|`")));
            }
        }
        if let Some((key, msg)) = office.intake.problem() {
            return Err((line_for(key), msg));
        }
        let oidc = &office.oidc;
        if oidc
            .institution
            .as_deref()
            .is_some_and(|i| i.trim().is_empty())
        {
            return Err((
                line_for("institution"),
                "oidc.institution must not be empty".into(),
            ));
        }
        for (what, list) in [
            ("ombud_subjects", &oidc.ombud_subjects),
            ("ombud_emails", &oidc.ombud_emails),
            ("scopes", &oidc.scopes),
        ] {
            if list.iter().any(|s| s.trim().is_empty() || s.trim() != s) {
                return Err((
                    line_for(what),
                    format!(
                        "oidc.{what} must not hold empty values or values with surrounding spaces"
                    ),
                ));
            }
        }
        if let Some(rule) = &oidc.ombud_claim {
            if rule.claim.trim().is_empty() || rule.value.is_empty() {
                return Err((
                    line_for("ombud_claim"),
                    "oidc.ombud_claim needs a claim name and a value".into(),
                ));
            }
        }
        Ok(office)
    }
}

/// A resource list needs ids and titles, unique ids and http(s) urls;
/// `line_for` finds the line an error is about.
pub(super) fn check_resources(
    list: &[Resource],
    line_for: &dyn Fn(&str) -> usize,
) -> Result<(), (usize, String)> {
    let mut seen = std::collections::HashSet::new();
    for r in list {
        let at = line_for(&format!("\"{}\"", r.id));
        if r.id.trim().is_empty() || r.title.trim().is_empty() {
            return Err((at, "every resource needs an id and a title".into()));
        }
        if !seen.insert(r.id.clone()) {
            return Err((at, format!("resource id `{}` appears twice", r.id)));
        }
        if !(r.url.starts_with("https://") || r.url.starts_with("http://")) {
            return Err((
                line_for(&r.url),
                format!("resource `{}` needs an http(s) url", r.id),
            ));
        }
    }
    Ok(())
}

pub(super) fn line_of(text: &str, byte: usize) -> usize {
    text[..byte.min(text.len())].matches('\n').count() + 1
}
