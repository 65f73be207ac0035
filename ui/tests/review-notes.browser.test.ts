// Review comforts (issue 16, item 6): undo of the last decision (button and Ctrl/⌘+Z, in the
// case view and the review queue; text fields keep their own Ctrl+Z), case tags (add, refuse,
// remove, shown on each case in the list, the tag filter) and the case note (shown as text: a
// note or tag holding <script>/<img onerror> stays literal), against the mocked IPC of
// mock-ipc.ts (which keeps reviews append-only like the core).
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

// Seeded cases: 1 fake, 2 needs review, 3 real.
const SEED = ['interview.mp4', 'press-photo.jpg', 'tampered-clip.mp4'];

async function openApp(): Promise<{ page: Page; errors: string[] }> {
  const opened = await h.open('__verityMock', { appInfo: APP_INFO, picked: null, analyst: 'Ada Lovelace', seed: SEED });
  await opened.page.locator('[data-testid=case-1]').waitFor();
  return opened;
}

const calls = (page: Page, cmd: string) =>
  page.evaluate((c) => window.__verityCalls.filter((x) => x.cmd === c).map((x) => x.payload), cmd);
const listedIds = (page: Page) =>
  page.$$eval('[data-testid^=case-check-]', (els) => els.map((e) => Number(e.getAttribute('data-testid')!.replace('case-check-', ''))).sort());
const chips = (page: Page) => page.$$eval('[data-testid=tag-chip]', (els) => els.map((e) => e.firstChild?.textContent ?? ''));

async function openCase(page: Page, id: number) {
  await page.click(`[data-testid=case-${id}]`);
  await expect.poll(() => page.textContent('[data-testid=case-title]')).toBe(SEED[id - 1]);
}

async function decide(page: Page, verdict: 'Fake' | 'Real' | 'Unsure') {
  await page.click('[data-testid=reopen]');
  await page.click(`[data-testid=decision-bar] button:text-is("${verdict}")`);
  await expect.poll(() => page.textContent('[data-testid=last-review]')).toContain(`Decision: ${verdict.toUpperCase()} by Ada Lovelace`);
}

test('undo in the case view: the button and Ctrl/⌘+Z walk back; text fields keep their own Ctrl+Z; history keeps all', async () => {
  const { page, errors } = await openApp();
  await openCase(page, 1);
  expect(await page.locator('[data-testid=undo-decision]').count()).toBe(0);
  await decide(page, 'Fake');
  await decide(page, 'Real');

  // Ctrl+Z outside a text field withdraws REAL: FAKE is the decision again.
  await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
  await page.keyboard.press('Control+z');
  await expect.poll(() => page.textContent('[data-testid=last-review]')).toContain('Decision: FAKE by Ada Lovelace');
  expect(await page.textContent('[data-testid=undo-notice]')).toContain('REAL withdrawn');
  expect(await calls(page, 'undo_review')).toEqual([{ caseId: 1 }]);

  // The button withdraws FAKE too: no decision, no Undo button.
  await page.click('[data-testid=undo-decision]');
  await expect.poll(() => page.textContent('[data-testid=last-review]')).toBe('No decision (the last one was undone)');
  expect(await page.locator('[data-testid=undo-decision]').count()).toBe(0);
  expect(await page.textContent('[data-testid=undo-notice]')).toContain('no decision now');

  // The history keeps both decisions and both undos.
  const history = await page.textContent('[data-testid=history]');
  for (const line of ['decided FAKE', 'decided REAL', 'undid the decision REAL', 'undid the decision FAKE']) expect(history).toContain(line);

  // Ctrl+Z while typing a tag is the field's own undo, not a decision undo.
  await decide(page, 'Unsure');
  await page.click('[data-testid=tag-input]');
  await page.keyboard.type('x');
  await page.keyboard.press('Control+z');
  expect(await calls(page, 'undo_review')).toHaveLength(2);
  expect(await page.textContent('[data-testid=last-review]')).toContain('Decision: UNSURE');
  // ⌘+Z (Mac) does the same as Ctrl+Z.
  await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
  await page.keyboard.press('Meta+z');
  await expect.poll(() => page.textContent('[data-testid=last-review]')).toBe('No decision (the last one was undone)');
  expect(await calls(page, 'undo_review')).toHaveLength(3);

  // The ? sheet lists the shortcut.
  await page.keyboard.press('?');
  const sheet = await page.locator('[data-testid=shortcut-sheet]').textContent();
  expect(sheet).toContain('Undo your last decision');
  expect(sheet).toContain('Undo the last decision (the case comes back to the queue)');
  await page.keyboard.press('Escape');
  expect(errors).toEqual([]);
  await page.close();
});

