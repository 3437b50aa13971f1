/**
 * Long inputs without quadratic memory: an attention layer kept as its queries and keys (linear in
 * the tokens), from which any row of its weights, softmax(scale·q·kᵀ + mask), is computed exactly
 * when a view asks. Holds for every layer whose scores carry no position bias (Llama, Qwen, Gemma,
 * GPT-2, BERT…); the engine checks each layer against a row the model itself computed. Pure.
 */
import type { AttentionKind, AttentionLayer } from './attention';
import type { ContributionBasis, TensorLike } from './mechanism';
import { type RolloutMatrix, fuseHeads, rolloutStep } from './analysis/aggregate';
import { type HeadAlignment, alignHead } from './analysis/compare';
import { rowKernel } from './kernels/rowKernel';
import { formatBytes } from './units';

/** One attention layer as queries and keys; `weightRows` gives its weights. */
export interface QueryKeyLayer {
  name: string;
  kind: AttentionKind;
  layer: number;
  heads: number;
  /** Key heads: fewer than `heads` under grouped-query attention, each shared by `heads / kvHeads` query heads. */
  kvHeads: number;
  queries: number;
  keys: number;
  headDim: number;
  /** scores = scale · q·kᵀ, then the mask. */
  scale: number;
  /** [heads][queries][headDim] */
  q: Float32Array;
  /** [kvHeads][keys][headDim] */
  k: Float32Array;
  /** Query i sees keys up to its own position i + keys − queries (decoder self attention). */
  causal: boolean;
  /** A sliding window: query i sees only the `window` keys up to its own position (Gemma's, Mistral's local layers). */
  window?: number;
  /** Keys that are padding (0), which no query sees; absent: none. */
  keyMask?: Uint8Array;
  /**
   * A position bias added to each head's scores that depends only on how far the key is from the
   * query (T5's relative buckets, ALiBi): `[heads][2 · keys − 1]`, the bias of key j for the query
   * at position p at `keys − 1 + j − p` (−∞: a key the query does not see). Absent: none.
   */
  bias?: Float32Array;
  /**
   * Each key's ‖v·W_Oʰ‖ per head (‖v‖ without the projection, as `valueNormBasis` says),
   * `[heads][keys]`: what the key's value moves the head's output by, per unit of weight.
   */
  valueNorms?: Float32Array;
  valueNormBasis?: ContributionBasis;
  /** Rows are the contributions ‖α·v·W_Oʰ‖ normalised per query (`contributionLayer`), not the weights. */
  byContribution?: boolean;
  /** The values as the model stores them, `[kvHeads][keys][valueDim]` (the mechanism of a query, `queryMechanism`). */
  values?: Float32Array;
  valueDim?: number;
  /** W_Oʰ·W_Oʰᵀ per head, `[heads][valueDim][valueDim]`, where the output projection was found: ‖o·W_Oʰ‖² = o·G·oᵀ. */
  gram?: Float32Array;
}

/**
 * `l` whose rows are its contributions instead of its weights (Kobayashi et al. 2020): each weight
 * times its key's `valueNorms`, the row normalised to sum 1 as `contributionRecord` does with a
 * layer's full contributions (a row whose products are all 0 stays 0).
 */
export function contributionLayer(l: QueryKeyLayer): QueryKeyLayer {
  if (!l.valueNorms || l.valueNorms.length !== l.heads * l.keys) throw new QueryKeyError(`${l.name} has no value norms for its ${l.heads} heads and ${l.keys} keys, so its contributions cannot be computed`);
  return { ...l, byContribution: true };
}

/**
 * Runs whose weights would take this much or more in float32 keep queries and keys instead, by
 * default (`attentionLens.keepWeightsMB`): from about 620 tokens on a 24-layer, 14-head model;
 * BERT-base at 512 tokens (151 MB) keeps its weights.
 */
export const QUERY_KEYS_ABOVE_BYTES = 512e6;
/** Without the model's layer and head counts: this many tokens. */
export const QUERY_KEYS_FROM_TOKENS = 2048;

