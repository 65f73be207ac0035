// The UI's only door to the backend: every Tauri `invoke` (commands and plugins) goes through
// this module, so components never name IPC commands and tests can mock the whole surface with
// `mockIPC` from `@tauri-apps/api/mocks`.
import { invoke, type InvokeArgs } from '@tauri-apps/api/core';
import { listen, type UnlistenFn } from '@tauri-apps/api/event';

/** Mirrors `verity::device::DeviceInfo`. */
export interface DeviceInfo {
  /** "cpu" or "cuda". */
  kind: string;
  /** Human-readable, e.g. "CPU (2 threads)" or "CUDA: NVIDIA H100 80GB HBM3". */
  name: string;
  cuda_devices: number;
  threads: number;
}

/** Mirrors `verity_desk::commands::AppInfo`. */
export interface AppInfo {
  version: string;
  device: DeviceInfo;
}

/** A backend error as it crosses IPC: `{ code, message }` (see `commands::CommandError`). */
export class ApiError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
  }
}

/** Turns whatever a rejected `invoke` carries into an ApiError; `ipc` marks transport trouble. */
export function toApiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  if (e && typeof e === 'object') {
    const { code, message } = e as { code?: unknown; message?: unknown };
    if (typeof code === 'string' && typeof message === 'string') return new ApiError(code, message);
    if (typeof message === 'string') return new ApiError('ipc', message);
  }
  return new ApiError('ipc', typeof e === 'string' ? e : String(e));
}

/** Runs one IPC request; any rejection becomes an ApiError. */
async function guarded<T>(request: () => Promise<T>): Promise<T> {
  try {
    return await request();
  } catch (e) {
    throw toApiError(e);
  }
}

function call<T>(cmd: string, args?: InvokeArgs): Promise<T> {
  return guarded(() => invoke<T>(cmd, args));
}

/** Core version and the compute device analyses will run on. */
export function appInfo(): Promise<AppInfo> {
  return call<AppInfo>('app_info');
}

/**
 * Opens the native file dialog for images and videos. The core opens it (`pick_media_paths`,
 * filters from `verity::worker`'s extension lists) and remembers the answer: `import` accepts
 * only paths picked there or dropped on the window. Resolves to [] when the user cancels.
 */
export function pickMedia(): Promise<string[]> {
  return call<string[]>('pick_media_paths', { folder: false });
}

// ---- Cases, analysis jobs, reviews, settings, reports (src-tauri/src/commands.rs) ----

/** Mirrors `verity::store::CaseSummary`. */
export interface CaseSummary {
  id: number;
  title: string;
  created_at: string;
  updated_at: string;
  /** pending | running | done | not_scored | failed | cancelled | interrupted */
  status: string;
  score: number | null;
  band: 'fake' | 'review' | 'real' | null;
  untrained: boolean;
  profile: string | null;
  message: string | null;
  media_kind: string;
  sha256: string;
  /** Why the last analysis' verdict is less reliable (core `scope::assess`); null or absent
   *  when never assessed (analyses before schema v7, or still running). */
  scope?: ScopeWarning[] | null;
  /** The analyst's labels for the case (core `store::normalize_tags`: trimmed, ≤ 40 characters
   *  each, ≤ 20 per case). Absent from cores before schema v8. */
  tags?: string[];
}
/** One scope entry: a machine code, how it weighs, and why in plain words. */
export interface ScopeWarning {
  /** no_face | many_faces | small_face | heavy_compression | short_video | non_photographic |
   *  non_photographic_not_checked */
  code: string;
  /** `warning` qualifies the verdict; `not_checked` records a check that could not run. */
  severity: 'warning' | 'not_checked';
  text: string;
}
export interface MediaRow {
  id: number;
  sha256: string;
  original_name: string;
  original_path: string;
  kind: string;
  size_bytes: number;
  width: number | null;
  height: number | null;
  duration_s: number | null;
  fps: number | null;
  blob: string;
  imported_at: string;
  /** When the stored copy last re-hashed to its recorded SHA-256 (null: not since import). */
  verified_at?: string | null;
}
export interface FrameRow { idx: number; source_index: number; pts_s: number; keyframe: boolean; motion: number; width: number; height: number }
/** Mirrors `verity::store::FaceRow`: bbox `[x1, y1, x2, y2]` and the five MTCNN landmarks `[x, y]`
 *  (eyes, nose, mouth corners) in the pixels of its frame (`FrameRow.width/height`). */
