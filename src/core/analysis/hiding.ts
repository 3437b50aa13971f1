/**
 * Hiding tokens (special tokens, the first token) so attention sinks do not drown the picture:
 * their keys and queries are removed and every remaining row renormalised to sum to 1. Pure.
 */
import type { AttentionRecord } from '../attention';
import type { TokenInfo } from '../tokens';

/** What to hide. */
export type HideChoice = 'special' | 'first';

/** Whether `choice` hides token `i` of `tokens`. */
export function isHidden(tokens: readonly TokenInfo[], i: number, choices: readonly HideChoice[]): boolean {
  return (choices.includes('special') && tokens[i].special) || (choices.includes('first') && i === 0);
}

/** The indices of the tokens that stay, queries and keys. */
function kept(r: AttentionRecord, choices: readonly HideChoice[]): { qs: number[]; ks: number[] } {
  const qs = r.queryTokens.flatMap((_, i) => (isHidden(r.queryTokens, i, choices) ? [] : [i]));
  const ks = r.keyTokens.flatMap((_, i) => (isHidden(r.keyTokens, i, choices) ? [] : [i]));
  return { qs, ks };
}

/** The record without the hidden tokens and without its weights (`data` empty): its shape, tokens and names, as `hideTokens` makes them. */
export function hiddenHeader(r: AttentionRecord, choices: readonly HideChoice[]): AttentionRecord {
  if (choices.length === 0) return r;
  const { qs, ks } = kept(r, choices);
  const queryTokens = qs.map((i) => r.queryTokens[i]);
  const keyTokens = r.queryTokens === r.keyTokens ? queryTokens : ks.map((i) => r.keyTokens[i]);
  return { ...r, id: `hide[${choices.join(',')}](${r.id})`, label: `${r.label} · without ${choices.map((c) => (c === 'first' ? 'first token' : 'special tokens')).join(', ')}`, queries: qs.length, keys: ks.length, data: new Float32Array(0), queryTokens, keyTokens };
}

/** The record without the hidden tokens, rows renormalised (rows left with no weight stay zero). */
export function hideTokens(r: AttentionRecord, choices: readonly HideChoice[]): AttentionRecord {
  if (choices.length === 0) return r;
  const { qs, ks } = kept(r, choices);
  const data = new Float32Array(r.heads * qs.length * ks.length);
  const src = r.data; // once: a stored record's weights come through a getter
  for (let h = 0; h < r.heads; h++) {
    qs.forEach((q, qi) => {
      const base = (h * qs.length + qi) * ks.length;
      let sum = 0;
      ks.forEach((k, ki) => (sum += data[base + ki] = src[(h * r.queries + q) * r.keys + k]));
      if (sum > 0) for (let ki = 0; ki < ks.length; ki++) data[base + ki] /= sum;
    });
  }
  return { ...hiddenHeader(r, choices), data };
}
