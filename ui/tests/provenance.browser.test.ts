// The Provenance panel and the verdict-context signals in Chromium, against the mocked IPC of
// mock-ipc.ts: the source of a signal shows on hover and keyboard focus only (CSS, which
// happy-dom does not lay out), private data behind its toggle, a seen-before link opens the
// other case through the app's own navigation, axe clean in both themes.
// @vitest-environment node
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { APP_INFO, SHOTS, startHarness, type Harness } from './harness';
import { axeViolations } from './axe';

let h: Harness;

beforeAll(async () => {
  h = await startHarness('mock-ipc.ts', 'verityMock');
});

afterAll(async () => {
  await h?.close();
});

const SEED = ['suspect-photo.jpg', 'press-photo.jpg', 'interview.mp4'];

test('signals beside the score, the panel, private data, seen-before links, axe in both themes', async () => {
  const { page, errors } = await h.open('__verityMock', { appInfo: APP_INFO, picked: null, analyst: 'Ada', seed: SEED, stillImage: true }, { width: 1366, height: 900 });
  await page.click('[data-testid=case-1]');
  await expect.poll(() => page.textContent('[data-testid=case-title]')).toBe('suspect-photo.jpg');
  const signals = page.locator('[data-testid=signal]');
  await expect.poll(() => signals.count()).toBe(4);
  expect(await signals.evaluateAll((els) => els.map((e) => e.getAttribute('data-level')))).toEqual(['warning', 'notice', 'notice', 'info']);

  // The source is out of sight until the chip is hovered or focused, then shown small.
  const source = page.locator('[data-testid=signal] >> nth=1 >> [data-testid=signal-source]');
  const size = async () => (await source.boundingBox())!;
  expect((await size()).width).toBeLessThanOrEqual(1);
  await signals.nth(1).focus();
  await expect.poll(async () => (await size()).width).toBeGreaterThan(40);
  expect(await source.evaluate((e) => getComputedStyle(e).fontSize)).toBe('11px');
  expect(await source.innerText()).toContain('EXIF Software');
  await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
  await expect.poll(async () => (await size()).width).toBeLessThanOrEqual(1);
  await signals.nth(1).hover();
  await expect.poll(async () => (await size()).width).toBeGreaterThan(40);
  await page.mouse.move(2, 2);

  // The signals stand in their own box under the verdict, and the score is the detector's alone.
  const verdict = (await page.locator('[data-testid=verdict]').boundingBox())!;
  const box = (await page.locator('[data-testid=provenance-signals]').boundingBox())!;
  expect(box.y).toBeGreaterThan(verdict.y + verdict.height - 1);
  expect(await page.textContent('[data-testid=verdict]')).toBe('Likely fake · 0.900');
  expect(await page.locator('[data-testid=provenance-signals]').evaluate((e) => getComputedStyle(e).borderTopStyle)).toBe('dashed');

  // Private data: hidden, then shown on request.
  const panel = page.locator('[data-testid=provenance-panel]');
  expect(await panel.textContent()).not.toContain('48.858370');
  await page.click('[data-testid=show-private]');
  await expect.poll(() => panel.textContent()).toContain('48.858370, 2.294481');
  expect(await page.textContent('[data-testid=prov-problem]')).toBe('Could not read: the maker note is truncated after 3 of 12 entries');
  // Flagged rows are highlighted.
  const flaggedBg = await page.locator('[data-testid=prov-field][data-flagged=true] >> nth=0').evaluate((e) => getComputedStyle(e).backgroundColor);
  expect(flaggedBg).not.toBe('rgba(0, 0, 0, 0)');

  const theme = () => page.evaluate(() => document.documentElement.dataset.theme);
  await panel.scrollIntoViewIfNeeded();
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `chromium-provenance-${await theme()}.png`) });
  expect.soft(await axeViolations(page), `provenance (${await theme()})`).toEqual([]);
  const first = await theme();
  await page.click('[data-testid=theme-toggle]');
  await expect.poll(theme).not.toBe(first);
  await signals.nth(0).focus();
  expect.soft(await axeViolations(page), `provenance (${await theme()})`).toEqual([]);
  await page.screenshot({ path: join(SHOTS, `chromium-provenance-${await theme()}.png`) });

  // Seen before: the link opens the other case in the app (the mock lists case 2's picture and
  // case 3's face).
  expect(await page.locator('[data-testid=seen-frame]').count()).toBe(1);
  expect(await page.locator('[data-testid=seen-face]').count()).toBe(1);
  await page.click('[data-testid=seen-face] [data-testid=seen-open]');
  await expect.poll(() => page.textContent('[data-testid=case-title]')).toBe('interview.mp4');
  const calls = await page.evaluate(() => window.__verityCalls.filter((c) => c.cmd === 'case_provenance').map((c) => c.payload));
  expect(calls).toContainEqual({ caseId: 3 });
  expect(errors).toEqual([]);
  await page.close();
});
