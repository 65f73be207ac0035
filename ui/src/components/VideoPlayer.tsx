import { useEffect, useRef, useState } from 'preact/hooks';
import { mediaFrame, mediaInfo, toApiError, type CaseDetail, type PlayerFrame, type PlayerInfo, type SeekTo } from '../lib/api';
import { frameMarkers, sampledStep, timeLabel } from '../lib/player';
import { trackColours } from '../lib/faces';
import { FaceBoxes } from './FaceBoxes';

/** A heat map to lay over the player when it shows the explained frame. */
export interface PlayerOverlay {
  url: string;
  /** Sampled frame (`FrameRow.idx`) the map belongs to. */
  frameIdx: number;
  title: string;
  opacity: number;
}

interface Props {
  caseId: number;
  detail: CaseDetail;
  thresholds: { real: number; fake: number };
  /** The sampled frame picked in the timeline or gallery: the player seeks there. */
  frame: number | null;
  onFrame: (idx: number | null) => void;
  overlay: PlayerOverlay | null;
  /** Draw each detected face of the frame on screen (box, track colour, score, landmarks). */
  faceBoxes?: boolean;
}

/** Widest frame asked of the backend (the box is narrower; sharp on HiDPI). */
const MAX_WIDTH = 960;

/**
 * Plays a video or frame folder frame by frame, decoded on the Rust side (WebKitGTK cannot play
 * AVI/TS/MJPEG/raw H.264): a scrubber over the whole duration with the sampled frames marked in
 * their score colour, play/pause at the sampling rate, ±1 frame (buttons and ←/→), and the
 * explained frame's heat map when the player shows that frame.
 */
