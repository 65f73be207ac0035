// The built UI in a real browser engine (Debian's Chromium via playwright-core), served over
// http like Tauri serves it, with the Tauri IPC mocked by `mockIPC`. The real-app test under
// WebKitGTK lives in tests/e2e/.
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
  expect(h.mockScript).toContain('__TAURI_INTERNALS__');
});

afterAll(async () => {
  await h?.close();
});

async function openApp(
  picked: string[] | null,
  viewport = { width: 1366, height: 768 },
  analyst = '',
  noWeights = false,
): Promise<{ page: Page; errors: string[] }> {
  return h.open('__verityMock', { appInfo: APP_INFO, picked, analyst, noWeights }, viewport);
}

test('shows product, version, device and the empty case list', async () => {
  const { page, errors } = await openApp(null);
  await expect.poll(() => page.textContent('[data-testid=app-version]')).toBe('v0.1.0');
  expect(await page.textContent('[data-testid=product-name]')).toBe('Verity Desk');
  expect(await page.textContent('[data-testid=device]')).toContain('CPU');
  expect(await page.textContent('[data-testid=device-name]')).toBe('CPU (2 threads)');
  expect(await page.textContent('[data-testid=case-empty]')).toContain(
    'No cases yet — import an image or video',
  );
  for (const band of ['fake', 'review', 'real']) {
    expect(await page.textContent(`[data-testid=band-${band}] .band-count`)).toBe('0');
  }
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, 'chromium-empty.png') });
  expect(errors).toEqual([]);
  await page.close();
});

