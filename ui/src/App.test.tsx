import { clearMocks, mockIPC } from '@tauri-apps/api/mocks';
import { render } from 'preact';
import { afterEach, beforeEach, expect, test } from 'vitest';
import { App } from './App';

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

test('cancelling the dialog leaves no pending import; choosing files lists them', async () => {
  let answer: string[] | null = null;
  let dialogs = 0;
  mockIPC((cmd) => {
    if (cmd === 'app_info') {
      return { version: '0.1.0', device: { kind: 'cpu', name: 'CPU (2 threads)', cuda_devices: 0, threads: 2 } };
    }
    dialogs += 1;
    return answer;
  });
  render(<App />, root);
  const button = await until(() => byTestId('import-button') as HTMLButtonElement | null, 'import button');
  button.click();
  await until(() => dialogs === 1 || null, 'the dialog request');
  await until(() => !button.disabled || null, 'the dialog to close');
  expect(byTestId('pending-import')).toBeNull();

  answer = ['/evidence/a.png', '/evidence/b.mov', '/evidence/notes.txt'];
  button.click();
  const notice = await until(() => byTestId('pending-import'), 'pending notice');
  expect(notice.textContent).toContain('3 files pending import');
  expect(notice.querySelectorAll('.pending-other').length).toBe(1);
  expect(byTestId('band-fake')?.querySelector('.band-count')?.textContent).toBe('0');
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
