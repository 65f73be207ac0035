// Face boxes on the player and the still, the `?` shortcut sheet, the timeline's table and
// axe-core on every screen — the built UI in Chromium with the Tauri IPC mocked (mock-ipc.ts).
// @vitest-environment node
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { Page } from 'playwright-core';
import { APP_INFO, SHOTS, startHarness, type Harness } from './harness';
import { axeViolations } from './axe';

let h: Harness;

beforeAll(async () => {
  h = await startHarness('mock-ipc.ts', 'verityMock');
});

afterAll(async () => {
  await h?.close();
});

interface Opts {
  picked?: string[] | null;
  analyst?: string;
  stillImage?: boolean;
  twoTracks?: boolean;
  viewport?: { width: number; height: number };
}

async function openApp(o: Opts = {}): Promise<{ page: Page; errors: string[] }> {
  return h.open(
    '__verityMock',
    { appInfo: APP_INFO, picked: o.picked ?? null, analyst: o.analyst ?? '', stillImage: o.stillImage, twoTracks: o.twoTracks },
    o.viewport,
  );
}

/** Imports one file through the mock and lets its analysis finish; the case view opens. */
async function importCase(page: Page) {
  await page.click('[data-testid=import-button]');
  await page.locator('[data-testid=job-status-1]').waitFor();
  await page.evaluate(() => window.__verityBackend.step('finish'));
  await expect.poll(() => page.textContent('[data-testid=verdict]')).toBe('Needs review · 0.550');
}

type Box = { x: number; y: number; width: number; height: number };
const box = async (page: Page, sel: string): Promise<Box> => {
  const b = await page.locator(sel).boundingBox();
  if (!b) throw new Error(`${sel} has no box`);
  return b;
};
/** Where the mock's 512×512 frame is painted inside an element of `el`'s size (object-fit:
 *  contain: a square as tall or as wide as the element allows, centred). */
function paintedSquare(el: Box): Box {
  const side = Math.min(el.width, el.height);
  return { x: el.x + (el.width - side) / 2, y: el.y + (el.height - side) / 2, width: side, height: side };
}
/** `bbox` ([x1, y1, x2, y2] in 512² frame pixels) on screen, given the painted square. */
function onScreen(sq: Box, bbox: number[]): Box {
  const k = sq.width / 512;
  return { x: sq.x + bbox[0] * k, y: sq.y + bbox[1] * k, width: (bbox[2] - bbox[0]) * k, height: (bbox[3] - bbox[1]) * k };
}
function expectNear(got: Box, want: Box, what: string) {
  for (const k of ['x', 'y', 'width', 'height'] as const) expect(Math.abs(got[k] - want[k]), `${what}.${k}: ${got[k]} vs ${want[k]}`).toBeLessThan(1);
}