export interface FaceRow { id: number; frame_idx: number; track_id: number; bbox: number[]; det_prob: number; landmarks?: number[][]; crop: string | null; full_frame: boolean; score: number | null }
export interface ScoreRow { level: string; face_id: number | null; frame_idx: number | null; track_id: number | null; score: number }
/** Mirrors `verity::store::ReviewRow`. An undo is a row with `retracts` set (the withdrawn
 *  decision's id; `verdict` repeats its verdict); the withdrawn row gets `retracted`. */
export interface ReviewRow { id: number; verdict: string; analyst: string; note: string; created_at: string; retracts?: number | null; retracted?: boolean }
export interface AuditRow { id: number; at: string; actor: string; action: string; case_id: number | null; details: unknown }
export interface AnalysisRow { id: number; started_at: string; finished_at: string | null; status: string; settings_json: string; profile: string | null; weight_hashes: string | null; untrained: boolean; error: string | null; preprocessing?: string | null }
/** Mirrors `verity::store::CaseDetail`. */
export interface CaseDetail {
  case: CaseSummary;
  media: MediaRow;
  analysis: AnalysisRow | null;
  frames: FrameRow[];
  faces: FaceRow[];
  scores: ScoreRow[];
  /** Every review row, undos included, oldest first. */
  reviews: ReviewRow[];
  /** The current decision: the newest one not undone (null: none). */
  decision?: ReviewRow | null;
  /** The case's free-text note ("" when none); shown as text, never as HTML. */
  note?: string;
  audit: AuditRow[];
}
/** `search` matches file name, SHA-256, tags and the case note; `tag` is one whole tag. */
export interface CaseFilter { band?: string | null; search?: string | null; tag?: string | null; limit?: number | null }
/** Mirrors `verity::store::Undo`: what an undo withdrew and the case's decision now. */
export interface Undo { review_id: number; retracted: ReviewRow; current: ReviewRow | null }
/** Mirrors `verity::store::TagCount`. */
export interface TagCount { tag: string; cases: number }

/** Mirrors `verity::config::Settings`. */
export interface Settings {
  fps: number;
  keyframe_threshold: number;
  thresholds: { real: number; fake: number };
  aggregation: 'mean' | 'motion-weighted';
  fusion: string | null;
  device: 'auto' | 'cpu' | 'cuda';
  precision: 'fp32' | 'fp16' | 'bf16' | 'auto';
  batch_size: number;
  profile: string | null;
  score_full_frame_without_face: boolean;
  analyst: string;
  data_dir: string | null;
  max_media_mib: number;
  live_seconds?: number;
  models_dir: string | null;
}
export interface SettingsView { settings: Settings; path: string; data_dir_resolved: string }
export interface ModelStatus { name: string; installed: boolean; verified: boolean | null; path: string | null; sha256: string | null; source: string; licence: string }
export interface JobInfo { job: number; label: string; case_id: number | null; state: 'queued' | 'running' }

