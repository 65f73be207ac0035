// The Provenance panel and the verdict-context signals, rendered with the IPC mocked
// (`case_provenance`, `media_frame`), as the case view uses them.
import { clearMocks, mockIPC } from '@tauri-apps/api/mocks';
import { render } from 'preact';
import { afterEach, beforeEach, expect, test } from 'vitest';
import type { CaseProvenance, Similar } from '../lib/api';
import { CaseView } from './CaseView';
import { ProvenancePanel, ProvenanceSignals, useCaseProvenance } from './ProvenancePanel';

let root: HTMLElement;

beforeEach(() => {
  root = document.createElement('div');
  document.body.appendChild(root);
});

afterEach(() => {
  render(null, root);
  root.remove();
  clearMocks();
});

const $ = (sel: string) => root.querySelector(sel);
const $$ = (sel: string) => [...root.querySelectorAll(sel)];
const text = (sel: string) => $(sel)?.textContent ?? null;

async function until<T>(probe: () => T | null | undefined | false, what: string): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const v = probe();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** "Seen before" with no match (as `similar::find` answers). */
const NOTHING_SEEN: Similar = {
  case_id: 7, frames: [], faces: [], hamming_max: 10, cosine_min: 0.92, hashed_frames: 1, embedded_faces: 1, face_search: 'brute force over 41 faces', notes: [],
};

/** A JPEG's provenance as the core sends it; signals deliberately not in reading order. */
const FULL: CaseProvenance = {
  provenance: {
    computed_at: '2026-03-01T10:00:00Z',
    sections: [
      {
        title: 'File',
        fields: [
          { label: 'Format', value: 'JPEG', flagged: false, private: false },
          { label: 'Size', value: '1.2 MB', flagged: false, private: false },
        ],
        problems: [],
      },
      {
        title: 'EXIF',
        fields: [
          { label: 'Camera', value: 'Canon EOS 5D', flagged: false, private: false },
          { label: 'Software', value: 'Adobe Photoshop 25.0', flagged: true, private: false },
          { label: 'GPS position', value: '48.858370, 2.294481', flagged: false, private: true },
          { label: 'Body serial number', value: 'SN-0042-7731', flagged: false, private: true },
        ],
        problems: ['the EXIF block is truncated after 3 of 12 entries'],
      },
      { title: 'XMP', fields: [], problems: ['invalid UTF-8 in the XMP packet'] },
      // Nothing read and nothing wrong: not shown.
      { title: 'ICC profile', fields: [], problems: [] },
    ],
    signals: [],
    details: {},
  },
  similar: NOTHING_SEEN,
  signals: [
    { level: 'info', text: 'Canon EOS 5D', source: 'EXIF Make/Model' },
    { level: 'notice', text: 'edited in Adobe Photoshop 25.0', source: 'EXIF Software' },
    { level: 'warning', text: 'AI-generated per C2PA', source: 'C2PA manifest' },
    { level: 'notice', text: 're-encoded (Lavf)', source: 'container encoder tag' },
  ],
};

/** The panel and the signals fed by `case_provenance`, as CaseView wires them. */
function Harness({ caseId, onOpenCase }: { caseId: number; onOpenCase?: (id: number) => void }) {
  const p = useCaseProvenance(caseId, 0);
  return (
    <>
      <ProvenanceSignals signals={p.data?.signals ?? []} />
      <ProvenancePanel data={p.data} error={p.error} onOpenCase={onOpenCase} />
    </>
  );
}

function serve(answer: (caseId: number) => CaseProvenance, calls: { cmd: string; payload: unknown }[] = []) {
  mockIPC((cmd, payload) => {
    calls.push({ cmd, payload });
    const a = (payload ?? {}) as Record<string, unknown>;
    if (cmd === 'case_provenance') return answer(a.caseId as number);
    if (cmd === 'media_frame') return { url: 'data:image/jpeg;base64,AAAA', index: 30, time_s: 1.2, clamped: false, width: 160, height: 90 };
    throw { code: 'unknown_command', message: `no mock for ${cmd}` };
  });
}

