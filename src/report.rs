//! Case reports: one self-contained HTML file (no external requests — styles inline, the
//! timeline as inline SVG, face crops as base64 `data:` images) and a JSON twin with every
//! stored number, for archiving a decision and for handing it to someone without the app.
//!
//! A report says exactly what the store says: an untrained profile's score carries the
//! UNTRAINED warning, a case without detector weights says "not scored" and how to install them,
//! and heat-map overlays, artifact views and temporal/blink plots appear when the
//! explainability stage has stored them for the case's latest analysis ("not computed" and how
//! to compute them otherwise).
use crate::config::Band;
use crate::pipeline::INSTALL_HINT;
use crate::store::{CaseDetail, ExplanationRow, Store};
use crate::{Error, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// At most this many face crops are embedded (evenly spread over the case), to keep a report of
/// a long video openable in a browser; the JSON lists every face.
pub const MAX_EMBEDDED_CROPS: usize = 48;

/// At most this many explanation images per section are embedded (newest of each view first).
pub const MAX_EMBEDDED_EXPLANATIONS: usize = 12;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Html,
    Json,
    /// The HTML report printed by headless Chromium ([`crate::pdf`]).
    Pdf,
}

impl std::str::FromStr for Format {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "html" | "htm" => Ok(Format::Html),
            "json" => Ok(Format::Json),
            "pdf" => Ok(Format::Pdf),
            _ => Err(Error::Config(format!(
                "report format must be html, json or pdf, not {s:?}"
            ))),
        }
    }
}

/// The JSON report: the whole stored case plus the one-line verdict and parsed weight hashes.
#[derive(Debug, Clone, Serialize)]
pub struct JsonReport<'a> {
    pub generator: String,
    pub generated_at: String,
    pub verdict: String,
    pub weight_hashes: Vec<(String, String)>,
    /// "computed" when the latest analysis has stored explanations, else "not computed".
    pub overlays: &'static str,
    /// The newest stored explanation of each view: kind, space, face/frame, one-line summary,
    /// its numbers, and the PNG's path inside the data folder.
    pub explanations: Vec<ExplanationRow>,
    /// When the stored media last re-hashed to its recorded SHA-256 (None: never since import).
    pub media_verified_at: Option<String>,
    #[serde(flatten)]
    pub detail: &'a CaseDetail,
}

/// The verdict line for a stored case, worded like the CLI's.
pub fn verdict(d: &CaseDetail) -> String {
    let c = &d.case;
    let band = c.band.as_deref().and_then(band_from_str);
    match (c.status.as_str(), c.score, band) {
        ("done", Some(score), Some(b)) if c.untrained => {
            format!(
                "UNTRAINED {score:.3} ({}) — random-weight profile, not a verdict",
                b.as_str()
            )
        }
        ("done", Some(score), Some(b)) => format!("{} ({score:.3})", b.label()),
        ("not_scored", ..) => "not scored".into(),
        ("running", ..) | ("pending", ..) => "analysis not finished".into(),
        (s, ..) => s.replace('_', " "),
    }
}

fn band_from_str(s: &str) -> Option<Band> {
    match s {
        "fake" => Some(Band::Fake),
        "review" => Some(Band::Review),
        "real" => Some(Band::Real),
        _ => None,
    }
}

/// The `(file, sha256)` pairs of the weights that produced the latest analysis.
pub fn weight_hashes(d: &CaseDetail) -> Vec<(String, String)> {
    d.analysis
        .as_ref()
        .and_then(|a| a.weight_hashes.as_deref())
        .and_then(|h| serde_json::from_str(h).ok())
        .unwrap_or_default()
}

/// The newest stored explanation of each view of the case's latest analysis
/// ([`Store::latest_explanations`]) in report order: Grad-CAM/rollout, artifact views, then
/// the video plots.
pub fn latest_explanations(store: &Store, case_id: i64) -> Result<Vec<ExplanationRow>> {
    let rank = |k: &str| match k {
        "gradcam_cnn" | "gradcam_vit" | "rollout" => 0,
        "temporal" | "blink" => 2,
        _ => 1,
    };
    let mut rows = store.latest_explanations(case_id)?;
    rows.sort_by_key(|r| (rank(&r.kind), r.face_id, r.id));
    Ok(rows)
}

