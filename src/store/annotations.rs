//! Review comforts on a stored case: undo of the last decision, case tags and the case note.
//!
//! Undo never edits or deletes a review: it appends a review row whose `retracts` names the
//! decision it withdraws (schema v8; triggers refuse updates and deletions of `reviews`). A
//! case's current decision is its newest decision that no row retracts, so undoing twice
//! walks back through the history; a withdrawn fake/real decision stops being a training label.
//! Tags and the note live on the case row; every change is one audit entry with the analyst.
use super::db::{params, Dialect, Exec, OptionalExt};
use super::{append_audit, now, ReviewRow, Store};
use crate::{Error, Result};
use serde::Serialize;

/// Longest tag, in characters.
pub const MAX_TAG_CHARS: usize = 40;
/// Most tags on one case.
pub const MAX_TAGS: usize = 20;
/// Longest case note, in characters (after normalisation).
pub const MAX_NOTE_CHARS: usize = 10_000;

/// The columns `review_from_row` reads, for a `reviews r` in the FROM clause.
pub(super) const REVIEW_COLUMNS: &str =
    "r.id, r.verdict, r.analyst, r.note, r.created_at, r.retracts,
     EXISTS (SELECT 1 FROM reviews x WHERE x.retracts = r.id)";

pub(super) fn review_from_row(r: &super::db::Row) -> Result<ReviewRow> {
    Ok(ReviewRow {
        id: r.get(0)?,
        verdict: r.get(1)?,
        analyst: r.get(2)?,
        note: r.get(3)?,
        created_at: r.get(4)?,
        retracts: r.get(5)?,
        retracted: r.get(6)?,
    })
}

/// What an undo did: the retraction row written, the decision it withdrew, and the decision the
/// case has now (the one before, or none).
#[derive(Debug, Clone, Serialize)]
pub struct Undo {
    pub review_id: i64,
    pub retracted: ReviewRow,
    pub current: Option<ReviewRow>,
}

/// A tag and how many cases carry it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TagCount {
    pub tag: String,
    pub cases: i64,
}

/// A tag as shown in an error: at most 50 characters, control characters escaped.
fn shown(tag: &str) -> String {
    let cut: String = tag.chars().take(50).collect();
    let cut = format!("{cut:?}");
    if tag.chars().count() > 50 {
        format!("{}…\"", &cut[..cut.len() - 1])
    } else {
        cut
    }
}

/// Normalises one tag: trimmed, each run of white space inside (tabs and line breaks too) made
/// one space. Refused: other control characters, commas (they separate tags in the app and the CLI), more than
/// [`MAX_TAG_CHARS`] characters. An empty result is `None` (dropped).
pub fn normalize_tag(tag: &str) -> Result<Option<String>> {
    if tag.chars().any(|c| c.is_control() && !c.is_whitespace()) {
        return Err(Error::Other(format!(
            "tag {} contains a control character; tags are short plain labels",
            shown(tag)
        )));
    }
    let t = tag.split_whitespace().collect::<Vec<_>>().join(" ");
    if t.is_empty() {
        return Ok(None);
    }
    if t.contains(',') {
        return Err(Error::Other(format!(
            "tag {} contains a comma; commas separate tags",
            shown(&t)
        )));
    }
    let n = t.chars().count();
    if n > MAX_TAG_CHARS {
        return Err(Error::Other(format!(
            "tag {} is {n} characters long; a tag has at most {MAX_TAG_CHARS}",
            shown(&t)
        )));
    }
    Ok(Some(t))
}

/// Normalises a case's tag list: each tag by [`normalize_tag`], empty ones dropped, repeats
/// (ignoring letter case) dropped keeping the first spelling and the analyst's order; more than
/// [`MAX_TAGS`] distinct tags are refused.
pub fn normalize_tags<S: AsRef<str>>(tags: &[S]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for t in tags {
        if let Some(t) = normalize_tag(t.as_ref())? {
            if !out.iter().any(|o| o.to_lowercase() == t.to_lowercase()) {
                out.push(t);
            }
        }
    }
    if out.len() > MAX_TAGS {
        return Err(Error::Other(format!(
            "{} tags given; a case has at most {MAX_TAGS}",
            out.len()
        )));
    }
    Ok(out)
}

