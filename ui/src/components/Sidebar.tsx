import { useState } from 'preact/hooks';
import type { CaseSummary, TagCount } from '../lib/api';
import * as selection from '../lib/selection';
import { BatchBar } from './BatchBar';
import { BUCKET_LABELS, BUCKETS, DATE_RANGES, bucketOf, inDateRange, sortCases, verdictBand, verdictQualifier, when, type Bucket, type DateRange, type SortKey } from '../lib/cases';
import { FolderIcon, ImportIcon, SearchIcon } from './icons';
import { Jobs, type JobView } from './Jobs';

interface Props {
  cases: readonly CaseSummary[];
  counts: Record<string, number>;
  bucket: Bucket | null;
  onBucket: (b: Bucket | null) => void;
  search: string;
  onSearch: (s: string) => void;
  /** The tag filter (null: any tag), the tags in use, and the setter. */
  tag?: string | null;
  tags?: readonly TagCount[];
  onTag?: (t: string | null) => void;
  sort: SortKey;
  onSort: (s: SortKey) => void;
  dateRange?: DateRange;
  onDateRange?: (r: DateRange) => void;
  selected: number | null;
  onSelect: (id: number) => void;
  onImport: () => void;
  onImportFolder: () => void;
  /** Opens the live-source dialog. */
  onLive?: () => void;
  importing: boolean;
  jobs: readonly JobView[];
  onCancel: (job: number) => void;
}