test('face boxes: drawn where the stored bbox lies on the letterboxed frame, in track colours, landmarks on hover', async () => {
  const { page, errors } = await openApp({ picked: ['/evidence/two-people.mp4'], twoTracks: true });
  await importCase(page);
  const time = page.locator('[data-testid=player-time]');
  await expect.poll(() => time.textContent()).toContain('frame 0/23');
  expect(await page.locator('[data-testid=face-box]').count()).toBe(0);
  await page.click('[data-testid=facebox-toggle]');
  await expect.poll(() => page.locator('[data-testid=face-box]').count()).toBe(2);

  // The player box is wider than tall: the square frame is pillarboxed, the boxes follow it.
  const frameEl = await box(page, '[data-testid=player-frame]');
  expect(frameEl.width).toBeGreaterThan(frameEl.height + 50);
  const sq = paintedSquare(frameEl);
  expectNear(await box(page, '[data-testid=face-layer]'), sq, 'layer');
  const t1 = '[data-testid=face-box][data-track="1"]';
  const t2 = '[data-testid=face-box][data-track="2"]';
  expectNear(await box(page, t1), onScreen(sq, [128, 64, 256, 224]), 'track 1');
  expectNear(await box(page, t2), onScreen(sq, [400, 300, 480, 400]), 'track 2');
  // Track colours as on the timeline (track 1 blue, track 2 orange), score on the label.
  const border = (sel: string) => page.$eval(sel, (e) => getComputedStyle(e).borderTopColor);
  expect(await border(t1)).toBe('rgb(59, 180, 224)');
  expect(await border(t2)).toBe('rgb(240, 140, 58)');
  expect(await page.textContent(`${t1} .face-label`)).toBe('t1 · 0.450');
  expect(await page.textContent(`${t2} .face-label`)).toBe('t2 · 0.200');
  // Its accessible name starts with the visible label, then says what it is.
  expect(await page.textContent(t1)).toBe('t1 · 0.450: face of track 1, score 0.450, detection 0.99; press to keep its landmarks shown');

  // Landmarks: hidden until the box is hovered, then at their frame positions.
  const marks = page.locator(`${t1} [data-testid=face-landmark]`);
  expect(await marks.count()).toBe(5);
  expect(await marks.first().isVisible()).toBe(false);
  await page.hover(t1);
  await expect.poll(() => marks.first().isVisible()).toBe(true);
  const nose = (await marks.nth(2).boundingBox())!;
  const k = sq.width / 512;
  expect(Math.abs(nose.x + nose.width / 2 - (sq.x + 192 * k))).toBeLessThan(1);
  expect(Math.abs(nose.y + nose.height / 2 - (sq.y + 150 * k))).toBeLessThan(1);
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, 'chromium-face-boxes.png') });
  await page.mouse.move(5, 5);
  await expect.poll(() => marks.first().isVisible()).toBe(false);

  // The next sampled frame (source frame 6): track 1 moved 8 px right in the frame.
  await page.click('[data-testid=gallery] figure >> nth=2');
  await expect.poll(() => time.textContent()).toContain('frame 6/23');
  await expect.poll(async () => (await box(page, t1)).x).toBeCloseTo(onScreen(sq, [136, 64, 264, 224]).x, 0);
  expect(await page.textContent(`${t1} .face-label`)).toBe('t1 · 0.500');
  // A frame the analysis did not sample has no detections: no boxes, and the player says why.
  await page.click('[data-testid=player-next]');
  await expect.poll(() => time.textContent()).toContain('frame 7/23');
  await expect.poll(() => page.locator('[data-testid=face-box]').count()).toBe(0);
  expect(await page.textContent('[data-testid=facebox-note]')).toContain('this frame was not sampled');

  // A narrower window: the picture shrinks and the boxes stay on it.
  await page.click('[data-testid=player-prev]');
  await expect.poll(() => page.locator('[data-testid=face-box]').count()).toBe(2);
  await page.setViewportSize({ width: 1024, height: 700 });
  const frameEl2 = await box(page, '[data-testid=player-frame]');
  expect(frameEl2.width).not.toBeCloseTo(frameEl.width, 0);
  await expect
    .poll(async () => Math.abs((await box(page, t2)).x - onScreen(paintedSquare(frameEl2), [400, 300, 480, 400]).x))
    .toBeLessThan(1);
  // Pressing a box (keyboard) keeps its landmarks shown; B hides all boxes.
  await page.focus(t2);
  await page.keyboard.press('Enter');
  expect(await page.getAttribute(t2, 'aria-pressed')).toBe('true');
  await page.locator('body').click({ position: { x: 700, y: 5 } });
  expect(await page.locator(`${t2} [data-testid=face-landmark]`).first().isVisible()).toBe(true);
  await page.keyboard.press('b');
  await expect.poll(() => page.locator('[data-testid=face-box]').count()).toBe(0);
  expect(await page.isChecked('[data-testid=facebox-toggle]')).toBe(false);
  expect(errors).toEqual([]);
  await page.close();
});

test('face boxes on a still image, toggled with B', async () => {
  const { page, errors } = await openApp({ picked: ['/evidence/portrait.jpg'], stillImage: true });
  await importCase(page);
  await page.locator('[data-testid=media-image]').waitFor();
  await page.locator('body').click({ position: { x: 700, y: 5 } });
  await page.keyboard.press('b');
  await expect.poll(() => page.locator('[data-testid=face-box]').count()).toBe(1);
  const sq = paintedSquare(await box(page, '[data-testid=media-image]'));
  expect(sq.width).toBeGreaterThan(200);
  expectNear(await box(page, '[data-testid=face-box]'), onScreen(sq, [128, 64, 256, 224]), 'still');
  expect(await axeViolations(page)).toEqual([]);
  expect(errors).toEqual([]);
  await page.close();
});

