/** Attention weights that are not numbers (a model's own NaN or ±Infinity) made 0 and named. Pure. */
import type { AttentionLayer } from '../attention';

/**
 * Sets NaN and ±Infinity weights to 0, so every view, summary and JSON stays consistent, and names
 * each head that had them: "Layer 2 head 3: 4 of 256 weights were not numbers".
 */
export function sanitizeNonFinite(l: AttentionLayer): string[] {
  const out: string[] = [];
  const d = l.data;
  const size = l.queries * l.keys;
  for (let h = 0; h < l.heads; h++) {
    const from = h * size;
    const to = from + size;
    // A branch-free pass first (x * 0 is NaN only for NaN and ±Infinity): clean heads, nearly all, cost one read each.
    let a = 0;
    let b = 0;
    let c = 0;
    let e = 0;
    let i = from;
    for (; i + 3 < to; i += 4) {
      a += d[i] * 0;
      b += d[i + 1] * 0;
      c += d[i + 2] * 0;
      e += d[i + 3] * 0;
    }
    for (; i < to; i++) a += d[i] * 0;
    if (a + b + c + e === 0) continue;
    let bad = 0;
    for (let k = from; k < to; k++) {
      if (!Number.isFinite(d[k])) {
        d[k] = 0;
        bad++;
      }
    }
    if (bad > 0) out.push(`${l.kind === 'self' ? '' : `${l.kind} `}Layer ${l.layer + 1} head ${h + 1}: ${bad} of ${size} weights were not numbers (NaN or infinite) and show as 0`);
  }
  return out;
}
