import { useEffect, useState } from 'preact/hooks';
import {
  caseDetail,
  explain,
  explanations,
  exportReport,
  faceImage,
  mediaImage,
  pickReportPath,
  rerun,
  toApiError,
  type CaseDetail,
  type CaseExplanation,
  type Explanation,
  type ReportFormat,
} from '../lib/api';
import { explainedFaces, frameOverlays, selectFace } from '../lib/explain';
import { trackColours } from '../lib/faces';
import { typingIn } from '../lib/shortcuts';
import { FaceBoxes } from './FaceBoxes';
import { ExplainPanel } from './ExplainPanel';
import { INSTALL_HINT, verdictBand, verdictQualifier, when } from '../lib/cases';
import { CaseNotes } from './CaseNotes';
import { DecisionBar } from './DecisionBar';
import { Timeline } from './Timeline';
import { VideoPlayer } from './VideoPlayer';
import { ProvenancePanel, ProvenanceSignals, useCaseProvenance } from './ProvenancePanel';

interface Props {
  caseId: number;
  /** Bumped by the app when a worker event touches this case, to reload it. */
  version: number;
  thresholds: { real: number; fake: number };
  /** Review controls (the review queue passes its keyboard-driven panel). */
  children?: preact.ComponentChildren;
  frame: number | null;
  onFrame: (idx: number | null) => void;
  /** Called after a decision made here, so lists can refresh. */
  onChanged?: () => void;
  /** Opens another case (the Provenance panel's "seen before" links). */
  onOpenCase?: (caseId: number) => void;
}