test('import → progress → case view → review decision → audit entry', async () => {
  const { page, errors } = await openApp(['/evidence/interview.mp4'], { width: 1366, height: 768 }, 'Ada Lovelace');
  await expect.poll(() => page.textContent('[data-testid=app-version]')).toBe('v0.1.0');
  await page.click('[data-testid=import-button]');
  const status = page.locator('[data-testid=job-status-1]');
  await status.waitFor();
  const importCall = (await page.evaluate(() => window.__verityCalls)).find((c) => c.cmd === 'import');
  expect(importCall?.payload).toEqual({ paths: ['/evidence/interview.mp4'] });
  expect(await page.textContent('[data-testid=job-1] .job-label')).toBe('interview.mp4');

  await page.evaluate(() => window.__verityBackend.step('progress'));
  await expect.poll(() => status.textContent()).toBe('2/4 frames · 2 faces · 2 scored · 1 s left');
  expect(await page.getAttribute('[data-testid=job-1] [role=progressbar]', 'aria-valuenow')).toBe('50');
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, 'chromium-progress.png') });

  await page.evaluate(() => window.__verityBackend.step('finish'));
  await page.locator('[data-testid=job-1]').waitFor({ state: 'detached' });
  // The imported case opened by itself and now shows its result.
  await expect.poll(() => page.textContent('[data-testid=verdict]')).toBe('Needs review · 0.550');
  expect(await page.textContent('[data-testid=profile]')).toBe('gend-clip-l14');
  // The analysis records how its faces were prepared (GenD's published chain).
  expect(await page.textContent('[data-testid=preprocessing]')).toContain('LMedS similarity');
  // Chain of custody: when the stored copy last re-hashed to its recorded SHA-256.
  expect(await page.textContent('[data-testid=media-verified]')).toMatch(/^media verified \S/);
  expect(await page.textContent('[data-testid=band-review] .band-count')).toBe('1');
  await page.locator('[data-testid=timeline] canvas').waitFor();
  await expect.poll(() => page.locator('[data-testid=gallery] img').count()).toBe(4);
  await page.click('[data-testid=overlay-toggle]');
  expect(await page.textContent('[data-testid=overlay-not-computed]')).toContain('not computed — press Explain');
  expect(await page.textContent('[data-testid=artifacts-not-computed]')).toContain('not computed — press Explain');
  expect(await page.textContent('[data-testid=plots-not-computed]')).toContain('not computed — press Explain');
  await page.screenshot({ path: join(SHOTS, 'chromium-case.png') });

  // Explain → the heat-map lies over the media, the artifact views and the video plots appear.
  await page.click('[data-testid=explain]');
  await page.locator('[data-testid=heat-overlay]').waitFor();
  const explainCall = (await page.evaluate(() => window.__verityCalls)).find((c) => c.cmd === 'explain');
  expect(explainCall?.payload).toEqual({ caseId: 1, frame: null });
  expect(await page.textContent('[data-testid=explain-done]')).toContain('Explained frame 18: 1 face(s)');
  expect(await page.locator('[data-testid=overlay-not-computed]').count()).toBe(0);
  expect(await page.getAttribute('[data-testid=heat-overlay]', 'alt')).toBe('Grad-CAM (forensic CNN), frame 18');
  await page.selectOption('[data-testid=overlay-method]', 'rollout');
  expect(await page.getAttribute('[data-testid=heat-overlay]', 'alt')).toBe('Attention rollout, frame 18');
  expect(await page.textContent('[data-testid=overlay-summary]')).toContain('rollout: where the detector looked, in the frame');
  await page.fill('[data-testid=overlay-opacity]', '0.3');
  await expect.poll(() => page.evaluate(() => getComputedStyle(document.querySelector('[data-testid=heat-overlay]')!).opacity)).toBe('0.3');
  await page.screenshot({ path: join(SHOTS, 'chromium-overlay.png') });
  const views = page.locator('[data-testid=artifact-views] figure');
  expect(await views.count()).toBe(4);
  const captions = (await views.allTextContents()).join(' | ');
  for (const t of ['Noise residual', 'Frequency spectrum', 'Error-level analysis', 'Blending boundary', 'a faint seam along the jaw'])
    expect(captions).toContain(t);
  expect(await page.locator('[data-testid=crop-heatmaps] img').count()).toBe(2);
  expect(await page.textContent('[data-testid=track-1] [data-testid=plot-temporal]')).toContain('identity stable');
  expect(await page.textContent('[data-testid=track-1] [data-testid=plot-blink]')).toContain('no blink in 0.8 s');
  expect(await page.locator('[data-testid=gradcam-note]').count()).toBe(0);
  await page.locator('[data-testid=artifact-panel]').scrollIntoViewIfNeeded();
  await page.screenshot({ path: join(SHOTS, 'chromium-explain.png') });

  // The track charts are drawn from the stored series (uPlot, one plot per panel), no picture.
  const temporal = page.locator('[data-testid=track-1] [data-testid=chart-temporal]');
  expect(await temporal.getAttribute('data-samples')).toBe('4');
  await expect.poll(() => temporal.locator('.series-chart-panel canvas').count()).toBe(3);
  expect(await page.locator('[data-testid=track-1] [data-testid=chart-blink] .series-chart-panel canvas').count()).toBe(1);
  expect(await page.locator('[data-testid=track-panel] img').count()).toBe(0);
  const titles = await temporal.locator('.u-title').allTextContents();
  expect(titles).toEqual(['fake probability', 'embedding drift (1 − cos)', 'landmark jitter (fraction of the face diagonal)']);
  // Hover shows the frame (its source number), the time and the value; the panels move together.
  const over = temporal.locator('[data-panel=score] .u-over');
  await over.scrollIntoViewIfNeeded();
  const box = (await over.boundingBox())!;
  const at = (t: number) => ({ x: box.x + (box.width * t) / 0.6, y: box.y + box.height / 2 });
  await page.mouse.move(at(0.4).x, at(0.4).y);
  const legend = (panel: string) => temporal.locator(`[data-panel=${panel}] .u-legend`).textContent();
  await expect.poll(() => legend('score')).toContain('frame 12 · 0.40 s');
  expect(await legend('score')).toContain('0.820');
  expect(await legend('jitter')).toContain('frame 12 · 0.40 s');
  expect(await legend('jitter')).toContain('0.003');
  await page.screenshot({ path: join(SHOTS, 'chromium-track-charts.png') });
  // A click seeks the player (and the gallery) to that frame, as on the frame timeline.
  await page.mouse.click(at(0.4).x, at(0.4).y);
  await expect.poll(() => page.textContent('[data-testid=player-time]')).toMatch(/frame 12\//);
  const blinkOver = page.locator('[data-testid=chart-blink] .u-over');
  await blinkOver.scrollIntoViewIfNeeded();
  const b = (await blinkOver.boundingBox())!;
  await page.mouse.click(b.x + 2, b.y + b.height / 2);
  await expect.poll(() => page.textContent('[data-testid=player-time]')).toMatch(/frame 0\//);
  expect(await page.textContent('[data-testid=track-1] [data-testid=chart-blink] .u-legend')).toContain('frame 0 · 0.00 s');

  await page.click('[data-testid=tab-review]');
  await expect.poll(() => page.textContent('[data-testid=queue-count]')).toContain('1 case(s) need a human decision');
  expect(await page.textContent('[data-testid=analyst]')).toBe('Ada Lovelace');
  await page.locator('[data-testid=decide]').waitFor();
  await page.keyboard.press('n');
  await page.keyboard.type('mouth blends into the cheek');
  await page.keyboard.press('Escape');
  await page.keyboard.press('f');
  await expect.poll(() => page.textContent('[data-testid=last-decision]')).toBe('Recorded — interview.mp4: fake');
  await expect.poll(() => page.textContent('[data-testid=queue-count]')).toBe('Nothing waits for a decision.');
  const reviewCall = (await page.evaluate(() => window.__verityCalls)).find((c) => c.cmd === 'review');
  expect(reviewCall?.payload).toEqual({ caseId: 1, verdict: 'fake', note: 'mouth blends into the cheek' });

  await page.click('[data-testid=tab-cases]');
  await page.click('[data-testid=case-1]');
  await expect
    .poll(() => page.textContent('[data-testid=history]'))
    .toContain('Ada Lovelace decided FAKE — “mouth blends into the cheek”');
  // Re-open: a second decision is appended; the first stays in the history.
  await page.click('[data-testid=reopen]');
  await page.fill('[data-testid=decision-bar] textarea', 'second look: compression only');
  await page.click('[data-testid=decision-bar] .button-real');
  await expect.poll(() => page.textContent('[data-testid=last-review]')).toContain('REAL by Ada Lovelace');
  const history = (await page.textContent('[data-testid=history]')) ?? '';
  expect(history).toContain('decided REAL — “second look: compression only”');
  expect(history).toContain('decided FAKE');
  await page.click('[data-testid=theme-toggle]');
  await page.screenshot({ path: join(SHOTS, 'chromium-case-light.png') });
  expect(errors).toEqual([]);
  await page.close();
});

