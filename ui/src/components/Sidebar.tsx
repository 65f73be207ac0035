import { useState } from 'preact/hooks';
import { BAND_LABELS, BAND_TITLES, BANDS, bandCounts, type Band } from '../lib/media';
import { FolderIcon, ImportIcon, SearchIcon } from './icons';

/** What the case list shows of a case (the store will supply these). */
export interface CaseSummary {
  id: string;
  name: string;
  band: Band;
}

interface Props {
  cases: readonly CaseSummary[];
  onImport: () => void;
  importing: boolean;
}

/** The left column: import, the per-band counters and the case list. */
export function Sidebar({ cases, onImport, importing }: Props) {
  const [filter, setFilter] = useState('');
  const counts = bandCounts(cases);
  const shown = cases.filter((c) => c.name.toLowerCase().includes(filter.trim().toLowerCase()));
  return (
    <aside class="sidebar" aria-label="Cases">
      <div class="sidebar-head">
        <h2 class="section-title">Cases</h2>
        <span class="count" data-testid="case-count">
          {cases.length}
        </span>
      </div>
      <button
        class="button button-primary button-block"
        type="button"
        onClick={onImport}
        disabled={importing}
        data-testid="import-button"
        title="Import images or videos (Ctrl+O)"
      >
        <ImportIcon size={17} />
        <span>Import…</span>
        <kbd>Ctrl O</kbd>
      </button>

      <div class="bands" role="list" aria-label="Cases per verdict band">
        {BANDS.map((band) => (
          <div
            class={`band band-${band}`}
            role="listitem"
            key={band}
            data-testid={`band-${band}`}
            title={BAND_TITLES[band]}
          >
            <span class="band-count">{counts[band]}</span>
            <span class="band-label">
              <i class="dot" />
              {BAND_LABELS[band]}
            </span>
          </div>
        ))}
      </div>

      <label class="search">
        <SearchIcon size={15} />
        <input
          type="search"
          placeholder="Filter cases"
          value={filter}
          onInput={(e) => setFilter((e.target as HTMLInputElement).value)}
          disabled={cases.length === 0}
        />
      </label>

      <div class="case-list" data-testid="case-list">
        {cases.length === 0 ? (
          <div class="empty" data-testid="case-empty">
            <FolderIcon size={28} />
            <p>No cases yet — import an image or video</p>
          </div>
        ) : (
          <ul>
            {shown.map((c) => (
              <li key={c.id} class={`case case-${c.band}`}>
                <i class="dot" />
                <span>{c.name}</span>
              </li>
            ))}
          </ul>
        )}
      </div>
    </aside>
  );
}