test('signals: warnings before notices before context, each with its source, apart from the score', async () => {
  const calls: { cmd: string; payload: unknown }[] = [];
  serve(() => FULL, calls);
  render(<Harness caseId={7} />, root);
  await until(() => $$('[data-testid=signal]').length === 4, 'four signal chips');
  expect(calls.find((c) => c.cmd === 'case_provenance')?.payload).toEqual({ caseId: 7 });
  const chips = $$('[data-testid=signal]');
  expect(chips.map((c) => c.getAttribute('data-level'))).toEqual(['warning', 'notice', 'notice', 'info']);
  // Stable within a level: the order the core sent.
  expect(chips.map((c) => c.querySelector('.signal-text')?.textContent)).toEqual([
    'AI-generated per C2PA',
    'edited in Adobe Photoshop 25.0',
    're-encoded (Lavf)',
    'Canon EOS 5D',
  ]);
  expect(chips[0].querySelector('[data-testid=signal-source]')?.textContent).toBe(', source: C2PA manifest');
  expect(chips[0].textContent).toBe('WarningAI-generated per C2PA, source: C2PA manifest');
  // Reachable by keyboard, where focus brings up the source.
  expect(chips.every((c) => c.getAttribute('tabindex') === '0')).toBe(true);
  expect(text('.signals-title')).toBe("Provenance signals — not part of the detector's score");
});

test('sections: label/value rows, flagged rows marked, problems as "Could not read", empty sections left out', async () => {
  serve(() => FULL);
  render(<Harness caseId={7} />, root);
  await until(() => $('[data-testid=prov-section]'), 'sections');
  expect($$('[data-testid=prov-section]').map((s) => s.getAttribute('data-title'))).toEqual(['File', 'EXIF', 'XMP']);
  const file = $('[data-testid=prov-section][data-title=File]')!;
  expect([...file.querySelectorAll('dt')].map((d) => d.textContent)).toEqual(['Format', 'Size']);
  expect([...file.querySelectorAll('dd')].map((d) => d.textContent)).toEqual(['JPEG', '1.2 MB']);
  const flagged = $$('[data-testid=prov-field][data-flagged=true]');
  expect(flagged.length).toBe(1);
  expect(flagged[0].classList.contains('prov-flagged')).toBe(true);
  expect(flagged[0].textContent).toBe('Software (flagged)Adobe Photoshop 25.0');
  expect($$('[data-testid=prov-problem]').map((p) => p.textContent)).toEqual([
    'Could not read: the EXIF block is truncated after 3 of 12 entries',
    'Could not read: invalid UTF-8 in the XMP packet',
  ]);
  expect(text('#provenance-title')).toContain('computed 2026-03-01');
});

test('private fields (GPS, serial numbers) stay hidden until the analyst turns them on', async () => {
  serve(() => FULL);
  render(<Harness caseId={7} />, root);
  const toggle = await until(() => $('[data-testid=show-private]') as HTMLInputElement | null, 'the private-data toggle');
  const panel = () => $('[data-testid=provenance-panel]')!.textContent!;
  expect(toggle.checked).toBe(false);
  expect(toggle.closest('label')?.textContent).toBe('Show private data (GPS, serial numbers)');
  expect(text('[data-testid=privacy-note]')).toMatch(/locate a person or identify their device/);
  expect(panel()).not.toContain('48.858370');
  expect(panel()).not.toContain('SN-0042-7731');
  // The rows are there (the analyst knows the file has them), their values are not.
  const hidden = $$('dd[data-private=true]');
  expect(hidden.map((d) => d.textContent)).toEqual(['hidden (private data)', 'hidden (private data)']);
  toggle.click();
  await until(() => panel().includes('48.858370, 2.294481'), 'the GPS position after the toggle');
  expect(panel()).toContain('SN-0042-7731');
  toggle.click();
  await until(() => !panel().includes('48.858370'), 'the GPS position hidden again');
});