/**
 * Whether a run of `tokens` tokens (`decoderTokens` more for an encoder-decoder) keeps queries and
 * keys: its weights, L·H·n² floats, would reach `limit` bytes (0: always).
 */
export function keepsQueryKeys(tokens: number, attention: { layers: number; heads: number } | undefined, decoderTokens = 0, limit = QUERY_KEYS_ABOVE_BYTES): boolean {
  const bytes = runWeightBytes(tokens, attention, decoderTokens);
  if (limit <= 0) return true;
  return bytes === undefined ? tokens + decoderTokens >= QUERY_KEYS_FROM_TOKENS : bytes >= limit;
}

/** Whether a run of the panel keeps queries and keys: the page decides so, and the host, opening the model ahead, decides alike. */
export function runKeepsQueryKeys(run: { ids: ArrayLike<number>; decoderIds?: ArrayLike<number>; model: { attention?: { layers: number; heads: number } }; keepWeightsBytes?: number }): boolean {
  return keepsQueryKeys(run.ids.length, run.model.attention, run.decoderIds?.length, run.keepWeightsBytes);
}

/** Bytes of every layer's weights in float32 for a run (self, or encoder, decoder and cross attention); undefined without the model's shape. */
export function runWeightBytes(tokens: number, attention: { layers: number; heads: number } | undefined, decoderTokens = 0): number | undefined {
  const n = tokens, d = decoderTokens;
  return attention && 4 * attention.layers * attention.heads * (n * n + d * d + d * n);
}

/**
 * Whether `a` and `b` give the same weights: the same shape, scale, masks and bias, and the same
 * queries and keys bit for bit (a model compared with itself on one text). Reads no weights, so a
 * long comparison knows without computing a layer.
 */
export function sameQueryKeys(a: QueryKeyLayer, b: QueryKeyLayer): boolean {
  return a.heads === b.heads && a.kvHeads === b.kvHeads && a.queries === b.queries && a.keys === b.keys && a.headDim === b.headDim && a.scale === b.scale
    && a.causal === b.causal && a.window === b.window && !a.byContribution && !b.byContribution
    && sameElements(a.q, b.q) && sameElements(a.k, b.k) && sameElements(a.keyMask, b.keyMask) && sameElements(a.bias, b.bias);
}

/** Two arrays (or two absent ones) with the same elements. */
export function sameElements(x: ArrayLike<number> | undefined, y: ArrayLike<number> | undefined): boolean {
  if (x === y) return true;
  if (!x || !y || x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) if (!Object.is(x[i], y[i])) return false;
  return true;
}

/** `[kvHeads][size]` blocks repeated for each query head of their group, `[heads][size]` (grouped-query attention). */
export function perQueryHead(data: Float32Array, heads: number, kvHeads: number, size: number): Float32Array {
  const out = new Float32Array(heads * size), group = heads / kvHeads;
  for (let h = 0; h < heads; h++) out.set(data.subarray(Math.floor(h / group) * size, (Math.floor(h / group) + 1) * size), h * size);
  return out;
}

/** Bytes a layer kept as queries and keys holds. */
export function queryKeyBytes(l: Pick<QueryKeyLayer, 'q' | 'k' | 'bias' | 'valueNorms' | 'values' | 'gram'>): number {
  return l.q.byteLength + l.k.byteLength + [l.bias, l.valueNorms, l.values, l.gram].reduce((n, a) => n + (a?.byteLength ?? 0), 0);
}

/** Bytes the same layer's weights would hold in float32. */
export function weightBytes(l: Pick<QueryKeyLayer, 'heads' | 'queries' | 'keys'>): number {
  return 4 * l.heads * l.queries * l.keys;
}