test('scope warnings stand beside the verdict, which is never a bare band with a warning', async () => {
  const scope = [
    { code: 'many_faces', severity: 'warning', text: '6 faces in one frame (sampled frame 2) (≥ 5).' },
    { code: 'heavy_compression', severity: 'warning', text: 'Heavy JPEG compression (estimated quality 20 of 100, below 50).' },
    { code: 'non_photographic_not_checked', severity: 'not_checked', text: 'Non-photographic check (animation, CGI, drawing): not checked (CLIP base not installed).' },
  ];
  const { page, errors } = await h.open('__verityMock', { appInfo: APP_INFO, picked: ['/evidence/crowd.jpg'], analyst: 'Ada', scope });
  await expect.poll(() => page.textContent('[data-testid=app-version]')).toBe('v0.1.0');
  await page.click('[data-testid=import-button]');
  await page.locator('[data-testid=job-status-1]').waitFor();
  await page.evaluate(() => window.__verityBackend.step('finish'));
  const verdict = page.locator('[data-testid=verdict]');
  await expect
    .poll(() => verdict.textContent())
    .toBe("Needs review · 0.550 — outside the detector's scope: many faces, heavy compression");
  const items = page.locator('[data-testid=scope-list] li');
  expect(await items.count()).toBe(3);
  expect(await page.textContent('[data-testid=scope-many_faces]')).toBe('Scope warning 6 faces in one frame (sampled frame 2) (≥ 5).');
  expect(await page.textContent('[data-testid=scope-heavy_compression]')).toContain('estimated quality 20');
  expect(await page.textContent('[data-testid=scope-non_photographic_not_checked]')).toBe(
    'Not checked Non-photographic check (animation, CGI, drawing): not checked (CLIP base not installed).',
  );
  // The case list's line carries the warning too (details in its title).
  expect(await page.textContent('[data-testid=case-1] .case-verdict')).toBe('SCOPENeeds review · 0.550');
  expect(await page.getAttribute('[data-testid=case-1] [data-testid=scope-tag]', 'title')).toBe(
    "outside the detector's scope: many faces, heavy compression",
  );
  await page.locator('[data-testid=scope-list]').scrollIntoViewIfNeeded();
  await page.screenshot({ path: join(SHOTS, 'chromium-scope-warnings.png') });
  // Readable in both themes (axe: no serious/critical violation, contrast included).
  expect(await axeViolations(page)).toEqual([]);
  await page.click('[data-testid=theme-toggle]');
  expect(await axeViolations(page)).toEqual([]);
  await page.screenshot({ path: join(SHOTS, 'chromium-scope-warnings-dark.png') });
  expect(errors).toEqual([]);
  await page.close();
});

