//! Case reports: the HTML is self-contained and says what the store says (verdict, hashes,
//! embedded crops, review history), honestly for untrained and not-scored cases; the JSON twin
//! carries the same facts.
mod common;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use std::path::Path;
use verity::report::{self, Format};
use verity::store::{FaceRow, FrameRow, NewMedia, Outcome, ScoreRow, Store, Verdict};

fn media(path: &Path) -> NewMedia {
    NewMedia {
        original_path: path.to_path_buf(),
        kind: "image".into(),
        size_bytes: std::fs::metadata(path).unwrap().len(),
        width: Some(512),
        height: Some(512),
        duration_s: None,
        fps: None,
        codec: None,
        container: None,
    }
}

/// A stored case with two frames, one face each (crops = the astronaut photo), and an outcome.
fn case_with(store: &mut Store, src: &Path, out: Outcome) -> i64 {
    let imp = store.import(&media(src), "Ada").unwrap();
    let settings =
        serde_json::json!({"fps": 5.0, "thresholds": {"real": 0.3, "fake": 0.7}}).to_string();
    let aid = store.begin_analysis(imp.case_id, &settings, "Ada").unwrap();
    let crop_bytes = std::fs::read(common::astronaut()).unwrap();
    let crop = store
        .blobs
        .put_derived(&format!("a{aid}/f0_t1.png"), &crop_bytes)
        .unwrap();
    let frames: Vec<FrameRow> = (0..2)
        .map(|i| FrameRow {
            idx: i,
            source_index: i,
            pts_s: i as f64 * 0.2,
            keyframe: i == 0,
            motion: 0.0,
            width: 512,
            height: 512,
        })
        .collect();
    let faces: Vec<FaceRow> = (0..2)
        .map(|i| FaceRow {
            id: 0,
            frame_idx: i,
            track_id: 1,
            bbox: [10.0, 10.0, 100.0, 100.0],
            det_prob: 0.99,
            landmarks: [[0.0; 2]; 5],
            crop: Some(crop.clone()),
            native_crop: None,
            full_frame: false,
            score: None,
        })
        .collect();
    let ids = store.add_frames(aid, &frames, &faces).unwrap();
    let mut out = out;
    if out.status == "done" {
        for (i, id) in ids.iter().enumerate() {
            out.scores.push(ScoreRow {
                level: "face".into(),
                face_id: Some(*id),
                frame_idx: Some(i as i64),
                track_id: Some(1),
                score: 0.5 + 0.1 * i as f64,
            });
        }
        out.scores.push(ScoreRow {
            level: "track".into(),
            face_id: None,
            frame_idx: None,
            track_id: Some(1),
            score: 0.55,
        });
        out.scores.push(ScoreRow {
            level: "media".into(),
            face_id: None,
            frame_idx: None,
            track_id: None,
            score: 0.55,
        });
    }
    store.finish_analysis(aid, &out, "Ada").unwrap();
    imp.case_id
}

#[test]
fn html_report_holds_verdict_hashes_crops_and_review_history() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("data")).unwrap();
    let id = case_with(
        &mut store,
        &common::astronaut(),
        Outcome {
            status: "done".into(),
            score: Some(0.55),
            band: Some("review".into()),
            profile: Some("gend-clip-l14".into()),
            weight_hashes: vec![("clip.safetensors".into(), "ab12".repeat(16))],
            untrained: false,
            message: None,
            scores: vec![],
        },
    );
    store
        .add_review(
            id,
            Verdict::Fake,
            "Ada Lovelace",
            "blending seam at the <jaw>",
        )
        .unwrap();
    let out = dir.path().join("out/report.html");
    report::export(&store, id, Format::Html, &out).unwrap();
    let html = std::fs::read_to_string(&out).unwrap();
    let d = store.case_detail(id).unwrap();

    assert!(
        html.contains("Verdict: needs human review (0.550)"),
        "verdict line"
    );
    assert!(html.contains(&d.media.sha256), "media hash");
    assert!(
        html.contains(&"ab12".repeat(16)) && html.contains("clip.safetensors"),
        "weight hash"
    );
    assert!(html.contains("gend-clip-l14"), "profile");
    let crop_b64 = STANDARD.encode(std::fs::read(common::astronaut()).unwrap());
    assert_eq!(
        html.matches(&format!("data:image/png;base64,{crop_b64}"))
            .count(),
        2,
        "both crops embedded"
    );
    assert!(
        html.contains("Ada Lovelace") && html.contains("blending seam at the &lt;jaw&gt;"),
        "review, escaped"
    );
    assert!(
        html.contains("<svg") && html.contains("track 1, frame 1, 0.20s: 0.600"),
        "timeline point"
    );
    assert!(html.contains("keyframe 0"), "keyframe marked");
    assert!(
        html.contains("id=\"overlays\">Not computed")
            && html.contains("id=\"artifacts\">Not computed"),
        "overlays and artifact views are honestly absent"
    );
    assert!(!html.contains("UNTRAINED") && !html.contains("id=\"not-scored\""));
    // Self-contained: nothing is fetched from anywhere.
    for bad in ["src=\"http", "href=\"http", "<script", "<link"] {
        assert!(!html.contains(bad), "report references {bad}");
    }

    let out = dir.path().join("report.json");
    report::export(&store, id, "json".parse().unwrap(), &out).unwrap();
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(j["verdict"], "needs human review (0.550)");
    assert_eq!(j["media"]["sha256"], d.media.sha256.as_str());
    assert_eq!(j["weight_hashes"][0][1], "ab12".repeat(16));
    assert_eq!(j["reviews"][0]["verdict"], "fake");
    assert_eq!(j["reviews"][0]["analyst"], "Ada Lovelace");
    assert_eq!(j["faces"].as_array().unwrap().len(), 2);
    assert_eq!(j["case"]["score"], 0.55);
    assert_eq!(j["overlays"], "not computed");
}

