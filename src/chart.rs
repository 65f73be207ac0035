//! Small SVG charts for the case report ([`crate::report`]) and the evaluation page
//! ([`crate::train::metrics`]): line, step and dot series on numeric axes with ticks and labels,
//! horizontal bands (the report's fake / review / real score bands), vertical spans (blinks),
//! horizontal rules, markers, ticks under the x axis (keyframes) and grouped histograms.
//!
//! One writer for every plot we print, built with `maud`: every piece of text — titles, labels,
//! tooltips — is escaped by construction, numbers are written with one decimal. The output is
//! plain inline SVG (no scripts, no external references), valid both inside an HTML page and as
//! a standalone `.svg` file; every element is written with an explicit end tag, because the HTML
//! parser does not treat `<line …>` inside `<svg>` as empty.
use maud::{html, Markup};

/// A numeric axis: its label, range and tick positions (`digits` decimals on the tick labels).
#[derive(Clone, Debug, PartialEq)]
pub struct Axis {
    pub label: String,
    pub min: f64,
    pub max: f64,
    pub ticks: Vec<f64>,
    pub digits: usize,
    /// Draw a light grid line across the plot at each tick.
    pub grid: bool,
}

impl Axis {
    /// An axis over `[min, max]` with about five "nice" ticks (1, 2 or 5 × 10ⁿ apart).
    pub fn new(label: impl Into<String>, min: f64, max: f64) -> Self {
        let (ticks, digits) = nice_ticks(min, max, 5);
        Axis {
            label: label.into(),
            min,
            max,
            ticks,
            digits,
            grid: true,
        }
    }

    /// An axis from 0 to a little above the largest finite value of `values` (at least `floor`).
    pub fn from_zero(
        label: impl Into<String>,
        values: impl IntoIterator<Item = f64>,
        floor: f64,
    ) -> Self {
        let top = values
            .into_iter()
            .filter(|v| v.is_finite())
            .fold(floor, f64::max);
        Axis::new(label, 0.0, top * 1.1)
    }

    /// The same axis with these ticks and tick-label decimals.
    pub fn with_ticks(mut self, ticks: Vec<f64>, digits: usize) -> Self {
        self.ticks = ticks;
        self.digits = digits;
        self
    }

    /// The same axis without grid lines.
    pub fn without_grid(mut self) -> Self {
        self.grid = false;
        self
    }
}

/// About `n` ticks covering `[min, max]` at a 1/2/5 × 10ⁿ step, and the decimals they need.
pub fn nice_ticks(min: f64, max: f64, n: usize) -> (Vec<f64>, usize) {
    if !(min.is_finite() && max.is_finite()) || max <= min || n == 0 {
        return (if min.is_finite() { vec![min] } else { vec![] }, 2);
    }
    let raw = (max - min) / n as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let digits = (-step.log10().floor()).max(0.0) as usize;
    let first = (min / step).ceil() as i64;
    let last = (max / step + 1e-9).floor() as i64;
    let ticks = (first..=last).map(|k| k as f64 * step).collect();
    (ticks, digits)
}

/// How a series joins its points.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// Straight segments between points.
    Line,
    /// Holds each value until the next point's x.
    Step,
    /// Points only (dots), no line.
    Dots,
}

/// One point; a non-finite `y` breaks the line. `title` is its hover text.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    pub x: f64,
    pub y: f64,
    pub title: Option<String>,
}

impl Point {
    pub fn new(x: f64, y: f64) -> Self {
        Point { x, y, title: None }
    }

    pub fn titled(x: f64, y: f64, title: impl Into<String>) -> Self {
        Point {
            x,
            y,
            title: Some(title.into()),
        }
    }
}

/// A data series.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Shown in the legend when the chart has one; empty: not listed.
    pub label: String,
    pub colour: &'static str,
    pub points: Vec<Point>,
    pub style: Style,
    /// Also draw each point as a dot (with its title as hover text).
    pub dots: bool,
    pub dashed: bool,
    pub width: f64,
}

impl Series {
    pub fn line(label: impl Into<String>, colour: &'static str, points: Vec<Point>) -> Self {
        Series {
            label: label.into(),
            colour,
            points,
            style: Style::Line,
            dots: false,
            dashed: false,
            width: 1.5,
        }
    }

    pub fn with_dots(mut self) -> Self {
        self.dots = true;
        self
    }

    pub fn with_style(mut self, style: Style) -> Self {
        self.style = style;
        self
    }

    pub fn dashed(mut self) -> Self {
        self.dashed = true;
        self
    }

    pub fn with_width(mut self, width: f64) -> Self {
        self.width = width;
        self
    }
}

