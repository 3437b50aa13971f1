/**
 * The mechanism of one attention layer for one run, from the tensors graph surgery exposes:
 * queries, keys, values, the scores before the softmax, each head's output (weights × values),
 * and each head's contribution per query and key (Kobayashi et al. 2020, "Attention is not only a
 * weight": ‖α·v·W_Oʰ‖ with the output projection, else ‖α·v‖). Pure: arrays in, arrays out.
 */
import type { AttentionKind, AttentionRecord } from './attention';
import { QueryKeyError, headsFirst, keysByToken, perQueryHead } from './queryKeys';

/** Scores at or below this (or not finite) were masked: masks add −∞ or the most negative float, never a score a model computes. */
export const MASKED_SCORE = -1e8;

export type ContributionBasis = 'output-projection' | 'value-norm';

/** One attention layer's mechanism; every array is row-major and batch-free. */
export interface MechanismLayer {
  name: string;
  kind: AttentionKind;
  layer: number;
  heads: number;
  /** The queries held: `queries` of them from `firstQuery` (0 unless given: a long input's mechanism holds the one query shown). */
  queries: number;
  firstQuery?: number;
  keys: number;
  /** Size of the query/key vectors; `valueDim` of the values (the same in every common model). */
  headDim: number;
  valueDim: number;
  /** scores = scale · q·kᵀ (+ mask and bias); null when the graph's factor is not a constant. */
  scale: number | null;
  /** True when the scores are a function of q·kᵀ other than scaling (soft-capping). */
  shaped: boolean;
  /** [heads][queries][headDim] */
  q: Float32Array;
  /** [heads][keys][headDim] */
  k: Float32Array;
  /** [heads][keys][valueDim] */
  v: Float32Array;
  /** [heads][queries][keys]; NaN where the key was masked. */
  scores: Float32Array;
  /** [heads][queries][valueDim]: Σₖ weight·v, as the model computed it. */
  output: Float32Array;
  /** [heads][queries][keys]: how much each key moves this head's output for the query. */
  contribution: Float32Array;
  contributionBasis: ContributionBasis;
  /** [heads][queries]: the size of each head's output after the projection, ‖o·W_Oʰ‖ (else ‖o‖): the heads' shares of the layer's output. */
  headNorms: Float32Array;
}

/** A tensor as onnxruntime returns it. */
export interface TensorLike {
  dims: readonly number[];
  data: Float32Array;
}

/** The exposed tensors of one attention layer (names as in graph surgery's `MechanismOutputs`). */
export interface MechanismTensorsOf {
  q: TensorLike;
  keysT: TensorLike;
  v: TensorLike;
  scores: TensorLike;
  output: TensorLike;
}

/** A layer whose tensors do not have the shapes the mechanism needs; `message` says which. */
export class MechanismError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MechanismError';
  }
}

/**
 * Builds a layer's mechanism from its exposed tensors and its attention weights
 * `[heads][queries][keys]`. `projection` is W_O `[heads·valueDim, hidden]` when the graph has it.
 */
