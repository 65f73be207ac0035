import { expect, test } from 'vitest';
import { DEFAULT_LOSS_WEIGHTS, lossInputs, lossSpec, parseLossInputs } from './losses';

test('lossSpec writes the CLI syntax, every term named', () => {
  expect(lossSpec(DEFAULT_LOSS_WEIGHTS)).toBe('bce=1,align=0.1,unif=0.5,supcon=0,text=0');
  expect(lossSpec({ ...DEFAULT_LOSS_WEIGHTS, supcon: 0.1, image_text: 0.25 })).toBe('bce=1,align=0.1,unif=0.5,supcon=0.1,text=0.25');
});

test('parseLossInputs reads the inputs and refuses bad weights', () => {
  const ok = parseLossInputs({ ...lossInputs(DEFAULT_LOSS_WEIGHTS), supcon: ' 0.2 ', image_text: '0.1' }, true);
  expect(ok).toEqual({ weights: { bce: 1, alignment: 0.1, uniformity: 0.5, supcon: 0.2, image_text: 0.1 }, error: null });
  for (const bad of ['-1', '', 'abc', 'Infinity', 'NaN']) {
    const r = parseLossInputs({ ...lossInputs(DEFAULT_LOSS_WEIGHTS), supcon: bad }, true);
    expect(r.weights).toBeNull();
    expect(r.error).toContain('Supervised contrastive (supcon): the weight must be a number ≥ 0');
  }
  const zero = parseLossInputs({ bce: '0', alignment: '0', uniformity: '0', supcon: '0', image_text: '0' }, true);
  expect(zero.error).toBe('Every loss weight is 0: nothing would be trained');
  // GenD profiles have no projected embedding: the image–text weight must stay 0.
  const gend = parseLossInputs({ ...lossInputs(DEFAULT_LOSS_WEIGHTS), image_text: '0.1' }, false);
  expect(gend.error).toContain('GenD layout');
  expect(parseLossInputs(lossInputs(DEFAULT_LOSS_WEIGHTS), false).weights).toEqual(DEFAULT_LOSS_WEIGHTS);
});
