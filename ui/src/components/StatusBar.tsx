import type { AppInfo } from '../lib/api';

/** The bottom line: offline state, core version and device at a glance. */
export function StatusBar({ info }: { info: AppInfo | null }) {
  return (
    <footer class="statusbar">
      <span class="status-item">
        <i class="dot dot-ok" />
        Offline · no network access
      </span>
      <span class="status-spacer" />
      {info && <span class="status-item">{info.device.name}</span>}
      {info && <span class="status-item">verity {info.version}</span>}
    </footer>
  );
}
