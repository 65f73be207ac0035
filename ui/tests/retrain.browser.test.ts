// The Retrain screen in a real browser engine (Debian's Chromium via playwright-core) over the
// built UI, with the Tauri IPC mocked (tests/retrain-mock.ts): refusal with too few labels,
// start → progress events → before/after table with coloured deltas → accept; dark and light
// screenshots at 1366×768.
// @vitest-environment node
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { Page } from 'playwright-core';
import { APP_INFO, SHOTS, startHarness, type Harness } from './harness';

let h: Harness;

beforeAll(async () => {
  h = await startHarness('retrain-mock.ts', 'retrainMock');
});

afterAll(async () => {
  await h?.close();
});

async function openRetrain(
  fake: number,
  real: number,
  variant: 'gend' | 'fusion' = 'gend',
): Promise<{ page: Page; errors: string[] }> {
  const opened = await h.open('__retrainMock', { appInfo: APP_INFO, fake, real, variant });
  await opened.page.click('[data-testid=tab-retrain]');
  await opened.page.locator('[data-testid=retrain-start]').waitFor();
  return opened;
}

const theme = (page: Page) => page.evaluate(() => document.documentElement.dataset.theme ?? 'unknown');
const calls = (page: Page) => page.evaluate(() => window.__verityCalls.map((c) => c.cmd));

test('too few adjudicated cases: counts, a readable refusal, Start disabled', async () => {
  const { page, errors } = await openRetrain(3, 0);
  expect(await page.textContent('[data-testid=retrain-fake]')).toBe('3');
  expect(await page.textContent('[data-testid=retrain-real]')).toBe('0');
  expect(await page.textContent('[data-testid=retrain-refusal]')).toContain(
    'you have 3 fake and 0 real — review more cases in the queue',
  );
  expect(await page.isDisabled('[data-testid=retrain-start]')).toBe(true);
  expect(errors).toEqual([]);
  await page.close();
});

