/**
 * Top-k summaries of attention (what the editor shows) and their text forms. Pure.
 */
import { type AttentionLayer, row } from './attention';
import type { ViewSummary } from './protocol';
import { type TokenInfo, tokenLabel } from './tokens';

/** Weights below this are shown as not attended (causal masks give exact zeros). */
export const NEGLIGIBLE = 1e-4;

/** Mean attention of `heads` for one query: a new array of `keys` weights. */
export function meanRow(a: AttentionLayer, heads: readonly number[], query: number): Float32Array {
  const out = new Float32Array(a.keys);
  for (const h of heads) {
    const r = row(a, h, query);
    for (let k = 0; k < a.keys; k++) out[k] += r[k];
  }
  if (heads.length > 1) for (let k = 0; k < a.keys; k++) out[k] /= heads.length;
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

/** A scope label such as "Layer 2 · head 3" or "Layer 2 · mean of 4 heads" (1-based for people). */
export function scopeLabel(a: Pick<AttentionLayer, 'kind' | 'layer' | 'heads'>, heads: readonly number[]): string {
  const kind = a.kind === 'self' ? '' : `${a.kind} `;
  const which = heads.length === 1 ? `head ${heads[0] + 1}` : heads.length === a.heads ? `mean of all ${a.heads} heads` : `mean of heads ${heads.map((h) => h + 1).join(', ')}`;
  return `${kind}Layer ${a.layer + 1} · ${which}`;
}

/** Builds the summary the editor shows: top `k` keys per query for the chosen heads. */
export function summarize(runId: number, a: AttentionLayer, heads: readonly number[], k: number): ViewSummary {
  const kk = Math.min(k, a.keys);
  const keyIndex = new Int32Array(a.queries * k).fill(-1);
  const weight = new Float32Array(a.queries * k);
  for (let q = 0; q < a.queries; q++) {
    const r = meanRow(a, heads, q);
    let i = 0;
    for (const key of topK(r, kk)) {
      if (r[key] < NEGLIGIBLE) break; // masked (future) keys and exact zeros are not "attended"
      keyIndex[q * k + i] = key;
      weight[q * k + i] = r[key];
      i++;
    }
  }
  return { runId, kind: a.kind, layer: a.layer, heads: [...heads], label: scopeLabel(a, heads), k, queries: a.queries, keyIndex, weight };
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

/** Markdown for the editor hover of `query`: scope and its top attended tokens with weights. */
export function hoverMarkdown(s: ViewSummary, tokens: readonly TokenInfo[], query: number, top = 5): string {
  const esc = (t: string) => t.replace(/[\\`*_{}[\]()#+\-.!|<>]/g, (c) => `\\${c}`);
  // Inside a table cell a pipe ends the cell, even in a code span: escape it (GFM).
  const code = (t: TokenInfo, inTable = true) => {
    const label = tokenLabel(t).replace(/`/g, "'");
    return `\`${inTable ? label.replace(/\|/g, '\\|') : label}\``;
  };
  const lines = attendedBy(s, query)
    .slice(0, top)
    .map(({ key, weight }) => `| ${code(tokens[key])} | ${key} | ${weight.toFixed(3)} |`);
  return [
    `**Attention Lens** · ${esc(s.label)}`,
    '',
    `Token ${code(tokens[query], false)} (#${query}) attends to:`,
    '',
    '| token | # | weight |',
    '|---|--:|--:|',
    ...lines,
  ].join('\n');
}

/** Opacity bucket (0…levels-1) for a weight, so decorations can use a fixed set of types. */
export function opacityLevel(weight: number, levels: number): number {
  return Math.max(0, Math.min(levels - 1, Math.ceil(weight * levels) - 1));
}