#[test]
fn untrained_and_not_scored_cases_are_reported_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("data")).unwrap();
    let untrained = case_with(
        &mut store,
        &common::astronaut(),
        Outcome {
            status: "done".into(),
            score: Some(0.9),
            band: Some("fake".into()),
            profile: Some("tiny-untrained".into()),
            weight_hashes: vec![],
            untrained: true,
            message: Some(
                "UNTRAINED profile (random weights): this score is not a verdict.".into(),
            ),
            scores: vec![],
        },
    );
    let html = report::html(&store, &store.case_detail(untrained).unwrap());
    assert!(
        html.contains("Verdict: UNTRAINED 0.900 (fake)"),
        "untrained score is flagged in the verdict"
    );
    assert!(html.contains("id=\"untrained\""));
    assert!(
        html.contains("class=\"verdict none\""),
        "an untrained score is not coloured as a verdict"
    );
    assert!(html.contains("NO — random weights"));

    let other = dir.path().join("other.png");
    image::open(common::astronaut())
        .unwrap()
        .fliph()
        .save(&other)
        .unwrap();
    let not_scored = case_with(
        &mut store,
        &other,
        Outcome {
            status: "not_scored".into(),
            score: None,
            band: None,
            profile: None,
            weight_hashes: vec![],
            untrained: false,
            message: Some("Not scored — No detector weights installed.".into()),
            scores: vec![],
        },
    );
    let d = store.case_detail(not_scored).unwrap();
    let html = report::html(&store, &d);
    assert!(html.contains("Verdict: not scored"));
    assert!(
        html.contains("verity models fetch gend-clip-l14"),
        "tells how to install weights"
    );
    assert!(html.contains("No frame scores: this case was not scored."));
    assert!(html.contains("none (no detector installed)"));
    assert!(html.contains("No analyst has reviewed this case."));
    assert!(
        html.contains("not scored</figcaption>"),
        "crops shown without a made-up score"
    );
    let j: serde_json::Value = serde_json::from_str(&report::json(&store, &d).unwrap()).unwrap();
    assert_eq!(j["verdict"], "not scored");
    assert!(j["case"]["score"].is_null());
    assert!(
        report::export(&store, 9999, Format::Html, &dir.path().join("x.html"))
            .unwrap_err()
            .to_string()
            .contains("9999")
    );
}

