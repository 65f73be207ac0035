import { useEffect, useRef, useState } from 'preact/hooks';
import { review, toApiError, undoReview, type ReviewRow } from '../lib/api';
import { typingIn } from '../lib/shortcuts';

/** Whether a key event is the undo shortcut: Ctrl+Z, or ⌘+Z on a Mac. */
export function isUndoKey(e: KeyboardEvent): boolean {
  return (e.ctrlKey || e.metaKey) && !e.shiftKey && !e.altKey && e.key.toLowerCase() === 'z';
}

/** Decide or re-open a case outside the queue: a new decision is appended to the history (the
 *  earlier ones stay), and becomes the case's training label. "Undo" (Ctrl/⌘+Z outside text
 *  fields) withdraws the current decision: the core appends a retraction, the history stays. */
export function DecisionBar({
  caseId,
  reviewed,
  decision,
  onDone,
}: {
  caseId: number;
  reviewed: boolean;
  /** The case's current decision (null: none, or all undone). */
  decision?: ReviewRow | null;
  onDone: () => void;
}) {
  const [open, setOpen] = useState(false);
  const [note, setNote] = useState('');
  const [err, setErr] = useState<string | null>(null);
  const [undone, setUndone] = useState<string | null>(null);
  const busy = useRef(false);

  const undo = async () => {
    if (!decision || busy.current) return;
    busy.current = true;
    setErr(null);
    try {
      const u = await undoReview(caseId);
      setUndone(
        `Undone: ${u.retracted.verdict.toUpperCase()} withdrawn — ${
          u.current ? `the decision is ${u.current.verdict.toUpperCase()} again (${u.current.analyst})` : 'no decision now'
        }`,
      );
      onDone();
    } catch (e) {
      setErr(toApiError(e).message);
    } finally {
      busy.current = false;
    }
  };
  const undoRef = useRef(undo);
  undoRef.current = undo;
  useEffect(() => setUndone(null), [caseId]);
  // Ctrl/⌘+Z undoes the last decision, except in text fields (their own undo) and dialogs.
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (!isUndoKey(e) || typingIn(e.target)) return;
      e.preventDefault();
      void undoRef.current();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);

  const undoRow = (
    <>
      {decision && (
        <div class="undo-row">
          <button
            type="button"
            class="button"
            onClick={() => void undo()}
            data-testid="undo-decision"
            title="Withdraw this decision (Ctrl+Z / ⌘Z). The history keeps it, marked undone."
          >
            Undo decision <kbd>Ctrl Z</kbd>
          </button>
        </div>
      )}
      {undone && (
        <div class="banner" role="status" data-testid="undo-notice">
          {undone}
        </div>
      )}
    </>
  );
  if (!open)
    return (
      <>
        <button type="button" class="button reopen" onClick={() => setOpen(true)} data-testid="reopen">
          {reviewed ? 'Re-open and decide again…' : 'Record a decision…'}
        </button>
        {undoRow}
        {err && <div class="banner banner-error" data-testid="decision-error">{err}</div>}
      </>
    );
  const decide = async (v: 'fake' | 'real' | 'unsure') => {
    try {
      await review(caseId, v, note);
      setOpen(false);
      setNote('');
      setErr(null);
      setUndone(null);
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
