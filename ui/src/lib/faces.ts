// Pure helpers of the face boxes drawn over the player and the still (components/FaceBoxes.tsx)
// and of the timeline's table: where a stored face lies on the displayed picture, which colour
// its track has (the same as its line on the timeline), and the frame × track score table.
import type { CaseDetail, FaceRow, FrameRow } from './api';

/** Track line colours, shared by the timeline, the track charts and the face boxes. */
export const COLOURS = ['#3bb4e0', '#f08c3a', '#52c47c', '#b37fe0', '#e0567a', '#2bb5a8'];

export interface Rect {
  x: number;
  y: number;
  w: number;
  h: number;
}

/**
 * Where a picture of natural size `natW`×`natH` is painted inside an element of `boxW`×`boxH`
 * with `object-fit: contain` (centred, letterboxed or pillarboxed), in the element's pixels.
 */
export function containRect(boxW: number, boxH: number, natW: number, natH: number): Rect {
  if (!(boxW > 0 && boxH > 0 && natW > 0 && natH > 0)) return { x: 0, y: 0, w: Math.max(0, boxW), h: Math.max(0, boxH) };
  const scale = Math.min(boxW / natW, boxH / natH);
  const w = natW * scale;
  const h = natH * scale;
  return { x: (boxW - w) / 2, y: (boxH - h) / 2, w, h };
}

/**
 * The face's box as percentages of the stored frame (`FrameRow.width/height`, the frame the
 * detector saw; bbox is `[x1, y1, x2, y2]` in its pixels), clamped to the frame.
 */
export function boxPercent(bbox: readonly number[], frameW: number, frameH: number): Rect {
  const clamp = (v: number, max: number) => Math.min(max, Math.max(0, Number.isFinite(v) ? v : 0));
  const [x1, y1, x2, y2] = [clamp(bbox[0], frameW), clamp(bbox[1], frameH), clamp(bbox[2], frameW), clamp(bbox[3], frameH)];
  const pct = (v: number, d: number) => (d > 0 ? (v / d) * 100 : 0);
  return {
    x: pct(Math.min(x1, x2), frameW),
    y: pct(Math.min(y1, y2), frameH),
    w: pct(Math.abs(x2 - x1), frameW),
    h: pct(Math.abs(y2 - y1), frameH),
  };
}

/** A landmark `[x, y]` (frame pixels) as a percentage position inside the face's box. */
export function landmarkInBox(point: readonly number[], bbox: readonly number[]): { left: number; top: number } {
  const w = bbox[2] - bbox[0];
  const h = bbox[3] - bbox[1];
  return {
    left: w > 0 ? ((point[0] - bbox[0]) / w) * 100 : 0,
    top: h > 0 ? ((point[1] - bbox[1]) / h) * 100 : 0,
  };
}

/** The tracks drawn on the timeline, in its order (scored tracks; all tracks when none is). */
export function trackOrder(faces: readonly Pick<FaceRow, 'track_id' | 'score'>[]): number[] {
  const scored = faces.filter((f) => f.score != null);
  return [...new Set((scored.length ? scored : faces).map((f) => f.track_id))].sort((a, b) => a - b);
}

/** Track → colour, as the timeline draws the track's line. */
export function trackColours(faces: readonly Pick<FaceRow, 'track_id' | 'score'>[]): Map<number, string> {
  return new Map(trackOrder(faces).map((t, i) => [t, COLOURS[i % COLOURS.length]]));
}

/** Names of the five MTCNN landmarks, in stored order. */
export const LANDMARKS = ['left eye', 'right eye', 'nose', 'left mouth corner', 'right mouth corner'];

/** What a face box says (its label and, for assistive technology, its full description). */
export function faceLabel(f: Pick<FaceRow, 'track_id' | 'score' | 'det_prob' | 'full_frame'>): { short: string; long: string } {
  const score = f.score != null ? f.score.toFixed(3) : 'not scored';
  const who = f.full_frame ? 'whole frame (no face found)' : `track ${f.track_id}`;
  return {
    short: `${f.full_frame ? 'frame' : `t${f.track_id}`} · ${score}`,
    long: `${who}, score ${score}${f.full_frame ? '' : `, detection ${f.det_prob.toFixed(2)}`}`,
  };
}

/** One row of the timeline's table: a sampled frame and each track's score there. */
export interface TimelineRow {
  frame: FrameRow;
  /** One entry per track of `tracks`, null when the track has no scored face in the frame. */
  scores: (number | null)[];
}

/** The timeline as a table: every sampled frame, the score of each track in it. */
export function timelineTable(d: Pick<CaseDetail, 'frames' | 'faces'>): { tracks: number[]; rows: TimelineRow[] } {
  const tracks = trackOrder(d.faces);
  const col = new Map(tracks.map((t, i) => [t, i]));
  const byFrame = new Map<number, (number | null)[]>();
  for (const f of d.faces) {
    const c = col.get(f.track_id);
    if (c == null || f.score == null) continue;
    const row = byFrame.get(f.frame_idx) ?? tracks.map(() => null);
    row[c] = Math.max(row[c] ?? 0, f.score);
    byFrame.set(f.frame_idx, row);
  }
  return { tracks, rows: d.frames.map((frame) => ({ frame, scores: byFrame.get(frame.idx) ?? tracks.map(() => null) })) };
}
