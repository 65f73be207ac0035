import { useCallback, useEffect, useState } from 'preact/hooks';
import { ApiError, appInfo, pickMedia, toApiError, type AppInfo } from './lib/api';
import { Sidebar, type CaseSummary } from './components/Sidebar';
import { StatusBar } from './components/StatusBar';
import { TopBar, type Theme } from './components/TopBar';
import { Workspace } from './components/Workspace';

const THEME_KEY = 'verity.theme';

function initialTheme(): Theme {
  const saved = globalThis.localStorage?.getItem(THEME_KEY);
  if (saved === 'dark' || saved === 'light') return saved;
  return globalThis.matchMedia?.('(prefers-color-scheme: light)').matches ? 'light' : 'dark';
}

// Cases come from the store once it exists; until then the list is honestly empty.
const NO_CASES: readonly CaseSummary[] = [];

export function App() {
  const [info, setInfo] = useState<AppInfo | null>(null);
  const [infoError, setInfoError] = useState<ApiError | null>(null);
  const [pending, setPending] = useState<string[]>([]);
  const [importError, setImportError] = useState<string | null>(null);
  const [importing, setImporting] = useState(false);
  const [theme, setTheme] = useState<Theme>(initialTheme);

  useEffect(() => {
    appInfo().then(setInfo, (e) => setInfoError(toApiError(e)));
  }, []);

  useEffect(() => {
    document.documentElement.dataset.theme = theme;
    globalThis.localStorage?.setItem(THEME_KEY, theme);
  }, [theme]);

  const onImport = useCallback(async () => {
    setImporting(true);
    setImportError(null);
    try {
      const paths = await pickMedia();
      // Cancelling the dialog keeps what was pending before.
      if (paths.length > 0) setPending(paths);
    } catch (e) {
      setImportError(`Could not open the file dialog: ${toApiError(e).message}`);
    } finally {
      setImporting(false);
    }
  }, []);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 'o') {
        e.preventDefault();
        void onImport();
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [onImport]);

  return (
    <div class="app">
      <TopBar
        info={info}
        infoError={infoError}
        theme={theme}
        onToggleTheme={() => setTheme((t) => (t === 'dark' ? 'light' : 'dark'))}
      />
      <div class="body">
        <Sidebar cases={NO_CASES} onImport={onImport} importing={importing} />
        <Workspace
          info={info}
          infoError={infoError}
          pending={pending}
          importError={importError}
          importing={importing}
          onImport={onImport}
          onDismissPending={() => setPending([])}
        />
      </div>
      <StatusBar info={info} />
    </div>
  );
}