/// Explanations stored for the latest analysis show in the report — the newest of each view,
/// the frame overlay rather than the crop one, with each one-line reading — and the JSON lists
/// them; views never computed still say "Not computed".
#[test]
fn stored_explanations_appear_in_the_report_newest_per_view() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("data")).unwrap();
    let id = case_with(
        &mut store,
        &common::astronaut(),
        Outcome {
            status: "done".into(),
            score: Some(0.81),
            band: Some("fake".into()),
            profile: Some("gend-clip-l14".into()),
            weight_hashes: vec![],
            untrained: false,
            message: None,
            scores: vec![],
        },
    );
    let d = store.case_detail(id).unwrap();
    let aid = d.analysis.as_ref().unwrap().id;
    let face = d.faces[1].id;
    // Distinct tiny PNGs so each embedded picture can be told apart.
    let png = |shade: u8| {
        let img = image::RgbImage::from_pixel(4, 4, image::Rgb([shade, 0, 0]));
        let mut bytes = Vec::new();
        img.write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .unwrap();
        bytes
    };
    let mut add = |kind: &str, space: &str, shade: u8, summary: &str| {
        let blob = store
            .blobs
            .put_derived(
                &format!("a{aid}/explain/{kind}_{space}_{shade}.png"),
                &png(shade),
            )
            .unwrap();
        store
            .add_explanation(
                &verity::store::NewExplanation {
                    case_id: id,
                    analysis_id: aid,
                    face_id: Some(face),
                    frame_idx: Some(1),
                    kind: kind.into(),
                    space: space.into(),
                    blob: Some(blob),
                    summary: summary.into(),
                    data: serde_json::json!({}),
                },
                "Ada",
            )
            .unwrap();
    };
    add("gradcam_cnn", "crop", 10, "old crop map");
    add("gradcam_cnn", "frame", 20, "old frame map");
    add(
        "gradcam_cnn",
        "frame",
        30,
        "red areas raised the score: the <jaw> line",
    );
    add("ela", "region", 40, "pasted block stands out");
    let b64 = |shade: u8| STANDARD.encode(png(shade));

    let out = dir.path().join("r.html");
    report::export(&store, id, Format::Html, &out).unwrap();
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(
        html.contains(&b64(30)),
        "the newest frame overlay is embedded"
    );
    assert!(
        !html.contains(&b64(20)),
        "an older run of the same view is not"
    );
    assert!(
        !html.contains(&b64(10)),
        "the crop map gives way to the frame one"
    );
    assert!(html.contains("Grad-CAM (forensic CNN), in the frame, frame 1"));
    assert!(html.contains("the &lt;jaw&gt; line"), "summary, escaped");
    assert!(html.contains(&b64(40)) && html.contains("Error-level analysis, frame 1"));
    assert!(html.contains("pasted block stands out"));
    assert!(!html.contains("id=\"overlays\">Not computed"));
    assert!(!html.contains("id=\"artifacts\">Not computed"));

    let out = dir.path().join("r.json");
    report::export(&store, id, Format::Json, &out).unwrap();
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(j["overlays"], "computed");
    let kinds: Vec<(String, String)> = j["explanations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap().into(),
                e["summary"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("gradcam_cnn".to_string(), "old crop map".to_string()),
            (
                "gradcam_cnn".into(),
                "red areas raised the score: the <jaw> line".into()
            ),
            ("ela".into(), "pasted block stands out".into()),
        ]
    );
}

/// Hostile text from a file name, an analyst's note or a stored summary is inert everywhere it
/// lands: the page title, the heading, tables, the review history and the charts' SVG.
#[test]
fn hostile_titles_notes_and_summaries_come_out_inert() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("data")).unwrap();
    let id = case_with(
        &mut store,
        &common::astronaut(),
        Outcome {
            status: "done".into(),
            score: Some(0.55),
            band: Some("review".into()),
            profile: Some("p\"><img src=x onerror=alert(3)>".into()),
            weight_hashes: vec![("<script>w</script>".into(), "\"><b>".into())],
            untrained: false,
            message: Some("<script>alert('message')</script>".into()),
            scores: vec![],
        },
    );
    let script = "<script>alert(1)</script>";
    let img = "\"><img src=x onerror=alert(2)>";
    store
        .add_review(id, Verdict::Fake, script, &format!("{img} {script}"))
        .unwrap();
    let mut d = store.case_detail(id).unwrap();
    d.case.title = format!("{script}{img}");
    d.media.original_name = img.into();
    let html = report::html(&store, &d);
    for bad in ["<script", "<img src=x", "<b>"] {
        assert!(!html.contains(bad), "{bad} reached the page raw");
    }
    assert!(html.contains("<title>Verity Desk report — &lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img src=x onerror=alert(2)&gt;</title>"));
    assert!(html.contains("<h1>&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img"));
    assert!(
        html.contains(
            "&quot;&gt;&lt;img src=x onerror=alert(2)&gt; &lt;script&gt;alert(1)&lt;/script&gt;"
        ),
        "note"
    );
    assert!(
        html.contains("&lt;script&gt;alert('message')&lt;/script&gt;"),
        "message"
    );
    assert!(
        html.contains("p&quot;&gt;&lt;img src=x onerror=alert(3)&gt;"),
        "profile"
    );
    // Every image is an inline data: URL and every tag is one the template writes.
    assert!(html.matches("<img ").count() == html.matches("<img alt=\"face, frame ").count());
    let known = [
        "!DOCTYPE",
        "html",
        "head",
        "meta",
        "title",
        "style",
        "body",
        "main",
        "h1",
        "h2",
        "div",
        "p",
        "code",
        "table",
        "tr",
        "th",
        "td",
        "figure",
        "figcaption",
        "img",
        "br",
        "b",
        "strong",
        "svg",
        "text",
        "rect",
        "line",
        "polyline",
        "circle",
        "footer",
    ];
    for (i, _) in html.match_indices('<') {
        let rest = html[i + 1..].trim_start_matches('/');
        assert!(
            known
                .iter()
                .any(|t| rest.starts_with(t) && rest[t.len()..].starts_with([' ', '>'])),
            "stray markup: {}",
            &html[i..(i + 40).min(html.len())]
        );
    }
}

