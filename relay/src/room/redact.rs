//! Redaction help: spans of a message an ombud may want to hide. Suggestions
//! only; nothing is redacted without the ombud's click. Offsets are UTF-16
//! code units, as JavaScript strings count, so the console can slice directly.

use std::sync::LazyLock;

use protocol::requests::{Span, SpanKind};
use regex::Regex;

static EMAIL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.\w{2,}").expect("valid regex"));
static URL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?:https?://|www\.)[^\s<>"']+[^\s<>"'.,;:!?)]"#).expect("valid regex")
});
static PHONE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\+?\(?\d[\d ().-]{5,}\d").expect("valid regex"));

/// Suggested spans in `body`, sorted, not overlapping.
pub fn suggest(body: &str, names: &[&str], terms: &[String]) -> Vec<Span> {
    let mut found: Vec<(usize, usize, SpanKind)> = Vec::new();
    found.extend(
        URL.find_iter(body)
            .map(|m| (m.start(), m.end(), SpanKind::Url)),
    );
    found.extend(
        EMAIL
            .find_iter(body)
            .map(|m| (m.start(), m.end(), SpanKind::Email)),
    );
    for m in PHONE.find_iter(body) {
        if m.as_str().chars().filter(char::is_ascii_digit).count() >= 7 {
            found.push((m.start(), m.end(), SpanKind::Phone));
        }
    }
    let words = |list: Vec<&str>, kind: SpanKind, found: &mut Vec<(usize, usize, SpanKind)>| {
        for w in list.into_iter().map(str::trim).filter(|w| !w.is_empty()) {
            // Each whole name, and each part of it of 3+ letters ("Zoë" of "Zoë Martín").
            let mut needles = vec![w.to_string()];
            needles.extend(
                w.split_whitespace()
                    .filter(|p| p.chars().count() >= 3)
                    .map(String::from),
            );
            for n in needles {
                let pattern = format!(r"(?i)\b{}\b", regex::escape(&n));
                if let Ok(re) = Regex::new(&pattern) {
                    found.extend(re.find_iter(body).map(|m| (m.start(), m.end(), kind)));
                }
            }
        }
    };
    words(names.to_vec(), SpanKind::Name, &mut found);
    words(
        terms.iter().map(String::as_str).collect(),
        SpanKind::Term,
        &mut found,
    );

    // Longest first at each start, then drop anything overlapping a kept span.
    found.sort_by_key(|&(s, e, _)| (s, std::cmp::Reverse(e)));
    let mut kept: Vec<(usize, usize, SpanKind)> = Vec::new();
    for f in found {
        match kept.last() {
            Some(last) if f.0 < last.1 => {}
            _ => kept.push(f),
        }
    }
    kept.into_iter()
        .map(|(s, e, kind)| Span {
            start: utf16_offset(body, s),
            end: utf16_offset(body, e),
            kind,
        })
        .collect()
}

fn utf16_offset(s: &str, byte: usize) -> usize {
    s[..byte].encode_utf16().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slice16(s: &str, span: &Span) -> String {
        let units: Vec<u16> = s.encode_utf16().collect();
        String::from_utf16(&units[span.start..span.end]).unwrap()
    }

    #[test]
    fn spans_land_on_names_emails_phones_and_urls_in_utf16() {
        let body = "😀 Zoë Martín said: write zoë@exämple.org or call +44 20 7946 0958, see https://ex.org/a 🎉 re Project Kestrel.";
        let spans = suggest(
            body,
            &["Zoë Martín", "Bob"],
            &["Project Kestrel".to_string()],
        );
        let got: Vec<(String, SpanKind)> =
            spans.iter().map(|s| (slice16(body, s), s.kind)).collect();
        assert_eq!(
            got,
            vec![
                ("Zoë Martín".to_string(), SpanKind::Name),
                ("zoë@exämple.org".to_string(), SpanKind::Email),
                ("+44 20 7946 0958".to_string(), SpanKind::Phone),
                ("https://ex.org/a".to_string(), SpanKind::Url),
                ("Project Kestrel".to_string(), SpanKind::Term),
            ]
        );
        assert_eq!(
            spans[0].start, 3,
            "the emoji is two UTF-16 units plus a space"
        );
    }
}
