import { useState } from 'preact/hooks';

export interface ChartTableRow {
  key: number | string;
  /** The sampled frame (`FrameRow.idx`) a row's button selects. */
  frame: number | null;
  /** The source frame number shown. */
  label: string;
  time: number;
  values: string[];
}

/**
 * A chart's text alternative: its samples as a table behind a disclosure (a `<details>`, so it
 * is reachable and opened by keyboard). Each row's frame is a button that selects that frame, as
 * a click on the chart does. The rows are only built while it is open.
 */
export function ChartTable({
  summary,
  caption,
  columns,
  rows,
  selected,
  onFrame,
  testid,
}: {
  summary: string;
  caption: string;
  columns: string[];
  rows: () => ChartTableRow[];
  selected?: number | null;
  onFrame?: (idx: number) => void;
  testid?: string;
}) {
  const [open, setOpen] = useState(false);
  return (
    <details class="chart-table" data-testid={testid} onToggle={(e) => setOpen((e.currentTarget as HTMLDetailsElement).open)}>
      <summary>{summary}</summary>
      {open && (
        <div class="chart-table-scroll">
          <table>
            <caption class="sr-only">{caption}</caption>
            <thead>
              <tr>
                <th scope="col">Frame</th>
                <th scope="col">Time (s)</th>
                {columns.map((c, i) => (
                  <th scope="col" key={i}>
                    {c}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {rows().map((r) => (
                <tr key={r.key} aria-current={selected != null && r.frame === selected ? 'true' : undefined}>
                  <th scope="row">
                    {onFrame && r.frame != null ? (
                      <button type="button" class="link-button" onClick={() => onFrame(r.frame!)} aria-label={`Show frame ${r.label}`}>
                        {r.label}
                      </button>
                    ) : (
                      r.label
                    )}
                  </th>
                  <td>{r.time.toFixed(2)}</td>
                  {r.values.map((v, i) => (
                    <td key={i}>{v}</td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </details>
  );
}
