//! Transcripts: a participant's own thread, rebuilt from its own inbox, so a
//! transcript can never show more than its reader already received.

use std::fmt::Write;

use protocol::events::{Event, Message};
use protocol::Channel;

/// The messages as the reader last saw them: edits applied, retractions removed.
pub fn rebuild(events: impl IntoIterator<Item = Event>) -> Vec<Message> {
    let mut out: Vec<Message> = Vec::new();
    for e in events {
        match e {
            Event::Message(m) => out.push(m),
            Event::MessageEdited {
                message_id,
                body,
                edited_at,
                ..
            } => {
                if let Some(m) = out.iter_mut().find(|m| m.id == message_id) {
                    m.body = body;
                    m.edited_at = Some(edited_at);
                }
            }
            Event::MessageRetracted { message_id, .. } => out.retain(|m| m.id != message_id),
            _ => {}
        }
    }
    out
}

fn channel_label(c: Channel, names: &dyn Fn(uuid::Uuid) -> String) -> String {
    match c {
        Channel::Private(p) => format!("Private thread with {}", names(p)),
        Channel::Joint => "Joint session".into(),
        Channel::Notes => "Ombud notes".into(),
    }
}

fn line(m: &Message) -> String {
    let from = match &m.relayed_from {
        Some(r) => match &r.display_name {
            Some(n) => format!("{} (relayed from {n})", m.author.display_name),
            None => format!("{} (relayed)", m.author.display_name),
        },
        None => m.author.display_name.clone(),
    };
    let edited = if m.edited_at.is_some() {
        " (edited)"
    } else {
        ""
    };
    let on = match &m.comment_on {
        Some(c) => match c.clause {
            Some(n) => format!(" (on proposal version {}, clause {n})", c.version),
            None => format!(" (on proposal version {})", c.version),
        },
        None => String::new(),
    };
    format!(
        "[{}] {from}{edited}{on}: {}",
        m.sent_at.format("%Y-%m-%d %H:%M UTC"),
        m.body
    )
}

/// The reader's own steps with proposals, decisions and range questions,
/// one line each, from its own inbox: what it was shown, decided or
/// submitted, and (for ombuds) what it was told of the others.
pub fn steps(events: &[Event], names: &dyn Fn(uuid::Uuid) -> String) -> Vec<String> {
    let when = |at: &chrono::DateTime<chrono::Utc>| at.format("%Y-%m-%d %H:%M UTC").to_string();
    let short = |h: &str| h.chars().take(12).collect::<String>();
    events
        .iter()
        .filter_map(|e| match e {
            Event::ProposalVersion {
                version,
                hash,
                title,
                clauses,
                at,
                ..
            } => Some(format!(
                "[{}] Proposal \"{title}\" version {version} saved ({}): {}",
                when(at),
                short(hash),
                numbered(clauses)
            )),
            Event::ProposalShared {
                version,
                hash,
                title,
                clauses,
                ..
            } => Some(format!(
                "Proposal \"{title}\" version {version} shown to you ({}): {}",
                short(hash),
                numbered(clauses)
            )),
            Event::ProposalShown {
                version, party_id, ..
            } => Some(format!(
                "Proposal version {version} shown to {}",
                names(*party_id)
            )),
            Event::DecisionRequested { version, .. } => {
                Some(format!("Decision asked on proposal version {version}"))
            }
            Event::Decided {
                version,
                party_id,
                verdict,
                note,
                at,
                ..
            } => Some(format!(
                "[{}] {} {} version {version}{}",
                when(at),
                names(*party_id),
                match verdict {
                    protocol::onetext::Verdict::Accept => "accepted",
                    protocol::onetext::Verdict::Decline => "declined",
                },
                note.as_deref()
                    .map(|n| format!(" (note: {n})"))
                    .unwrap_or_default()
            )),
            Event::AgreementConcluded {
                version,
                hash,
                title,
                at,
                ..
            } => Some(format!(
                "[{}] Agreement concluded: \"{title}\" version {version}, hash {hash}",
                when(at)
            )),
            Event::RangeOpened { title, unit, .. } => {
                Some(format!("Range question opened: {title} ({unit})"))
            }
            Event::RangeBoundSet { value, .. } => Some(format!("Your bound: {value}")),
            Event::RangeClosed {
                overlap,
                suggestion,
                ..
            } => Some(format!(
                "Range question closed{}{}",
                match overlap {
                    Some(true) => ": there is room for agreement",
                    Some(false) => ": not yet",
                    None => "",
                },
                suggestion
                    .map(|s| format!(", suggested figure {s}"))
                    .unwrap_or_default()
            )),
            _ => None,
        })
        .collect()
}

fn numbered(clauses: &[String]) -> String {
    clauses
        .iter()
        .enumerate()
        .map(|(i, c)| format!("({}) {c}", i + 1))
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn text(
    title: &str,
    messages: &[Message],
    steps: &[String],
    names: &dyn Fn(uuid::Uuid) -> String,
) -> String {
    let mut s = format!("{title}\nConfidential: this is your own copy.\n");
    let mut current = None;
    for m in messages {
        if current != Some(m.channel) {
            current = Some(m.channel);
            let _ = write!(s, "\n== {} ==\n", channel_label(m.channel, names));
        }
        let _ = writeln!(s, "{}", line(m));
    }
    if !steps.is_empty() {
        s.push_str("\n== Proposals, decisions and range questions ==\n");
        for l in steps {
            let _ = writeln!(s, "{l}");
        }
    }
    s
}

pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// A printable page: every user string escaped, no scripts, no remote content.
pub fn html(
    title: &str,
    messages: &[Message],
    steps: &[String],
    names: &dyn Fn(uuid::Uuid) -> String,
) -> String {
    let mut s = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title></head><body><h1>{t}</h1><p>Confidential: this is your own copy.</p>",
        t = esc(title)
    );
    let mut current = None;
    for m in messages {
        if current != Some(m.channel) {
            if current.is_some() {
                s.push_str("</ol>");
            }
            current = Some(m.channel);
            let _ = write!(s, "<h2>{}</h2><ol>", esc(&channel_label(m.channel, names)));
        }
        let _ = write!(s, "<li>{}</li>", esc(&line(m)));
    }
    if current.is_some() {
        s.push_str("</ol>");
    }
    if !steps.is_empty() {
        s.push_str("<h2>Proposals, decisions and range questions</h2><ol>");
        for l in steps {
            let _ = write!(s, "<li>{}</li>", esc(l));
        }
        s.push_str("</ol>");
    }
    s.push_str("</body></html>");
    s
}
