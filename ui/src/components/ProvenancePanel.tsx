import { useEffect, useState } from 'preact/hooks';
import {
  caseProvenance,
  faceImage,
  mediaFrame,
  mediaImage,
  toApiError,
  type CaseProvenance,
  type ProvenanceSection,
  type ProvenanceSignal,
  type Similar,
  type SimilarFrame,
} from '../lib/api';
import { LEVEL_LABELS, formatCosine, formatHamming, hasPrivate, orderSignals, shownValue } from '../lib/provenance';
import { when } from '../lib/cases';

/** The case's provenance as the core computed it (`case_provenance`), reloaded with the case. */
export function useCaseProvenance(caseId: number, version: number): { data: CaseProvenance | null; error: string | null } {
  const [data, setData] = useState<CaseProvenance | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    setError(null);
    caseProvenance(caseId).then(
      (p) => {
        if (!live) return;
        setData(p ?? null);
      },
      (e) => {
        if (!live) return;
        setData(null);
        setError(toApiError(e).message);
      },
    );
    return () => {
      live = false;
    };
  }, [caseId, version]);
  return { data, error };
}

/**
 * Verdict context: the provenance and seen-before signals as chips, warnings first, each with
 * its source (shown small on hover or focus, always part of its accessible name). Boxed apart
 * from the score and labelled as not part of it: provenance never moves the detector's score.
 */
export function ProvenanceSignals({ signals }: { signals: readonly ProvenanceSignal[] }) {
  if (signals.length === 0) return null;
  return (
    <section class="signals" aria-labelledby="signals-title" data-testid="provenance-signals">
      <h2 class="signals-title" id="signals-title">
        Provenance signals <span class="signals-note">— not part of the detector's score</span>
      </h2>
      <ul class="signal-list">
        {orderSignals(signals).map((s, i) => (
          // Focusable so a keyboard user can bring up the source as a mouse user does by hovering.
          <li key={i} class={`signal signal-${s.level}`} tabIndex={0} data-testid="signal" data-level={s.level}>
            <span class="signal-level">{LEVEL_LABELS[s.level] ?? s.level}</span>
            <span class="signal-text">{s.text}</span>
            <span class="signal-source" data-testid="signal-source">
              <span class="sr-only">, source: </span>
              {s.source}
            </span>
          </li>
        ))}
      </ul>
    </section>
  );
}

function Section({ s, showPrivate }: { s: ProvenanceSection; showPrivate: boolean }) {
  const problems = s.problems ?? [];
  return (
    <section class="prov-section" data-testid="prov-section" data-title={s.title}>
      <h4 class="prov-section-title">{s.title}</h4>
      {s.fields.length > 0 && (
        <dl class="prov-fields">
          {s.fields.map((f, i) => {
            const value = shownValue(f, showPrivate);
            return (
              <div key={i} class={`prov-row${f.flagged ? ' prov-flagged' : ''}`} data-testid="prov-field" data-flagged={f.flagged ? 'true' : undefined}>
                <dt>
                  {f.label}
                  {f.flagged && <span class="sr-only"> (flagged)</span>}
                </dt>
                <dd class={value == null ? 'muted' : undefined} data-private={f.private ? 'true' : undefined}>
                  {value ?? 'hidden (private data)'}
                </dd>
              </div>
            );
          })}
        </dl>
      )}
      {problems.map((p, i) => (
        <p key={i} class="prov-problem" data-testid="prov-problem">
          Could not read: {p}
        </p>
      ))}
    </section>
  );
}

/**
 * The Provenance panel of the case view: what the file says about itself (sections of
 * label/value rows, flagged rows highlighted, what could not be read), private data behind a
 * toggle, and the other cases this media or its faces were seen in.
 */
export function ProvenancePanel({
  data,
  error,
  onOpenCase,
}: {
  data: CaseProvenance | null;
  error: string | null;
  onOpenCase?: (caseId: number) => void;
}) {
  const [showPrivate, setShowPrivate] = useState(false);
  const p = data?.provenance ?? null;
  const sections = (p?.sections ?? []).filter((s) => s.fields.length > 0 || (s.problems ?? []).length > 0);
  return (
    <section class="panel provenance-panel" aria-labelledby="provenance-title" data-testid="provenance-panel">
      <h3 class="panel-title" id="provenance-title">
        Provenance
        {p && <span class="panel-title-note">computed {when(p.computed_at)}</span>}
      </h3>
      <p class="muted small prov-lede">What the file says about where it came from — read at import, never part of the detector's score.</p>
      {error ? (
        <div class="banner banner-error" data-testid="provenance-error">
          Provenance could not be loaded: {error}
        </div>
      ) : !data ? (
        <p class="muted">Loading provenance…</p>
      ) : !p ? (
        <p class="muted" data-testid="provenance-empty">
          No provenance recorded for this case (imported before Verity Desk recorded provenance); re-run the analysis to compute it.
        </p>
      ) : (
        <>
          {hasPrivate(sections) && (
            <div class="prov-private">
              <label class="toggle">
                <input type="checkbox" checked={showPrivate} onChange={() => setShowPrivate(!showPrivate)} data-testid="show-private" />
                Show private data (GPS, serial numbers)
              </label>
              <p class="muted small" data-testid="privacy-note">
                Private data can locate a person or identify their device: show it only when the case needs it.
              </p>
            </div>
          )}
          {sections.length === 0 ? (
            <p class="muted" data-testid="provenance-nothing">The file carries no metadata the desk could read.</p>
          ) : (
            <div class="prov-sections">
              {sections.map((s, i) => (
                <Section key={`${i}-${s.title}`} s={s} showPrivate={showPrivate} />
              ))}
            </div>
          )}
        </>
      )}
      {data && <SeenBefore similar={data.similar ?? null} onOpenCase={onOpenCase} />}
    </section>
  );
}

