/**
 * Induction heads (Olsson et al. 2022, "In-context Learning and Induction Heads"): on a sequence
 * of random tokens repeated once, a head's induction score is the mean attention from each token
 * of the repeat to the token that followed its first occurrence (position i − period + 1). The
 * probe is made from the model's vocabulary, seeded, so every run of a model scores the same
 * sequence. Pure.
 */
import type { AttentionTensor } from '../attention';
import { seededRandom } from '../generation/sampling';

/** Tokens per half of the probe (fewer when the model has fewer positions). */
export const INDUCTION_PERIOD = 50;
/** The probe's seed. */
export const INDUCTION_SEED = 0;

/** The sequence the scores are measured on: `prefix` tokens (a BOS), then `period` random ids, twice. */
export interface InductionProbe {
  ids: number[];
  prefix: number;
  period: number;
}

/**
 * A probe from ids `0 … vocab − 1` less `excluded` (special tokens): `period` distinct ids when
 * the vocabulary has them (a repeat inside a half would be a second "first occurrence"), after
 * `prefix`, at most `maxPositions` in all. Undefined when fewer than two ids or positions allow it.
 */
export function inductionProbe(vocab: number, excluded: ReadonlySet<number>, maxPositions: number, prefix: readonly number[] = [], seed = INDUCTION_SEED): InductionProbe | undefined {
  const candidates: number[] = [];
  for (let id = 0; id < vocab; id++) if (!excluded.has(id)) candidates.push(id);
  const period = Math.min(INDUCTION_PERIOD, Math.floor((maxPositions - prefix.length) / 2), candidates.length);
  if (period < 2) return undefined;
  // A partial Fisher-Yates shuffle: the first `period` of a seeded permutation.
  const random = seededRandom(seed);
  for (let i = 0; i < period; i++) {
    const j = i + Math.floor(random() * (candidates.length - i));
    [candidates[i], candidates[j]] = [candidates[j], candidates[i]];
  }
  const half = candidates.slice(0, period);
  return { ids: [...prefix, ...half, ...half], prefix: prefix.length, period };
}

/** Each head's induction score on `probe`, from a layer's weights over the probe (`[heads, n, n]`). */
export function inductionScores(layer: AttentionTensor, probe: InductionProbe): Float32Array {
  const { prefix, period } = probe;
  const n = prefix + 2 * period;
  if (layer.queries !== n || layer.keys !== n) throw new Error(`the layer has ${layer.queries} × ${layer.keys} weights; the probe has ${n} tokens`);
  const out = new Float32Array(layer.heads);
  for (let h = 0; h < layer.heads; h++) {
    let sum = 0;
    for (let i = prefix + period; i < n; i++) sum += layer.data[(h * n + i) * n + (i - period + 1)];
    out[h] = sum / period;
  }
  return out;
}
