import { useLayoutEffect, useState } from 'preact/hooks';
import type { FaceRow, FrameRow } from '../lib/api';
import { containRect, boxPercent, faceLabel, landmarkInBox, LANDMARKS, type Rect } from '../lib/faces';

interface Props {
  /** The picture the boxes lie on (painted with `object-fit: contain` inside its element). */
  img: HTMLImageElement | null;
  /** The stored frame the faces were detected in (its size is the boxes' coordinate system). */
  frame: FrameRow;
  faces: FaceRow[];
  colours: Map<number, string>;
}

/**
 * Each detected face of the frame on screen as a box in its track's colour with its score; the
 * five landmarks show on hover or focus, or stay while the box is pressed. The layer covers
 * exactly the painted picture (letterboxing left out), so stored frame pixels map by percentage
 * whatever size the picture is shown at.
 */
export function FaceBoxes({ img, frame, faces, colours }: Props) {
  const [area, setArea] = useState<Rect | null>(null);
  const [pinned, setPinned] = useState<number | null>(null);

  useLayoutEffect(() => {
    if (!img) return;
    const update = () => {
      // The picture's own aspect decides the letterboxing; the stored frame's is the fallback
      // until it has loaded (both are the same frame: the player's JPEG is only downscaled).
      const natW = img.naturalWidth || frame.width;
      const natH = img.naturalHeight || frame.height;
      const r = containRect(img.clientWidth, img.clientHeight, natW, natH);
      setArea({ x: img.offsetLeft + r.x, y: img.offsetTop + r.y, w: r.w, h: r.h });
    };
    update();
    img.addEventListener('load', update);
    const ro = typeof ResizeObserver === 'undefined' ? null : new ResizeObserver(update);
    ro?.observe(img);
    return () => {
      img.removeEventListener('load', update);
      ro?.disconnect();
    };
  }, [img, frame.width, frame.height]);

  if (!area) return null;
  const shown = faces.filter((f) => !f.full_frame);
  return (
    <div
      class="face-layer"
      style={{ left: `${area.x}px`, top: `${area.y}px`, width: `${area.w}px`, height: `${area.h}px` }}
      data-testid="face-layer"
    >
      {shown.map((f) => {
        const b = boxPercent(f.bbox, frame.width, frame.height);
        const label = faceLabel(f);
        const colour = colours.get(f.track_id) ?? '#bbbbbb';
        return (
          <button
            type="button"
            key={f.id}
            class={`face-box${b.y < 8 ? ' label-inside' : ''}`}
            style={{ left: `${b.x}%`, top: `${b.y}%`, width: `${b.w}%`, height: `${b.h}%`, '--track': colour }}
            aria-pressed={pinned === f.id}
            title={label.long}
            onClick={() => setPinned((p) => (p === f.id ? null : f.id))}
            data-testid="face-box"
            data-face={f.id}
            data-track={f.track_id}
          >
            <span class="face-label">{label.short}</span>
            <span class="sr-only">: face of {label.long}; press to keep its landmarks shown</span>
            {f.landmarks?.map((p, i) => {
              const at = landmarkInBox(p, f.bbox);
              return (
                <i
                  key={i}
                  class="face-landmark"
                  style={{ left: `${at.left}%`, top: `${at.top}%` }}
                  title={LANDMARKS[i]}
                  data-testid="face-landmark"
                />
              );
            })}
          </button>
        );
      })}
    </div>
  );
}
