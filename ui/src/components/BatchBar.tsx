import { useState } from 'preact/hooks';
import { rerunCases, toApiError } from '../lib/api';
import { ExportDialog } from './ExportDialog';

interface Props {
  /** The selected cases, in the list's order. */
  ids: readonly number[];
  onClear: () => void;
}

/** Shown above the case list while cases are selected: export them, re-run them, or clear. */
export function BatchBar({ ids, onClear }: Props) {
  const [exporting, setExporting] = useState(false);
  const [note, setNote] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const rerun = async () => {
    setBusy(true);
    try {
      const jobs = await rerunCases([...ids]);
      setNote(`${jobs.length} re-run${jobs.length === 1 ? '' : 's'} queued`);
    } catch (e) {
      setNote(`Re-run failed: ${toApiError(e).message}`);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="batch-bar" role="group" aria-label="Selected cases" data-testid="batch-bar">
      <span class="batch-count" data-testid="batch-count">
        {ids.length} selected
      </span>
      <button class="button button-small" type="button" onClick={() => setExporting(true)} data-testid="batch-export" title="Export the selected cases into one ZIP file">
        Export…
      </button>
      <button class="button button-small" type="button" onClick={rerun} disabled={busy} data-testid="batch-rerun" title="Analyse the selected cases again">
        Re-run
      </button>
      <button class="button button-small" type="button" onClick={onClear} data-testid="batch-clear" title="Clear the selection (Esc in the list)">
        Clear
      </button>
      <span class="batch-note" role="status" data-testid="batch-note">
        {note}
      </span>
      {exporting && <ExportDialog ids={ids} onClose={() => setExporting(false)} />}
    </div>
  );
}