/// Normalises a case note: line ends become `\n`, other control characters than newline and tab
/// are removed (pasted terminal escapes, NULs, bells — never stored or shown), white space at
/// both ends trimmed. Longer than [`MAX_NOTE_CHARS`] characters is refused, not cut.
pub fn normalize_note(note: &str) -> Result<String> {
    let unified = note.replace("\r\n", "\n").replace('\r', "\n");
    let kept: String = unified
        .chars()
        .filter(|&c| c == '\n' || c == '\t' || !c.is_control())
        .collect();
    let t = kept.trim();
    let n = t.chars().count();
    if n > MAX_NOTE_CHARS {
        return Err(Error::Other(format!(
            "the note is {n} characters long; a case note has at most {MAX_NOTE_CHARS}"
        )));
    }
    Ok(t.to_string())
}

fn require_analyst(analyst: &str, what: &str) -> Result<()> {
    if analyst.trim().is_empty() {
        return Err(Error::Config(format!("set the analyst name before {what}")));
    }
    Ok(())
}

fn current_decision_in(conn: &impl Exec, case_id: i64) -> Result<Option<ReviewRow>> {
    Ok(conn
        .query_row(
            &format!(
                "SELECT {REVIEW_COLUMNS} FROM reviews r
                 WHERE r.case_id = ?1 AND r.retracts IS NULL
                   AND NOT EXISTS (SELECT 1 FROM reviews x WHERE x.retracts = r.id)
                 ORDER BY r.id DESC LIMIT 1"
            ),
            params![case_id],
            review_from_row,
        )
        .optional()?)
}

/// The stored tags of a case row (a hand-edited value that is not a JSON list reads as none).
pub(super) fn parse_tags(json: &str) -> Vec<String> {
    serde_json::from_str(json).unwrap_or_default()
}

/// `c.tags` as SQL that SQLite's `json_each` can always read.
pub(super) const TAGS_JSON: &str = "(CASE WHEN json_valid(c.tags) THEN c.tags ELSE '[]' END)";

/// A FROM item `t` with one row per tag of case `c` (column `t.value`).
pub(super) fn tags_each(d: Dialect) -> String {
    match d {
        Dialect::Sqlite => format!("json_each({TAGS_JSON}) t"),
        // PostgreSQL stores only what `normalize_tags` wrote: always a JSON list.
        Dialect::Postgres => {
            "jsonb_array_elements_text(COALESCE(NULLIF(c.tags, ''), '[]')::jsonb) AS t(value)"
                .into()
        }
    }
}

/// `a = b`, ignoring letter case (ASCII on SQLite, as `COLLATE NOCASE` does).
pub(super) fn nocase_eq(d: Dialect, a: &str, b: &str) -> String {
    match d {
        Dialect::Sqlite => format!("{a} = {b} COLLATE NOCASE"),
        Dialect::Postgres => format!("lower({a}) = lower({b})"),
    }
}

impl Store {
    /// The case's current decision: its newest review decision that no later row retracted.
    pub fn current_decision(&self, case_id: i64) -> Result<Option<ReviewRow>> {
        current_decision_in(&self.db, case_id)
    }

    /// Withdraws the case's current decision, as `analyst` (who must be the one who made it):
    /// appends a retraction row and an audit entry, keeping the decision's row and its audit
    /// entry. The case's decision is then the one before (or none); a withdrawn fake/real
    /// decision no longer counts as a training label.
    pub fn undo_review(&mut self, case_id: i64, analyst: &str) -> Result<Undo> {
        require_analyst(analyst, "undoing a decision")?;
        let analyst = analyst.trim();
        self.case(case_id)?;
        let at = now();
        self.db.write_tx(|tx| {
            let Some(last) = current_decision_in(tx, case_id)? else {
                return Err(Error::Other(format!(
                    "case {case_id} has no decision to undo"
                )));
            };
            if last.analyst.trim() != analyst {
                return Err(Error::Other(format!(
                    "the last decision on case {case_id} ({}) was made by {}; only they can undo it — record a new decision instead",
                    last.verdict, last.analyst
                )));
            }
            let rid: i64 = tx.query_row(
                "INSERT INTO reviews (case_id, verdict, analyst, note, created_at, retracts) VALUES (?1, ?2, ?3, '', ?4, ?5)
                 RETURNING id",
                params![case_id, last.verdict, analyst, at, last.id],
                |r| r.get(0),
            )?;
            append_audit(
                tx,
                analyst,
                "review_retracted",
                Some(case_id),
                &serde_json::json!({"review_id": rid, "retracts": last.id, "verdict": last.verdict}),
            )?;
            let current = current_decision_in(tx, case_id)?;
            Ok(Undo {
                review_id: rid,
                retracted: ReviewRow {
                    retracted: true,
                    ..last
                },
                current,
            })
        })
    }

