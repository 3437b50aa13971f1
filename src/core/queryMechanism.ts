/**
 * The mechanism of one query of a long input's layer, from what the layer keeps (queries, keys,
 * values, each key's value norm and W_Oʰ's Gram matrix: linear in the tokens) instead of a second
 * run of the model, whose scores and outputs would be quadratic. Every head's row of that query:
 * the scores, the weights, the output, the contributions and the heads' shares, as the mechanism of
 * the full tensors holds them for that row. Pure.
 */
import { MASKED_SCORE, type MechanismLayer } from './mechanism';
import { type QueryKeyLayer, perQueryHead, weightRows } from './queryKeys';

/** Whether `l` keeps what `queryMechanism` needs: its values and each key's value norm. */
export function hasQueryMechanism(l: QueryKeyLayer | undefined): boolean {
  return l?.values !== undefined && l.valueDim !== undefined && l.valueNorms !== undefined && (l.valueNormBasis !== 'output-projection' || l.gram !== undefined);
}

/**
 * Query `query`'s mechanism in every head of `l` (`firstQuery` = `query`, one query), and its
 * weights `[heads][keys]` (the views' weights, computed as `weightRows` does). Scores are NaN where
 * the key is masked (causal, window, padding), as the full mechanism has them.
 */
export function queryMechanism(l: QueryKeyLayer, query: number): { layer: MechanismLayer; weights: Float32Array } {
  if (!hasQueryMechanism(l)) throw new Error(`${l.name} was not returned with its values, so its mechanism cannot be shown from its queries and keys`);
  if (!(query >= 0 && query < l.queries)) throw new RangeError(`query ${query} is outside ${l.name}'s ${l.queries} queries`);
  const { heads, keys: m, headDim: d } = l;
  const dv = l.valueDim!, position = query + m - l.queries;
  const k = perQueryHead(l.k, heads, l.kvHeads, m * d), v = perQueryHead(l.values!, heads, l.kvHeads, m * dv);
  const q = new Float32Array(heads * d);
  const scores = new Float32Array(heads * m).fill(NaN);
  const weights = new Float32Array(heads * m);
  const output = new Float32Array(heads * dv);
  const contribution = new Float32Array(heads * m);
  const headNorms = new Float32Array(heads);
  for (let h = 0; h < heads; h++) {
    q.set(l.q.subarray((h * l.queries + query) * d, (h * l.queries + query + 1) * d), h * d);
    const row = weightRows(l, h, query, query + 1);
    weights.set(row, h * m);
    const first = l.window ? Math.max(0, position - l.window + 1) : 0, last = l.causal ? Math.min(m - 1, position) : m - 1;
    const o = new Float64Array(dv);
    for (let j = first; j <= last; j++) {
      if (l.keyMask && l.keyMask[j] === 0) continue;
      let dot = 0;
      for (let x = 0; x < d; x++) dot += q[h * d + x] * k[(h * m + j) * d + x];
      const score = l.scale * dot + (l.bias ? l.bias[h * (2 * m - 1) + m - 1 + j - position] : 0);
      scores[h * m + j] = score > MASKED_SCORE ? score : NaN; // a bias that masks, as the full mechanism reads it
      for (let x = 0; x < dv; x++) o[x] += row[j] * v[(h * m + j) * dv + x];
      contribution[h * m + j] = row[j] * l.valueNorms![h * m + j];
    }
    output.set(o, h * dv);
    headNorms[h] = Math.sqrt(Math.max(0, l.gram ? quadratic(o, l.gram.subarray(h * dv * dv, (h + 1) * dv * dv), dv) : o.reduce((a, x) => a + x * x, 0)));
  }
  const layer: MechanismLayer = {
    name: l.name, kind: l.kind, layer: l.layer, heads, queries: 1, firstQuery: query, keys: m, headDim: d, valueDim: dv, scale: l.scale, shaped: false,
    q, k, v, scores, output, contribution, contributionBasis: l.valueNormBasis!, headNorms,
  };
  return { layer, weights };
}

/** o·G·oᵀ for a `dim` × `dim` matrix `g`, row-major. */
function quadratic(o: Float64Array, g: Float32Array, dim: number): number {
  let sum = 0;
  for (let a = 0; a < dim; a++) {
    let row = 0;
    for (let b = 0; b < dim; b++) row += g[a * dim + b] * o[b];
    sum += o[a] * row;
  }
  return sum;
}