export function mechanismLayer(
  meta: { name: string; kind: AttentionKind; layer: number; scale: number | null; shaped: boolean },
  t: MechanismTensorsOf,
  weights: Float32Array,
  projection?: { data: Float32Array; rows: number; cols: number },
): MechanismLayer {
  const [heads, queries, headDim] = batchFree(meta.name, 'queries', t.q);
  const [, dimK, keys] = batchFree(meta.name, 'keys', t.keysT);
  const [, keysV, valueDim] = batchFree(meta.name, 'values', t.v);
  const shapes = [batchFree(meta.name, 'scores', t.scores), batchFree(meta.name, 'output', t.output)];
  const expect = [[heads, queries, keys], [heads, queries, valueDim]];
  if (dimK !== headDim || keysV !== keys || shapes.some((s, i) => s.join() !== expect[i].join()) || weights.length !== heads * queries * keys) {
    throw new MechanismError(`${meta.name}: the exposed queries [${t.q.dims}], keys [${t.keysT.dims}], values [${t.v.dims}], scores [${t.scores.dims}] and output [${t.output.dims}] do not fit together as one attention, so its mechanism cannot be shown.`);
  }
  // Keys arrive transposed for the product ([head][dim][key]); store them [head][key][dim].
  const k = keysByToken(t.keysT.data, heads, headDim, keys);
  const scores = Float32Array.from(t.scores.data, (s) => (Number.isFinite(s) && s > MASKED_SCORE ? s : NaN));
  const useProjection = projection !== undefined && projection.rows === heads * valueDim;
  const norms = projectedNorms(t.v.data, heads, keys, valueDim, useProjection ? projection : undefined);
  const contribution = new Float32Array(heads * queries * keys);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < queries; i++) {
      const row = (h * queries + i) * keys;
      for (let j = 0; j < keys; j++) contribution[row + j] = weights[row + j] * norms[h * keys + j];
    }
  }
  return {
    ...meta,
    heads,
    queries,
    keys,
    headDim,
    valueDim,
    q: t.q.data,
    k,
    v: t.v.data,
    scores,
    output: t.output.data,
    contribution,
    contributionBasis: useProjection ? 'output-projection' : 'value-norm',
    headNorms: projectedNorms(t.output.data, heads, queries, valueDim, useProjection ? projection : undefined),
  };
}

/** ‖x·W_Oʰ‖ (or ‖x‖ without W_O) per head and row of `x` `[heads][rows][dim]`, as `[heads][rows]`. */
function projectedNorms(v: Float32Array, heads: number, keys: number, dim: number, projection?: { data: Float32Array; cols: number }): Float32Array {
  const out = new Float32Array(heads * keys);
  const cols = projection?.cols ?? 0;
  const projected = new Float64Array(cols);
  for (let h = 0; h < heads; h++) {
    for (let j = 0; j < keys; j++) {
      const base = (h * keys + j) * dim;
      let sum = 0;
      if (projection) {
        projected.fill(0);
        for (let d = 0; d < dim; d++) {
          const x = v[base + d];
          const w = (h * dim + d) * cols;
          for (let c = 0; c < cols; c++) projected[c] += x * projection.data[w + c];
        }
        for (let c = 0; c < cols; c++) sum += projected[c] * projected[c];
      } else {
        for (let d = 0; d < dim; d++) sum += v[base + d] * v[base + d];
      }
      out[h * keys + j] = Math.sqrt(sum);
    }
  }
  return out;
}

/** [heads, rows, cols] of a `[1, heads, rows, cols]` (or batch-merged `[heads, rows, cols]`) tensor. */
function batchFree(layer: string, what: string, t: TensorLike): [number, number, number] {
  const d = t.dims.map(Number);
  if (d.length === 4 && d[0] === 1) return [d[1], d[2], d[3]];
  if (d.length === 3) return [d[0], d[1], d[2]];
  throw new MechanismError(`${layer}: the ${what} have shape [${d.join(', ')}]; the mechanism view needs [1, heads, tokens, dims].`);
}

/** Where query `query` (its position among the layer's queries) is held in `m`'s per-query arrays. */
export function queryRow(m: Pick<MechanismLayer, 'firstQuery' | 'queries'>, query: number): number {
  const row = query - (m.firstQuery ?? 0);
  if (!(row >= 0 && row < m.queries)) throw new RangeError(`query ${query} is not held in this mechanism (queries ${m.firstQuery ?? 0} to ${(m.firstQuery ?? 0) + m.queries - 1})`);
  return row;
}

/** Row `i` of head `h` in a `[heads][rows][cols]` array, as a view. */
export function mechanismRow(data: Float32Array, rows: number, cols: number, h: number, i: number): Float32Array {
  const from = (h * rows + i) * cols;
  return data.subarray(from, from + cols);
}

/**
 * The steps of a fused attention operator, computed from its inputs and the weights it returned:
 * queries, keys and values split into heads (3-D `[1, tokens, heads·dim]` or 4-D
 * `[1, heads, tokens, dim]`), key/value heads repeated for their group of query heads, scores
 * `scale·q·kᵀ` (−∞ where the weight is 0: a masked key, which the operator does not report) and
 * each head's output Σ weight·v. `scale` absent means 1/√dim, as the operators define it.
 */
