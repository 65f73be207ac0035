// What counts as an importable image or video, and small pure helpers the views share.

/** Still images the core decodes (the `image` crate's formats, EXIF orientation applied). */
export const IMAGE_EXTENSIONS = ['jpg', 'jpeg', 'png', 'webp', 'bmp', 'tif', 'tiff'] as const;
/** Containers FFmpeg reads for us (GIF, still or animated, is read as a video). */
export const VIDEO_EXTENSIONS = ['mp4', 'mov', 'm4v', 'mkv', 'webm', 'avi', 'gif'] as const;

export type MediaKind = 'image' | 'video' | 'other';

/** The last path component, for Unix and Windows paths alike. */
export function fileName(path: string): string {
  const parts = path.split(/[\\/]/).filter((p) => p.length > 0);
  return parts.length ? parts[parts.length - 1] : path;
}

/** Image, video or other, by file extension (case-insensitive). */
export function mediaKind(path: string): MediaKind {
  const name = fileName(path);
  const dot = name.lastIndexOf('.');
  if (dot <= 0) return 'other';
  const ext = name.slice(dot + 1).toLowerCase();
  if ((IMAGE_EXTENSIONS as readonly string[]).includes(ext)) return 'image';
  if ((VIDEO_EXTENSIONS as readonly string[]).includes(ext)) return 'video';
  return 'other';
}

/** The verdict bands a case can land in, in the order the UI shows them. */
export const BANDS = ['fake', 'review', 'real'] as const;
export type Band = (typeof BANDS)[number];

/** Short labels for the counters; the long form is their tooltip. */
export const BAND_LABELS: Record<Band, string> = { fake: 'Fake', review: 'Review', real: 'Real' };
export const BAND_TITLES: Record<Band, string> = {
  fake: 'Likely fake: the detector is confident the face was manipulated',
  review: 'Needs review: the score falls between the thresholds',
  real: 'Likely real: no sign of manipulation above the threshold',
};

/** Counts cases per band; bands without cases count 0. */
export function bandCounts(cases: readonly { band: Band }[]): Record<Band, number> {
  const counts: Record<Band, number> = { fake: 0, review: 0, real: 0 };
  for (const c of cases) counts[c.band] += 1;
  return counts;
}

/** "image" / "images" etc. */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** Short device label for the top bar: "CPU · 2 threads" or "CUDA · NVIDIA H100 80GB HBM3". */
export function deviceLabel(device: { kind: string; name: string; threads: number }): string {
  if (device.kind === 'cuda') return `GPU · ${device.name.replace(/^CUDA:\s*/, '')}`;
  return `CPU · ${plural(device.threads, 'thread')}`;
}
