import { expect, test } from 'vitest';
import { bucketOf, duration, inDateRange, sortCases, verdictLine } from './cases';
import type { CaseSummary } from './api';

const c = (o: Partial<CaseSummary>): CaseSummary => ({
  id: 1, title: 'a', created_at: '2026-01-01T00:00:00Z', updated_at: '', status: 'done', score: 0.5, band: 'review',
  untrained: false, profile: null, message: null, media_kind: 'image', sha256: 'x', ...o,
});

test('a case counts in its band when scored, else in its status', () => {
  expect(bucketOf(c({}))).toBe('review');
  expect(bucketOf(c({ band: null, status: 'not_scored' }))).toBe('not_scored');
});

test('verdict line and sorting', () => {
  expect(verdictLine(c({ score: 0.812, band: 'fake' }))).toBe('Likely fake · 0.812');
  expect(verdictLine(c({ status: 'not_scored', score: null, band: null }))).toBe('Not scored');
  const cases = [c({ id: 1, title: 'b', score: 0.2 }), c({ id: 2, title: 'a', score: null, created_at: '2026-02-01T00:00:00Z' })];
  expect(sortCases(cases, 'name').map((x) => x.id)).toEqual([2, 1]);
  expect(sortCases(cases, 'date').map((x) => x.id)).toEqual([2, 1]);
  expect(sortCases(cases, 'score').map((x) => x.id)).toEqual([1, 2]);
  expect(sortCases(cases, 'oldest').map((x) => x.id)).toEqual([1, 2]);
  expect(duration(65)).toBe('1 m 05 s');
});

import { usableLanguage } from './locale';
test('a POSIX "C" locale falls back to a tag Intl accepts', () => {
  expect(usableLanguage('C')).toBe('en-US');
  expect(usableLanguage('de-DE')).toBe('de-DE');
  expect(usableLanguage(undefined)).toBe('en-US');
});

test('date filter: today, last 7 and 30 local days, any', () => {
  const now = new Date(2026, 2, 15, 10, 0); // 15 March, 10:00 local
  const at = (d: Date) => c({ created_at: d.toISOString() });
  const today = at(new Date(2026, 2, 15, 0, 5));
  const yesterday = at(new Date(2026, 2, 14, 23, 0));
  const sixDays = at(new Date(2026, 2, 9, 0, 1));
  const sevenDays = at(new Date(2026, 2, 8, 23, 59));
  const month = at(new Date(2026, 1, 13, 23, 0)); // 30 days back starts on 14 February
  expect([today, yesterday].map((x) => inDateRange(x, 'today', now))).toEqual([true, false]);
  expect([sixDays, sevenDays].map((x) => inDateRange(x, '7d', now))).toEqual([true, false]);
  expect([sevenDays, month].map((x) => inDateRange(x, '30d', now))).toEqual([true, false]);
  expect(inDateRange(month, 'any', now)).toBe(true);
  expect(inDateRange(c({ created_at: 'garbage' }), '7d', now)).toBe(false);
});

test('a scope warning qualifies the band; a not-checked entry alone does not', () => {
  const warn = { code: 'heavy_compression', severity: 'warning' as const, text: 'Heavy JPEG compression…' };
  const unchecked = { code: 'non_photographic_not_checked', severity: 'not_checked' as const, text: 'not checked' };
  expect(verdictLine(c({ score: 0.812, band: 'fake', scope: [warn, unchecked] }))).toBe(
    "Likely fake · 0.812 — outside the detector's scope: heavy compression",
  );
  expect(verdictLine(c({ score: 0.1, band: 'real', scope: [unchecked] }))).toBe('Likely real · 0.100');
  expect(verdictLine(c({ score: 0.1, band: 'real', scope: null }))).toBe('Likely real · 0.100');
  // Not scored: there is no band to qualify.
  expect(verdictLine(c({ status: 'not_scored', score: null, band: null, scope: [warn] }))).toBe('Not scored');
});
