/** Which links the head view draws. Pure and unit-tested. */
import { type AttentionTensor, row } from '../attention';
import { topK } from './summary';
import { MIN_LINK_WEIGHT } from './thresholds';

/** Links of one head: parallel arrays of query, key and weight. */
export interface LinkSet {
  query: Uint16Array;
  key: Uint16Array;
  weight: Float32Array;
  length: number;
}

/** Below this many tokens every link is drawn; above it only the strongest per query. */
export const DENSE_LIMIT = 64;

/**
 * The links of `head` worth drawing: every link above MIN_LINK_WEIGHT for short inputs, else the
 * `maxPerQuery` strongest per query. With `causal`, keys after the query are never drawn. With
 * `signed` (a difference A − B), strength is the magnitude and the weights keep their sign.
 */
export function selectLinks(a: AttentionTensor, head: number, maxPerQuery: number, causal: boolean, signed = false): LinkSet {
  const dense = a.keys <= DENSE_LIMIT;
  const cap = a.queries * (dense ? a.keys : Math.min(maxPerQuery, a.keys));
  const query = new Uint16Array(cap);
  const key = new Uint16Array(cap);
  const weight = new Float32Array(cap);
  let n = 0;
  for (let q = 0; q < a.queries; q++) {
    const r = row(a, head, q);
    const strength = signed ? r.map(Math.abs) : r;
    const limit = causal ? Math.min(q + 1, a.keys) : a.keys;
    const keys = dense ? Array.from({ length: limit }, (_, i) => i) : topK(limit === a.keys ? strength : strength.subarray(0, limit), maxPerQuery);
    for (const k of keys) {
      if (strength[k] < MIN_LINK_WEIGHT) continue;
      query[n] = q;
      key[n] = k;
      weight[n] = r[k];
      n++;
    }
  }
  return { query, key, weight, length: n };
}

/** Number of opacity buckets links are grouped into, so a frame needs few canvas strokes. */
export const ALPHA_BUCKETS = 16;

/** Opacity bucket of a weight (0…ALPHA_BUCKETS-1). */
export function alphaBucket(w: number): number {
  return Math.max(0, Math.min(ALPHA_BUCKETS - 1, Math.floor(w * ALPHA_BUCKETS)));
}

/** Opacity bucket of a difference: √|Δ|, so small differences stay visible (as in the matrix). */
export function signedBucket(d: number): number {
  return alphaBucket(Math.sqrt(Math.abs(d)));
}
