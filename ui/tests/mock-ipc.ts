// Bundled into the page by app.browser.test.ts before the app loads: a small in-page fake of the
// Tauri backend behind `mockIPC` — cases, worker events, reviews and the audit log — so the
// real UI can be driven through import → progress → case view → review → audit. Records calls.
import { mockIPC } from '@tauri-apps/api/mocks';
import { emit } from '@tauri-apps/api/event';

type Case = Record<string, unknown> & { id: number; title: string; band: string | null; status: string; score: number | null };
type Audit = { id: number; at: string; actor: string; action: string; case_id: number; details: Record<string, unknown> };

declare global {
  interface Window {
    __verityCalls: { cmd: string; payload: unknown }[];
    __verityMock: {
      appInfo: unknown; picked: string[] | null; analyst?: string; noWeights?: boolean; stillImage?: boolean; twoTracks?: boolean; scope?: unknown[];
      /** Cases stored before the page loads (analysed; bands cycle fake/review/real). */
      seed?: string[];
      /** What the batch export's save dialog returns (null: cancelled). */
      exportPath?: string | null;
      /** Hold a batch export after its first case until `releaseExport`. */
      holdExport?: boolean;
    };
    __verityBackend: { step: (what: 'progress' | 'finish') => Promise<void>; releaseExport: () => void };
  }
}

// 1×1 PNG: stands in for face crops and the photo (served by the core's verity: scheme in the
// app; see `pictureUrl`).
const PNG =
  'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';
(window as unknown as { __verityPictureUrl: (p: string) => string }).__verityPictureUrl = () => PNG;
// 16×16 colour ramp: stands in for heat-maps, artifact views and plots (visible in screenshots).
const HEAT = 'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAABAAAAAQCAIAAACQkWg2AAABJElEQVR42p3SrY3EMBAF4AWpIBUEHgpeMAWMjAcYGlkBhgaDLQNDQ4Mo2CDwgJUKXIJLSAlhvkUHTqf7SQGfRvPee7xBfcKBsEvYFogMLoBNqDPJgqICNJhPmC4YOwwdHo9vANpEOitZSFT8FaALZJPS2ciiRCVo+APAyOSCssnozLIYURU0mk/8FuC2UGTlgrGJdfaysKgGmppPmi78AnCXtC0qsnGBbfI6R1m8qAzNzKeaLho7fgI8kHaptsVEZhe8TVHnVZYoqofG82mmS42dho4vgPVJB6pdmm3hyN6FaNOqc5ZlFTVC8/PJ02XGroZOL0D1qQ40u+Rt8ZGjC6tNWed3WbKoK7Q4n366eOxm6OrOhX//cCelOz3cafrOlv6w1g9zZFhoxMlpHgAAAABJRU5ErkJggg==';
// The stored charts of track 1 over the four sampled frames (0, 0.2, 0.4, 0.6 s).
const CHART_BASE = { track: 1, x_label: 'time (s)', x: [0, 0.2, 0.4, 0.6], frames: [0, 1, 2, 3] };
const TEMPORAL_CHART = {
  ...CHART_BASE,
  title: 'Track 1 – temporal consistency',
  panels: [
    { name: 'score', title: 'fake probability', range: [0, 1], lines: [] },
    { name: 'drift', title: 'embedding drift (1 − cos)', range: null, lines: [] },
    { name: 'jitter', title: 'landmark jitter (fraction of the face diagonal)', range: null, lines: [] },
  ],
  series: [
    { name: 'score', label: 'score', panel: 'score', values: [0.45, 0.5, 0.82, 0.6] },
    { name: 'clip_drift', label: 'CLIP', panel: 'drift', values: [null, 0.01, 0.012, 0.011] },
    { name: 'cnn_drift', label: 'CNN', panel: 'drift', values: [null, 0.02, 0.018, 0.021] },
    { name: 'jitter', label: 'jitter', panel: 'jitter', values: [null, 0.002, 0.003, 0.002] },
  ],
  marks: [{ series: 'score', index: 2, label: 'spike, z = 4.2' }],
  spans: [],
  details: { spikes: [] },
};
const BLINK_CHART = {
  ...CHART_BASE,
  title: 'Track 1 – eye openness and blinks',
  panels: [
    {
      name: 'openness', title: 'eye openness / track median', range: null,
      lines: [{ y: 1, label: 'track median' }, { y: 0.5, label: 'closed' }],
    },
  ],
  series: [{ name: 'openness', label: 'openness', panel: 'openness', values: [1.02, 0.98, 1.0, 1.04] }],
  marks: [],
  spans: [],
  details: { per_minute: 0, assessment: 'too_short' },
};
const cases: Case[] = [];
const explained: Record<number, Record<string, unknown>[]> = {};
let nextExplanation = 1;
const audit: Audit[] = [];
// Reviews as the core keeps them (schema v8): an undo appends a row that `retracts` the decision.
type Review = { id: number; verdict: unknown; analyst: string; note: unknown; created_at: string; retracts: number | null; retracted: boolean };
const reviews: Record<number, Review[]> = {};
let nextReview = 1;
const decisionOf = (id: number) => [...(reviews[id] ?? [])].reverse().find((r) => r.retracts == null && !r.retracted) ?? null;
// Case notes and tags, normalised like `verity::store::normalize_note` / `normalize_tags`.
const notes: Record<number, string> = {};
const refuse = (message: string) => ({ code: 'other', message });
function normalizeTags(tags: string[]): string[] {
  const out: string[] = [];
  for (const raw of tags) {
    if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/.test(raw)) throw refuse(`tag ${JSON.stringify(raw.slice(0, 50))} contains a control character; tags are short plain labels`);
    const t = raw.trim().split(/\s+/).join(' ');
    if (!t) continue;
    if (t.includes(',')) throw refuse(`tag ${JSON.stringify(t)} contains a comma; commas separate tags`);
    if ([...t].length > 40) throw refuse(`tag ${JSON.stringify(t.slice(0, 50))} is ${[...t].length} characters long; a tag has at most 40`);
    if (!out.some((o) => o.toLowerCase() === t.toLowerCase())) out.push(t);
  }
  if (out.length > 20) throw refuse(`${out.length} tags given; a case has at most 20`);
  return out;
}
let settings = {
  fps: 5, keyframe_threshold: 0.35, thresholds: { real: 0.3, fake: 0.7 }, aggregation: 'mean', fusion: null,
  device: 'auto', precision: 'fp32', batch_size: 16, profile: null, score_full_frame_without_face: false,
  analyst: '', data_dir: null, max_media_mib: 8192, models_dir: null, live_seconds: 10,
};
let running: { job: number; case_id: number } | null = null;
let nextJob = 1;
const now = () => new Date().toISOString();
const log = (actor: string, action: string, case_id: number, details: Record<string, unknown> = {}) =>
  audit.push({ id: audit.length + 1, at: now(), actor, action, case_id, details });