test('undo in the review queue: Ctrl+Z and the Undo button bring the case back', async () => {
  const { page, errors } = await openApp();
  await page.click('[data-testid=tab-review]');
  await expect.poll(() => page.textContent('[data-testid=queue-count]')).toContain('1 case(s)');
  await page.locator('[data-testid=decide]').waitFor();
  await page.keyboard.press('f');
  await expect.poll(() => page.textContent('[data-testid=queue-count]')).toBe('Nothing waits for a decision.');
  expect(await page.textContent('[data-testid=last-decision]')).toContain('press-photo.jpg: fake');
  await page.keyboard.press('Control+z');
  await expect.poll(() => page.textContent('[data-testid=queue-count]')).toContain('1 case(s)');
  expect(await page.textContent('[data-testid=undo-notice]')).toContain('back in the queue');
  expect(await page.locator('[data-testid=last-decision]').count()).toBe(0);

  // The note field keeps Ctrl+Z for its text.
  await page.click('[data-testid=review-note]');
  await page.keyboard.type('seam');
  await page.keyboard.press('Control+z');
  expect(await calls(page, 'undo_review')).toHaveLength(1);
  await page.click('[data-testid=decide-real]');
  await expect.poll(() => page.textContent('[data-testid=queue-count]')).toBe('Nothing waits for a decision.');
  await page.click('[data-testid=undo-last]');
  await expect.poll(() => page.textContent('[data-testid=queue-count]')).toContain('1 case(s)');
  expect(await calls(page, 'undo_review')).toEqual([{ caseId: 2 }, { caseId: 2 }]);
  expect(errors).toEqual([]);
  await page.close();
});

test('tags: added, normalised, refused with the reason, removed, shown in the list and filtered on', async () => {
  const { page, errors } = await openApp();
  await openCase(page, 1);
  await page.fill('[data-testid=tag-input]', '  Election ,  satire ');
  await page.keyboard.press('Enter');
  await expect.poll(() => chips(page)).toEqual(['Election', 'satire']);
  // A repeat in other letter case adds nothing; a comma typed adds what is before it.
  await page.fill('[data-testid=tag-input]', 'ELECTION');
  await page.keyboard.press(',');
  await expect.poll(async () => (await calls(page, 'set_case_tags')).length).toBe(2);
  expect(await chips(page)).toEqual(['Election', 'satire']);
  // Too long: refused with the core's reason; the tags stay as they were.
  await page.fill('[data-testid=tag-input]', 'x'.repeat(41));
  await page.click('[data-testid=tag-add]');
  await expect.poll(() => page.textContent('[data-testid=notes-error]')).toContain('at most 40');
  expect(await chips(page)).toEqual(['Election', 'satire']);
  // Markup in a tag is text.
  await page.fill('[data-testid=tag-input]', '<img src=x onerror="window.__pwned=1">');
  await page.keyboard.press('Enter');
  await expect.poll(() => chips(page)).toEqual(['Election', 'satire', '<img src=x onerror="window.__pwned=1">']);
  expect(await page.locator('[data-testid=tag-editor] img, [data-testid=case-list] img').count()).toBe(0);
  expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
  // The list shows each case's tags.
  await expect.poll(() => page.textContent('[data-testid=case-1] [data-testid=case-tags]')).toBe('Electionsatire<img src=x onerror="window.__pwned=1">');
  expect(await page.textContent('[data-testid=history]')).toContain('changed the tags — added Election, satire');

  await openCase(page, 3);
  await page.fill('[data-testid=tag-input]', 'satire');
  await page.keyboard.press('Enter');
  await expect.poll(() => chips(page)).toEqual(['satire']);

  // The tag filter: the tags in use with their counts; picking one narrows the list.
  const filter = page.locator('[data-testid=case-tag-filter]');
  await expect.poll(() => filter.locator('option').allTextContents()).toContain('satire (2)');
  await filter.selectOption('satire');
  await expect.poll(() => listedIds(page)).toEqual([1, 3]);
  expect(await calls(page, 'list_cases')).toContainEqual({ filter: { band: null, search: null, tag: 'satire' } });
  await filter.selectOption('Election');
  await expect.poll(() => listedIds(page)).toEqual([1]);
  await filter.selectOption('');
  await expect.poll(() => listedIds(page)).toEqual([1, 2, 3]);

  // Removing a tag (by keyboard: the chip's × is a button).
  await page.focus('[aria-label="Remove tag satire"]');
  await page.keyboard.press('Enter');
  await expect.poll(() => chips(page)).toEqual([]);
  await filter.selectOption('satire');
  await expect.poll(() => listedIds(page)).toEqual([1]);
  expect(await page.textContent('[data-testid=history]')).toContain('changed the tags — removed satire');
  expect(errors).toEqual([]);
  await page.close();
});