/** The left column: import, running jobs, per-band counters (click to filter), search, the cases. */
export function Sidebar(p: Props) {
  const total = Object.values(p.counts).reduce((a, b) => a + b, 0);
  const range = p.dateRange ?? 'any';
  const shown = sortCases(
    p.cases.filter((c) => inDateRange(c, range)),
    p.sort,
  );
  // Multi-select (lib/selection.ts): checkboxes, Shift+click ranges, Ctrl/⌘+A and Esc in the list.
  const shownIds = shown.map((c) => c.id);
  const [picked, setPicked] = useState(selection.EMPTY);
  const checked = selection.prune(picked, shownIds);
  const onListKey = (e: KeyboardEvent) => {
    if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 'a') {
      e.preventDefault();
      setPicked(selection.all(shownIds));
    } else if (e.key === 'Escape' && checked.ids.length > 0) {
      e.preventDefault();
      setPicked(selection.EMPTY);
    }
  };
  return (
    <aside class="sidebar" aria-label="Cases">
      <div class="sidebar-head">
        <h2 class="section-title">Cases</h2>
        <span class="count" data-testid="case-count">
          {total}
        </span>
      </div>
      <div class="import-row">
        <button
          class="button button-primary"
          type="button"
          onClick={p.onImport}
          disabled={p.importing}
          data-testid="import-button"
          title="Import images or videos (Ctrl+O) — or drop files and folders onto the window"
        >
          <ImportIcon size={17} />
          <span>Import…</span>
          <kbd>Ctrl O</kbd>
        </button>
        <button class="button" type="button" onClick={p.onImportFolder} disabled={p.importing} data-testid="import-folder" title="Import a folder">
          <FolderIcon size={17} />
        </button>
      </div>
      {p.onLive && (
        <button class="button button-block" type="button" onClick={p.onLive} data-testid="live-button" title="Record a stream (RTSP, UDP …) or a webcam and analyse it">
          Live source…
        </button>
      )}

      <Jobs jobs={p.jobs} onCancel={p.onCancel} />

      <div class="bands" role="group" aria-label="Cases per band (press one to show only its cases)">
        {BUCKETS.map((b) => (
          <button
            type="button"
            class={`band band-${b}${p.bucket === b ? ' active' : ''}`}
            key={b}
            data-testid={`band-${b}`}
            aria-pressed={p.bucket === b}
            onClick={() => p.onBucket(p.bucket === b ? null : b)}
            title={b === 'review' ? 'Score between the thresholds (0.3–0.7 by default): needs a human decision' : `Show only: ${BUCKET_LABELS[b]}`}
          >
            <span class="band-count">{p.counts[b] ?? 0}</span>
            <span class="band-label">
              <i class="dot" />
              {BUCKET_LABELS[b]}
            </span>
          </button>
        ))}
      </div>

      <div class="list-tools">
        <label class="search">
          <SearchIcon size={15} />
          <input
            type="search"
            placeholder="Search"
            title="Search by file name, SHA-256, tag or case note"
            aria-label="Search cases by file name, SHA-256, tag or case note"
            value={p.search}
            data-testid="case-search"
            onInput={(e) => p.onSearch((e.target as HTMLInputElement).value)}
          />
        </label>
      </div>
      {p.onTag && (
        <div class="list-tools">
          <select
            class="select"
            value={p.tag ?? ''}
            aria-label="Filter cases by tag"
            data-testid="case-tag-filter"
            onChange={(e) => p.onTag?.((e.target as HTMLSelectElement).value || null)}
          >
            <option value="">Any tag</option>
            {p.tag && !(p.tags ?? []).some((t) => t.tag.toLowerCase() === p.tag!.toLowerCase()) && <option value={p.tag}>{p.tag}</option>}
            {(p.tags ?? []).map((t) => (
              <option value={t.tag} key={t.tag}>
                {t.tag} ({t.cases})
              </option>
            ))}
          </select>
        </div>
      )}
      <div class="list-tools">
        <select
          class="select"
          value={range}
          aria-label="Filter cases by import date"
          data-testid="case-date"
          onChange={(e) => p.onDateRange?.((e.target as HTMLSelectElement).value as DateRange)}
        >
          {DATE_RANGES.map(([v, label]) => (
            <option value={v} key={v}>
              {label}
            </option>
          ))}
        </select>
        <select
          class="select"
          value={p.sort}
          aria-label="Sort cases"
          data-testid="case-sort"
          onChange={(e) => p.onSort((e.target as HTMLSelectElement).value as SortKey)}
        >
          <option value="date">Newest</option>
          <option value="oldest">Oldest</option>
          <option value="name">Name</option>
          <option value="score">Score</option>
        </select>
      </div>

      {checked.ids.length > 0 && <BatchBar ids={checked.ids} onClear={() => setPicked(selection.EMPTY)} />}
      <div class="case-list" data-testid="case-list" onKeyDown={onListKey}>
        {shown.length === 0 ? (
          <div class="empty" data-testid="case-empty">
            <FolderIcon size={28} />
            <p>{total === 0 ? 'No cases yet — import an image or video' : 'No case matches this filter'}</p>
          </div>
        ) : (
          <ul>
            {shown.map((c) => (
              <li key={c.id}>
                <input
                  type="checkbox"
                  class="case-check"
                  checked={checked.ids.includes(c.id)}
                  aria-label={`Select ${c.title}`}
                  title="Select (Shift+click: a range; Ctrl+A: all shown)"
                  data-testid={`case-check-${c.id}`}
                  onClick={(e) => setPicked(selection.click(checked, shownIds, c.id, e.shiftKey))}
                />
                <button
                  type="button"
                  class={`case case-${bucketOf(c)}${p.selected === c.id ? ' selected' : ''}`}
                  onClick={() => p.onSelect(c.id)}
                  data-testid={`case-${c.id}`}
                >
                  <i class="dot" />
                  <span class="case-main">
                    <span class="case-title">{c.title}</span>
                    <span class="case-sub">
                      {when(c.created_at)} · {c.media_kind}
                    </span>
                    {c.tags && c.tags.length > 0 && (
                      <span class="case-tags" data-testid="case-tags">
                        {c.tags.map((t) => (
                          <span class="case-tag" key={t}>
                            {t}
                          </span>
                        ))}
                      </span>
                    )}
                  </span>
                  <span class="case-verdict">
                    {c.untrained && <span class="tag tag-warn">UNTRAINED</span>}
                    {verdictQualifier(c) && (
                      <span class="tag tag-scope" title={verdictQualifier(c).replace(/^ — /, '')} data-testid="scope-tag">
                        SCOPE
                      </span>
                    )}
                    {verdictBand(c)}
                  </span>
                </button>
              </li>
            ))}
          </ul>
        )}
      </div>
    </aside>
  );
}
