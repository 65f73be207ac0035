// Bundled into the page by retrain.browser.test.ts: an in-page fake of the Tauri backend for the
// Retrain screen — status, start, `retrain` progress events driven step by step from the test,
// the finished candidate, accept/discard. Records every call in window.__verityCalls.
import { mockIPC } from '@tauri-apps/api/mocks';
import { emit } from '@tauri-apps/api/event';

declare global {
  interface Window {
    __verityCalls: { cmd: string; payload: unknown }[];
    __retrainMock: { appInfo: unknown; fake: number; real: number; variant?: 'gend' | 'fusion' };
    __retrain: { emit: (payload: unknown) => Promise<void>; finish: () => Promise<void> };
  }
}

const defaults = {
  epochs: 3, lr: 3e-5, batch_size: 8, seed: 0, val_fraction: 0.25, min_cases_per_class: 4,
  losses: { bce: 1, alignment: 0.1, uniformity: 0.5, supcon: 0, image_text: 0 },
};
let settings = {
  fps: 5, keyframe_threshold: 0.35, thresholds: { real: 0.3, fake: 0.7 }, aggregation: 'mean', fusion: null,
  device: 'auto', precision: 'fp32', batch_size: 16, profile: 'gend-clip-l14', score_full_frame_without_face: false,
  analyst: 'Ada Lovelace', data_dir: null, max_media_mib: 8192, models_dir: null,
};
let running = false;
let candidate: Record<string, unknown> | null = null;
let startedWith: unknown = null;
const metrics = (auc: number, eer: number, acc: number, ap: number, ece: number, review: number) => ({
  n: 24, n_fake: 12, n_real: 12, auc, eer, accuracy: acc, average_precision: ap, ece, review_share: review,
});

function status() {
  const m = window.__retrainMock;
  const min = defaults.min_cases_per_class;
  const refusal =
    m.fake < min || m.real < min
      ? `retraining needs at least ${min} adjudicated fake and ${min} real cases with a detected face; you have ${m.fake} fake and ${m.real} real — review more cases in the queue`
      : null;
  return {
    counts: { fake_cases: m.fake, real_cases: m.real, fake_faces: m.fake * 3, real_faces: m.real * 3, skipped: 1 },
    parent: settings.profile, parent_variant: m.variant ?? 'gend', parent_error: null, refusal, running, progress: null,
    last_error: null, candidate, defaults,
  };
}

window.__verityCalls = [];
window.__retrain = {
  async emit(progress) {
    await emit('retrain', { kind: 'progress', progress });
  },
  async finish() {
    running = false;
    candidate = {
      name: 'gend-clip-l14-reviews-20260301-101500-000', parent: settings.profile, created_at: '2026-03-01T10:15:00Z',
      analyst: 'Ada Lovelace', options: startedWith ?? defaults, counts: status().counts, train_faces: [20, 22], val_faces: [12, 12],
      before: metrics(0.81, 0.25, 0.71, 0.84, 0.12, 0.4), after: metrics(0.93, 0.125, 0.875, 0.95, 0.15, 0.25),
      epochs: [{ epoch: 1, loss: 0.61 }, { epoch: 2, loss: 0.44 }, { epoch: 3, loss: 0.38 }], seconds: 42,
    };
    await emit('retrain', { kind: 'finished', candidate });
  },
};

mockIPC(
  async (cmd, payload) => {
    window.__verityCalls.push({ cmd, payload });
    const a = (payload ?? {}) as Record<string, unknown>;
    switch (cmd) {
      case 'app_info':
        return window.__retrainMock.appInfo;
      case 'get_settings':
        return { settings, path: '/home/ada/.config/verity/settings.toml', data_dir_resolved: '/home/ada/.local/share/verity' };
      case 'list_cases':
      case 'jobs':
      case 'review_queue':
        return [];
      case 'counts':
        return {};
      case 'retrain_status':
        return status();
      case 'retrain_start': {
        const s = status();
        if (s.refusal) throw { code: 'config', message: s.refusal };
        startedWith = a.options ?? null;
        running = true;
        return null;
      }
      case 'retrain_cancel':
        running = false;
        setTimeout(() => void emit('retrain', { kind: 'cancelled' }), 0);
        return true;
      case 'retrain_accept': {
        const name = a.name as string;
        settings = { ...settings, profile: name };
        candidate = null;
        return name;
      }
      case 'retrain_discard':
        candidate = null;
        return null;
    }
    throw { code: 'unknown_command', message: `no mock for ${cmd}` };
  },
  { shouldMockEvents: true },
);
