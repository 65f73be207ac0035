// The built UI in a real browser engine (Debian's Chromium via playwright-core), served over
// http like Tauri serves it, with the Tauri IPC mocked by `mockIPC`. The real-app test under
// WebKitGTK lives in tests/e2e/.
// @vitest-environment node
import { createServer, type Server } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { extname, join, normalize, resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { build } from 'vite';
import { chromium, type Browser, type Page } from 'playwright-core';

const UI = resolve(__dirname, '..');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SHOTS = resolve(UI, '..', 'target', 'ui-tests');
const APP_INFO = {
  version: '0.1.0',
  device: { kind: 'cpu', name: 'CPU (2 threads)', cuda_devices: 0, threads: 2 },
};

const TYPES: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.svg': 'image/svg+xml',
  '.woff2': 'font/woff2',
};

let outDir: string;
let server: Server;
let baseUrl: string;
let browser: Browser;
let mockScript: string;

beforeAll(async () => {
  // Build the current sources (not a possibly stale ui/dist) into a temporary folder.
  outDir = mkdtempSync(join(tmpdir(), 'verity-ui-'));
  await build({ root: UI, logLevel: 'warn', build: { outDir, emptyOutDir: true } });
  const mock = await build({
    root: UI,
    configFile: false,
    logLevel: 'warn',
    build: {
      write: false,
      minify: false,
      lib: { entry: join(UI, 'tests', 'mock-ipc.ts'), formats: ['iife'], name: 'verityMock' },
    },
  });
  const outputs = (Array.isArray(mock) ? mock : [mock]) as { output: { code?: string }[] }[];
  mockScript = outputs[0].output[0].code ?? '';
  expect(mockScript).toContain('__TAURI_INTERNALS__');

  server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    // Browsers ask for a favicon on their own; a desktop webview does not.
    if (path === '/favicon.ico') {
      res.writeHead(204).end();
      return;
    }
    const file = normalize(join(outDir, path === '/' ? 'index.html' : path));
    if (!file.startsWith(outDir) || !existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' });
    res.end(readFileSync(file));
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
});

afterAll(async () => {
  await browser?.close();
  await new Promise((ok) => (server ? server.close(ok) : ok(undefined)));
  if (outDir) rmSync(outDir, { recursive: true, force: true });
});

async function openApp(
  picked: string[] | null,
  viewport = { width: 1366, height: 768 },
): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  await page.addInitScript(
    ({ appInfo, picked }) => {
      (window as unknown as { __verityMock: unknown }).__verityMock = { appInfo, picked };
    },
    { appInfo: APP_INFO, picked },
  );
  await page.addInitScript({ content: mockScript });
  await page.goto(baseUrl);
  return { page, errors };
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

test('Import… opens the media dialog and lists the chosen files as pending, not analysed', async () => {
  const picked = ['/evidence/interview.mp4', '/evidence/portrait.JPG'];
  const { page, errors } = await openApp(picked);
  await page.click('[data-testid=import-button]');
  const notice = page.locator('[data-testid=pending-import]');
  await notice.waitFor();
  const text = (await notice.textContent()) ?? '';
  expect(text).toContain('2 files pending import');
  expect(text).toContain('interview.mp4');
  expect(text).toContain('portrait.JPG');
  expect(text).toMatch(/analysis arrives with the detection pipeline/i);
  const calls = await page.evaluate(() => window.__verityCalls);
  const open = calls.find((c) => c.cmd === 'plugin:dialog|open');
  const options = (open?.payload as { options: { multiple: boolean; filters: { extensions: string[] }[] } }).options;
  expect(options.multiple).toBe(true);
  expect(options.filters[0].extensions).toEqual(expect.arrayContaining(['mp4', 'jpg', 'png']));
  // Still no case and no verdict: nothing was analysed.
  expect(await page.textContent('[data-testid=case-count]')).toBe('0');
  await page.click('[data-testid=theme-toggle]');
  await page.screenshot({ path: join(SHOTS, 'chromium-pending-toggled.png') });
  expect(errors).toEqual([]);
  await page.close();
});

test('fits the minimum window size (1024x640) without horizontal scrolling', async () => {
  const { page, errors } = await openApp(['/evidence/a-rather-long-file-name-from-a-camera-0001.mp4'], {
    width: 1024,
    height: 640,
  });
  await expect.poll(() => page.textContent('[data-testid=app-version]')).toBe('v0.1.0');
  await page.click('[data-testid=import-button]');
  await page.locator('[data-testid=pending-import]').waitFor();
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