pub fn json(store: &Store, d: &CaseDetail) -> Result<String> {
    let explanations = latest_explanations(store, d.case.id)?;
    let r = JsonReport {
        generator: format!("Verity Desk {}", crate::version()),
        generated_at: crate::store::now(),
        verdict: verdict(d),
        weight_hashes: weight_hashes(d),
        overlays: if explanations.is_empty() {
            "not computed"
        } else {
            "computed"
        },
        explanations,
        media_verified_at: d.media.verified_at.clone(),
        detail: d,
    };
    serde_json::to_string_pretty(&r)
        .map_err(|e| Error::Other(format!("cannot write the JSON report: {e}")))
}

/// Writes the report of `case_id` to `path` in `format`.
pub fn export(store: &Store, case_id: i64, format: Format, path: &Path) -> Result<()> {
    // Chain of custody: the stored media must still match its recorded SHA-256 (fails, naming
    // the original file, and audits the mismatch); the verification time goes in the report.
    store.verify_case_media(case_id, "report")?;
    let d = store.case_detail(case_id)?;
    let text = match format {
        Format::Html => html(store, &d),
        Format::Json => json(store, &d)?,
        Format::Pdf => {
            let browser = crate::pdf::browser_on_path();
            return crate::pdf::print_html(browser.as_deref(), &html(store, &d), path);
        }
    };
    // Atomically, never through a link or over a file that is not an earlier report.
    let ext = if format == Format::Html { "html" } else { "json" };
    crate::fsutil::write_report(path, ext, text.as_bytes())
}

/// Escapes text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// Standard base64 (RFC 4648, padded): small enough to own rather than add a crate for.
pub fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut o = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for c in bytes.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        o.push(T[(n >> 18) as usize & 63] as char);
        o.push(T[(n >> 12) as usize & 63] as char);
        o.push(if c.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        o.push(if c.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    o
}

/// A `data:` URL of a stored file (PNG/JPEG/WebP by extension), for reports and the app.
pub fn data_url(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| Error::input(path, format!("cannot read: {e}")))?;
    let mime = match path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
        .as_deref()
    {
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("webp") => "image/webp",
        Some("gif") => "image/gif",
        Some("bmp") => "image/bmp",
        _ => "image/png",
    };
    Ok(format!("data:{mime};base64,{}", base64(&bytes)))
}

/// Frame scores per face track, `(track, [(frame idx, pts, score)])`, from the face-level scores.
pub fn track_series(d: &CaseDetail) -> BTreeMap<i64, Vec<(i64, f64, f64)>> {
    let pts: BTreeMap<i64, f64> = d.frames.iter().map(|f| (f.idx, f.pts_s)).collect();
    let mut out: BTreeMap<i64, Vec<(i64, f64, f64)>> = BTreeMap::new();
    for f in &d.faces {
        if let Some(s) = f.score {
            out.entry(f.track_id).or_default().push((
                f.frame_idx,
                pts.get(&f.frame_idx).copied().unwrap_or(0.0),
                s,
            ));
        }
    }
    out
}

const TRACK_COLOURS: &[&str] = &[
    "#2f6fde", "#d9480f", "#2b8a3e", "#862e9c", "#c2255c", "#0b7285",
];

