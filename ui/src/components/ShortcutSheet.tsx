import { SHORTCUTS } from '../lib/shortcuts';
import { useModal } from './modal';

/** The `?` sheet: every keyboard shortcut of the app. Esc, the Close button or a click outside close it. */
export function ShortcutSheet({ onClose }: { onClose: () => void }) {
  const modal = useModal<HTMLDivElement>(onClose);
  return (
    <div class="modal-backdrop" onClick={(e) => e.target === e.currentTarget && onClose()}>
      <div class="modal shortcut-sheet" role="dialog" aria-modal="true" aria-labelledby="shortcuts-title" data-testid="shortcut-sheet" {...modal}>
        <h2 id="shortcuts-title">Keyboard shortcuts</h2>
        <table>
          {SHORTCUTS.map((g) => (
            <tbody key={g.title}>
              <tr>
                <th scope="colgroup" colSpan={2}>
                  {g.title}
                </th>
              </tr>
              {g.items.map((s) => (
                <tr key={s.what} data-testid="shortcut">
                  <td>
                    {s.keys.map((combo, i) => (
                      <span key={i}>
                        {i > 0 && ' or '}
                        {combo.map((k, j) => (
                          <span key={j}>
                            {j > 0 && '+'}
                            <kbd>{k}</kbd>
                          </span>
                        ))}
                      </span>
                    ))}
                  </td>
                  <td>{s.what}</td>
                </tr>
              ))}
            </tbody>
          ))}
        </table>
        <div class="modal-actions">
          <button class="button button-primary" type="button" onClick={onClose} data-testid="shortcuts-close" data-autofocus>
            Close
          </button>
        </div>
      </div>
    </div>
  );
}
