/**
 * Top-k summaries of attention: what the editor shows, the panel lists and the tooltip reads.
 * Pure.
 */
import { type AttentionRecord, type AttentionTensor, row, weightAt } from '../attention';
import { type TokenInfo, tokenLabel } from '../tokens';
import { NEGLIGIBLE } from './thresholds';

/**
 * How a record's positions map to the run's tokens when they differ (word level, hidden tokens):
 * position p covers token indices `tokens[offsets[p]…offsets[p+1])` and reads `texts[p]`.
 */
export interface TokenUnits {
  offsets: Int32Array;
  tokens: Int32Array;
  texts: string[];
}

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
  /** Present when positions are words or skip hidden tokens; absent when position = token index. */
  units?: TokenUnits;
  /** Labels of the single head summarised (from the head explorer's rules), if known. */
  headLabels?: string[];
  /** In a comparison: model B over the same positions (the summary itself is A's). */
  compare?: ComparedSummary;
}

/** Model B's side of a comparison's summary. */
export interface ComparedSummary {
  /** "B · Layer 2 · head 3". */
  label: string;
  /** B's own strongest keys per query (`queries * k`, -1 pads) and their weights. */
  keyIndex: Int32Array;
  weight: Float32Array;
  /** B's weight at each of A's keys (`keyIndex` of the summary). */
  weightAtA: Float32Array;
}

/** B's side for summary `a` of a comparison: `b` is B's record over the same positions. */
export function comparedSummary(a: ViewSummary, b: AttentionRecord, heads: readonly number[]): ComparedSummary {
  const own = summarize(a.runId, b, heads, a.k);
  const weightAtA = new Float32Array(a.keyIndex.length);
  for (let q = 0; q < a.queries; q++) {
    const rowB = meanRow(b, heads, q);
    for (let i = 0; i < a.k; i++) {
      const key = a.keyIndex[q * a.k + i];
      if (key >= 0) weightAtA[q * a.k + i] = rowB[key];
    }
  }
  return { label: `B · ${own.label}`, keyIndex: own.keyIndex, weight: own.weight, weightAtA };
}

/** The units of `positions` (a record's tokens or words) in terms of `runTokens`; undefined when they are the same list. */
export function tokenUnits(positions: readonly TokenInfo[], runTokens: readonly TokenInfo[]): TokenUnits | undefined {
  if (positions === runTokens) return undefined;
  const index = new Map(runTokens.map((t, i) => [t, i]));
  const offsets = new Int32Array(positions.length + 1);
  const tokens: number[] = [];
  positions.forEach((p, i) => {
    const pieces = (p as { tokens?: number[] }).tokens ?? [index.get(p) ?? -1];
    tokens.push(...pieces.filter((t) => t >= 0));
    offsets[i + 1] = tokens.length;
  });
  return { offsets, tokens: Int32Array.from(tokens), texts: positions.map((p) => tokenLabel(p)) };
}

/** The position covering token `token`, or -1 (hidden); the token itself without units. */
export function positionOfToken(units: TokenUnits | undefined, token: number): number {
  if (!units) return token;
  for (let p = 0; p + 1 < units.offsets.length; p++) {
    for (let i = units.offsets[p]; i < units.offsets[p + 1]; i++) if (units.tokens[i] === token) return p;
  }
  return -1;
}

/** The token indices position `p` covers. */
export function tokensOfPosition(units: TokenUnits | undefined, p: number): number[] {
  return units ? Array.from(units.tokens.subarray(units.offsets[p], units.offsets[p + 1])) : [p];
}

/**
 * Mean attention of `heads` for one query: a new array of `keys` weights, of which only the first
 * `seen` are read (the rest are 0: keys a causal query does not see).
 */
export function meanRow(a: AttentionTensor, heads: readonly number[], query: number, seen = a.keys): Float32Array {
  const out = new Float32Array(a.keys);
  for (const h of heads) {
    const r = row(a, h, query);
    for (let k = 0; k < seen; k++) out[k] += r[k];
  }
  if (heads.length > 1) for (let k = 0; k < seen; k++) out[k] /= heads.length;
  return out;
}

/**
 * How many keys query `q` of `r` can attend to: all, or under a causal mask those up to its own
 * position (a long input's layer never reads, nor touches the memory of, the rest).
 */
export function seenKeys(r: Pick<AttentionRecord, 'causal' | 'queries' | 'keys'>, q: number): number {
  return r.causal ? Math.max(0, Math.min(r.keys, q + r.keys - r.queries + 1)) : r.keys;
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
  const n = values.length;
  let i = 0;
  for (; i < n && idx.length < k; i++) {
    idx.push(i);
    for (let j = idx.length - 1; j > 0 && values[idx[j]] > values[idx[j - 1]]; j--) [idx[j], idx[j - 1]] = [idx[j - 1], idx[j]];
  }
  if (i === n) return idx;
  // The weakest kept value, held in a local: most values are below it and cost one comparison
  // (a 4,096-token layer's head view asks this of 14 × 4,096 rows).
  let floor = values[idx[k - 1]];
  for (; i < n; i++) {
    const v = values[i];
    if (!(v > floor)) continue;
    idx[k - 1] = i;
    for (let j = k - 1; j > 0 && values[idx[j]] > values[idx[j - 1]]; j--) [idx[j], idx[j - 1]] = [idx[j - 1], idx[j]];
    floor = values[idx[k - 1]];
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

/** Builds the summary the editor shows: top `k` keys per query for the chosen heads; `runTokens` maps words and hidden tokens back. */
export function summarize(runId: number, r: AttentionRecord, heads: readonly number[], k: number, runTokens: readonly TokenInfo[] = r.queryTokens): ViewSummary {
  const keyIndex = new Int32Array(r.queries * k).fill(-1);
  const weight = new Float32Array(r.queries * k);
  for (let q = 0; q < r.queries; q++) {
    const seen = seenKeys(r, q);
    strongest(meanRow(r, heads, q, seen).subarray(0, seen), k).forEach(({ index, weight: w }, i) => {
      keyIndex[q * k + i] = index;
      weight[q * k + i] = w;
    });
  }
  const units = tokenUnits(r.queryTokens, runTokens);
  return { runId, recordId: r.id, heads: [...heads], label: scopeLabel(r, heads), k, queries: r.queries, keyIndex, weight, ...(units ? { units } : {}) };
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
