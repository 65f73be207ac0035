// Several cases at once (issue 16, item 6): multi-select in the case list (checkboxes,
// Shift+click ranges, Ctrl+A and Esc from the keyboard), the batch export dialog (the core's
// save dialog, per-case progress, stop, the result with the cases that failed) and batch
// re-run, against the mocked IPC of mock-ipc.ts.
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

const SEED = ['interview.mp4', 'press-photo.jpg', 'tampered-clip.mp4', 'cctv-cam2.avi', 'portrait.png'];

async function openApp(extra: Record<string, unknown> = {}): Promise<{ page: Page; errors: string[] }> {
  const opened = await h.open('__verityMock', { appInfo: APP_INFO, picked: null, analyst: 'Ada Lovelace', seed: SEED, ...extra });
  await opened.page.locator('[data-testid=case-check-1]').waitFor();
  return opened;
}

/** Case ids in the order the list shows them. */
const listed = (page: Page) =>
  page.$$eval('[data-testid^=case-check-]', (els) => els.map((e) => Number(e.getAttribute('data-testid')!.replace('case-check-', ''))));
const checkedIds = (page: Page) =>
  page.$$eval('[data-testid^=case-check-]', (els) =>
    els.filter((e) => (e as HTMLInputElement).checked).map((e) => Number(e.getAttribute('data-testid')!.replace('case-check-', ''))),
  );
const calls = (page: Page, cmd: string) =>
  page.evaluate((c) => window.__verityCalls.filter((x) => x.cmd === c).map((x) => x.payload), cmd);

test('checkboxes, Shift+click ranges, Ctrl+A and Esc select cases; the batch bar counts them', async () => {
  const { page, errors } = await openApp();
  const order = await listed(page);
  expect(order).toHaveLength(5);
  expect(await page.locator('[data-testid=batch-bar]').count()).toBe(0);

  await page.click(`[data-testid=case-check-${order[1]}]`);
  expect(await checkedIds(page)).toEqual([order[1]]);
  expect(await page.textContent('[data-testid=batch-count]')).toBe('1 selected');
  // Ticking a case does not open it.
  expect(await page.locator('.case.selected').count()).toBe(0);
  await page.click(`[data-testid=case-check-${order[3]}]`, { modifiers: ['Shift'] });
  expect(await checkedIds(page)).toEqual(order.slice(1, 4));
  expect(await page.textContent('[data-testid=batch-count]')).toBe('3 selected');
  // A plain click on a ticked case unticks it alone.
  await page.click(`[data-testid=case-check-${order[2]}]`);
  expect(await checkedIds(page)).toEqual([order[1], order[3]]);

  // Keyboard: Space on a focused checkbox, Ctrl+A in the list, Esc clears.
  await page.click('[data-testid=batch-clear]');
  expect(await page.locator('[data-testid=batch-bar]').count()).toBe(0);
  await page.focus(`[data-testid=case-check-${order[0]}]`);
  await page.keyboard.press('Space');
  expect(await checkedIds(page)).toEqual([order[0]]);
  await page.keyboard.press('Control+A');
  expect(await checkedIds(page)).toEqual(order);
  expect(await page.textContent('[data-testid=batch-count]')).toBe('5 selected');
  await page.keyboard.press('Escape');
  expect(await checkedIds(page)).toEqual([]);

  // Only cases still shown stay selected: a search narrows the selection with the list.
  await page.keyboard.press('Control+A');
  await page.fill('[data-testid=case-search]', 'interview');
  await expect.poll(() => listed(page)).toEqual([1]);
  expect(await page.textContent('[data-testid=batch-count]')).toBe('1 selected');
  expect(await axeViolations(page)).toEqual([]);
  expect(errors).toEqual([]);
  await page.close();
});

