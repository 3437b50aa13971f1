/**
 * Per-head statistics of attention on the current input (Clark et al. 2019, "What Does BERT
 * Look At?"): entropy, distance, and the share of attention on the previous, next and same
 * token, the first token, special tokens and punctuation. Definitions in the README. Pure.
 */
import { type AttentionRecord, row } from '../attention';
import type { TokenInfo } from '../tokens';

/** Names of the statistics, in display order. */
export const STAT_NAMES = ['entropy', 'distance', 'previous', 'next', 'self', 'first', 'special', 'punctuation'] as const;
/** One statistic's name. */
export type StatName = (typeof STAT_NAMES)[number];
/** A head's statistics; `null` where undefined (no rows qualify, or positional stats of cross attention). */
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

/** The statistics of head `h` of `r`. */
export function headStats(r: AttentionRecord, h: number, cat: KeyCategories): HeadStats {
  const positional = isPositional(r);
  const nq = r.queries;
  let entropy = 0, distance = 0, prev = 0, next = 0, self = 0, first = 0, special = 0, punct = 0;
  for (let q = 0; q < nq; q++) {
    const a = row(r, h, q);
    const allowed = r.causal ? Math.min(q + 1, r.keys) : r.keys;
    let ent = 0, dist = 0, sp = 0, pu = 0;
    for (let k = 0; k < r.keys; k++) {
      const w = a[k];
      if (w > 0) ent -= w * Math.log(w);
      dist += w * Math.abs(q - k);
      if (cat.special[k]) sp += w;
      if (cat.punctuation[k]) pu += w;
    }
    entropy += allowed > 1 ? ent / Math.log(allowed) : 0;
    distance += dist;
    special += sp;
    punct += pu;
    first += a[0];
    if (positional) {
      self += a[q];
      if (q >= 1) prev += a[q - 1];
      if (q < nq - 1) next += a[q + 1];
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
  };
}

/** Statistics of every head of every record: `[record][head]`. */
export function allHeadStats(records: readonly AttentionRecord[], categories: (r: AttentionRecord) => KeyCategories): HeadStats[][] {
  return records.map((r) => {
    const cat = categories(r);
    return Array.from({ length: r.heads }, (_, h) => headStats(r, h, cat));
  });
}