test('no private field: no toggle', async () => {
  const plain: CaseProvenance = {
    ...FULL,
    provenance: { ...FULL.provenance!, sections: [FULL.provenance!.sections[0]] },
  };
  serve(() => plain);
  render(<Harness caseId={7} />, root);
  await until(() => $('[data-testid=prov-section]'), 'sections');
  expect($('[data-testid=show-private]')).toBeNull();
});

test('seen before: frame and face matches with pictures, title, date, distance; the link opens the case', async () => {
  const frame = { frame_index: 0, other_frame_index: 0, pts_s: 0, other_pts_s: 0 };
  const seen: CaseProvenance = {
    ...FULL,
    similar: {
      ...NOTHING_SEEN,
      frames: [
        { ...frame, case_id: 12, title: 'press-photo.jpg', created_at: '2026-02-11T09:30:00Z', distance: 3, same_file: false },
        { ...frame, case_id: 15, title: 'clip.mp4', created_at: '2026-02-12T09:30:00Z', distance: 0, same_file: true, other_frame_index: 6, other_pts_s: 1.2 },
      ],
      faces: [
        {
          case_id: 19, title: 'interview.mov', created_at: '2026-02-13T09:30:00Z', face_id: 3, other_face_id: 407, frame_index: 0, other_frame_index: 2,
          other_has_crop: true, cosine: 0.93712, faces_matched: 2, profile: 'tiny-untrained', untrained: true,
        },
      ],
      notes: ['some face matches come from an UNTRAINED profile (random weights)'],
    },
  };
  const calls: { cmd: string; payload: unknown }[] = [];
  serve(() => seen, calls);
  const opened: number[] = [];
  render(<Harness caseId={7} onOpenCase={(id) => opened.push(id)} />, root);
  await until(() => $$('[data-testid=seen-frame]').length === 2, 'frame matches');
  const [photo, clip] = $$('[data-testid=seen-frame]');
  expect(photo.querySelector('.seen-title')?.textContent).toBe('press-photo.jpg');
  expect(photo.textContent).toContain('Case 12 · 2026-02-11');
  expect(photo.textContent).toContain('near-identical frame, Hamming distance 3 bits');
  expect(clip.textContent).toContain('the same file');
  // The other case's photo comes through the verity: scheme; where that answers nothing (a
  // video), the matching frame is decoded by the player's command.
  expect(photo.querySelector('img')?.getAttribute('src')).toBe('verity://localhost/media/12');
  expect(clip.querySelector('img')?.getAttribute('src')).toBe('verity://localhost/media/15');
  clip.querySelector('img')!.dispatchEvent(new Event('error'));
  await until(() => clip.querySelector('img')?.getAttribute('src')?.startsWith('data:'), "the video frame's picture");
  expect(calls.find((c) => c.cmd === 'media_frame')?.payload).toEqual({ caseId: 15, tSeconds: 1.2, index: null, maxWidth: 160 });
  // The face: the other case's own face crop, by its id.
  const face = $('[data-testid=seen-face]')!;
  expect(face.querySelector('img')?.getAttribute('src')).toBe('verity://localhost/face/19/407');
  expect(face.textContent).toContain('same face, cosine 0.9371 · 2 faces matched');
  expect(face.querySelector('[data-testid=seen-untrained]')?.textContent).toMatch(/^UNTRAINED profile/);
  expect(text('[data-testid=seen-note]')).toMatch(/UNTRAINED profile \(random weights\)/);
  expect(text('[data-testid=seen-how]')).toBe(
    'Frames match within 10 bits of 64 (perceptual hash, 1 frame hashed); faces at cosine ≥ 0.92 (1 face embedded, brute force over 41 faces).',
  );
  const link = face.querySelector('[data-testid=seen-open]') as HTMLButtonElement;
  expect(link.textContent).toBe('Open case 19 (interview.mov)');
  link.click();
  (photo.querySelector('[data-testid=seen-open]') as HTMLButtonElement).click();
  expect(opened).toEqual([19, 12]);
  expect($('[data-testid=seen-none]')).toBeNull();
});

