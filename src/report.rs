//! Case reports: one self-contained HTML file (no external requests — styles inline, the
//! timeline and the temporal/blink series as inline SVG from [`crate::chart`], face crops as
//! base64 `data:` images) and a JSON twin with every stored number, for archiving a decision and
//! for handing it to someone without the app. The HTML is one `maud` template (escaping every
//! interpolated string by construction; only the chart module's SVG goes in pre-escaped), and
//! the PDF export prints that same page.
//!
//! A report says exactly what the store says: an untrained profile's score carries the
//! UNTRAINED warning, a case without detector weights says "not scored" and how to install them,
//! and heat-map overlays, artifact views and temporal/blink plots appear when the
//! explainability stage has stored them for the case's latest analysis ("not computed" and how
//! to compute them otherwise).
use crate::chart::{self, Axis, Chart, Marker, Point, Rule, Series, Shape, Span, XMark};
use crate::config::Band;
use crate::explain::chart::Chart as StoredChart;
use crate::pipeline::INSTALL_HINT;
use crate::store::{CaseDetail, ExplanationRow, FrameRow, Store};
use crate::{Error, Result};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use maud::{html, Markup, PreEscaped, DOCTYPE};
use serde::Serialize;
use std::collections::BTreeMap;
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
    /// Where the media came from (metadata, content credentials, seen before), private fields
    /// (GPS, serial numbers) removed; beside the verdict, never part of the score.
    pub provenance: Option<crate::provenance::CaseProvenance>,
    #[serde(flatten)]
    pub detail: &'a CaseDetail,
}

/// The verdict line for a stored case, worded like the CLI's: a band is never bare when the
/// case has a scope warning (`scope::qualify_verdict`).
pub fn verdict(d: &CaseDetail) -> String {
    let line = bare_verdict(d);
    match (d.case.status.as_str(), &d.case.scope) {
        ("done", Some(scope)) => crate::scope::qualify_verdict(&line, scope),
        _ => line,
    }
}

fn bare_verdict(d: &CaseDetail) -> String {
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
        provenance: crate::provenance::case_view(store, d.case.id)
            .ok()
            .map(|p| p.without_private()),
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
    let ext = if format == Format::Html {
        "html"
    } else {
        "json"
    };
    crate::fsutil::write_report(path, ext, text.as_bytes())
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
    Ok(data_url_bytes(mime, &bytes))
}

