/**
 * Top-k summaries of attention: what the editor shows, the panel lists and the tooltip reads.
 * Pure.
 */
import { type AttentionRecord, type AttentionTensor, row, weightAt } from '../attention';
import { NEGLIGIBLE } from './thresholds';

/** Top attended keys of every query for the view the user has chosen in the panel. */
export interface ViewSummary {
  runId: number;
  /** The record summarised (`AttentionRecord.id`). */
  recordId: string;
  /** Heads averaged into this summary (one entry when a single head is shown). */
  heads: number[];
  /** Human-readable scope, e.g. "Layer 2 · head 3". */
  label: string;
  k: number;
  queries: number;
  /** `queries * k` key indices, best first; -1 pads rows with fewer keys. */
  keyIndex: Int32Array;
  /** `queries * k` weights matching `keyIndex`. */
  weight: Float32Array;
}

/** Mean attention of `heads` for one query: a new array of `keys` weights. */
export function meanRow(a: AttentionTensor, heads: readonly number[], query: number): Float32Array {
  const out = new Float32Array(a.keys);
  for (const h of heads) {
    const r = row(a, h, query);
    for (let k = 0; k < a.keys; k++) out[k] += r[k];
  }
  if (heads.length > 1) for (let k = 0; k < a.keys; k++) out[k] /= heads.length;
  return out;
}

/** Mean attention of `heads` that every query gives one key: a new array of `queries` weights. */
export function meanColumn(a: AttentionTensor, heads: readonly number[], key: number): Float32Array {
  const out = new Float32Array(a.queries);
  for (let q = 0; q < a.queries; q++) {
    for (const h of heads) out[q] += weightAt(a, h, q, key);
  }
  if (heads.length > 1) for (let q = 0; q < a.queries; q++) out[q] /= heads.length;
  return out;
}

/** Indices of the `k` largest values of `values`, largest first (ties: lower index first). */
export function topK(values: ArrayLike<number>, k: number): number[] {
  const idx: number[] = [];
  for (let i = 0; i < values.length; i++) {
    if (idx.length < k) {
      idx.push(i);
      for (let j = idx.length - 1; j > 0 && values[idx[j]] > values[idx[j - 1]]; j--) [idx[j], idx[j - 1]] = [idx[j - 1], idx[j]];
    } else if (values[i] > values[idx[k - 1]]) {
      idx[k - 1] = i;
      for (let j = k - 1; j > 0 && values[idx[j]] > values[idx[j - 1]]; j--) [idx[j], idx[j - 1]] = [idx[j - 1], idx[j]];
    }
  }
  return idx;
}

/**
 * A scope label such as "Layer 2 · head 3" or "Layer 2 · mean of 4 heads" (1-based for people).
 * A single-head record (an aggregate) is named by its own label.
 */
export function scopeLabel(r: Pick<AttentionRecord, 'label' | 'heads'>, heads: readonly number[]): string {
  if (r.heads === 1) return r.label;
  const which = heads.length === 1 ? `head ${heads[0] + 1}` : heads.length === r.heads ? `mean of all ${r.heads} heads` : `mean of heads ${heads.map((h) => h + 1).join(', ')}`;
  return `${r.label} · ${which}`;
}

/** The `k` strongest entries of `values` that are attended at all (at least NEGLIGIBLE), best first. */
export function strongest(values: ArrayLike<number>, k: number): Array<{ index: number; weight: number }> {
  const out: Array<{ index: number; weight: number }> = [];
  for (const index of topK(values, Math.min(k, values.length))) {
    if (values[index] < NEGLIGIBLE) break; // masked (future) keys and exact zeros are not "attended"
    out.push({ index, weight: values[index] });
  }
  return out;
}

/** Builds the summary the editor shows: top `k` keys per query for the chosen heads. */
export function summarize(runId: number, r: AttentionRecord, heads: readonly number[], k: number): ViewSummary {
  const keyIndex = new Int32Array(r.queries * k).fill(-1);
  const weight = new Float32Array(r.queries * k);
  for (let q = 0; q < r.queries; q++) {
    strongest(meanRow(r, heads, q), k).forEach(({ index, weight: w }, i) => {
      keyIndex[q * k + i] = index;
      weight[q * k + i] = w;
    });
  }
  return { runId, recordId: r.id, heads: [...heads], label: scopeLabel(r, heads), k, queries: r.queries, keyIndex, weight };
}

/** The attended keys of `query` in a summary, best first, without padding. */
export function attendedBy(s: ViewSummary, query: number): Array<{ key: number; weight: number }> {
  const out: Array<{ key: number; weight: number }> = [];
  if (query < 0 || query >= s.queries) return out;
  for (let i = 0; i < s.k; i++) {
    const key = s.keyIndex[query * s.k + i];
    if (key >= 0) out.push({ key, weight: s.weight[query * s.k + i] });
  }
  return out;
}

/** Opacity bucket (0…levels-1) for a weight, so decorations can use a fixed set of types. */
export function opacityLevel(weight: number, levels: number): number {
  return Math.max(0, Math.min(levels - 1, Math.ceil(weight * levels) - 1));
}
