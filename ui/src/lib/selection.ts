// Multi-select in the case list (components/Sidebar.tsx, components/BatchBar.tsx): a click on a
// case's checkbox toggles it, Shift+click selects the range from the last one clicked, Ctrl/⌘+A
// in the list selects every case shown, Esc clears. Only cases still shown stay selected.

export interface Selection {
  /** Selected case ids, in the order of the list. */
  ids: number[];
  /** The case a Shift+click extends from. */
  anchor: number | null;
}

export const EMPTY: Selection = { ids: [], anchor: null };

/** Keeps the selected ids that are still shown, in the list's order. */
export function prune(sel: Selection, shown: readonly number[]): Selection {
  const set = new Set(sel.ids);
  const ids = shown.filter((id) => set.has(id));
  const anchor = sel.anchor != null && shown.includes(sel.anchor) ? sel.anchor : null;
  return ids.length === sel.ids.length && anchor === sel.anchor && ids.every((id, i) => id === sel.ids[i]) ? sel : { ids, anchor };
}

/**
 * A click on `id`'s checkbox. Plain: toggles it. With Shift (and an anchor shown): every case
 * between the anchor and `id` takes the anchor's state (selected, usually), as file managers do.
 */
export function click(sel: Selection, shown: readonly number[], id: number, shift: boolean): Selection {
  const set = new Set(sel.ids);
  const from = sel.anchor != null ? shown.indexOf(sel.anchor) : -1;
  const to = shown.indexOf(id);
  if (to < 0) return sel;
  if (shift && from >= 0) {
    const select = set.has(sel.anchor as number);
    const [a, b] = from <= to ? [from, to] : [to, from];
    for (const x of shown.slice(a, b + 1)) {
      if (select) set.add(x);
      else set.delete(x);
    }
  } else if (set.has(id)) set.delete(id);
  else set.add(id);
  return { ids: shown.filter((x) => set.has(x)), anchor: id };
}

/** Ctrl/⌘+A: every case shown. */
export function all(shown: readonly number[]): Selection {
  return { ids: [...shown], anchor: shown[0] ?? null };
}

/** The name the save dialog proposes: `verity-cases-<date>.zip` (local date). */
export function exportFileName(now = new Date()): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `verity-cases-${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}.zip`;
}
