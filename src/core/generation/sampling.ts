/**
 * Choosing the next token from a model's logits: greedy (the largest logit), or sampling with a
 * temperature, top-k and top-p (nucleus) filtering in that order, as Hugging Face's `generate`
 * applies them, from a seeded generator so that a seed gives the same tokens on every run and
 * backend; and what the model nearly chose (the most probable tokens, the chosen one's rank).
 * Arithmetic in float64. Pure.
 */

/** How to choose: no options (or temperature 0) is greedy. */
export interface Sampling {
  /** Divides the logits before the softmax; 0 or absent with no other option: greedy. */
  temperature?: number;
  /** Keep only the k most probable tokens. */
  topK?: number;
  /** Keep the smallest set of most probable tokens whose probability reaches p. */
  topP?: number;
  /** Seed of the generator the draws come from. */
  seed?: number;
}

/** A token and its probability. */
export interface TokenProbability {
  id: number;
  probability: number;
}

/** Whether `s` samples (else the choice is greedy). */
export function samples(s: Sampling | undefined): boolean {
  return !!s && (s.temperature ?? 1) > 0 && (s.temperature !== undefined || s.topK !== undefined || s.topP !== undefined || s.seed !== undefined);
}

/**
 * A deterministic generator of numbers in [0, 1) (mulberry32, 32-bit state): the same seed gives
 * the same sequence in every JavaScript engine.
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Softmax of `logits / temperature` in float64 (NaN logits count as −∞). */
export function probabilities(logits: ArrayLike<number>, temperature = 1): Float64Array {
  const n = logits.length;
  const out = new Float64Array(n);
  let max = -Infinity;
  for (let i = 0; i < n; i++) if (logits[i] > max) max = logits[i];
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const v = logits[i];
    sum += out[i] = Number.isNaN(v) ? 0 : Math.exp((v - max) / temperature);
  }
  for (let i = 0; i < n; i++) out[i] /= sum;
  return out;
}

/** The largest logit's index (the lowest index among equals). */
export function argmax(logits: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  return best;
}

/** Token ids by probability, largest first (ties by id). */
function ranked(p: Float64Array): number[] {
  return Array.from(p.keys()).sort((a, b) => p[b] - p[a] || a - b);
}

/** The next token: greedy, or drawn by `random` from the distribution `sampling` shapes. */
export function chooseToken(logits: ArrayLike<number>, sampling: Sampling | undefined, random: () => number): number {
  if (!samples(sampling)) return argmax(logits);
  const p = probabilities(logits, sampling!.temperature ?? 1);
  let keep = ranked(p);
  if (sampling!.topK !== undefined && sampling!.topK > 0) keep = keep.slice(0, sampling!.topK);
  if (sampling!.topP !== undefined && sampling!.topP < 1) {
    // The smallest prefix whose probability reaches top-p (at least one token).
    let total = 0, n = 0;
    while (n < keep.length && (n === 0 || total < sampling!.topP)) total += p[keep[n++]];
    keep = keep.slice(0, n);
  }
  const mass = keep.reduce((s, id) => s + p[id], 0);
  let r = random() * mass;
  for (const id of keep) {
    r -= p[id];
    if (r < 0) return id;
  }
  return keep[keep.length - 1];
}

/** The `k` most probable tokens at temperature 1, and the chosen token's probability and rank (1: the most probable). */
export function alternatives(logits: ArrayLike<number>, chosen: number, k: number): { top: TokenProbability[]; probability: number; rank: number } {
  const p = probabilities(logits);
  let rank = 1;
  for (let i = 0; i < p.length; i++) if (p[i] > p[chosen] || (p[i] === p[chosen] && i < chosen)) rank++;
  // The top k by a partial selection: one pass keeping a small sorted list.
  const top: TokenProbability[] = [];
  for (let i = 0; i < p.length; i++) {
    if (top.length === k && p[i] <= top[k - 1].probability) continue;
    let at = top.length;
    while (at > 0 && top[at - 1].probability < p[i]) at--;
    top.splice(at, 0, { id: i, probability: p[i] });
    if (top.length > k) top.pop();
  }
  return { top, probability: p[chosen], rank };
}