function detail(id: number) {
  const c = cases.find((x) => x.id === id);
  if (!c) throw { code: 'other', message: `case ${id} does not exist` };
  const scored = c.status === 'done';
  const frames = [0, 1, 2, 3].map((i) => ({ idx: i, source_index: i * 6, pts_s: i * 0.2, keyframe: i === 0 || i === 2, motion: 0, width: 512, height: 512 }));
  // Track 1's face moves 8 px right per sampled frame (frame pixels of the 512² frames); with
  // `twoTracks` a second, smaller face (track 2) stands at the right edge of every frame.
  const faces = frames.map((f, i) => ({
    id: 100 + i, frame_idx: f.idx, track_id: 1, bbox: [128 + 8 * i, 64, 256 + 8 * i, 224], det_prob: 0.99,
    landmarks: [[160 + 8 * i, 120], [224 + 8 * i, 120], [192 + 8 * i, 150], [168 + 8 * i, 190], [216 + 8 * i, 190]],
    crop: `derived/a1/f${i}.png`, full_frame: false, score: scored ? 0.45 + 0.05 * i : null,
  }));
  if (window.__verityMock.twoTracks)
    faces.push(...frames.map((f, i) => ({
      id: 200 + i, frame_idx: f.idx, track_id: 2, bbox: [400, 300, 480, 400], det_prob: 0.9,
      landmarks: [[420, 340], [460, 340], [440, 360], [425, 380], [455, 380]],
      crop: `derived/a1/g${i}.png`, full_frame: false, score: scored ? 0.2 : null,
    })));
  faces.sort((a, b) => a.frame_idx - b.frame_idx || a.id - b.id);
  const kind = window.__verityMock.stillImage ? 'image' : 'video';
  return {
    case: c,
    media: { id: c.id, sha256: c.sha256, original_name: c.title, original_path: `/evidence/${c.title}`, kind, size_bytes: 1000, width: 512, height: 512, duration_s: 0.8, fps: 30, blob: 'x', imported_at: c.created_at, verified_at: scored ? c.updated_at : null },
    analysis: scored ? { id: 1, started_at: now(), finished_at: now(), status: 'done', settings_json: '{}', profile: 'gend-clip-l14', weight_hashes: '[["clip.safetensors","ab12cd34ef56ab12cd34"]]', untrained: false, error: null, preprocessing: 'gend: MTCNN 5 landmarks → LMedS similarity (as cv2.estimateAffinePartial2D) → native-size warp with 1.3× context (as cv2.warpAffine) → Pillow bicubic shortest edge 224 + centre crop → CLIP mean/std [template gend, context 1.3×, input 224²]' } : null,
    frames,
    faces,
    scores: [],
    reviews: reviews[id] ?? [],
    decision: decisionOf(id),
    note: notes[id] ?? '',
    audit: audit.filter((a) => a.case_id === id),
  };
}