export function VideoPlayer({ caseId, detail, thresholds, frame, onFrame, overlay, faceBoxes = false }: Props) {
  const [img, setImg] = useState<HTMLImageElement | null>(null);
  const [info, setInfo] = useState<PlayerInfo | null>(null);
  const [shown, setShown] = useState<PlayerFrame | null>(null);
  const [err, setErr] = useState<string | null>(null);
  const [playing, setPlaying] = useState(false);
  // One decode in flight at a time; the latest wish waits and older ones are dropped.
  const busy = useRef(false);
  const pending = useRef<SeekTo | null>(null);
  const current = useRef<PlayerFrame | null>(null);
  const live = useRef(true);

  const pump = async () => {
    if (busy.current) return;
    busy.current = true;
    try {
      while (pending.current && live.current) {
        const at = pending.current;
        pending.current = null;
        try {
          const f = await mediaFrame(caseId, at, MAX_WIDTH);
          if (!live.current) return;
          current.current = f;
          setShown(f);
          setErr(null);
        } catch (e) {
          if (live.current) setErr(toApiError(e).message);
          setPlaying(false);
        }
      }
    } finally {
      busy.current = false;
    }
  };
  const seek = (at: SeekTo) => {
    pending.current = at;
    void pump();
  };

  useEffect(() => {
    live.current = true;
    setInfo(null);
    setShown(null);
    setErr(null);
    setPlaying(false);
    current.current = null;
    mediaInfo(caseId).then(
      (i) => live.current && setInfo(i),
      (e) => live.current && setErr(toApiError(e).message),
    );
    const row = frame != null ? detail.frames.find((f) => f.idx === frame) : undefined;
    seek(row ? { t: row.pts_s } : { index: 0 });
    return () => {
      live.current = false;
    };
  }, [caseId]);

  // A timeline point or a face picked elsewhere: show that sampled frame.
  useEffect(() => {
    if (frame == null) return;
    const row = detail.frames.find((f) => f.idx === frame);
    if (row) {
      setPlaying(false);
      seek({ t: row.pts_s });
    }
  }, [frame]);

  // A heat map that just arrived (Explain, or the overlay switched on) brings its frame up; after
  // that the analyst may move away and gets a "jump there" link instead.
  useEffect(() => {
    if (overlay == null) return;
    const row = detail.frames.find((f) => f.idx === overlay.frameIdx);
    if (row) {
      setPlaying(false);
      seek({ t: row.pts_s });
    }
  }, [overlay?.frameIdx, overlay?.url]);

  const step = sampledStep(detail.frames, info?.fps ?? 25);
  useEffect(() => {
    if (!playing) return;
    const id = setInterval(() => {
      // Skip a tick while a decode is still in flight rather than queueing behind it.
      if (busy.current) return;
      const cur = current.current;
      if (!cur || !info) return;
      if (cur.clamped || cur.index >= info.frame_count - 1 || cur.time_s + step > info.duration_s) {
        setPlaying(false);
        return;
      }
      seek({ t: cur.time_s + step });
    }, step * 1000);
    return () => clearInterval(id);
  }, [playing, info, step]);

  // Select the sampled frame (filters the gallery) and show it, even if it was selected already.
  const jumpTo = (idx: number) => {
    onFrame(idx);
    const row = detail.frames.find((f) => f.idx === idx);
    if (row) {
      setPlaying(false);
      seek({ t: row.pts_s });
    }
  };

  const stepBy = (delta: number) => {
    const cur = current.current;
    if (!cur) return;
    setPlaying(false);
    seek({ index: Math.max(0, Math.min((info?.frame_count ?? 1) - 1, cur.index + delta)) });
  };

  // ←/→ step one frame unless the analyst is typing or using another control's arrows.
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key !== 'ArrowLeft' && e.key !== 'ArrowRight') return;
      const t = e.target as HTMLElement | null;
      if (t && (t.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(t.tagName)) && t.dataset.testid !== 'player-scrub') return;
      if (e.altKey || e.ctrlKey || e.metaKey) return;
      e.preventDefault();
      stepBy(e.key === 'ArrowLeft' ? -1 : 1);
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [info]);

  const markers = info ? frameMarkers(detail, info, thresholds) : [];
  // The sampled frame on screen, if any (a frame the analysis kept).
  const onSampled = shown ? detail.frames.find((f) => Math.abs(f.pts_s - shown.time_s) < 0.5 / (info?.fps ?? 25)) : undefined;
  const overlayHere = overlay && onSampled && onSampled.idx === overlay.frameIdx;
  const overlayRow = overlay ? detail.frames.find((f) => f.idx === overlay.frameIdx) : undefined;
  const last = info ? Math.max(0, info.frame_count - 1) : 0;
  const boxFaces = faceBoxes && onSampled ? detail.faces.filter((f) => f.frame_idx === onSampled.idx) : [];

  return (
    <div class="player" data-testid="player">
      <div class="media-box player-box">
        {shown ? (
          <img ref={setImg} src={shown.url} alt={`frame ${shown.index}`} data-testid="player-frame" data-index={shown.index} />
        ) : (
          !err && <div class="media-placeholder muted">Decoding…</div>
        )}
        {overlayHere && overlay && (
          <img class="heat-overlay" src={overlay.url} alt={`${overlay.title}, frame ${overlayRow?.source_index ?? overlay.frameIdx}`} style={{ opacity: overlay.opacity }} data-testid="heat-overlay" />
        )}
        {overlay && !overlayHere && (
          <div class="overlay-note" data-testid="overlay-elsewhere">
            Overlay is for frame {overlayRow?.source_index ?? overlay.frameIdx} —{' '}
            <button type="button" class="link-button link-light" onClick={() => jumpTo(overlay.frameIdx)} data-testid="overlay-jump">
              jump there
            </button>
          </div>
        )}
        {faceBoxes && shown && onSampled && (
          <FaceBoxes img={img} frame={onSampled} faces={boxFaces} colours={trackColours(detail.faces)} />
        )}
        {err && (
          <div class="overlay-note overlay-error" data-testid="player-error">
            {err}
          </div>
        )}
      </div>
      {faceBoxes && shown && (
        <p class="muted small face-note" data-testid="facebox-note" aria-live="polite">
          {!onSampled
            ? 'Face boxes: this frame was not sampled — the marked frames on the scrubber have detections.'
            : boxFaces.filter((f) => !f.full_frame).length === 0
              ? `Face boxes: no face found in frame ${onSampled.source_index}.`
              : `Face boxes: ${boxFaces.filter((f) => !f.full_frame).length} face(s) in frame ${onSampled.source_index} — hover or focus a box for its landmarks.`}
        </p>
      )}
      <div class="scrub">
        <div class="scrub-marks" aria-hidden="true">
          {markers.map((m) => (
            <i
              key={m.idx}
              class={`mark${m.keyframe ? ' mark-key' : ''}${frame === m.idx ? ' mark-selected' : ''}`}
              style={{ left: `${m.pos * 100}%`, background: m.colour }}
              title={m.title}
            />
          ))}
        </div>
        <input
          type="range"
          min={0}
          max={last}
          step={1}
          value={shown?.index ?? 0}
          disabled={!info}
          onInput={(e) => {
            setPlaying(false);
            seek({ index: Number((e.target as HTMLInputElement).value) });
          }}
          aria-label="Position (frame)"
          data-testid="player-scrub"
        />
      </div>
      <div class="player-bar">
        <button
          class="icon-button"
          type="button"
          onClick={() => setPlaying(!playing)}
          disabled={!info || !shown}
          aria-label={playing ? 'Pause' : 'Play'}
          title={playing ? 'Pause' : `Play (${(1 / step).toFixed(step < 1 ? 0 : 1)} frames/s, the sampling rate)`}
          data-testid="player-play"
        >
          {playing ? '❚❚' : '▶'}
        </button>
        <button class="icon-button" type="button" onClick={() => stepBy(-1)} disabled={!shown} aria-label="Previous frame" title="Previous frame (←)" data-testid="player-prev">
          ‹
        </button>
        <button class="icon-button" type="button" onClick={() => stepBy(1)} disabled={!shown} aria-label="Next frame" title="Next frame (→)" data-testid="player-next">
          ›
        </button>
        <span class="player-time mono" data-testid="player-time">
          {timeLabel(shown?.time_s ?? 0, info?.duration_s ?? 0)} · frame {shown?.index ?? 0}/{last}
        </span>
      </div>
    </div>
  );
}