    /// The case's tags, in the order they were given.
    pub fn case_tags(&self, case_id: i64) -> Result<Vec<String>> {
        Ok(self.case(case_id)?.tags)
    }

    /// The case's note ("" when none).
    pub fn case_note(&self, case_id: i64) -> Result<String> {
        Ok(self
            .db
            .query_row(
                "SELECT note FROM cases WHERE id = ?1",
                params![case_id],
                |r| r.get::<String>(0),
            )
            .optional()?
            .ok_or_else(|| Error::Other(format!("case {case_id} does not exist")))?)
    }

    /// Replaces the case's tags with `tags` ([`normalize_tags`]); audited `tags_changed` with
    /// the list before and after. Returns the stored list; nothing is written when it is unchanged.
    pub fn set_case_tags<S: AsRef<str>>(
        &mut self,
        case_id: i64,
        tags: &[S],
        analyst: &str,
    ) -> Result<Vec<String>> {
        require_analyst(analyst, "changing tags")?;
        let tags = normalize_tags(tags)?;
        self.case(case_id)?;
        let json = serde_json::to_string(&tags).map_err(|e| Error::Other(e.to_string()))?;
        self.db.write_tx(|tx| {
            let before: String =
                tx.query_row("SELECT tags FROM cases WHERE id = ?1", params![case_id], |r| {
                    r.get(0)
                })?;
            let before = parse_tags(&before);
            if before == tags {
                return Ok(());
            }
            tx.execute(
                "UPDATE cases SET tags = ?1 WHERE id = ?2",
                params![json, case_id],
            )?;
            let lower = |v: &[String]| v.iter().map(|t| t.to_lowercase()).collect::<Vec<_>>();
            let (old, new) = (lower(&before), lower(&tags));
            let added: Vec<&String> = tags
                .iter()
                .filter(|t| !old.contains(&t.to_lowercase()))
                .collect();
            let removed: Vec<&String> = before
                .iter()
                .filter(|t| !new.contains(&t.to_lowercase()))
                .collect();
            append_audit(
                tx,
                analyst.trim(),
                "tags_changed",
                Some(case_id),
                &serde_json::json!({"tags": tags, "before": before, "added": added, "removed": removed}),
            )
        })?;
        Ok(tags)
    }

    /// Replaces the case's note ([`normalize_note`]); audited `note_changed` with the text before
    /// and after. Returns the stored text; nothing is written when it is unchanged.
    pub fn set_case_note(&mut self, case_id: i64, note: &str, analyst: &str) -> Result<String> {
        require_analyst(analyst, "changing the case note")?;
        let note = normalize_note(note)?;
        self.case(case_id)?;
        self.db.write_tx(|tx| {
            let before: String = tx.query_row(
                "SELECT note FROM cases WHERE id = ?1",
                params![case_id],
                |r| r.get(0),
            )?;
            if before == note {
                return Ok(());
            }
            tx.execute(
                "UPDATE cases SET note = ?1 WHERE id = ?2",
                params![note, case_id],
            )?;
            append_audit(
                tx,
                analyst.trim(),
                "note_changed",
                Some(case_id),
                &serde_json::json!({"note": note, "before": before}),
            )
        })?;
        Ok(note)
    }

    /// Every tag in use (letter case ignored: one spelling shown) with its number of cases,
    /// alphabetical: the case list's tag filter.
    pub fn all_tags(&self) -> Result<Vec<TagCount>> {
        let sql = match self.db.dialect() {
            Dialect::Sqlite => format!(
                "SELECT MIN(t.value), COUNT(DISTINCT c.id) FROM cases c, json_each({TAGS_JSON}) t
                 WHERE t.type = 'text' GROUP BY t.value COLLATE NOCASE ORDER BY t.value COLLATE NOCASE"
            ),
            Dialect::Postgres => format!(
                "SELECT MIN(t.value), COUNT(DISTINCT c.id) FROM cases c, {}
                 GROUP BY lower(t.value) ORDER BY lower(t.value)",
                tags_each(Dialect::Postgres)
            ),
        };
        self.db.query_map(&sql, params![], |r| {
            Ok(TagCount {
                tag: r.get(0)?,
                cases: r.get(1)?,
            })
        })
    }
}