// What `verity::provenance::case_view` answers: a JPEG's sections (one flagged row, private GPS
// and serial number, one problem), its signals, and the other cases seen with the same picture.
function provenanceOf(id: number) {
  const c = cases.find((x) => x.id === id);
  if (!c) throw { code: 'other', message: `case ${id} does not exist` };
  const others = cases.filter((x) => x.id !== id).slice(0, 2);
  return {
    provenance: {
      computed_at: c.created_at,
      sections: [
        { title: 'File', fields: [{ label: 'Container', value: 'JPEG (JFIF 1.01)', flagged: false, private: false }, { label: 'Size', value: '1.2 MB', flagged: false, private: false }], problems: [] },
        {
          title: 'EXIF',
          fields: [
            { label: 'Camera', value: 'Canon EOS 5D Mark IV', flagged: false, private: false },
            { label: 'Software', value: 'Adobe Photoshop 25.0 (Windows)', flagged: true, private: false },
            { label: 'DateTimeOriginal', value: '2026-02-11 09:12:44', flagged: false, private: false },
            { label: 'GPS position', value: '48.858370, 2.294481', flagged: false, private: true },
            { label: 'Body serial number', value: '032021001234', flagged: false, private: true },
          ],
          problems: ['the maker note is truncated after 3 of 12 entries'],
        },
        { title: 'JPEG', fields: [{ label: 'Estimated quality', value: '92 (IJG tables)', flagged: false, private: false }, { label: 'Double compression', value: 'likely (ratio 0.71)', flagged: true, private: false }], problems: [] },
      ],
      signals: [],
      details: {},
    },
    similar: {
      case_id: id, hamming_max: 10, cosine_min: 0.92, hashed_frames: 1, embedded_faces: 4, face_search: 'brute force', notes: [],
      frames: others.slice(0, 1).map((o) => ({
        case_id: o.id, title: o.title, created_at: o.created_at, distance: 4, same_file: false, frame_index: 0, other_frame_index: 0, pts_s: 0, other_pts_s: 0,
      })),
      faces: others.slice(1, 2).map((o) => ({
        case_id: o.id, title: o.title, created_at: o.created_at, cosine: 0.9412, face_id: 100, other_face_id: 100, frame_index: 0, other_frame_index: 0,
        other_has_crop: true, faces_matched: 1, profile: 'gend-clip-l14', untrained: false,
      })),
    },
    signals: [
      { level: 'warning', text: 'thumbnail differs from the picture', source: 'EXIF thumbnail (IFD1)' },
      { level: 'notice', text: 'edited in Adobe Photoshop 25.0', source: 'EXIF Software' },
      { level: 'notice', text: 'compressed twice', source: 'JPEG quantisation tables' },
      { level: 'info', text: 'Canon EOS 5D Mark IV', source: 'EXIF Make/Model' },
    ],
  };
}

