/**
 * Per-head statistics of attention on the current input (Clark et al. 2019, "What Does BERT
 * Look At?"): entropy, distance, and the share of attention on the previous, next and same
 * token, the first token, special tokens and punctuation; and on earlier occurrences of the
 * query's own token (duplicate-token heads, Wang et al. 2022). Definitions in the README. Pure.
 * (Induction scores come from a probe sequence: `induction.ts`.)
 */
import type { AttentionRecord } from '../attention';
import type { TokenInfo } from '../tokens';

/** Names of the statistics, in display order. */
export const STAT_NAMES = ['entropy', 'distance', 'previous', 'next', 'self', 'first', 'special', 'punctuation', 'duplicate', 'induction', 'retrieval', 'pixelDistance'] as const;
/** One statistic's name. */
export type StatName = (typeof STAT_NAMES)[number];
/**
 * A head's statistics; `null` where undefined (no rows qualify, or positional stats of cross
 * attention). `induction` is measured on a probe sequence, not on the input (`induction.ts`), and
 * `retrieval` from a generation's steps (`retrieval.ts`): `headStats` leaves them `null`.
 */
export type HeadStats = Record<StatName, number | null>;

/** Per-key categories the statistics need: which keys are special tokens and which are punctuation. */
export interface KeyCategories {
  special: Uint8Array;
  punctuation: Uint8Array;
}

const PUNCTUATION = /^\p{P}+$/u;

/** True when a token's span of the input text, whitespace stripped, is non-empty and all Unicode punctuation. */
export function isPunctuationSpan(span: string): boolean {
  return PUNCTUATION.test(span.trim());
}

/** Categories of `tokens`; `span` gives a token's text in the input (a string: its UTF-16 spans index into it). */
export function keyCategories(tokens: readonly TokenInfo[], span: string | ((t: TokenInfo) => string)): KeyCategories {
  const of = typeof span === 'string' ? (t: TokenInfo) => span.slice(t.start, t.end) : span;
  return {
    special: Uint8Array.from(tokens, (t) => (t.special ? 1 : 0)),
    punctuation: Uint8Array.from(tokens, (t) => (!t.special && isPunctuationSpan(of(t)) ? 1 : 0)),
  };
}

/** True when queries and keys are one sequence, so positions compare (not cross attention). */
export function isPositional(r: AttentionRecord): boolean {
  return r.queryTokens === r.keyTokens && r.queries === r.keys;
}

// ln w from the float's bits: exponent plus a table of log2 over the mantissa's top 12 bits,
// linearly interpolated on the remaining 11 (error below 1e-8), several times faster than Math.log.
const MANTISSA_BITS = 12;
const LOG2_TABLE = Float64Array.from({ length: (1 << MANTISSA_BITS) + 1 }, (_, i) => Math.log2(1 + i / (1 << MANTISSA_BITS)));
const LOW_BITS = 23 - MANTISSA_BITS;
const LOW_SCALE = 1 / (1 << LOW_BITS);

/** Indices where `flags` is set. */
function indices(flags: Uint8Array): Int32Array {
  return Int32Array.from(Array.from(flags).flatMap((f, i) => (f ? [i] : [])));
}

/**
 * One pass over a row: −Σ w ln w (`ent`) and Σ w·|q − k| (`dist`). `bits` is the row's memory read
 * as integers; ln w comes from the exponent and a table over the mantissa.
 */
function scanRow(data: Float32Array, bits: Int32Array, start: number, n: number, q: number, out: Float64Array): void {
  let ent = 0, dist = 0;
  for (let k = 0; k < n; k++) {
    const w = data[start + k];
    const d = k - q;
    dist += w * (d < 0 ? -d : d);
    const b = bits[start + k];
    if (b > 0x007fffff) { // positive and normal: zero, negatives and subnormals add nothing
      const m = (b >>> LOW_BITS) & ((1 << MANTISSA_BITS) - 1);
      const t = LOG2_TABLE[m];
      ent -= w * (((b >>> 23) & 0xff) - 127 + t + (LOG2_TABLE[m + 1] - t) * (b & ((1 << LOW_BITS) - 1)) * LOW_SCALE);
    }
  }
  out[0] = ent * Math.LN2;
  out[1] = dist;
}

