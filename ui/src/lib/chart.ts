// The stored temporal / blink series (`verity::explain::chart::Chart`, the `data` of an
// explanation row with space "plot") and the pure steps from it to uPlot's data, so the choice
// is unit-tested without a browser. Drawing is components/SeriesChart.tsx.

export interface ChartPanel {
  name: string;
  title: string;
  /** Fixed y range; null fits the data. */
  range: [number, number] | null;
  lines: { y: number; label: string }[];
}

export interface ChartSeries {
  name: string;
  label: string;
  /** The panel it is drawn in. */
  panel: string;
  /** One per x; null where not defined. */
  values: (number | null)[];
}

/** Mirrors `verity::explain::chart::Chart`. */
export interface StoredChart {
  track: number;
  title: string;
  x_label: string;
  /** Seconds, one per sampled frame of the track. */
  x: number[];
  /** The sampled frame index at each x: what a click seeks to. */
  frames: number[];
  panels: ChartPanel[];
  series: ChartSeries[];
  /** Points to highlight (flagged spikes): a series' value at an index. */
  marks: { series: string; index: number; label: string }[];
  /** x ranges to shade (blinks, eye closures). */
  spans: { from: number; to: number; label: string }[];
  details?: Record<string, unknown>;
}

const isNums = (v: unknown, nulls: boolean): boolean =>
  Array.isArray(v) && v.every((x) => (typeof x === 'number' && Number.isFinite(x)) || (nulls && x === null));

/**
 * The chart stored in a row's `data`, or null when it is not one (a row from another version):
 * every series and `frames` as long as `x`, every series in a known panel, marks inside.
 */
export function parseChart(data: unknown): StoredChart | null {
  if (!data || typeof data !== 'object') return null;
  const d = data as Record<string, unknown>;
  if (!isNums(d.x, false) || !isNums(d.frames, false) || !Array.isArray(d.panels) || !Array.isArray(d.series)) return null;
  const n = (d.x as number[]).length;
  if ((d.frames as number[]).length !== n) return null;
  const panels = d.panels as ChartPanel[];
  if (!panels.every((p) => p && typeof p.name === 'string')) return null;
  const series = d.series as ChartSeries[];
  for (const s of series) {
    if (!s || typeof s.name !== 'string' || !isNums(s.values, true) || s.values.length !== n) return null;
    if (!panels.some((p) => p.name === s.panel)) return null;
  }
  const marks = (Array.isArray(d.marks) ? d.marks : []) as StoredChart['marks'];
  const spans = (Array.isArray(d.spans) ? d.spans : []) as StoredChart['spans'];
  return {
    track: typeof d.track === 'number' ? d.track : 0,
    title: typeof d.title === 'string' ? d.title : '',
    x_label: typeof d.x_label === 'string' ? d.x_label : '',
    x: d.x as number[],
    frames: d.frames as number[],
    panels: panels.map((p) => ({ ...p, range: p.range ?? null, lines: p.lines ?? [] })),
    series,
    marks: marks.filter((m) => series.some((s) => s.name === m.series) && m.index >= 0 && m.index < n),
    spans: spans.filter((s) => Number.isFinite(s.from) && Number.isFinite(s.to)),
    details: (d.details as Record<string, unknown>) ?? undefined,
  };
}

const parsed = new WeakMap<object, StoredChart | null>();

/** [`parseChart`], once per stored `data` object: the same row gives the same chart (so a chart
 *  is not rebuilt on every render). */
export function chartOf(data: unknown): StoredChart | null {
  if (!data || typeof data !== 'object') return null;
  if (!parsed.has(data)) parsed.set(data, parseChart(data));
  return parsed.get(data) ?? null;
}

/** One panel's series, and uPlot's aligned data for them: [x, values of each]. */
export function panelData(chart: StoredChart, panel: string): { series: ChartSeries[]; data: (number | null)[][] } {
  const series = chart.series.filter((s) => s.panel === panel);
  return { series, data: [chart.x, ...series.map((s) => s.values)] };
}

/** The y range a panel is drawn over: its fixed range, else the data, lines and marks with 5 %
 *  room (a flat series gets ±0.5 or ±10 %). */
export function panelRange(chart: StoredChart, panel: ChartPanel): [number, number] {
  if (panel.range) return panel.range;
  const ys: number[] = [];
  for (const s of chart.series) if (s.panel === panel.name) for (const v of s.values) if (v != null) ys.push(v);
  for (const l of panel.lines) ys.push(l.y);
  if (ys.length === 0) return [0, 1];
  let lo = Math.min(...ys);
  let hi = Math.max(...ys);
  if (hi <= lo) {
    const pad = lo === 0 ? 0.5 : Math.abs(lo) * 0.1;
    return [lo - pad, hi + pad];
  }
  const pad = (hi - lo) * 0.05;
  lo -= pad;
  hi += pad;
  return [lo, hi];
}

/** The marks of a panel, as (x, y, label) points. */
export function panelMarks(chart: StoredChart, panel: string): { x: number; y: number; label: string }[] {
  const out: { x: number; y: number; label: string }[] = [];
  for (const m of chart.marks) {
    const s = chart.series.find((x) => x.name === m.series);
    const y = s?.values[m.index];
    if (s && s.panel === panel && y != null) out.push({ x: chart.x[m.index], y, label: m.label });
  }
  return out;
}

/** The hover label of sample `i`: "frame N · t s" with the source frame number. */
export function sampleLabel(chart: StoredChart, i: number, frameLabel: (idx: number) => number | null | undefined = (x) => x): string {
  if (i < 0 || i >= chart.x.length) return '—';
  return `frame ${frameLabel(chart.frames[i]) ?? chart.frames[i]} · ${chart.x[i].toFixed(2)} s`;
}

/** A value for the hover legend: 3 significant decimals, "—" where undefined. */
export function valueLabel(v: number | null | undefined): string {
  if (v == null || !Number.isFinite(v)) return '—';
  const a = Math.abs(v);
  return a !== 0 && a < 0.001 ? v.toExponential(2) : v.toFixed(a >= 100 ? 1 : 3);
}

/** Axis tick labels with just the decimals their spacing needs (0.0025 apart → 4 decimals). */
export function tickLabels(ticks: number[], step: number): string[] {
  const decimals = step > 0 && Number.isFinite(step) ? Math.min(8, Math.max(0, -Math.floor(Math.log10(step) + 1e-9))) : 3;
  return ticks.map((t) => (Math.abs(t) < step * 1e-6 ? 0 : t).toFixed(decimals));
}