window.__verityCalls = [];
for (const [i, title] of (window.__verityMock?.seed ?? []).entries()) {
  const at = new Date(Date.UTC(2026, 0, 1 + i)).toISOString();
  const band = ['fake', 'review', 'real'][i % 3];
  cases.push({ id: i + 1, title, created_at: at, updated_at: at, status: 'done', score: [0.9, 0.5, 0.1][i % 3], band, untrained: false, profile: 'gend-clip-l14', message: null, media_kind: 'image', sha256: String(i + 1).padStart(64, '0') });
}
// The batch export in progress: released by the test (`holdExport`), stopped by `cancel_export`.
let exportRelease: (() => void) | null = null;
let exportStopped = false;
window.__verityBackend = {
  releaseExport() {
    exportRelease?.();
  },
  async step(what) {
    if (!running) throw new Error('no job running');
    const { job, case_id } = running;
    if (what === 'progress') {
      await emit('analysis', { event: 'progress', job, case_id, frames_decoded: 2, faces_found: 2, faces_scored: 2, frames_estimate: 4, elapsed_s: 1, eta_s: 1 });
      return;
    }
    const c = cases.find((x) => x.id === case_id)!;
    // `scope`: the scope list the analysis ends with (none unless a test sets one).
    const scope = window.__verityMock.scope ?? [];
    Object.assign(c, { status: 'done', score: 0.55, band: 'review', profile: 'gend-clip-l14', scope });
    log('app', 'analysis_end', case_id, { status: 'done', score: 0.55 });
    running = null;
    await emit('analysis', { event: 'finished', job, case_id, summary: { status: 'done', verdict: 'needs human review (0.550)', message: null } });
  },
};

