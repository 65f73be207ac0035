import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import {
  ApiError,
  allTags,
  appInfo,
  cancelJob,
  counts as fetchCounts,
  getSettings,
  importPaths,
  listCases,
  onAnalysisEvent,
  pickFolder,
  pickMedia,
  toApiError,
  type AnalysisEvent,
  type AppInfo,
  type CaseSummary,
  type TagCount,
} from './lib/api';
import type { Bucket, DateRange, SortKey } from './lib/cases';
import { CaseView } from './components/CaseView';
import type { JobView } from './components/Jobs';
import { RetrainPanel } from './components/RetrainPanel';
import { ReviewQueue } from './components/ReviewQueue';
import { SettingsView } from './components/SettingsView';
import { Sidebar } from './components/Sidebar';
import { LiveDialog } from './components/LiveDialog';
import { ShortcutSheet } from './components/ShortcutSheet';
import { typingIn } from './lib/shortcuts';
import { StatusBar } from './components/StatusBar';
import { TopBar, type Theme } from './components/TopBar';
import { Workspace } from './components/Workspace';

const THEME_KEY = 'verity.theme';
export type View = 'cases' | 'review' | 'retrain' | 'settings';

function initialTheme(): Theme {
  const saved = globalThis.localStorage?.getItem(THEME_KEY);
  if (saved === 'dark' || saved === 'light') return saved;
  return globalThis.matchMedia?.('(prefers-color-scheme: light)').matches ? 'light' : 'dark';
}

/** Folds one worker event into the job list. */
export function applyEvent(jobs: JobView[], e: AnalysisEvent): JobView[] {
  const upd = (f: (j: JobView) => JobView) => jobs.map((j) => (j.job === e.job ? f(j) : j));
  switch (e.event) {
    case 'queued':
      return [
        ...jobs.filter((j) => j.job !== e.job),
        { job: e.job, label: e.label, caseId: e.case_id, phase: 'queued', decoded: 0, faces: 0, scored: 0, estimate: null, eta: null },
      ];
    case 'loading_models':
      return upd((j) => ({ ...j, phase: 'loading' }));
    case 'imported':
      return upd((j) => ({ ...j, caseId: e.case_id, label: e.title }));
    case 'started':
      return upd((j) => ({ ...j, phase: 'running', caseId: e.case_id, estimate: e.frames_estimate }));
    case 'progress':
      return upd((j) => ({
        ...j,
        phase: 'running',
        decoded: e.frames_decoded,
        faces: e.faces_found,
        scored: e.faces_scored,
        estimate: e.frames_estimate,
        eta: e.eta_s,
      }));
    default:
      return jobs.filter((j) => j.job !== e.job);
  }
}

