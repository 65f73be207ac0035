import type { ComponentChildren } from 'preact';
import type { ApiError, AppInfo } from '../lib/api';
import { deviceLabel } from '../lib/media';
import { CpuIcon, GpuIcon, MoonIcon, SunIcon } from './icons';
import logoUrl from '../../../icons/logo.svg';

export type Theme = 'dark' | 'light';

interface Props {
  info: AppInfo | null;
  infoError: ApiError | null;
  theme: Theme;
  onToggleTheme: () => void;
  /** Opens the keyboard-shortcut sheet (also `?`). */
  onShortcuts?: () => void;
  children?: ComponentChildren;
}

/** Product name, core version, the compute device, and the theme switch. */
export function TopBar({ info, infoError, theme, onToggleTheme, onShortcuts, children }: Props) {
  const device = info?.device;
  return (
    <header class="topbar">
      <div class="brand">
        <img class="brand-logo" src={logoUrl} alt="" width={26} height={26} />
        <span class="brand-name" data-testid="product-name">
          Verity Desk
        </span>
        {info && (
          <span class="chip chip-version" data-testid="app-version" title="Core library version">
            v{info.version}
          </span>
        )}
      </div>
      {children}
      <div class="topbar-right">
        {device && (
          <span
            class={`chip chip-device chip-device-${device.kind}`}
            data-testid="device"
            title={`${device.name}${device.kind === 'cuda' ? ` · ${device.cuda_devices} CUDA device(s)` : ''}`}
          >
            {device.kind === 'cuda' ? <GpuIcon size={15} /> : <CpuIcon size={15} />}
            {deviceLabel(device)}
          </span>
        )}
        {!info && !infoError && <span class="chip chip-muted">Detecting device…</span>}
        {infoError && (
          <span class="chip chip-error" data-testid="device-error" title={infoError.message}>
            Device unknown
          </span>
        )}
        {onShortcuts && (
          <button
            class="icon-button"
            type="button"
            onClick={onShortcuts}
            aria-label="Keyboard shortcuts"
            aria-keyshortcuts="?"
            title="Keyboard shortcuts (?)"
            data-testid="shortcuts-button"
          >
            ?
          </button>
        )}
        <button
          class="icon-button"
          type="button"
          onClick={onToggleTheme}
          aria-label={theme === 'dark' ? 'Switch to light theme' : 'Switch to dark theme'}
          title={theme === 'dark' ? 'Light theme' : 'Dark theme'}
          data-testid="theme-toggle"
        >
          {theme === 'dark' ? <SunIcon size={17} /> : <MoonIcon size={17} />}
        </button>
      </div>
    </header>
  );
}