test('without detector weights Explain gives artifact views only and says why', async () => {
  const { page, errors } = await openApp(['/evidence/b.mp4'], { width: 1366, height: 768 }, '', true);
  await page.click('[data-testid=import-button]');
  await page.locator('[data-testid=job-status-1]').waitFor();
  await page.evaluate(() => window.__verityBackend.step('finish'));
  await expect.poll(() => page.textContent('[data-testid=verdict]')).toBe('Needs review · 0.550');
  // A face picked in the gallery is the frame that gets explained.
  await expect.poll(() => page.locator('[data-testid=gallery] img').count()).toBe(4);
  await page.click('[data-testid=gallery] figure >> nth=1');
  await page.click('[data-testid=explain]');
  await page.locator('[data-testid=artifact-views]').waitFor();
  const call = (await page.evaluate(() => window.__verityCalls)).find((c) => c.cmd === 'explain');
  expect(call?.payload).toEqual({ caseId: 1, frame: 1 });
  expect(await page.locator('[data-testid=artifact-views] figure').count()).toBe(4);
  expect(await page.textContent('[data-testid=gradcam-note]')).toBe('Grad-CAM needs detector weights; artifact views only.');
  await page.click('[data-testid=overlay-toggle]');
  expect(await page.textContent('[data-testid=overlay-not-computed]')).toBe('Grad-CAM needs detector weights; artifact views only.');
  expect(await page.locator('[data-testid=heat-overlay]').count()).toBe(0);
  expect(await page.locator('[data-testid=overlay-method]').count()).toBe(0);
  // Leaving and re-opening the case loads the stored explanations without pressing Explain.
  await page.click('[data-testid=tab-settings]');
  await page.click('[data-testid=tab-cases]');
  await page.click('[data-testid=case-1]');
  await expect.poll(() => page.locator('[data-testid=artifact-views] figure').count()).toBe(4);
  expect(await page.textContent('[data-testid=plot-blink]')).toContain('no blink');
  expect(errors).toEqual([]);
  await page.close();
});

