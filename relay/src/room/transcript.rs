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
    format!(
        "[{}] {from}{edited}: {}",
        m.sent_at.format("%Y-%m-%d %H:%M UTC"),
        m.body
    )
}

pub fn text(title: &str, messages: &[Message], names: &dyn Fn(uuid::Uuid) -> String) -> String {
    let mut s = format!("{title}\nConfidential: this is your own copy.\n");
    let mut current = None;
    for m in messages {
        if current != Some(m.channel) {
            current = Some(m.channel);
            let _ = write!(s, "\n== {} ==\n", channel_label(m.channel, names));
        }
        let _ = writeln!(s, "{}", line(m));
    }
    s
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// A printable page: every user string escaped, no scripts, no remote content.
pub fn html(title: &str, messages: &[Message], names: &dyn Fn(uuid::Uuid) -> String) -> String {
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
    s.push_str("</body></html>");
    s
}