test('start → progress events → before/after table → accept', async () => {
  const { page, errors } = await openRetrain(14, 16);
  expect(await page.textContent('[data-testid=retrain-parent]')).toBe('gend-clip-l14');
  expect(await page.locator('[data-testid=retrain-refusal]').count()).toBe(0);
  expect(await page.textContent('[data-testid=retrain-loss-spec]')).toBe('bce=1,align=0.1,unif=0.5,supcon=0,text=0');
  await page.click('[data-testid=retrain-start]');
  await page.locator('[data-testid=retrain-progress]').waitFor();
  expect(await calls(page)).toContain('retrain_start');
  // Untouched advanced settings send the defaults.
  const started = (await page.evaluate(() => window.__verityCalls)).find((c) => c.cmd === 'retrain_start');
  expect((started?.payload as { options: { losses: unknown } }).options.losses).toEqual({
    bce: 1, alignment: 0.1, uniformity: 0.5, supcon: 0, image_text: 0,
  });

  await page.evaluate(() => window.__retrain.emit({ phase: 'evaluating_before' }));
  await expect.poll(() => page.textContent('[data-testid=retrain-phase]')).toBe('Evaluating the current profile');
  await page.evaluate(() =>
    window.__retrain.emit({ phase: 'training', epoch: 2, epochs: 3, step: 6, total_steps: 12, loss: 0.43218 }),
  );
  await expect.poll(() => page.textContent('[data-testid=retrain-phase]')).toBe('Training — epoch 2/3 · step 6/12 · loss 0.4322');
  expect(await page.getAttribute('[data-testid=retrain-progress] [role=progressbar]', 'aria-valuenow')).toBe('50');
  mkdirSync(SHOTS, { recursive: true });
  await page.waitForTimeout(300); // the bar's width transition, for the screenshot only
  await page.screenshot({ path: join(SHOTS, `chromium-retrain-progress-${await theme(page)}.png`) });
  await page.evaluate(() => window.__retrain.emit({ phase: 'evaluating_after' }));
  await expect.poll(() => page.textContent('[data-testid=retrain-phase]')).toBe('Evaluating the candidate');

  await page.evaluate(() => window.__retrain.finish());
  await page.locator('[data-testid=retrain-result]').waitFor();
  expect(await page.locator('[data-testid=retrain-progress]').count()).toBe(0);
  const row = (k: string) => page.locator(`[data-testid=metric-${k}] td`).allTextContents();
  expect(await row('auc')).toEqual(['0.810', '0.930', '+0.120']);
  expect(await row('eer')).toEqual(['25.0 %', '12.5 %', '−12.5 pp']);
  expect(await row('accuracy')).toEqual(['71.0 %', '87.5 %', '+16.5 pp']);
  expect(await row('ece')).toEqual(['0.120', '0.150', '+0.030']);
  expect(await row('review_share')).toEqual(['40.0 %', '25.0 %', '−15.0 pp']);
  expect(await row('n')).toEqual(['24', '24', '']);
  // Lower EER is better (green); a higher calibration error is worse (red).
  expect(await page.getAttribute('[data-testid=metric-eer] td.delta', 'class')).toContain('delta-good');
  expect(await page.getAttribute('[data-testid=metric-auc] td.delta', 'class')).toContain('delta-good');
  expect(await page.getAttribute('[data-testid=metric-ece] td.delta', 'class')).toContain('delta-bad');
  const goodColour = await page.evaluate(() => getComputedStyle(document.querySelector('[data-testid=metric-auc] td.delta')!).color);
  const badColour = await page.evaluate(() => getComputedStyle(document.querySelector('[data-testid=metric-ece] td.delta')!).color);
  expect(goodColour).not.toBe(badColour);
  await page.screenshot({ path: join(SHOTS, `chromium-retrain-result-${await theme(page)}.png`) });
  await page.click('[data-testid=theme-toggle]');
  await page.screenshot({ path: join(SHOTS, `chromium-retrain-result-${await theme(page)}.png`) });
  // No horizontal overflow at 1366×768.
  const overflow = await page.evaluate(() => {
    const w = document.querySelector('.workspace') as HTMLElement;
    return w.scrollWidth - w.clientWidth;
  });
  expect(overflow).toBe(0);

  await page.click('[data-testid=retrain-accept]');
  await expect.poll(() => page.textContent('[data-testid=retrain-note]')).toBe(
    'Installed and selected profile gend-clip-l14-reviews-20260301-101500-000: new analyses use it.',
  );
  const accept = (await page.evaluate(() => window.__verityCalls)).find((c) => c.cmd === 'retrain_accept');
  expect(accept?.payload).toEqual({ name: 'gend-clip-l14-reviews-20260301-101500-000' });
  expect(await page.locator('[data-testid=retrain-result]').count()).toBe(0);
  await expect.poll(() => page.textContent('[data-testid=retrain-parent]')).toBe('gend-clip-l14-reviews-20260301-101500-000');
  expect(errors).toEqual([]);
  await page.close();
});

test('cancel returns to the start state and says the profile is unchanged', async () => {
  const { page, errors } = await openRetrain(5, 5);
  await page.click('[data-testid=retrain-start]');
  await page.locator('[data-testid=retrain-cancel]').waitFor();
  await page.click('[data-testid=retrain-cancel]');
  await expect.poll(() => page.textContent('[data-testid=retrain-note]')).toBe('Retrain cancelled; the current profile is unchanged.');
  expect(await page.locator('[data-testid=retrain-progress]').count()).toBe(0);
  expect(await calls(page)).toContain('retrain_cancel');
  expect(errors).toEqual([]);
  await page.close();
});

