import { expect, test } from 'vitest';
import { artifactViews, cropOverlays, explainedFaces, frameOverlays, hasCams, selectFace, trackPlots } from './explain';
import type { Explanation } from './api';

let next = 1;
const row = (o: Partial<Explanation>): Explanation => ({
  id: next++, face_id: 7, frame_idx: 3, kind: 'ela', space: 'region', blob: 'b.png', summary: 's', data: {},
  created_at: '', url: 'data:image/png;base64,AA', ...o,
});

const rows = [
  row({ kind: 'gradcam_cnn', space: 'crop' }),
  row({ kind: 'gradcam_cnn', space: 'frame' }),
  row({ kind: 'rollout', space: 'frame' }),
  row({ kind: 'noise', data: { title: 'Noise residual (SRM)' } }),
  row({ kind: 'spectrum' }),
  row({ kind: 'ela', space: 'frame' }),
  row({ kind: 'ela' }),
  row({ kind: 'boundary' }),
  row({ face_id: 9, frame_idx: 1, kind: 'ela' }),
  row({ face_id: null, frame_idx: null, kind: 'blink', space: 'plot', data: { track: 2 } }),
  row({ face_id: null, frame_idx: null, kind: 'temporal', space: 'plot', data: { track: 1 } }),
  row({ face_id: null, frame_idx: null, kind: 'temporal', space: 'plot', data: { track: 2 } }),
];

test('the selected face: chosen, else in the selected frame, else the newest explained', () => {
  expect(explainedFaces(rows)).toEqual([{ face: 9, frame: 1 }, { face: 7, frame: 3 }]);
  expect(selectFace(rows, 7, 1)).toBe(7);
  expect(selectFace(rows, 42, 3)).toBe(7);
  expect(selectFace(rows, null, null)).toBe(9);
  expect(selectFace([], null, 3)).toBeNull();
});

test('overlays per method in picker order; the artifact views prefer the face region', () => {
  expect(frameOverlays(rows, 7).map((r) => r.kind)).toEqual(['gradcam_cnn', 'rollout']);
  expect(cropOverlays(rows, 7).map((r) => r.kind)).toEqual(['gradcam_cnn']);
  expect(frameOverlays(rows, 9)).toEqual([]);
  const a = artifactViews(rows, 7);
  expect(a.map((r) => r.kind)).toEqual(['noise', 'spectrum', 'ela', 'boundary']);
  expect(a.every((r) => r.space === 'region')).toBe(true);
  expect(a[0].title).toBe('Noise residual (SRM)');
  expect(a[1].title).toBe('Frequency spectrum');
  expect(artifactViews(rows, null)).toEqual([]);
});

test('a row without a picture is never shown as one', () => {
  expect(artifactViews([row({ kind: 'noise', url: null })], 7)).toEqual([]);
  expect(frameOverlays([row({ kind: 'rollout', space: 'frame', url: null })], 7)).toEqual([]);
});

test('video plots grouped by track; CAM presence', () => {
  const p = trackPlots(rows);
  expect(p.map((t) => [t.track, t.temporal?.kind, t.blink?.kind])).toEqual([
    [1, 'temporal', undefined],
    [2, 'temporal', 'blink'],
  ]);
  expect(hasCams(rows)).toBe(true);
  expect(hasCams(rows.filter((r) => !r.kind.startsWith('gradcam') && r.kind !== 'rollout'))).toBe(false);
});

test('after a second Explain the newest row of a view is shown', () => {
  const again = [...rows, row({ kind: 'rollout', space: 'frame', summary: 'second run' })];
  expect(frameOverlays(again, 7).find((r) => r.kind === 'rollout')?.summary).toBe('second run');
});
