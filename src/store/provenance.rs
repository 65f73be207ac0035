//! Provenance per media (schema v9): the JSON document `provenance::Provenance` computed at
//! import, and the perceptual hashes of an image or a video's keyframes for "seen before".
use super::db::{params, Exec, OptionalExt};
use super::{now, Store};
use crate::provenance::Provenance;
use crate::Result;

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
        self.db.write_tx(|tx| {
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
            .db
            .query_row(
                "SELECT data FROM provenance WHERE media_id = ?1",
                params![media_id],
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
        self.db.write_tx(|tx| {
            tx.execute("DELETE FROM media_hashes WHERE media_id = ?1", params![media_id])?;
            for (frame, pts, h) in rows {
                tx.execute(
                    "INSERT INTO media_hashes (media_id, frame_index, pts_s, phash) VALUES (?1, ?2, ?3, ?4)",
                    params![media_id, frame, pts, *h as i64],
                )?;
            }
            Ok(())
        })
    }

    /// Perceptual hashes of one media (`Some(id)`) or of every media (`None`).
    pub fn media_hashes(&self, media_id: Option<i64>) -> Result<Vec<HashRow>> {
        let rows = self.db.query_map(
            "SELECT media_id, frame_index, pts_s, phash FROM media_hashes
             WHERE CAST(?1 AS BIGINT) IS NULL OR media_id = ?1 ORDER BY media_id, frame_index",
            params![media_id],
            |r| {
                Ok(HashRow {
                    media_id: r.get(0)?,
                    frame_index: r.get(1)?,
                    pts_s: r.get(2)?,
                    phash: r.get::<i64>(3)? as u64,
                })
            },
        )?;
        Ok(rows)
    }
}

/// A case as "seen before" names it (`provenance::similar`).
#[derive(Debug, Clone, PartialEq)]
pub struct CaseRef {
    pub case_id: i64,
    pub media_id: i64,
    pub title: String,
    pub created_at: String,
}

/// One stored face embedding with where it comes from (`provenance::similar`).
#[derive(Debug, Clone, PartialEq)]
pub struct FaceEmbedding {
    pub case_id: i64,
    pub face_id: i64,
    /// Sampled frame index (`frames.idx`) of the face.
    pub frame_index: i64,
    pub track_id: i64,
    /// The profile whose detector computed it: embeddings of different profiles live in
    /// different spaces and are never compared.
    pub profile: Option<String>,
    /// Computed with random (UNTRAINED) weights.
    pub untrained: bool,
    /// A picture exists for a thumbnail (`Store::face_display_crop`).
    pub has_crop: bool,
    /// The detector's CLIP embedding (`FaceScore::clip_emb`).
    pub clip: Vec<f32>,
}

impl Store {
    /// Every case with its media, title and creation time, by id.
    pub fn case_refs(&self) -> Result<Vec<CaseRef>> {
        let rows = self.db.query_map(
            "SELECT id, media_id, title, created_at FROM cases ORDER BY id",
            params![],
            |r| {
                Ok(CaseRef {
                    case_id: r.get(0)?,
                    media_id: r.get(1)?,
                    title: r.get(2)?,
                    created_at: r.get(3)?,
                })
            },
        )?;
        Ok(rows)
    }

    /// The face embeddings of each case's newest finished (`done`) analysis — of one case
    /// (`Some(id)`) or of every case — leaving out whole-frame "faces". `dim`, when given, keeps
    /// only embeddings of that width (read from the blob's length, before decoding).
    pub fn face_embeddings(
        &self,
        case_id: Option<i64>,
        dim: Option<usize>,
    ) -> Result<Vec<FaceEmbedding>> {
        self.face_rows(case_id, dim, true)
    }
}

impl Store {
    /// Like [`Store::face_embeddings`] of every case at one width, without reading the
    /// vectors (`clip` is empty): the faces a persisted index's hits may name.
    pub fn face_embedding_refs(&self, dim: usize) -> Result<Vec<FaceEmbedding>> {
        self.face_rows(None, Some(dim), false)
    }

    /// The one query behind both: `vectors` false leaves the blob unread (`clip` empty).
    fn face_rows(
        &self,
        case_id: Option<i64>,
        dim: Option<usize>,
        vectors: bool,
    ) -> Result<Vec<FaceEmbedding>> {
        let empty = match self.db.dialect() {
            super::db::Dialect::Sqlite => "x''",
            super::db::Dialect::Postgres => "''::bytea",
        };
        let sql = format!(
            "SELECT a.case_id, f.id, fr.idx, f.track_id, a.profile, a.untrained,
                    COALESCE(f.native_crop, f.crop) IS NOT NULL,
                    CASE WHEN ?3 THEN e.clip ELSE {empty} END
             FROM analyses a
             JOIN faces f ON f.analysis_id = a.id
             JOIN frames fr ON fr.id = f.frame_id
             JOIN embeddings e ON e.face_id = f.id
             WHERE a.id = (SELECT MAX(b.id) FROM analyses b
                           WHERE b.case_id = a.case_id AND b.status = 'done')
               AND f.full_frame = 0
               AND (CAST(?1 AS BIGINT) IS NULL OR a.case_id = ?1)
               AND (CAST(?2 AS BIGINT) IS NULL OR length(e.clip) = ?2 * 4)
             ORDER BY a.case_id, f.id"
        );
        let rows = self.db.query_map(
            &sql,
            params![case_id, dim.map(|d| d as i64), vectors],
            |r| {
                Ok(FaceEmbedding {
                    case_id: r.get(0)?,
                    face_id: r.get(1)?,
                    frame_index: r.get(2)?,
                    track_id: r.get(3)?,
                    profile: r.get(4)?,
                    untrained: r.get::<i64>(5)? != 0,
                    has_crop: r.get(6)?,
                    clip: super::bytes_f32(&r.get::<Vec<u8>>(7)?),
                })
            },
        )?;
        Ok(rows)
    }

    /// The highest face id stored (0 when none): a persisted face index holding a higher one
    /// was made before faces were deleted, and is rebuilt.
    pub fn max_face_id(&self) -> Result<i64> {
        Ok(self
            .db
            .query_row("SELECT COALESCE(MAX(id), 0) FROM faces", params![], |r| {
                r.get(0)
            })?)
    }
}
