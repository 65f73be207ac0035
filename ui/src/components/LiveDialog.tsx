import { useEffect, useState } from 'preact/hooks';
import { getSettings, liveDevices, startLive, toApiError } from '../lib/api';
import { checkLive, LIVE_SECONDS } from '../lib/live';
import { useModal } from './modal';

interface Props {
  onClose: () => void;
  /** Called with the job id once the recording is queued. */
  onStarted?: (job: number) => void;
}

/**
 * "Live source…": records a network stream (RTSP, UDP …) or a webcam for some seconds and
 * analyses the recording as a case. The job shows in the sidebar like any import; a source that
 * cannot be reached fails there with the reason.
 */
export function LiveDialog({ onClose, onStarted }: Props) {
  const [source, setSource] = useState('');
  const [seconds, setSeconds] = useState('10');
  const [devices, setDevices] = useState<string[]>([]);
  const [err, setErr] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  // Focus in on open and back on close, Tab kept inside, Esc closes (from the first frame on:
  // focus moves in before paint).
  const modal = useModal<HTMLFormElement>(onClose);

  useEffect(() => {
    liveDevices().then(
      (d) => setDevices(d ?? []),
      () => setDevices([]),
    );
    getSettings().then(
      (v) => v?.settings?.live_seconds != null && setSeconds(String(v.settings.live_seconds)),
      () => {},
    );
  }, []);
  const start = async (e: Event) => {
    e.preventDefault();
    const checked = checkLive(source, seconds);
    if ('error' in checked) {
      setErr(checked.error);
      return;
    }
    setBusy(true);
    setErr(null);
    try {
      const job = await startLive(checked.source, checked.seconds);
      onStarted?.(job);
      onClose();
    } catch (x) {
      setErr(toApiError(x).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <div class="modal-backdrop" onClick={(e) => e.target === e.currentTarget && onClose()}>
      <form class="modal" noValidate role="dialog" aria-modal="true" aria-labelledby="live-title" onSubmit={start} data-testid="live-dialog" {...modal}>
        <h2 id="live-title">Live source</h2>
        <p class="muted small">
          Records the stream or webcam, then analyses the recording as a case (frames kept at the sampling rate).
        </p>
        <label>
          Stream URL or device
          <input
            data-autofocus
            type="text"
            value={source}
            placeholder="rtsp://camera.local/stream  ·  udp://0.0.0.0:5000"
            onInput={(e) => setSource((e.target as HTMLInputElement).value)}
            data-testid="live-source"
            spellcheck={false}
          />
        </label>
        <label>
          Webcam
          <select
            value={devices.includes(source) ? source : ''}
            onChange={(e) => setSource((e.target as HTMLSelectElement).value)}
            disabled={devices.length === 0}
            data-testid="live-device"
          >
            <option value="">{devices.length === 0 ? 'No webcam found (/dev/video*)' : 'Pick a webcam…'}</option>
            {devices.map((d) => (
              <option key={d} value={d}>
                {d}
              </option>
            ))}
          </select>
        </label>
        <label>
          Seconds to record ({LIVE_SECONDS.min}–{LIVE_SECONDS.max})
          <input
            type="number"
            min={LIVE_SECONDS.min}
            max={LIVE_SECONDS.max}
            step={1}
            value={seconds}
            onInput={(e) => setSeconds((e.target as HTMLInputElement).value)}
            data-testid="live-seconds"
          />
        </label>
        {err && (
          <p class="field-error" role="alert" data-testid="live-error">
            {err}
          </p>
        )}
        <div class="modal-actions">
          <button class="button" type="button" onClick={onClose} data-testid="live-cancel">
            Cancel
          </button>
          <button class="button button-primary" type="submit" disabled={busy} data-testid="live-start">
            {busy ? 'Starting…' : 'Start'}
          </button>
        </div>
      </form>
    </div>
  );
}
