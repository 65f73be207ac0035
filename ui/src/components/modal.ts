// What every modal dialog of the app does with the keyboard (LiveDialog, ShortcutSheet): focus
// moves into it when it opens and back to where it was when it closes, Tab and Shift+Tab cycle
// inside it, Esc closes it, and no key typed in it reaches the app's global shortcuts.
import { useLayoutEffect, useRef } from 'preact/hooks';

const FOCUSABLE =
  'a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled]), summary, [tabindex]:not([tabindex="-1"])';

/** The dialog's focusable elements in tab order (hidden ones left out). */
export function focusables(root: HTMLElement): HTMLElement[] {
  return [...root.querySelectorAll<HTMLElement>(FOCUSABLE)].filter((el) => el.getClientRects().length > 0);
}

/**
 * Spread the result on the dialog element (`role="dialog"`, `aria-modal`): `ref`, `tabIndex`
 * (so a click on its text keeps focus inside) and `onKeyDown` (Esc, the Tab trap, and keys kept
 * from the window's shortcut handlers).
 */
export function useModal<T extends HTMLElement>(onClose: () => void) {
  const ref = useRef<T>(null);
  const close = useRef(onClose);
  close.current = onClose;

  useLayoutEffect(() => {
    const before = document.activeElement as HTMLElement | null;
    const el = ref.current;
    if (el && !el.contains(document.activeElement)) (el.querySelector<HTMLElement>('[data-autofocus]') ?? focusables(el)[0] ?? el).focus();
    return () => {
      // Back to the control that opened the dialog (if it is still there).
      if (before && before !== document.body && before.isConnected) before.focus();
    };
  }, []);

  const onKeyDown = (e: KeyboardEvent) => {
    const el = ref.current;
    // The dialog's keys are its own: the review queue's F/R/U, ←/→ and `?` must not fire under it.
    e.stopPropagation();
    if (!el) return;
    if (e.key === 'Escape') {
      e.preventDefault();
      close.current();
      return;
    }
    if (e.key !== 'Tab') return;
    const list = focusables(el);
    if (list.length === 0) {
      e.preventDefault();
      el.focus();
      return;
    }
    const first = list[0];
    const last = list[list.length - 1];
    const at = document.activeElement;
    if (e.shiftKey && (at === first || at === el || !el.contains(at))) {
      e.preventDefault();
      last.focus();
    } else if (!e.shiftKey && (at === last || !el.contains(at))) {
      e.preventDefault();
      first.focus();
    }
  };

  return { ref, tabIndex: -1, onKeyDown };
}
