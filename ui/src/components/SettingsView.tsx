import { useEffect, useState } from 'preact/hooks';
import { getSettings, listProfiles, modelsStatus, saveSettings, toApiError, type ModelStatus, type ProfileEntry, type Settings, type SettingsView as View } from '../lib/api';

/** Client-side checks mirroring `Settings::validate`; the backend validates again on save. */
export function validate(s: Settings): string | null {
  if (!(s.fps >= 3 && s.fps <= 10)) return 'Sampling rate must be 3–10 fps.';
  const t = s.thresholds;
  if (!(t.real >= 0 && t.fake <= 1 && t.real <= t.fake)) return 'Thresholds must satisfy 0 ≤ real ≤ fake ≤ 1.';
  if (s.fusion && !/^(concat|weighted:(0(\.\d+)?|1(\.0+)?)|slerp:(0(\.\d+)?|1(\.0+)?))$/.test(s.fusion))
    return 'Fusion must be concat, weighted:<α 0–1> or slerp:<t 0–1>.';
  if (!(s.batch_size >= 1 && s.batch_size <= 1024)) return 'Batch size must be 1–1024.';
  return null;
}

export function SettingsView({ onSaved }: { onSaved: (s: Settings) => void }) {
  const [view, setView] = useState<View | null>(null);
  const [s, setS] = useState<Settings | null>(null);
  const [msg, setMsg] = useState<{ ok: boolean; text: string } | null>(null);
  const [models, setModels] = useState<ModelStatus[] | null>(null);
  const [profiles, setProfiles] = useState<ProfileEntry[]>([]);

  useEffect(() => {
    listProfiles().then(
      (p) => setProfiles(p ?? []),
      () => setProfiles([]),
    );
    getSettings().then(
      (v) => {
        setView(v);
        setS(v.settings);
      },
      (e) => setMsg({ ok: false, text: toApiError(e).message }),
    );
  }, []);
  if (!s || !view) return <div class="muted pad">{msg?.text ?? 'Loading settings…'}</div>;

  const set = (patch: Partial<Settings>) => setS({ ...s, ...patch });
  const num = (e: Event) => Number((e.target as HTMLInputElement).value);
  const fusionMode = s.fusion?.split(':')[0] ?? 'profile';
  const alpha = Number(s.fusion?.split(':')[1] ?? 0.5);
  const problem = validate(s);
  const save = async () => {
    if (problem) return setMsg({ ok: false, text: problem });
    try {
      await saveSettings(s);
      setMsg({ ok: true, text: `Saved to ${view.path}` });
      onSaved(s);
    } catch (e) {
      setMsg({ ok: false, text: toApiError(e).message });
    }
  };

  return (
    <div class="settings" data-testid="settings">
      <h1>Settings</h1>
      <p class="muted mono small">{view.path}</p>
      <div class="settings-grid">
        <section class="panel">
          <h3 class="panel-title">Analyst</h3>
          <label class="field">
            <span>Your name (recorded with every decision)</span>
            <input value={s.analyst} data-testid="set-analyst" onInput={(e) => set({ analyst: (e.target as HTMLInputElement).value })} />
          </label>
          <label class="field">
            <span>Data folder (cases, media, database)</span>
            <input
              value={s.data_dir ?? ''}
              placeholder={view.data_dir_resolved}
              onInput={(e) => set({ data_dir: (e.target as HTMLInputElement).value || null })}
            />
          </label>
        </section>
        <section class="panel">
          <h3 class="panel-title">Sampling and thresholds</h3>
          <label class="field">
            <span>Sampling rate: {s.fps} fps</span>
            <input type="range" min={3} max={10} step={1} value={s.fps} data-testid="set-fps" onInput={(e) => set({ fps: num(e) })} />
          </label>
          <div class="field-row">
            <label class="field">
              <span>Real below</span>
              <input type="number" step={0.05} min={0} max={1} value={s.thresholds.real} data-testid="set-real" onInput={(e) => set({ thresholds: { ...s.thresholds, real: num(e) } })} />
            </label>
            <label class="field">
              <span>Fake above</span>
              <input type="number" step={0.05} min={0} max={1} value={s.thresholds.fake} data-testid="set-fake" onInput={(e) => set({ thresholds: { ...s.thresholds, fake: num(e) } })} />
            </label>
          </div>
          <p class="muted small">Scores in between are marked “needs review”.</p>
        </section>
        <section class="panel">
          <h3 class="panel-title">Model</h3>
          <label class="field">
            <span>Detector profile</span>
            <select
              class="select"
              value={s.profile ?? ''}
              data-testid="set-profile"
              onChange={(e) => set({ profile: (e.target as HTMLSelectElement).value || null })}
            >
              <option value="">Automatic (first trained profile)</option>
              {s.profile && !profiles.some((p) => p.folder === s.profile) && <option value={s.profile}>{s.profile} (not installed)</option>}
              {profiles.map((p) => (
                <option value={p.folder} key={p.folder} disabled={p.error != null} title={p.error ?? p.description}>
                  {p.folder}
                  {p.error != null ? ' — unreadable' : p.trained ? '' : ' — UNTRAINED'}
                </option>
              ))}
            </select>
          </label>
          {(() => {
            const chosen = profiles.find((p) => p.folder === s.profile) ?? profiles.find((p) => p.trained && p.error == null);
            return chosen?.preprocessing ? (
              <p class="muted small profile-card" data-testid="profile-card">
                <strong>{chosen.name ?? chosen.folder}</strong>
                {chosen.description ? ` — ${chosen.description}` : ''}
                <br />
                Faces: {chosen.preprocessing}
              </p>
            ) : null;
          })()}
          {profiles.length === 0 && (
            <p class="muted small" data-testid="no-profiles">
              No profile installed: scores need one — <code>verity models fetch gend-clip-l14</code>
            </p>
          )}
          <div class="field-row">
            <label class="field">
              <span>Fusion</span>
              <select
                class="select"
                value={fusionMode}
                onChange={(e) => {
                  const m = (e.target as HTMLSelectElement).value;
                  set({ fusion: m === 'profile' ? null : m === 'concat' ? 'concat' : `${m}:${alpha}` });
                }}
              >
                <option value="profile">As the profile says</option>
                <option value="concat">Concatenate</option>
                <option value="weighted">Weighted (α)</option>
                <option value="slerp">Slerp (t)</option>
              </select>
            </label>
            <label class="field">
              <span>α / t: {fusionMode === 'weighted' || fusionMode === 'slerp' ? alpha : '—'}</span>
              <input
                type="range"
                min={0}
                max={1}
                step={0.05}
                value={alpha}
                disabled={!(fusionMode === 'weighted' || fusionMode === 'slerp')}
                onInput={(e) => set({ fusion: `${fusionMode}:${num(e)}` })}
              />
            </label>
          </div>
          <div class="field-row">
            <label class="field">
              <span>Device</span>
              <select class="select" value={s.device} onChange={(e) => set({ device: (e.target as HTMLSelectElement).value as Settings['device'] })}>
                <option value="auto">Auto</option>
                <option value="cpu">CPU</option>
                <option value="cuda">CUDA GPU</option>
              </select>
            </label>
            <label class="field">
              <span>Precision</span>
              <select class="select" value={s.precision} onChange={(e) => set({ precision: (e.target as HTMLSelectElement).value as Settings['precision'] })}>
                <option value="fp32">FP32 (the published model's scores)</option>
                <option value="auto">Auto (BF16 where this CPU/GPU has it)</option>
                <option value="fp16">FP16 (CUDA only)</option>
                <option value="bf16">BF16</option>
              </select>
            </label>
          </div>
          <button type="button" class="button" onClick={() => modelsStatus().then(setModels, (e) => setMsg({ ok: false, text: toApiError(e).message }))}>
            Check installed models
          </button>
          {models && (
            <ul class="models" data-testid="models">
              {models.map((m) => (
                <li key={m.name}>
                  <i class={`dot ${m.installed ? (m.verified ? 'ok' : 'bad') : ''}`} /> {m.name}{' '}
                  <span class="muted">{m.installed ? (m.verified ? 'installed, verified' : 'installed, hash mismatch') : 'not installed'}</span>
                </li>
              ))}
            </ul>
          )}
        </section>
      </div>
      <div class="settings-foot">
        {msg && (
          <span class={msg.ok ? 'ok-text' : 'error-text'} data-testid="settings-msg">
            {msg.text}
          </span>
        )}
        {problem && !msg && <span class="error-text">{problem}</span>}
        <button type="button" class="button button-primary" onClick={save} data-testid="save-settings">
          Save settings
        </button>
      </div>
    </div>
  );
}
