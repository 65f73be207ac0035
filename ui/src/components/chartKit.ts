// What every uPlot chart of the app shares (Timeline.tsx, SeriesChart.tsx): the series colours,
// theme-aware axes, a rebuild when the theme flips, width following the container, and
// click-to-seek (a click on the plot picks the sample under the cursor).
import { useEffect, useState } from 'preact/hooks';
import type uPlot from 'uplot';

export { COLOURS } from '../lib/faces';

/** The current theme; charts paint with theme colours, so they rebuild when it changes. */
export function useTheme(): string | undefined {
  const [theme, setTheme] = useState(document.documentElement.dataset.theme);
  useEffect(() => {
    const mo = new MutationObserver(() => setTheme(document.documentElement.dataset.theme));
    mo.observe(document.documentElement, { attributes: true, attributeFilter: ['data-theme'] });
    return () => mo.disconnect();
  }, []);
  return theme;
}

/** A CSS custom property of the page (theme colours), or `fallback`. */
export function cssVar(name: string, fallback: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

/** Axis colours of the current theme. */
export function axisStyle(): Pick<uPlot.Axis, 'stroke' | 'grid'> {
  return { stroke: cssVar('--muted', '#888'), grid: { stroke: cssVar('--border', '#333'), width: 1 } };
}

/** Calls `pick(i)` with the sample under the cursor when the plot is clicked. */
export function seekOnClick(u: uPlot, pick: (i: number) => void): void {
  u.over.addEventListener('click', () => {
    const i = u.cursor.idx;
    if (i != null) pick(i);
  });
}

/** Keeps the plots as wide as `el`; returns the clean-up. */
export function followWidth(el: HTMLElement, plots: uPlot[]): () => void {
  if (typeof ResizeObserver === 'undefined') return () => {};
  const ro = new ResizeObserver(() => {
    for (const u of plots) u.setSize({ width: el.clientWidth, height: u.height });
  });
  ro.observe(el);
  return () => ro.disconnect();
}
