// Drives the real, built Verity Desk binary through tauri-driver (WebKitWebDriver) and checks what
// an analyst sees on first start. Started by run.sh inside xvfb-run; prints one line per check.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { remote } from 'webdriverio';

const ROOT = resolve(import.meta.dirname, '..', '..');
const BIN = process.env.VERITY_DESK_BIN;
const OUT = process.env.VERITY_E2E_OUT ?? join(ROOT, 'target', 'e2e');
const PORT = Number(process.env.TAURI_DRIVER_PORT ?? 4444);
const DEVICE = process.env.VERITY_E2E_DEVICE ?? 'CPU';
assert.ok(BIN, 'VERITY_DESK_BIN must name the built app');
mkdirSync(OUT, { recursive: true });

/** The core's version as Cargo sees it: `[workspace.package] version` of the root Cargo.toml. */
function coreVersion() {
  const toml = readFileSync(join(ROOT, 'Cargo.toml'), 'utf8');
  const section = toml.split(/^\[workspace\.package\]\s*$/m)[1] ?? '';
  const m = section.split(/^\[/m)[0].match(/^version\s*=\s*"([^"]+)"/m);
  assert.ok(m, 'no [workspace.package] version in Cargo.toml');
  return m[1];
}

async function waitForDriver() {
  for (let i = 0; i < 100; i++) {
    try {
      const r = await fetch(`http://127.0.0.1:${PORT}/status`);
      if (r.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`tauri-driver did not listen on port ${PORT}`);
}

const results = [];
async function check(name, fn) {
  const t = Date.now();
  try {
    await fn();
    results.push({ name, ok: true });
    console.log(`ok   ${name} (${Date.now() - t} ms)`);
  } catch (e) {
    results.push({ name, ok: false });
    console.log(`FAIL ${name}\n     ${String(e?.message ?? e).split('\n').join('\n     ')}`);
  }
}

await waitForDriver();
const t0 = Date.now();
const browser = await remote({
  hostname: '127.0.0.1',
  port: PORT,
  logLevel: 'warn',
  connectionRetryCount: 0,
  capabilities: {
    browserName: 'wry',
    'wdio:enforceWebDriverClassic': true,
    'tauri:options': { application: BIN },
  },
});
console.log(`app started in ${Date.now() - t0} ms`);

const text = async (testid) => (await browser.$(`[data-testid="${testid}"]`)).getText();
// The version appears once app_info has answered; everything else waits on that.
await browser.$('[data-testid="app-version"]').waitForExist({ timeout: 30_000 }).catch(() => {});

try {
  await check('window shows the product name "Verity Desk"', async () => {
    assert.equal(await browser.getTitle(), 'Verity Desk');
    assert.equal(await text('product-name'), 'Verity Desk');
  });

  await check("top bar shows the core's version", async () => {
    assert.equal(await text('app-version'), `v${coreVersion()}`);
  });

  await check(`top bar shows the compute device (${DEVICE})`, async () => {
    const device = await text('device');
    assert.ok(device.startsWith(DEVICE), `device chip reads ${JSON.stringify(device)}`);
    const name = await text('device-name');
    assert.match(name, DEVICE === 'CPU' ? /^CPU \(\d+ threads\)$/ : /^CUDA: /);
  });

  await check('case list is empty and every band counts 0', async () => {
    assert.equal(await text('case-empty'), 'No cases yet — import an image or video');
    assert.equal(await text('case-count'), '0');
    for (const band of ['fake', 'review', 'real']) {
      const count = await (await browser.$(`[data-testid="band-${band}"] .band-count`)).getText();
      assert.equal(count, '0', `band ${band}`);
    }
  });

  await check('bundled assets load under the strict CSP (font, logo, stylesheet)', async () => {
    const state = await browser.execute(async () => {
      await document.fonts.ready;
      const logo = document.querySelector('.brand-logo');
      return {
        font: document.fonts.check('14px "Inter Variable"'),
        logo: logo instanceof HTMLImageElement && logo.complete && logo.naturalWidth > 0,
        grid: getComputedStyle(document.querySelector('.app')).display,
        protocol: location.protocol,
      };
    });
    assert.deepEqual(
      { font: state.font, logo: state.logo, grid: state.grid },
      { font: true, logo: true, grid: 'grid' },
      `served from ${state.protocol}`,
    );
    // The embedded bundle, not a dev server.
    assert.notEqual(state.protocol, 'http:');
  });

  await check('the page cannot import a file that was neither picked, dropped nor under the allowed folder', async () => {
    const outcome = await browser.execute(() =>
      window.__TAURI_INTERNALS__.invoke('import', { paths: ['/etc/hostname'] }).then(
        () => 'imported',
        (e) => JSON.stringify(e),
      ),
    );
    assert.match(outcome, /etc\/hostname.*was not chosen in the Import dialog or dropped on the window/);
    assert.equal(await text('case-count'), '0');
  });

  // A real import through the real worker: the page calls the `import` command itself (native
  // dialogs and OS drag-and-drop cannot be driven by WebDriver; run.sh allows its own folder
  // through VERITY_DESK_IMPORT_ROOTS). Without detector weights the
  // honest result is "not scored", with the face still found and stored.
  await check('importing a generated photo ends in an honest "not scored" case', async () => {
    const media = process.env.VERITY_E2E_MEDIA;
    assert.ok(media, 'VERITY_E2E_MEDIA must name the photo to import');
    const jobs = await browser.execute((p) => window.__TAURI_INTERNALS__.invoke('import', { paths: [p] }), media);
    assert.equal(jobs.length, 1);
    const verdict = await browser.$('[data-testid="verdict"]');
    await verdict.waitForExist({ timeout: 180_000 });
    await browser.waitUntil(async () => (await verdict.getText()) === 'Not scored', {
      timeout: 180_000,
      timeoutMsg: 'the case never reached a result',
    });
    assert.match(await text('not-scored'), /verity models fetch gend-clip-l14/);
    assert.equal(await text('case-count'), '1');
    assert.equal(await (await browser.$('[data-testid="band-not_scored"] .band-count')).getText(), '1');
    await browser.waitUntil(async () => (await browser.$$('[data-testid="gallery"] img')).length === 1, {
      timeout: 20_000,
      timeoutMsg: 'the face crop did not show',
    });
    // The crop and the photo come through the core's verity: scheme (no base64 in JSON) and
    // really load under the CSP.
    await browser.waitUntil(
      async () =>
        browser.execute(() =>
          [...document.querySelectorAll('[data-testid="gallery"] img, [data-testid="media-image"]')].every(
            (i) => /^(verity:\/\/localhost|http:\/\/verity\.localhost)\//.test(i.src) && i.complete && i.naturalWidth > 0,
          ) && document.querySelectorAll('[data-testid="gallery"] img, [data-testid="media-image"]').length === 2,
        ),
      { timeout: 20_000, timeoutMsg: 'the face crop or the photo did not load through the verity: scheme' },
    );
    const history = await text('history');
    assert.match(history, /imported the media/);
    assert.match(history, /finished the analysis: not scored/);
  });

  // Provenance is read at import (verity::provenance) and shown beside, never inside, the
  // detector's score: the JPEG's File and JPEG sections, and no other case seen yet.
  await check('the Provenance panel shows the JPEG\'s File and JPEG sections; nothing seen before', async () => {
    const panel = await browser.$('[data-testid="provenance-panel"]');
    await panel.waitForExist({ timeout: 30_000 });
    await browser.waitUntil(async () => (await browser.$$('[data-testid="prov-section"]')).length > 0, {
      timeout: 30_000,
      timeoutMsg: `no provenance sections: ${JSON.stringify(await panel.getText())}`,
    });
    const sections = await browser.execute(() =>
      Object.fromEntries(
        [...document.querySelectorAll('[data-testid="prov-section"]')].map((s) => [
          s.dataset.title,
          [...s.querySelectorAll('dt')].map((d) => d.textContent),
        ]),
      ),
    );
    assert.ok(sections.File && sections.JPEG, `sections: ${JSON.stringify(sections)}`);
    assert.ok(sections.File.includes('Size'), `File rows: ${JSON.stringify(sections.File)}`);
    assert.ok(sections.JPEG.includes('Quantisation tables'), `JPEG rows: ${JSON.stringify(sections.JPEG)}`);
    assert.equal((await browser.$$('[data-testid="provenance-error"]')).length, 0);
    assert.equal((await browser.$$('[data-testid="provenance-empty"]')).length, 0);
    // run.sh wrote a camera EXIF block edited in Photoshop, with a GPS position (exif.mjs).
    assert.ok(sections.EXIF, `no EXIF section: ${JSON.stringify(sections)}`);
    const chips = await browser.execute(() =>
      [...document.querySelectorAll('[data-testid="provenance-signals"] [data-testid="signal"]')].map((c) => c.textContent),
    );
    assert.ok(chips.some((c) => /Photoshop/.test(c) && /EXIF Software/.test(c)), `signals: ${JSON.stringify(chips)}`);
    // The GPS position is private: hidden until the analyst asks.
    assert.doesNotMatch(await panel.getText(), /48\.8583/);
    await (await browser.$('[data-testid="show-private"]')).click();
    await browser.waitUntil(async () => /48\.8583\d*, 2\.2944/.test(await panel.getText()), {
      timeout: 5_000,
      timeoutMsg: `the GPS position did not show: ${JSON.stringify(await panel.getText())}`,
    });
    // The first case of a fresh desk: compared, and seen nowhere else.
    await (await browser.$('[data-testid="seen-none"]')).waitForExist({
      timeout: 10_000,
      timeoutMsg: `no "not seen" line: ${JSON.stringify(await (await browser.$('[data-testid="seen-before"]')).getText())}`,
    });
    assert.equal(await text('seen-none'), 'Not seen in any other case');
    // The score line is the detector's alone.
    assert.equal(await text('verdict'), 'Not scored');
    await (await browser.$('[data-testid="case-title"]')).scrollIntoView();
    await browser.pause(600);
    await browser.saveScreenshot(join(OUT, 'provenance-signals.png'));
    await panel.scrollIntoView();
    await browser.pause(600);
    await browser.saveScreenshot(join(OUT, 'provenance.png'));
    await (await browser.$('[data-testid="show-private"]')).click();
    await (await browser.$('[data-testid="case-title"]')).scrollIntoView();
  });

  await check('the case exports as a self-contained HTML report, as JSON and as PDF', async () => {
    // The webview may only have reports written where the save dialog pointed or inside the
    // data folder (the native dialog cannot be driven here).
    const dir = join(process.env.VERITY_DATA_DIR, 'reports');
    for (const format of ['html', 'json']) {
      const path = join(dir, `case.${format}`);
      await browser.execute(
        (f, p) => window.__TAURI_INTERNALS__.invoke('export_report', { caseId: 1, format: f, path: p }),
        format,
        path,
      );
      const body = readFileSync(path, 'utf8');
      if (format === 'html') {
        assert.match(body, /Verdict: not scored/);
        assert.match(body, /verity models fetch gend-clip-l14/);
        assert.match(body, /data:image\/png;base64,/);
      } else {
        assert.equal(JSON.parse(body).verdict, 'not scored');
      }
    }
    // PDF: the same HTML printed by headless Chromium (installed by scripts/setup.sh).
    const pdf = join(dir, 'case.pdf');
    await browser.execute(
      (p) => window.__TAURI_INTERNALS__.invoke('export_report', { caseId: 1, format: 'pdf', path: p }),
      pdf,
    );
    assert.equal(readFileSync(pdf).subarray(0, 5).toString('latin1'), '%PDF-');
  });

  // Explain without weights: the artifact views are computed for real by the core on a
  // blocking thread; Grad-CAM is absent and the case view says why instead of faking a picture.
  await check('Explain renders the four artifact views and says Grad-CAM needs weights', async () => {
    await (await browser.$('[data-testid="explain"]')).click();
    const views = await browser.$('[data-testid="artifact-views"]');
    await views.waitForExist({ timeout: 300_000, timeoutMsg: 'no artifact views after Explain' });
    const figures = await browser.$$('[data-testid="artifact-views"] figure');
    assert.equal(figures.length, 4);
    const loaded = await browser.execute(() =>
      [...document.querySelectorAll('[data-testid="artifact-views"] img')].map(
        (i) => i.src.startsWith('data:image/png;base64,') && i.complete && i.naturalWidth > 0,
      ),
    );
    assert.deepEqual(loaded, [true, true, true, true]);
    const captions = await views.getText();
    for (const t of ['noise', 'spectrum', 'error', 'bound']) assert.match(captions.toLowerCase(), new RegExp(t));
    assert.match(await text('gradcam-note'), /Grad-CAM needs detector weights/);
    await (await browser.$('[data-testid="overlay-toggle"]')).click();
    assert.match(await text('overlay-not-computed'), /Grad-CAM needs detector weights/);
    assert.equal((await browser.$$('[data-testid="heat-overlay"]')).length, 0);
    await (await browser.$('[data-testid="artifact-panel"]')).scrollIntoView();
    await browser.pause(600);
    await browser.saveScreenshot(join(OUT, 'explain.png'));
    await (await browser.$('[data-testid="overlay-toggle"]')).click();
    await (await browser.$('[data-testid="case-title"]')).scrollIntoView();
  });

  const shot = async (name) => {
    await browser.pause(600); // let a frame with the final layout reach the screen
    await browser.saveScreenshot(join(OUT, `${name}.png`));
  };
  await check('screenshots of the case view, review queue and settings, in both themes', async () => {
    for (let i = 0; i < 2; i++) {
      const theme = await browser.execute(() => document.documentElement.dataset.theme);
      await shot(`case-view-${theme}`);
      await (await browser.$('[data-testid="tab-review"]')).click();
      await (await browser.$('[data-testid="queue-count"]')).waitForExist({ timeout: 10_000 });
      await shot(`review-queue-${theme}`);
      await (await browser.$('[data-testid="tab-settings"]')).click();
      await (await browser.$('[data-testid="settings"]')).waitForExist({ timeout: 10_000 });
      await shot(`settings-${theme}`);
      await (await browser.$('[data-testid="tab-cases"]')).click();
      await (await browser.$('[data-testid="case-view"]')).waitForExist({ timeout: 10_000 });
      await browser.execute(() => document.querySelector('[data-testid="theme-toggle"]').click());
      await browser.waitUntil(async () => (await browser.execute(() => document.documentElement.dataset.theme)) !== theme, {
        timeout: 5_000,
        timeoutMsg: 'the theme toggle did nothing',
      });
    }
  });

  // Screenshots: WebDriver's view of the page and the X screen itself, in both themes.
  await check('screenshots of both themes', async () => {
    for (let i = 0; i < 2; i++) {
      const theme = await browser.execute(() => document.documentElement.dataset.theme);
      await browser.pause(600); // let a frame with the final layout reach the screen
      await browser.saveScreenshot(join(OUT, `window-${theme}.png`));
      execFileSync('import', ['-window', 'root', join(OUT, `root-${theme}.png`)]);
      await (await browser.$('[data-testid="theme-toggle"]')).click();
      await browser.waitUntil(
        async () => (await browser.execute(() => document.documentElement.dataset.theme)) !== theme,
        { timeout: 5_000, timeoutMsg: 'the theme toggle did nothing' },
      );
    }
  });

  // The player on a scored (UNTRAINED) video case: switch the profile through the real settings
  // command, import the AVI, click a timeline point, and check that the player and the gallery
  // follow; screenshots for the docs in both themes, then the live-source dialog.
  const shotTo = async (name) => {
    await browser.pause(800); // let a frame with the final layout reach the screen
    await browser.saveScreenshot(join(OUT, `${name}.png`));
  };
  await check('a video case scored by an UNTRAINED profile plays any frame and follows timeline clicks', async () => {
    const video = process.env.VERITY_E2E_VIDEO;
    const profile = process.env.VERITY_E2E_PROFILE;
    assert.ok(video && profile, 'VERITY_E2E_VIDEO and VERITY_E2E_PROFILE must be set');
    await browser.execute(async (name) => {
      const invoke = window.__TAURI_INTERNALS__.invoke;
      const view = await invoke('get_settings', {});
      await invoke('save_settings', { settings: { ...view.settings, profile: name } });
    }, profile);
    await browser.execute((p) => window.__TAURI_INTERNALS__.invoke('import', { paths: [p] }), video);
    await (await browser.$('[data-testid="tab-cases"]')).click();
    const item = await browser.$('[data-testid="case-2"]');
    await item.waitForExist({ timeout: 30_000 });
    await item.click();
    await (await browser.$('[data-testid="untrained-badge"]')).waitForExist({
      timeout: 300_000,
      interval: 1000,
      timeoutMsg: `the video case never got an (untrained) score: ${await text('verdict').catch(() => '?')}`,
    });
    assert.match(await text('untrained-badge'), /UNTRAINED/);
    // A band is never bare when the case has a scope warning (this 320² clip's face is small).
    assert.match(
      await text('verdict'),
      /^(Likely fake|Needs review|Likely real) · \d\.\d{3}( — outside the detector's scope: [a-z, -]+)?$/,
    );
    // The scope list stands beside the verdict; without a CLIP base the non-photographic
    // check is listed as not checked.
    assert.match(await text('scope-non_photographic_not_checked'), /not checked \(CLIP base not installed\)/);
    // The player decodes frames of an AVI the webview itself cannot play.
    const frameImg = await browser.$('[data-testid="player-frame"]');
    await frameImg.waitForExist({ timeout: 30_000 });
    assert.match(await text('player-time'), /^0:00\.00 \/ 0:03\.00 · frame 0\/74$/);
    const marks = await browser.$$('.scrub-marks .mark');
    assert.ok(marks.length >= 14, `${marks.length} sampled-frame marks`);
    // Scrub to a frame the analysis never sampled.
    await browser.execute(() => {
      const r = document.querySelector('[data-testid="player-scrub"]');
      r.value = '37';
      r.dispatchEvent(new Event('input', { bubbles: true }));
    });
    await browser.waitUntil(async () => (await text('player-time')).endsWith('frame 37/74'), { timeout: 20_000, timeoutMsg: 'scrub did not seek' });
    // A timeline point: the nearest sampled frame is selected, the player seeks to it and the
    // face gallery shows only that frame's faces.
    const over = await browser.$('[data-testid="timeline"] .u-over');
    await over.waitForExist({ timeout: 20_000 });
    const box = await over.getSize();
    await over.click({ x: Math.round(box.width * 0.25), y: 0 });
    await browser.waitUntil(async () => !(await text('player-time')).endsWith('frame 37/74'), {
      timeout: 20_000,
      timeoutMsg: 'the timeline click did not seek the player',
    });
    const title = await browser.execute(() => [...document.querySelectorAll('h3.panel-title')].map((h) => h.textContent).find((t) => t.startsWith('Faces')) ?? '');
    const picked = Number(title.match(/· frame (\d+)/)?.[1]);
    assert.ok(Number.isInteger(picked), `gallery title ${JSON.stringify(title)} names the frame`);
    const shown = Number((await text('player-time')).match(/frame (\d+)\//)[1]);
    // Frames are numbered as in the source everywhere (sampled at 5 fps from 25 fps, so the
    // picked frame is a multiple of 5): the gallery and the player agree.
    assert.equal(shown, picked, `player frame ${shown}, gallery frame ${picked}`);
    assert.equal(picked % 5, 0, `sampled frame ${picked} is a multiple of 5`);
    const captions = await browser.execute(() => [...document.querySelectorAll('[data-testid="gallery"] figcaption span')].map((s) => s.textContent));
    assert.ok(captions.length >= 1 && captions.every((c) => c.startsWith(`f${picked} `)), JSON.stringify(captions));
    await (await browser.$('[data-testid="case-title"]')).scrollIntoView();
    const theme = await browser.execute(() => document.documentElement.dataset.theme);
    await shotTo(`case-video-${theme}`);
    const toggle = () => browser.execute(() => document.querySelector('[data-testid="theme-toggle"]').click());
    await toggle();
    await browser.waitUntil(async () => (await browser.execute(() => document.documentElement.dataset.theme)) !== theme, {
      timeout: 5_000,
      timeoutMsg: 'the theme toggle did nothing',
    });
    const other = await browser.execute(() => document.documentElement.dataset.theme);
    await shotTo(`case-video-${other}`);
    await toggle();
  });

  await check('face boxes lie on the player frame with track colour and score; ? shows the shortcut sheet', async () => {
    // The player shows the sampled frame picked on the timeline: its faces are boxed.
    await (await browser.$('[data-testid="facebox-toggle"]')).click();
    const first = await browser.$('[data-testid="face-box"]');
    await first.waitForExist({ timeout: 20_000, timeoutMsg: `no face box: ${await text('facebox-note').catch(() => '?')}` });
    const geo = await browser.execute(() => {
      const img = document.querySelector('[data-testid="player-frame"]').getBoundingClientRect();
      return [...document.querySelectorAll('[data-testid="face-box"]')].map((b) => {
        const r = b.getBoundingClientRect();
        return {
          inside: r.left >= img.left - 1 && r.right <= img.right + 1 && r.top >= img.top - 1 && r.bottom <= img.bottom + 1,
          label: b.querySelector('.face-label').textContent,
          colour: getComputedStyle(b).borderTopColor,
          w: r.width,
        };
      });
    });
    assert.ok(geo.length >= 1, JSON.stringify(geo));
    for (const g of geo) {
      assert.ok(g.inside && g.w > 4, `box inside the frame: ${JSON.stringify(g)}`);
      assert.match(g.label, /^t\d+ · \d\.\d{3}$/);
    }
    await first.moveTo();
    await browser.waitUntil(async () => (await (await browser.$('[data-testid="face-landmark"]')).isDisplayed()), {
      timeout: 5_000,
      timeoutMsg: 'hovering a box does not show its landmarks',
    });
    await (await browser.$('[data-testid="case-title"]')).scrollIntoView();
    await shotTo('case-video-faceboxes');
    await (await browser.$('[data-testid="facebox-toggle"]')).click();
    // `?` opens the keyboard-shortcut sheet; Esc closes it.
    await (await browser.$('[data-testid="case-title"]')).click();
    await browser.keys(['?']);
    const sheet = await browser.$('[data-testid="shortcut-sheet"]');
    await sheet.waitForExist({ timeout: 5_000, timeoutMsg: '? did not open the shortcut sheet' });
    const rows = await browser.execute(() => document.querySelectorAll('[data-testid="shortcut"]').length);
    assert.ok(rows >= 10, `${rows} shortcuts listed`);
    await shotTo('shortcut-sheet');
    await browser.keys(['Escape']);
    await sheet.waitForExist({ reverse: true, timeout: 5_000, timeoutMsg: 'Esc did not close the sheet' });
  });

  await check('Explain on the video lays the Grad-CAM heat map over the player at the explained frame', async () => {
    await (await browser.$('[data-testid="overlay-toggle"]')).click();
    await (await browser.$('[data-testid="explain"]')).click();
    const heat = await browser.$('[data-testid="heat-overlay"]');
    await heat.waitForExist({ timeout: 300_000, timeoutMsg: 'no heat map over the player after Explain' });
    const done = await text('explain-done');
    const explained = Number(done.match(/Explained frame (\d+)/)?.[1]);
    assert.ok(Number.isInteger(explained), done);
    assert.ok((await heat.getAttribute('alt')).endsWith(`, frame ${explained}`), await heat.getAttribute('alt'));
    // The button, the banner and the player all number frames as in the source (5 fps of 25).
    assert.match(await text('player-time'), new RegExp(`frame ${explained}/74$`));
    assert.equal(explained % 5, 0, `explained frame ${explained} is a sampled one`);
    // One frame on, the map no longer belongs to the picture: a link leads back.
    await (await browser.$('[data-testid="player-next"]')).click();
    const elsewhere = await browser.$('[data-testid="overlay-elsewhere"]');
    await elsewhere.waitForExist({ timeout: 20_000 });
    await (await browser.$('[data-testid="overlay-jump"]')).click();
    await heat.waitForExist({ timeout: 20_000 });
    await (await browser.$('[data-testid="case-title"]')).scrollIntoView();
    await shotTo('case-video-overlay');
    await (await browser.$('[data-testid="overlay-toggle"]')).click();
  });

  await check('the track charts are drawn from the stored series and a click seeks the player', async () => {
    const chart = await browser.$('[data-testid="chart-temporal"]');
    await chart.waitForExist({ timeout: 30_000 }).catch(async () => {
      const panel = await browser.execute(() => document.querySelector('[data-testid="track-panel"]')?.innerHTML.slice(0, 600) ?? 'no track panel');
      throw new Error(`no temporal chart after Explain: ${panel}`);
    });
    const samples = Number(await chart.getAttribute('data-samples'));
    assert.ok(samples >= 10, `${samples} samples in the temporal chart`);
    const counts = await browser.execute(() =>
      ['temporal', 'blink'].map((k) => document.querySelectorAll(`[data-testid="chart-${k}"] .series-chart-panel canvas`).length),
    );
    assert.deepEqual(counts, [3, 1], 'three temporal panels and one blink panel, drawn');
    assert.equal(await browser.execute(() => document.querySelectorAll('[data-testid="track-panel"] img').length), 0, 'no picture');
    const over = await browser.$('[data-testid="chart-temporal"] [data-panel="score"] .u-over');
    await over.scrollIntoView({ block: 'center' });
    const box = await over.getSize();
    await over.click({ x: Math.round(box.width * 0.3), y: 0 });
    const legend = () => browser.execute(() => document.querySelector('[data-testid="chart-temporal"] [data-panel="score"] .u-legend')?.textContent ?? '');
    await browser.waitUntil(async () => /frame \d+ · [\d.]+ s/.test(await legend()), { timeout: 10_000, timeoutMsg: 'hover shows no frame' });
    const picked = Number((await legend()).match(/frame (\d+) ·/)[1]);
    assert.equal(picked % 5, 0, `chart frame ${picked} is a sampled one`);
    await browser.waitUntil(async () => (await text('player-time')).endsWith(`frame ${picked}/74`), {
      timeout: 20_000,
      timeoutMsg: `the chart click did not seek the player to frame ${picked}: ${await text('player-time')}`,
    });
    await shotTo('case-video-charts');
  });

  await check('the live-source dialog opens, validates and closes', async () => {
    await (await browser.$('[data-testid="live-button"]')).click();
    const dialog = await browser.$('[data-testid="live-dialog"]');
    await dialog.waitForExist({ timeout: 10_000 });
    await browser.waitUntil(async () => (await (await browser.$('[data-testid="live-seconds"]')).getValue()) === '10', { timeout: 10_000 });
    await (await browser.$('[data-testid="live-source"]')).setValue('rtsp://192.168.1.64:554/Streaming/Channels/101');
    await shotTo('live-dialog');
    await (await browser.$('[data-testid="live-seconds"]')).setValue('0');
    await (await browser.$('[data-testid="live-start"]')).click();
    await browser.waitUntil(async () => (await text('live-error')) === 'Record between 1 and 600 seconds.', { timeout: 5_000 });
    await (await browser.$('[data-testid="live-cancel"]')).click();
    await dialog.waitForExist({ reverse: true, timeout: 5_000 });
  });

  await check('retrain from reviews: 4 fake + 4 real decisions → candidate with before/after metrics → Accept selects it', async () => {
    const dir = process.env.VERITY_E2E_TRAIN;
    assert.ok(dir, 'VERITY_E2E_TRAIN must be set');
    const paths = readdirSync(dir).sort().map((f) => join(dir, f));
    assert.equal(paths.length, 8);
    await browser.execute(async (ps) => {
      const invoke = window.__TAURI_INTERNALS__.invoke;
      const view = await invoke('get_settings', {});
      await invoke('save_settings', { settings: { ...view.settings, analyst: 'E2E Analyst' } });
      await invoke('import', { paths: ps });
    }, paths);
    const photos = async () =>
      (await browser.execute(() => window.__TAURI_INTERNALS__.invoke('list_cases', { filter: null }))).filter((c) => c.title.startsWith('photo-'));
    await browser.waitUntil(async () => {
      const cs = await photos();
      return cs.length === 8 && cs.every((c) => c.status === 'done');
    }, { timeout: 300_000, interval: 1000, timeoutMsg: 'the eight photos were not all scored' });
    const cases = (await photos()).sort((a, b) => a.title.localeCompare(b.title));
    for (const [i, c] of cases.entries()) {
      await browser.execute(
        (id, v) => window.__TAURI_INTERNALS__.invoke('review', { caseId: id, verdict: v, note: 'e2e label' }),
        c.id,
        i < 4 ? 'fake' : 'real',
      );
    }
    await (await browser.$('[data-testid="tab-retrain"]')).click();
    await browser.waitUntil(async () => (await text('retrain-fake')).startsWith('4') && (await text('retrain-real')).startsWith('4'), {
      timeout: 20_000,
      timeoutMsg: 'the Retrain tab does not count 4 fake and 4 real cases',
    });
    // The folder e2e-untrained holds a `models random --preset tiny` profile named tiny-untrained.
    assert.equal(await text('retrain-parent'), 'tiny-untrained');
    await (await browser.$('[data-testid="retrain-start"]')).click();
    await (await browser.$('[data-testid="retrain-result"]')).waitForExist({
      timeout: 300_000,
      interval: 1000,
      timeoutMsg: `no retrain result: ${await text('retrain-error').catch(() => 'no error shown')}`,
    });
    for (const m of ['auc', 'eer', 'accuracy', 'ece']) assert.ok(await (await browser.$(`[data-testid="metric-${m}"]`)).isExisting(), `metric ${m}`);
    const before = await browser.execute(async () => (await window.__TAURI_INTERNALS__.invoke('get_settings', {})).settings.profile);
    assert.equal(before, process.env.VERITY_E2E_PROFILE, 'nothing changes before Accept');
    assert.match(await text('retrain-untrained'), /UNTRAINED/);
    await shotTo('retrain-result-real');
    const accept = await browser.$('[data-testid="retrain-accept"]');
    await accept.scrollIntoView({ block: 'center' });
    await accept.click();
    await browser.waitUntil(
      async () => (await browser.execute(async () => (await window.__TAURI_INTERNALS__.invoke('get_settings', {})).settings.profile)) !== before,
      { timeout: 30_000, timeoutMsg: 'Accept did not select the new profile' },
    );
    const after = await browser.execute(async () => (await window.__TAURI_INTERNALS__.invoke('get_settings', {})).settings.profile);
    // The parent holds random weights, so the fine-tuned child stays labelled untrained.
    assert.match(after, /^tiny-reviews-\d{8}-\d{6}-\d{3}-untrained$/);
    // Settings lists the installed profiles and shows the accepted one as selected.
    await (await browser.$('[data-testid="tab-settings"]')).click();
    const select = await browser.$('[data-testid="set-profile"]');
    await select.waitForExist({ timeout: 10_000 });
    await browser.waitUntil(async () => (await select.getValue()) === after, { timeout: 10_000, timeoutMsg: 'Settings does not show the accepted profile' });
    const options = await browser.execute(() => [...document.querySelectorAll('[data-testid="set-profile"] option')].map((o) => o.textContent));
    assert.ok(options.includes('e2e-untrained — UNTRAINED') && options.includes(`${after} — UNTRAINED`), JSON.stringify(options));
    await shotTo('settings-profiles');
  });

  // The eight photos above are flips, scales and tints of the first case's picture: a rescaled
  // one has a near-identical perceptual hash, so the first case is listed as seen before.
  await check('seen before: a rescaled copy of the photo lists the first case, and its link opens it', async () => {
    const cases = await browser.execute(() => window.__TAURI_INTERNALS__.invoke('list_cases', { filter: null }));
    const copy = cases.find((c) => c.title === 'photo-1.png');
    assert.ok(copy, `no photo-1.png among ${JSON.stringify(cases.map((c) => c.title))}`);
    await (await browser.$('[data-testid="tab-cases"]')).click();
    await (await browser.$(`[data-testid="case-${copy.id}"]`)).click();
    await browser.waitUntil(async () => (await text('case-title')) === 'photo-1.png', { timeout: 20_000 });
    const row = await browser.$('[data-testid="seen-frame"][data-case="1"]');
    await row.waitForExist({
      timeout: 30_000,
      timeoutMsg: `case 1 not listed: ${JSON.stringify(await (await browser.$('[data-testid="seen-before"]')).getText().catch(() => '?'))}`,
    });
    // textContent: WebKitWebDriver's visible-text atom leaves out the ellipsised title.
    const rowText = await browser.execute(() => document.querySelector('[data-testid="seen-frame"][data-case="1"]').textContent);
    assert.match(rowText, /^suspect-photo\.jpgCase 1 · .* · (identical frame hash|near-identical frame, Hamming distance \d+ bits?)Open case 1/);
    const chips = await browser.execute(() => [...document.querySelectorAll('[data-testid="signal"]')].map((c) => c.textContent));
    assert.ok(chips.some((c) => /seen in case #1 /.test(c) && /perceptual hash/.test(c)), `signals: ${JSON.stringify(chips)}`);
    // The other case's photo loads through the verity: scheme.
    await browser.waitUntil(
      async () => browser.execute(() => {
        const img = document.querySelector('[data-testid="seen-frame"][data-case="1"] img');
        return !!img && img.complete && img.naturalWidth > 0;
      }),
      { timeout: 20_000, timeoutMsg: 'the seen-before picture did not load' },
    );
    await row.scrollIntoView({ block: 'center' });
    await shotTo('provenance-seen-before');
    await (await row.$('[data-testid="seen-open"]')).click();
    await browser.waitUntil(async () => (await text('case-title')) === 'suspect-photo.jpg', {
      timeout: 20_000,
      timeoutMsg: 'the seen-before link did not open case 1',
    });
  });
} finally {
  await browser.deleteSession().catch(() => {});
}

const failed = results.filter((r) => !r.ok).length;
console.log(`${results.length - failed} passed, ${failed} failed; screenshots in ${OUT}`);
process.exit(failed ? 1 : 0);