/// A `data:` URL of in-memory bytes of type `mime` (standard, padded base64).
pub fn data_url_bytes(mime: &str, bytes: &[u8]) -> String {
    format!("data:{mime};base64,{}", STANDARD.encode(bytes))
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

/// The frame timeline: score (0–1) over time per track, the fake / needs-review / real bands
/// shaded, keyframes as ticks on the time axis, each point's track, frame, time and score as
/// its hover text.
pub fn timeline_chart(d: &CaseDetail, real: f64, fake: f64) -> Chart {
    let series = track_series(d);
    let t_max = d
        .frames
        .iter()
        .map(|f| f.pts_s)
        .fold(0.0f64, f64::max)
        .max(1e-6);
    // One frame (an image): the point sits in the middle of an axis without extent.
    let x = if d.frames.len() <= 1 {
        let t = d.frames.first().map_or(0.0, |f| f.pts_s);
        Axis::new("", t, t).with_ticks(vec![t], 2)
    } else {
        Axis::new("", 0.0, t_max)
    };
    let mut c = Chart::new(
        "Frame score timeline",
        760.0,
        226.0,
        Axis {
            label: format!("time (s), keyframes ticked · 0–{t_max:.1}s"),
            ..x
        },
        Axis::new("", 0.0, 1.0).with_ticks(vec![0.0, 0.25, 0.5, 0.75, 1.0], 2),
    );
    c.bands = vec![
        chart::Band {
            from: fake,
            to: 1.0,
            fill: "#e03131",
            opacity: 0.06,
            label: Some("fake".into()),
            label_colour: "#8f1d1d",
        },
        chart::Band {
            from: real,
            to: fake,
            fill: "#f5b700",
            opacity: 0.15,
            label: Some(format!("needs review {real:.2}–{fake:.2}")),
            label_colour: "#8a6d00",
        },
        chart::Band {
            from: 0.0,
            to: real,
            fill: "#2b8a3e",
            opacity: 0.06,
            label: Some("real".into()),
            label_colour: "#1d5f2c",
        },
    ];
    c.x_marks = d
        .frames
        .iter()
        .filter(|f| f.keyframe)
        .map(|f| XMark {
            x: f.pts_s,
            title: format!("keyframe {} at {:.2}s", f.idx, f.pts_s),
        })
        .collect();
    if series.is_empty() {
        c.note = Some("No frame scores: this case was not scored.".into());
    }
    if series.len() > 1 {
        // Room for the legend above the plot.
        c.legend = true;
        c.margin.2 = 22.0;
        c.height += 10.0;
    }
    c.series = series
        .iter()
        .enumerate()
        .map(|(i, (track, pts))| {
            let points = pts
                .iter()
                .map(|(f, s, v)| {
                    Point::titled(*s, *v, format!("track {track}, frame {f}, {s:.2}s: {v:.3}"))
                })
                .collect();
            Series::line(
                format!("track {track}"),
                TRACK_COLOURS[i % TRACK_COLOURS.len()],
                points,
            )
            .with_dots()
        })
        .collect();
    c
}

/// Colours of the series inside one stored chart, in order.
const SERIES_COLOURS: &[&str] = &["#2f6fde", "#d9480f", "#2b8a3e", "#862e9c", "#0b7285"];
/// Shades of the stored chart's x spans, one per distinct span label (blink, closure, …).
const SPAN_COLOURS: &[&str] = &["#ffe1e1", "#e6e6e6", "#e3ecfa"];

/// A stored temporal / blink chart ([`crate::explain::chart`]) as stacked SVG charts, one per
/// panel, sharing the time axis: series as lines (points with frame, time and value as hover
/// text), reference lines, shaded spans and marked points. Frame numbers are the source frame
/// numbers, as everywhere else in the report.
pub fn stored_chart_svgs(stored: &StoredChart, frames: &[FrameRow]) -> Vec<Chart> {
    let xs = &stored.x;
    let finite = || xs.iter().copied().filter(|v| v.is_finite());
    let (x0, x1) = (
        finite().fold(f64::INFINITY, f64::min),
        finite().fold(f64::NEG_INFINITY, f64::max),
    );
    let (x0, x1) = if x0 <= x1 { (x0, x1) } else { (0.0, 0.0) };
    let source = |i: usize| {
        stored.frames.get(i).map_or(i as i64, |&idx| {
            frames
                .iter()
                .find(|f| f.idx == idx)
                .map_or(idx, |f| f.source_index)
        })
    };
    let mut span_labels: Vec<&str> = Vec::new();
    for s in &stored.spans {
        if !span_labels.contains(&s.label.as_str()) {
            span_labels.push(&s.label);
        }
    }
    let last = stored.panels.len().saturating_sub(1);
    stored
        .panels
        .iter()
        .enumerate()
        .map(|(p, panel)| {
            let members: Vec<(usize, &crate::explain::chart::ChartSeries)> = stored
                .series
                .iter()
                .enumerate()
                .filter(|(_, s)| s.panel == panel.name)
                .collect();
            let y = match panel.range {
                Some([lo, hi]) if hi > lo => Axis::new("", lo, hi),
                _ => fit_axis(
                    members
                        .iter()
                        .flat_map(|(_, s)| s.values.iter().flatten().copied())
                        .chain(panel.lines.iter().map(|l| l.y)),
                ),
            };
            let x_label = if p == last {
                stored.x_label.clone()
            } else {
                String::new()
            };
            let mut c = Chart::new(
                format!("{}: {}", stored.title, panel.title),
                760.0,
                if p == last { 170.0 } else { 150.0 },
                Axis::new(x_label, x0, x1),
                y,
            );
            c.margin = (52.0, 12.0, 20.0, if p == last { 34.0 } else { 22.0 });
            c.title = Some(if p == 0 {
                format!("{} · {}", stored.title, panel.title)
            } else {
                panel.title.clone()
            });
            c.rules = panel
                .lines
                .iter()
                .map(|l| Rule {
                    y: l.y,
                    colour: "#868e96",
                    dashed: true,
                    label: Some(l.label.clone()),
                })
                .collect();
            c.spans = stored
                .spans
                .iter()
                .map(|s| Span {
                    from: s.from,
                    to: s.to,
                    fill: SPAN_COLOURS[span_labels.iter().position(|l| *l == s.label).unwrap_or(0)
                        % SPAN_COLOURS.len()],
                    title: Some(format!("{} {:.2}–{:.2}s", s.label, s.from, s.to)),
                })
                .collect();
            c.series = members
                .iter()
                .map(|(i, s)| {
                    let points: Vec<Point> = s
                        .values
                        .iter()
                        .enumerate()
                        .map(|(k, v)| {
                            let x = xs.get(k).copied().unwrap_or(f64::NAN);
                            match v {
                                Some(v) => Point::titled(
                                    x,
                                    *v,
                                    format!("{}: frame {}, {x:.2}s: {v:.3}", s.label, source(k)),
                                ),
                                None => Point::new(x, f64::NAN),
                            }
                        })
                        .collect();
                    let dots = points.len() <= 300;
                    let line = Series::line(
                        s.label.clone(),
                        SERIES_COLOURS[i % SERIES_COLOURS.len()],
                        points,
                    );
                    if dots {
                        line.with_dots()
                    } else {
                        line
                    }
                })
                .collect();
            c.legend = members.len() > 1;
            c.markers = stored
                .marks
                .iter()
                .filter_map(|m| {
                    let s = members.iter().find(|(_, s)| s.name == m.series)?.1;
                    let y = (*s.values.get(m.index)?)?;
                    let x = *xs.get(m.index)?;
                    Some(Marker {
                        x,
                        y,
                        colour: "#f08c00",
                        shape: Shape::Square,
                        title: Some(format!("{}: frame {}, {x:.2}s", m.label, source(m.index))),
                    })
                })
                .collect();
            if members
                .iter()
                .all(|(_, s)| s.values.iter().all(|v| v.is_none()))
            {
                c.note = Some("no values".into());
            }
            c
        })
        .collect()
}

/// A y axis over the finite `values` (and 0 when they are all of one sign), padded by 10 %.
fn fit_axis(values: impl Iterator<Item = f64>) -> Axis {
    let (mut lo, mut hi) = (0.0f64, 0.0f64);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if hi - lo < 1e-9 {
        hi = lo + 1.0;
    }
    let pad = 0.1 * (hi - lo);
    Axis::new(
        "",
        if lo < 0.0 { lo - pad } else { lo },
        if hi > 0.0 { hi + pad } else { hi },
    )
}

const CSS: &str = "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;color:#1b1f24;margin:0;background:#f6f7f9}
main{max-width:880px;margin:0 auto;padding:28px 32px;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:15px;margin:28px 0 8px;text-transform:uppercase;letter-spacing:.04em;color:#4a5563}
.verdict{font-size:20px;font-weight:600;padding:12px 16px;border-radius:6px;margin:16px 0;border:1px solid}
.fake{background:#fdecec;border-color:#e5a3a3;color:#8f1d1d}.real{background:#e9f6ec;border-color:#9fd3ab;color:#1d5f2c}
.review{background:#fff6db;border-color:#efcf6c;color:#6b5200}.none{background:#eef0f3;border-color:#c9ced6;color:#333}
.scope{list-style:none;padding:0;margin:0 0 12px}.scope li{padding:6px 12px;margin:4px 0;border-radius:6px;border:1px solid #c9ced6}
.scope .scope-warning{background:#fff6db;border-color:#efcf6c;color:#6b5200}
.provenance-signals{margin:0 0 12px;padding:8px 12px;border:1px dashed #aab2bd;border-radius:6px}.provenance-signals ul{margin:4px 0 0;padding-left:18px}
.signal-warning{color:#8f1d1d}.signal-notice{color:#6b5200}h3{font-size:13px;margin:14px 0 4px;color:#4a5563}tr.flagged td{color:#8f1d1d}
.warn{background:#fff0e0;border:2px solid #d9480f;color:#8a2c00;padding:10px 14px;border-radius:6px;font-weight:600;margin:12px 0}
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:4px 8px;border-bottom:1px solid #e3e6ea;vertical-align:top}
th{width:190px;color:#4a5563;font-weight:500}code{font:12px ui-monospace,monospace;word-break:break-all}
.faces{display:flex;flex-wrap:wrap;gap:8px}.explains{display:flex;flex-wrap:wrap;gap:12px}figure.explain{margin:0 0 10px;width:230px;font-size:11px;break-inside:avoid}figure.explain img{width:100%;border:1px solid #ddd;border-radius:4px}#plots figure.explain{width:100%;max-width:760px}.faces figure{margin:0;width:96px;font-size:11px;text-align:center}
.faces img{width:96px;height:96px;border-radius:4px;display:block}.muted{color:#6b7480}
svg{max-width:100%;height:auto;display:block}footer{margin-top:32px;font-size:12px;color:#6b7480}
@media print{body{background:#fff;-webkit-print-color-adjust:exact;print-color-adjust:exact}main{max-width:none;padding:0}
h1{font-size:19px}h2{margin:16px 0 6px;break-after:avoid}.verdict{margin:10px 0;padding:8px 12px;font-size:17px}
.scope li{padding:4px 10px;margin:3px 0}.warn{margin:8px 0;padding:6px 12px}footer{margin-top:16px}
svg,figure,tr,.verdict,.scope li,.warn{break-inside:avoid}}";

/// The printed page (PDF export, or the analyst's own print): A4, and a running header and footer
/// in the page margins on every page — case id and the media's SHA-256 prefix (first 12 hex
/// digits) top left, the generation time top right, "page x of y" bottom right. CSS page-margin
/// boxes (Chromium ≥ 131); `@page` rules do not touch the report on screen. Every value goes in
/// through [`css_string`].
pub fn print_page_css(case_id: i64, sha256: &str, generated: &str) -> String {
    let prefix: String = sha256
        .chars()
        .filter(|c| c.is_ascii_hexdigit())
        .take(12)
        .collect();
    let box_style = "font:8pt/1.3 system-ui,sans-serif;color:#4a5563";
    format!(
        "@page{{size:A4;margin:15mm 14mm 14mm;\
         @top-left{{content:{};{box_style}}}\
         @top-right{{content:{};{box_style}}}\
         @bottom-left{{content:\"Verity Desk · scores are model estimates, not proof\";{box_style}}}\
         @bottom-right{{content:\"page \" counter(page) \" of \" counter(pages);{box_style}}}}}",
        css_string(&format!("Case {case_id} · media SHA-256 {prefix}")),
        css_string(&format!("generated {generated}")),
    )
}

/// `s` as a quoted CSS string: letters, digits and plain punctuation as they are, everything
/// else (quotes, backslashes, `<`, line breaks, …) as a CSS hex escape, so nothing can end the
/// string or the `<style>` element.
pub fn css_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for ch in s.chars() {
        if ch.is_ascii_alphanumeric() || " .,:;-_+()#·".contains(ch) {
            out.push(ch);
        } else {
            out.push_str(&format!("\\{:x} ", ch as u32));
        }
    }
    out.push('"');
    out
}

/// The self-contained HTML report of a case (also what the PDF export prints).
pub fn html(store: &Store, d: &CaseDetail) -> String {
    page(store, d).into_string()
}

/// The report template.
fn page(store: &Store, d: &CaseDetail) -> Markup {
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
    // The UNTRAINED warning already says it: drop that sentence, keep the rest (e.g.
    // "N frames could not be decoded").
    let message = c
        .message
        .as_ref()
        .map(|m| {
            if c.untrained {
                m.split_inclusive(". ")
                    .filter(|s| !s.to_ascii_lowercase().contains("untrained"))
                    .collect::<String>()
            } else {
                m.clone()
            }
        })
        .filter(|m| !m.trim().is_empty());
    let band = c
        .band
        .as_deref()
        .and_then(band_from_str)
        .map(|b| b.label().to_string());
    let faces: Vec<_> = d.faces.iter().filter(|f| f.crop.is_some()).collect();
    let step = faces.len().div_ceil(MAX_EMBEDDED_CROPS).max(1);
    let verified = m
        .verified_at
        .as_ref()
        .map(|t| format!("{t} (stored copy re-hashed, matches the SHA-256)"))
        .unwrap_or_else(|| "not verified since import".into());
    let generated = crate::store::now();
    // Provenance is context beside the detector's score, never part of it.
    let prov = crate::provenance::case_view(store, c.id).ok();
    let trained = if c.profile.is_none() {
        "—"
    } else if c.untrained {
        "NO — random weights"
    } else {
        "yes"
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width";
                meta http-equiv="Content-Security-Policy"
                    content="default-src 'none'; img-src data:; style-src 'unsafe-inline'";
                title { "Verity Desk report — " (c.title) }
                style { (PreEscaped(CSS)) }
                style { (PreEscaped(print_page_css(c.id, &m.sha256, &generated))) }
            }
            body { main {
                h1 { (c.title) }
                div class="muted" {
                    "Case " (c.id) " · imported " (m.imported_at) " · report generated " (generated)
                }
                div class=(format!("verdict {class}")) id="verdict" { "Verdict: " (verdict(d)) }
                @if let Some(scope) = c.scope.as_ref().filter(|s| !s.is_empty()) {
                    ul id="scope" class="scope" {
                        @for w in scope {
                            @if w.is_warning() {
                                li class="scope-warning" data-code=(w.code) { strong { "Scope warning: " } (w.text) }
                            } @else {
                                li class="scope-not-checked muted" data-code=(w.code) { strong { "Not checked: " } (w.text) }
                            }
                        }
                    }
                }
                @if let Some(p) = prov.as_ref().filter(|p| !p.signals.is_empty()) {
                    (provenance_signals(&p.signals))
                }
                @if c.untrained {
                    div class="warn" id="untrained" {
                        "UNTRAINED profile: this score comes from random weights and is not evidence of anything."
                    }
                }
                @if c.status == "not_scored" {
                    div class="warn" id="not-scored" {
                        "Not scored. Install detector weights with: " code { (INSTALL_HINT) }
                    }
                }
                @if let Some(msg) = &message {
                    p class="muted" id="message" { (msg) }
                }

                // The timeline right under the verdict and its warnings: all of it on the
                // printed first page.
                h2 { "Frame timeline" }
                (timeline_chart(d, real, fake).render())

                h2 { "Scores" }
                table {
                    (row("Media score", &c.score.map(|s| format!("{s:.4}")).unwrap_or_else(|| "—".into())))
                    (row("Band", band.as_deref().unwrap_or("—")))
                    (row("Thresholds", &format!("real < {real:.2} ≤ needs review ≤ {fake:.2} < fake")))
                    @for s in d.scores.iter().filter(|s| s.level == "track") {
                        (row(&format!("Track {}", s.track_id.unwrap_or_default()), &format!("{:.4}", s.score)))
                    }
                    (row("Status", &c.status))
                }


                h2 { "Faces (" (faces.len()) ")" }
                @if faces.is_empty() {
                    p class="muted" { "No face was found." }
                } @else {
                    @if step > 1 {
                        p class="muted" {
                            "Every " (step) "th face of " (faces.len()) " is shown; the JSON report lists all."
                        }
                    }
                    div class="faces" {
                        @for f in faces.iter().step_by(step) {
                            @let label = frame_label(d, Some(f.frame_idx));
                            figure {
                                @match f.crop.as_ref().map(|rel| data_url(&store.blobs.path(rel))) {
                                    Some(Ok(url)) => { img alt=(format!("face{label}")) src=(url); }
                                    _ => { div class="muted" { "crop missing" } }
                                }
                                figcaption {
                                    (label.trim_start_matches(", ")) " · track " (f.track_id)
                                    br;
                                    (f.score.map(|s| format!("{s:.3}")).unwrap_or_else(|| "not scored".into()))
                                }
                            }
                        }
                    }
                }
                (explanations(store, d))

                h2 { "Media" }
                table {
                    (row("File", &m.original_name))
                    (row("Original path", &m.original_path))
                    tr { th { "SHA-256" } td { code id="sha256" { (m.sha256) } } }
                    tr { th { "Media verified" } td id="media-verified" { (verified) } }
                    (row("Kind", &m.kind))
                    (row("Size", &format!("{} bytes", m.size_bytes)))
                    @if let (Some(w), Some(h)) = (m.width, m.height) {
                        (row("Dimensions", &format!("{w}×{h}")))
                    }
                    @if let Some(s) = m.duration_s {
                        (row("Duration", &format!("{s:.2} s")))
                    }
                }

                h2 { "Provenance" }
                (provenance_sections(prov.as_ref()))

                h2 { "Model" }
                table {
                    (row("Profile", c.profile.as_deref().unwrap_or("none (no detector installed)")))
                    (row("Trained", trained))
                    @if let Some(p) = d.analysis.as_ref().and_then(|a| a.preprocessing.as_deref()) {
                        (row("Face preprocessing", p))
                    }
                    @for (file, hash) in weight_hashes(d) {
                        tr { th { (file) } td { code class="weight-hash" { (hash) } } }
                    }
                    @if let Some(a) = &d.analysis {
                        (row("Analysis", &format!(
                            "#{} {} → {}",
                            a.id,
                            a.started_at,
                            a.finished_at.as_deref().unwrap_or("—")
                        )))
                        (row("Frames / faces", &format!("{} / {}", d.frames.len(), d.faces.len())))
                        @if let Some(fps) = settings["fps"].as_f64() {
                            (row("Sampling", &format!("{fps} fps")))
                        }
                    }
                }

                h2 { "Tags and note" }
                @if c.tags.is_empty() {
                    p class="muted" id="tags" { "No tags." }
                } @else {
                    p id="tags" { "Tags: " @for (i, t) in c.tags.iter().enumerate() { @if i > 0 { ", " } code class="tag" { (t) } } }
                }
                @if d.note.is_empty() {
                    p class="muted" id="note" { "No case note." }
                } @else {
                    p id="note" style="white-space:pre-wrap" { (d.note) }
                }

                h2 { "Review history" }
                @if d.reviews.is_empty() {
                    p class="muted" id="reviews" { "No analyst has reviewed this case." }
                } @else {
                    p id="decision" {
                        "Current decision: "
                        @match &d.decision {
                            Some(r) => { strong { (r.verdict) } " by " (r.analyst) }
                            None => { "none (every decision was undone)" }
                        }
                    }
                    table id="reviews" {
                        tr { th { "When" } th { "Analyst" } th { "Decision" } th { "Note" } }
                        @for r in &d.reviews {
                            tr {
                                td { (r.created_at) } td { (r.analyst) }
                                td {
                                    @if r.retracts.is_some() { "undo — withdrew " (r.verdict) }
                                    @else if r.retracted { (r.verdict) " (undone)" }
                                    @else { (r.verdict) }
                                }
                                td { (r.note) }
                            }
                        }
                    }
                }
                h2 { "Audit log" }
                table {
                    tr { th { "When" } th { "Who" } th { "What" } }
                    @for a in &d.audit {
                        tr { td { (a.at) } td { (a.actor) } td { (a.action) } }
                    }
                }
                footer {
                    "Verity Desk " (crate::version())
                    " · offline deepfake analysis. Scores are model estimates, not proof."
                }
            } }
        }
    }
}

/// The verdict context line: provenance signals, each with its source, set apart from the score.
fn provenance_signals(signals: &[crate::provenance::Signal]) -> Markup {
    use crate::provenance::Level;
    html! {
        div class="provenance-signals" id="provenance-signals" {
            div class="muted" { "Provenance signals — not part of the detector's score" }
            ul {
                @for s in signals {
                    @let (class, word) = match s.level {
                        Level::Warning => ("signal-warning", "Warning"),
                        Level::Notice => ("signal-notice", "Notice"),
                        Level::Info => ("signal-info", "Context"),
                    };
                    li class=(class) { strong { (word) ": " } (s.text) span class="muted" { " — source: " (s.source) } }
                }
            }
        }
    }
}

/// The report's Provenance section. Private fields (GPS, serial numbers) are left out and counted.
fn provenance_sections(p: Option<&crate::provenance::CaseProvenance>) -> Markup {
    let Some(prov) = p.and_then(|p| p.provenance.as_ref()) else {
        return html! {
            p class="muted" id="provenance-none" {
                "No provenance recorded for this media (imported before this version of Verity Desk); "
                "re-run the analysis to compute it."
            }
        };
    };
    let private = prov.sections.iter().flat_map(|s| &s.fields).filter(|f| f.private).count();
    html! {
        div id="provenance" {
            p class="muted" { "Read from the file at import (" (prov.computed_at) "). What a file says about itself can be forged; signals are context, never part of the score." }
            @for s in &prov.sections {
                h3 { (s.title) }
                @if s.fields.iter().any(|f| !f.private) {
                    table {
                        @for f in s.fields.iter().filter(|f| !f.private) {
                            @if f.flagged {
                                tr class="flagged" { th { (f.label) } td { strong { (f.value) } } }
                            } @else {
                                (row(&f.label, &f.value))
                            }
                        }
                    }
                }
                @for problem in &s.problems {
                    p class="muted problem" { "Could not read: " (problem) }
                }
            }
            @if private > 0 {
                p class="muted" id="provenance-private" {
                    (private) " private field(s) (GPS position, serial numbers) left out of this report; "
                    "the app shows them on request."
                }
            }
        }
    }
}

fn row(k: &str, v: &str) -> Markup {
    html! { tr { th { (k) } td { (v) } } }
}

/// The stored explanations of the latest analysis as report sections: heat-map overlays (in the
/// frame where computed, else on the crop), artifact views, the temporal and blink series as
/// charts, each with its one-line reading. Absent ones say "not computed" and how to compute
/// them.
fn explanations(store: &Store, d: &CaseDetail) -> Markup {
    let rows = latest_explanations(store, d.case.id).unwrap_or_default();
    let hint = html! {
        "Not computed: press Explain in the app or run " code { "verity explain " (d.case.id) } ", then export again."
    };
    let figure = |r: &ExplanationRow, title: &str| -> Markup {
        let Some(rel) = &r.blob else {
            return html! {};
        };
        match data_url(&store.blobs.path(rel)) {
            Ok(url) => html! {
                figure class="explain" {
                    img alt=(title) src=(url);
                    figcaption { b { (title) } br; (r.summary) }
                }
            },
            Err(_) => html! {
                p class="muted" { (title) ": image missing from the data folder." }
            },
        }
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
    let artifacts: Vec<&ExplanationRow> = rows
        .iter()
        .filter(|r| matches!(r.kind.as_str(), "noise" | "spectrum" | "ela" | "boundary"))
        .take(MAX_EMBEDDED_EXPLANATIONS)
        .collect();
    let plots: Vec<&ExplanationRow> = rows
        .iter()
        .filter(|r| matches!(r.kind.as_str(), "temporal" | "blink"))
        .take(MAX_EMBEDDED_EXPLANATIONS)
        .collect();
    html! {
        h2 { "Heat-map overlays" }
        @if shown.is_empty() {
            p class="muted" id="overlays" { (hint) }
        } @else {
            div class="explains" id="overlays" {
                @for r in shown {
                    @let method = match r.kind.as_str() {
                        "gradcam_cnn" => "Grad-CAM (forensic CNN)",
                        "gradcam_vit" => "Grad-CAM (CLIP ViT)",
                        _ => "Attention rollout (CLIP ViT)",
                    };
                    @let place = if r.space == "frame" { "in the frame" } else { "on the crop" };
                    (figure(r, &format!("{method}, {place}{}", frame_label(d, r.frame_idx))))
                }
            }
        }
        h2 { "Artifact views" }
        @if artifacts.is_empty() {
            p class="muted" id="artifacts" { (hint) }
        } @else {
            div class="explains" id="artifacts" {
                @for r in artifacts {
                    @let name = match r.kind.as_str() {
                        "noise" => "Noise residual",
                        "spectrum" => "Frequency spectrum",
                        "ela" => "Error-level analysis",
                        _ => "Blending boundary",
                    };
                    (figure(r, &format!("{name}{}", frame_label(d, r.frame_idx))))
                }
            }
        }
        @if d.media.kind != "image" {
            h2 { "Temporal consistency and blinks" }
            @if plots.is_empty() {
                p class="muted" id="plots" { (hint) }
            } @else {
                div id="plots" {
                    @for r in plots {
                        @let name = if r.kind == "temporal" { "Temporal consistency" } else { "Blinks" };
                        @match serde_json::from_value::<StoredChart>(r.data.clone()) {
                            Ok(stored) => {
                                figure class="explain" {
                                    @for c in stored_chart_svgs(&stored, &d.frames) {
                                        (c.render())
                                    }
                                    figcaption { b { (name) } br; (r.summary) }
                                }
                            }
                            // A row whose series cannot be read: its stored picture, if any.
                            Err(_) if r.blob.is_some() => { (figure(r, name)) }
                            Err(e) => {
                                p class="muted" { (name) ": the stored series cannot be read (" (e) ")." }
                            }
                        }
                    }
                }
            }
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
    fn data_urls_are_standard_padded_base64_rfc4648_vectors() {
        let dir = tempfile::tempdir().unwrap();
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            let p = dir.path().join(format!("v{}.png", i.len()));
            std::fs::write(&p, i).unwrap();
            assert_eq!(data_url(&p).unwrap(), format!("data:image/png;base64,{o}"));
        }
        let p = dir.path().join("x.JPG");
        std::fs::write(&p, [0xff, 0xd8, 0xff]).unwrap();
        assert_eq!(data_url(&p).unwrap(), "data:image/jpeg;base64,/9j/");
        assert!(data_url(&dir.path().join("missing.png"))
            .unwrap_err()
            .to_string()
            .contains("missing.png"));
    }

    #[test]
    fn the_printed_page_header_is_an_inert_css_string() {
        assert_eq!(css_string("Case 7 · x"), "\"Case 7 · x\"");
        let hostile = css_string("a\"b\\c</style><script>\n}");
        assert!(hostile.starts_with('"') && hostile.ends_with('"'));
        let inner = &hostile[1..hostile.len() - 1];
        for bad in ['"', '<', '>', '/', '\n', '{', '}'] {
            assert!(!inner.contains(bad), "{bad:?} in {hostile}");
        }
        assert!(inner.contains("\\22 ") && inner.contains("\\3c ") && inner.contains("\\5c "));
        let sha = "7B81543039d5b678eb23cbf3dadd2e443c6e8e63bc4a6596c9716dc5eed5ee7e";
        let css = print_page_css(12, sha, "2026-01-02T03:04:05.678Z");
        assert!(css.contains("size:A4"), "{css}");
        assert!(
            css.contains("\"Case 12 · media SHA-256 7B81543039d5\""),
            "{css}"
        );
        assert!(!css.contains("7B81543039d5b"), "only 12 hex digits: {css}");
        assert!(css.contains("generated 2026-01-02T03:04:05.678Z"), "{css}");
        assert!(
            css.contains("\"page \" counter(page) \" of \" counter(pages)"),
            "{css}"
        );
        // A damaged hash contributes its hex digits only.
        assert!(print_page_css(1, "ab\"<!>\\ cd;", "t").contains("SHA-256 abcd\""));
    }

    #[test]
    fn rows_escape_markup_in_keys_and_values() {
        assert_eq!(
            row("<b>", "<img src=x onerror='a'>&\"").into_string(),
            "<tr><th>&lt;b&gt;</th><td>&lt;img src=x onerror='a'&gt;&amp;&quot;</td></tr>"
        );
    }

    #[test]
    fn a_stored_chart_becomes_one_svg_per_panel_with_marks_spans_and_lines() {
        let stored: StoredChart = serde_json::from_value(serde_json::json!({
            "track": 2, "title": "Track 2 – eye openness", "x_label": "time (s)",
            "x": [0.0, 0.5, 1.0, 1.5], "frames": [0, 1, 2, 3],
            "panels": [
                {"name": "a", "title": "openness", "range": null,
                 "lines": [{"y": 0.5, "label": "closed <0.5>"}]},
                {"name": "b", "title": "score", "range": [0.0, 1.0]}
            ],
            "series": [
                {"name": "open", "label": "openness", "panel": "a", "values": [1.0, 0.2, null, 1.1]},
                {"name": "s", "label": "score", "panel": "b", "values": [0.1, 0.2, 0.3, 0.9]}
            ],
            "marks": [{"series": "s", "index": 3, "label": "spike, z = 5.1"}],
            "spans": [{"from": 0.4, "to": 0.6, "label": "blink"}]
        }))
        .unwrap();
        let frames: Vec<FrameRow> = (0..4)
            .map(|i| FrameRow {
                idx: i,
                source_index: 10 * i,
                pts_s: 0.5 * i as f64,
                keyframe: false,
                motion: 0.0,
                width: 8,
                height: 8,
            })
            .collect();
        let charts = stored_chart_svgs(&stored, &frames);
        assert_eq!(charts.len(), 2);
        let (a, b) = (charts[0].to_svg(), charts[1].to_svg());
        // The gap (null) splits the openness line in two; the score line is whole.
        assert_eq!(a.matches("<polyline").count(), 1, "{a}");
        assert_eq!(b.matches("<polyline").count(), 1, "{b}");
        assert!(a.contains("closed &lt;0.5&gt;") && a.contains("<title>blink 0.40–0.60s</title>"));
        assert!(
            a.contains("openness: frame 10, 0.50s: 0.200"),
            "source frame numbers"
        );
        assert!(
            b.contains("<title>spike, z = 5.1: frame 30, 1.50s</title>"),
            "{b}"
        );
        assert!(
            !a.contains("spike"),
            "a mark is drawn in its own series' panel only"
        );
        assert!(
            b.contains("time (s)") && !a.contains(">time (s)<"),
            "x label on the last panel"
        );
        // The fitted axis holds the largest value; the fixed range is kept.
        assert!(charts[0].y.max >= 1.1 && charts[0].y.min == 0.0);
        assert_eq!((charts[1].y.min, charts[1].y.max), (0.0, 1.0));
    }
}