/// The frame timeline as an SVG: score (0–1) over time per track, the review band shaded,
/// keyframes as ticks on the time axis.
pub fn timeline_svg(d: &CaseDetail, real: f64, fake: f64) -> String {
    let (w, h, l, r, t, b) = (760.0, 220.0, 44.0, 12.0, 12.0, 28.0);
    let series = track_series(d);
    let t_max = d
        .frames
        .iter()
        .map(|f| f.pts_s)
        .fold(0.0f64, f64::max)
        .max(1e-6);
    let x = |s: f64| l + (w - l - r) * if d.frames.len() <= 1 { 0.5 } else { s / t_max };
    let y = |v: f64| t + (h - t - b) * (1.0 - v.clamp(0.0, 1.0));
    let mut o = String::new();
    let _ = write!(
        o,
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="Frame score timeline" font-family="sans-serif" font-size="11">"##
    );
    let _ = write!(
        o,
        r##"<rect x="{l}" y="{:.1}" width="{:.1}" height="{:.1}" fill="#f5b700" fill-opacity="0.15"/><text x="{:.1}" y="{:.1}" fill="#8a6d00" text-anchor="end">needs review {real:.2}–{fake:.2}</text>"##,
        y(fake),
        w - l - r,
        y(real) - y(fake),
        w - r - 4.0,
        y(fake) + 13.0
    );
    for v in [0.0, 0.25, 0.5, 0.75, 1.0] {
        let _ = write!(
            o,
            r##"<line x1="{l}" x2="{:.1}" y1="{yy:.1}" y2="{yy:.1}" stroke="#ccc" stroke-width="0.5"/><text x="{:.1}" y="{:.1}" text-anchor="end" fill="#555">{v:.2}</text>"##,
            w - r,
            l - 6.0,
            y(v) + 4.0,
            yy = y(v)
        );
    }
    for f in d.frames.iter().filter(|f| f.keyframe) {
        let _ = write!(
            o,
            r##"<line x1="{xx:.1}" x2="{xx:.1}" y1="{:.1}" y2="{:.1}" stroke="#333" stroke-width="1.5"><title>keyframe {} at {:.2}s</title></line>"##,
            h - b,
            h - b + 6.0,
            f.idx,
            f.pts_s,
            xx = x(f.pts_s)
        );
    }
    let _ = write!(
        o,
        r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#555">time (s), keyframes ticked · 0–{t_max:.1}s</text>"##,
        (l + w - r) / 2.0,
        h - 4.0
    );
    if series.is_empty() {
        let _ = write!(
            o,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#555">No frame scores: this case was not scored.</text>"##,
            (l + w - r) / 2.0,
            h / 2.0
        );
    }
    for (i, (track, pts)) in series.iter().enumerate() {
        let c = TRACK_COLOURS[i % TRACK_COLOURS.len()];
        let path: Vec<String> = pts
            .iter()
            .map(|(_, s, v)| format!("{:.1},{:.1}", x(*s), y(*v)))
            .collect();
        if pts.len() > 1 {
            let _ = write!(
                o,
                r##"<polyline fill="none" stroke="{c}" stroke-width="1.5" points="{}"/>"##,
                path.join(" ")
            );
        }
        for (f, s, v) in pts {
            let _ = write!(
                o,
                r##"<circle cx="{:.1}" cy="{:.1}" r="2.5" fill="{c}"><title>track {track}, frame {f}, {s:.2}s: {v:.3}</title></circle>"##,
                x(*s),
                y(*v)
            );
        }
    }
    o.push_str("</svg>");
    o
}

