import type { CaseExplanation, Explanation } from '../lib/api';
import { chartOf } from '../lib/chart';
import { artifactViews, cropOverlays, trackPlots } from '../lib/explain';
import { SeriesChart } from './SeriesChart';

interface Props {
  rows: Explanation[];
  face: number | null;
  /** The latest Explain run of this session (its note says why Grad-CAM is missing). */
  last: CaseExplanation | null;
  isVideo: boolean;
  /** The explained faces, to switch between them. */
  faces: { face: number; frame: number | null }[];
  onFace: (id: number) => void;
  /** The frame number shown for a sampled frame index (the source frame). */
  frameLabel?: (idx: number | null | undefined) => number | null | undefined;
  /** The selected sampled frame, and how a click on a track chart selects (seeks to) one. */
  frame?: number | null;
  onFrame?: (idx: number) => void;
}

/** Artifact views of the selected face, its crop heat-maps and, for videos, the track charts
 *  (drawn from the stored series; a click on one seeks the player to that frame). */
export function ExplainPanel({ rows, face, last, isVideo, faces, onFace, frameLabel = (i) => i, frame, onFrame }: Props) {
  const views = artifactViews(rows, face);
  const crops = cropOverlays(rows, face);
  const plots = trackPlots(rows);
  return (
    <>
      <section class="panel" data-testid="artifact-panel">
        <h3 class="panel-title">
          Artifact views
          {face != null && (
            <span class="muted small">
              {' '}
              · face {face}
              {faces.find((f) => f.face === face)?.frame != null && `, frame ${frameLabel(faces.find((f) => f.face === face)?.frame)}`}
            </span>
          )}
          {faces.length > 1 && (
            <select
              class="face-picker"
              value={face ?? ''}
              onChange={(e) => onFace(Number((e.target as HTMLSelectElement).value))}
              data-testid="explain-face"
            >
              {faces.map((f) => (
                <option key={f.face} value={f.face}>
                  face {f.face} (frame {frameLabel(f.frame) ?? '—'})
                </option>
              ))}
            </select>
          )}
        </h3>
        {views.length === 0 ? (
          <p class="muted" data-testid="artifacts-not-computed">
            Artifact views: not computed — press Explain.
          </p>
        ) : (
          <div class="explain-grid" data-testid="artifact-views">
            {views.map((v) => (
              <figure key={v.id} class="explain-figure" data-testid={`artifact-${v.kind}`}>
                <img src={v.url!} alt={v.title} />
                <figcaption>
                  <b>{v.title}</b>
                  <span>{v.summary}</span>
                </figcaption>
              </figure>
            ))}
          </div>
        )}
        {crops.length > 0 && <h4 class="small explain-sub">Where the detector looked, on the aligned face crop</h4>}
        {crops.length > 0 && (
          <div class="explain-grid" data-testid="crop-heatmaps">
            {crops.map((v) => (
              <figure key={v.id} class="explain-figure">
                <img src={v.url!} alt={`${v.title} on the face crop`} />
                <figcaption>
                  <b>{v.title}</b>
                  <span>{v.summary}</span>
                </figcaption>
              </figure>
            ))}
          </div>
        )}
        {views.length > 0 && crops.length === 0 && (
          <p class="muted small" data-testid="gradcam-note">
            {last?.note ?? 'Grad-CAM needs detector weights; artifact views only.'}
          </p>
        )}
        {crops.length > 0 && last?.note && <p class="muted small" data-testid="gradcam-note">{last.note}</p>}
      </section>
      {isVideo && (
        <section class="panel" data-testid="track-panel">
          <h3 class="panel-title">Temporal consistency and blinks</h3>
          {plots.length === 0 ? (
            <p class="muted" data-testid="plots-not-computed">
              Temporal and blink plots: not computed — press Explain.
            </p>
          ) : (
            plots.map((p) => (
              <div key={String(p.track)} class="track-plots" data-testid={`track-${p.track}`}>
                <h4 class="small">Track {p.track ?? '—'}</h4>
                <div class="explain-grid explain-plots">
                  {[p.temporal, p.blink].map((r) => {
                    if (!r) return null;
                    const chart = chartOf(r.data);
                    return (
                        <figure key={r.id} class="explain-figure" data-testid={`plot-${r.kind}`}>
                          {chart ? (
                            <SeriesChart chart={chart} frame={frame} onFrame={onFrame} frameLabel={frameLabel} testid={`chart-${r.kind}`} />
                          ) : (
                            <p class="muted small" data-testid="chart-unreadable">
                              The stored series cannot be read — press Explain to compute them again.
                            </p>
                          )}
                          <figcaption>
                            <b>{r.kind === 'temporal' ? 'Temporal consistency' : 'Blinks'}</b>
                            <span data-testid="finding">{r.summary}</span>
                          </figcaption>
                        </figure>
                    );
                  })}
                </div>
              </div>
            ))
          )}
        </section>
      )}
    </>
  );
}