/** Mirrors `verity::worker::Event` (tag `event`). */
export type AnalysisEvent =
  | { event: 'queued'; job: number; label: string; case_id: number | null; position: number }
  | { event: 'imported'; job: number; case_id: number; existing: boolean; title: string }
  | { event: 'loading_models'; job: number }
  | { event: 'started'; job: number; case_id: number; frames_estimate: number | null }
  | {
      event: 'progress';
      job: number;
      case_id: number;
      frames_decoded: number;
      faces_found: number;
      faces_scored: number;
      frames_estimate: number | null;
      elapsed_s: number;
      eta_s: number | null;
    }
  | { event: 'finished'; job: number; case_id: number; summary: { status: string; verdict: string; message: string | null } }
  | { event: 'failed'; job: number; case_id: number | null; label: string; code: string; message: string }
  | { event: 'cancelled'; job: number; case_id: number | null };

export const listCases = (filter: CaseFilter = {}) => call<CaseSummary[]>('list_cases', { filter });
export const caseDetail = (caseId: number) => call<CaseDetail>('case_detail', { caseId });
export const counts = () => call<Record<string, number>>('counts');
export const importPaths = (paths: string[]) => call<number[]>('import', { paths });
export const cancelJob = (job: number) => call<boolean>('cancel', { job });
export const rerun = (caseId: number) => call<number>('rerun', { caseId });
export const jobs = () => call<JobInfo[]>('jobs');
export const review = (caseId: number, verdict: 'fake' | 'real' | 'unsure', note: string) =>
  call<number>('review', { caseId, verdict, note });
export const reviewQueue = () => call<CaseSummary[]>('review_queue');
/** Withdraws the analyst's last decision on the case (an appended retraction; history kept). */
export const undoReview = (caseId: number) => call<Undo>('undo_review', { caseId });
/** Replaces the case's tags; resolves to the list as stored (normalised by the core). */
export const setCaseTags = (caseId: number, tags: string[]) => call<string[]>('set_case_tags', { caseId, tags });
/** Replaces the case's note; resolves to the text as stored. */
export const setCaseNote = (caseId: number, note: string) => call<string>('set_case_note', { caseId, note });
/** Every tag in use, with its number of cases (the case list's tag filter). */
export const allTags = () => call<TagCount[]>('all_tags');
export const getSettings = () => call<SettingsView>('get_settings');
export const saveSettings = (settings: Settings) => call<null>('save_settings', { settings });
export const modelsStatus = () => call<ModelStatus[]>('models_status');
/** Mirrors `verity::models::profile::ProfileEntry`: an installed profile folder. */
export interface ProfileEntry { folder: string; name: string | null; trained: boolean; description: string; error: string | null; preprocessing?: string | null }
export const listProfiles = () => call<ProfileEntry[]>('profiles');
export const exportReport = (caseId: number, format: ReportFormat, path: string) =>
  call<null>('export_report', { caseId, format, path });
/** A stored picture's address under the core's `verity:` scheme (src-tauri/src/protocol.rs):
 *  the webview loads it as an image, with no base64 in JSON. Windows maps custom schemes to
 *  `http://<scheme>.localhost`, as Tauri's `convertFileSrc` does. */
export function pictureUrl(path: string): string {
  // The browser tests (no Tauri, no verity: scheme) stand pictures in through this hook.
  const stand = (globalThis as { __verityPictureUrl?: (p: string) => string }).__verityPictureUrl;
  if (stand) return stand(path);
  const ua = globalThis.navigator?.userAgent ?? '';
  return ua.includes('Windows') || ua.includes('Android') ? `http://verity.localhost/${path}` : `verity://localhost/${path}`;
}
/** A face's gallery picture (its crop at frame resolution, else the detector's input). */
export const faceImage = (caseId: number, faceId: number) => pictureUrl(`face/${caseId}/${faceId}`);
/** The case's still image; only image cases have one (`kind === 'image'`). */
export const mediaImage = (caseId: number) => pictureUrl(`media/${caseId}`);

/** Mirrors `verity::explain::case::CaseExplanation`: what one press of Explain produced. */
export interface CaseExplanation {
  case_id: number;
  analysis_id: number;
  /** The sampled frame whose faces were explained. */
  frame: number;
  faces: number;
  /** Explanation row ids written. */
  outputs: number[];
  seconds_per_face: number;
  /** One line per video track: temporal summary and blink finding. */
  findings: string[];
  /** Why Grad-CAM is absent (no weights) or only illustrative (untrained profile). */
  note: string | null;
}

