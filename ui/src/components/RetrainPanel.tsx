import { useEffect, useState } from 'preact/hooks';
import {
  onRetrainEvent,
  retrainAccept,
  retrainCancel,
  retrainDiscard,
  retrainStart,
  retrainStatus,
  toApiError,
  type RetrainCandidate,
  type RetrainMetrics,
  type RetrainProgress,
  type RetrainStatus,
  type LossWeights,
} from '../lib/api';
import { DEFAULT_LOSS_WEIGHTS, LOSS_TERMS, lossInputs, lossSpec, parseLossInputs } from '../lib/losses';

/** What each phase is called on screen. */
export function phaseLabel(p: RetrainProgress): string {
  switch (p.phase) {
    case 'preparing_data':
      return 'Preparing data';
    case 'evaluating_before':
      return 'Evaluating the current profile';
    case 'training':
      return `Training — epoch ${p.epoch}/${p.epochs} · step ${p.step}/${p.total_steps} · loss ${p.loss.toFixed(4)}`;
    case 'evaluating_after':
      return 'Evaluating the candidate';
    case 'saving':
      return 'Saving the candidate';
  }
}

/** Overall progress in percent: training fills 10–90 %, the other phases the ends. */
export function phasePercent(p: RetrainProgress | null): number {
  if (!p) return 0;
  switch (p.phase) {
    case 'preparing_data':
      return 2;
    case 'evaluating_before':
      return 5;
    case 'training':
      return Math.round(10 + (80 * p.step) / Math.max(1, p.total_steps));
    case 'evaluating_after':
      return 92;
    case 'saving':
      return 97;
  }
}

/** The rows of the before/after table: key, label, whether higher is better, format. */
export const METRIC_ROWS: { key: keyof RetrainMetrics; label: string; higher: boolean | null; pct: boolean }[] = [
  { key: 'auc', label: 'AUC', higher: true, pct: false },
  { key: 'eer', label: 'EER', higher: false, pct: true },
  { key: 'accuracy', label: 'Accuracy (0.5)', higher: true, pct: true },
  { key: 'average_precision', label: 'Average precision', higher: true, pct: false },
  { key: 'ece', label: 'Calibration error (ECE)', higher: false, pct: false },
  { key: 'review_share', label: 'Needs-review share', higher: false, pct: true },
  { key: 'n', label: 'Validation faces', higher: null, pct: false },
];

function fmt(v: number | null | undefined, pct: boolean, integer = false): string {
  if (v == null || Number.isNaN(v)) return '—';
  if (integer) return String(v);
  return pct ? `${(100 * v).toFixed(1)} %` : v.toFixed(3);
}

/** "+0.120" / "−3.0 pp", and whether the change is an improvement (null: neutral or unknown). */
export function delta(
  before: number | null | undefined,
  after: number | null | undefined,
  higher: boolean | null,
  pct: boolean,
): { text: string; better: boolean | null } {
  if (before == null || after == null || higher == null) return { text: '', better: null };
  const d = after - before;
  const mag = pct ? `${Math.abs(100 * d).toFixed(1)} pp` : Math.abs(d).toFixed(3);
  const text = `${d > 0 ? '+' : d < 0 ? '−' : '±'}${mag}`;
  const eps = pct ? 0.0005 : 0.0005;
  return { text, better: Math.abs(d) < eps ? null : higher ? d > 0 : d < 0 };
}

/**
 * "Advanced settings": one number input per loss weight (the terms of `verity train --loss`),
 * validated as typed; the image–text term is off for GenD-layout profiles.
 */
function LossSettings({
  inputs,
  setInputs,
  textAllowed,
  error,
  disabled,
}: {
  inputs: Record<keyof LossWeights, string>;
  setInputs: (v: Record<keyof LossWeights, string>) => void;
  textAllowed: boolean;
  error: string | null;
  disabled: boolean;
}) {
  return (
    <details class="retrain-advanced" data-testid="retrain-advanced">
      <summary>Advanced settings</summary>
      <p class="muted small">
        Loss weights (0 turns a term off). Defaults: {lossSpec(DEFAULT_LOSS_WEIGHTS)}.
      </p>
      <div style={{ display: 'grid', gridTemplateColumns: 'repeat(auto-fill, minmax(130px, 1fr))', columnGap: '12px', alignItems: 'end' }}>
        {LOSS_TERMS.map((t) => {
          const off = t.key === 'image_text' && !textAllowed;
          return (
            <label class="field" key={t.key} title={off ? 'GenD-layout profiles have no projected CLIP embedding' : t.title} style={{ justifyContent: 'flex-end' }}>
              <span>
                {t.label} <span class="mono">({t.short})</span>
              </span>
              <input
                type="number"
                min={0}
                step={0.05}
                value={inputs[t.key]}
                disabled={disabled || off}
                aria-invalid={error != null && error.includes(`(${t.short})`)}
                style={{ width: '100%', boxSizing: 'border-box' }}
                onInput={(e) => setInputs({ ...inputs, [t.key]: (e.target as HTMLInputElement).value })}
                data-testid={`loss-${t.short}`}
              />
            </label>
          );
        })}
      </div>
      {!textAllowed && (
        <p class="muted small" data-testid="loss-text-off">
          Image–text is off: this profile (GenD layout) has no projected CLIP embedding to compare with the prompts.
        </p>
      )}
      {error && (
        <div class="banner banner-error" data-testid="loss-error">
          {error}
        </div>
      )}
      <button
        type="button"
        class="button"
        disabled={disabled}
        onClick={() => setInputs(lossInputs(DEFAULT_LOSS_WEIGHTS))}
        data-testid="loss-reset"
      >
        Reset to defaults
      </button>
    </details>
  );
}

