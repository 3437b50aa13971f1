/**
 * Copying/retrieval heads (Wu et al. 2024, "Retrieval Head Mechanistically Explains Long-Context
 * Factuality"), from a generation: over the steps whose generated token already occurs in the
 * context (the prompt and the tokens before it), the share where the head's strongest key, in the
 * row of the query that chose the token, is one of those occurrences. Pure.
 */
import type { AttentionTensor } from '../attention';

/** What a step contributes: the query that chose the token, and the token. */
export interface CopyStep {
  query: number;
  token: number;
}

/**
 * Each head's retrieval score over `steps`, from a layer of one pass over the whole sequence
 * (`ids`, `[heads, n, n]` weights); NaN for every head when no step copies a token of its context.
 */
export function retrievalScores(layer: AttentionTensor, ids: readonly number[], steps: readonly CopyStep[]): Float32Array {
  const out = new Float32Array(layer.heads);
  const copying = steps.filter((s) => s.query < layer.queries && ids.slice(0, s.query + 1).includes(s.token));
  if (copying.length === 0) return out.fill(NaN);
  for (let h = 0; h < layer.heads; h++) {
    let hits = 0;
    for (const s of copying) {
      const start = (h * layer.queries + s.query) * layer.keys;
      let best = 0;
      for (let k = 1; k <= s.query && k < layer.keys; k++) if (layer.data[start + k] > layer.data[start + best]) best = k;
      if (ids[best] === s.token) hits++;
    }
    out[h] = hits / copying.length;
  }
  return out;
}
