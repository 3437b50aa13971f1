/**
 * The surgery for long inputs: an attention returned as its queries and keys (linear in the
 * tokens) and two rows of its weights to check them against, instead of its weights. Pure.
 */
import type { onnx } from 'onnx-proto';
import type { ContributionBasis } from '../mechanism';
import { addOutput, addRowsOutput, computeEarly, holdUntil } from './graphEdit';
import type { FusedMechanismTensors, MechanismTensors } from './mechanismGraph';
import { type AttentionChain, attentionChain, blockQueries, probeRows, readOutside } from './queryBlocks';
import { exposeValueNorms } from './valueNormSurgery';

/** Rows of the weights the queries and keys are checked against: the first query's and the last's. */
export const PROBE_ROWS = [0, -1] as const;

/**
 * The graph outputs that hold one attention as queries and keys (long inputs), and two rows of its
 * weights as the model computed them (`PROBE_ROWS`, `[1, heads, 2, keys]`).
 */
export interface QueryKeyOutputs {
  attention: string;
  /** Queries `[1, heads, n, d]`, or a fused operator's `[1, n, heads·d]`. */
  q: string;
  /** Keys: transposed `[1, heads, d, m]` for a score product, or a fused operator's `[1, m, kvHeads·d]` / `[1, kvHeads, m, d]`. */
  keys: string;
  transposed: boolean;
  /** A fused operator's head counts and scale (absent: 1/√d). */
  fused?: { heads: number; kvHeads: number; scale?: number };
  /** The score product's constant factor (unfused). */
  scale?: number;
  probe: string;
  /** What the model adds to the scores of five queries (`probeRows`), `[1, heads or 1, 5, keys]`; absent for fused operators. */
  bias?: string;
  /** Each key's ‖v·W_Oʰ‖ (or ‖v‖, as `normBasis` says), `[1, heads or kvHeads, keys]`: the contributions' weights (`exposeValueNorms`). */
  norms?: string;
  normBasis?: ContributionBasis;
  /** W_Oʰ·W_Oʰᵀ per head, `[heads][dim][dim]` (a fused operator's `[kvHeads][group][dim][dim]`, the same order), with the projection. */
  gram?: string;
  /** The values as the model stores them: `[1, kvHeads, m, d]`, or a fused operator's `[1, m, kvHeads·d]` (the mechanism view). */
  values?: string;
}

/** An attention whose queries can be computed in blocks (`blockAttentions`), by its output name, with the rows it adds as outputs (`taps`). */
export type Blockable = { name: string; chain: AttentionChain; taps: string[] };

/**
 * Exposes attention `name` (weights in `source`) as queries, keys and probe rows; undefined when its
 * scores are not a constant multiple of q·kᵀ before the mask (soft-capping, a factor that is not a
 * constant), so it keeps its weights. `expose` adds tensors as the attention's outputs by role.
 * An unfused attention whose ops between the score and value products are known has its probe
 * rows computed on their own, and joins `blockable`.
 */
export function exposeQueryKeys(
  graph: onnx.IGraphProto,
  name: string,
  source: string,
  tensors: MechanismTensors | FusedMechanismTensors,
  expose: <T extends Record<string, string>>(tensors: T) => T,
  opset: number,
  blockable: Blockable[],
): QueryKeyOutputs | undefined {
  if (tensors.shaped || (!('fused' in tensors) && tensors.scale === null)) return undefined;
  const chain = 'fused' in tensors ? undefined : attentionChain(graph, tensors.product, tensors.output, opset);
  const rows = chain && probeRows(graph, chain, source, `attention_lens/${name}/probe_rows`);
  const probe = rows ? addOutput(graph, rows.probe, `attention_lens/${name}/probe`) : addRowsOutput(graph, source, PROBE_ROWS, `attention_lens/${name}/probe`);
  const bias = rows?.bias ? { bias: addOutput(graph, rows.bias, `attention_lens/${name}/bias`) } : {};
  if (chain) blockable.push({ name, chain, taps: [probe, ...(rows?.bias ? [bias.bias!] : [])] });
  // Else every layer's weights would stay alive until the end of the run, for two rows of each.
  else computeEarly(graph, probe, source);
  const made = exposeValueNorms(graph, name, tensors, opset);
  // What contributions and the mechanism of a query need: each key's value norm, W_Oʰ·W_Oʰᵀ and the values as stored (all linear in the tokens).
  const values = { ...(made ? { norms: made.norms, normBasis: made.basis } : {}), ...(made?.gram ? { gram: made.gram } : {}), ...expose({ values: 'fused' in tensors ? tensors.v : tensors.storedValues }) };
  if ('fused' in tensors) {
    const { q, k } = expose({ q: tensors.q, k: tensors.k });
    return { attention: name, q, keys: k, transposed: false, fused: { heads: tensors.heads, kvHeads: tensors.kvHeads, scale: tensors.scale }, probe, ...values };
  }
  // Keys as the model stores them: on the Qwen2.5-0.5B shape 2 heads instead of 14, 300 MB less at 4,096 tokens.
  if (tensors.keys) {
    const { q, keys } = expose({ q: tensors.q, keys: tensors.keys });
    return { attention: name, q, keys, transposed: false, scale: tensors.scale!, probe, ...bias, ...values };
  }
  const { q, keysT } = expose({ q: tensors.q, keysT: tensors.keysT });
  return { attention: name, q, keys: keysT, transposed: true, scale: tensors.scale!, probe, ...bias, ...values };
}

/**
 * Computes each attention of `blockable` in blocks of queries (`blockQueries`) where nothing
 * outside it reads its scores or weights (once the outputs a long run drops are gone, and the
 * nodes only they read); blocked or not, the model goes on past the attention once its taps are made.
 */
export function blockAttentions(graph: onnx.IGraphProto, blockable: Blockable[]): void {
  for (const { name, chain, taps } of blockable) {
    // The last layer's attention output is read by nothing once the logits are gone.
    const live = (graph.node ?? []).includes(chain.values);
    if (live && !readOutside(graph, chain)) blockQueries(graph, chain, `attention_lens/${name}/blocks`);
    // The probe rows read the layer's queries and keys (grouped-query keys repeated per query
    // head): left to the end of the run, they kept those of every layer alive until then (650 MB
    // at 4,096 tokens on the Qwen2.5-0.5B shape).
    for (const tap of taps) holdUntil(graph, chain.values.output![0], tap);
  }
}

/**
 * Whether `o` is a language model's logits, `[batch, tokens, vocabulary]`. A long run (queries and
 * keys) reads no logits (generation opens its own session; a classifier's are `[batch, labels]`),
 * and onnxruntime computes every output of the graph whether it is asked for or not: on the
 * Qwen2.5-0.5B shape the head's 151,936 logits per token cost 1.2 MB of memory per token and half
 * the run's time.
 */
export function vocabularyLogits(o: onnx.IValueInfoProto): boolean {
  const dims = o.type?.tensorType?.shape?.dim;
  const last = dims?.[dims.length - 1]?.dimValue;
  return o.name === 'logits' && dims?.length === 3 && last !== undefined && last !== null && Number(last) > 1024;
}