/// A shaded horizontal band between two y values, with an optional label at its right end.
#[derive(Clone, Debug, PartialEq)]
pub struct Band {
    pub from: f64,
    pub to: f64,
    pub fill: &'static str,
    pub opacity: f64,
    pub label: Option<String>,
    pub label_colour: &'static str,
}

/// A shaded vertical span between two x values (e.g. a blink), with hover text.
#[derive(Clone, Debug, PartialEq)]
pub struct Span {
    pub from: f64,
    pub to: f64,
    pub fill: &'static str,
    pub title: Option<String>,
}

/// A horizontal rule across the plot at `y`, labelled at its left end.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    pub y: f64,
    pub colour: &'static str,
    pub dashed: bool,
    pub label: Option<String>,
}

/// The shape of a [`Marker`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    Square,
    Circle,
}

/// A highlighted point (a spike, a blink), drawn above the series.
#[derive(Clone, Debug, PartialEq)]
pub struct Marker {
    pub x: f64,
    pub y: f64,
    pub colour: &'static str,
    pub shape: Shape,
    pub title: Option<String>,
}

/// A short tick under the x axis (e.g. a keyframe), with hover text.
#[derive(Clone, Debug, PartialEq)]
pub struct XMark {
    pub x: f64,
    pub title: String,
}

/// A grouped histogram: bins from `edges` (n + 1 values), one bar per group side by side in
/// each bin; `counts[g][b]` is group g's count in bin b.
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    pub edges: Vec<f64>,
    pub groups: Vec<(String, &'static str)>,
    pub counts: Vec<Vec<f64>>,
}

/// A chart: size and margins, axes and what is drawn on them (back to front: bands, spans,
/// grid, histogram, rules, series, markers; then the legend and the note).
#[derive(Clone, Debug, PartialEq)]
pub struct Chart {
    /// The accessible name (`aria-label`).
    pub label: String,
    /// Drawn in bold at the top left, inside the top margin.
    pub title: Option<String>,
    pub width: f64,
    pub height: f64,
    /// Left, right, top, bottom margins around the plot area.
    pub margin: (f64, f64, f64, f64),
    pub x: Axis,
    pub y: Axis,
    /// A border around the plot area.
    pub frame: bool,
    pub bands: Vec<Band>,
    pub spans: Vec<Span>,
    pub rules: Vec<Rule>,
    pub series: Vec<Series>,
    pub markers: Vec<Marker>,
    pub x_marks: Vec<XMark>,
    pub histogram: Option<Histogram>,
    /// List the labelled series (and histogram groups) in one row at the top right, inside the
    /// top margin (leave about 20 px there).
    pub legend: bool,
    /// A message in the middle of the plot (e.g. why there is nothing to show).
    pub note: Option<String>,
}

impl Chart {
    pub fn new(label: impl Into<String>, width: f64, height: f64, x: Axis, y: Axis) -> Self {
        Chart {
            label: label.into(),
            title: None,
            width,
            height,
            margin: (44.0, 12.0, 12.0, 32.0),
            x,
            y,
            frame: false,
            bands: Vec::new(),
            spans: Vec::new(),
            rules: Vec::new(),
            series: Vec::new(),
            markers: Vec::new(),
            x_marks: Vec::new(),
            histogram: None,
            legend: false,
            note: None,
        }
    }

    fn plot_box(&self) -> (f64, f64, f64, f64) {
        let (l, r, t, b) = self.margin;
        (
            l,
            t,
            (self.width - l - r).max(1.0),
            (self.height - t - b).max(1.0),
        )
    }

    /// The x pixel of a data value (the middle when the axis has no extent).
    pub fn px(&self, v: f64) -> f64 {
        let (l, _, w, _) = self.plot_box();
        let span = self.x.max - self.x.min;
        if span.is_finite() && span > 0.0 {
            l + w * ((v - self.x.min) / span).clamp(0.0, 1.0)
        } else {
            l + w / 2.0
        }
    }

    /// The y pixel of a data value, clamped into the plot area.
    pub fn py(&self, v: f64) -> f64 {
        let (_, t, _, h) = self.plot_box();
        let span = self.y.max - self.y.min;
        if span.is_finite() && span > 0.0 {
            t + h * (1.0 - ((v - self.y.min) / span).clamp(0.0, 1.0))
        } else {
            t + h / 2.0
        }
    }

