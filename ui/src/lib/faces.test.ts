import { describe, expect, test } from 'vitest';
import { boxPercent, COLOURS, containRect, faceLabel, landmarkInBox, timelineTable, trackColours, trackOrder } from './faces';
import type { FaceRow, FrameRow } from './api';

const frame = (idx: number, extra: Partial<FrameRow> = {}): FrameRow => ({
  idx, source_index: idx * 5, pts_s: idx * 0.2, keyframe: idx === 0, motion: 0, width: 1920, height: 1080, ...extra,
});
const face = (id: number, frame_idx: number, track_id: number, score: number | null): FaceRow => ({
  id, frame_idx, track_id, bbox: [0, 0, 10, 10], det_prob: 0.9, crop: null, full_frame: false, score,
});

describe('containRect (object-fit: contain)', () => {
  test('a wide picture in a taller box is letterboxed top and bottom', () => {
    expect(containRect(400, 400, 1920, 1080)).toEqual({ x: 0, y: 87.5, w: 400, h: 225 });
  });
  test('a square picture in a wide box is pillarboxed left and right', () => {
    expect(containRect(600, 250, 512, 512)).toEqual({ x: 175, y: 0, w: 250, h: 250 });
  });
  test('an empty element or picture gives the element itself', () => {
    expect(containRect(300, 200, 0, 0)).toEqual({ x: 0, y: 0, w: 300, h: 200 });
  });
});

describe('boxPercent', () => {
  test('frame pixels to percent of the frame', () => {
    expect(boxPercent([192, 108, 384, 540], 1920, 1080)).toEqual({ x: 10, y: 10, w: 10, h: 40 });
  });
  test('clamps to the frame and orders corners', () => {
    expect(boxPercent([-50, 600, 200, 500], 1000, 500)).toEqual({ x: 0, y: 100, w: 20, h: 0 });
    expect(boxPercent([300, 100, 100, 50], 1000, 500)).toEqual({ x: 10, y: 10, w: 20, h: 10 });
  });
  test('a landmark is placed in percent of its box', () => {
    expect(landmarkInBox([150, 75], [100, 50, 200, 150])).toEqual({ left: 50, top: 25 });
  });
});

describe('track colours and the timeline table', () => {
  const faces = [face(1, 0, 7, 0.9), face(2, 0, 3, 0.1), face(3, 1, 3, 0.2), face(4, 1, 9, null)];
  test('scored tracks in order take the timeline colours; unscored ones none', () => {
    expect(trackOrder(faces)).toEqual([3, 7]);
    expect(trackColours(faces)).toEqual(new Map([[3, COLOURS[0]], [7, COLOURS[1]]]));
  });
  test('with no score at all, every track is coloured', () => {
    expect(trackOrder([face(1, 0, 5, null), face(2, 0, 2, null)])).toEqual([2, 5]);
  });
  test('one row per sampled frame, one column per track, gaps as null', () => {
    const t = timelineTable({ frames: [frame(0), frame(1), frame(2)], faces });
    expect(t.tracks).toEqual([3, 7]);
    expect(t.rows.map((r) => [r.frame.idx, r.scores])).toEqual([
      [0, [0.1, 0.9]],
      [1, [0.2, null]],
      [2, [null, null]],
    ]);
  });
  test('labels say track, score and detection probability', () => {
    expect(faceLabel(face(1, 0, 2, 0.4567))).toEqual({ short: 't2 · 0.457', long: 'track 2, score 0.457, detection 0.90' });
    expect(faceLabel({ ...face(1, 0, 0, null), full_frame: true }).short).toBe('frame · not scored');
  });
});