/** A small picture of the matching frame of the other case: its photo through the `verity:`
 *  scheme (image cases only), else — when that answers nothing — that frame of its video or
 *  frame folder, decoded by the core (the player's `media_frame`). */
function FrameThumb({ m }: { m: SimilarFrame }) {
  const [url, setUrl] = useState<string | null>(mediaImage(m.case_id));
  useEffect(() => setUrl(mediaImage(m.case_id)), [m.case_id]);
  const fallBack = () => {
    setUrl(null);
    mediaFrame(m.case_id, { t: Math.max(0, m.other_pts_s ?? 0) }, 160).then(
      (f) => setUrl(f.url),
      () => setUrl(null),
    );
  };
  return url ? (
    <img class="seen-thumb" src={url} alt="" loading="lazy" onError={url.startsWith('data:') ? () => setUrl(null) : fallBack} data-testid="seen-thumb" />
  ) : (
    <div class="seen-thumb crop-placeholder" />
  );
}

const openButton = (id: number, title: string, onOpenCase?: (caseId: number) => void) => (
  <button type="button" class="link-button seen-open" onClick={() => onOpenCase?.(id)} disabled={!onOpenCase} data-testid="seen-open" data-case={id}>
    Open case {id}
    <span class="sr-only"> ({title})</span>
  </button>
);

/** The other cases this media (same or near-same frames) or its faces (close CLIP embeddings)
 *  were seen in, each with a picture, its title and date, how close, and a link to open it. */
function SeenBefore({ similar, onOpenCase }: { similar: Similar | null; onOpenCase?: (caseId: number) => void }) {
  const frames = similar?.frames ?? [];
  const faces = similar?.faces ?? [];
  return (
    <section class="seen-before" aria-labelledby="seen-title" data-testid="seen-before">
      <h4 class="prov-section-title" id="seen-title">
        Seen before
      </h4>
      {!similar ? (
        <p class="muted small" data-testid="seen-not-computed">
          The other cases could not be searched (the reason is in the log).
        </p>
      ) : frames.length + faces.length === 0 ? (
        <p class="muted small" data-testid="seen-none">
          Not seen in any other case
        </p>
      ) : (
        <ul class="seen-list">
          {frames.map((m) => (
            <li key={`fr-${m.case_id}`} class="seen-item" data-testid="seen-frame" data-case={m.case_id}>
              <FrameThumb m={m} />
              <div class="seen-text">
                <b class="seen-title">{m.title}</b>
                <span class="muted small">
                  Case {m.case_id} · {when(m.created_at)} ·{' '}
                  {m.same_file ? 'the same file' : m.distance === 0 ? 'identical frame hash' : `near-identical frame, Hamming distance ${formatHamming(m.distance)}`}
                </span>
              </div>
              {openButton(m.case_id, m.title, onOpenCase)}
            </li>
          ))}
          {faces.map((m) => (
            <li key={`fa-${m.case_id}`} class="seen-item" data-testid="seen-face" data-case={m.case_id}>
              {m.other_has_crop ? (
                <img class="seen-thumb" src={faceImage(m.case_id, m.other_face_id)} alt="" loading="lazy" data-testid="seen-thumb" />
              ) : (
                <div class="seen-thumb crop-placeholder" />
              )}
              <div class="seen-text">
                <b class="seen-title">{m.title}</b>
                <span class="muted small">
                  Case {m.case_id} · {when(m.created_at)} · same face, cosine {formatCosine(m.cosine)}
                  {m.faces_matched > 1 && ` · ${m.faces_matched} faces matched`}
                </span>
                {m.untrained && (
                  <span class="small seen-untrained" data-testid="seen-untrained">
                    UNTRAINED profile: the pictures are alike; this says nothing about the person
                  </span>
                )}
              </div>
              {openButton(m.case_id, m.title, onOpenCase)}
            </li>
          ))}
        </ul>
      )}
      {similar && (
        <p class="muted small seen-how" data-testid="seen-how">
          Frames match within {formatHamming(similar.hamming_max)} of 64 (perceptual hash, {similar.hashed_frames} frame
          {similar.hashed_frames === 1 ? '' : 's'} hashed); faces at cosine ≥ {similar.cosine_min.toFixed(2)} ({similar.embedded_faces} face
          {similar.embedded_faces === 1 ? '' : 's'} embedded{similar.face_search ? `, ${similar.face_search}` : ''}).
        </p>
      )}
      {(similar?.notes ?? []).map((n, i) => (
        <p key={i} class="muted small" data-testid="seen-note">
          {n}
        </p>
      ))}
    </section>
  );
}
