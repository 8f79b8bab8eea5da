//! Redaction help: spans of a message an ombud may want to hide. Suggestions
//! only; nothing is redacted without the ombud's click. Offsets are UTF-16
//! code units, as JavaScript strings count, so the console can slice directly.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use aho_corasick::{AhoCorasick, MatchKind};
use protocol::requests::{Span, SpanKind};
use regex::Regex;

static EMAIL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.\w{2,}").expect("valid regex"));
static URL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?:https?://|www\.)[^\s<>"']+[^\s<>"'.,;:!?)]"#).expect("valid regex")
});
static PHONE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\+?\(?\d[\d ().-]{5,}\d").expect("valid regex"));

/// Word characters as the regex crate's Unicode `\w` counts them, for the
/// word-boundary checks (only two characters per candidate reach it).
static WORD: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^\w$").expect("valid regex"));

/// Suggested spans in `body`, sorted, not overlapping. Builds a matcher for
/// this one call; [`Matchers`] keeps them for rooms that ask again.
pub fn suggest(body: &str, names: &[&str], terms: &[String]) -> Vec<Span> {
    Matcher::new(names, terms).suggest(body)
}

/// A room's names and terms compiled once into one automaton, so a request
/// costs one pass over the text however many terms the room has. (A regex
/// per needle cost seconds for 200 terms; one Unicode `\b` alternation
/// falls off the regex crate's fast engines.) Matching is case-insensitive
/// by comparing lowercased text, and needles must sit on word boundaries,
/// as `(?i)\bneedle\b` would.
pub struct Matcher {
    automaton: Option<AhoCorasick>,
    /// The kind of each pattern, by pattern index.
    kinds: Vec<SpanKind>,
}

/// URLs, e-mail addresses and phone numbers in `body` (byte offsets), as
/// the regular expressions find them.
fn patterns(body: &str) -> Vec<(usize, usize, SpanKind)> {
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
    found
}

impl Matcher {
    pub fn new(names: &[&str], terms: &[String]) -> Matcher {
        let mut needles: Vec<String> = Vec::new();
        let mut kinds = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let lists = [
            (names.to_vec(), SpanKind::Name),
            (terms.iter().map(String::as_str).collect(), SpanKind::Term),
        ];
        for (list, kind) in lists {
            for w in list.into_iter().map(str::trim).filter(|w| !w.is_empty()) {
                // Each whole name, and each part of it of 3+ letters ("Zoë" of "Zoë Martín").
                let parts = w.split_whitespace().filter(|p| p.chars().count() >= 3);
                for n in std::iter::once(w).chain(parts) {
                    let n = n.to_lowercase();
                    // The first kind wins: a name that is also a term is a name.
                    if seen.insert(n.clone()) {
                        needles.push(n);
                        kinds.push(kind);
                    }
                }
            }
        }
        let automaton = if needles.is_empty() {
            None
        } else {
            AhoCorasick::builder()
                .match_kind(MatchKind::Standard)
                .build(&needles)
                .ok()
        };
        Matcher { automaton, kinds }
    }

    /// Suggested spans in `body`, sorted, not overlapping.
    pub fn suggest(&self, body: &str) -> Vec<Span> {
        let mut found = patterns(body);
        if let Some(ac) = &self.automaton {
            let lower = Lowered::new(body);
            let mut words: Vec<(usize, usize, usize)> = ac
                .find_overlapping_iter(&lower.text)
                .filter_map(|m| {
                    let (s, e) = lower.original(m.start(), m.end())?;
                    (boundary(body, s) && boundary(body, e)).then_some((
                        s,
                        e,
                        m.pattern().as_usize(),
                    ))
                })
                .collect();
            words.sort_by_key(|&(s, e, p)| (s, std::cmp::Reverse(e), p));
            found.extend(words.into_iter().map(|(s, e, p)| (s, e, self.kinds[p])));
        }

        // Longest first at each start, then drop anything overlapping a kept span.
        found.sort_by_key(|&(s, e, _)| (s, std::cmp::Reverse(e)));
        let mut kept: Vec<(usize, usize, SpanKind)> = Vec::new();
        for f in found {
            match kept.last() {
                Some(last) if f.0 < last.1 => {}
                _ => kept.push(f),
            }
        }
        let mut utf16 = Utf16Offsets::new(body);
        kept.into_iter()
            .map(|(s, e, kind)| Span {
                start: utf16.at(s),
                end: utf16.at(e),
                kind,
            })
            .collect()
    }
}

/// Lowercased text, with the byte offset in the original of each of its bytes
/// (lowercasing may change a character's length).
struct Lowered {
    text: String,
    origin: Vec<usize>,
    len: usize,
}

impl Lowered {
    fn new(body: &str) -> Lowered {
        let mut text = String::with_capacity(body.len());
        let mut origin = Vec::with_capacity(body.len());
        for (at, c) in body.char_indices() {
            for l in c.to_lowercase() {
                text.push(l);
                origin.extend(std::iter::repeat_n(at, l.len_utf8()));
            }
        }
        Lowered {
            text,
            origin,
            len: body.len(),
        }
    }

    /// The original byte range of a match in the lowered text; `None` when a
    /// match starts or ends inside one original character's lowercase form.
    fn original(&self, start: usize, end: usize) -> Option<(usize, usize)> {
        let at = |i: usize| self.origin.get(i).copied().unwrap_or(self.len);
        let whole = |i: usize| i == 0 || i == self.origin.len() || at(i) != at(i - 1);
        (whole(start) && whole(end)).then(|| (at(start), at(end)))
    }
}

/// Is there a word boundary at byte `at` of `s` (as regex's Unicode `\b`)?
fn boundary(s: &str, at: usize) -> bool {
    let word = |c: Option<char>| {
        c.is_some_and(|c| {
            if c.is_ascii() {
                c.is_ascii_alphanumeric() || c == '_'
            } else {
                WORD.is_match(c.encode_utf8(&mut [0; 4]))
            }
        })
    };
    word(s[..at].chars().next_back()) != word(s[at..].chars().next())
}

/// UTF-16 offsets of increasing byte offsets, in one pass over the text.
struct Utf16Offsets<'a> {
    s: &'a str,
    byte: usize,
    unit: usize,
}

