//! XMP packets (RDF/XML) read with `roxmltree` (no DTD, a node limit): `xmp:CreatorTool`, the
//! dates, `xmpMM:History` (the editing steps Adobe and others record), IPTC's
//! `Iptc4xmpExt:DigitalSourceType` (the "AI-generated" flag of the IPTC vocabulary) and
//! `photoshop:`/`dc:` odds that name a tool. Properties are found by namespace URI, whether
//! written as attributes (`<rdf:Description xmp:CreatorTool="…">`) or as elements.
use serde_json::json;

use super::super::{Field, Level, Section, Signal};
use super::{clip, Examined};

/// Largest packet parsed (a JPEG's APP1 holds at most 64 KiB; extended XMP and PNG/WebP chunks
/// can be larger).
pub(super) const MAX_XMP_BYTES: usize = 1 << 20;
/// Nodes roxmltree may build for one packet.
const MAX_NODES: u32 = 50_000;
/// History steps kept.
const MAX_STEPS: usize = 64;

const NS_XMP: &str = "http://ns.adobe.com/xap/1.0/";
const NS_XMPMM: &str = "http://ns.adobe.com/xap/1.0/mm/";
const NS_STEVT: &str = "http://ns.adobe.com/xap/1.0/sType/ResourceEvent#";
const NS_IPTC_EXT: &str = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/";
const NS_PHOTOSHOP: &str = "http://ns.adobe.com/photoshop/1.0/";
const NS_RDF: &str = "http://www.w3.org/1999/02/22-rdf-syntax-ns#";

/// IPTC digital source types (the last segment of the NewsCodes URI) that say the picture was
/// made by a generative model.
pub const AI_SOURCE_TYPES: &[&str] = &[
    "trainedAlgorithmicMedia",
    "compositeWithTrainedAlgorithmicMedia",
    "algorithmicMedia",
];
/// Types that are not a plain capture (worth a notice, not a warning).
const SYNTHETIC_SOURCE_TYPES: &[&str] = &[
    "compositeSynthetic",
    "digitalArt",
    "virtualRecording",
    "algorithmicallyEnhanced",
    "dataDrivenMedia",
    "digitalCreation",
    "softwareImage",
];

/// One `xmpMM:History` step.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub(super) struct Step {
    pub action: String,
    pub software_agent: String,
    pub when: String,
    pub changed: String,
}

/// Reads the XMP packets into an "XMP" section.
pub(super) fn examine(packets: &[Vec<u8>], problems: Vec<String>, out: &mut Examined) {
    let mut s = Section::new("XMP");
    s.problems = problems;
    let mut details = serde_json::Map::new();
    let mut history: Vec<Step> = Vec::new();
    for packet in packets {
        let packet = if packet.len() > MAX_XMP_BYTES {
            s.problems.push(format!(
                "an XMP packet of {} bytes is larger than the {} MiB read; not read",
                packet.len(),
                MAX_XMP_BYTES >> 20
            ));
            continue;
        } else {
            packet
        };
        let text = match std::str::from_utf8(packet) {
            Ok(t) => t,
            Err(e) => {
                s.problems.push(format!(
                    "the XMP packet is not valid UTF-8 text (byte {}); not read",
                    e.valid_up_to()
                ));
                continue;
            }
        };
        // Writers pad packets with NULs and whitespace; the XML starts at the first '<'.
        let text = text.trim_matches(|c: char| c == '\0' || c.is_whitespace());
        let text = text.find('<').map_or(text, |i| &text[i..]);
        let options = roxmltree::ParsingOptions {
            allow_dtd: false,
            nodes_limit: MAX_NODES,
            ..Default::default()
        };
        let doc = match roxmltree::Document::parse_with_options(text, options) {
            Ok(d) => d,
            Err(e) => {
                s.problems.push(format!(
                    "the XMP packet is not well-formed XML ({e}); not read"
                ));
                continue;
            }
        };
        read_doc(&doc, &mut s, &mut details, &mut history, out);
    }
    if !history.is_empty() {
        let lines: Vec<String> = history
            .iter()
            .map(|h| {
                let mut l = h.action.clone();
                if !h.software_agent.is_empty() {
                    l.push_str(&format!(" with {}", h.software_agent));
                }
                if !h.when.is_empty() {
                    l.push_str(&format!(" at {}", h.when));
                }
                if !h.changed.is_empty() {
                    l.push_str(&format!(" ({})", h.changed));
                }
                l
            })
            .collect();
        s.push(Field::new(
            format!("Editing history ({} steps)", history.len()),
            lines.join("; "),
        ));
        for h in &history {
            let edited = matches!(
                h.action.as_str(),
                "saved" | "converted" | "edited" | "derived" | "produced" | "cropped" | "filtered"
            );
            if edited && !h.software_agent.is_empty() {
                out.signals.push(Signal {
                    level: Level::Notice,
                    text: format!("edited in {}", h.software_agent),
                    source: "XMP xmpMM:History".into(),
                });
            }
        }
        details.insert("history".into(), json!(history));
    }
    if !s.is_empty() {
        out.details["xmp"] = serde_json::Value::Object(details);
        out.sections.push(s);
    }
}