/** Mirrors `verity_desk::commands::ExplanationView`: a stored explanation and its picture. */
export interface Explanation {
  id: number;
  face_id: number | null;
  frame_idx: number | null;
  /** gradcam_cnn | gradcam_vit | rollout | noise | spectrum | ela | boundary | temporal | blink */
  kind: string;
  /** crop | frame | region | plot */
  space: string;
  blob: string | null;
  /** One line for the analyst. */
  summary: string;
  /** Temporal / blink rows (space "plot"): the chart's series (`lib/chart.ts`, `StoredChart`). */
  data: Record<string, unknown>;
  created_at: string;
  /** The PNG as a `data:` URL; null when the row has no picture (always for "plot" rows). */
  url: string | null;
}

/** Explains `frame` (null: the most suspicious frame) of a case; runs off the UI thread. */
export const explain = (caseId: number, frame: number | null) =>
  call<CaseExplanation>('explain', { caseId, frame });
/** The stored explanations of the case's latest analysis (newest per view). */
export const explanations = (caseId: number) => call<Explanation[]>('explanations', { caseId });

/** Subscribes to the worker's event stream; resolves to the unsubscribe function. */
export function onAnalysisEvent(handler: (e: AnalysisEvent) => void): Promise<UnlistenFn> {
  return guarded(() => listen<AnalysisEvent>('analysis', (e) => handler(e.payload)));
}

/** Folder picker (the core's dialog, see `pickMedia`): a folder of only images is one case,
 *  otherwise each media file inside is one. */
export function pickFolder(): Promise<string[]> {
  return call<string[]>('pick_media_paths', { folder: true });
}

/** Save dialog for a report, opened by the core (which then allows `export_report` to write
 *  exactly that file); null when cancelled. */
export function pickReportPath(defaultName: string, format: ReportFormat): Promise<string | null> {
  return call<string | null>('pick_report_path', { defaultName, format });
}

// ---- Retrain from reviews (verity_desk::retrain) ----

/** Mirrors `verity::train::losses::LossWeights` (`verity train --loss`: bce, align, unif, supcon, text). */
export interface LossWeights { bce: number; alignment: number; uniformity: number; supcon: number; image_text: number }
/** Mirrors `verity::train::retrain::RetrainOptions`. */
export interface RetrainOptions {
  epochs: number; lr: number; batch_size: number; seed: number; val_fraction: number; min_cases_per_class: number;
  losses: LossWeights;
}
/** Mirrors `retrain::LabelCounts`: adjudicated cases (and their faces) per class. */
export interface LabelCounts { fake_cases: number; real_cases: number; fake_faces: number; real_faces: number; skipped: number }
/** Mirrors `retrain::Metrics`: one row of the before/after table. */
export interface RetrainMetrics {
  n: number; n_fake: number; n_real: number; auc: number | null; eer: number | null; accuracy: number | null;
  average_precision: number | null; ece: number; review_share: number;
}
/** Mirrors `retrain::Candidate`. */
export interface RetrainCandidate {
  name: string; parent: string; created_at: string; analyst: string; options: RetrainOptions; counts: LabelCounts;
  train_faces: [number, number]; val_faces: [number, number]; before: RetrainMetrics | null; after: RetrainMetrics | null;
  epochs: { epoch: number; loss: number }[]; seconds: number;
}
/** Mirrors `retrain::RetrainProgress` (tagged by `phase`). */
export type RetrainProgress =
  | { phase: 'preparing_data' | 'evaluating_before' | 'evaluating_after' | 'saving' }
  | { phase: 'training'; epoch: number; epochs: number; step: number; total_steps: number; loss: number };
