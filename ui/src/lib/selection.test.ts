import { expect, test } from 'vitest';
import { all, click, EMPTY, exportFileName, prune } from './selection';

const shown = [5, 4, 3, 2, 1];

test('a click toggles one case; Shift+click selects the range from the last click', () => {
  let s = click(EMPTY, shown, 4, false);
  expect(s).toEqual({ ids: [4], anchor: 4 });
  s = click(s, shown, 1, true);
  expect(s.ids).toEqual([4, 3, 2, 1]);
  // Upwards works too, and the ids stay in list order.
  s = click(click(EMPTY, shown, 2, false), shown, 5, true);
  expect(s.ids).toEqual([5, 4, 3, 2]);
  // A plain click on a selected case unselects it; Shift from an unselected anchor clears the range.
  s = click(s, shown, 3, false);
  expect(s.ids).toEqual([5, 4, 2]);
  s = click(s, shown, 5, true);
  expect(s.ids).toEqual([2]);
  // Shift without an anchor is a plain click.
  expect(click(EMPTY, shown, 3, true).ids).toEqual([3]);
  // A case not shown is ignored.
  expect(click(EMPTY, shown, 99, false)).toEqual(EMPTY);
});

test('select all, and only cases still shown stay selected', () => {
  expect(all(shown)).toEqual({ ids: shown, anchor: 5 });
  expect(all([])).toEqual(EMPTY);
  const s = { ids: [5, 3, 1], anchor: 3 };
  expect(prune(s, [1, 2, 5])).toEqual({ ids: [1, 5], anchor: null });
  expect(prune(s, shown)).toBe(s);
});

test('the proposed file name carries the date', () => {
  expect(exportFileName(new Date(2026, 0, 9))).toBe('verity-cases-2026-01-09.zip');
});
