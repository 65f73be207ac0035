import { useState } from 'preact/hooks';
import { review, toApiError } from '../lib/api';

/** Decide or re-open a case outside the queue: a new decision is appended to the history (the
 *  earlier ones stay), and becomes the case's training label. */
export function DecisionBar({ caseId, reviewed, onDone }: { caseId: number; reviewed: boolean; onDone: () => void }) {
  const [open, setOpen] = useState(false);
  const [note, setNote] = useState('');
  const [err, setErr] = useState<string | null>(null);
  if (!open)
    return (
      <button type="button" class="button reopen" onClick={() => setOpen(true)} data-testid="reopen">
        {reviewed ? 'Re-open and decide again…' : 'Record a decision…'}
      </button>
    );
  const decide = async (v: 'fake' | 'real' | 'unsure') => {
    try {
      await review(caseId, v, note);
      setOpen(false);
      setNote('');
      setErr(null);
      onDone();
    } catch (e) {
      setErr(toApiError(e).message);
    }
  };
  return (
    <div class="decide" data-testid="decision-bar">
      <textarea placeholder="Note — why" rows={2} value={note} onInput={(e) => setNote((e.target as HTMLTextAreaElement).value)} />
      <div class="decide-buttons">
        <button type="button" class="button button-fake" onClick={() => decide('fake')}>
          Fake
        </button>
        <button type="button" class="button button-real" onClick={() => decide('real')}>
          Real
        </button>
        <button type="button" class="button" onClick={() => decide('unsure')}>
          Unsure
        </button>
        <button type="button" class="link-button" onClick={() => setOpen(false)}>
          Close
        </button>
      </div>
      {err && <div class="banner banner-error">{err}</div>}
    </div>
  );
}
