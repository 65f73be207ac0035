// Pure helpers over cases: which bucket a case counts in, labels, sorting, formatting.
import type { CaseSummary, ScopeWarning } from './api';

/** The case-list filters: the score bands, then the states without a score. */
export const BUCKETS = ['fake', 'review', 'real', 'failed', 'not_scored', 'interrupted'] as const;
export type Bucket = (typeof BUCKETS)[number];
export const BUCKET_LABELS: Record<Bucket, string> = {
  fake: 'Fake',
  review: 'Needs review',
  real: 'Real',
  not_scored: 'Not scored',
  failed: 'Failed',
  interrupted: 'Interrupted',
};

/** The bucket of a case: its band when scored, else its status. */
export function bucketOf(c: Pick<CaseSummary, 'band' | 'status'>): string {
  return c.band ?? c.status;
}

export type SortKey = 'date' | 'oldest' | 'name' | 'score';
export function sortCases(cases: readonly CaseSummary[], key: SortKey): CaseSummary[] {
  const out = [...cases];
  if (key === 'name') out.sort((a, b) => a.title.localeCompare(b.title));
  else if (key === 'oldest') out.sort((a, b) => a.created_at.localeCompare(b.created_at) || a.id - b.id);
  else if (key === 'score') out.sort((a, b) => (b.score ?? -1) - (a.score ?? -1));
  else out.sort((a, b) => b.created_at.localeCompare(a.created_at) || b.id - a.id);
  return out;
}

/** The case-list date filter: when the case was imported, relative to now (local days). */
export type DateRange = 'any' | 'today' | '7d' | '30d';
export const DATE_RANGES: [DateRange, string][] = [
  ['any', 'Any date'],
  ['today', 'Today'],
  ['7d', 'Last 7 days'],
  ['30d', 'Last 30 days'],
];
export function inDateRange(c: Pick<CaseSummary, 'created_at'>, range: DateRange, now: Date = new Date()): boolean {
  if (range === 'any') return true;
  const t = new Date(c.created_at);
  if (Number.isNaN(t.getTime())) return false;
  const start = new Date(now.getFullYear(), now.getMonth(), now.getDate());
  if (range === '7d') start.setDate(start.getDate() - 6);
  if (range === '30d') start.setDate(start.getDate() - 29);
  return t >= start;
}

/** "2026-03-01 14:05" in local time; the raw string when unparsable. */
export function when(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
}

const SCOPE_SHORT: Record<string, string> = {
  no_face: 'no face found',
  many_faces: 'many faces',
  small_face: 'small faces',
  heavy_compression: 'heavy compression',
  short_video: 'very short video',
  non_photographic: 'non-photographic content',
};

/** The scope entries that qualify a verdict (severity `warning`). */
export function scopeWarnings(c: CaseSummary): ScopeWarning[] {
  return (c.scope ?? []).filter((w) => w.severity === 'warning');
}

/** What follows the band when the case has scope warnings (never a bare "Likely fake/real"
 *  then), e.g. " — outside the detector's scope: heavy compression"; '' without warnings. */
export function verdictQualifier(c: CaseSummary): string {
  if (c.status !== 'done' || c.score == null) return '';
  const words = [...new Set(scopeWarnings(c).map((w) => SCOPE_SHORT[w.code] ?? w.text))];
  return words.length ? ` — outside the detector's scope: ${words.join(', ')}` : '';
}

/** The headline of a case: score and band (qualified by any scope warning), or why there is none. */
export function verdictLine(c: CaseSummary): string {
  return verdictBand(c) + verdictQualifier(c);
}

/** The headline without its scope qualifier: score and band, or why there is none. */
export function verdictBand(c: CaseSummary): string {
  if (c.status === 'done' && c.score != null) {
    const band = c.band === 'fake' ? 'Likely fake' : c.band === 'real' ? 'Likely real' : 'Needs review';
    return `${band} · ${c.score.toFixed(3)}`;
  }
  const s: Record<string, string> = {
    not_scored: 'Not scored',
    failed: 'Failed',
    cancelled: 'Cancelled',
    interrupted: 'Interrupted',
    running: 'Analysing…',
    pending: 'Waiting',
  };
  return s[c.status] ?? c.status;
}

/** "1 m 05 s" / "12 s". */
export function duration(s: number): string {
  const t = Math.max(0, Math.round(s));
  return t >= 60 ? `${Math.floor(t / 60)} m ${String(t % 60).padStart(2, '0')} s` : `${t} s`;
}

export const INSTALL_HINT = 'verity models fetch gend-clip-l14';
