//! Versioned schema migrations. Each entry moves the database from version i to i+1 inside one
//! transaction; `PRAGMA user_version` records where a database stands.

pub const MIGRATIONS: &[&str] = &[
    // v1: the case model.
    r#"
CREATE TABLE media (
    id            INTEGER PRIMARY KEY,
    sha256        TEXT NOT NULL UNIQUE,
    original_name TEXT NOT NULL,
    original_path TEXT NOT NULL,
    kind          TEXT NOT NULL,            -- image | video | framefolder | live
    size_bytes    INTEGER NOT NULL,
    width         INTEGER,
    height        INTEGER,
    duration_s    REAL,
    fps           REAL,
    codec         TEXT,
    container     TEXT,
    blob          TEXT NOT NULL,            -- path relative to the data dir (content-addressed)
    imported_at   TEXT NOT NULL
);

CREATE TABLE cases (
    id          INTEGER PRIMARY KEY,
    media_id    INTEGER NOT NULL REFERENCES media(id),
    title       TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    -- pending | running | done | not_scored | failed | interrupted | cancelled
    status      TEXT NOT NULL DEFAULT 'pending',
    score       REAL,
    band        TEXT,                        -- fake | review | real (NULL when not scored)
    untrained   INTEGER NOT NULL DEFAULT 0,  -- 1 when the score came from random-init weights
    profile     TEXT,
    message     TEXT,                        -- what the analyst should know (error, "not scored", ...)
    last_analysis_id INTEGER
);
CREATE INDEX cases_band ON cases(band);
CREATE INDEX cases_media ON cases(media_id);

CREATE TABLE analyses (
    id            INTEGER PRIMARY KEY,
    case_id       INTEGER NOT NULL REFERENCES cases(id),
    started_at    TEXT NOT NULL,
    finished_at   TEXT,
    status        TEXT NOT NULL,             -- running | done | not_scored | failed | interrupted | cancelled
    pid           INTEGER NOT NULL,
    settings_json TEXT NOT NULL,
    profile       TEXT,
    weight_hashes TEXT,                      -- JSON [[file, sha256], ...]
    untrained     INTEGER NOT NULL DEFAULT 0,
    error         TEXT,
    frames_total  INTEGER NOT NULL DEFAULT 0,
    faces_total   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX analyses_case ON analyses(case_id);

CREATE TABLE frames (
    id            INTEGER PRIMARY KEY,
    analysis_id   INTEGER NOT NULL REFERENCES analyses(id) ON DELETE CASCADE,
    idx           INTEGER NOT NULL,
    source_index  INTEGER NOT NULL,
    pts_s         REAL NOT NULL,
    keyframe      INTEGER NOT NULL,
    motion        REAL NOT NULL,
    width         INTEGER NOT NULL,
    height        INTEGER NOT NULL,
    UNIQUE(analysis_id, idx)
);

CREATE TABLE faces (
    id            INTEGER PRIMARY KEY,
    frame_id      INTEGER NOT NULL REFERENCES frames(id) ON DELETE CASCADE,
    analysis_id   INTEGER NOT NULL REFERENCES analyses(id) ON DELETE CASCADE,
    track_id      INTEGER NOT NULL,
    x1 REAL NOT NULL, y1 REAL NOT NULL, x2 REAL NOT NULL, y2 REAL NOT NULL,
    det_prob      REAL NOT NULL,
    landmarks     TEXT NOT NULL,             -- JSON [[x,y] x5]
    crop          TEXT,                      -- aligned 224² crop, relative to the data dir
    full_frame    INTEGER NOT NULL DEFAULT 0 -- 1 when this "face" is the whole frame (no face found)
);
CREATE INDEX faces_analysis ON faces(analysis_id);

CREATE TABLE scores (
    id            INTEGER PRIMARY KEY,
    analysis_id   INTEGER NOT NULL REFERENCES analyses(id) ON DELETE CASCADE,
    level         TEXT NOT NULL,             -- face | frame | track | media
    face_id       INTEGER REFERENCES faces(id) ON DELETE CASCADE,
    frame_idx     INTEGER,
    track_id      INTEGER,
    score         REAL NOT NULL,
    profile       TEXT NOT NULL,
    weight_hashes TEXT NOT NULL,
    untrained     INTEGER NOT NULL
);
CREATE INDEX scores_analysis ON scores(analysis_id, level);

CREATE TABLE reviews (
    id         INTEGER PRIMARY KEY,
    case_id    INTEGER NOT NULL REFERENCES cases(id),
    verdict    TEXT NOT NULL CHECK (verdict IN ('fake', 'real', 'unsure')),
    analyst    TEXT NOT NULL,
    note       TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
);

CREATE TABLE labels (
    id         INTEGER PRIMARY KEY,
    case_id    INTEGER NOT NULL REFERENCES cases(id),
    label      INTEGER NOT NULL CHECK (label IN (0, 1)),   -- 1 = fake
    source     TEXT NOT NULL,                              -- review | import
    review_id  INTEGER REFERENCES reviews(id),
    analyst    TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE audit (
    id       INTEGER PRIMARY KEY,
    at       TEXT NOT NULL,
    actor    TEXT NOT NULL,
    action   TEXT NOT NULL,
    case_id  INTEGER,
    details  TEXT NOT NULL DEFAULT '{}'
);
-- The audit log is append-only: the database itself refuses edits and deletions.
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
"#,
    // v2: explainability outputs and the embeddings temporal analysis reads.
    r#"
CREATE TABLE embeddings (
    face_id  INTEGER PRIMARY KEY REFERENCES faces(id) ON DELETE CASCADE,
    clip     BLOB NOT NULL,                 -- little-endian f32
    cnn      BLOB                           -- little-endian f32, NULL without a CNN
);

CREATE TABLE explanations (
    id          INTEGER PRIMARY KEY,
    case_id     INTEGER NOT NULL REFERENCES cases(id),
    analysis_id INTEGER NOT NULL REFERENCES analyses(id) ON DELETE CASCADE,
    face_id     INTEGER REFERENCES faces(id) ON DELETE CASCADE,
    frame_idx   INTEGER,
    kind        TEXT NOT NULL,              -- gradcam_cnn | gradcam_vit | rollout | noise | spectrum | ela | boundary | temporal | blink
    space       TEXT NOT NULL DEFAULT 'crop', -- crop | frame | plot
    blob        TEXT,                       -- PNG, relative to the data dir's blob store (none for v5 charts)
    summary     TEXT NOT NULL DEFAULT '',   -- the one-line explanation for the analyst
    data        TEXT NOT NULL DEFAULT '{}', -- JSON series for the UI's charts
    created_at  TEXT NOT NULL
);
CREATE INDEX explanations_case ON explanations(case_id, analysis_id);
"#,
    // v3: how the faces of an analysis were prepared for the detector (the profile's preprocessing
    // chain, e.g. GenD's native-size LMedS warp + Pillow bicubic), recorded beside its scores.
    r#"
ALTER TABLE analyses ADD COLUMN preprocessing TEXT;
-- The face at the frame's own resolution (what the gallery shows); `crop` stays the detector's
-- exact input (what was scored, and what retraining from reviews learns from).
ALTER TABLE faces ADD COLUMN native_crop TEXT;
"#,
    // v4: chain of custody and concurrent writers. Frame folders are re-hashed with the manifest
    // scheme by the migration itself (`store::apply_folder_rehash`); their v1 hash is kept.
    r#"
ALTER TABLE media ADD COLUMN legacy_sha256 TEXT;    -- frame folders stored before v4: the v1 hash
ALTER TABLE media ADD COLUMN verified_at TEXT;      -- when the stored copy last re-hashed to sha256
ALTER TABLE analyses ADD COLUMN owner_lock TEXT;    -- locks/analysis-<token>.lock held by the owner
"#,
    // v5: temporal and blink views are stored as chart series (`explain::chart::Chart`: x, frames,
    // panels, series, marks, spans, details), drawn by the app and the report; no PNG plots are
    // made any more. Rows written before held the analysis report itself (`TemporalReport`,
    // `BlinkReport`); they are rewritten into the same shape `temporal::chart` and `blink::chart`
    // produce (blinks with the default closed threshold 0.5, the only one ever used). Their old
    // PNG stays in the blob store and in `blob`. Rows in another shape are left as they are.
    r#"
UPDATE explanations SET data = json_object(
    'track', data -> '$.track',
    'title', 'Track ' || (data ->> '$.track') || ' – temporal consistency',
    'x_label', 'time (s)',
    'x', data -> '$.pts_s',
    'frames', data -> '$.frames',
    'panels', json_array(
        json_object('name', 'score', 'title', 'fake probability', 'range', json_array(0.0, 1.0), 'lines', json_array()),
        json_object('name', 'drift', 'title', 'embedding drift (1 − cos)', 'range', NULL, 'lines', json_array()),
        json_object('name', 'jitter', 'title', 'landmark jitter (fraction of the face diagonal)', 'range', NULL, 'lines', json_array())),
    'series', json_array(
        json_object('name', 'score', 'label', 'score', 'panel', 'score', 'values', data -> '$.score'),
        json_object('name', 'clip_drift', 'label', 'CLIP', 'panel', 'drift', 'values', data -> '$.clip_drift'),
        json_object('name', 'cnn_drift', 'label', 'CNN', 'panel', 'drift', 'values', data -> '$.cnn_drift'),
        json_object('name', 'jitter', 'label', 'jitter', 'panel', 'jitter', 'values', data -> '$.jitter')),
    'marks', json((SELECT json_group_array(json_object(
                'series', s.value ->> '$.series',
                'index', s.value -> '$.index',
                'label', printf('spike, z = %.1f', s.value ->> '$.z')) ORDER BY CAST(s.key AS INTEGER))
            FROM json_each(explanations.data, '$.spikes') AS s)),
    'spans', json_array(),
    'details', json_object('spikes', data -> '$.spikes'))
WHERE kind = 'temporal' AND json_valid(data) AND json_type(data, '$.series') IS NULL
  AND json_type(data, '$.pts_s') = 'array' AND json_type(data, '$.frames') = 'array'
  AND json_type(data, '$.spikes') = 'array';

UPDATE explanations SET data = json_object(
    'track', data -> '$.track',
    'title', 'Track ' || (data ->> '$.track') || ' – eye openness and blinks',
    'x_label', 'time (s)',
    'x', data -> '$.pts_s',
    'frames', data -> '$.frames',
    'panels', json_array(json_object('name', 'openness', 'title', 'eye openness / track median', 'range', NULL,
        'lines', json_array(json_object('y', 1.0, 'label', 'track median'), json_object('y', 0.5, 'label', 'closed')))),
    'series', json_array(json_object('name', 'openness', 'label', 'openness', 'panel', 'openness', 'values', data -> '$.openness')),
    'marks', json_array(),
    'spans', json((SELECT json_group_array(json_object('from', b.value -> '$.start_s', 'to', b.value -> '$.end_s', 'label', b.label)
                       ORDER BY b.grp, b.pos)
            FROM (SELECT value, 'blink' AS label, 0 AS grp, CAST(key AS INTEGER) AS pos FROM json_each(explanations.data, '$.blinks')
                  UNION ALL
                  SELECT value, 'eye closure', 1, CAST(key AS INTEGER) FROM json_each(explanations.data, '$.closures')) AS b)),
    'details', json_object(
        'baseline', data -> '$.baseline',
        'duration_s', data -> '$.duration_s',
        'sample_rate_hz', data -> '$.sample_rate_hz',
        'per_minute', data -> '$.per_minute',
        'assessment', data -> '$.assessment',
        'blinks', data -> '$.blinks',
        'closures', data -> '$.closures'))
WHERE kind = 'blink' AND json_valid(data) AND json_type(data, '$.series') IS NULL
  AND json_type(data, '$.pts_s') = 'array' AND json_type(data, '$.frames') = 'array'
  AND json_type(data, '$.blinks') = 'array' AND json_type(data, '$.closures') = 'array';
"#,
    // v6: where and in what precision an analysis' scores were computed (`cpu fp32`,
    // `cpu bf16 (avx512_bf16)`, `cuda:0 bf16`): bf16 scores differ slightly from fp32 ones.
    r#"
ALTER TABLE analyses ADD COLUMN compute TEXT;
"#,
    // v7: scope warnings (`scope::ScopeWarning`: why the detector's verdict is less reliable for
    // this media — no face, many faces, small faces, heavy compression, very short video,
    // non-photographic content or "not checked"), a JSON array per analysis; the case shows the
    // scope of its last analysis. NULL for analyses made before v7 (never computed).
    r#"
ALTER TABLE analyses ADD COLUMN scope TEXT;
"#,
    // v8: review comforts. Undo of a decision is a new review row that `retracts` the decision
    // it withdraws (its verdict repeats the withdrawn one); the case's current decision is its
    // newest decision that no row retracts (`Store::current_decision`). Review rows are never
    // edited or deleted. A case has tags (JSON array of short labels, `store::normalize_tags`)
    // and one free-text note (`store::normalize_note`); every change is audited.
    r#"
ALTER TABLE reviews ADD COLUMN retracts INTEGER;   -- reviews.id of the same case's withdrawn decision
CREATE UNIQUE INDEX reviews_retracts ON reviews(retracts) WHERE retracts IS NOT NULL;
CREATE TRIGGER reviews_no_update BEFORE UPDATE ON reviews
    BEGIN SELECT RAISE(ABORT, 'reviews are append-only: undo records a retraction'); END;
CREATE TRIGGER reviews_no_delete BEFORE DELETE ON reviews
    BEGIN SELECT RAISE(ABORT, 'reviews are append-only: undo records a retraction'); END;
ALTER TABLE cases ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
ALTER TABLE cases ADD COLUMN note TEXT NOT NULL DEFAULT '';
"#,
    // v9: provenance beside the pixels (`src/provenance`). `provenance`: what the file itself
    // says about where it came from — container/EXIF/XMP/ICC/JPEG metadata and C2PA content
    // credentials — one JSON document per media (`provenance::Provenance`), computed at import and
    // again on demand (`verity provenance --refresh`); never merged into the detector's score.
    // `media_hashes`: 64-bit DCT perceptual hashes of an image or of a video's keyframes, for
    // "seen before" (`provenance::similar`); stored as signed 64-bit integers.
    r#"
CREATE TABLE provenance (
    media_id    INTEGER PRIMARY KEY REFERENCES media(id),
    computed_at TEXT NOT NULL,
    data        TEXT NOT NULL                -- JSON: provenance::Provenance
);
CREATE TABLE media_hashes (
    id          INTEGER PRIMARY KEY,
    media_id    INTEGER NOT NULL REFERENCES media(id),
    frame_index INTEGER NOT NULL,            -- sampled frame index (0 for an image)
    pts_s       REAL,
    phash       INTEGER NOT NULL,            -- 64-bit DCT pHash, bit pattern as i64
    UNIQUE (media_id, frame_index)
);
CREATE INDEX media_hashes_media ON media_hashes(media_id);
"#,
    // v10: API bearer tokens for `verity serve` (`store::tokens`). Only the SHA-256 of a secret is
    // kept; the secret is shown once by `verity token add`. A token is revoked by setting
    // `revoked_at` (rows are kept so the audit log's `api:<analyst>` actors stay explained).
    r#"
CREATE TABLE api_tokens (
    id          INTEGER PRIMARY KEY,
    analyst     TEXT NOT NULL,
    sha256      TEXT NOT NULL UNIQUE,        -- hex SHA-256 of the secret
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
);
"#,
    // v11: the job queue (`store::jobs`) that `verity serve` submits to and `verity worker`
    // processes take jobs from (on PostgreSQL with `FOR UPDATE SKIP LOCKED`): priority 0 =
    // interactive before 1 = batch, then oldest first; a running job holds a lease
    // (`lease_until`, seconds since the epoch on the database's clock) that its worker renews,
    // so a killed worker's job is taken again once the lease runs out. Each analysis records the
    // job it ran for, and at most one finished analysis per job is accepted (a unique index):
    // a job ends with one result however many workers started it.
    r#"
CREATE TABLE jobs (
    id            INTEGER PRIMARY KEY,
    kind          TEXT NOT NULL,              -- analyze | rerun
    path          TEXT,                       -- analyze: the file or folder (shared storage)
    case_id       INTEGER,                    -- rerun: the case; analyze: once imported
    label         TEXT NOT NULL,
    priority      INTEGER NOT NULL DEFAULT 1, -- 0 interactive, 1 batch
    state         TEXT NOT NULL DEFAULT 'queued', -- queued | running | done | failed | cancelled
    submitted_by  TEXT NOT NULL,
    submitted_at  TEXT NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    lease_owner   TEXT,
    lease_until   REAL,
    started_at    TEXT,
    finished_at   TEXT,
    progress      TEXT,                       -- JSON: server::jobs::JobProgress
    result        TEXT,                       -- done | not_scored
    verdict       TEXT,
    untrained     INTEGER,
    message       TEXT,
    error_code    TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    upload        TEXT,                       -- upload folder removed when the job ends
    faces_scored  INTEGER NOT NULL DEFAULT 0,
    times         TEXT                        -- JSON: pipeline::StageTimes of the finished run
);
CREATE INDEX jobs_queue ON jobs(state, priority, id);
ALTER TABLE analyses ADD COLUMN job_id INTEGER;
CREATE UNIQUE INDEX analyses_job_once ON analyses(job_id)
    WHERE job_id IS NOT NULL AND status IN ('done', 'not_scored');
"#,
];