impl<'a> Utf16Offsets<'a> {
    fn new(s: &'a str) -> Self {
        Utf16Offsets {
            s,
            byte: 0,
            unit: 0,
        }
    }

    fn at(&mut self, byte: usize) -> usize {
        if byte < self.byte {
            return self.s[..byte].encode_utf16().count();
        }
        self.unit += self.s[self.byte..byte].encode_utf16().count();
        self.byte = byte;
        self.unit
    }
}

/// Matchers by room content (names and terms), so a room's second request
/// reuses the first one's automaton. Keyed by a SHA-256 of the content, so
/// no two rooms can share a matcher by accident or design.
#[derive(Default)]
pub struct Matchers(Mutex<HashMap<[u8; 32], Arc<Matcher>>>);

/// Beyond this many term sets the cache starts over (an office has far fewer rooms active).
const MATCHERS: usize = 256;

impl Matchers {
    pub fn get(&self, names: &[String], terms: &[String]) -> Arc<Matcher> {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for (tag, list) in [(b"n", names), (b"t", terms)] {
            for item in list {
                h.update(tag);
                h.update((item.len() as u64).to_le_bytes());
                h.update(item.as_bytes());
            }
        }
        let key: [u8; 32] = h.finalize().into();
        if let Some(m) = self.lock().get(&key) {
            return m.clone();
        }
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let m = Arc::new(Matcher::new(&names, terms));
        let mut map = self.lock();
        if map.len() >= MATCHERS {
            map.clear();
        }
        map.insert(key, m.clone());
        m
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Arc<Matcher>>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slice16(s: &str, span: &Span) -> String {
        let units: Vec<u16> = s.encode_utf16().collect();
        String::from_utf16(&units[span.start..span.end]).unwrap()
    }

    /// The matcher before it was compiled once per room: a regex per needle.
    fn reference(body: &str, names: &[&str], terms: &[String]) -> Vec<(usize, usize, SpanKind)> {
        let mut found = patterns(body);
        let lists = [
            (names.to_vec(), SpanKind::Name),
            (terms.iter().map(String::as_str).collect(), SpanKind::Term),
        ];
        for (list, kind) in lists {
            for w in list.into_iter().map(str::trim).filter(|w| !w.is_empty()) {
                let mut needles = vec![w.to_string()];
                needles.extend(
                    w.split_whitespace()
                        .filter(|p| p.chars().count() >= 3)
                        .map(String::from),
                );
                for n in needles {
                    let re = Regex::new(&format!(r"(?i)\b{}\b", regex::escape(&n))).unwrap();
                    found.extend(re.find_iter(body).map(|m| (m.start(), m.end(), kind)));
                }
            }
        }
        found.sort_by_key(|&(s, e, _)| (s, std::cmp::Reverse(e)));
        let mut kept: Vec<(usize, usize, SpanKind)> = Vec::new();
        for f in found {
            match kept.last() {
                Some(last) if f.0 < last.1 => {}
                _ => kept.push(f),
            }
        }
        kept.into_iter()
            .map(|(s, e, k)| {
                (
                    body[..s].encode_utf16().count(),
                    body[..e].encode_utf16().count(),
                    k,
                )
            })
            .collect()
    }

    fn terms(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("Codename{i} Östlund{i}")).collect()
    }