function MetricsTable({ c }: { c: RetrainCandidate }) {
  return (
    <table class="metrics-table" data-testid="retrain-metrics">
      <thead>
        <tr>
          <th>Held-out cases</th>
          <th>Current · {c.parent}</th>
          <th>Candidate</th>
          <th>Change</th>
        </tr>
      </thead>
      <tbody>
        {METRIC_ROWS.map((r) => {
          const b = c.before?.[r.key] as number | null | undefined;
          const a = c.after?.[r.key] as number | null | undefined;
          const d = delta(b, a, r.higher, r.pct);
          return (
            <tr key={r.key} data-testid={`metric-${r.key}`}>
              <th scope="row">{r.label}</th>
              <td>{fmt(b, r.pct, r.key === 'n')}</td>
              <td>{fmt(a, r.pct, r.key === 'n')}</td>
              <td class={`delta${d.better == null ? '' : d.better ? ' delta-good' : ' delta-bad'}`}>{d.text}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

/**
 * "Retrain from reviews": fine-tunes the active profile on the analysts' adjudicated cases into a
 * candidate, shows the validation metrics of both on the same held-out cases, and lets the analyst
 * accept (install and select) or discard it. Nothing changes the active profile before Accept.
 */
export function RetrainPanel({ onAccepted }: { onAccepted?: (profile: string) => void }) {
  const [status, setStatus] = useState<RetrainStatus | null>(null);
  const [running, setRunning] = useState(false);
  const [progress, setProgress] = useState<RetrainProgress | null>(null);
  const [candidate, setCandidate] = useState<RetrainCandidate | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [note, setNote] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [lossText, setLossText] = useState<Record<keyof LossWeights, string> | null>(null);

  const load = () =>
    retrainStatus().then(
      (s) => {
        setStatus(s);
        setLossText((cur) => cur ?? lossInputs(s.defaults.losses ?? DEFAULT_LOSS_WEIGHTS));
        setRunning(s.running);
        setProgress(s.progress);
        setCandidate(s.candidate);
        if (!s.running && s.last_error) setError(s.last_error);
      },
      (e) => setError(toApiError(e).message),
    );

  useEffect(() => {
    void load();
    const un = onRetrainEvent((e) => {
      if (e.kind === 'progress') {
        setRunning(true);
        setProgress(e.progress);
      } else {
        setRunning(false);
        setProgress(null);
        if (e.kind === 'finished') setCandidate(e.candidate);
        else if (e.kind === 'failed') setError(e.message);
        else setNote('Retrain cancelled; the current profile is unchanged.');
        void retrainStatus().then(setStatus, () => {});
      }
    });
    return () => void un.then((f) => f());
  }, []);

  if (!status) return <div class="muted pad">{error ?? 'Loading…'}</div>;
  const counts = status.counts;
  const refusal = status.refusal;
  const textAllowed = status.parent_variant !== 'gend';
  const losses = parseLossInputs(lossText ?? lossInputs(status.defaults.losses ?? DEFAULT_LOSS_WEIGHTS), textAllowed);

  const start = async () => {
    setError(null);
    setNote(null);
    try {
      setRunning(true);
      setProgress({ phase: 'preparing_data' });
      if (!losses.weights) throw new Error(losses.error);
      await retrainStart({ ...status.defaults, losses: losses.weights });
    } catch (e) {
      setRunning(false);
      setProgress(null);
      setError(toApiError(e).message);
    }
  };
  const decide = async (accept: boolean) => {
    if (!candidate) return;
    setBusy(true);
    setError(null);
    try {
      if (accept) {
        const name = await retrainAccept(candidate.name);
        setNote(`Installed and selected profile ${name}: new analyses use it.`);
        onAccepted?.(name);
      } else {
        await retrainDiscard(candidate.name);
        setNote(`Discarded ${candidate.name}; the current profile is unchanged.`);
      }
      setCandidate(null);
      await load();
    } catch (e) {
      setError(toApiError(e).message);
    } finally {
      setBusy(false);
    }
  };
  const pct = phasePercent(progress);

  return (
    <div class="retrain" data-testid="retrain">
      <div class="retrain-head">
        <div>
          <h1>Retrain from reviews</h1>
          <p class="muted">
            Fine-tunes the active detector on the cases analysts have decided as fake or real, then compares it with the
            current profile on held-out cases. Nothing changes until you accept the result.
          </p>
        </div>
      </div>

      <div class="retrain-grid">
        <section class="panel" aria-label="Training data">
          <h3 class="panel-title">Adjudicated cases</h3>
          <div class="retrain-counts">
            <div class="retrain-count count-fake">
              <span class="retrain-num" data-testid="retrain-fake">
                {counts?.fake_cases ?? '—'}
              </span>
              <span class="retrain-label">
                <i class="dot" /> fake · {counts?.fake_faces ?? 0} faces
              </span>
            </div>
            <div class="retrain-count count-real">
              <span class="retrain-num" data-testid="retrain-real">
                {counts?.real_cases ?? '—'}
              </span>
              <span class="retrain-label">
                <i class="dot" /> real · {counts?.real_faces ?? 0} faces
              </span>
            </div>
          </div>
          {counts != null && counts.skipped > 0 && (
            <p class="muted small">{counts.skipped} decided case(s) have no detected face and are left out.</p>
          )}
          <p class="muted small">
            At least {status.defaults.min_cases_per_class} of each; a quarter of each class is held out for validation.
          </p>
        </section>
        <section class="panel" aria-label="Run">
          <h3 class="panel-title">Profile</h3>
          <div class="retrain-parent">
            <span class="muted small">Starts from the active profile</span>
            <span class="mono" data-testid="retrain-parent">
              {status.parent ?? 'none installed'}
            </span>
          </div>
          <p class="muted small">
            {status.defaults.epochs} epochs · learning rate {status.defaults.lr} · batch {status.defaults.batch_size}
          </p>
          <p class="muted small">
            Loss <span class="mono" data-testid="retrain-loss-spec">{losses.weights ? lossSpec(losses.weights) : '—'}</span>
          </p>
          <LossSettings
            inputs={lossText ?? lossInputs(status.defaults.losses ?? DEFAULT_LOSS_WEIGHTS)}
            setInputs={setLossText}
            textAllowed={textAllowed}
            error={losses.error}
            disabled={running}
          />
          {!running && (
            <button
              type="button"
              class="button button-primary"
              onClick={start}
              disabled={refusal != null || busy || candidate != null || losses.weights == null}
              title={
                candidate
                  ? 'Accept or discard the candidate first'
                  : (refusal ?? losses.error ?? 'Fine-tune a candidate profile')
              }
              data-testid="retrain-start"
            >
              Start retraining
            </button>
          )}
        </section>
      </div>

      {refusal && !running && !candidate && (
        <div class="banner banner-warn" data-testid="retrain-refusal">
          {refusal}
        </div>
      )}
      {error && (
        <div class="banner banner-error" data-testid="retrain-error">
          {error}
        </div>
      )}
      {note && (
        <div class="banner" data-testid="retrain-note">
          {note}
        </div>
      )}

      {running && (
        <section class="panel" aria-label="Progress" data-testid="retrain-progress">
          <h3 class="panel-title">Running</h3>
          <div class="progress retrain-bar" role="progressbar" aria-label="Retrain progress" aria-valuemin={0} aria-valuemax={100} aria-valuenow={pct}>
            <span style={{ width: `${pct}%` }} />
          </div>
          <div class="retrain-phase">
            <span data-testid="retrain-phase">{progress ? phaseLabel(progress) : 'Starting…'}</span>
            <button type="button" class="button" onClick={() => void retrainCancel()} data-testid="retrain-cancel">
              Cancel
            </button>
          </div>
        </section>
      )}

      {candidate && !running && (
        <section class="panel" aria-label="Result" data-testid="retrain-result">
          <h3 class="panel-title">
            Candidate <span class="mono retrain-cand">{candidate.name}</span>
          </h3>
          {candidate.name.endsWith('-untrained') && (
            <div class="badge-untrained" data-testid="retrain-untrained">
              UNTRAINED — the parent profile holds random weights, so the candidate does too; its scores will not be verdicts
            </div>
          )}
          <p class="muted small">
            Trained on {candidate.train_faces[0] + candidate.train_faces[1]} faces ({candidate.train_faces[1]} fake,{' '}
            {candidate.train_faces[0]} real) in {candidate.seconds.toFixed(0)} s by {candidate.analyst}; validated on{' '}
            {candidate.val_faces[0] + candidate.val_faces[1]} faces of held-out cases.
          </p>
          {candidate.options.losses && (
            <p class="muted small">
              Loss weights <span class="mono" data-testid="retrain-candidate-loss">{lossSpec(candidate.options.losses)}</span>
            </p>
          )}
          <MetricsTable c={candidate} />
          <div class="retrain-actions">
            <button type="button" class="button" onClick={() => void decide(false)} disabled={busy} data-testid="retrain-discard">
              Discard
            </button>
            <button type="button" class="button button-primary" onClick={() => void decide(true)} disabled={busy} data-testid="retrain-accept">
              Accept — replace the active profile
            </button>
          </div>
        </section>
      )}
    </div>
  );
}