test('empty states: no provenance recorded; not seen in any other case', async () => {
  serve(() => ({ provenance: null, similar: NOTHING_SEEN, signals: [] }));
  render(<Harness caseId={3} />, root);
  const empty = await until(() => $('[data-testid=provenance-empty]'), 'the no-provenance line');
  expect(empty.textContent).toMatch(/^No provenance recorded for this case \(imported before .*\); re-run the analysis to compute it\.$/);
  expect(text('[data-testid=seen-none]')).toBe('Not seen in any other case');
  expect($('[data-testid=prov-section]')).toBeNull();
  // No signals: no context box beside the score.
  expect($('[data-testid=provenance-signals]')).toBeNull();
});

test('a failed load is shown, not an empty panel', async () => {
  mockIPC(() => {
    throw { code: 'input', message: 'case 99 does not exist' };
  });
  render(<Harness caseId={99} />, root);
  const banner = await until(() => $('[data-testid=provenance-error]'), 'the error');
  expect(banner.textContent).toBe('Provenance could not be loaded: case 99 does not exist');
  expect($('[data-testid=provenance-empty]')).toBeNull();
});

test('in the case view the signals sit right under the verdict, and a seen-before link opens the other case', async () => {
  const detail = {
    case: {
      id: 5, title: 'suspect.jpg', created_at: '2026-03-01T10:00:00Z', updated_at: '2026-03-01T10:00:00Z', status: 'done',
      score: 0.81, band: 'fake', untrained: false, profile: 'gend-clip-l14', message: null, media_kind: 'image', sha256: 'ab'.repeat(32), tags: [],
    },
    media: {
      id: 5, sha256: 'ab'.repeat(32), original_name: 'suspect.jpg', original_path: '/evidence/suspect.jpg', kind: 'image', size_bytes: 1,
      width: 64, height: 64, duration_s: null, fps: null, blob: 'x', imported_at: '2026-03-01T10:00:00Z', verified_at: null,
    },
    analysis: null, frames: [], faces: [], scores: [], reviews: [], decision: null, note: '', audit: [],
  };
  mockIPC((cmd) => {
    if (cmd === 'case_detail') return detail;
    if (cmd === 'explanations') return [];
    if (cmd === 'case_provenance')
      return {
        ...FULL,
        similar: {
          ...NOTHING_SEEN,
          faces: [{ case_id: 2, title: 'older.jpg', created_at: '2026-01-01T00:00:00Z', face_id: 1, other_face_id: 9, frame_index: 0, other_frame_index: 0, other_has_crop: true, cosine: 0.95, faces_matched: 1, profile: null, untrained: false }],
        },
      };
    throw { code: 'unknown_command', message: `no mock for ${cmd}` };
  });
  const opened: number[] = [];
  render(
    <CaseView caseId={5} version={0} thresholds={{ real: 0.3, fake: 0.7 }} frame={null} onFrame={() => {}} onOpenCase={(id) => opened.push(id)} />,
    root,
  );
  const box = await until(() => $('[data-testid=provenance-signals]'), 'the signals box');
  const panel = $('.verdict-panel')!;
  expect(panel.contains(box)).toBe(true);
  // After the verdict, before the facts (score, band, profile…).
  const verdict = $('[data-testid=verdict]')!;
  const facts = panel.querySelector('.facts')!;
  expect(verdict.compareDocumentPosition(box) & Node.DOCUMENT_POSITION_FOLLOWING).toBeTruthy();
  expect(box.compareDocumentPosition(facts) & Node.DOCUMENT_POSITION_FOLLOWING).toBeTruthy();
  // The detector's score is untouched by provenance.
  expect(verdict.textContent).toBe('Likely fake · 0.810');
  expect(text('[data-testid=score]')).toBe('0.8100');
  expect(box.querySelector('[data-testid=signal]')?.getAttribute('data-level')).toBe('warning');
  (await until(() => $('[data-testid=seen-open]') as HTMLButtonElement | null, 'the seen-before link')).click();
  expect(opened).toEqual([2]);
});
