import { useEffect, useState } from 'preact/hooks';
import { cancelExport, exportCases, onExportProgress, pickExportPath, toApiError, type ExportProgress, type ExportSummary } from '../lib/api';
import { exportFileName } from '../lib/selection';
import { useModal } from './modal';

interface Props {
  /** The selected cases, in the list's order. */
  ids: readonly number[];
  onClose: () => void;
}

type Phase =
  | { at: 'options' }
  | { at: 'running'; progress: ExportProgress | null; stopping: boolean }
  | { at: 'done'; summary: ExportSummary }
  | { at: 'error'; message: string };

/**
 * "Export…" for the selected cases: the analyst picks the ZIP file in the core's save dialog,
 * then the core writes each case's HTML, JSON and (optionally) PDF report and summary.csv into
 * it, reporting each case as it goes. The result lists the cases that could not be reported,
 * with the reason; the others are in the file.
 */
export function ExportDialog({ ids, onClose }: Props) {
  const [pdf, setPdf] = useState(true);
  const [phase, setPhase] = useState<Phase>({ at: 'options' });
  const running = phase.at === 'running';
  // Esc and the backdrop do not close it while the core writes: Stop does.
  const modal = useModal<HTMLDivElement>(() => !running && onClose());

  useEffect(() => {
    let unlisten: (() => void) | undefined;
    let gone = false;
    onExportProgress((p) => setPhase((ph) => (ph.at === 'running' ? { ...ph, progress: p } : ph))).then(
      (u) => (gone ? u() : (unlisten = u)),
      () => {},
    );
    return () => {
      gone = true;
      unlisten?.();
    };
  }, []);

  const start = async () => {
    let path: string | null;
    try {
      path = await pickExportPath(exportFileName());
    } catch (e) {
      setPhase({ at: 'error', message: toApiError(e).message });
      return;
    }
    if (!path) return; // The save dialog was cancelled: stay here.
    setPhase({ at: 'running', progress: null, stopping: false });
    try {
      const summary = await exportCases([...ids], path, pdf);
      setPhase({ at: 'done', summary });
    } catch (e) {
      const err = toApiError(e);
      setPhase({ at: 'error', message: err.code === 'cancelled' ? 'Export stopped; no file was written.' : err.message });
    }
  };
  const stop = () => {
    setPhase((ph) => (ph.at === 'running' ? { ...ph, stopping: true } : ph));
    cancelExport().catch(() => {});
  };

  const n = ids.length;
  const cases = (k: number) => `${k} case${k === 1 ? '' : 's'}`;
  return (
    <div class="modal-backdrop" onClick={(e) => e.target === e.currentTarget && !running && onClose()}>
      <div class="modal export-dialog" role="dialog" aria-modal="true" aria-labelledby="export-title" data-testid="export-dialog" {...modal}>
        <h2 id="export-title">Export {cases(n)}</h2>
        {phase.at === 'options' && (
          <>
            <p class="muted small">
              One ZIP file: for each case its HTML and JSON report{pdf ? ' and a PDF' : ''}, plus summary.csv with a row per case
              (file, SHA-256, verdict, score, status, analysed, reviewer decision).
            </p>
            <label class="check">
              <input type="checkbox" checked={pdf} onChange={(e) => setPdf((e.target as HTMLInputElement).checked)} data-testid="export-pdf" />
              PDF reports too (printed by Chromium; slower)
            </label>
            <div class="modal-actions">
              <button class="button" type="button" onClick={onClose} data-testid="export-cancel">
                Cancel
              </button>
              <button class="button button-primary" type="button" onClick={start} data-autofocus data-testid="export-start">
                Choose file and export…
              </button>
            </div>
          </>
        )}
        {phase.at === 'running' && (
          <>
            <p role="status" data-testid="export-status">
              {phase.stopping
                ? 'Stopping…'
                : phase.progress?.case_id != null
                  ? `Case ${phase.progress.done + 1} of ${phase.progress.total}: ${phase.progress.title ?? `#${phase.progress.case_id}`}`
                  : phase.progress
                    ? 'Writing the file…'
                    : 'Starting…'}
            </p>
            <div
              class="progress"
              role="progressbar"
              aria-label="Export progress"
              aria-valuemin={0}
              aria-valuemax={n}
              aria-valuenow={phase.progress?.done ?? 0}
              data-testid="export-progress"
            >
              <span style={{ width: `${(100 * (phase.progress?.done ?? 0)) / Math.max(1, phase.progress?.total ?? n)}%` }} />
            </div>
            <div class="modal-actions">
              <button class="button" type="button" onClick={stop} disabled={phase.stopping} data-autofocus data-testid="export-stop">
                Stop
              </button>
            </div>
          </>
        )}
        {phase.at === 'done' && (
          <>
            <p role="status" data-testid="export-result">
              {phase.summary.failed === 0
                ? `Exported ${cases(phase.summary.exported)} to ${phase.summary.path}`
                : `Exported ${phase.summary.exported} of ${cases(phase.summary.cases.length)} to ${phase.summary.path}; ${phase.summary.failed} with errors (listed in summary.csv):`}
            </p>
            {phase.summary.failed > 0 && (
              <ul class="export-failures" data-testid="export-failures">
                {phase.summary.cases
                  .filter((c) => c.error)
                  .map((c) => (
                    <li key={c.case_id}>
                      <strong>
                        #{c.case_id} {c.title}
                      </strong>
                      : {c.error}
                    </li>
                  ))}
              </ul>
            )}
            <div class="modal-actions">
              <button class="button button-primary" type="button" onClick={onClose} data-autofocus data-testid="export-close">
                Close
              </button>
            </div>
          </>
        )}
        {phase.at === 'error' && (
          <>
            <p class="field-error" role="alert" data-testid="export-error">
              {phase.message}
            </p>
            <div class="modal-actions">
              <button class="button" type="button" onClick={onClose} data-testid="export-close">
                Close
              </button>
              <button class="button button-primary" type="button" onClick={() => setPhase({ at: 'options' })} data-autofocus>
                Try again
              </button>
            </div>
          </>
        )}
      </div>
    </div>
  );
}