/**
 * Rows `from`…`to − 1` of head `head`'s weights, `[to − from][keys]`, into `out` when given
 * (`zeroed`: it holds zeros there already, as a new array does). Dot products and the softmax run
 * in float64 (the WebAssembly kernel of kernels/rows.wat, two queries against four keys at a time);
 * a row whose keys are all masked is 0 (as SDPA exports guard it). Only the keys a row sees are
 * written into a zeroed array, so a causal layer's upper half is never touched: the system never
 * backs those pages (half the memory of a new layer), and first touching memory is not free (about
 * 3 ms per MB on the 2-core machine the benches run on).
 */
export function weightRows(l: QueryKeyLayer, head: number, from: number, to: number, out?: Float32Array, zeroed = !out): Float32Array {
  out ??= new Float32Array((to - from) * l.keys);
  const { keys, headDim: d } = l;
  const kernel = rowKernel();
  kernel.load(l.k, Math.floor(head / (l.heads / l.kvHeads)), keys, d);
  if (l.bias) kernel.loadBias(l.bias, head);
  const offset = keys - l.queries;
  const norms = l.byContribution ? l.valueNorms!.subarray(head * keys, (head + 1) * keys) : undefined;
  // Where the bias of key 0 lies for query i (at position i + offset).
  const biasAt = (i: number) => (l.bias ? keys - 1 - (i + offset) : undefined);
  for (let i = from; i < to; i += 2) {
    const pair = i + 1 < to;
    const q0 = (head * l.queries + i) * d;
    const [f0, e0] = seenRange(l, i, offset);
    const [f1, e1] = pair ? seenRange(l, i + 1, offset) : [f0, e0];
    kernel.dots(l.q, q0, pair ? q0 + d : q0, d, Math.min(f0, f1), Math.max(e0, e1) + 1);
    kernel.softmax(0, f0, e0, l.scale, l.keyMask, out, (i - from) * keys, zeroed, biasAt(i));
    if (pair) kernel.softmax(1, f1, e1, l.scale, l.keyMask, out, (i + 1 - from) * keys, zeroed, biasAt(i + 1));
    if (norms) {
      byNorms(out, (i - from) * keys, norms, f0, e0);
      if (pair) byNorms(out, (i + 1 - from) * keys, norms, f1, e1);
    }
  }
  return out;
}

/** Row `out[at…]`'s weights of keys `first`…`last` times their norms, normalised to sum 1 (all 0 stays 0). */
function byNorms(out: Float32Array, at: number, norms: Float32Array, first: number, last: number): void {
  let sum = 0;
  for (let j = first; j <= last; j++) {
    out[at + j] *= norms[j];
    sum += out[at + j]; // the product as stored (float32), as `contributionRecord` sums it
  }
  if (sum > 0) for (let j = first; j <= last; j++) out[at + j] = out[at + j] / sum;
}

/** The first and last key query `i` sees (before padding): the causal mask and the window. */
function seenRange(l: QueryKeyLayer, i: number, offset = l.keys - l.queries): [number, number] {
  return [l.window ? Math.max(0, i + offset - l.window + 1) : 0, l.causal ? Math.min(l.keys - 1, i + offset) : l.keys - 1];
}

/** Every weight of the layer, `[heads][queries][keys]`, as the model's own attention output holds them (into `into` when given: zeroed, of that length). */
export function layerWeights(l: QueryKeyLayer, into?: Float32Array): AttentionLayer {
  return { name: l.name, kind: l.kind, layer: l.layer, heads: l.heads, queries: l.queries, keys: l.keys, data: headWeights(l, 0, l.heads, into) };
}

/**
 * Head `head` of `l`, `[queries][keys]`, for passes that take one head at a time (the explorer's
 * cells): one array serves every head, each overwriting the last. Every head of a layer sees the
 * same keys in each row, so what one head leaves at 0 the next does too, and nothing need be
 * cleared; the pass touches one head's memory instead of the layer's (14 × 64 MB at 4,096 tokens,
 * each new array's pages first touched at about 3 ms per MB on the benches' machine).
 */
export function headByHead(l: QueryKeyLayer): (head: number) => Float32Array {
  let buffer: Float32Array | undefined;
  return (head) => (buffer ? weightRows(l, head, 0, l.queries, buffer, true) : (buffer = weightRows(l, head, 0, l.queries)));
}

