// Every keyboard shortcut of the app, as the `?` sheet (components/ShortcutSheet.tsx) lists them.
// Where each is handled: App.tsx (Ctrl+O, ?), Sidebar.tsx (case list selection), VideoPlayer.tsx (←/→), CaseView.tsx (B),
// ReviewQueue.tsx (F/R/U/N, ←/→, Esc in the note, Ctrl/⌘+Z), DecisionBar.tsx (Ctrl/⌘+Z in the
// case view), CaseNotes.tsx (Enter/comma in the tag field), components/modal.ts (Esc, Tab in dialogs).

export interface Shortcut {
  /** Keys pressed together; alternatives are separate entries of `keys`. */
  keys: string[][];
  what: string;
}

export interface ShortcutGroup {
  title: string;
  items: Shortcut[];
}

export const SHORTCUTS: ShortcutGroup[] = [
  {
    title: 'Anywhere',
    items: [
      { keys: [['Ctrl', 'O'], ['⌘', 'O']], what: 'Import images or videos (the open dialog)' },
      { keys: [['?']], what: 'Show this list of keyboard shortcuts' },
      { keys: [['Tab'], ['Shift', 'Tab']], what: 'Move between controls; Enter or Space presses the focused one' },
    ],
  },
  {
    title: 'Case list',
    items: [
      { keys: [['Space']], what: 'On a case’s checkbox: select it or not (for Export… and Re-run)' },
      { keys: [['Shift', 'click']], what: 'Select every case from the last one clicked' },
      { keys: [['Ctrl', 'A'], ['⌘', 'A']], what: 'Select every case shown (focus in the list)' },
      { keys: [['Esc']], what: 'Clear the selection (focus in the list)' },
    ],
  },
  {
    title: 'Case view and player',
    items: [
      { keys: [['←'], ['→']], what: 'Previous / next frame of the video' },
      { keys: [['B']], what: 'Show or hide the face boxes on the frame' },
      { keys: [['Ctrl', 'Z'], ['⌘', 'Z']], what: 'Undo your last decision on the case (kept in the history, marked undone)' },
      { keys: [['Enter'], [',']], what: 'In the tag field: add the tag' },
    ],
  },
  {
    title: 'Review queue',
    items: [
      { keys: [['F']], what: 'Decide: fake' },
      { keys: [['R']], what: 'Decide: real' },
      { keys: [['U']], what: 'Decide: unsure (skip)' },
      { keys: [['N']], what: 'Write a note for the decision' },
      { keys: [['Esc']], what: 'Leave the note (then F/R/U decide)' },
      { keys: [['Ctrl', 'Z'], ['⌘', 'Z']], what: 'Undo the last decision (the case comes back to the queue)' },
      { keys: [['←'], ['→']], what: 'Previous / next sampled frame' },
    ],
  },
  {
    title: 'Dialogs',
    items: [
      { keys: [['Esc']], what: 'Close the dialog' },
      { keys: [['Tab'], ['Shift', 'Tab']], what: 'Cycle through the dialog’s controls' },
    ],
  },
];

/** Whether a key event comes from a place where the analyst types (no single-key shortcuts there). */
export function typingIn(target: EventTarget | null): boolean {
  const t = target as HTMLElement | null;
  return !!t && (t.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(t.tagName));
}