    #[test]
    fn one_automaton_finds_what_a_regex_per_needle_found() {
        let names = ["Zoë Martín", "Bob", "Ann-Marie O'Neil", "_x_"];
        let terms: Vec<String> = [
            "Project Kestrel",
            "kestrel",
            "ÉCOLE",
            "a.b",
            "@home",
            "İstanbul",
        ]
        .map(String::from)
        .to_vec();
        for body in [
            "ZOË met bob and BOBBY at the école, re project kestrel; a.b @home zoë.",
            "Ann-Marie O'Neil wrote to _x_ about İstanbul and istanbul, kestrels, Kestrel!",
            "call +1 (555) 123-4567 or see www.example.org/zoë — Bob's kestrel_ x@y.io",
            "",
        ] {
            let got: Vec<(usize, usize, SpanKind)> = suggest(body, &names, &terms)
                .into_iter()
                .map(|s| (s.start, s.end, s.kind))
                .collect();
            assert_eq!(got, reference(body, &names, &terms), "{body}");
        }
    }

    #[test]
    fn two_hundred_terms_over_a_long_body_take_one_quick_pass() {
        let terms = terms(200);
        let names = ["Zoë Martín", "Bob"];
        let mut body = String::new();
        let mut i = 0;
        while body.chars().count() < 15_900 {
            body.push_str(&format!(
                "Zoë told Bob about codename{} and östlund{} today. ",
                i % 300,
                i % 7
            ));
            i += 1;
        }
        let body: String = body.chars().take(16_000).collect();
        let started = std::time::Instant::now();
        let spans = Matchers::default()
            .get(&names.map(String::from), &terms)
            .suggest(&body);
        let took = started.elapsed();
        assert!(spans.iter().any(|s| s.kind == SpanKind::Term));
        assert!(spans.iter().any(|s| s.kind == SpanKind::Name));
        // Debug builds are several times slower than release (about 5 ms there).
        assert!(
            took < std::time::Duration::from_millis(500),
            "took {took:?}"
        );
        println!("200 terms, 16,000 characters: {took:?}");
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