const CSS: &str = "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;color:#1b1f24;margin:0;background:#f6f7f9}
main{max-width:880px;margin:0 auto;padding:28px 32px;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:15px;margin:28px 0 8px;text-transform:uppercase;letter-spacing:.04em;color:#4a5563}
.verdict{font-size:20px;font-weight:600;padding:12px 16px;border-radius:6px;margin:16px 0;border:1px solid}
.fake{background:#fdecec;border-color:#e5a3a3;color:#8f1d1d}.real{background:#e9f6ec;border-color:#9fd3ab;color:#1d5f2c}
.review{background:#fff6db;border-color:#efcf6c;color:#6b5200}.none{background:#eef0f3;border-color:#c9ced6;color:#333}
.warn{background:#fff0e0;border:2px solid #d9480f;color:#8a2c00;padding:10px 14px;border-radius:6px;font-weight:600;margin:12px 0}
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:4px 8px;border-bottom:1px solid #e3e6ea;vertical-align:top}
th{width:190px;color:#4a5563;font-weight:500}code{font:12px ui-monospace,monospace;word-break:break-all}
.faces{display:flex;flex-wrap:wrap;gap:8px}.explains{display:flex;flex-wrap:wrap;gap:12px}figure.explain{margin:0 0 10px;width:230px;font-size:11px;break-inside:avoid}figure.explain img{width:100%;border:1px solid #ddd;border-radius:4px}#plots figure.explain{width:100%;max-width:760px}.faces figure{margin:0;width:96px;font-size:11px;text-align:center}
.faces img{width:96px;height:96px;border-radius:4px;display:block}.muted{color:#6b7480}
svg{max-width:100%;height:auto}footer{margin-top:32px;font-size:12px;color:#6b7480}";

/// The self-contained HTML report of a case.
pub fn html(store: &Store, d: &CaseDetail) -> String {
    let c = &d.case;
    let m = &d.media;
    let settings: serde_json::Value = d
        .analysis
        .as_ref()
        .and_then(|a| serde_json::from_str(&a.settings_json).ok())
        .unwrap_or(serde_json::Value::Null);
    let real = settings["thresholds"]["real"].as_f64().unwrap_or(0.3);
    let fake = settings["thresholds"]["fake"].as_f64().unwrap_or(0.7);
    let class = match (c.status.as_str(), c.band.as_deref()) {
        ("done", Some(b @ ("fake" | "real" | "review"))) if !c.untrained => b,
        _ => "none",
    };
    let mut o = String::new();
    let _ = write!(
        o,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; style-src 'unsafe-inline'\">\
         <title>Verity Desk report — {}</title><style>{CSS}</style></head><body><main>",
        esc(&c.title)
    );
    let _ = write!(
        o,
        "<h1>{}</h1><div class=\"muted\">Case {} · imported {} · report generated {}</div>",
        esc(&c.title),
        c.id,
        esc(&m.imported_at),
        esc(&crate::store::now())
    );
    let _ = write!(
        o,
        "<div class=\"verdict {class}\" id=\"verdict\">Verdict: {}</div>",
        esc(&verdict(d))
    );
    if c.untrained {
        o.push_str("<div class=\"warn\" id=\"untrained\">UNTRAINED profile: this score comes from random weights and is not evidence of anything.</div>");
    }
    if c.status == "not_scored" {
        let _ = write!(o, "<div class=\"warn\" id=\"not-scored\">Not scored. Install detector weights with: <code>{INSTALL_HINT}</code></div>");
    }
    // The UNTRAINED warning above already says it: drop that sentence, keep the rest (e.g.
    // "N frames could not be decoded").
    let message = c.message.as_ref().map(|m| {
        if c.untrained {
            m.split_inclusive(". ")
                .filter(|s| !s.to_ascii_lowercase().contains("untrained"))
                .collect::<String>()
        } else {
            m.clone()
        }
    });
    if let Some(msg) = message.as_ref().filter(|m| !m.trim().is_empty()) {
        let _ = write!(o, "<p class=\"muted\" id=\"message\">{}</p>", esc(msg));
    }

    o.push_str("<h2>Scores</h2><table>");
    row(
        &mut o,
        "Media score",
        &c.score
            .map(|s| format!("{s:.4}"))
            .unwrap_or_else(|| "—".into()),
    );
    row(
        &mut o,
        "Band",
        &c.band
            .as_deref()
            .and_then(band_from_str)
            .map(|b| b.label().to_string())
            .unwrap_or_else(|| "—".into()),
    );
    row(
        &mut o,
        "Thresholds",
        &format!("real < {real:.2} ≤ needs review ≤ {fake:.2} < fake"),
    );
    for s in d.scores.iter().filter(|s| s.level == "track") {
        row(
            &mut o,
            &format!("Track {}", s.track_id.unwrap_or_default()),
            &format!("{:.4}", s.score),
        );
    }
    row(&mut o, "Status", &c.status);
    o.push_str("</table>");

    o.push_str("<h2>Frame timeline</h2>");
    o.push_str(&timeline_svg(d, real, fake));

    let faces: Vec<_> = d.faces.iter().filter(|f| f.crop.is_some()).collect();
    let _ = write!(o, "<h2>Faces ({})</h2>", faces.len());
    if faces.is_empty() {
        o.push_str("<p class=\"muted\">No face was found.</p>");
    } else {
        let step = faces.len().div_ceil(MAX_EMBEDDED_CROPS).max(1);
        if step > 1 {
            let _ = write!(o, "<p class=\"muted\">Every {step}th face of {} is shown; the JSON report lists all.</p>", faces.len());
        }
        o.push_str("<div class=\"faces\">");
        for f in faces.iter().step_by(step) {
            let Some(rel) = &f.crop else { continue };
            let img = match data_url(&store.blobs.path(rel)) {
                Ok(u) => format!(
                    "<img alt=\"face{}\" src=\"{u}\">",
                    frame_label(d, Some(f.frame_idx))
                ),
                Err(_) => "<div class=\"muted\">crop missing</div>".into(),
            };
            let score = f
                .score
                .map(|s| format!("{s:.3}"))
                .unwrap_or_else(|| "not scored".into());
            let _ = write!(
                o,
                "<figure>{img}<figcaption>{} · track {}<br>{score}</figcaption></figure>",
                frame_label(d, Some(f.frame_idx)).trim_start_matches(", "),
                f.track_id
            );
        }
        o.push_str("</div>");
    }
    explanations_html(&mut o, store, d);

    o.push_str("<h2>Media</h2><table>");
    row(&mut o, "File", &m.original_name);
    row(&mut o, "Original path", &m.original_path);
    let _ = write!(
        o,
        "<tr><th>SHA-256</th><td><code id=\"sha256\">{}</code></td></tr>",
        esc(&m.sha256)
    );
    let _ = write!(
        o,
        "<tr><th>Media verified</th><td id=\"media-verified\">{}</td></tr>",
        esc(&m
            .verified_at
            .as_ref()
            .map(|t| format!("{t} (stored copy re-hashed, matches the SHA-256)"))
            .unwrap_or_else(|| "not verified since import".into()))
    );
    row(&mut o, "Kind", &m.kind);
    row(&mut o, "Size", &format!("{} bytes", m.size_bytes));
    if let (Some(w), Some(h)) = (m.width, m.height) {
        row(&mut o, "Dimensions", &format!("{w}×{h}"));
    }
    if let Some(s) = m.duration_s {
        row(&mut o, "Duration", &format!("{s:.2} s"));
    }
    o.push_str("</table>");

    o.push_str("<h2>Model</h2><table>");
    row(
        &mut o,
        "Profile",
        &c.profile
            .clone()
            .unwrap_or_else(|| "none (no detector installed)".into()),
    );
    row(
        &mut o,
        "Trained",
        if c.profile.is_none() {
            "—"
        } else if c.untrained {
            "NO — random weights"
        } else {
            "yes"
        },
    );
    if let Some(p) = d.analysis.as_ref().and_then(|a| a.preprocessing.as_deref()) {
        row(&mut o, "Face preprocessing", p);
    }
    for (file, hash) in weight_hashes(d) {
        let _ = write!(
            o,
            "<tr><th>{}</th><td><code class=\"weight-hash\">{}</code></td></tr>",
            esc(&file),
            esc(&hash)
        );
    }
    if let Some(a) = &d.analysis {
        row(
            &mut o,
            "Analysis",
            &format!(
                "#{} {} → {}",
                a.id,
                a.started_at,
                a.finished_at.clone().unwrap_or_else(|| "—".into())
            ),
        );
        row(
            &mut o,
            "Frames / faces",
            &format!("{} / {}", d.frames.len(), d.faces.len()),
        );
        if let Some(fps) = settings["fps"].as_f64() {
            row(&mut o, "Sampling", &format!("{fps} fps"));
        }
    }
    o.push_str("</table>");

    o.push_str("<h2>Review history</h2>");
    if d.reviews.is_empty() {
        o.push_str("<p class=\"muted\" id=\"reviews\">No analyst has reviewed this case.</p>");
    } else {
        o.push_str("<table id=\"reviews\"><tr><th>When</th><th>Analyst</th><th>Decision</th><th>Note</th></tr>");
        for r in &d.reviews {
            let _ = write!(
                o,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&r.created_at),
                esc(&r.analyst),
                esc(&r.verdict),
                esc(&r.note)
            );
        }
        o.push_str("</table>");
    }
    o.push_str("<h2>Audit log</h2><table><tr><th>When</th><th>Who</th><th>What</th></tr>");
    for a in &d.audit {
        let _ = write!(
            o,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&a.at),
            esc(&a.actor),
            esc(&a.action)
        );
    }
    o.push_str("</table>");
    let _ = write!(o, "<footer>Verity Desk {} · offline deepfake analysis. Scores are model estimates, not proof.</footer></main></body></html>", crate::version());
    o
}

fn row(o: &mut String, k: &str, v: &str) {
    let _ = write!(o, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(v));
}

/// The stored explanations of the latest analysis as report sections: heat-map overlays (in the
/// frame where computed, else on the crop), artifact views, temporal and blink plots, each with
/// its one-line reading. Absent ones say "not computed" and how to compute them.
fn explanations_html(o: &mut String, store: &Store, d: &CaseDetail) {
    let rows = latest_explanations(store, d.case.id).unwrap_or_default();
    let hint = format!(
        "Not computed: press Explain in the app or run <code>verity explain {}</code>, then export again.",
        d.case.id
    );
    let figure = |o: &mut String, r: &ExplanationRow, title: &str| {
        let Some(rel) = &r.blob else { return };
        let Ok(url) = data_url(&store.blobs.path(rel)) else {
            let _ = write!(
                o,
                "<p class=\"muted\">{}: image missing from the data folder.</p>",
                esc(title)
            );
            return;
        };
        let _ = write!(
            o,
            "<figure class=\"explain\"><img alt=\"{t}\" src=\"{url}\"><figcaption><b>{t}</b><br>{}</figcaption></figure>",
            esc(&r.summary),
            t = esc(title)
        );
    };
    let cams: Vec<&ExplanationRow> = rows
        .iter()
        .filter(|r| matches!(r.kind.as_str(), "gradcam_cnn" | "gradcam_vit" | "rollout"))
        .collect();
    // One picture per face and method: the frame overlay where there is one.
    let shown: Vec<&&ExplanationRow> = cams
        .iter()
        .filter(|r| {
            r.space == "frame"
                || !cams
                    .iter()
                    .any(|o| o.space == "frame" && o.kind == r.kind && o.face_id == r.face_id)
        })
        .take(MAX_EMBEDDED_EXPLANATIONS)
        .collect();
    o.push_str("<h2>Heat-map overlays</h2>");
    if shown.is_empty() {
        let _ = write!(o, "<p class=\"muted\" id=\"overlays\">{hint}</p>");
    } else {
        o.push_str("<div class=\"explains\" id=\"overlays\">");
        for r in shown {
            let method = match r.kind.as_str() {
                "gradcam_cnn" => "Grad-CAM (forensic CNN)",
                "gradcam_vit" => "Grad-CAM (CLIP ViT)",
                _ => "Attention rollout (CLIP ViT)",
            };
            let frame = frame_label(d, r.frame_idx);
            figure(
                o,
                r,
                &format!(
                    "{method}, {}{frame}",
                    if r.space == "frame" {
                        "in the frame"
                    } else {
                        "on the crop"
                    }
                ),
            );
        }
        o.push_str("</div>");
    }
    let artifacts: Vec<&ExplanationRow> = rows
        .iter()
        .filter(|r| matches!(r.kind.as_str(), "noise" | "spectrum" | "ela" | "boundary"))
        .take(MAX_EMBEDDED_EXPLANATIONS)
        .collect();
    o.push_str("<h2>Artifact views</h2>");
    if artifacts.is_empty() {
        let _ = write!(o, "<p class=\"muted\" id=\"artifacts\">{hint}</p>");
    } else {
        o.push_str("<div class=\"explains\" id=\"artifacts\">");
        for r in artifacts {
            let name = match r.kind.as_str() {
                "noise" => "Noise residual",
                "spectrum" => "Frequency spectrum",
                "ela" => "Error-level analysis",
                _ => "Blending boundary",
            };
            figure(o, r, &format!("{name}{}", frame_label(d, r.frame_idx)));
        }
        o.push_str("</div>");
    }
    let plots: Vec<&ExplanationRow> = rows
        .iter()
        .filter(|r| matches!(r.kind.as_str(), "temporal" | "blink"))
        .take(MAX_EMBEDDED_EXPLANATIONS)
        .collect();
    if d.media.kind != "image" {
        o.push_str("<h2>Temporal consistency and blinks</h2>");
        if plots.is_empty() {
            let _ = write!(o, "<p class=\"muted\" id=\"plots\">{hint}</p>");
        } else {
            o.push_str("<div id=\"plots\">");
            for r in plots {
                let name = if r.kind == "temporal" {
                    "Temporal consistency"
                } else {
                    "Blinks"
                };
                figure(o, r, name);
            }
            o.push_str("</div>");
        }
    }
}

/// ", frame N" with the source frame number of a sampled frame (as the app shows it).
fn frame_label(d: &CaseDetail, idx: Option<i64>) -> String {
    match idx {
        Some(i) => {
            let n = d
                .frames
                .iter()
                .find(|f| f.idx == i)
                .map_or(i, |f| f.source_index);
            format!(", frame {n}")
        }
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }

    #[test]
    fn escaping_neutralises_markup() {
        assert_eq!(
            esc("<img src=x onerror='a'>&\""),
            "&lt;img src=x onerror=&#39;a&#39;&gt;&amp;&quot;"
        );
    }
}
