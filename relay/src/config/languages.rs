//! `[languages.<tag>]` in the office settings: the notice and resources in
//! languages other than the default one. A language gives what the office
//! has translated; the rest comes from the defaults, so a party reading in
//! another language never sees less than one reading in the default.

use std::collections::BTreeMap;

use protocol::rest::OfficeLanguage as LanguageInfo;
use protocol::Resource;
use serde::Deserialize;

use super::{line_of, Office};

/// One `[languages.<tag>]` table; both parts are optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfficeLanguage {
    pub notice: Option<String>,
    pub resources: Option<Vec<Resource>>,
}

impl Office {
    /// The notice in each language the settings translate it into (the
    /// `welcome` frame carries them all, so the page can switch offline).
    pub fn notice_translations(&self) -> BTreeMap<String, String> {
        self.languages
            .iter()
            .filter_map(|(tag, l)| Some((tag.clone(), l.notice.clone()?)))
            .collect()
    }

    /// The resource `id` as `language` gives it, else from the default list.
    pub fn resource(&self, id: &str, language: Option<&str>) -> Option<&Resource> {
        let translated = language
            .and_then(|tag| self.languages.get(tag))
            .and_then(|l| l.resources.as_deref())
            .and_then(|list| list.iter().find(|r| r.id == id));
        translated.or_else(|| self.resources.iter().find(|r| r.id == id))
    }

    /// Every language of the settings, completed from the defaults
    /// (`GET /api/office`).
    pub fn language_info(&self) -> BTreeMap<String, LanguageInfo> {
        self.languages
            .iter()
            .map(|(tag, l)| {
                let info = LanguageInfo {
                    notice: l.notice.clone().unwrap_or_else(|| self.notice.clone()),
                    resources: l
                        .resources
                        .clone()
                        .unwrap_or_else(|| self.resources.clone()),
                };
                (tag.clone(), info)
            })
            .collect()
    }
}

/// Checks the `[languages]` tables of `office`, parsed from `text`: a
/// language tag, a notice that is not blank, resources as the default list
/// needs them. Errors carry the line they are about.
pub(super) fn validate(office: &Office, text: &str) -> Result<(), (usize, String)> {
    for (tag, lang) in &office.languages {
        let start = text.find(&format!("languages.{tag}")).unwrap_or(0);
        let line_for = |needle: &str| {
            text[start..]
                .find(needle)
                .map(|at| line_of(text, start + at))
                .unwrap_or_else(|| line_of(text, start))
        };
        if !is_language_tag(tag) {
            return Err((
                line_of(text, start),
                format!("`{tag}` is not a language tag such as `es` or `pt-BR`"),
            ));
        }
        if lang.notice.as_deref().is_some_and(|n| n.trim().is_empty()) {
            return Err((
                line_for("notice"),
                format!("languages.{tag}.notice must not be empty"),
            ));
        }
        if let Some(list) = &lang.resources {
            super::check_resources(list, &line_for)?;
        }
    }
    Ok(())
}

/// A BCP 47 tag as pages name languages: `es`, `fr`, `pt-BR`, `zh-Hant`.
fn is_language_tag(tag: &str) -> bool {
    let mut parts = tag.split('-');
    let primary = parts.next().unwrap_or_default();
    (2..=3).contains(&primary.len())
        && primary.bytes().all(|b| b.is_ascii_lowercase())
        && parts.all(|p| (2..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SETTINGS: &str = r#"office_name = "Office"
notice = "Default notice."

[languages.es]
notice = "Aviso en español."

[[languages.es.resources]]
id = "eap"
title = "Programa de asistencia"
description = "Gratuito."
url = "https://example.org/es/eap"

[languages.fr]
"#;

    #[test]
    fn a_language_gives_what_it_translates_and_the_rest_comes_from_the_defaults() {
        let o = Office::parse(SETTINGS).unwrap();
        let notices = o.notice_translations();
        assert_eq!(
            notices.get("es").map(String::as_str),
            Some("Aviso en español.")
        );
        assert!(!notices.contains_key("fr"), "fr gives no notice of its own");
        assert_eq!(
            o.resource("eap", Some("es")).unwrap().url,
            "https://example.org/es/eap"
        );
        // A resource the language leaves out, an unknown language, no language.
        assert_eq!(
            o.resource("hr-policies", Some("es")).unwrap().url,
            "https://example.org/policies"
        );
        assert_eq!(
            o.resource("eap", Some("de")).unwrap().url,
            "https://example.org/eap"
        );
        assert_eq!(
            o.resource("eap", None).unwrap().url,
            "https://example.org/eap"
        );
        assert!(o.resource("nope", Some("es")).is_none());
        let info = o.language_info();
        assert_eq!(info["fr"].notice, "Default notice.");
        assert_eq!(info["fr"].resources.len(), 2);
        assert_eq!(info["es"].resources.len(), 1);
    }

    #[test]
    fn bad_language_settings_name_their_line() {
        let (line, msg) =
            Office::parse("notice = \"x\"\n\n[languages.Spanish]\nnotice = \"y\"\n").unwrap_err();
        assert_eq!(line, 3, "{msg}");
        assert!(msg.contains("language tag"), "{msg}");
        let (line, msg) = Office::parse("[languages.es]\n\nnotice = \" \"\n").unwrap_err();
        assert_eq!(
            (line, msg.as_str()),
            (3, "languages.es.notice must not be empty")
        );
        let bad_url = SETTINGS.replace("https://example.org/es/eap", "ftp://example.org");
        let (line, msg) = Office::parse(&bad_url).unwrap_err();
        assert_eq!(line, 11, "{msg}");
        let (line, msg) = Office::parse("[languages.es]\nbogus = 1\n").unwrap_err();
        assert_eq!(line, 2, "{msg}");
    }
}
