// The training loss weights of Retrain's advanced settings: the same terms, names and rules as
// `verity train --loss` (verity::train::losses::LossWeights::with_spec).
import type { LossWeights } from './api';

/** The terms in `--loss` order: field of `LossWeights`, the CLI's short name, what it is called on screen. */
export const LOSS_TERMS: { key: keyof LossWeights; short: string; label: string; title: string }[] = [
  { key: 'bce', short: 'bce', label: 'Cross-entropy', title: 'Binary cross-entropy on the head’s fake/real logit' },
  { key: 'alignment', short: 'align', label: 'Alignment', title: 'Pulls same-class embeddings together (Wang & Isola 2020)' },
  { key: 'uniformity', short: 'unif', label: 'Uniformity', title: 'Spreads embeddings over the sphere (Wang & Isola 2020)' },
  { key: 'supcon', short: 'supcon', label: 'Supervised contrastive', title: 'SupCon loss over the batch (Khosla et al. 2020)' },
  {
    key: 'image_text',
    short: 'text',
    label: 'Image–text',
    title: 'CLIP image–text alignment with “a photo of a real face” / “a photo of a deepfake face”',
  },
];

/** The recipe's defaults (LNCLIP-DF), as `LossWeights::default()`. */
export const DEFAULT_LOSS_WEIGHTS: LossWeights = { bce: 1, alignment: 0.1, uniformity: 0.5, supcon: 0, image_text: 0 };

/** The weights in the CLI's syntax, every term named: `bce=1,align=0.1,unif=0.5,supcon=0,text=0`. */
export function lossSpec(w: LossWeights): string {
  return LOSS_TERMS.map((t) => `${t.short}=${w[t.key]}`).join(',');
}

/**
 * Reads the inputs' texts into weights, or says what is wrong (the backend checks the same again).
 * `textAllowed` false: the profile cannot compute the image–text term (GenD layout), so its weight must be 0.
 */
export function parseLossInputs(
  inputs: Record<keyof LossWeights, string>,
  textAllowed: boolean,
): { weights: LossWeights; error: null } | { weights: null; error: string } {
  const weights = { ...DEFAULT_LOSS_WEIGHTS };
  for (const t of LOSS_TERMS) {
    const raw = inputs[t.key].trim();
    const v = raw === '' ? NaN : Number(raw);
    if (!Number.isFinite(v) || v < 0) {
      return { weights: null, error: `${t.label} (${t.short}): the weight must be a number ≥ 0, not “${raw}”` };
    }
    weights[t.key] = v;
  }
  if (!textAllowed && weights.image_text > 0) {
    return {
      weights: null,
      error: 'Image–text (text): this profile (GenD layout) has no projected CLIP embedding; set the weight to 0',
    };
  }
  if (LOSS_TERMS.every((t) => weights[t.key] === 0)) {
    return { weights: null, error: 'Every loss weight is 0: nothing would be trained' };
  }
  return { weights, error: null };
}

/** The inputs' texts for `w`. */
export function lossInputs(w: LossWeights): Record<keyof LossWeights, string> {
  return Object.fromEntries(LOSS_TERMS.map((t) => [t.key, String(w[t.key])])) as Record<keyof LossWeights, string>;
}
