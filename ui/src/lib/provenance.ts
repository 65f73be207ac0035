// Pure helpers of the Provenance panel and the verdict-context signals (components/ProvenancePanel.tsx):
// the order signals are read in, what a section shows while private data is hidden, and how a
// "seen before" match is described. None of it touches the detector's score.
import type { ProvenanceField, ProvenanceSection, ProvenanceSignal, SignalLevel } from './api';

const RANK: Record<SignalLevel, number> = { warning: 0, notice: 1, info: 2 };
export const LEVEL_LABELS: Record<SignalLevel, string> = { warning: 'Warning', notice: 'Notice', info: 'Info' };

/** Warnings first, then notices, then context; stable within a level (the core sends them so
 *  already — the page does not rely on it). An unknown level reads last. */
export function orderSignals(signals: readonly ProvenanceSignal[]): ProvenanceSignal[] {
  return signals
    .map((s, i) => ({ s, i }))
    .sort((a, b) => (RANK[a.s.level] ?? 3) - (RANK[b.s.level] ?? 3) || a.i - b.i)
    .map(({ s }) => s);
}

/** Whether any field of any section is personal data (GPS, serial numbers). */
export function hasPrivate(sections: readonly ProvenanceSection[]): boolean {
  return sections.some((s) => s.fields.some((f) => f.private));
}

/** The value shown for a field: private values only once the analyst asked for them. */
export function shownValue(f: ProvenanceField, showPrivate: boolean): string | null {
  return f.private && !showPrivate ? null : f.value;
}

/** "0.9731" for cosine similarities, "3 bits" for Hamming distances. */
export function formatCosine(c: number): string {
  return Number.isFinite(c) ? c.toFixed(4) : '—';
}
export function formatHamming(d: number): string {
  return `${d} bit${d === 1 ? '' : 's'}`;
}
