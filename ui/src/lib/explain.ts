// Picks what the case view shows out of the stored explanation rows: the heat-map overlays of
// the selected face (per method), its four artifact views, and the per-track video plots.
// Pure functions so the choice is unit-tested without a browser.
import type { Explanation } from './api';

/** Heat-map methods in the order the method picker offers them. */
export const CAM_METHODS: { kind: string; title: string }[] = [
  { kind: 'gradcam_cnn', title: 'Grad-CAM (forensic CNN)' },
  { kind: 'gradcam_vit', title: 'Grad-CAM (CLIP ViT)' },
  { kind: 'rollout', title: 'Attention rollout' },
];

/** The four artifact views, in display order. */
export const ARTIFACT_KINDS = ['noise', 'spectrum', 'ela', 'boundary'] as const;

const ARTIFACT_TITLES: Record<string, string> = {
  noise: 'Noise residual',
  spectrum: 'Frequency spectrum',
  ela: 'Error-level analysis',
  boundary: 'Blending boundary',
};

/** Re-explaining adds rows: the newest of each view wins. */
const newestFirst = (rows: Explanation[]) => [...rows].sort((a, b) => b.id - a.id);

/** The faces that have explanations, newest explanation first. */
export function explainedFaces(rows: Explanation[]): { face: number; frame: number | null }[] {
  const seen = new Map<number, { face: number; frame: number | null; last: number }>();
  for (const r of rows) {
    if (r.face_id == null) continue;
    const prev = seen.get(r.face_id);
    if (!prev || r.id > prev.last) seen.set(r.face_id, { face: r.face_id, frame: r.frame_idx, last: r.id });
  }
  return [...seen.values()].sort((a, b) => b.last - a.last).map(({ face, frame }) => ({ face, frame }));
}

/**
 * The face whose overlays are shown: the explicitly chosen one if it was explained, else one in
 * the selected frame, else the most recently explained face; null when none was explained.
 */
export function selectFace(rows: Explanation[], chosen: number | null, frame: number | null): number | null {
  const faces = explainedFaces(rows);
  if (chosen != null && faces.some((f) => f.face === chosen)) return chosen;
  if (frame != null) {
    const inFrame = faces.find((f) => f.frame === frame);
    if (inFrame) return inFrame.face;
  }
  return faces[0]?.face ?? null;
}

/** The frame-space heat-map overlays of a face, one per available method, in picker order. */
export function frameOverlays(rows: Explanation[], face: number | null): (Explanation & { title: string })[] {
  if (face == null) return [];
  rows = newestFirst(rows);
  const out: (Explanation & { title: string })[] = [];
  for (const m of CAM_METHODS) {
    const r = rows.find((x) => x.face_id === face && x.kind === m.kind && x.space === 'frame' && x.url);
    if (r) out.push({ ...r, title: m.title });
  }
  return out;
}

/** The heat-maps drawn on the aligned face crop, in picker order. */
export function cropOverlays(rows: Explanation[], face: number | null): (Explanation & { title: string })[] {
  if (face == null) return [];
  rows = newestFirst(rows);
  return CAM_METHODS.flatMap((m) => {
    const r = rows.find((x) => x.face_id === face && x.kind === m.kind && x.space === 'crop' && x.url);
    return r ? [{ ...r, title: m.title }] : [];
  });
}

/** The face's artifact views (the face region, else the whole frame), with titles. */
export function artifactViews(rows: Explanation[], face: number | null): (Explanation & { title: string })[] {
  if (face == null) return [];
  rows = newestFirst(rows);
  return ARTIFACT_KINDS.flatMap((k) => {
    const mine = rows.filter((x) => x.face_id === face && x.kind === k && x.url);
    const r = mine.find((x) => x.space === 'region') ?? mine[0];
    if (!r) return [];
    const t = r.data?.title;
    return [{ ...r, title: typeof t === 'string' && t ? t : ARTIFACT_TITLES[k] }];
  });
}

/** Temporal and blink plots per video track, ordered by track. */
export function trackPlots(rows: Explanation[]): { track: number | null; temporal?: Explanation; blink?: Explanation }[] {
  const byTrack = new Map<string, { track: number | null; temporal?: Explanation; blink?: Explanation }>();
  for (const r of rows) {
    if (r.space !== 'plot' || (r.kind !== 'temporal' && r.kind !== 'blink')) continue;
    const t = typeof r.data?.track === 'number' ? (r.data.track as number) : null;
    const key = String(t);
    const entry = byTrack.get(key) ?? { track: t };
    entry[r.kind] = r;
    byTrack.set(key, entry);
  }
  return [...byTrack.values()].sort((a, b) => (a.track ?? 0) - (b.track ?? 0));
}

/** Whether Grad-CAM/rollout exist at all among the rows (false: artifact views only). */
export const hasCams = (rows: Explanation[]) => rows.some((r) => CAM_METHODS.some((m) => m.kind === r.kind));
