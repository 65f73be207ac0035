// Imported first by main.tsx. Under a POSIX "C" locale WebKitGTK reports navigator.language as
// "C", which Intl rejects; uPlot builds an Intl.NumberFormat from it when its module loads, so the
// whole UI would fail to start. Fall back to a valid tag before anything formats numbers.
export function usableLanguage(lang: string | undefined): string {
  try {
    new Intl.NumberFormat(lang);
    return lang || 'en-US';
  } catch {
    return 'en-US';
  }
}

if (typeof navigator !== 'undefined' && usableLanguage(navigator.language) !== navigator.language) {
  const lang = usableLanguage(navigator.language);
  Object.defineProperty(navigator, 'language', { configurable: true, get: () => lang });
  Object.defineProperty(navigator, 'languages', { configurable: true, get: () => [lang] });
}