/// The value of a property `ns:name` on `node`: an attribute, or a child element's text (or
/// the first `rdf:li` of a child's `rdf:Alt`/`rdf:Seq`/`rdf:Bag`, or its `rdf:resource`).
fn prop(node: roxmltree::Node, ns: &str, name: &str) -> Option<String> {
    if let Some(v) = node.attribute((ns, name)) {
        return Some(clip(v));
    }
    let child = node.children().find(|c| {
        c.is_element() && c.tag_name().namespace() == Some(ns) && c.tag_name().name() == name
    })?;
    if let Some(r) = child.attribute((NS_RDF, "resource")) {
        return Some(clip(r));
    }
    if let Some(li) = child
        .descendants()
        .find(|d| d.is_element() && d.tag_name().name() == "li")
    {
        return li.text().map(clip);
    }
    child.text().map(clip).filter(|t| !t.is_empty())
}

fn read_doc(
    doc: &roxmltree::Document,
    s: &mut Section,
    details: &mut serde_json::Map<String, serde_json::Value>,
    history: &mut Vec<Step>,
    out: &mut Examined,
) {
    let descriptions = doc.descendants().filter(|n| {
        n.is_element()
            && n.tag_name().namespace() == Some(NS_RDF)
            && n.tag_name().name() == "Description"
    });
    for d in descriptions {
        for (ns, name, label) in [
            (NS_XMP, "CreatorTool", "Creator tool"),
            (NS_XMP, "CreateDate", "Created"),
            (NS_XMP, "ModifyDate", "Modified"),
            (NS_XMP, "MetadataDate", "Metadata date"),
            (NS_PHOTOSHOP, "DateCreated", "Date created (Photoshop)"),
            (NS_XMPMM, "DocumentID", "Document ID"),
            (NS_XMPMM, "OriginalDocumentID", "Original document ID"),
        ] {
            if let Some(v) = prop(d, ns, name) {
                if details.contains_key(name) {
                    continue;
                }
                details.insert(name.into(), json!(v));
                s.push(Field::new(label, v.clone()));
                if name == "CreatorTool" {
                    out.signals
                        .push(super::image::software_signal(&v, "XMP CreatorTool"));
                }
            }
        }
        if let Some(v) = prop(d, NS_IPTC_EXT, "DigitalSourceType") {
            let code = v.rsplit('/').next().unwrap_or(&v).trim().to_string();
            details.insert("DigitalSourceType".into(), json!(v));
            let mut field = Field::new("IPTC digital source type", v.clone());
            if AI_SOURCE_TYPES.contains(&code.as_str()) {
                field = field.flagged();
                out.signals.push(Signal {
                    level: Level::Warning,
                    text: "AI-generated per IPTC digital source type (XMP)".into(),
                    source: format!("XMP Iptc4xmpExt:DigitalSourceType = {code}"),
                });
            } else if SYNTHETIC_SOURCE_TYPES.contains(&code.as_str()) {
                field = field.flagged();
                out.signals.push(Signal {
                    level: Level::Notice,
                    text: format!(
                        "not a plain camera capture per IPTC digital source type ({code})"
                    ),
                    source: format!("XMP Iptc4xmpExt:DigitalSourceType = {code}"),
                });
            }
            s.push(field);
        }
        // xmpMM:History is an rdf:Seq of rdf:li, each a resource with stEvt:* properties
        // (attributes or elements, or an inner rdf:Description).
        let hist = d.children().find(|c| {
            c.is_element()
                && c.tag_name().namespace() == Some(NS_XMPMM)
                && c.tag_name().name() == "History"
        });
        if let Some(hist) = hist {
            for li in hist.descendants().filter(|n| {
                n.is_element()
                    && n.tag_name().namespace() == Some(NS_RDF)
                    && n.tag_name().name() == "li"
            }) {
                if history.len() >= MAX_STEPS {
                    s.problems.push(format!(
                        "the editing history has more than {MAX_STEPS} steps; the rest is not shown"
                    ));
                    break;
                }
                let inner = li
                    .children()
                    .find(|c| c.is_element() && c.tag_name().name() == "Description")
                    .unwrap_or(li);
                let get = |name| prop(inner, NS_STEVT, name).unwrap_or_default();
                let step = Step {
                    action: get("action"),
                    software_agent: get("softwareAgent"),
                    when: get("when"),
                    changed: get("changed"),
                };
                if !step.action.is_empty() || !step.software_agent.is_empty() {
                    history.push(step);
                }
            }
        }
    }
}