test('a decision without an analyst name is refused with a pointer to Settings', async () => {
  const { page, errors } = await openApp(['/evidence/a.mp4']);
  await page.click('[data-testid=import-button]');
  await page.locator('[data-testid=job-status-1]').waitFor();
  await page.evaluate(() => window.__verityBackend.step('finish'));
  await page.click('[data-testid=tab-review]');
  await page.locator('[data-testid=no-analyst]').waitFor();
  await page.locator('[data-testid=decide]').waitFor();
  await page.click('[data-testid=decide-real]');
  await expect.poll(() => page.textContent('[data-testid=review-error]')).toContain('Set your analyst name in Settings');
  await page.click('[data-testid=tab-settings]');
  await page.fill('[data-testid=set-analyst]', 'Grace');
  await page.fill('[data-testid=set-real]', '0.8');
  await page.click('[data-testid=save-settings]');
  expect(await page.textContent('[data-testid=settings-msg]')).toBe('Thresholds must satisfy 0 ≤ real ≤ fake ≤ 1.');
  await page.fill('[data-testid=set-real]', '0.25');
  // Installed profiles are listed (untrained ones say so) and one can be chosen.
  const options = await page.locator('[data-testid=set-profile] option').allTextContents();
  expect(options).toEqual(['Automatic (first trained profile)', 'gend-clip-l14', 'demo-untrained — UNTRAINED']);
  await page.selectOption('[data-testid=set-profile]', 'gend-clip-l14');
  // The profile card says how this profile prepares faces.
  expect(await page.textContent('[data-testid=profile-card]')).toContain('Pillow bicubic shortest edge 224');
  await page.click('[data-testid=save-settings]');
  await expect.poll(() => page.textContent('[data-testid=settings-msg]')).toContain('Saved to');
  const saved = (await page.evaluate(() => window.__verityCalls)).find((c) => c.cmd === 'save_settings');
  expect((saved?.payload as { settings: { analyst: string; thresholds: unknown } }).settings).toMatchObject({
    analyst: 'Grace',
    thresholds: { real: 0.25, fake: 0.7 },
    profile: 'gend-clip-l14',
  });
  await page.screenshot({ path: join(SHOTS, 'chromium-settings.png') });
  expect(errors).toEqual([]);
  await page.close();
});

test('fits the minimum window size (1024x640) without horizontal scrolling', async () => {
  const { page, errors } = await openApp(['/evidence/a-rather-long-file-name-from-a-camera-0001.mp4'], {
    width: 1024,
    height: 640,
  });
  await expect.poll(() => page.textContent('[data-testid=app-version]')).toBe('v0.1.0');
  const overflow = await page.evaluate(() => ({
    page: document.documentElement.scrollWidth - window.innerWidth,
    workspace: (() => {
      const w = document.querySelector('.workspace') as HTMLElement;
      return w.scrollWidth - w.clientWidth;
    })(),
  }));
  expect(overflow).toEqual({ page: 0, workspace: 0 });
  // The import button and the empty state stay visible without scrolling.
  for (const id of ['import-button', 'case-empty', 'device']) {
    const box = await page.locator(`[data-testid=${id}]`).boundingBox();
    expect(box && box.y + box.height <= 640, id).toBe(true);
  }
  await page.screenshot({ path: join(SHOTS, 'chromium-min-size.png') });
  expect(errors).toEqual([]);
  await page.close();
});