    /// The chart as inline SVG markup.
    pub fn render(&self) -> Markup {
        let (l, t, w, h) = self.plot_box();
        let (right, bottom) = (l + w, t + h);
        let fmt = |v: f64, d: usize| format!("{v:.d$}");
        html! {
            svg xmlns="http://www.w3.org/2000/svg" viewBox=(format!("0 0 {} {}", n(self.width), n(self.height)))
                width=(n(self.width)) height=(n(self.height)) role="img" aria-label=(self.label)
                font-family="sans-serif" font-size="11" {
                @if let Some(title) = &self.title {
                    text x=(n(l)) y=(n(t - 6.0)) font-weight="600" fill="#333" { (title) }
                }
                @for b in &self.bands {
                    @let (y0, y1) = (self.py(b.from.max(b.to)), self.py(b.from.min(b.to)));
                    rect x=(n(l)) y=(n(y0)) width=(n(w)) height=(n(y1 - y0)) fill=(b.fill)
                        fill-opacity=(b.opacity) {}
                    @if let Some(label) = &b.label {
                        text x=(n(right - 4.0)) y=(n(y0 + 13.0)) fill=(b.label_colour) text-anchor="end" { (label) }
                    }
                }
                @for s in &self.spans {
                    @let (x0, x1) = (self.px(s.from.min(s.to)), self.px(s.from.max(s.to)));
                    rect x=(n(x0)) y=(n(t)) width=(n((x1 - x0).max(1.0))) height=(n(h)) fill=(s.fill) {
                        @if let Some(title) = &s.title { title { (title) } }
                    }
                }
                @for v in &self.y.ticks {
                    @if self.y.grid {
                        line x1=(n(l)) x2=(n(right)) y1=(n(self.py(*v))) y2=(n(self.py(*v))) stroke="#ccc" stroke-width="0.5" {}
                    }
                    text x=(n(l - 6.0)) y=(n(self.py(*v) + 4.0)) text-anchor="end" fill="#555" { (fmt(*v, self.y.digits)) }
                }
                @for v in &self.x.ticks {
                    @if self.x.grid {
                        line x1=(n(self.px(*v))) x2=(n(self.px(*v))) y1=(n(t)) y2=(n(bottom)) stroke="#eee" stroke-width="0.5" {}
                    }
                    text x=(n(self.px(*v))) y=(n(bottom + 15.0)) text-anchor="middle" fill="#555" { (fmt(*v, self.x.digits)) }
                }
                @if self.frame {
                    rect x=(n(l)) y=(n(t)) width=(n(w)) height=(n(h)) fill="none" stroke="#888" {}
                } @else {
                    line x1=(n(l)) x2=(n(right)) y1=(n(bottom)) y2=(n(bottom)) stroke="#888" stroke-width="0.75" {}
                }
                @if let Some(hist) = &self.histogram {
                    (self.bars(hist))
                }
                @for r in &self.rules {
                    line x1=(n(l)) x2=(n(right)) y1=(n(self.py(r.y))) y2=(n(self.py(r.y))) stroke=(r.colour)
                        stroke-width="1" stroke-dasharray=[r.dashed.then_some("4 3")] {}
                    @if let Some(label) = &r.label {
                        text x=(n(l + 4.0)) y=(n(self.py(r.y) - 3.0)) fill=(r.colour) { (label) }
                    }
                }
                @for m in &self.x_marks {
                    line x1=(n(self.px(m.x))) x2=(n(self.px(m.x))) y1=(n(bottom)) y2=(n(bottom + 6.0)) stroke="#333" stroke-width="1.5" {
                        title { (m.title) }
                    }
                }
                @if !self.x.label.is_empty() {
                    text x=(n(l + w / 2.0)) y=(n(self.height - 4.0)) text-anchor="middle" fill="#555" { (self.x.label) }
                }
                @if !self.y.label.is_empty() {
                    text x="12" y=(n(t + h / 2.0)) text-anchor="middle" fill="#555"
                        transform=(format!("rotate(-90 12 {})", n(t + h / 2.0))) { (self.y.label) }
                }
                @for s in &self.series {
                    (self.series_svg(s))
                }
                @for m in &self.markers {
                    @let (cx, cy) = (self.px(m.x), self.py(m.y));
                    @match m.shape {
                        Shape::Square => {
                            rect x=(n(cx - 3.5)) y=(n(cy - 3.5)) width="7" height="7" fill=(m.colour) {
                                @if let Some(title) = &m.title { title { (title) } }
                            }
                        }
                        Shape::Circle => {
                            circle cx=(n(cx)) cy=(n(cy)) r="3.5" fill=(m.colour) {
                                @if let Some(title) = &m.title { title { (title) } }
                            }
                        }
                    }
                }
                @if self.legend {
                    @for (x, label, colour) in self.legend_entries() {
                        @let y = t - 6.0;
                        line x1=(n(x)) x2=(n(x + 16.0)) y1=(n(y - 4.0)) y2=(n(y - 4.0)) stroke=(colour) stroke-width="2" {}
                        text x=(n(x + 20.0)) y=(n(y)) fill="#333" { (label) }
                    }
                }
                @if let Some(note) = &self.note {
                    text x=(n(l + w / 2.0)) y=(n(t + h / 2.0)) text-anchor="middle" fill="#555" { (note) }
                }
            }
        }
    }

