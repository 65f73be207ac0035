import { clearMocks, mockIPC } from '@tauri-apps/api/mocks';
import { afterEach, expect, test } from 'vitest';
import { ApiError, appInfo, faceImage, mediaImage, pickFolder, pickMedia, pictureUrl, toApiError } from './api';

afterEach(() => clearMocks());

const INFO = { version: '0.1.0', device: { kind: 'cpu', name: 'CPU (4 threads)', cuda_devices: 0, threads: 4 } };

test('appInfo invokes app_info and returns its payload', async () => {
  const calls: string[] = [];
  mockIPC((cmd) => {
    calls.push(cmd);
    return cmd === 'app_info' ? INFO : undefined;
  });
  await expect(appInfo()).resolves.toEqual(INFO);
  expect(calls).toEqual(['app_info']);
});

test('a backend { code, message } rejection becomes an ApiError with that code', async () => {
  mockIPC(() => {
    throw { code: 'weights', message: 'model weights: clip.safetensors missing' };
  });
  const err = await appInfo().catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ApiError);
  expect((err as ApiError).code).toBe('weights');
  expect((err as ApiError).message).toBe('model weights: clip.safetensors missing');
});

test('toApiError maps strings and unknown shapes to code "ipc"', () => {
  expect(toApiError('channel closed')).toMatchObject({ code: 'ipc', message: 'channel closed' });
  expect(toApiError(new Error('boom'))).toMatchObject({ code: 'ipc', message: 'boom' });
  expect(toApiError(42)).toMatchObject({ code: 'ipc', message: '42' });
  const e = new ApiError('db', 'locked');
  expect(toApiError(e)).toBe(e);
});

test('the import dialogs are the core\'s: pickMedia/pickFolder ask pick_media_paths and pass its answer on', async () => {
  const calls: unknown[] = [];
  let answer: string[] = ['/e/a.png', '/e/b.mp4'];
  mockIPC((cmd, payload) => {
    if (cmd !== 'pick_media_paths') throw new Error(`unexpected ${cmd}`);
    calls.push(payload);
    return answer;
  });
  await expect(pickMedia()).resolves.toEqual(['/e/a.png', '/e/b.mp4']);
  answer = []; // the user cancelled
  await expect(pickFolder()).resolves.toEqual([]);
  expect(calls).toEqual([{ folder: false }, { folder: true }]);
});

test('stored pictures are addressed under the verity: scheme (http://verity.localhost on Windows)', () => {
  const ua = Object.getOwnPropertyDescriptor(globalThis.navigator, 'userAgent');
  const setUa = (v: string) => Object.defineProperty(globalThis.navigator, 'userAgent', { value: v, configurable: true });
  try {
    setUa('Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/605.1.15');
    expect(faceImage(3, 17)).toBe('verity://localhost/face/3/17');
    expect(mediaImage(9)).toBe('verity://localhost/media/9');
    setUa('Mozilla/5.0 (Windows NT 10.0; Win64; x64) Edg/120');
    expect(pictureUrl('face/3/17')).toBe('http://verity.localhost/face/3/17');
  } finally {
    if (ua) Object.defineProperty(globalThis.navigator, 'userAgent', ua);
    else delete (globalThis.navigator as { userAgent?: string }).userAgent;
  }
});