/// A video's stored temporal and blink series (the rows `verity explain` writes) are drawn as
/// SVG charts in the report — one per panel, spikes and blinks marked — with hostile labels
/// inert; a row whose series cannot be read says so.
#[test]
fn stored_temporal_and_blink_series_are_drawn_as_svg() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("data")).unwrap();
    let id = case_with(
        &mut store,
        &common::astronaut(),
        Outcome {
            status: "done".into(),
            score: Some(0.81),
            band: Some("fake".into()),
            profile: Some("gend-clip-l14".into()),
            weight_hashes: vec![],
            untrained: false,
            message: None,
            scores: vec![],
        },
    );
    // A video: the temporal section is shown.
    store
        .conn()
        .execute("UPDATE media SET kind = 'video'", [])
        .unwrap();
    let d = store.case_detail(id).unwrap();
    let aid = d.analysis.as_ref().unwrap().id;
    let mut add = |kind: &str, summary: &str, data: serde_json::Value| {
        store
            .add_explanation(
                &verity::store::NewExplanation {
                    case_id: id,
                    analysis_id: aid,
                    face_id: None,
                    frame_idx: None,
                    kind: kind.into(),
                    space: "plot".into(),
                    blob: None,
                    summary: summary.into(),
                    data,
                },
                "Ada",
            )
            .unwrap();
    };
    add(
        "temporal",
        "1 spike <flagged>",
        serde_json::json!({
            "track": 1, "title": "Track 1 – temporal consistency", "x_label": "time (s)",
            "x": [0.0, 0.2], "frames": [0, 1],
            "panels": [
                {"name": "score", "title": "fake probability", "range": [0.0, 1.0]},
                {"name": "drift", "title": "embedding drift (1 − cos)", "range": null}
            ],
            "series": [
                {"name": "score", "label": "score", "panel": "score", "values": [0.5, 0.6]},
                {"name": "clip", "label": "CLIP", "panel": "drift", "values": [null, 0.02]},
                {"name": "cnn", "label": "<script>cnn</script>", "panel": "drift", "values": [null, 0.03]}
            ],
            "marks": [{"series": "score", "index": 1, "label": "spike, z = 5.1"}],
            "spans": []
        }),
    );
    add(
        "blink",
        "no blinks",
        serde_json::json!({
            "track": 1, "title": "Track 1 – eye openness and blinks", "x_label": "time (s)",
            "x": [0.0, 0.2], "frames": [0, 1],
            "panels": [{"name": "open", "title": "openness / track median", "range": null,
                        "lines": [{"y": 0.5, "label": "closed"}]}],
            "series": [{"name": "openness", "label": "openness", "panel": "open", "values": [1.0, 0.3]}],
            "spans": [{"from": 0.1, "to": 0.2, "label": "blink"}]
        }),
    );
    let html = report::html(&store, &store.case_detail(id).unwrap());
    let plots = &html[html.find("id=\"plots\"").expect("plots section")..];
    let plots = &plots[..plots.find("<h2>").unwrap()];
    assert_eq!(plots.matches("<svg").count(), 3, "one chart per panel");
    assert!(plots.contains("aria-label=\"Track 1 – temporal consistency: fake probability\""));
    assert!(
        plots.contains("<title>spike, z = 5.1: frame 1, 0.20s</title>"),
        "spike marked"
    );
    assert!(plots.contains("score: frame 1, 0.20s: 0.600"), "hover text");
    assert!(plots.contains("<title>blink 0.10–0.20s</title>") && plots.contains(">closed</text>"));
    assert!(plots.contains("&lt;script&gt;cnn&lt;/script&gt;") && !html.contains("<script"));
    assert!(plots.contains("<b>Temporal consistency</b><br>1 spike &lt;flagged&gt;"));
    assert!(plots.contains("<b>Blinks</b><br>no blinks"));
    assert!(!plots.contains("<img"), "drawn, not pictures");

    // A row in an unreadable shape (and no picture) is reported, not dropped.
    store
        .conn()
        .execute(
            "UPDATE explanations SET data = '{\"x\": 1}' WHERE kind = 'blink'",
            [],
        )
        .unwrap();
    let html = report::html(&store, &store.case_detail(id).unwrap());
    assert!(
        html.contains("Blinks: the stored series cannot be read"),
        "{html}"
    );
}
