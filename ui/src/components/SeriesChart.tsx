import { useEffect, useMemo, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { panelData, panelMarks, panelRange, sampleLabel, tickLabels, valueLabel, type StoredChart } from '../lib/chart';
import { axisStyle, COLOURS, cssVar, followWidth, seekOnClick, useTheme } from './chartKit';
import { ChartTable } from './ChartTable';

const PANEL_HEIGHT = 150;
/** Spans by label: blinks red, longer closures grey, anything else blue. */
const SPAN_FILL: Record<string, string> = { blink: 'rgba(224,86,122,0.22)', 'eye closure': 'rgba(150,150,150,0.25)' };
const MARK = '#f08c3a';

let nextSync = 1;

/**
 * A stored temporal / blink chart (`lib/chart.ts`) drawn with uPlot: one plot per panel,
 * stacked on a shared time axis with their cursors in step. Hovering shows the frame (its
 * source number), the time and each value; clicking picks that frame (`onFrame`, which seeks
 * the player, as on the frame timeline). Spikes are marked, blinks shaded, reference lines
 * dashed.
 */
export function SeriesChart({
  chart,
  frame,
  onFrame,
  frameLabel = (i) => i,
  testid,
}: {
  chart: StoredChart;
  /** The selected sampled frame, shown as the cursor. */
  frame?: number | null;
  onFrame?: (idx: number) => void;
  frameLabel?: (idx: number) => number | null | undefined;
  testid?: string;
}) {
  const host = useRef<HTMLDivElement>(null);
  const plots = useRef<uPlot[]>([]);
  const onFrameRef = useRef(onFrame);
  onFrameRef.current = onFrame;
  const labelRef = useRef(frameLabel);
  labelRef.current = frameLabel;
  const theme = useTheme();
  const sync = useMemo(() => `series-chart-${nextSync++}`, []);

  useEffect(() => {
    const el = host.current;
    if (!el || chart.x.length === 0) return;
    const axis = axisStyle();
    const text = cssVar('--text-2', '#aaa');
    const made = chart.panels.map((panel, p) => {
      const { series, data } = panelData(chart, panel.name);
      const marks = panelMarks(chart, panel.name);
      const last = p === chart.panels.length - 1;
      const div = document.createElement('div');
      div.className = 'series-chart-panel';
      div.dataset.panel = panel.name;
      el.appendChild(div);
      const opts: uPlot.Options = {
        title: panel.title,
        width: el.clientWidth || 640,
        height: PANEL_HEIGHT + (last ? 24 : 0),
        legend: { show: true },
        // The cursor snaps to the nearest sample (what a click seeks to); no horizontal hair.
        // Nothing is dragged, so a click is never taken for the end of a drag (uPlot's default
        // swallows it when the snapped press and the raw release differ).
        cursor: {
          drag: { x: false, y: false, click: () => {} },
          sync: { key: sync },
          y: false,
          move: (u, left, top) => {
            const i = left < 0 ? -1 : u.posToIdx(left);
            return [i >= 0 && i < chart.x.length ? u.valToPos(chart.x[i], 'x') : left, top];
          },
        },
        scales: { x: { time: false }, y: { range: panelRange(chart, panel) } },
        axes: [
          { ...axis, size: last ? 44 : 28, ...(last ? { label: chart.x_label, labelSize: 16 } : {}) },
          { ...axis, size: 60, values: (_u, ticks, _a, _space, step) => tickLabels(ticks, step) },
        ],
        series: [
          { label: 'at', value: (_u, _v, _s, i) => (i == null ? '—' : sampleLabel(chart, i, labelRef.current)) },
          ...series.map((s, i) => ({
            label: s.label,
            stroke: COLOURS[(p + i) % COLOURS.length],
            width: 1.5,
            spanGaps: false,
            points: { show: chart.x.length <= 150, size: 4 },
            value: (_u: uPlot, v: number | null) => valueLabel(v),
          })),
        ],
        hooks: {
          drawClear: [
            (u: uPlot) => {
              const ctx = u.ctx;
              ctx.save();
              for (const s of chart.spans) {
                const a = u.valToPos(Math.min(s.from, s.to), 'x', true);
                const b = u.valToPos(Math.max(s.from, s.to), 'x', true);
                const left = Math.max(a, u.bbox.left);
                const right = Math.min(b, u.bbox.left + u.bbox.width);
                if (right <= left) continue;
                ctx.fillStyle = SPAN_FILL[s.label] ?? 'rgba(59,180,224,0.18)';
                ctx.fillRect(left, u.bbox.top, Math.max(right - left, 2), u.bbox.height);
              }
              ctx.restore();
            },
          ],
          draw: [
            (u: uPlot) => {
              const ctx = u.ctx;
              const px = uPlot.pxRatio;
              ctx.save();
              ctx.strokeStyle = text;
              ctx.fillStyle = text;
              ctx.lineWidth = px;
              ctx.setLineDash([5 * px, 4 * px]);
              ctx.font = `${11 * px}px sans-serif`;
              ctx.textAlign = 'right';
              for (const l of panel.lines) {
                const y = u.valToPos(l.y, 'y', true);
                ctx.beginPath();
                ctx.moveTo(u.bbox.left, y);
                ctx.lineTo(u.bbox.left + u.bbox.width, y);
                ctx.stroke();
                ctx.fillText(l.label, u.bbox.left + u.bbox.width - 4 * px, y - 3 * px);
              }
              ctx.setLineDash([]);
              ctx.fillStyle = MARK;
              for (const m of marks) {
                const x = u.valToPos(m.x, 'x', true);
                const y = u.valToPos(m.y, 'y', true);
                ctx.fillRect(x - 4 * px, y - 4 * px, 8 * px, 8 * px);
              }
              ctx.restore();
            },
          ],
        },
      };
      const u = new uPlot(opts, data as uPlot.AlignedData, div);
      seekOnClick(u, (i) => {
        const f = chart.frames[i];
        if (f != null) onFrameRef.current?.(f);
      });
      return u;
    });
    plots.current = made;
    const unfollow = followWidth(el, made);
    return () => {
      unfollow();
      for (const u of made) u.destroy();
      el.replaceChildren();
      plots.current = [];
    };
  }, [chart, theme]);

  useEffect(() => {
    const i = frame == null ? -1 : chart.frames.indexOf(frame);
    if (i < 0) return;
    // The cursors are in step: placing it on one plot places it on all.
    const u = plots.current[0];
    u?.setCursor({ left: u.valToPos(chart.x[i], 'x'), top: 10 });
  }, [frame, chart]);

  return (
    <>
      <div
        ref={host}
        class="series-chart"
        data-testid={testid}
        data-samples={chart.x.length}
        role="img"
        aria-label={`${chart.title}: ${chart.series.map((s) => s.label).join(', ')} over ${chart.x.length} frames`}
      />
      {chart.x.length > 0 && (
        <ChartTable
          summary={`${chart.title} as a table`}
          caption={chart.title}
          columns={chart.series.map((s) => s.label)}
          rows={() =>
            chart.x.map((t, i) => ({
              key: i,
              frame: chart.frames[i] ?? null,
              label: String(frameLabel(chart.frames[i]) ?? chart.frames[i]),
              time: t,
              values: chart.series.map((s) => valueLabel(s.values[i])),
            }))
          }
          selected={frame}
          onFrame={onFrame}
          testid={testid ? `${testid}-table` : undefined}
        />
      )}
    </>
  );
}