test('advanced settings: loss weights are validated, sent to retrain_start and shown with the candidate', async () => {
  const { page, errors } = await openRetrain(6, 6, 'fusion');
  await page.click('[data-testid=retrain-advanced] summary');
  const input = (k: string) => `[data-testid=loss-${k}]`;
  expect(await page.inputValue(input('bce'))).toBe('1');
  expect(await page.inputValue(input('unif'))).toBe('0.5');
  expect(await page.isDisabled(input('text'))).toBe(false);
  // A negative weight: named in a readable error, Start disabled.
  await page.fill(input('supcon'), '-1');
  await expect
    .poll(() => page.textContent('[data-testid=loss-error]'))
    .toContain('Supervised contrastive (supcon): the weight must be a number ≥ 0');
  expect(await page.isDisabled('[data-testid=retrain-start]')).toBe(true);
  // All zero: refused too.
  for (const k of ['bce', 'align', 'unif', 'supcon', 'text']) await page.fill(input(k), '0');
  await expect.poll(() => page.textContent('[data-testid=loss-error]')).toBe('Every loss weight is 0: nothing would be trained');
  expect(await page.isDisabled('[data-testid=retrain-start]')).toBe(true);
  await page.click('[data-testid=loss-reset]');
  expect(await page.inputValue(input('align'))).toBe('0.1');
  await page.fill(input('supcon'), '0.1');
  await page.fill(input('text'), '0.25');
  await page.fill(input('bce'), '2');
  expect(await page.locator('[data-testid=loss-error]').count()).toBe(0);
  expect(await page.textContent('[data-testid=retrain-loss-spec]')).toBe('bce=2,align=0.1,unif=0.5,supcon=0.1,text=0.25');
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `chromium-retrain-advanced-${await theme(page)}.png`) });
  expect(await page.isDisabled('[data-testid=retrain-start]')).toBe(false);
  await page.click('[data-testid=retrain-start]');
  await page.locator('[data-testid=retrain-progress]').waitFor();
  const started = (await page.evaluate(() => window.__verityCalls)).find((c) => c.cmd === 'retrain_start');
  expect(started?.payload).toEqual({
    options: {
      epochs: 3, lr: 3e-5, batch_size: 8, seed: 0, val_fraction: 0.25, min_cases_per_class: 4,
      losses: { bce: 2, alignment: 0.1, uniformity: 0.5, supcon: 0.1, image_text: 0.25 },
    },
  });
  // The inputs are locked while the run goes.
  expect(await page.isDisabled(input('supcon'))).toBe(true);
  await page.evaluate(() => window.__retrain.finish());
  await page.locator('[data-testid=retrain-result]').waitFor();
  expect(await page.textContent('[data-testid=retrain-candidate-loss]')).toBe('bce=2,align=0.1,unif=0.5,supcon=0.1,text=0.25');
  expect(errors).toEqual([]);
  await page.close();
});

test('advanced settings on a GenD profile: the image–text weight is off and explained', async () => {
  const { page, errors } = await openRetrain(6, 6, 'gend');
  await page.click('[data-testid=retrain-advanced] summary');
  expect(await page.isDisabled('[data-testid=loss-text]')).toBe(true);
  expect(await page.textContent('[data-testid=loss-text-off]')).toContain('GenD layout');
  expect(await page.isDisabled('[data-testid=loss-supcon]')).toBe(false);
  expect(await page.isDisabled('[data-testid=retrain-start]')).toBe(false);
  expect(errors).toEqual([]);
  await page.close();
});

test('axe: no serious or critical violations on the Retrain screen in each state, both themes', async () => {
  const { axeViolations } = await import('./axe');
  const refused = await openRetrain(3, 0);
  expect.soft(await axeViolations(refused.page), `refusal (${await theme(refused.page)})`).toEqual([]);
  await refused.page.close();

  const { page, errors } = await openRetrain(14, 16);
  await page.click('[data-testid=retrain-advanced] summary');
  expect.soft(await axeViolations(page), `advanced settings (${await theme(page)})`).toEqual([]);
  await page.click('[data-testid=retrain-start]');
  await page.locator('[data-testid=retrain-progress]').waitFor();
  await page.evaluate(() =>
    window.__retrain.emit({ phase: 'training', epoch: 1, epochs: 3, step: 2, total_steps: 12, loss: 0.5 }),
  );
  await expect.poll(() => page.textContent('[data-testid=retrain-phase]')).toContain('Training');
  expect.soft(await axeViolations(page), `progress (${await theme(page)})`).toEqual([]);
  await page.evaluate(() => window.__retrain.finish());
  await page.locator('[data-testid=retrain-result]').waitFor();
  expect.soft(await axeViolations(page), `before/after (${await theme(page)})`).toEqual([]);
  const before = await theme(page);
  await page.click('[data-testid=theme-toggle]');
  await expect.poll(() => theme(page)).not.toBe(before);
  expect.soft(await axeViolations(page), `before/after (${await theme(page)})`).toEqual([]);
  expect(errors).toEqual([]);
  await page.close();
});