export function App() {
  const [info, setInfo] = useState<AppInfo | null>(null);
  const [infoError, setInfoError] = useState<ApiError | null>(null);
  const [importError, setImportError] = useState<string | null>(null);
  const [importing, setImporting] = useState(false);
  const [theme, setTheme] = useState<Theme>(initialTheme);
  const [view, setView] = useState<View>('cases');
  const [cases, setCases] = useState<CaseSummary[]>([]);
  const [counts, setCounts] = useState<Record<string, number>>({});
  const [bucket, setBucket] = useState<Bucket | null>(null);
  const [search, setSearch] = useState('');
  const [tag, setTag] = useState<string | null>(null);
  const [tags, setTags] = useState<TagCount[]>([]);
  const [sort, setSort] = useState<SortKey>('date');
  const [dateRange, setDateRange] = useState<DateRange>('any');
  const [selected, setSelected] = useState<number | null>(null);
  const [frame, setFrame] = useState<number | null>(null);
  const [jobs, setJobs] = useState<JobView[]>([]);
  const [version, setVersion] = useState(0);
  const [analyst, setAnalyst] = useState('');
  const [thresholds, setThresholds] = useState({ real: 0.3, fake: 0.7 });
  const [dragging, setDragging] = useState(false);
  const [failures, setFailures] = useState<string[]>([]);
  const [liveOpen, setLiveOpen] = useState(false);
  const [sheetOpen, setSheetOpen] = useState(false);

  const refresh = useCallback(() => {
    listCases({ band: bucket, search: search.trim() || null, tag }).then((x) => setCases(x ?? []), (e) => setImportError(toApiError(e).message));
    fetchCounts().then((x) => setCounts(x ?? {}), () => {});
    allTags().then((x) => setTags(x ?? []), () => {});
  }, [bucket, search, tag]);
  const refreshRef = useRef(refresh);
  refreshRef.current = refresh;

  useEffect(() => {
    appInfo().then(setInfo, (e) => setInfoError(toApiError(e)));
    getSettings().then(
      (v) => {
        if (!v?.settings) return;
        setAnalyst(v.settings.analyst);
        setThresholds(v.settings.thresholds);
      },
      () => {},
    );
    let unlisten: (() => void) | undefined;
    onAnalysisEvent((e) => {
      setJobs((js) => applyEvent(js, e));
      if (e.event === 'imported' && !e.existing) setSelected((s) => s ?? e.case_id);
      if (e.event === 'failed') setFailures((f) => [...f.slice(-2), `${e.label}: ${e.message}`]);
      if (['imported', 'started', 'finished', 'failed', 'cancelled'].includes(e.event)) {
        refreshRef.current();
        setVersion((v) => v + 1);
      }
    }).then(
      (u) => (unlisten = u),
      () => {},
    );
    return () => unlisten?.();
  }, []);

  useEffect(() => {
    const t = setTimeout(refresh, 150);
    return () => clearTimeout(t);
  }, [refresh]);

  useEffect(() => {
    document.documentElement.dataset.theme = theme;
    globalThis.localStorage?.setItem(THEME_KEY, theme);
  }, [theme]);

  const startImport = useCallback(async (pick: () => Promise<string[]>) => {
    setImporting(true);
    setImportError(null);
    try {
      const paths = await pick();
      if (paths.length > 0) await importPaths(paths);
    } catch (e) {
      setImportError(`Import failed: ${toApiError(e).message}`);
    } finally {
      setImporting(false);
    }
  }, []);
  const onImport = useCallback(() => startImport(pickMedia), [startImport]);

  // Files and folders dropped on the window (Tauri's native drag-drop gives real paths).
  useEffect(() => {
    let unlisten: (() => void) | undefined;
    import('@tauri-apps/api/webview')
      .then(({ getCurrentWebview }) =>
        getCurrentWebview().onDragDropEvent((ev) => {
          const p = ev.payload;
          if (p.type === 'enter' || p.type === 'over') setDragging(true);
          else if (p.type === 'leave') setDragging(false);
          else if (p.type === 'drop') {
            setDragging(false);
            if (p.paths.length) void startImport(async () => p.paths);
          }
        }),
      )
      .then(
        (u) => (unlisten = u),
        () => {},
      );
    return () => unlisten?.();
  }, [startImport]);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 'o') {
        e.preventDefault();
        void onImport();
      } else if (e.key === '?' && !e.ctrlKey && !e.metaKey && !e.altKey && !typingIn(e.target)) {
        e.preventDefault();
        setSheetOpen(true);
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [onImport]);

  const select = (id: number) => {
    setSelected(id);
    setFrame(null);
    setView('cases');
  };

  return (
    <div class="app">
      <TopBar
        info={info}
        infoError={infoError}
        theme={theme}
        onToggleTheme={() => setTheme((t) => (t === 'dark' ? 'light' : 'dark'))}
        onShortcuts={() => setSheetOpen(true)}
      >
        <nav class="tabs" aria-label="Screens">
          {(
            [
              ['cases', 'Cases'],
              ['review', `Review queue${counts.review ? ` · ${counts.review}` : ''}`],
              ['retrain', 'Retrain'],
              ['settings', 'Settings'],
            ] as [View, string][]
          ).map(([v, label]) => (
            <button type="button" key={v} class={`tab${view === v ? ' active' : ''}`} onClick={() => setView(v)} data-testid={`tab-${v}`}>
              {label}
            </button>
          ))}
        </nav>
      </TopBar>
      <div class="body">
        <Sidebar
          cases={cases}
          counts={counts}
          bucket={bucket}
          onBucket={setBucket}
          search={search}
          onSearch={setSearch}
          tag={tag}
          tags={tags}
          onTag={setTag}
          sort={sort}
          onSort={setSort}
          dateRange={dateRange}
          onDateRange={setDateRange}
          selected={view === 'cases' ? selected : null}
          onSelect={select}
          onImport={onImport}
          onImportFolder={() => startImport(pickFolder)}
          onLive={() => setLiveOpen(true)}
          importing={importing}
          jobs={jobs}
          onCancel={(j) => void cancelJob(j)}
        />
        <main class="workspace">
          {(importError || failures.length > 0) && (
            <div class="banner banner-error" data-testid="import-error">
              {importError && <div>{importError}</div>}
              {failures.map((f) => (
                <div key={f}>{f}</div>
              ))}
              <button type="button" class="link-button" onClick={() => (setImportError(null), setFailures([]))}>
                Dismiss
              </button>
            </div>
          )}
          {view === 'settings' ? (
            <SettingsView
              onSaved={(s) => {
                setAnalyst(s.analyst);
                setThresholds(s.thresholds);
                refresh();
              }}
            />
          ) : view === 'retrain' ? (
            <RetrainPanel onAccepted={() => refresh()} />
          ) : view === 'review' ? (
            <ReviewQueue
              analyst={analyst}
              thresholds={thresholds}
              version={version}
              onDecided={() => {
                refresh();
                setVersion((v) => v + 1);
              }}
              onOpenSettings={() => setView('settings')}
              onOpenCase={select}
            />
          ) : selected != null ? (
            <CaseView caseId={selected} version={version} thresholds={thresholds} frame={frame} onFrame={setFrame} onChanged={refresh} onOpenCase={select} />
          ) : (
            <Workspace
              info={info}
              infoError={infoError}
              pending={[]}
              importError={null}
              importing={importing}
              onImport={onImport}
              onDismissPending={() => {}}
            />
          )}
        </main>
      </div>
      {dragging && (
        <div class="drop-overlay" data-testid="drop-overlay">
          Drop files or folders to import — each becomes a case
        </div>
      )}
      {liveOpen && <LiveDialog onClose={() => setLiveOpen(false)} />}
      {sheetOpen && <ShortcutSheet onClose={() => setSheetOpen(false)} />}
      <StatusBar info={info} />
    </div>
  );
}
