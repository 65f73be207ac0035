// The UI's only door to the backend: every Tauri `invoke` (commands and plugins) goes through
// this module, so components never name IPC commands and tests can mock the whole surface with
// `mockIPC` from `@tauri-apps/api/mocks`.
import { invoke, type InvokeArgs } from '@tauri-apps/api/core';
import { open } from '@tauri-apps/plugin-dialog';
import { IMAGE_EXTENSIONS, VIDEO_EXTENSIONS } from './media';

/** Mirrors `verity::device::DeviceInfo`. */
export interface DeviceInfo {
  /** "cpu" or "cuda". */
  kind: string;
  /** Human-readable, e.g. "CPU (2 threads)" or "CUDA: NVIDIA H100 80GB HBM3". */
  name: string;
  cuda_devices: number;
  threads: number;
}

/** Mirrors `verity_desk::commands::AppInfo`. */
export interface AppInfo {
  version: string;
  device: DeviceInfo;
}

/** A backend error as it crosses IPC: `{ code, message }` (see `commands::CommandError`). */
export class ApiError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
  }
}

/** Turns whatever a rejected `invoke` carries into an ApiError; `ipc` marks transport trouble. */
export function toApiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  if (e && typeof e === 'object') {
    const { code, message } = e as { code?: unknown; message?: unknown };
    if (typeof code === 'string' && typeof message === 'string') return new ApiError(code, message);
    if (typeof message === 'string') return new ApiError('ipc', message);
  }
  return new ApiError('ipc', typeof e === 'string' ? e : String(e));
}

/** Runs one IPC request; any rejection becomes an ApiError. */
async function guarded<T>(request: () => Promise<T>): Promise<T> {
  try {
    return await request();
  } catch (e) {
    throw toApiError(e);
  }
}

function call<T>(cmd: string, args?: InvokeArgs): Promise<T> {
  return guarded(() => invoke<T>(cmd, args));
}

/** Core version and the compute device analyses will run on. */
export function appInfo(): Promise<AppInfo> {
  return call<AppInfo>('app_info');
}

/** The filters of the import dialog: all supported media first, then each kind alone. */
export const MEDIA_FILTERS = [
  { name: 'Images and videos', extensions: [...IMAGE_EXTENSIONS, ...VIDEO_EXTENSIONS] },
  { name: 'Images', extensions: [...IMAGE_EXTENSIONS] },
  { name: 'Videos', extensions: [...VIDEO_EXTENSIONS] },
];

/**
 * Opens the native file dialog for images and videos (dialog plugin, `dialog:allow-open`);
 * resolves to the chosen paths, or to an empty list when the user cancels.
 */
export async function pickMedia(): Promise<string[]> {
  const picked: string | string[] | null = await guarded(() =>
    open({ title: 'Import images or videos', multiple: true, directory: false, filters: MEDIA_FILTERS }),
  );
  if (picked == null) return [];
  return Array.isArray(picked) ? picked : [picked];
}