/** One layer of a rollout (`rolloutStep`): its heads fused, from a layer's queries and keys or given so, after the rollout through the layers before. */
export interface RolloutTask {
  previous?: RolloutMatrix;
  layer?: QueryKeyLayer;
  /** `[n][n]`: the heads already fused (a record made from a layer: word level, hidden tokens). */
  fused?: Float32Array;
  n: number;
  fusion: 'mean' | 'max' | 'min';
  discard: number;
}

/** The rollout through `task`'s layer; its heads computed one at a time into one array, never the whole layer. */
export function rolloutLayer(task: RolloutTask): RolloutMatrix {
  const l = task.layer;
  const fused = task.fused ?? (l && fuseHeads(l.heads, l.queries * l.keys, headByHead(l), task.fusion));
  if (!fused || fused.length !== task.n * task.n) throw new Error(`a rollout layer needs ${task.n} × ${task.n} weights`);
  return rolloutStep(task.previous, fused, task.n, task.discard);
}

/** Every weight of heads `from`…`to − 1`, `[to − from][queries][keys]` (a share of the layer, for one of several workers), into `into` when given (zeroed, of that length). */
export function headWeights(l: QueryKeyLayer, from: number, to: number, into?: Float32Array): Float32Array {
  const size = l.queries * l.keys;
  if (into && into.length !== (to - from) * size) throw new Error(`${(to - from) * size} weights do not fit in an array of ${into.length}`);
  const data = into ?? new Float32Array((to - from) * size);
  for (let h = from; h < to; h++) weightRows(l, h, 0, l.queries, data.subarray((h - from) * size, (h - from + 1) * size), true);
  return data;
}

/**
 * Heads `from`…`to − 1` of `l` over a comparison's paired units, `[to − from][n][n]` (`alignHead`),
 * each head computed in turn into one array and aligned: the layer is never held whole (a
 * worker's share of a long side's aligned layer; 940 MB at 4,096 tokens on 14 heads, where the
 * aligned heads take as much as the units' n²).
 */
export function alignedHeads(l: QueryKeyLayer, from: number, to: number, how: HeadAlignment): Float32Array {
  const n = how.units.length, head = headByHead(l);
  const out = new Float32Array((to - from) * n * n);
  for (let h = from; h < to; h++) alignHead(head(h), l.keys, how, out.subarray((h - from) * n * n, (h - from + 1) * n * n));
  return out;
}

/** Why a tensor cannot be read as queries or keys. */
export class QueryKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'QueryKeyError';
  }
}

/**
 * Queries `[1, heads, n, d]` or `[1, n, heads·d]` as `[heads][n][d]` (a copy only when the layout
 * differs). `heads` is needed for the 3-D layout (fused operators' inputs).
 */
export function headsFirst(what: string, t: TensorLike, heads?: number): { heads: number; tokens: number; dim: number; data: Float32Array } {
  const d = t.dims.map(Number);
  if (d.length === 4 && d[0] === 1) return { heads: d[1], tokens: d[2], dim: d[3], data: t.data };
  if (d.length === 3 && d[0] === 1 && heads && d[2] % heads === 0) {
    const [n, dim] = [d[1], d[2] / heads];
    const data = new Float32Array(heads * n * dim);
    for (let i = 0; i < n; i++) for (let h = 0; h < heads; h++) data.set(t.data.subarray(i * d[2] + h * dim, i * d[2] + (h + 1) * dim), (h * n + i) * dim);
    return { heads, tokens: n, dim, data };
  }
  throw new QueryKeyError(`the ${what} have shape [${d.join(', ')}], which does not split into heads`);
}

/**
 * Keys `[heads][m][d]` whose heads repeat in groups (grouped-query attention, repeated for the
 * score product: k0 k0 k1 k1) as one head per group; unchanged when they do not repeat.
 */
