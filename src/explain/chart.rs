//! The numbers behind a line chart, as stored in `explanations.data` for the temporal and blink
//! views: the app draws them (uPlot), the report renders them; nothing here draws.
//!
//! Stored JSON (one object per track and view, `explanations.kind` = `temporal` | `blink`,
//! `space` = `plot`, no picture):
//!
//! ```json
//! { "track": 1, "title": "Track 1 – temporal consistency", "x_label": "time (s)",
//!   "x": [0.0, 0.2, …],                 // seconds, one per sampled frame of the track
//!   "frames": [0, 1, …],                // the sampled frame index at each x (what a click seeks to)
//!   "panels": [{ "name": "score", "title": "fake probability", "range": [0, 1],
//!                "lines": [{ "y": 0.5, "label": "closed" }] }, …],
//!   "series": [{ "name": "score", "label": "score", "panel": "score",
//!                "values": [0.12, null, …] }, …],   // same length as x; null = not defined
//!   "marks":  [{ "series": "score", "index": 12, "label": "spike, z = 5.1" }],
//!   "spans":  [{ "from": 3.2, "to": 3.4, "label": "blink" }],
//!   "details": { … } }                  // the view's own facts (spikes, blink rate, …)
//! ```
//!
//! Panels are stacked charts sharing the x axis; each series belongs to one panel. Schema v5
//! rewrote rows stored before in this shape (see `store::schema`).
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// One stacked chart area with its own y axis.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChartPanel {
    pub name: String,
    pub title: String,
    /// Fixed y range; `None` fits the data.
    pub range: Option<[f64; 2]>,
    /// Horizontal reference lines (thresholds, baselines).
    #[serde(default)]
    pub lines: Vec<RefLine>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RefLine {
    pub y: f64,
    pub label: String,
}

/// One line: a value per x, `None` (JSON `null`) where it is not defined.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChartSeries {
    pub name: String,
    pub label: String,
    /// The [`ChartPanel::name`] it is drawn in.
    pub panel: String,
    pub values: Vec<Option<f64>>,
}

/// A point to highlight: `series`' value at `index` (a flagged spike).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChartMark {
    pub series: String,
    pub index: usize,
    pub label: String,
}

/// An x range to shade (a blink, a longer eye closure), in the units of `x`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChartSpan {
    pub from: f64,
    pub to: f64,
    pub label: String,
}

/// The stored form of a temporal or blink chart (see the module doc).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Chart {
    pub track: i64,
    pub title: String,
    pub x_label: String,
    pub x: Vec<f64>,
    pub frames: Vec<i64>,
    pub panels: Vec<ChartPanel>,
    pub series: Vec<ChartSeries>,
    #[serde(default)]
    pub marks: Vec<ChartMark>,
    #[serde(default)]
    pub spans: Vec<ChartSpan>,
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub details: serde_json::Value,
}

impl Chart {
    /// Checks the shape: one frame and one value of every series per x, every series in a
    /// known panel, every mark on a known series and inside it.
    pub fn validate(&self) -> Result<()> {
        let n = self.x.len();
        let bad = |what: String| Err(Error::Other(format!("chart \"{}\": {what}", self.title)));
        if self.frames.len() != n {
            return bad(format!("{} frames for {n} x values", self.frames.len()));
        }
        for s in &self.series {
            if s.values.len() != n {
                return bad(format!(
                    "series {} has {} values for {n} x values",
                    s.name,
                    s.values.len()
                ));
            }
            if !self.panels.iter().any(|p| p.name == s.panel) {
                return bad(format!("series {} is in unknown panel {}", s.name, s.panel));
            }
        }
        for m in &self.marks {
            if !self.series.iter().any(|s| s.name == m.series) || m.index >= n {
                return bad(format!(
                    "mark {} at {} is outside the series",
                    m.series, m.index
                ));
            }
        }
        Ok(())
    }

    /// The series called `name`.
    pub fn series(&self, name: &str) -> Option<&ChartSeries> {
        self.series.iter().find(|s| s.name == name)
    }

    /// The JSON stored in `explanations.data`.
    pub fn to_json(&self) -> Result<serde_json::Value> {
        self.validate()?;
        serde_json::to_value(self).map_err(|e| Error::Other(format!("chart to JSON: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart() -> Chart {
        Chart {
            track: 3,
            title: "t".into(),
            x_label: "time (s)".into(),
            x: vec![0.0, 0.5],
            frames: vec![0, 1],
            panels: vec![ChartPanel {
                name: "p".into(),
                title: "P".into(),
                range: Some([0.0, 1.0]),
                lines: vec![],
            }],
            series: vec![ChartSeries {
                name: "a".into(),
                label: "A".into(),
                panel: "p".into(),
                values: vec![Some(0.25), None],
            }],
            marks: vec![ChartMark {
                series: "a".into(),
                index: 0,
                label: "m".into(),
            }],
            spans: vec![],
            details: serde_json::Value::Null,
        }
    }

    #[test]
    fn a_chart_round_trips_through_its_stored_json() {
        let c = chart();
        let v = c.to_json().unwrap();
        assert_eq!(v["series"][0]["values"], serde_json::json!([0.25, null]));
        assert!(v.get("details").is_none());
        let back: Chart = serde_json::from_value(v).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn a_chart_of_the_wrong_shape_is_refused() {
        let mut c = chart();
        c.series[0].values.push(Some(1.0));
        assert!(c
            .to_json()
            .unwrap_err()
            .to_string()
            .contains("3 values for 2"));
        let mut c = chart();
        c.frames.pop();
        assert!(c.validate().is_err());
        let mut c = chart();
        c.series[0].panel = "q".into();
        assert!(c.validate().is_err());
        let mut c = chart();
        c.marks[0].index = 2;
        assert!(c.validate().is_err());
    }
}
