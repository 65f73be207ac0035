// Bundled into the page by app.browser.test.ts before the app loads: answers Tauri IPC with
// fixed data through `mockIPC`, as a real backend would, and records the calls.
import { mockIPC } from '@tauri-apps/api/mocks';

declare global {
  interface Window {
    __verityCalls: { cmd: string; payload: unknown }[];
    __verityMock: { appInfo: unknown; picked: string[] | null };
  }
}

window.__verityCalls = [];
mockIPC((cmd, payload) => {
  window.__verityCalls.push({ cmd, payload });
  const mock = window.__verityMock;
  if (cmd === 'app_info') return mock.appInfo;
  if (cmd === 'plugin:dialog|open') return mock.picked;
  throw { code: 'unknown_command', message: `no mock for ${cmd}` };
});
