//! A concluded agreement as a document each participant downloads and
//! keeps: the text, its version and hash, the room's title, who accepted and
//! when, and how to verify the hash. The relay erases it with the room, so
//! the document says so. Pure: the REST route loads, this renders.

use std::fmt::Write;

use protocol::onetext::Verdict;
use protocol::{Attribution, ParticipantId, Role};

use super::onetext::{ProposalRec, VersionRec};
use super::transcript::esc;
use super::{RoomDoc, RoomError};

/// What one reader's copy holds.
pub struct Agreement {
    pub room_title: String,
    pub title: String,
    pub version: u32,
    pub hash: String,
    pub clauses: Vec<String>,
    pub concluded_at: String,
    /// (name, when) for every party that accepted.
    pub accepted: Vec<(String, String)>,
}

/// The agreement `reader` may download: a concluded one, and for a party,
/// only one it was asked to decide (and so accepted). Anything else is
/// `not_found`, the same whether or not the proposal exists.
pub fn for_reader(
    doc: &RoomDoc,
    p: Option<&ProposalRec>,
    v: Option<&VersionRec>,
    reader: ParticipantId,
    role: Role,
) -> Result<Agreement, RoomError> {
    let missing = || RoomError::not_found("no concluded agreement with that id");
    let (p, v) = p.zip(v).ok_or_else(missing)?;
    let at = p.concluded.ok_or_else(missing)?;
    let call = p.call.as_ref().ok_or_else(missing)?;
    if role == Role::Party && !call.asked.contains(&reader) {
        return Err(missing());
    }
    let when = |t: &chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    let accepted = call
        .asked
        .iter()
        .filter_map(|party| {
            let d = call.decisions.get(party)?;
            (d.verdict == Verdict::Accept).then_some((*party, d.at))
        })
        .map(|(party, t)| {
            let named =
                role == Role::Ombud || party == reader || doc.attribution == Attribution::Named;
            let name = match doc.party(party) {
                Some(rec) if named => rec.display_name.clone(),
                _ => "another party".to_string(),
            };
            (name, when(&t))
        })
        .collect();
    Ok(Agreement {
        room_title: doc.title.clone(),
        title: v.title.clone(),
        version: v.version,
        hash: v.hash.clone(),
        clauses: v.clauses.clone(),
        concluded_at: when(&at),
        accepted,
    })
}

const KEEP: &str = "The relay keeps nothing of this agreement once the room closes: it is erased with the room. Keep this copy.";

fn verify(hash: &str) -> String {
    format!(
        "Verification: the SHA-256 of the JSON array [title, [clause 1, clause 2, ...]], written without spaces, is {hash}."
    )
}

impl Agreement {
    pub fn text(&self) -> String {
        let mut s = format!(
            "{}\nAgreement concluded in \"{}\"\nVersion {}, concluded {}\n\n",
            self.title, self.room_title, self.version, self.concluded_at
        );
        for (i, c) in self.clauses.iter().enumerate() {
            let _ = writeln!(s, "{}. {c}", i + 1);
        }
        s.push_str("\nAccepted by:\n");
        for (name, at) in &self.accepted {
            let _ = writeln!(s, "- {name}, {at}");
        }
        let _ = write!(s, "\n{}\n{KEEP}\n", verify(&self.hash));
        s
    }

    /// A self-contained page: every string escaped, no script, nothing remote.
    pub fn html(&self) -> String {
        let mut s = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{t}</title><style>body{{font-family:Georgia,serif;max-width:42rem;margin:2rem auto;padding:0 1rem;line-height:1.5}}code{{word-break:break-all}}footer{{border-top:1px solid #999;margin-top:2rem;font-size:.9rem}}</style></head><body><h1>{t}</h1><p>Agreement concluded in &ldquo;{r}&rdquo;. Version {v}, concluded {at}.</p><ol>",
            t = esc(&self.title),
            r = esc(&self.room_title),
            v = self.version,
            at = esc(&self.concluded_at),
        );
        for c in &self.clauses {
            let _ = write!(s, "<li>{}</li>", esc(c));
        }
        s.push_str("</ol><h2>Accepted by</h2><ul>");
        for (name, at) in &self.accepted {
            let _ = write!(s, "<li>{}, {}</li>", esc(name), esc(at));
        }
        let _ = write!(
            s,
            "</ul><footer><p>{}</p><p><code>{}</code></p><p>{KEEP}</p></footer></body></html>",
            esc(&verify("the hash below")),
            esc(&self.hash)
        );
        s
    }
}