/** One case: media, verdict, timeline, faces, overlays, history, report export. */
export function CaseView({ caseId, version, thresholds, children, frame, onFrame, onChanged, onOpenCase }: Props) {
  const [reload, setReload] = useState(0);
  const [d, setD] = useState<CaseDetail | null>(null);
  const [err, setErr] = useState<string | null>(null);
  const [overlay, setOverlay] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);
  const [rows, setRows] = useState<Explanation[]>([]);
  const [lastRun, setLastRun] = useState<CaseExplanation | null>(null);
  const [explaining, setExplaining] = useState(false);
  const [explainErr, setExplainErr] = useState<string | null>(null);
  const [chosenFace, setChosenFace] = useState<number | null>(null);
  const [method, setMethod] = useState<string | null>(null);
  const [opacity, setOpacity] = useState(0.7);
  const [boxes, setBoxes] = useState(false);
  const [still, setStill] = useState<HTMLImageElement | null>(null);
  const provenance = useCaseProvenance(caseId, version + reload);

  useEffect(() => {
    let live = true;
    setErr(null);
    caseDetail(caseId).then(
      (x) => live && setD(x),
      (e) => live && setErr(toApiError(e).message),
    );
    // Explanations stored earlier (for this analysis) load with the case.
    explanations(caseId).then(
      (r) => live && setRows(r),
      () => live && setRows([]),
    );
    return () => {
      live = false;
    };
  }, [caseId, version, reload]);

  useEffect(() => {
    setLastRun(null);
    setExplainErr(null);
    setChosenFace(null);
  }, [caseId]);
  // Picking a face in the gallery (a frame) moves the overlay to that frame's explained face.
  useEffect(() => setChosenFace(null), [frame]);
  // B toggles the face boxes (not while typing; the review queue's keys are F/R/U/N).
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key.toLowerCase() !== 'b' || e.ctrlKey || e.metaKey || e.altKey || typingIn(e.target)) return;
      e.preventDefault();
      setBoxes((b) => !b);
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);


  if (err) return <div class="banner banner-error" data-testid="case-error">{err}</div>;
  if (!d || d.case.id !== caseId) return <div class="muted pad">Loading case…</div>;
  const c = d.case;
  const bandClass = c.status === 'done' && !c.untrained ? `verdict-${c.band}` : 'verdict-none';
  const hashes: [string, string][] = (() => {
    try {
      return JSON.parse(d.analysis?.weight_hashes ?? '[]');
    } catch {
      return [];
    }
  })();
  // Sampled frames are numbered as in the source (the player's numbering), not by sample index.
  const sourceOf = (idx: number | null | undefined) =>
    idx == null ? idx : (d.frames.find((f) => f.idx === idx)?.source_index ?? idx);
  const faces = d.faces.filter((f) => f.crop);
  const shownFaces = frame == null ? faces : faces.filter((f) => f.frame_idx === frame);

  const face = selectFace(rows, chosenFace, frame);
  const overlays = frameOverlays(rows, face);
  const shown = overlays.find((o) => o.kind === method) ?? overlays[0] ?? null;
  const camNote = lastRun?.note ?? 'Grad-CAM needs detector weights; artifact views only.';
  // Videos and frame folders (live recordings too) play in the Rust-decoded player.
  const playable = d.media.kind === 'video' || d.media.kind === 'framefolder';
  // The still of an image case, loaded by the webview from the core's `verity:` scheme.
  const img = d.media.kind === 'image' ? mediaImage(c.id) : null;

  const doExplain = async () => {
    setExplaining(true);
    setExplainErr(null);
    try {
      const run = await explain(c.id, frame);
      setLastRun(run);
      setRows(await explanations(c.id));
    } catch (e) {
      setExplainErr(`Explain failed: ${toApiError(e).message}`);
    } finally {
      setExplaining(false);
    }
  };

  const doExport = async (format: ReportFormat) => {
    setNotice(null);
    try {
      const path = await pickReportPath(`${c.title}.report.${format}`, format);
      if (!path) return;
      await exportReport(c.id, format, path);
      setNotice(`Report written to ${path}`);
    } catch (e) {
      setNotice(`Export failed: ${toApiError(e).message}`);
    }
  };

  return (
    <div class="case-view" data-testid="case-view">
      <div class="case-head">
        <div class="case-head-text">
          <h1 data-testid="case-title">{c.title}</h1>
          <p class="muted mono">
            Case {c.id} · {d.media.kind} · imported {when(d.media.imported_at)} · sha256 {c.sha256.slice(0, 16)}…
            {' · '}
            <span data-testid="media-verified" title="The stored copy was re-hashed and matched the SHA-256 recorded at import (verity verify)">
              {d.media.verified_at ? `media verified ${when(d.media.verified_at)}` : 'media not verified since import'}
            </span>
          </p>
        </div>
        <div class="case-actions">
          <button
            class="button button-primary"
            type="button"
            onClick={doExplain}
            disabled={explaining || !d.analysis || c.status === 'running'}
            title={!d.analysis ? 'Explain needs an analysis of this case' : 'Grad-CAM, artifact views, temporal and blink analysis'}
            data-testid="explain"
          >
            {explaining ? 'Explaining…' : frame != null ? `Explain frame ${sourceOf(frame)}` : 'Explain'}
          </button>
          <button class="button" type="button" onClick={() => rerun(c.id)} data-testid="rerun">
            Re-run
          </button>
          <button class="button" type="button" onClick={() => doExport('html')} data-testid="export-html">
            Export HTML
          </button>
          <button class="button" type="button" onClick={() => doExport('json')}>
            JSON
          </button>
          <button class="button" type="button" onClick={() => doExport('pdf')} data-testid="export-pdf" title="The HTML report printed to PDF (needs Chromium)">
            PDF
          </button>
        </div>
      </div>
      {notice && <div class="banner" data-testid="export-notice">{notice}</div>}
      {explainErr && (
        <div class="banner banner-error" data-testid="explain-error">
          {explainErr}
        </div>
      )}
      {lastRun && (
        <div class="banner" data-testid="explain-done">
          Explained frame {sourceOf(lastRun.frame)}: {lastRun.faces} face(s), {lastRun.seconds_per_face.toFixed(2)} s per face
          {lastRun.findings.length > 0 && ` · ${lastRun.findings.length} video finding(s) below`}
        </div>
      )}

      <div class="case-grid">
        <section class="panel media-panel">
          {playable ? (
            <VideoPlayer
              caseId={c.id}
              detail={d}
              thresholds={thresholds}
              frame={frame}
              onFrame={onFrame}
              overlay={overlay && shown?.url && shown.frame_idx != null ? { url: shown.url, frameIdx: shown.frame_idx, title: shown.title, opacity } : null}
              faceBoxes={boxes}
            />
          ) : (
            <div class="media-box">
              {img ? (
                <img ref={setStill} src={img} alt={c.title} data-testid="media-image" />
              ) : overlay && shown ? null : (
                <div class="media-placeholder muted">
                  {d.media.kind === 'image' ? 'Loading image…' : `${d.media.kind}: ${d.frames.length} sampled frames — see the timeline and faces`}
                </div>
              )}
              {overlay && shown && (
                <img
                  class={img ? 'heat-overlay' : 'heat-frame'}
                  src={shown.url!}
                  alt={`${shown.title}, frame ${sourceOf(shown.frame_idx)}`}
                  style={{ opacity }}
                  data-testid="heat-overlay"
                />
              )}
              {img && boxes && d.frames[0] && (
                <FaceBoxes
                  img={still}
                  frame={d.frames[0]}
                  faces={d.faces.filter((f) => f.frame_idx === d.frames[0].idx)}
                  colours={trackColours(d.faces)}
                />
              )}
              {overlay && !shown && (
                <div class="overlay-note" data-testid="overlay-not-computed">
                  {rows.length === 0 ? 'Heat-map overlay: not computed — press Explain' : camNote}
                </div>
              )}
              {overlay && shown && !img && (
                <div class="overlay-note">
                  {shown.title} over frame {sourceOf(shown.frame_idx)} (the face's frame; videos have no still to overlay)
                </div>
              )}
            </div>
          )}
          {playable && overlay && !shown && (
            <p class="muted small" data-testid="overlay-not-computed">
              {rows.length === 0 ? 'Heat-map overlay: not computed — press Explain' : camNote}
            </p>
          )}
          <div class="overlay-controls">
            <label class="toggle">
              <input type="checkbox" checked={overlay} onChange={() => setOverlay(!overlay)} data-testid="overlay-toggle" />
              Heat-map overlay
            </label>
            <label class="toggle" title="Each detected face's box, track colour and score on the frame shown (B)">
              <input type="checkbox" checked={boxes} onChange={() => setBoxes(!boxes)} data-testid="facebox-toggle" />
              Face boxes
            </label>
            {overlay && overlays.length > 0 && (
              <>
                <select
                  value={shown?.kind ?? ''}
                  onChange={(e) => setMethod((e.target as HTMLSelectElement).value)}
                  data-testid="overlay-method"
                  aria-label="Heat-map method"
                >
                  {overlays.map((o) => (
                    <option key={o.kind} value={o.kind}>
                      {o.title}
                    </option>
                  ))}
                </select>
                <label class="toggle">
                  Opacity
                  <input
                    type="range"
                    min={0}
                    max={1}
                    step={0.05}
                    value={opacity}
                    onInput={(e) => setOpacity(Number((e.target as HTMLInputElement).value))}
                    data-testid="overlay-opacity"
                  />
                </label>
              </>
            )}
          </div>
          {overlay && shown && <p class="muted small" data-testid="overlay-summary">{shown.summary}</p>}
        </section>

        <section class="panel verdict-panel">
          <div class={`verdict ${bandClass}`} data-testid="verdict">
            {verdictBand(c)}
            {verdictQualifier(c) && <span class="verdict-qualifier">{verdictQualifier(c)}</span>}
          </div>
          {c.scope && c.scope.length > 0 && (
            <ul class="scope-list" data-testid="scope-list" aria-label="Scope: why this verdict is less reliable">
              {c.scope.map((w) => (
                <li class={`scope-item scope-${w.severity}`} data-testid={`scope-${w.code}`}>
                  <b>{w.severity === 'warning' ? 'Scope warning' : 'Not checked'}</b> {w.text}
                </li>
              ))}
            </ul>
          )}
          {c.untrained && (
            <div class="badge-untrained" data-testid="untrained-badge">
              UNTRAINED — random-weight profile; this score is not a verdict
            </div>
          )}
          {c.status === 'not_scored' && (
            <div class="banner banner-warn" data-testid="not-scored">
              Not scored — install weights: <code>{INSTALL_HINT}</code>
            </div>
          )}
          {c.message && c.status !== 'not_scored' && !(c.untrained && /untrained/i.test(c.message)) && (
            <div class={`banner ${c.status === 'failed' ? 'banner-error' : ''}`} data-testid="case-message">
              {c.message}
            </div>
          )}
          <ProvenanceSignals signals={provenance.data?.signals ?? []} />
          <dl class="facts">
            <dt>Score</dt>
            <dd data-testid="score">{c.score != null ? c.score.toFixed(4) : '—'}</dd>
            <dt>Band</dt>
            <dd>{c.band ? (c.band === 'review' ? `needs review (${thresholds.real}–${thresholds.fake})` : c.band) : '—'}</dd>
            <dt>Profile</dt>
            <dd data-testid="profile">{c.profile ?? 'none installed'}</dd>
            {d.analysis?.preprocessing && (
              <>
                <dt>Face preprocessing</dt>
                <dd class="small" data-testid="preprocessing">
                  {d.analysis.preprocessing}
                </dd>
              </>
            )}
            <dt>Frames / faces</dt>
            <dd>
              {d.frames.length} / {d.faces.length}
            </dd>
            {hashes.slice(0, 3).map(([f, h]) => (
              <>
                <dt>{f}</dt>
                <dd class="mono">{h.slice(0, 16)}…</dd>
              </>
            ))}
          </dl>
          {children ?? (
            <DecisionBar
              caseId={c.id}
              reviewed={d.reviews.length > 0}
              decision={d.decision ?? null}
              onDone={() => {
                setReload((r) => r + 1);
                onChanged?.();
              }}
            />
          )}
          {d.reviews.length > 0 && (
            <p class="muted small" data-testid="last-review">
              {d.decision ? (
                <>
                  Decision: <b>{d.decision.verdict.toUpperCase()}</b> by {d.decision.analyst}, {when(d.decision.created_at)}
                </>
              ) : (
                'No decision (the last one was undone)'
              )}
            </p>
          )}
        </section>
      </div>


      <CaseNotes
        caseId={c.id}
        tags={c.tags ?? []}
        note={d.note ?? ''}
        onChanged={() => {
          setReload((r) => r + 1);
          onChanged?.();
        }}
      />

      <section class="panel">
        <h3 class="panel-title">Frame timeline</h3>
        <Timeline detail={d} thresholds={thresholds} frame={frame} onFrame={onFrame} />
      </section>

      <section class="panel">
        <h3 class="panel-title">
          Faces ({faces.length}){frame != null && ` · frame ${sourceOf(frame)}`}
          {frame != null && (
            <button class="link-button" type="button" onClick={() => onFrame(null)}>
              show all
            </button>
          )}
        </h3>
        {shownFaces.length === 0 ? (
          <p class="muted">No face found.</p>
        ) : (
          <div class="gallery" data-testid="gallery">
            {shownFaces.slice(0, 60).map((f) => (
              <figure key={f.id} class={frame === f.frame_idx ? 'selected' : ''} onClick={() => onFrame(f.frame_idx)}>
                {/* The figure takes the click; the button makes it reachable by keyboard. */}
                <button
                  type="button"
                  class="gallery-pick"
                  aria-pressed={frame === f.frame_idx}
                  aria-label={`Show frame ${sourceOf(f.frame_idx)} (track ${f.track_id}, score ${f.score != null ? f.score.toFixed(3) : 'not scored'})`}
                >
                  {f.crop ? <img src={faceImage(c.id, f.id)} loading="lazy" alt="" /> : <div class="crop-placeholder" />}
                </button>
                <figcaption>
                  <span>f{sourceOf(f.frame_idx)} · t{f.track_id}</span>
                  <b>{f.score != null ? f.score.toFixed(3) : 'n/s'}</b>
                </figcaption>
              </figure>
            ))}
          </div>
        )}
      </section>

      <ProvenancePanel data={provenance.data} error={provenance.error} onOpenCase={onOpenCase} />

      <ExplainPanel
        rows={rows}
        face={face}
        last={lastRun}
        isVideo={d.media.kind !== 'image'}
        faces={explainedFaces(rows)}
        onFace={setChosenFace}
        frameLabel={sourceOf}
        frame={frame}
        onFrame={onFrame}
      />

      <section class="panel">
        <h3 class="panel-title">History</h3>
        <ul class="history" data-testid="history">
          {d.audit
            .slice()
            .reverse()
            .map((a) => (
              <li key={a.id}>
                <span class="mono muted">{when(a.at)}</span> <b>{a.actor}</b> {describe(a.action, a.details)}
              </li>
            ))}
        </ul>
      </section>
    </div>
  );
}

