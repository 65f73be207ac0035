import { describe, expect, test } from 'vitest';
import type { FaceRow, FrameRow } from './api';
import { frameMarkers, sampledStep, scoreColour, timeLabel } from './player';

const frame = (idx: number, pts_s: number, keyframe = false): FrameRow => ({ idx, source_index: Math.round(pts_s * 25), pts_s, keyframe, motion: 0, width: 64, height: 48 });
const face = (id: number, frame_idx: number, score: number | null): FaceRow => ({ id, frame_idx, track_id: 1, bbox: [0, 0, 1, 1], det_prob: 1, crop: null, full_frame: false, score });
const th = { real: 0.3, fake: 0.7 };

describe('frameMarkers', () => {
  test('one marker per sampled frame, at its frame number on the scrubber, in its band colour', () => {
    const frames = [frame(0, 0, true), frame(1, 0.2), frame(2, 0.4), frame(3, 1.96)];
    const faces = [face(1, 0, 0.1), face(2, 1, 0.5), face(3, 1, 0.9), face(4, 2, null)];
    const m = frameMarkers({ frames, faces }, { fps: 25, frame_count: 50 }, th);
    expect(m.map((x) => x.idx)).toEqual([0, 1, 2, 3]);
    // Frame 5 of 0..49, frame 49 is the right end.
    expect(m[1].pos).toBeCloseTo(5 / 49);
    expect(m[3].pos).toBe(1);
    // The highest face score of the frame decides the colour.
    expect(m.map((x) => x.colour)).toEqual(['var(--real)', 'var(--fake)', 'var(--muted)', 'var(--muted)']);
    expect(m[0].keyframe).toBe(true);
    expect(m[1].title).toBe('frame 5 · 0.20 s · score 0.900');
    expect(m[2].title).toContain('not scored');
  });
  test('a one-frame source puts its marker at the start', () => {
    expect(frameMarkers({ frames: [frame(0, 0)], faces: [] }, { fps: 5, frame_count: 1 }, th)[0].pos).toBe(0);
  });
});

test('scoreColour follows the thresholds', () => {
  expect(scoreColour(0.3, th)).toBe('var(--real)');
  expect(scoreColour(0.31, th)).toBe('var(--review)');
  expect(scoreColour(0.7, th)).toBe('var(--fake)');
  expect(scoreColour(null, th)).toBe('var(--muted)');
});

test('sampledStep is the median gap between sampled frames, at least one source frame', () => {
  expect(sampledStep([frame(0, 0), frame(1, 0.2), frame(2, 0.4), frame(3, 1.4)], 25)).toBeCloseTo(0.2);
  expect(sampledStep([frame(0, 0)], 25)).toBeCloseTo(0.2);
  expect(sampledStep([frame(0, 0), frame(1, 0.01)], 25)).toBeCloseTo(0.04);
});

test('timeLabel', () => {
  expect(timeLabel(1.4, 3)).toBe('0:01.40 / 0:03.00');
  expect(timeLabel(75.5, 125)).toBe('1:15.50 / 2:05.00');
  expect(timeLabel(-1, 0)).toBe('0:00.00 / 0:00.00');
});
