import { expect, test } from 'vitest';
import { chartOf, panelData, panelMarks, panelRange, parseChart, sampleLabel, tickLabels, valueLabel } from './chart';

// As `verity::explain::temporal::chart` stores it (trimmed to two panels).
const stored = {
  track: 4,
  title: 'Track 4 – temporal consistency',
  x_label: 'time (s)',
  x: [0, 0.5, 1, 1.5],
  frames: [0, 3, 6, 9],
  panels: [
    { name: 'score', title: 'fake probability', range: [0, 1], lines: [] },
    { name: 'drift', title: 'embedding drift (1 − cos)', range: null, lines: [{ y: 0.05, label: 'ref' }] },
  ],
  series: [
    { name: 'score', label: 'score', panel: 'score', values: [0.1, 0.2, 0.9, 0.2] },
    { name: 'clip_drift', label: 'CLIP', panel: 'drift', values: [null, 0.01, 0.3, 0.02] },
    { name: 'cnn_drift', label: 'CNN', panel: 'drift', values: [null, 0.02, 0.01, 0.03] },
  ],
  marks: [
    { series: 'score', index: 2, label: 'spike, z = 5.1' },
    { series: 'clip_drift', index: 2, label: 'spike, z = 9.0' },
    { series: 'clip_drift', index: 0, label: 'undefined value: not drawn' },
  ],
  spans: [{ from: 0.4, to: 0.6, label: 'blink' }],
  details: { spikes: [] },
};

test('a stored chart is read with its series, panels, marks and spans', () => {
  const c = parseChart(stored)!;
  expect(c).not.toBeNull();
  expect(c.track).toBe(4);
  expect(c.frames).toEqual([0, 3, 6, 9]);
  expect(c.series.map((s) => [s.name, s.values.length])).toEqual([
    ['score', 4],
    ['clip_drift', 4],
    ['cnn_drift', 4],
  ]);
  expect(c.spans).toEqual([{ from: 0.4, to: 0.6, label: 'blink' }]);
});

test('rows that are not a chart of the right shape are refused', () => {
  expect(parseChart({ track: 1 })).toBeNull();
  expect(parseChart(null)).toBeNull();
  expect(parseChart({ ...stored, frames: [0, 3, 6] })).toBeNull();
  expect(parseChart({ ...stored, series: [{ ...stored.series[0], values: [0.1, 0.2] }] })).toBeNull();
  expect(parseChart({ ...stored, series: [{ ...stored.series[0], panel: 'nowhere' }] })).toBeNull();
  expect(parseChart({ ...stored, x: [0, 'a', 1, 2] })).toBeNull();
});

test("a panel's uPlot data is x then each of its series, in order", () => {
  const c = parseChart(stored)!;
  const drift = panelData(c, 'drift');
  expect(drift.series.map((s) => s.label)).toEqual(['CLIP', 'CNN']);
  expect(drift.data).toEqual([
    [0, 0.5, 1, 1.5],
    [null, 0.01, 0.3, 0.02],
    [null, 0.02, 0.01, 0.03],
  ]);
  expect(panelData(c, 'score').data).toEqual([c.x, [0.1, 0.2, 0.9, 0.2]]);
});

test('y ranges: fixed where stored, else the data and lines with room', () => {
  const c = parseChart(stored)!;
  expect(panelRange(c, c.panels[0])).toEqual([0, 1]);
  const [lo, hi] = panelRange(c, c.panels[1]);
  expect(lo).toBeCloseTo(0.01 - 0.0145, 6);
  expect(hi).toBeCloseTo(0.3 + 0.0145, 6);
  const flat = parseChart({ ...stored, series: [{ ...stored.series[1], values: [0, 0, 0, 0] }], marks: [] })!;
  expect(panelRange(flat, { ...flat.panels[1], lines: [] })).toEqual([-0.5, 0.5]);
});

test('marks land on their series in their own panel; undefined values are skipped', () => {
  const c = parseChart(stored)!;
  expect(panelMarks(c, 'score')).toEqual([{ x: 1, y: 0.9, label: 'spike, z = 5.1' }]);
  expect(panelMarks(c, 'drift')).toEqual([{ x: 1, y: 0.3, label: 'spike, z = 9.0' }]);
});

test('hover labels name the source frame and the time; values read cleanly', () => {
  const c = parseChart(stored)!;
  expect(sampleLabel(c, 2)).toBe('frame 6 · 1.00 s');
  expect(sampleLabel(c, 2, (idx) => idx * 10)).toBe('frame 60 · 1.00 s');
  expect(sampleLabel(c, 7)).toBe('—');
  expect(valueLabel(0.8234)).toBe('0.823');
  expect(valueLabel(null)).toBe('—');
  expect(valueLabel(0.00012)).toBe('1.20e-4');
});

test('a row\'s chart is parsed once', () => {
  const data = structuredClone(stored);
  expect(chartOf(data)).toBe(chartOf(data));
  expect(chartOf(structuredClone(stored))).not.toBe(chartOf(data));
  expect(chartOf({ track: 1 })).toBeNull();
});

test('tick labels carry the decimals their spacing needs', () => {
  expect(tickLabels([0.002, 0.0025, 0.003], 0.0005)).toEqual(['0.0020', '0.0025', '0.0030']);
  expect(tickLabels([0, 0.5, 1], 0.5)).toEqual(['0.0', '0.5', '1.0']);
  expect(tickLabels([0, 20, 40], 20)).toEqual(['0', '20', '40']);
  expect(tickLabels([-1e-17, 0.1], 0.1)).toEqual(['0.0', '0.1']);
});
