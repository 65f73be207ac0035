import { clearMocks, mockIPC } from '@tauri-apps/api/mocks';
import { render } from 'preact';
import { afterEach, beforeEach, expect, test } from 'vitest';
import { App, applyEvent } from './App';

let root: HTMLElement;

beforeEach(() => {
  localStorage.clear();
  root = document.createElement('div');
  document.body.appendChild(root);
});

afterEach(() => {
  render(null, root);
  root.remove();
  clearMocks();
});

const byTestId = (id: string) => root.querySelector(`[data-testid="${id}"]`);

async function until<T>(probe: () => T | null | undefined, what: string): Promise<T> {
  for (let i = 0; i < 100; i++) {
    const v = probe();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

test('shows the version and a GPU device from app_info', async () => {
  mockIPC((cmd) =>
    cmd === 'app_info'
      ? { version: '9.8.7', device: { kind: 'cuda', name: 'CUDA: NVIDIA H200', cuda_devices: 1, threads: 16 } }
      : null,
  );
  render(<App />, root);
  const version = await until(() => byTestId('app-version'), 'version');
  expect(version.textContent).toBe('v9.8.7');
  expect(byTestId('device')?.textContent).toBe('GPU · NVIDIA H200');
  expect(byTestId('case-empty')?.textContent).toContain('No cases yet — import an image or video');
});

test('an app_info failure is shown, not hidden', async () => {
  mockIPC(() => {
    throw { code: 'torch', message: 'libtorch: could not initialise' };
  });
  render(<App />, root);
  const chip = await until(() => byTestId('device-error'), 'device error');
  expect(chip.getAttribute('title')).toBe('libtorch: could not initialise');
  expect(byTestId('app-version')).toBeNull();
});

test('cancelling the dialog imports nothing; choosing files sends them to the import command', async () => {
  let answer: string[] | null = null;
  const imported: unknown[] = [];
  mockIPC((cmd, payload) => {
    if (cmd === 'app_info') {
      return { version: '0.1.0', device: { kind: 'cpu', name: 'CPU (2 threads)', cuda_devices: 0, threads: 2 } };
    }
    if (cmd === 'pick_media_paths') return answer ?? [];
    if (cmd === 'import') {
      imported.push(payload);
      return [1, 2];
    }
    if (cmd === 'list_cases') return [];
    if (cmd === 'counts') return {};
    return null;
  });
  render(<App />, root);
  const button = await until(() => byTestId('import-button') as HTMLButtonElement | null, 'import button');
  button.click();
  await new Promise((r) => setTimeout(r, 50));
  await until(() => !button.disabled || null, 'the dialog to close');
  expect(imported).toEqual([]);

  answer = ['/evidence/a.png', '/evidence/b.mov'];
  button.click();
  await until(() => imported.length === 1 || null, 'the import call');
  expect(imported[0]).toEqual({ paths: ['/evidence/a.png', '/evidence/b.mov'] });
  expect(byTestId('band-fake')?.querySelector('.band-count')?.textContent).toBe('0');
});

test('worker events become job progress and leave the list when the job ends', () => {
  let jobs = applyEvent([], { event: 'queued', job: 7, label: 'clip.mp4', case_id: null, position: 1 });
  expect(jobs[0]).toMatchObject({ job: 7, phase: 'queued', caseId: null });
  jobs = applyEvent(jobs, { event: 'loading_models', job: 7 });
  expect(jobs[0].phase).toBe('loading');
  jobs = applyEvent(jobs, { event: 'imported', job: 7, case_id: 3, existing: false, title: 'clip.mp4' });
  jobs = applyEvent(jobs, {
    event: 'progress', job: 7, case_id: 3, frames_decoded: 10, faces_found: 9, faces_scored: 8,
    frames_estimate: 40, elapsed_s: 2, eta_s: 6,
  });
  expect(jobs[0]).toMatchObject({ caseId: 3, phase: 'running', decoded: 10, faces: 9, scored: 8, estimate: 40, eta: 6 });
  expect(applyEvent(jobs, { event: 'cancelled', job: 7, case_id: 3 })).toEqual([]);
  expect(applyEvent(jobs, { event: 'failed', job: 8, case_id: null, label: 'x', code: 'input', message: 'm' })).toEqual(jobs);
});

test('the theme toggle switches and remembers the theme', async () => {
  mockIPC(() => null);
  render(<App />, root);
  const toggle = await until(() => byTestId('theme-toggle') as HTMLButtonElement | null, 'toggle');
  const before = document.documentElement.dataset.theme;
  toggle.click();
  await until(() => document.documentElement.dataset.theme !== before || null, 'theme change');
  expect(localStorage.getItem('verity.theme')).toBe(document.documentElement.dataset.theme);
});