test('? opens the keyboard-shortcut sheet; Tab stays inside, Esc closes and gives focus back', async () => {
  const { page, errors } = await openApp({ picked: ['/evidence/a.mp4'] });
  await expect.poll(() => page.textContent('[data-testid=app-version]')).toBe('v0.1.0');
  await page.focus('[data-testid=tab-settings]');
  await page.keyboard.press('?');
  const sheet = page.locator('[data-testid=shortcut-sheet]');
  await sheet.waitFor();
  expect(await sheet.getAttribute('role')).toBe('dialog');
  expect(await page.textContent('#shortcuts-title')).toBe('Keyboard shortcuts');
  const rows = await page.locator('[data-testid=shortcut]').allTextContents();
  for (const want of ['Ctrl+O or ⌘+OImport', '?Show this list', 'FDecide: fake', 'RDecide: real', 'UDecide: unsure', 'NWrite a note', 'BShow or hide the face boxes', '← or →Previous / next frame', 'EscClose the dialog'])
    expect(rows.some((r) => r.startsWith(want)), want).toBe(true);
  const inSheet = () => page.evaluate(() => !!document.activeElement?.closest('[data-testid=shortcut-sheet]'));
  expect(await page.evaluate(() => document.activeElement?.getAttribute('data-testid'))).toBe('shortcuts-close');
  for (let i = 0; i < 4; i++) {
    await page.keyboard.press('Tab');
    expect(await inSheet()).toBe(true);
    await page.keyboard.press('Shift+Tab');
    expect(await inSheet()).toBe(true);
  }
  await page.screenshot({ path: join(SHOTS, 'chromium-shortcuts.png') });
  expect(await axeViolations(page)).toEqual([]);
  await page.keyboard.press('Escape');
  await sheet.waitFor({ state: 'detached' });
  expect(await page.evaluate(() => document.activeElement?.getAttribute('data-testid'))).toBe('tab-settings');
  // The top bar's button opens it too; its Close button closes it and focus returns there.
  await page.click('[data-testid=shortcuts-button]');
  await sheet.waitFor();
  await page.click('[data-testid=shortcuts-close]');
  await sheet.waitFor({ state: 'detached' });
  expect(await page.evaluate(() => document.activeElement?.getAttribute('data-testid'))).toBe('shortcuts-button');
  // `?` typed into a field is text, not a shortcut.
  await page.click('[data-testid=case-search]');
  await page.keyboard.type('?');
  expect(await sheet.count()).toBe(0);

  // Under the sheet the review queue's keys do nothing: F pressed in the sheet decides nothing.
  await page.click('[data-testid=import-button]');
  await page.locator('[data-testid=job-status-1]').waitFor();
  await page.evaluate(() => window.__verityBackend.step('finish'));
  await page.click('[data-testid=tab-review]');
  await page.locator('[data-testid=decide]').waitFor();
  await page.locator('body').click({ position: { x: 700, y: 5 } });
  await page.keyboard.press('?');
  await sheet.waitFor();
  await page.keyboard.press('f');
  await page.keyboard.press('Escape');
  await sheet.waitFor({ state: 'detached' });
  expect((await page.evaluate(() => window.__verityCalls)).filter((c) => c.cmd === 'review')).toEqual([]);
  expect(errors).toEqual([]);
  await page.close();
});