test('the player seeks any frame, follows timeline/gallery picks and steps with ←/→', async () => {
  const { page, errors } = await openApp(['/evidence/cctv.avi'], { width: 1366, height: 768 }, 'Ada');
  await page.click('[data-testid=import-button]');
  await page.locator('[data-testid=job-status-1]').waitFor();
  await page.evaluate(() => window.__verityBackend.step('finish'));
  const time = page.locator('[data-testid=player-time]');
  await expect.poll(() => time.textContent()).toBe('0:00.00 / 0:00.80 · frame 0/23');
  // Four sampled frames marked on the scrubber in their score colour, keyframes taller.
  expect(await page.locator('.scrub-marks .mark').count()).toBe(4);
  expect(await page.locator('.scrub-marks .mark-key').count()).toBe(2);
  expect(await page.getAttribute('.scrub-marks .mark >> nth=1', 'title')).toBe('frame 6 · 0.20 s · score 0.500');
  // Scrubbing reaches frames the analysis never sampled.
  await page.fill('[data-testid=player-scrub]', '13');
  await expect.poll(() => time.textContent()).toBe('0:00.43 / 0:00.80 · frame 13/23');
  await page.click('[data-testid=player-next]');
  await expect.poll(() => time.textContent()).toContain('frame 14/23');
  await page.locator('body').click({ position: { x: 700, y: 5 } });
  await page.keyboard.press('ArrowLeft');
  await page.keyboard.press('ArrowLeft');
  await expect.poll(() => time.textContent()).toContain('frame 12/23');
  // A face picked in the gallery (sampled frame 2 = source frame 12 at 0.4 s) moves the player
  // and filters the gallery to that frame.
  await page.click('[data-testid=gallery] figure >> nth=3');
  await expect.poll(() => time.textContent()).toContain('frame 18/23');
  expect(await page.locator('[data-testid=gallery] figure').count()).toBe(1);
  const seeks = (await page.evaluate(() => window.__verityCalls)).filter((c) => c.cmd === 'media_frame');
  expect(seeks.at(-1)?.payload).toEqual({ caseId: 1, tSeconds: 0.6000000000000001, index: null, maxWidth: 960 });
  // Play runs at the sampling rate to the end and stops there.
  await page.click('[data-testid=player-play]');
  await expect.poll(() => time.textContent(), { timeout: 5000 }).toContain('frame 23/23');
  await expect.poll(() => page.getAttribute('[data-testid=player-play]', 'aria-label')).toBe('Play');
  // Explain: the heat map lies over the player when it shows the explained frame, else a link.
  await page.click('[data-testid=overlay-toggle]');
  await page.click('[data-testid=explain]');
  await page.locator('[data-testid=heat-overlay]').waitFor();
  expect(await time.textContent()).toContain('frame 18/23');
  await page.click('[data-testid=player-prev]');
  await page.locator('[data-testid=overlay-elsewhere]').waitFor();
  expect(await page.textContent('[data-testid=overlay-elsewhere]')).toBe('Overlay is for frame 18 — jump there');
  await page.click('[data-testid=overlay-jump]');
  await page.locator('[data-testid=heat-overlay]').waitFor();
  expect(errors).toEqual([]);
  await page.close();
});

test('the live-source dialog validates, lists webcams, queues a job and shows failures', async () => {
  const { page, errors } = await openApp(null);
  await page.click('[data-testid=live-button]');
  const dialog = page.locator('[data-testid=live-dialog]');
  await dialog.waitFor();
  await expect.poll(() => page.inputValue('[data-testid=live-seconds]')).toBe('10');
  expect(await page.locator('[data-testid=live-device] option').allTextContents()).toEqual(['Pick a webcam…', '/dev/video0', '/dev/video2']);
  await page.click('[data-testid=live-start]');
  await expect.poll(() => page.textContent('[data-testid=live-error]')).toBe('Enter a stream URL (rtsp://, udp:// …) or pick a webcam.');
  await page.fill('[data-testid=live-source]', 'rtsp://cam.local/stream');
  await page.fill('[data-testid=live-seconds]', '900');
  await page.click('[data-testid=live-start]');
  await expect.poll(() => page.textContent('[data-testid=live-error]')).toBe('Record between 1 and 600 seconds.');
  // The backend's refusal is shown in the dialog, which stays open.
  await page.fill('[data-testid=live-source]', 'udp://10.0.0.9:5000');
  await page.fill('[data-testid=live-seconds]', '5');
  await page.click('[data-testid=live-start]');
  await expect.poll(() => page.textContent('[data-testid=live-error]')).toContain('Connection timed out');
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, 'chromium-live-dialog.png') });
  // A webcam picked from the list fills the source; Start queues a job shown in the sidebar.
  await page.selectOption('[data-testid=live-device]', '/dev/video2');
  expect(await page.inputValue('[data-testid=live-source]')).toBe('/dev/video2');
  await page.click('[data-testid=live-start]');
  await dialog.waitFor({ state: 'detached' });
  const call = (await page.evaluate(() => window.__verityCalls)).filter((c) => c.cmd === 'start_live').at(-1);
  expect(call?.payload).toEqual({ source: '/dev/video2', seconds: 5 });
  await expect.poll(() => page.textContent('[data-testid=jobs]')).toContain('Live /dev/video2 (5 s)');
  // Escape closes it without queuing anything.
  await page.click('[data-testid=live-button]');
  await dialog.waitFor();
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'detached' });
  expect(errors).toEqual([]);
  await page.close();
});