mockIPC(
  async (cmd, payload) => {
    window.__verityCalls.push({ cmd, payload });
    const mock = window.__verityMock;
    const a = (payload ?? {}) as Record<string, unknown>;
    switch (cmd) {
      case 'app_info':
        return mock.appInfo;
      case 'pick_media_paths':
        return mock.picked ?? [];
      case 'get_settings':
        if (mock.analyst != null && !settings.analyst) settings = { ...settings, analyst: mock.analyst };
        return { settings, path: '/home/ada/.config/verity/settings.toml', data_dir_resolved: '/home/ada/.local/share/verity' };
      case 'save_settings':
        settings = a.settings as typeof settings;
        return null;
      case 'profiles':
        return [
          { folder: 'gend-clip-l14', name: 'gend-clip-l14', trained: true, description: 'GenD CLIP ViT-L/14', error: null, preprocessing: 'gend: MTCNN 5 landmarks → LMedS similarity (as cv2.estimateAffinePartial2D) → native-size warp with 1.3× context (as cv2.warpAffine) → Pillow bicubic shortest edge 224 + centre crop → CLIP mean/std [template gend, context 1.3×, input 224²]' },
          { folder: 'demo-untrained', name: 'tiny-untrained', trained: false, description: 'random weights', error: null },
        ];
      case 'list_cases': {
        const f = (a.filter ?? {}) as { band?: string | null; search?: string | null; tag?: string | null };
        const tagsOf = (c: Case) => (c.tags as string[] | undefined) ?? [];
        return cases.filter(
          (c) =>
            (!f.band || (c.band ?? c.status) === f.band) &&
            (!f.search || c.title.includes(f.search) || (notes[c.id] ?? '').includes(f.search) || tagsOf(c).some((t) => t.includes(f.search!))) &&
            (!f.tag || tagsOf(c).some((t) => t.toLowerCase() === f.tag!.trim().toLowerCase())),
        );
      }
      case 'counts': {
        const out: Record<string, number> = {};
        for (const c of cases) out[c.band ?? c.status] = (out[c.band ?? c.status] ?? 0) + 1;
        return out;
      }
      case 'import': {
        const ids: number[] = [];
        for (const path of a.paths as string[]) {
          const job = nextJob++;
          ids.push(job);
          const title = path.split('/').pop()!;
          const id = cases.length + 1;
          const at = now();
          cases.push({ id, title, created_at: at, updated_at: at, status: 'running', score: null, band: null, untrained: false, profile: null, message: null, media_kind: 'video', sha256: 'f00d'.repeat(16) });
          log('app', 'import', id);
          log('app', 'analysis_start', id);
          running = { job, case_id: id };
          setTimeout(async () => {
            await emit('analysis', { event: 'queued', job, label: title, case_id: null, position: 1 });
            await emit('analysis', { event: 'imported', job, case_id: id, existing: false, title });
            await emit('analysis', { event: 'started', job, case_id: id, frames_estimate: 4 });
          }, 0);
        }
        return ids;
      }
      case 'case_detail':
        return detail(a.caseId as number);
      case 'review_queue':
        return cases.filter((c) => c.band === 'review' && !decisionOf(c.id));
      case 'review': {
        if (!settings.analyst) throw { code: 'no_analyst', message: 'Set your analyst name in Settings before recording decisions.' };
        const id = a.caseId as number;
        const r: Review = { id: nextReview++, verdict: a.verdict, analyst: settings.analyst, note: a.note, created_at: now(), retracts: null, retracted: false };
        (reviews[id] ??= []).push(r);
        log(settings.analyst, 'review', id, { verdict: a.verdict, note: a.note });
        return r.id;
      }
      case 'undo_review': {
        if (!settings.analyst) throw { code: 'no_analyst', message: 'Set your analyst name in Settings before recording decisions.' };
        const id = a.caseId as number;
        const last = decisionOf(id);
        if (!last) throw refuse(`case ${id} has no decision to undo`);
        if (last.analyst !== settings.analyst) throw refuse(`the last decision on case ${id} (${String(last.verdict)}) was made by ${last.analyst}; only they can undo it — record a new decision instead`);
        const r: Review = { id: nextReview++, verdict: last.verdict, analyst: settings.analyst, note: '', created_at: now(), retracts: last.id, retracted: false };
        reviews[id].push(r);
        last.retracted = true;
        log(settings.analyst, 'review_retracted', id, { review_id: r.id, retracts: last.id, verdict: last.verdict });
        return { review_id: r.id, retracted: last, current: decisionOf(id) };
      }
      case 'set_case_tags': {
        if (!settings.analyst) throw { code: 'no_analyst', message: 'Set your analyst name in Settings before recording decisions.' };
        const c = cases.find((x) => x.id === a.caseId)!;
        const before = (c.tags as string[] | undefined) ?? [];
        const tags = normalizeTags(a.tags as string[]);
        c.tags = tags;
        const lower = (v: string[]) => v.map((t) => t.toLowerCase());
        log(settings.analyst, 'tags_changed', c.id, {
          tags, before,
          added: tags.filter((t) => !lower(before).includes(t.toLowerCase())),
          removed: before.filter((t) => !lower(tags).includes(t.toLowerCase())),
        });
        return tags;
      }
      case 'set_case_note': {
        if (!settings.analyst) throw { code: 'no_analyst', message: 'Set your analyst name in Settings before recording decisions.' };
        const id = a.caseId as number;
        const note = String(a.note).replace(/\r\n?/g, '\n').replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, '').trim();
        if ([...note].length > 10000) throw refuse(`the note is ${[...note].length} characters long; a case note has at most 10000`);
        log(settings.analyst, 'note_changed', id, { note, before: notes[id] ?? '' });
        notes[id] = note;
        return note;
      }
      case 'all_tags': {
        const count = new Map<string, number>();
        for (const c of cases) for (const t of (c.tags as string[] | undefined) ?? []) count.set(t, (count.get(t) ?? 0) + 1);
        return [...count].sort(([x], [y]) => x.localeCompare(y)).map(([tag, n]) => ({ tag, cases: n }));
      }
      case 'explain': {
        const id = a.caseId as number;
        const frame = (a.frame as number | null) ?? 3;
        const face = 100 + frame;
        const rows: Record<string, unknown>[] = [];
        // Plot rows carry their chart's series (as `verity::explain::chart::Chart`), no picture.
        const add = (kind: string, space: string, summary: string, extra: Record<string, unknown> = {}) =>
          rows.push({
            id: nextExplanation++, face_id: space === 'plot' ? null : face, frame_idx: space === 'plot' ? null : frame,
            kind, space, blob: space === 'plot' ? null : `derived/a1/explain/${kind}_${space}.png`, summary, data: extra,
            created_at: now(), url: space === 'plot' ? null : HEAT,
          });
        if (!mock.noWeights)
          for (const k of ['gradcam_cnn', 'rollout']) {
            add(k, 'crop', `${k}: where the detector looked on the face crop`);
            add(k, 'frame', `${k}: where the detector looked, in the frame`);
          }
        add('noise', 'region', 'Noise residual: uneven around the mouth', { title: 'Noise residual' });
        add('spectrum', 'region', 'Spectrum: no periodic up-sampling peaks', { title: 'Frequency spectrum' });
        add('ela', 'region', 'ELA: the face recompresses like the background', { title: 'Error-level analysis' });
        add('boundary', 'region', 'Boundary: a faint seam along the jaw', { title: 'Blending boundary' });
        add('temporal', 'plot', 'identity stable; score rises in frames 2–3', TEMPORAL_CHART);
        add('blink', 'plot', 'no blink in 0.8 s (too short to judge)', BLINK_CHART);
        explained[id] = [...(explained[id] ?? []), ...rows];
        log(settings.analyst || 'app', 'explain', id, { frame });
        return {
          case_id: id, analysis_id: 1, frame, faces: 1, outputs: rows.map((r) => r.id), seconds_per_face: 0.42,
          findings: ['track 1: identity stable; score rises in frames 2–3', 'track 1: no blink in 0.8 s (too short to judge)'],
          note: mock.noWeights ? 'Grad-CAM needs detector weights; artifact views only.' : null,
        };
      }
      case 'explanations':
        return explained[a.caseId as number] ?? [];
      case 'case_provenance':
        return provenanceOf(a.caseId as number);
      case 'media_info':
        return { kind: 'video', duration_s: 0.8, fps: 30, frame_count: 24, width: 512, height: 512 };
      case 'media_frame': {
        // 30 fps, 24 frames: the sampled frames (every 6th) sit at 0, 0.2, 0.4, 0.6 s.
        const at = a.tSeconds != null ? Math.ceil((a.tSeconds as number) * 30 - 1e-6) : ((a.index as number | null) ?? 0);
        const index = Math.min(23, Math.max(0, at));
        return { url: HEAT, index, time_s: index / 30, clamped: at > 23, width: 512, height: 512 };
      }
      case 'live_devices':
        return ['/dev/video0', '/dev/video2'];
      case 'start_live': {
        const source = String(a.source);
        if (source.startsWith('udp://10.')) throw { code: 'input', message: `${source}: cannot open the live stream: Connection timed out` };
        const job = nextJob++;
        setTimeout(() => emit('analysis', { event: 'queued', job, label: `Live ${source} (${a.seconds} s)`, case_id: null, position: 1 }), 0);
        return job;
      }
      case 'pick_export_path':
        return mock.exportPath ?? null;
      case 'export_cases': {
        // Each case in order; a title with "tampered" fails verification, like the core.
        const ids = a.caseIds as number[];
        exportStopped = false;
        const outcomes = [];
        for (const [done, id] of ids.entries()) {
          const c = cases.find((x) => x.id === id)!;
          await emit('export', { done, total: ids.length, case_id: id, title: c.title });
          if (done === 0 && mock.holdExport) await new Promise<void>((ok) => (exportRelease = ok));
          if (exportStopped) throw { code: 'cancelled', message: 'cancelled' };
          const folder = `case-${String(id).padStart(4, '0')}`;
          outcomes.push(
            c.title.includes('tampered')
              ? { case_id: id, title: c.title, files: [], error: `${c.title}: the case store's copy of this file failed verification` }
              : { case_id: id, title: c.title, files: ['html', ...(a.pdf ? ['pdf'] : []), 'json'].map((x) => `${folder}/report.${x}`), error: null },
          );
          log(settings.analyst || 'app', 'export', id, { format: 'zip', path: a.path });
        }
        await emit('export', { done: ids.length, total: ids.length, case_id: null, title: null });
        const failed = outcomes.filter((o) => o.error).length;
        return { path: a.path, cases: outcomes, exported: outcomes.length - failed, failed };
      }
      case 'cancel_export':
        exportStopped = true;
        exportRelease?.();
        return true;
      case 'rerun_cases': {
        const jobs: number[] = [];
        for (const id of new Set(a.caseIds as number[])) {
          const job = nextJob++;
          jobs.push(job);
          const c = cases.find((x) => x.id === id)!;
          setTimeout(() => emit('analysis', { event: 'queued', job, label: c.title, case_id: id, position: jobs.length }), 0);
        }
        return jobs;
      }
      case 'cancel':
        return true;
      case 'jobs':
        return [];
    }
    throw { code: 'unknown_command', message: `no mock for ${cmd}` };
  },
  { shouldMockEvents: true },
);
