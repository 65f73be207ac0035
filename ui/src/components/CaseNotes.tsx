import { useEffect, useState } from 'preact/hooks';
import { setCaseNote, setCaseTags, toApiError } from '../lib/api';

/** Splits what was typed in the tag field into tags (commas separate them). */
export function splitTags(text: string): string[] {
  return text
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t.length > 0);
}

/** A case's tags and note, editable. Everything is shown as text (JSX text nodes and a
 *  `pre-wrap` paragraph), never as markup; the core normalises and checks both and audits
 *  each change with the analyst's name. */
export function CaseNotes({
  caseId,
  tags,
  note,
  onChanged,
}: {
  caseId: number;
  tags: readonly string[];
  note: string;
  onChanged: () => void;
}) {
  const [draftTag, setDraftTag] = useState('');
  const [editing, setEditing] = useState(false);
  const [draft, setDraft] = useState(note);
  const [err, setErr] = useState<string | null>(null);
  const [saved, setSaved] = useState<string | null>(null);
  useEffect(() => {
    setEditing(false);
    setDraftTag('');
    setErr(null);
    setSaved(null);
  }, [caseId]);

  const saveTags = async (next: string[]) => {
    setErr(null);
    setSaved(null);
    try {
      await setCaseTags(caseId, next);
      setDraftTag('');
      onChanged();
    } catch (e) {
      setErr(toApiError(e).message);
    }
  };
  const addTags = () => {
    const add = splitTags(draftTag);
    if (add.length > 0) void saveTags([...tags, ...add]);
  };
  const saveNote = async () => {
    setErr(null);
    try {
      const stored = await setCaseNote(caseId, draft);
      setEditing(false);
      setSaved(stored ? 'Note saved' : 'Note removed');
      onChanged();
    } catch (e) {
      setErr(toApiError(e).message);
    }
  };

  return (
    <section class="panel case-note" data-testid="case-notes" aria-labelledby="case-notes-title">
      <h3 class="panel-title" id="case-notes-title">
        Tags and note
      </h3>
      <div class="notes-tags" data-testid="tag-editor">
        {tags.length === 0 && <span class="muted small">No tags.</span>}
        {tags.map((t) => (
          <span class="case-tag" key={t} data-testid="tag-chip">
            {t}
            <button type="button" aria-label={`Remove tag ${t}`} onClick={() => void saveTags(tags.filter((x) => x !== t))}>
              ×
            </button>
          </span>
        ))}
        <input
          type="text"
          placeholder="Add tags (comma or Enter)"
          aria-label="Add tags to the case (separate them with commas)"
          value={draftTag}
          maxLength={1000}
          data-testid="tag-input"
          onInput={(e) => setDraftTag((e.target as HTMLInputElement).value)}
          onKeyDown={(e) => {
            if (e.key === 'Enter' || (e.key === ',' && draftTag.trim())) {
              e.preventDefault();
              addTags();
            }
          }}
        />
        <button type="button" class="button" onClick={addTags} disabled={!draftTag.trim()} data-testid="tag-add">
          Add
        </button>
      </div>
      {editing ? (
        <div>
          <textarea
            rows={5}
            value={draft}
            aria-label="Case note"
            placeholder="What you know about this case: where it came from, who asked, what to check"
            data-testid="note-input"
            onInput={(e) => setDraft((e.target as HTMLTextAreaElement).value)}
          />
          <div class="undo-row">
            <button type="button" class="button button-primary" onClick={() => void saveNote()} data-testid="note-save">
              Save note
            </button>
            <button type="button" class="link-button" onClick={() => (setEditing(false), setErr(null))}>
              Cancel
            </button>
            <span class="muted small">{draft.length.toLocaleString()} / 10 000 characters</span>
          </div>
        </div>
      ) : (
        <>
          {note ? (
            <p class="case-note-text" data-testid="case-note">
              {note}
            </p>
          ) : (
            <p class="muted small" data-testid="case-note-empty">
              No case note.
            </p>
          )}
          <button
            type="button"
            class="button"
            data-testid="note-edit"
            onClick={() => {
              setDraft(note);
              setSaved(null);
              setEditing(true);
            }}
          >
            {note ? 'Edit note' : 'Write a note'}
          </button>
        </>
      )}
      {saved && (
        <p class="muted small" role="status" data-testid="note-saved">
          {saved}
        </p>
      )}
      {err && (
        <div class="banner banner-error" role="alert" data-testid="notes-error">
          {err}
        </div>
      )}
    </section>
  );
}
