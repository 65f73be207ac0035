// Checks of the live-source dialog (components/LiveDialog.tsx), mirroring
// `verity_desk::player::live_job` so most mistakes are caught before the IPC round trip.

export const LIVE_SECONDS = { min: 1, max: 600 } as const;
const LIVE_PREFIXES = ['rtsp://', 'rtsps://', 'rtmp://', 'rtmps://', 'udp://', 'rtp://', 'srt://', '/dev/video'];

export function checkLive(source: string, seconds: string): { source: string; seconds: number } | { error: string } {
  const s = source.trim();
  if (!s) return { error: 'Enter a stream URL (rtsp://, udp:// …) or pick a webcam.' };
  if (!LIVE_PREFIXES.some((p) => s.toLowerCase().startsWith(p)))
    return { error: `${s} is not a live source: use an rtsp://, rtmp://, udp://, rtp:// or srt:// URL or a /dev/video* webcam` };
  const n = Number(seconds);
  if (seconds.trim() === '' || !Number.isFinite(n) || n < LIVE_SECONDS.min || n > LIVE_SECONDS.max)
    return { error: `Record between ${LIVE_SECONDS.min} and ${LIVE_SECONDS.max} seconds.` };
  return { source: s, seconds: n };
}