    /// The chart as a standalone SVG document's text.
    pub fn to_svg(&self) -> String {
        self.render().into_string()
    }

    /// The legend's entries in one row in the top margin, right-aligned: `(x, label, colour)`
    /// (widths estimated at 6.5 px a character).
    fn legend_entries(&self) -> Vec<(f64, String, &'static str)> {
        let mut entries: Vec<(String, &'static str)> = self
            .series
            .iter()
            .filter(|s| !s.label.is_empty())
            .map(|s| (s.label.clone(), s.colour))
            .collect();
        if let Some(hist) = &self.histogram {
            entries.extend(hist.groups.iter().cloned());
        }
        let (l, _, w, _) = self.plot_box();
        let mut x = l + w;
        let mut out: Vec<(f64, String, &'static str)> = entries
            .into_iter()
            .rev()
            .map(|(label, colour)| {
                x -= 20.0 + 6.5 * label.chars().count() as f64 + 12.0;
                (x, label, colour)
            })
            .collect();
        out.reverse();
        out
    }

    fn series_svg(&self, s: &Series) -> Markup {
        // Runs of finite points; a non-finite y breaks the line.
        let mut runs: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
        for p in &s.points {
            if p.x.is_finite() && p.y.is_finite() {
                runs.last_mut()
                    .expect("one run")
                    .push((self.px(p.x), self.py(p.y)));
            } else if !runs.last().expect("one run").is_empty() {
                runs.push(Vec::new());
            }
        }
        let paths: Vec<String> = runs
            .iter()
            .filter(|r| r.len() > 1 && s.style != Style::Dots)
            .map(|r| {
                let mut pts = Vec::with_capacity(r.len() * 2);
                for (i, (x, y)) in r.iter().enumerate() {
                    if s.style == Style::Step && i > 0 {
                        pts.push(format!("{},{}", n(*x), n(r[i - 1].1)));
                    }
                    pts.push(format!("{},{}", n(*x), n(*y)));
                }
                pts.join(" ")
            })
            .collect();
        let dots = s.dots || s.style == Style::Dots;
        html! {
            @for points in &paths {
                polyline fill="none" stroke=(s.colour) stroke-width=(s.width)
                    stroke-dasharray=[s.dashed.then_some("4 4")] points=(points) {}
            }
            @if dots {
                @for p in s.points.iter().filter(|p| p.x.is_finite() && p.y.is_finite()) {
                    circle cx=(n(self.px(p.x))) cy=(n(self.py(p.y))) r="2.5" fill=(s.colour) {
                        @if let Some(title) = &p.title { title { (title) } }
                    }
                }
            }
        }
    }

    fn bars(&self, hist: &Histogram) -> Markup {
        let groups = hist.groups.len().max(1) as f64;
        html! {
            @for (b, pair) in hist.edges.windows(2).enumerate() {
                @let (x0, x1) = (self.px(pair[0]), self.px(pair[1]));
                @let bw = (x1 - x0) / groups;
                @for (g, (label, colour)) in hist.groups.iter().enumerate() {
                    @let count = hist.counts.get(g).and_then(|c| c.get(b)).copied().unwrap_or(0.0);
                    @let top = self.py(count);
                    rect x=(n(x0 + g as f64 * bw)) y=(n(top)) width=(n((bw - 1.0).max(0.5)))
                        height=(n(self.py(self.y.min) - top)) fill=(colour) {
                        title { (label) ": " (count) " in " (format!("{:.2}–{:.2}", pair[0], pair[1])) }
                    }
                }
            }
        }
    }
}

/// A coordinate with one decimal.
fn n(v: f64) -> String {
    format!("{v:.1}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart() -> Chart {
        Chart::new(
            "test",
            400.0,
            200.0,
            Axis::new("time (s)", 0.0, 10.0),
            Axis::new("score", 0.0, 1.0),
        )
    }

    #[test]
    fn nice_ticks_are_round_and_cover_the_range() {
        assert_eq!(nice_ticks(0.0, 1.0, 4), (vec![0.0, 0.5, 1.0], 1));
        let (t, d) = nice_ticks(0.0, 1.0, 5);
        assert_eq!((t.len(), d), (6, 1));
        assert!((t[1] - 0.2).abs() < 1e-12 && t[5] == 1.0);
        let (t, d) = nice_ticks(0.0, 37.0, 5);
        assert_eq!((t, d), (vec![0.0, 10.0, 20.0, 30.0], 0));
        assert_eq!(nice_ticks(3.0, 3.0, 5).0, vec![3.0]);
    }

    #[test]
    fn every_text_is_escaped_and_elements_are_closed() {
        let evil = "<script>alert(1)</script>\"><img src=x onerror=alert(2)>";
        let mut c = chart();
        c.label = evil.into();
        c.title = Some(evil.into());
        c.x.label = evil.into();
        c.note = Some(evil.into());
        c.bands.push(Band {
            from: 0.3,
            to: 0.7,
            fill: "#f5b700",
            opacity: 0.15,
            label: Some(evil.into()),
            label_colour: "#8a6d00",
        });
        c.series.push(
            Series::line(
                evil,
                "#2f6fde",
                vec![Point::titled(1.0, 0.5, evil), Point::new(2.0, 0.6)],
            )
            .with_dots(),
        );
        c.markers.push(Marker {
            x: 1.0,
            y: 0.5,
            colour: "#f08c00",
            shape: Shape::Square,
            title: Some(evil.into()),
        });
        c.legend = true;
        let svg = c.to_svg();
        assert!(!svg.contains("<script") && !svg.contains("<img"), "{svg}");
        // Every `<` opens one of the chart's own elements: nothing broke out of a text or an
        // attribute value.
        let tags = ["svg", "text", "rect", "line", "polyline", "circle", "title"];
        for (i, _) in svg.match_indices('<') {
            let rest = svg[i + 1..].trim_start_matches('/');
            assert!(
                tags.iter()
                    .any(|t| rest.starts_with(t) && rest[t.len()..].starts_with([' ', '>'])),
                "stray markup at {i}: {}",
                &svg[i..(i + 40).min(svg.len())]
            );
        }
        assert!(svg.contains(
            "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img src=x onerror=alert(2)&gt;"
        ));
        // Every element has an end tag: no `<line …>` left open inside the SVG.
        for tag in ["line", "rect", "circle", "polyline", "text", "title"] {
            assert_eq!(
                svg.matches(&format!("<{tag} ")).count() + svg.matches(&format!("<{tag}>")).count(),
                svg.matches(&format!("</{tag}>")).count(),
                "{tag}"
            );
        }
    }

    #[test]
    fn points_map_into_the_plot_area_and_gaps_break_the_line() {
        let mut c = chart();
        let (l, r, t, b) = c.margin;
        assert_eq!(c.px(0.0), l);
        assert_eq!(c.px(10.0), 400.0 - r);
        assert_eq!(c.py(1.0), t);
        assert_eq!(c.py(0.0), 200.0 - b);
        assert_eq!(c.py(7.0), t, "clamped to the axis");
        c.series.push(Series::line(
            "",
            "#000",
            vec![
                Point::new(0.0, 0.0),
                Point::new(1.0, 1.0),
                Point::new(2.0, f64::NAN),
                Point::new(3.0, 0.0),
                Point::new(4.0, 0.5),
            ],
        ));
        let svg = c.to_svg();
        assert_eq!(svg.matches("<polyline").count(), 2, "{svg}");
        c.series[0].style = Style::Step;
        let svg = c.to_svg();
        // A step holds the first value until the next x: (px(1), py(0)) is on the path.
        assert!(svg.contains(&format!("{:.1},{:.1}", c.px(1.0), c.py(0.0))));
    }

    #[test]
    fn histogram_bars_are_side_by_side_and_scaled_to_the_axis() {
        let mut c = Chart::new(
            "h",
            300.0,
            200.0,
            Axis::new("p", 0.0, 1.0),
            Axis::new("", 0.0, 4.0),
        );
        c.histogram = Some(Histogram {
            edges: vec![0.0, 0.5, 1.0],
            groups: vec![("real".into(), "#2e86c1"), ("fake".into(), "#c0392b")],
            counts: vec![vec![4.0, 0.0], vec![1.0, 2.0]],
        });
        let svg = c.to_svg();
        assert_eq!(svg.matches("fill=\"#2e86c1\"").count(), 2);
        assert_eq!(svg.matches("fill=\"#c0392b\"").count(), 2);
        assert!(svg.contains("<title>real: 4 in 0.00–0.50</title>"), "{svg}");
        // The tallest bar reaches the top of the plot area.
        assert!(svg.contains(&format!("y=\"{:.1}\"", c.py(4.0))));
    }
}