test('the case note: markup shown literally, searchable, too long refused, no axe violations', async () => {
  const { page, errors } = await openApp();
  await openCase(page, 2);
  expect(await page.textContent('[data-testid=case-note-empty]')).toBe('No case note.');
  const note = 'Source: forwarded <script>window.__pwned=1</script>\n<img src=x onerror="window.__pwned=2"> <b>bold?</b>\nline three';
  await page.click('[data-testid=note-edit]');
  await page.fill('[data-testid=note-input]', note);
  await page.click('[data-testid=note-save]');
  await expect.poll(() => page.textContent('[data-testid=case-note]')).toBe(note);
  expect(await page.locator('[data-testid=case-note] *').count()).toBe(0);
  expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
  expect(await page.textContent('[data-testid=note-saved]')).toBe('Note saved');
  // Line breaks are kept on screen (pre-wrap), and the history names who changed it.
  expect(await page.$eval('[data-testid=case-note]', (e) => getComputedStyle(e).whiteSpace)).toBe('pre-wrap');
  expect(await page.textContent('[data-testid=history]')).toContain('Ada Lovelace changed the case note');

  // Too long: the core's reason; the stored note is untouched.
  await page.click('[data-testid=note-edit]');
  await page.fill('[data-testid=note-input]', 'n'.repeat(10_001));
  await page.click('[data-testid=note-save]');
  await expect.poll(() => page.textContent('[data-testid=notes-error]')).toContain('at most 10000');
  await page.click('[data-testid=case-notes] button:text-is("Cancel")');
  expect(await page.textContent('[data-testid=case-note]')).toBe(note);

  // The search box finds the case by its note.
  await page.fill('[data-testid=case-search]', 'forwarded');
  await expect.poll(() => listedIds(page)).toEqual([2]);
  await page.fill('[data-testid=case-search]', '');
  await expect.poll(() => listedIds(page)).toEqual([1, 2, 3]);

  await page.fill('[data-testid=tag-input]', 'satire');
  await page.keyboard.press('Enter');
  await expect.poll(() => chips(page)).toEqual(['satire']);
  expect(await axeViolations(page)).toEqual([]);
  await page.click('[data-testid=theme-toggle]');
  expect(await axeViolations(page)).toEqual([]);
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, 'chromium-tags-note.png'), fullPage: true });
  expect(errors).toEqual([]);
  await page.close();
});