export function sharedHeads(k: { heads: number; tokens: number; dim: number; data: Float32Array }): { heads: number; tokens: number; dim: number; data: Float32Array } {
  const size = k.tokens * k.dim;
  const same = (a: number, b: number) => {
    for (let x = 0; x < size; x++) if (k.data[a * size + x] !== k.data[b * size + x]) return false;
    return true;
  };
  for (let group = k.heads; group > 1; group--) {
    if (k.heads % group !== 0) continue;
    let repeats = true;
    for (let h = 0; h < k.heads && repeats; h++) repeats = h % group === 0 || same(h, h - (h % group));
    if (!repeats) continue;
    const heads = k.heads / group;
    const data = new Float32Array(heads * size);
    for (let g = 0; g < heads; g++) data.set(k.data.subarray(g * group * size, (g * group + 1) * size), g * size);
    return { heads, tokens: k.tokens, dim: k.dim, data };
  }
  return k;
}

/** Keys as a score product takes them, `[1, heads, d, m]`, as `[heads][m][d]`. */
export function untransposedKeys(t: TensorLike): { heads: number; tokens: number; dim: number; data: Float32Array } {
  const d = t.dims.map(Number);
  if (d.length !== 4 || d[0] !== 1) throw new QueryKeyError(`the keys have shape [${d.join(', ')}], expected [1, heads, dim, keys]`);
  const [heads, dim, m] = [d[1], d[2], d[3]];
  return { heads, tokens: m, dim, data: keysByToken(t.data, heads, dim, m) };
}

/** Keys `[heads][dim][keys]` (as a score product takes them) laid out `[heads][keys][dim]`. */
export function keysByToken(keysT: Float32Array, heads: number, dim: number, keys: number): Float32Array {
  const data = new Float32Array(heads * keys * dim);
  for (let h = 0; h < heads; h++) for (let x = 0; x < dim; x++) for (let j = 0; j < keys; j++) data[(h * keys + j) * dim + x] = keysT[(h * dim + x) * keys + j];
  return data;
}

/**
 * The largest difference between row `query` of the layer (every head) and `row`, the same row as
 * the model computed it `[heads][keys]`: how the engine checks that a layer's weights are what
 * `weightRows` says (no position bias, no other mask).
 */
export function rowDifference(l: QueryKeyLayer, query: number, row: Float32Array): number {
  let worst = 0;
  const one = new Float32Array(l.keys);
  for (let h = 0; h < l.heads; h++) {
    weightRows(l, h, query, query + 1, one);
    for (let j = 0; j < l.keys; j++) {
      const diff = Math.abs(one[j] - row[h * l.keys + j]);
      if (!(diff <= worst)) worst = Number.isNaN(diff) ? Infinity : diff;
    }
  }
  return worst;
}

/**
 * What to ask before running `tokens` tokens when that is at least `askFrom` (0: never ask):
 * how long the input is against the model's limit, what every layer's weights would take, and
 * whether they are kept as queries and keys instead. Undefined below the threshold.
 */
export function longRunQuestion(tokens: number, maxPositions: number, attention: { layers: number; heads: number } | undefined, askFrom: number, keepLimit = QUERY_KEYS_ABOVE_BYTES): string | undefined {
  if (askFrom <= 0 || tokens < askFrom) return undefined;
  const count = (n: number) => n.toLocaleString('en-US');
  const bytes = runWeightBytes(tokens, attention);
  const kept = keepsQueryKeys(tokens, attention, 0, keepLimit);
  const cost = bytes === undefined
    ? 'The model does not give its layers and heads, so what the weights take is not known'
    : `Every layer's attention weights would take ${formatBytes(bytes)} (${attention!.layers} layers × ${attention!.heads} heads × ${count(tokens)}² × 4 bytes)`;
  const how = kept ? '; they are kept as each layer\'s queries and keys instead, and a layer\'s weights are computed when it is shown' : '';
  return `The selection is ${count(tokens)} tokens (the model takes up to ${count(maxPositions)}). ${cost}${how}. The run may take minutes on this machine. Run it?`;
}