function describe(action: string, details: unknown): string {
  const d = (details ?? {}) as Record<string, unknown>;
  switch (action) {
    case 'review':
      return `decided ${String(d.verdict).toUpperCase()}${d.note ? ` — “${String(d.note)}”` : ''}`;
    case 'review_retracted':
      return `undid the decision ${String(d.verdict).toUpperCase()}`;
    case 'tags_changed': {
      const list = (v: unknown) => (Array.isArray(v) ? v.map(String).join(', ') : '');
      const added = list(d.added);
      const removed = list(d.removed);
      return `changed the tags${added ? ` — added ${added}` : ''}${removed ? `${added ? ';' : ' —'} removed ${removed}` : ''}`;
    }
    case 'note_changed':
      return d.note ? 'changed the case note' : 'removed the case note';
    case 'import':
      return 'imported the media';
    case 'reimport':
      return 'imported the same media again';
    case 'analysis_start':
      return 'started an analysis';
    case 'analysis_end':
      return `finished the analysis: ${String(d.status).replace('_', ' ')}${typeof d.score === 'number' ? ` (${d.score.toFixed(3)})` : ''}`;
    case 'explain':
      return `stored an explanation (${String(d.kind ?? 'view').replace(/_/g, ' ')}${d.face_id != null ? `, face ${String(d.face_id)}` : ''})`;
    case 'analysis_interrupted':
      return 'analysis was interrupted';
    default:
      return action.replace(/_/g, ' ');
  }
}
