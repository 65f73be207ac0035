// Pure helpers of the case view's player (components/VideoPlayer.tsx): scrubber markers, the
// playback step and the time label. Kept apart from the component so Vitest covers them.
import type { CaseDetail, FrameRow } from './api';

export interface Marker {
  /** Sampled frame (`FrameRow.idx`). */
  idx: number;
  /** 0..1 along the scrubber. */
  pos: number;
  keyframe: boolean;
  /** CSS colour: the band of the frame's highest face score, muted when unscored. */
  colour: string;
  title: string;
}

/** The band colour of a score (the same thresholds as the verdict). */
export function scoreColour(score: number | null, thresholds: { real: number; fake: number }): string {
  if (score == null) return 'var(--muted)';
  if (score >= thresholds.fake) return 'var(--fake)';
  if (score <= thresholds.real) return 'var(--real)';
  return 'var(--review)';
}

/**
 * One marker per sampled frame, placed where the scrubber (which runs over frame numbers
 * 0..frameCount−1) shows that frame: frame number = time × fps.
 */
export function frameMarkers(
  d: Pick<CaseDetail, 'frames' | 'faces'>,
  player: { fps: number; frame_count: number },
  thresholds: { real: number; fake: number },
): Marker[] {
  const last = Math.max(1, player.frame_count - 1);
  const best = new Map<number, number>();
  for (const f of d.faces) if (f.score != null) best.set(f.frame_idx, Math.max(best.get(f.frame_idx) ?? 0, f.score));
  return d.frames.map((f) => {
    const score = best.get(f.idx) ?? null;
    const n = Math.round(f.pts_s * player.fps);
    return {
      idx: f.idx,
      pos: Math.min(1, Math.max(0, n / last)),
      keyframe: f.keyframe,
      colour: scoreColour(score, thresholds),
      title: `frame ${n} · ${f.pts_s.toFixed(2)} s${f.keyframe ? ' · keyframe' : ''} · ${score != null ? `score ${score.toFixed(3)}` : 'not scored'}`,
    };
  });
}

/** Seconds between sampled frames (the median gap), never less than one source frame. */
export function sampledStep(frames: readonly FrameRow[], fps: number): number {
  const gaps = frames
    .slice(1)
    .map((f, i) => f.pts_s - frames[i].pts_s)
    .filter((g) => g > 0)
    .sort((a, b) => a - b);
  const median = gaps.length ? gaps[Math.floor(gaps.length / 2)] : 0.2;
  return Math.max(median, fps > 0 ? 1 / fps : 0.04);
}

/** `m:ss.cc / m:ss.cc`. */
export function timeLabel(t: number, duration: number): string {
  const fmt = (s: number) => {
    const v = Math.max(0, s);
    const m = Math.floor(v / 60);
    return `${m}:${(v - m * 60).toFixed(2).padStart(5, '0')}`;
  };
  return `${fmt(t)} / ${fmt(duration)}`;
}
