/** How alike two heads are on the same input: Jensen-Shannon distance, row by row. Pure. */
import { type AttentionTensor, row } from '../attention';

/**
 * Jensen-Shannon distance between rows `p` and `q` (each a distribution): the square root of the
 * Jensen-Shannon divergence with base-2 logarithms, in [0, 1].
 */
export function rowJsDistance(p: ArrayLike<number>, q: ArrayLike<number>): number {
  let d = 0;
  for (let k = 0; k < p.length; k++) {
    const a = p[k], b = q[k], m = (a + b) / 2;
    if (a > 0) d += 0.5 * a * Math.log2(a / m);
    if (b > 0) d += 0.5 * b * Math.log2(b / m);
  }
  return Math.sqrt(Math.max(0, Math.min(1, d)));
}

/** Mean over rows of the Jensen-Shannon distance between head `ha` of `a` and head `hb` of `b` (same shape). */
export function headJsDistance(a: AttentionTensor, ha: number, b: AttentionTensor, hb: number): number {
  if (a.queries !== b.queries || a.keys !== b.keys) throw new Error(`heads of different shapes: ${a.queries}×${a.keys} and ${b.queries}×${b.keys}`);
  if (a.queries === 0) return 0;
  let sum = 0;
  for (let q = 0; q < a.queries; q++) sum += rowJsDistance(row(a, ha, q), row(b, hb, q));
  return sum / a.queries;
}
