// Shared set-up of the browser tests: the current UI sources built into a temporary folder
// (not a possibly stale ui/dist), a mock of the Tauri IPC built into one IIFE script, both
// served over http like Tauri serves the app, and Debian's Chromium driven by playwright-core.
// Each test opens pages with `open`, which installs the mock's options and script first.
import { createServer, type Server } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { extname, join, normalize, resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import { build } from 'vite';
import { chromium, type Browser, type Page } from 'playwright-core';

export const UI = resolve(__dirname, '..');
export const SHOTS = resolve(UI, '..', 'target', 'ui-tests');
export const APP_INFO = {
  version: '0.1.0',
  device: { kind: 'cpu', name: 'CPU (2 threads)', cuda_devices: 0, threads: 2 },
};
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const TYPES: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.svg': 'image/svg+xml',
  '.woff2': 'font/woff2',
};

export interface Harness {
  browser: Browser;
  /** The built mock, for tests that check what it contains. */
  mockScript: string;
  /** A new page with `window[optionsName] = options` and the mock installed, at the app. */
  open(
    optionsName: string,
    options: unknown,
    viewport?: { width: number; height: number },
  ): Promise<{ page: Page; errors: string[] }>;
  close(): Promise<void>;
}

/** Builds the UI and the mock at `mockEntry` (a file in ui/tests/) and starts server + browser. */
export async function startHarness(mockEntry: string, mockName: string): Promise<Harness> {
  const outDir = mkdtempSync(join(tmpdir(), 'verity-ui-'));
  await build({ root: UI, logLevel: 'warn', build: { outDir, emptyOutDir: true } });
  const mock = await build({
    root: UI,
    configFile: false,
    logLevel: 'warn',
    build: {
      write: false,
      minify: false,
      lib: { entry: join(UI, 'tests', mockEntry), formats: ['iife'], name: mockName },
    },
  });
  const outputs = (Array.isArray(mock) ? mock : [mock]) as { output: { code?: string }[] }[];
  const mockScript = outputs[0].output[0].code ?? '';

  const server: Server = createServer((req, res) => {
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
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });

  return {
    browser,
    mockScript,
    async open(optionsName, options, viewport = { width: 1366, height: 768 }) {
      const page = await browser.newPage({ viewport });
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
      await page.addInitScript(
        ({ name, value }) => {
          (window as unknown as Record<string, unknown>)[name] = value;
        },
        { name: optionsName, value: options },
      );
      await page.addInitScript({ content: mockScript });
      await page.goto(baseUrl);
      return { page, errors };
    },
    async close() {
      await browser.close();
      await new Promise((ok) => server.close(ok));
      rmSync(outDir, { recursive: true, force: true });
    },
  };
}