export function fusedSteps(
  layer: string,
  f: { heads: number; kvHeads: number; scale?: number },
  q: TensorLike,
  k: TensorLike,
  v: TensorLike,
  weights: Float32Array,
): { tensors: MechanismTensorsOf; scale: number } {
  const split = (what: string, t: TensorLike, heads: number) => {
    try {
      return headsFirst(what, t, heads);
    } catch (e) {
      if (e instanceof QueryKeyError) throw new MechanismError(`${layer}: the fused operator's ${what} have shape [${t.dims.map(Number).join(', ')}], which does not split into ${heads} heads.`);
      throw e;
    }
  };
  const Q = split('queries', q, f.heads);
  const K = split('keys', k, f.kvHeads);
  const V = split('values', v, f.kvHeads);
  const H = Q.heads;
  if (K.heads === 0 || H % K.heads !== 0 || V.heads !== K.heads || K.dim !== Q.dim || V.tokens !== K.tokens || weights.length !== H * Q.tokens * K.tokens) {
    throw new MechanismError(`${layer}: the fused operator's queries [${q.dims}], keys [${k.dims}] and values [${v.dims}] do not fit together as one attention.`);
  }
  const group = H / K.heads;
  const [n, m, dim, dv] = [Q.tokens, K.tokens, Q.dim, V.dim];
  const scale = f.scale ?? 1 / Math.sqrt(dim);
  const qs = Q.data;
  const keysT = new Float32Array(H * dim * m);
  const vs = perQueryHead(V.data, H, K.heads, m * dv);
  const scores = new Float32Array(H * n * m);
  const output = new Float32Array(H * n * dv);
  for (let h = 0; h < H; h++) {
    const g = Math.floor(h / group);
    for (let j = 0; j < m; j++) for (let x = 0; x < dim; x++) keysT[(h * dim + x) * m + j] = K.data[(g * m + j) * dim + x];
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < m; j++) {
        const w = weights[(h * n + i) * m + j];
        let dot = 0;
        for (let x = 0; x < dim; x++) dot += qs[(h * n + i) * dim + x] * keysT[(h * dim + x) * m + j];
        scores[(h * n + i) * m + j] = w > 0 ? scale * dot : -Infinity;
        for (let x = 0; x < dv; x++) output[(h * n + i) * dv + x] += w * vs[(h * m + j) * dv + x];
      }
    }
  }
  const t = (data: Float32Array, a: number, b: number): TensorLike => ({ dims: [1, H, a, b], data });
  return { tensors: { q: t(qs, n, dim), keysT: t(keysT, dim, m), v: t(vs, m, dv), scores: t(scores, n, m), output: t(output, n, dv) }, scale };
}

/** What a contribution-weighted view shows, for people. */
export function contributionBasisText(basis: ContributionBasis): string {
  return basis === 'output-projection'
    ? 'contributions ‖α·v·W_Oʰ‖ (through the output projection), normalised per query and head'
    : 'contributions ‖α·v‖ (the output projection was not found in the graph), normalised per query and head';
}

/**
 * `r` with each head's weights replaced by its contributions `[heads][queries][keys]`, normalised
 * to sum 1 over the keys of each query (as the weights do), so every view and statistic applies:
 * norm-based attention (Kobayashi et al. 2020). A row whose contributions are all 0 stays 0.
 */
export function contributionRecord(r: AttentionRecord, contribution: Float32Array): AttentionRecord {
  if (contribution.length !== r.heads * r.queries * r.keys) throw new MechanismError(`${r.label}: the contributions do not match the attention (${contribution.length} values for ${r.heads} × ${r.queries} × ${r.keys}).`);
  const data = new Float32Array(contribution.length);
  for (let row = 0; row < r.heads * r.queries; row++) {
    const from = row * r.keys;
    let sum = 0;
    for (let k = 0; k < r.keys; k++) sum += contribution[from + k];
    if (sum > 0) for (let k = 0; k < r.keys; k++) data[from + k] = contribution[from + k] / sum;
  }
  return { ...r, id: `${r.id}|contribution`, data };
}