/** Per position, the earlier positions holding the same token id (empty for a first occurrence), once per token list. */
const earlierCache = new WeakMap<readonly TokenInfo[], Int32Array[]>();
function earlierOccurrences(tokens: readonly TokenInfo[]): Int32Array[] {
  let out = earlierCache.get(tokens);
  if (!out) {
    const seen = new Map<number, number[]>();
    out = tokens.map((t, q) => {
      const before = seen.get(t.id) ?? [];
      const list = Int32Array.from(before);
      if (t.id >= 0) seen.set(t.id, [...before, q]); // an image's tokens (id −1) repeat nothing
      return list;
    });
    earlierCache.set(tokens, out);
  }
  return out;
}

/** The statistics of head `h` of `r`. */
export function headStats(r: AttentionRecord, h: number, cat: KeyCategories): HeadStats {
  const positional = isPositional(r);
  const nq = r.queries, nk = r.keys;
  const specialKeys = indices(cat.special);
  const punctKeys = indices(cat.punctuation);
  const data = r.data;
  const bits = new Int32Array(data.buffer, data.byteOffset, data.length);
  let entropy = 0, distance = 0, prev = 0, next = 0, self = 0, first = 0, special = 0, punct = 0, dup = 0, repeated = 0;
  const earlier = positional ? earlierOccurrences(r.queryTokens) : [];
  const scan = new Float64Array(2);
  for (let q = 0; q < nq; q++) {
    const start = (h * nq + q) * nk;
    const allowed = r.causal ? Math.min(q + 1, nk) : nk;
    scanRow(data, bits, start, nk, q, scan);
    entropy += allowed > 1 ? scan[0] / Math.log(allowed) : 0;
    distance += scan[1];
    for (let i = 0; i < specialKeys.length; i++) special += data[start + specialKeys[i]];
    for (let i = 0; i < punctKeys.length; i++) punct += data[start + punctKeys[i]];
    first += data[start];
    if (positional) {
      self += data[start + q];
      if (q >= 1) prev += data[start + q - 1];
      if (q < nq - 1) next += data[start + q + 1];
      const e = earlier[q];
      if (e.length > 0) {
        for (let i = 0; i < e.length; i++) dup += data[start + e[i]];
        repeated++;
      }
    }
  }
  const mean = (sum: number, count: number) => (count > 0 ? sum / count : null);
  return {
    entropy: mean(entropy, nq),
    distance: positional ? mean(distance, nq) : null,
    previous: positional ? mean(prev, nq - 1) : null,
    next: positional ? mean(next, nq - 1) : null,
    self: positional ? mean(self, nq) : null,
    first: mean(first, nq),
    special: mean(special, nq),
    punctuation: mean(punct, nq),
    duplicate: positional ? mean(dup, repeated) : null,
    induction: null,
    retrieval: null,
    pixelDistance: positional ? meanPixelDistance(r, h) : null,
  };
}

/**
 * An image model's mean attention distance (Dosovitskiy et al. 2020, fig. 7): over the patches as
 * queries, the distance in the model's input pixels between patch centres, averaged with the
 * query's weights on the patches (renormalised over them, the special tokens left out); null
 * where the tokens are not patches.
 */
function meanPixelDistance(r: AttentionRecord, h: number): number | null {
  const patches = (r.keyTokens as ReadonlyArray<TokenInfo & { patch?: { row: number; col: number; size: number } }>).map((t) => t.patch);
  if (!patches.some((p) => p)) return null;
  let sum = 0, rows = 0;
  for (let q = 0; q < r.queries; q++) {
    const pq = patches[q];
    if (!pq) continue;
    const start = (h * r.queries + q) * r.keys;
    let weighted = 0, mass = 0;
    for (let k = 0; k < r.keys; k++) {
      const pk = patches[k];
      if (!pk) continue;
      const w = r.data[start + k];
      weighted += w * pq.size * Math.hypot(pq.row - pk.row, pq.col - pk.col);
      mass += w;
    }
    if (mass > 0) {
      sum += weighted / mass;
      rows++;
    }
  }
  return rows > 0 ? sum / rows : null;
}

/** Statistics of every head of every record: `[record][head]`. */
export function allHeadStats(records: readonly AttentionRecord[], categories: (r: AttentionRecord) => KeyCategories): HeadStats[][] {
  return records.map((r) => {
    const cat = categories(r);
    return Array.from({ length: r.heads }, (_, h) => headStats(r, h, cat));
  });
}
