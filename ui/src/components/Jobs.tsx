import { duration } from '../lib/cases';

/** A queued or running analysis as the sidebar shows it, built from worker events. */
export interface JobView {
  job: number;
  label: string;
  caseId: number | null;
  phase: 'queued' | 'loading' | 'running';
  decoded: number;
  faces: number;
  scored: number;
  estimate: number | null;
  eta: number | null;
}

/** Per-job progress bars (frames decoded / faces found / faces scored / ETA) with cancel. */
export function Jobs({ jobs, onCancel }: { jobs: readonly JobView[]; onCancel: (job: number) => void }) {
  if (jobs.length === 0) return null;
  return (
    <section class="jobs" aria-label="Analyses in progress" data-testid="jobs">
      {jobs.map((j) => {
        const pct = j.estimate ? Math.min(100, (100 * j.decoded) / j.estimate) : null;
        return (
          <div class="job" key={j.job} data-testid={`job-${j.job}`}>
            <div class="job-head">
              <span class="job-label" title={j.label}>
                {j.label}
              </span>
              <button type="button" class="link-button" onClick={() => onCancel(j.job)} data-testid={`cancel-${j.job}`}>
                Cancel
              </button>
            </div>
            <div
              class={`progress${pct == null ? ' indeterminate' : ''}`}
              role="progressbar"
              aria-label={`Progress of ${j.label}`}
              aria-valuemin={0}
              aria-valuemax={100}
              aria-valuenow={pct ?? undefined}
            >
              <span style={{ width: `${pct ?? 30}%` }} />
            </div>
            <div class="job-sub" data-testid={`job-status-${j.job}`}>
              {j.phase === 'queued'
                ? 'Queued'
                : j.phase === 'loading'
                  ? 'Loading models…'
                  : `${j.decoded}${j.estimate ? `/${j.estimate}` : ''} frames · ${j.faces} faces · ${j.scored} scored${
                      j.eta != null ? ` · ${duration(j.eta)} left` : ''
                    }`}
            </div>
          </div>
        );
      })}
    </section>
  );
}
