import { expect, test } from 'vitest';
import { checkLive } from './live';

test('checkLive accepts stream URLs and webcams with 1–600 s', () => {
  expect(checkLive(' rtsp://cam/stream ', '10')).toEqual({ source: 'rtsp://cam/stream', seconds: 10 });
  expect(checkLive('/dev/video0', '1')).toEqual({ source: '/dev/video0', seconds: 1 });
  expect(checkLive('UDP://0.0.0.0:5000', '600')).toEqual({ source: 'UDP://0.0.0.0:5000', seconds: 600 });
});

test('checkLive explains what is wrong', () => {
  expect(checkLive('', '10')).toEqual({ error: 'Enter a stream URL (rtsp://, udp:// …) or pick a webcam.' });
  expect('error' in checkLive('/home/a/clip.mp4', '10') && checkLive('/home/a/clip.mp4', '10')).toMatchObject({ error: expect.stringContaining('is not a live source') });
  for (const s of ['0', '601', '', 'ten', '0.5'])
    expect(checkLive('udp://0.0.0.0:5000', s)).toEqual({ error: 'Record between 1 and 600 seconds.' });
});