/** Mirrors `verity_desk::retrain::RetrainStatus`. */
export interface RetrainStatus {
  counts: LabelCounts | null; parent: string | null; parent_variant: 'gend' | 'fusion' | null; parent_error: string | null; refusal: string | null;
  running: boolean; progress: RetrainProgress | null; last_error: string | null; candidate: RetrainCandidate | null;
  defaults: RetrainOptions;
}
/** Mirrors `verity_desk::retrain::RetrainEvent` (the `retrain` event stream). */
export type RetrainEvent =
  | { kind: 'progress'; progress: RetrainProgress }
  | { kind: 'finished'; candidate: RetrainCandidate }
  | { kind: 'failed'; code: string; message: string }
  | { kind: 'cancelled' };

export const retrainStatus = () => call<RetrainStatus>('retrain_status');
export const retrainStart = (options: RetrainOptions | null = null) => call<null>('retrain_start', { options });
export const retrainCancel = () => call<boolean>('retrain_cancel');
/** Installs the candidate as a profile and selects it; resolves to the profile name. */
export const retrainAccept = (name: string) => call<string>('retrain_accept', { name });
export const retrainDiscard = (name: string) => call<null>('retrain_discard', { name });
export function onRetrainEvent(handler: (e: RetrainEvent) => void): Promise<UnlistenFn> {
  return guarded(() => listen<RetrainEvent>('retrain', (e) => handler(e.payload)));
}
/** Report formats `export_report` writes (PDF needs Chromium on the analyst's machine). */
export type ReportFormat = 'html' | 'json' | 'pdf';

/** Mirrors `verity::media::seek::PlayerInfo`: what the player's scrubber spans. */
export interface PlayerInfo { kind: string; duration_s: number; fps: number; frame_count: number; width: number; height: number }
/** Mirrors `verity_desk::player::PlayerFrame`: one decoded frame as a JPEG `data:` URL. */
export interface PlayerFrame { url: string; index: number; time_s: number; clamped: boolean; width: number; height: number }
/** Where to seek: a time in seconds or a frame number. */
export type SeekTo = { t: number } | { index: number };

export const mediaInfo = (caseId: number) => call<PlayerInfo>('media_info', { caseId });
/** Any frame of a case's video or frame folder, decoded in Rust (the webview cannot play CCTV formats). */
export const mediaFrame = (caseId: number, at: SeekTo, maxWidth: number) =>
  call<PlayerFrame>('media_frame', {
    caseId,
    tSeconds: 't' in at ? at.t : null,
    index: 'index' in at ? at.index : null,
    maxWidth,
  });
/** The webcams present (`/dev/video*`). */
export const liveDevices = () => call<string[]>('live_devices');
/** Queues a recording of `seconds` of a live source (URL or webcam), analysed like an import. */
export const startLive = (source: string, seconds: number) => call<number>('start_live', { source, seconds });

// ---- Several cases at once (src-tauri/src/batch.rs) ----

/** Mirrors `verity::export::Progress`: sent before each case and once at the end. */
export interface ExportProgress { done: number; total: number; case_id: number | null; title: string | null }
/** Mirrors `verity::export::CaseOutcome`. */
export interface ExportCaseOutcome { case_id: number; title: string; files: string[]; error: string | null }
/** Mirrors `verity::export::BatchSummary`. */
export interface ExportSummary { path: string; cases: ExportCaseOutcome[]; exported: number; failed: number }
/** Save dialog for a batch export (a .zip), opened by the core; null when cancelled. */
export const pickExportPath = (defaultName: string) => call<string | null>('pick_export_path', { defaultName });
/** One ZIP of the cases' HTML, JSON (and with `pdf` PDF) reports plus summary.csv. */
export const exportCases = (caseIds: number[], path: string, pdf: boolean) =>
  call<ExportSummary>('export_cases', { caseIds, path, pdf });
