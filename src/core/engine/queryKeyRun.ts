/**
 * A query-key run's outputs made into `QueryKeyLayer`s, each checked against the two rows of its
 * weights the model computed (`PROBE_ROWS`): a layer whose scores carry a position bias, a sliding
 * window or any mask but the causal one fails the check and is named. Pure.
 */
import type * as Ort from 'onnxruntime-web';
import { type AttentionKind, compareLayers, layerLabel, parseAttentionName } from '../attention';
import { type QueryKeyLayer, QueryKeyError, headsFirst, perQueryHead, rowDifference, sharedHeads, untransposedKeys } from '../queryKeys';
import { EngineError } from './engineError';
import type { QueryKeyOutputs } from './queryKeySurgery';

/**
 * How far a computed row may be from the model's own (weights lie in [0, 1]): float32 arithmetic
 * agrees to ~1e-7; float16 weights round the model's softmax to 11 bits. A position bias or a
 * window moves weights by far more.
 */
export const PROBE_TOLERANCE = { float32: 1e-4, float16: 3e-2 };

/** The outputs a run fetches for these attentions. */
export function queryKeyFetches(outputs: readonly QueryKeyOutputs[]): string[] {
  return outputs.flatMap((o) => [o.q, o.keys, o.probe, ...[o.bias, o.norms, o.gram, o.values].filter((x): x is string => x !== undefined)]);
}

/**
 * The layers of one run, in view order. `shape(kind)`: the queries and keys the input gives that
 * kind of attention. Throws `EngineError` (`not-on-demand`) for a layer whose rows are not what
 * its queries and keys give, `run-failed` for outputs that do not fit the input.
 */
export function queryKeyLayers(
  outputs: readonly QueryKeyOutputs[],
  results: Ort.InferenceSession.OnnxValueMapType,
  shape: (kind: AttentionKind) => [number, number],
  half: boolean,
  attentionMask?: ArrayLike<number>,
): QueryKeyLayer[] {
  const padded = attentionMask && Array.from(attentionMask).some((v) => v === 0) ? Uint8Array.from(attentionMask, (v) => (v === 0 ? 0 : 1)) : undefined;
  const layers = outputs.map((o) => {
    const parsed = parseAttentionName(o.attention);
    if (!parsed) throw new EngineError(`${o.attention} is not an attention output name.`, 'run-failed');
    const tensor = (name: string) => ({ dims: results[name].dims, data: results[name].data as Float32Array });
    const [n, m] = shape(parsed.kind);
    const label = layerLabel(parsed);
    let layer: QueryKeyLayer;
    try {
      const q = headsFirst('queries', tensor(o.q), o.fused?.heads);
      const k = sharedHeads(o.transposed ? untransposedKeys(tensor(o.keys)) : headsFirst('keys', tensor(o.keys), o.fused?.kvHeads));
      if (q.tokens !== n || k.tokens !== m || k.dim !== q.dim || k.heads === 0 || q.heads % k.heads !== 0) {
        throw new QueryKeyError(`queries [${q.heads} heads, ${q.tokens} tokens, ${q.dim}] and keys [${k.heads} heads, ${k.tokens} tokens, ${k.dim}] do not fit ${n} queries and ${m} keys`);
      }
      const scale = o.fused ? (o.fused.scale ?? 1 / Math.sqrt(q.dim)) : o.scale!;
      layer = { ...parsed, name: o.attention, heads: q.heads, kvHeads: k.heads, queries: n, keys: m, headDim: q.dim, scale, q: q.data, k: k.data, causal: parsed.kind === 'decoder' };
      // The input's padding hides keys of the input (not the decoder's own).
      if (padded && parsed.kind !== 'decoder') layer.keyMask = padded;
    } catch (e) {
      if (e instanceof QueryKeyError) throw new EngineError(`${label}: ${e.message}.`, 'run-failed');
      throw e;
    }
    const probe = tensor(o.probe);
    const first = probeRow(probe.data, layer, 0);
    const last = probeRow(probe.data, layer, 1);
    if (parsed.kind === 'self' && n > 1) layer.causal = onlyPast(first, layer);
    if (layer.causal) layer.window = slidingWindow(last, layer);
    // A position bias in the scores (T5's, ALiBi's), kept as one row per head where it depends only
    // on how far the key is from the query.
    const bias = o.bias ? relativeBias(tensor(o.bias), layer) : undefined;
    if (bias) layer.bias = bias;
    const norms = o.norms && results[o.norms] ? headNorms(tensor(o.norms).data, layer) : undefined;
    if (norms) Object.assign(layer, { valueNorms: norms, valueNormBasis: o.normBasis ?? 'value-norm' });
    const values = o.values && results[o.values] ? storedValues(tensor(o.values), layer, o.fused?.kvHeads) : undefined;
    if (values) Object.assign(layer, { values: values.data, valueDim: values.dim });
    const gram = values && o.gram && results[o.gram] ? tensor(o.gram).data : undefined;
    if (gram && gram.length === layer.heads * values!.dim ** 2) layer.gram = Float32Array.from(gram);
    const worst = Math.max(rowDifference(layer, 0, first), rowDifference(layer, n - 1, last));
    if (!(worst <= PROBE_TOLERANCE[half ? 'float16' : 'float32'])) {
      const mask = layer.window ? `causal mask with a window of ${layer.window}` : layer.causal ? 'causal mask' : 'full mask';
      throw new EngineError(
        `${label}: its weights are not softmax(scale·q·kᵀ + bias) under a ${mask}, with a bias that depends only on the distance from query to key (a row differs by ${worst.toPrecision(2)}: a position bias of another kind, padding inside it, or a sliding window), so its rows cannot be computed from its queries and keys.`,
        'not-on-demand',
      );
    }
    return layer;
  });
  return layers.sort(compareLayers);
}