test('the timeline has a text alternative: a table of sampled frames and scores, by keyboard', async () => {
  const { page, errors } = await openApp({ picked: ['/evidence/two-people.mp4'], twoTracks: true });
  await importCase(page);
  // The gallery's faces are buttons too: Enter on one shows its frame (and filters the gallery to it).
  const pick = page.locator('[data-testid=gallery] button[aria-label^="Show frame 18 (track 2"]');
  await pick.focus();
  await page.keyboard.press('Enter');
  await expect.poll(() => page.textContent('[data-testid=player-time]')).toContain('frame 18/23');
  await expect.poll(() => page.locator('[data-testid=gallery] figure').count()).toBe(2);
  const table = page.locator('[data-testid=timeline-table]');
  expect(await table.locator('table').count()).toBe(0);
  // Reached and opened by keyboard (the summary of a <details>).
  await table.locator('summary').focus();
  await page.keyboard.press('Enter');
  await table.locator('table').waitFor();
  expect(await table.locator('thead th').allTextContents()).toEqual(['Frame', 'Time (s)', 'Track 1', 'Track 2']);
  const rows = await table.locator('tbody tr').evaluateAll((trs) =>
    trs.map((tr) => [...tr.querySelectorAll('th, td')].map((c) => c.textContent)),
  );
  expect(rows).toEqual([
    ['0 (keyframe)', '0.00', '0.450', '0.200'],
    ['6', '0.20', '0.500', '0.200'],
    ['12 (keyframe)', '0.40', '0.550', '0.200'],
    ['18', '0.60', '0.600', '0.200'],
  ]);
  // A row's frame button seeks the player, as a click on the chart does.
  await table.locator('button', { hasText: '12' }).focus();
  await page.keyboard.press('Enter');
  await expect.poll(() => page.textContent('[data-testid=player-time]')).toContain('frame 12/23');
  expect(await table.locator('tr[aria-current=true] th').textContent()).toBe('12 (keyframe)');
  // The explain charts have theirs too.
  await page.click('[data-testid=explain]');
  const temporal = page.locator('[data-testid=chart-temporal-table]');
  await temporal.waitFor();
  await temporal.locator('summary').click();
  // The table is built when opened: wait for it.
  await expect.poll(() => temporal.locator('thead th').allTextContents()).toEqual(['Frame', 'Time (s)', 'score', 'CLIP', 'CNN', 'jitter']);
  expect(await temporal.locator('tbody tr >> nth=2').evaluate((tr) => [...tr.children].map((c) => c.textContent))).toEqual([
    '12', '0.40', '0.820', '0.012', '0.018', '0.003',
  ]);
  expect(errors).toEqual([]);
  await page.close();
});

test('axe: no serious or critical violations on any screen, dark and light', async () => {
  const { page, errors } = await openApp({ picked: ['/evidence/interview.mp4'], analyst: 'Ada' });
  const check = async (screen: string) => expect.soft(await axeViolations(page), screen).toEqual([]);
  await expect.poll(() => page.textContent('[data-testid=app-version]')).toBe('v0.1.0');
  await check('empty case list');
  await page.click('[data-testid=live-button]');
  await page.locator('[data-testid=live-dialog]').waitFor();
  await check('live dialog');
  await page.keyboard.press('Escape');
  await page.click('[data-testid=import-button]');
  await page.locator('[data-testid=job-status-1]').waitFor();
  await page.evaluate(() => window.__verityBackend.step('progress'));
  await expect.poll(() => page.textContent('[data-testid=job-status-1]')).toContain('2/4 frames');
  await check('jobs in progress');
  await page.evaluate(() => window.__verityBackend.step('finish'));
  await expect.poll(() => page.textContent('[data-testid=verdict]')).toBe('Needs review · 0.550');
  await page.locator('[data-testid=timeline] canvas').waitFor();
  await page.click('[data-testid=facebox-toggle]');
  await page.locator('[data-testid=face-box]').waitFor();
  await page.click('[data-testid=timeline-table] summary');
  // The Provenance panel with private data shown and a signal chip focused (its source shown).
  await page.click('[data-testid=show-private]');
  await page.locator('[data-testid=signal] >> nth=0').focus();
  await check('case view with video and face boxes');
  await page.click('[data-testid=overlay-toggle]');
  await page.click('[data-testid=explain]');
  await page.locator('[data-testid=heat-overlay]').waitFor();
  await page.locator('[data-testid=chart-temporal] canvas >> nth=0').waitFor();
  await page.click('[data-testid=chart-temporal-table] summary');
  await check('explain panel');
  await page.click('[data-testid=tab-review]');
  await page.locator('[data-testid=decide]').waitFor();
  await check('review queue');
  await page.click('[data-testid=tab-settings]');
  await page.locator('[data-testid=save-settings]').waitFor();
  await check('settings');
  const theme = () => page.evaluate(() => document.documentElement.dataset.theme);
  const first = await theme();
  await page.click('[data-testid=theme-toggle]');
  await expect.poll(theme).not.toBe(first);
  await check(`settings (${await theme()})`);
  await page.click('[data-testid=tab-cases]');
  await page.click('[data-testid=case-1]');
  await page.locator('[data-testid=timeline] canvas').waitFor();
  await check(`case view (${await theme()})`);
  await page.keyboard.press('?');
  await page.locator('[data-testid=shortcut-sheet]').waitFor();
  await check(`shortcut sheet (${await theme()})`);
  expect(errors).toEqual([]);
  await page.close();
});
