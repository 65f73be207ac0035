import { clearMocks, mockIPC } from '@tauri-apps/api/mocks';
import { afterEach, expect, test } from 'vitest';
import { ApiError, appInfo, pickMedia, toApiError } from './api';

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

test('pickMedia asks the dialog plugin for several images/videos and normalises the answer', async () => {
  let options: { multiple?: boolean; directory?: boolean; filters?: { name: string; extensions: string[] }[] } = {};
  let answer: unknown = ['/e/a.png', '/e/b.mp4'];
  mockIPC((cmd, payload) => {
    if (cmd !== 'plugin:dialog|open') throw new Error(`unexpected ${cmd}`);
    options = (payload as { options: typeof options }).options;
    return answer;
  });
  await expect(pickMedia()).resolves.toEqual(['/e/a.png', '/e/b.mp4']);
  expect(options.multiple).toBe(true);
  expect(options.directory).toBe(false);
  expect(options.filters?.[0].extensions).toEqual(expect.arrayContaining(['jpg', 'png', 'mp4', 'mov']));
  expect(options.filters?.map((f) => f.name)).toEqual(['Images and videos', 'Images', 'Videos']);

  answer = null; // the user cancelled
  await expect(pickMedia()).resolves.toEqual([]);
  answer = '/e/single.jpg';
  await expect(pickMedia()).resolves.toEqual(['/e/single.jpg']);
});