/** Stops a running batch export before its next case (nothing is written). */
export const cancelExport = () => call<boolean>('cancel_export');
/** Queues a re-run of each case; the job ids back. */
export const rerunCases = (caseIds: number[]) => call<number[]>('rerun_cases', { caseIds });
/** Subscribes to a batch export's progress. */
export function onExportProgress(handler: (p: ExportProgress) => void): Promise<UnlistenFn> {
  return guarded(() => listen<ExportProgress>('export', (e) => handler(e.payload)));
}

// ---- Provenance (verity::provenance; src-tauri/src/commands.rs `case_provenance`) ----

/** Mirrors `verity::provenance::Level`: how much weight a signal deserves when reading the verdict. */
export type SignalLevel = 'info' | 'notice' | 'warning';
/** Mirrors `verity::provenance::Signal`: one line of verdict context and where it was read. */
export interface ProvenanceSignal { level: SignalLevel; text: string; source: string }
/** Mirrors `verity::provenance::Field`. `private` (GPS, serial numbers) is sent but shown only on request. */
export interface ProvenanceField { label: string; value: string; flagged?: boolean; private?: boolean }
/** Mirrors `verity::provenance::Section`; `problems`: what could not be read, in plain words. */
export interface ProvenanceSection { title: string; fields: ProvenanceField[]; problems?: string[] }
/** Mirrors `verity::provenance::Provenance`: what the file says about itself, computed at import. */
export interface Provenance {
  computed_at: string;
  sections: ProvenanceSection[];
  signals: ProvenanceSignal[];
  details?: Record<string, unknown>;
}
/** Mirrors `verity::provenance::similar::FrameMatch`: another case with the same or a near-same
 *  frame (the best pair; 64-bit perceptual hashes). `created_at`: when that case was created. */
export interface SimilarFrame {
  case_id: number; title: string; created_at: string;
  /** Hamming distance of the two hashes (0 for the same file). */
  distance: number;
  /** Both cases hold the very same file (one stored media). */
  same_file: boolean;
  /** Sampled frame index in this case and in the other one. */
  frame_index: number; other_frame_index: number;
  pts_s: number | null; other_pts_s: number | null;
}
/** Mirrors `verity::provenance::similar::FaceMatch`: another case with a face whose CLIP
 *  embedding is close (the best pair). */
export interface SimilarFace {
  case_id: number; title: string; created_at: string; cosine: number;
  /** This case's face and the other case's (its gallery picture when `other_has_crop`). */
  face_id: number; other_face_id: number; frame_index: number; other_frame_index: number; other_has_crop: boolean;
  /** How many of this case's faces have a match in that case. */
  faces_matched: number;
  profile: string | null;
  /** Either embedding came from random weights: alike pictures, not evidence of the same person. */
  untrained: boolean;
}
/** Mirrors `verity::provenance::similar::Similar`: "seen before". */
export interface Similar {
  case_id: number;
  /** By distance, then case id. */
  frames: SimilarFrame[];
  /** By cosine (highest first), then case id. */
  faces: SimilarFace[];
  hamming_max: number;
  cosine_min: number;
  hashed_frames: number;
  embedded_faces: number;
  /** How the faces were searched ("brute force" or "HNSW", with the count). */
  face_search?: string | null;
  /** What limits the answer ("no frame hashes stored: re-run the analysis"). */
  notes: string[];
}
/** Mirrors `verity::provenance::CaseProvenance`: the case view's Provenance panel and the verdict
 *  context line. `provenance` is null when never computed (media imported before the desk
 *  recorded provenance); `similar` is null when the comparison has not run. */
export interface CaseProvenance {
  provenance: Provenance | null;
  similar?: Similar | null;
  /** Provenance and seen-before signals, warnings first. */
  signals: ProvenanceSignal[];
}
/** What `case_provenance` answers for a case. */
export const caseProvenance = (caseId: number) => call<CaseProvenance>('case_provenance', { caseId });
