//! Provenance per media (schema v9): the JSON document `provenance::Provenance` computed at
//! import, and the perceptual hashes of an image or a video's keyframes for "seen before".
use super::{now, write_tx, Store};
use crate::provenance::Provenance;
use crate::Result;
use rusqlite::{params, OptionalExtension};

/// One stored perceptual hash.
#[derive(Debug, Clone, PartialEq)]
pub struct HashRow {
    pub media_id: i64,
    pub frame_index: i64,
    pub pts_s: Option<f64>,
    pub phash: u64,
}

impl Store {
    /// Stores (or replaces) the provenance of a media.
    pub fn set_provenance(&mut self, media_id: i64, p: &Provenance) -> Result<()> {
        let data = serde_json::to_string(p)
            .map_err(|e| crate::Error::Other(format!("provenance does not serialise: {e}")))?;
        write_tx(&self.conn, |tx| {
            tx.execute(
                "INSERT INTO provenance (media_id, computed_at, data) VALUES (?1, ?2, ?3)
                 ON CONFLICT(media_id) DO UPDATE SET computed_at = excluded.computed_at,
                                                     data = excluded.data",
                params![media_id, now(), data],
            )?;
            Ok(())
        })
    }

    /// The stored provenance of a media; `None` when it was never computed (media imported
    /// before v9) or the stored document no longer parses.
    pub fn provenance(&self, media_id: i64) -> Result<Option<Provenance>> {
        let data: Option<String> = self
            .conn
            .query_row(
                "SELECT data FROM provenance WHERE media_id = ?1",
                [media_id],
                |r| r.get(0),
            )
            .optional()?;
        Ok(data.and_then(|d| match serde_json::from_str(&d) {
            Ok(p) => Some(p),
            Err(e) => {
                tracing::warn!(media_id, "stored provenance does not parse: {e}");
                None
            }
        }))
    }

    /// Replaces the perceptual hashes of a media in one transaction.
    pub fn set_media_hashes(
        &mut self,
        media_id: i64,
        rows: &[(i64, Option<f64>, u64)],
    ) -> Result<()> {
        write_tx(&self.conn, |tx| {
            tx.execute("DELETE FROM media_hashes WHERE media_id = ?1", [media_id])?;
            let mut st = tx.prepare_cached(
                "INSERT INTO media_hashes (media_id, frame_index, pts_s, phash) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for (frame, pts, h) in rows {
                st.execute(params![media_id, frame, pts, *h as i64])?;
            }
            Ok(())
        })
    }

    /// Perceptual hashes of one media (`Some(id)`) or of every media (`None`).
    pub fn media_hashes(&self, media_id: Option<i64>) -> Result<Vec<HashRow>> {
        let mut st = self.conn.prepare_cached(
            "SELECT media_id, frame_index, pts_s, phash FROM media_hashes
             WHERE ?1 IS NULL OR media_id = ?1 ORDER BY media_id, frame_index",
        )?;
        let rows = st.query_map([media_id], |r| {
            Ok(HashRow {
                media_id: r.get(0)?,
                frame_index: r.get(1)?,
                pts_s: r.get(2)?,
                phash: r.get::<_, i64>(3)? as u64,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}
