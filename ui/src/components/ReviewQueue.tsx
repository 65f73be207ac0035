import { useEffect, useRef, useState } from 'preact/hooks';
import { caseDetail, review, reviewQueue, toApiError, undoReview, type CaseSummary } from '../lib/api';
import { isUndoKey } from './DecisionBar';
import { CaseView } from './CaseView';

/** The review band, oldest first, one case at a time. Keys: F fake, R real, U unsure/skip,
 *  N note, ←/→ step through the sampled frames, Ctrl/⌘+Z undo the last decision made here
 *  (the case comes back to the queue; the core keeps the decision, marked undone). */
export function ReviewQueue({
  analyst,
  thresholds,
  version,
  onDecided,
  onOpenSettings,
  onOpenCase,
}: {
  analyst: string;
  thresholds: { real: number; fake: number };
  version: number;
  onDecided: () => void;
  onOpenSettings: () => void;
  /** Opens another case in the Cases screen (the Provenance panel's "seen before" links). */
  onOpenCase?: (caseId: number) => void;
}) {
  const [queue, setQueue] = useState<CaseSummary[] | null>(null);
  const [note, setNote] = useState('');
  const [frame, setFrame] = useState<number | null>(null);
  const [err, setErr] = useState<string | null>(null);
  const [last, setLast] = useState<{ id: number; text: string } | null>(null);
  const [undone, setUndone] = useState<string | null>(null);
  const noteRef = useRef<HTMLTextAreaElement>(null);
  const frames = useRef<number[]>([]);

  const load = () => reviewQueue().then(setQueue, (e) => setErr(toApiError(e).message));
  useEffect(() => {
    void load();
  }, [version]);

  const current = queue?.[0];
  const decide = async (verdict: 'fake' | 'real' | 'unsure') => {
    if (!current) return;
    setErr(null);
    // Read the textarea itself: a key pressed right after typing can beat the re-render.
    const text = noteRef.current?.value ?? note;
    try {
      await review(current.id, verdict, text);
      setLast({ id: current.id, text: `${current.title}: ${verdict}` });
      setUndone(null);
      setNote('');
      setFrame(null);
      onDecided();
      await load();
    } catch (e) {
      setErr(toApiError(e).message);
    }
  };

  const undo = async () => {
    if (!last) return;
    setErr(null);
    const was = last;
    setLast(null);
    try {
      const u = await undoReview(was.id);
      setUndone(`Undone — ${was.text} withdrawn${u.current ? ` (the decision is ${u.current.verdict} again)` : '; the case is back in the queue'}`);
      onDecided();
      await load();
    } catch (e) {
      setLast(was);
      setErr(toApiError(e).message);
    }
  };

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      // Ctrl/⌘+Z: undo the last decision (text fields keep their own undo).
      if (isUndoKey(e) && !(e.target instanceof HTMLTextAreaElement || e.target instanceof HTMLInputElement)) {
        e.preventDefault();
        void undo();
        return;
      }
      if (e.target instanceof HTMLTextAreaElement || e.target instanceof HTMLInputElement || e.ctrlKey || e.metaKey) {
        if (e.key === 'Escape') (e.target as HTMLElement).blur();
        return;
      }
      const k = e.key.toLowerCase();
      if (k === 'f') void decide('fake');
      else if (k === 'r') void decide('real');
      else if (k === 'u') void decide('unsure');
      else if (k === 'n') {
        e.preventDefault();
        noteRef.current?.focus();
      } else if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') {
        const fs = frames.current;
        if (fs.length === 0) return;
        const i = frame == null ? -1 : fs.indexOf(frame);
        const next = e.key === 'ArrowRight' ? Math.min(fs.length - 1, i + 1) : Math.max(0, i - 1);
        setFrame(fs[next]);
      } else return;
      e.preventDefault();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  });

  if (queue == null) return <div class="muted pad">Loading the review queue…</div>;
  return (
    <div class="review">
      <div class="review-head">
        <div>
          <h1>Review queue</h1>
          <p class="muted" data-testid="queue-count">
            {queue.length === 0 ? 'Nothing waits for a decision.' : `${queue.length} case(s) need a human decision — oldest first`}
          </p>
        </div>
        <div class="muted">
          Analyst: <b data-testid="analyst">{analyst || 'not set'}</b>
        </div>
      </div>
      {!analyst && (
        <div class="banner banner-warn" data-testid="no-analyst">
          Set your analyst name in{' '}
          <button type="button" class="link-button" onClick={onOpenSettings}>
            Settings
          </button>{' '}
          before recording decisions.
        </div>
      )}
      {err && <div class="banner banner-error" data-testid="review-error">{err}</div>}
      {last && (
        <div class="banner undo-row">
          <span data-testid="last-decision">Recorded — {last.text}</span>
          <button type="button" class="button" onClick={() => void undo()} data-testid="undo-last" title="Withdraw this decision (Ctrl+Z / ⌘Z)">
            Undo <kbd>Ctrl Z</kbd>
          </button>
        </div>
      )}
      {undone && (
        <div class="banner" role="status" data-testid="undo-notice">
          {undone}
        </div>
      )}
      {current && (
        <CaseView caseId={current.id} version={version} thresholds={thresholds} frame={frame} onFrame={setFrame} onOpenCase={onOpenCase}>
          <FramesProbe caseId={current.id} into={frames} />
          <div class="decide" data-testid="decide">
            <textarea
              ref={noteRef}
              placeholder="Note (N) — what you saw"
              value={note}
              rows={2}
              data-testid="review-note"
              onInput={(e) => setNote((e.target as HTMLTextAreaElement).value)}
            />
            <div class="decide-buttons">
              <button type="button" class="button button-fake" onClick={() => decide('fake')} data-testid="decide-fake">
                <kbd>F</kbd> Fake
              </button>
              <button type="button" class="button button-real" onClick={() => decide('real')} data-testid="decide-real">
                <kbd>R</kbd> Real
              </button>
              <button type="button" class="button" onClick={() => decide('unsure')} data-testid="decide-unsure">
                <kbd>U</kbd> Unsure
              </button>
            </div>
            <p class="muted small">←/→ step through frames · N writes a note · Esc leaves the note · Ctrl+Z undoes the last decision</p>
          </div>
        </CaseView>
      )}
    </div>
  );
}

/** Keeps the frame list of the current case for the arrow keys. */
function FramesProbe({ caseId, into }: { caseId: number; into: { current: number[] } }) {
  useEffect(() => {
    caseDetail(caseId).then(
      (d) => (into.current = d.frames.map((f) => f.idx)),
      () => (into.current = []),
    );
  }, [caseId]);
  return null;
}
