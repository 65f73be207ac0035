import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { CaseDetail } from '../lib/api';
import { axisStyle, COLOURS, cssVar, followWidth, seekOnClick, useTheme } from './chartKit';
import { timelineTable, trackOrder } from '../lib/faces';
import { ChartTable } from './ChartTable';

/** Frame scores per face track over time (uPlot), the review band shaded, keyframes ticked.
 *  Clicking a point selects that frame. */
export function Timeline({
  detail,
  thresholds,
  frame,
  onFrame,
}: {
  detail: CaseDetail;
  thresholds: { real: number; fake: number };
  frame: number | null;
  onFrame: (idx: number) => void;
}) {
  const host = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const onFrameRef = useRef(onFrame);
  onFrameRef.current = onFrame;
  const frames = detail.frames;
  const scored = detail.faces.some((f) => f.score != null);
  // The chart paints with theme colours; rebuild it when the theme flips.
  const theme = useTheme();

  useEffect(() => {
    const el = host.current;
    if (!el || frames.length === 0 || !scored) return;
    // The face boxes on the player take the same colour per track (lib/faces.ts).
    const tracks = trackOrder(detail.faces);
    const xs = frames.map((f) => f.pts_s);
    const rowOf = new Map(frames.map((f, i) => [f.idx, i]));
    const series = tracks.map((t) => {
      const ys: (number | null)[] = frames.map(() => null);
      for (const f of detail.faces) if (f.track_id === t && f.score != null) ys[rowOf.get(f.frame_idx) ?? 0] = f.score;
      return ys;
    });
    const axis = axisStyle();
    const keyframes = frames.filter((f) => f.keyframe).map((f) => f.pts_s);
    const opts: uPlot.Options = {
      width: el.clientWidth || 640,
      height: 180,
      legend: { show: tracks.length > 0 },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: false }, y: { range: [0, 1] } },
      axes: [
        { ...axis, label: 'time (s)', labelSize: 18, size: 36 },
        { ...axis, size: 40, values: (_u, v) => v.map((x) => x.toFixed(1)) },
      ],
      series: [
        { label: 't (s)' },
        ...tracks.map((t, i) => ({
          label: `track ${t}`,
          stroke: COLOURS[i % COLOURS.length],
          width: 1.5,
          spanGaps: false,
          points: { show: true, size: 6 },
        })),
      ],
      hooks: {
        drawClear: [
          (u: uPlot) => {
            // The needs-review band, under the lines.
            const ctx = u.ctx;
            const top = u.valToPos(thresholds.fake, 'y', true);
            const bottom = u.valToPos(thresholds.real, 'y', true);
            ctx.save();
            ctx.fillStyle = 'rgba(242,169,59,0.13)';
            ctx.fillRect(u.bbox.left, top, u.bbox.width, bottom - top);
            ctx.restore();
          },
        ],
        draw: [
          (u: uPlot) => {
            const ctx = u.ctx;
            ctx.save();
            ctx.strokeStyle = cssVar('--text-2', '#aaa');
            ctx.lineWidth = 2;
            for (const t of keyframes) {
              const x = u.valToPos(t, 'x', true);
              ctx.beginPath();
              ctx.moveTo(x, u.bbox.top + u.bbox.height);
              ctx.lineTo(x, u.bbox.top + u.bbox.height - 8);
              ctx.stroke();
            }
            ctx.restore();
          },
        ],
      },
    };
    const u = new uPlot(opts, [xs, ...series] as uPlot.AlignedData, el);
    seekOnClick(u, (i) => {
      if (frames[i]) onFrameRef.current(frames[i].idx);
    });
    plot.current = u;
    const unfollow = followWidth(el, [u]);
    return () => {
      unfollow();
      u.destroy();
      plot.current = null;
    };
  }, [detail, thresholds.real, thresholds.fake, theme]);

  useEffect(() => {
    const u = plot.current;
    if (!u || frame == null) return;
    const i = frames.findIndex((f) => f.idx === frame);
    if (i >= 0) u.setCursor({ left: u.valToPos(frames[i].pts_s, 'x'), top: 10 });
  }, [frame]);

  return (
    <div class="timeline" data-testid="timeline">
      {!scored && (
        <p class="muted timeline-empty" data-testid="timeline-empty">
          No frame scores — this case was not scored. {frames.length} frame(s) sampled
          {frames.some((f) => f.keyframe) ? `, ${frames.filter((f) => f.keyframe).length} keyframe(s)` : ''}. Install a detector to see
          scores over time.
        </p>
      )}
      {scored && <div ref={host} class="timeline-plot" role="img" aria-label="Fake probability of each face track over time; the table below lists the values" />}
      {frames.length > 0 && (
        <ChartTable
          summary={`Frame scores as a table (${frames.length} sampled frames)`}
          caption="Fake probability of each face track at each sampled frame"
          columns={trackOrder(detail.faces).map((t) => `Track ${t}`)}
          rows={() =>
            timelineTable(detail).rows.map((r) => ({
              key: r.frame.idx,
              frame: r.frame.idx,
              label: `${r.frame.source_index}${r.frame.keyframe ? ' (keyframe)' : ''}`,
              time: r.frame.pts_s,
              values: r.scores.map((v) => (v == null ? '—' : v.toFixed(3))),
            }))
          }
          selected={frame}
          onFrame={onFrame}
          testid="timeline-table"
        />
      )}
    </div>
  );
}
