import { describe, expect, test } from 'vitest';
import { bandCounts, deviceLabel, fileName, mediaKind, plural } from './media';

describe('mediaKind', () => {
  test('classifies by extension, case-insensitively', () => {
    expect(mediaKind('/cases/a/portrait.JPG')).toBe('image');
    expect(mediaKind('C:\\Evidence\\scan.tiff')).toBe('image');
    expect(mediaKind('/v/interview.MP4')).toBe('video');
    expect(mediaKind('clip.webm')).toBe('video');
    expect(mediaKind('/memes/Animated.GIF')).toBe('video');
  });
  test('anything else is other, including dotfiles and extension-less names', () => {
    expect(mediaKind('/notes/readme.txt')).toBe('other');
    expect(mediaKind('/home/u/.png')).toBe('other');
    expect(mediaKind('/bin/video')).toBe('other');
    expect(mediaKind('/dir.mp4/file')).toBe('other');
  });
});

test('fileName handles Unix and Windows separators', () => {
  expect(fileName('/a/b/c.png')).toBe('c.png');
  expect(fileName('C:\\x\\y\\z.mov')).toBe('z.mov');
  expect(fileName('plain.jpg')).toBe('plain.jpg');
  expect(fileName('/trailing/dir/')).toBe('dir');
});

test('bandCounts counts every band, zero when empty', () => {
  expect(bandCounts([])).toEqual({ fake: 0, review: 0, real: 0 });
  expect(bandCounts([{ band: 'fake' }, { band: 'real' }, { band: 'fake' }])).toEqual({ fake: 2, review: 0, real: 1 });
});

test('plural', () => {
  expect(plural(1, 'file')).toBe('1 file');
  expect(plural(3, 'file')).toBe('3 files');
  expect(plural(0, 'case')).toBe('0 cases');
});

test('deviceLabel names CPU threads or the GPU model', () => {
  expect(deviceLabel({ kind: 'cpu', name: 'CPU (2 threads)', threads: 2 })).toBe('CPU · 2 threads');
  expect(deviceLabel({ kind: 'cpu', name: 'CPU (1 threads)', threads: 1 })).toBe('CPU · 1 thread');
  expect(deviceLabel({ kind: 'cuda', name: 'CUDA: NVIDIA H100 80GB HBM3', threads: 16 })).toBe(
    'GPU · NVIDIA H100 80GB HBM3',
  );
});