/** Values `[kvHeads][keys][dim]` of layer `l` from the graph's (a grouped-query repetition undone); undefined when they do not fit its key heads. */
function storedValues(t: { dims: readonly number[]; data: Float32Array }, l: QueryKeyLayer, fusedKvHeads?: number): { data: Float32Array; dim: number } | undefined {
  try {
    const v = sharedHeads(headsFirst('values', t, fusedKvHeads));
    return v.heads === l.kvHeads && v.tokens === l.keys ? { data: v.data, dim: v.dim } : undefined;
  } catch (e) {
    if (e instanceof QueryKeyError) return undefined;
    throw e;
  }
}

/**
 * Each key's value norm per query head, `[heads][keys]`, from the graph's `[1, heads, keys]` (or
 * `[1, kvHeads, keys]`, each shared by its group of query heads); undefined when it holds neither,
 * or a value that is not a norm (the layer then has no contributions, and the run goes on).
 */
function headNorms(data: Float32Array, l: QueryKeyLayer): Float32Array | undefined {
  if (!data.every((x) => x >= 0 && Number.isFinite(x))) return undefined;
  if (data.length === l.heads * l.keys) return Float32Array.from(data);
  return data.length === l.kvHeads * l.keys ? perQueryHead(data, l.heads, l.kvHeads, l.keys) : undefined;
}

/**
 * The position bias of `l` as `QueryKeyLayer.bias` (`[heads][2 · keys − 1]`, by key position less
 * query position), from what the model adds to the scores of five queries (`bias`, `[1, heads or
 * 1, 5, keys]`: the first, the last, and those ⌊n/4⌋, ⌊n/2⌋ and ⌊3n/4⌋ down): the first row holds
 * it for keys at or after the query, the last row for keys at or before it, and the other three
 * must hold the same bias at the same distances. Each row is taken less its value at the query's
 * own key, which the softmax does not see: so BLOOM's ALiBi, slope · j, is slope · (j − i) too.
 * Undefined when it adds nothing to the keys the queries see, when it depends on more than the
 * distance (an absolute position bias, padding), or unless queries and keys are the same tokens.
 */
export function relativeBias(bias: { dims: readonly number[]; data: Float32Array }, l: QueryKeyLayer): Float32Array | undefined {
  const [batch, heads, rows, keys] = bias.dims.map(Number);
  if (bias.dims.length !== 4 || batch !== 1 || rows !== 5 || keys !== l.keys || l.queries !== l.keys || (heads !== 1 && heads !== l.heads)) return undefined;
  const m = l.keys, width = 2 * m - 1;
  const out = new Float32Array(l.heads * width);
  let any = false;
  for (let h = 0; h < l.heads; h++) {
    /** Row `r` of the bias (the query at position `p`), less its value at the query's own key. */
    const row = (r: number, p: number) => {
      const at = ((heads === 1 ? 0 : h) * 5 + r) * m;
      return Array.from(bias.data.subarray(at, at + m), (v) => v - bias.data[at + p]);
    };
    const [first, last] = [row(0, 0), row(1, m - 1)];
    for (let x = 0; x < width; x++) {
      const d = x - (m - 1);
      const v = d >= 0 ? first[d] : last[d + m - 1];
      out[h * width + x] = v;
      if (v !== 0 && !(d > 0 && l.causal)) any = true; // the causal mask alone adds nothing the queries see
    }
    for (const [r, p] of [[2, Math.floor(m / 4)], [3, Math.floor(m / 2)], [4, Math.floor((3 * m) / 4)]]) {
      const middle = row(r, p);
      for (let j = 0; j <= (l.causal ? p : m - 1); j++) if (!same(middle[j], out[h * width + m - 1 + j - p])) return undefined;
    }
  }
  return any ? out : undefined;
}

/** Two biases alike: equal to float32 rounding, or both masking (−∞ or float32's lowest). */
function same(a: number, b: number): boolean {
  return a === b || (a < -1e30 && b < -1e30) || Math.abs(a - b) <= 1e-6 * Math.max(1, Math.abs(a));
}

/** Probe row `which` (0: the first query's, 1: the last's) as `[heads][keys]`. */
function probeRow(data: Float32Array, l: QueryKeyLayer, which: number): Float32Array {
  const out = new Float32Array(l.heads * l.keys);
  for (let h = 0; h < l.heads; h++) out.set(data.subarray((h * 2 + which) * l.keys, (h * 2 + which + 1) * l.keys), h * l.keys);
  return out;
}

/**
 * The window of a causal layer whose last query sees no key before some position in any head
 * (Gemma's local layers), from the first key it gives weight (padding just before that key taken
 * as inside the window); undefined when it sees every key the padding leaves.
 */
function slidingWindow(last: Float32Array, l: QueryKeyLayer): number | undefined {
  let seen = l.keys;
  for (let h = 0; h < l.heads; h++) {
    let j = 0;
    while (j < seen && last[h * l.keys + j] === 0) j++;
    seen = j;
  }
  const padding = (j: number) => l.keyMask !== undefined && l.keyMask[j] === 0;
  let start = seen;
  while (start > 0 && padding(start - 1)) start--;
  for (let j = 0; j < start; j++) if (!padding(j)) return l.keys - start;
  return undefined;
}

/** Whether the first query attends to no key after its own position in any head (a causal mask). */
function onlyPast(first: Float32Array, l: QueryKeyLayer): boolean {
  const own = l.keys - l.queries;
  for (let h = 0; h < l.heads; h++) for (let j = own + 1; j < l.keys; j++) if (first[h * l.keys + j] !== 0) return false;
  return true;
}
