import type { ComponentChildren } from 'preact';
import type { ApiError, AppInfo } from '../lib/api';
import { IMAGE_EXTENSIONS, VIDEO_EXTENSIONS } from '../lib/media';
import { CpuIcon, GpuIcon, ImportIcon, ScanFaceIcon, ShieldIcon } from './icons';
import { PendingImport } from './PendingImport';

interface Props {
  info: AppInfo | null;
  infoError: ApiError | null;
  pending: readonly string[];
  importError: string | null;
  importing: boolean;
  onImport: () => void;
  onDismissPending: () => void;
}

const upper = (xs: readonly string[]) => xs.map((x) => x.toUpperCase()).join(' · ');

function Row({ label, children, testid }: { label: string; children: ComponentChildren; testid?: string }) {
  return (
    <div class="row">
      <dt>{label}</dt>
      <dd data-testid={testid}>{children}</dd>
    </div>
  );
}

/** The main area: no case is open yet, so it offers the import and shows what this machine runs. */
export function Workspace({ info, infoError, pending, importError, importing, onImport, onDismissPending }: Props) {
  const device = info?.device;
  return (
    <div class="welcome">
      <div class="workspace-head">
        <div>
          <h1>Workspace</h1>
          <p class="muted">No case open</p>
        </div>
      </div>

      {importError && (
        <div class="notice notice-error" role="alert" data-testid="import-error">
          {importError}
        </div>
      )}
      {pending.length > 0 && <PendingImport paths={pending} onDismiss={onDismissPending} />}

      <section class="dropzone" aria-label="Start a case">
        <div class="dropzone-icon">
          <ScanFaceIcon size={34} />
        </div>
        <h2>Start a case from an image, video or folder</h2>
        <p class="muted">
          Verity Desk looks for manipulated faces frame by frame and explains each verdict. Everything runs on this
          machine; nothing is uploaded. Drop files or folders anywhere on the window.
        </p>
        <button class="button button-primary" type="button" onClick={onImport} disabled={importing}>
          <ImportIcon size={17} />
          <span>Import…</span>
        </button>
        <dl class="formats">
          <Row label="Images">{upper(IMAGE_EXTENSIONS)}</Row>
          <Row label="Videos">{upper(VIDEO_EXTENSIONS)}</Row>
        </dl>
      </section>

      <div class="cards">
        <section class="card" aria-label="Compute device">
          <h3>
            {device?.kind === 'cuda' ? <GpuIcon size={16} /> : <CpuIcon size={16} />}
            Compute device
          </h3>
          {device ? (
            <dl>
              <Row label="Device" testid="device-name">
                {device.name}
              </Row>
              <Row label="Backend">{device.kind === 'cuda' ? 'libtorch · CUDA' : 'libtorch · CPU'}</Row>
              <Row label="CPU threads">{device.threads}</Row>
              <Row label="CUDA devices">{device.cuda_devices}</Row>
            </dl>
          ) : (
            <p class="muted">{infoError ? `Could not query the device: ${infoError.message}` : 'Detecting…'}</p>
          )}
        </section>
        <section class="card" aria-label="This build">
          <h3>
            <ShieldIcon size={16} />
            This build
          </h3>
          <dl>
            <Row label="Core version">{info ? info.version : '—'}</Row>
            <Row label="Network">Offline — no calls at run time</Row>
            <Row label="Detection pipeline">
              MTCNN faces · detector from the installed profile
            </Row>
          </dl>
        </section>
      </div>
    </div>
  );
}