test('Export… writes one ZIP through the core’s save dialog, shows progress and lists the failed case', async () => {
  const { page, errors } = await openApp({ exportPath: '/home/ada/exports/week-2.zip', holdExport: true });
  const order = await listed(page);
  await page.click(`[data-testid=case-check-${order[0]}]`);
  await page.click(`[data-testid=case-check-${order[4]}]`, { modifiers: ['Shift'] });
  await page.click('[data-testid=batch-export]');
  const dialog = page.locator('[data-testid=export-dialog]');
  await dialog.waitFor();
  expect(await page.textContent('#export-title')).toBe('Export 5 cases');
  // Focus moves into the dialog, on the main action.
  expect(await page.evaluate(() => document.activeElement?.getAttribute('data-testid'))).toBe('export-start');
  expect(await axeViolations(page)).toEqual([]);
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, 'chromium-batch-export-dialog.png') });
  await page.click('[data-testid=export-pdf]'); // PDFs off
  await page.click('[data-testid=export-start]');

  // Held after the first case: the dialog says which case it is on.
  await expect.poll(() => page.textContent('[data-testid=export-status]')).toBe(`Case 1 of 5: ${SEED[order[0] - 1]}`);
  expect(await page.getAttribute('[data-testid=export-progress]', 'aria-valuenow')).toBe('0');
  // Esc does not close the dialog while the core writes.
  await page.keyboard.press('Escape');
  expect(await dialog.count()).toBe(1);
  await page.evaluate(() => window.__verityBackend.releaseExport());

  const result = page.locator('[data-testid=export-result]');
  await result.waitFor();
  expect(await result.textContent()).toBe('Exported 4 of 5 cases to /home/ada/exports/week-2.zip; 1 with errors (listed in summary.csv):');
  expect(await page.textContent('[data-testid=export-failures]')).toContain(
    "#3 tampered-clip.mp4: tampered-clip.mp4: the case store's copy of this file failed verification",
  );
  expect(await calls(page, 'pick_export_path')).toEqual([{ defaultName: expect.stringMatching(/^verity-cases-\d{4}-\d\d-\d\d\.zip$/) }]);
  expect(await calls(page, 'export_cases')).toEqual([{ caseIds: order, path: '/home/ada/exports/week-2.zip', pdf: false }]);
  expect(await axeViolations(page)).toEqual([]);
  await page.screenshot({ path: join(SHOTS, 'chromium-batch-export-result.png') });
  await page.click('[data-testid=export-close]');
  expect(await dialog.count()).toBe(0);
  // Focus returns to the Export… button.
  expect(await page.evaluate(() => document.activeElement?.getAttribute('data-testid'))).toBe('batch-export');
  expect(errors).toEqual([]);
  await page.close();
});

test('a cancelled save dialog exports nothing; Stop ends an export with no file', async () => {
  const { page, errors } = await openApp({ exportPath: null });
  await page.click('[data-testid=case-check-2]');
  await page.click('[data-testid=batch-export]');
  await page.click('[data-testid=export-start]');
  await expect.poll(() => calls(page, 'pick_export_path')).toHaveLength(1);
  // Still asking: nothing was exported.
  expect(await page.locator('[data-testid=export-start]').count()).toBe(1);
  expect(await calls(page, 'export_cases')).toEqual([]);
  await page.keyboard.press('Escape');
  expect(await page.locator('[data-testid=export-dialog]').count()).toBe(0);
  await page.close();

  const second = await openApp({ exportPath: '/tmp/x.zip', holdExport: true });
  const p2 = second.page;
  await p2.keyboard.press('Tab'); // any focus; select via Ctrl+A in the list
  await p2.focus('[data-testid=case-check-1]');
  await p2.keyboard.press('Control+A');
  await p2.click('[data-testid=batch-export]');
  await p2.click('[data-testid=export-start]');
  await p2.locator('[data-testid=export-stop]').waitFor();
  await expect.poll(() => p2.textContent('[data-testid=export-status]')).toMatch(/^Case 1 of 5/);
  await p2.click('[data-testid=export-stop]');
  await expect.poll(() => p2.textContent('[data-testid=export-error]')).toBe('Export stopped; no file was written.');
  expect(await calls(p2, 'cancel_export')).toHaveLength(1);
  expect(errors.concat(second.errors)).toEqual([]);
  await p2.close();
});

test('Re-run queues one job per selected case', async () => {
  const { page, errors } = await openApp();
  const order = await listed(page);
  await page.click(`[data-testid=case-check-${order[0]}]`);
  await page.click(`[data-testid=case-check-${order[2]}]`, { modifiers: ['Shift'] });
  await page.click('[data-testid=batch-rerun]');
  await expect.poll(() => page.textContent('[data-testid=batch-note]')).toBe('3 re-runs queued');
  expect(await calls(page, 'rerun_cases')).toEqual([{ caseIds: order.slice(0, 3) }]);
  // The queued jobs show in the sidebar like any other.
  await expect.poll(() => page.locator('[data-testid=jobs] [data-testid^=job-status-]').count()).toBe(3);
  expect(errors).toEqual([]);
  await page.close();
});
