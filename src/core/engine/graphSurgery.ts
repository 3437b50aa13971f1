/**
 * Exposes attention in ONNX graphs that do not output it: finds each attention Softmax (the one
 * whose probabilities multiply the values, as eager and SDPA exports write it) and each fused
 * attention operator that can return its softmax weights (ONNX Attention, onnxruntime's
 * GroupQueryAttention), appends them as graph outputs named like
 * Hugging Face's (`attentions.N`, or `encoder_`/`decoder_`/`cross_attentions.N`), and explains
 * graphs where attention is hidden inside fused operators. Pure: bytes in, bytes out.
 */
import { onnx } from 'onnx-proto';
import type { AttentionKind } from '../attention';
import { addOutput, allNodes, floatOutput, ifBranches, removeDeadNodes, renameTensor } from './graphEdit';
import { type Blockable, type QueryKeyOutputs, blockAttentions, exposeQueryKeys, vocabularyLogits } from './queryKeySurgery';
import { Constants, type Consumers, type ExternalBytes, externalRaw, type FusedMechanismTensors, type MechanismTensors, type Producers, fusedMechanismTensors, mechanismTensors, scorePath } from './mechanismGraph';
import { isSplitDecoder } from './inputFeeds';

/** Attention that cannot be exposed; `message` says why and what to do. */
export class SurgeryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SurgeryError';
  }
}

/** One exposed attention tensor. */
export interface FoundAttention {
  /** Output name added to the graph. */
  name: string;
  kind: AttentionKind;
  layer: number;
  /** Name of the Softmax (or fused attention) node it comes from. */
  node: string;
  /** Its operator: `Softmax`, or the fused operator's (`Attention`, `GroupQueryAttention`). */
  op: string;
}

/** Graph outputs (all float32) of an unfused attention's steps. */
export type UnfusedOutputs = Pick<MechanismTensors, 'q' | 'keysT' | 'v' | 'scores' | 'output'>;
/** Graph outputs (all float32) of a fused operator's inputs. */
export type FusedOutputs = Pick<FusedMechanismTensors, 'q' | 'k' | 'v'>;

/** The graph outputs that hold one attention's mechanism, and the graph's constants for it. */
export type MechanismOutputs = {
  /** The attention output these belong to (`attentions.N`, …). */
  attention: string;
  shaped: boolean;
  projection?: MechanismTensors['projection'];
} & (
  | { fused?: undefined; outputs: UnfusedOutputs; scale: number | null }
  /** A fused operator: the steps are computed from its inputs and its weights. */
  | { fused: { heads: number; kvHeads: number; scale?: number }; outputs: FusedOutputs }
);

/** The rewritten model and what was found in it. */
export interface SurgeryResult {
  bytes: Uint8Array;
  found: FoundAttention[];
  /** With `mechanism`: the outputs of each attention whose mechanism was found, in `found`'s order. */
  mechanism: MechanismOutputs[];
  /** With `queryKeys`: the attentions kept as queries and keys (the others are outputs in full), in `found`'s order. */
  queryKeys: QueryKeyOutputs[];
  /**
   * The original bytes as an external data file (`path` is its location in `bytes`' graph): the
   * rewritten model points into them for its large weights instead of holding a second copy.
   */
  inlineData?: { path: string; data: Uint8Array };
  /** A merged decoder's no-past branch replaced its If: the graph ignores any past it is fed. */
  withoutPast?: true;
}

export interface SurgeryOptions {
  /**
   * Also expose each attention's queries, keys, values, scores and per-head output. They are
   * large (a few times the weights), so only the mechanism view and the CLI's `--mechanism` ask.
   */
  mechanism?: boolean;
  /** The model's external data files by location, for constants the mechanism reads (the output projection). */
  externalData?: ExternalBytes;
  /**
   * Keep large weights in the rewritten graph instead of pointing into the original bytes
   * (onnxruntime-node, whose external data comes from a folder, cannot mix in bytes besides).
   */
  keepInline?: boolean;
  /**
   * Long inputs: return each attention as its queries and keys and two rows of its weights
   * instead of its weights (quadratic in the tokens) wherever its score product is found and is
   * a constant multiple of q·kᵀ; the others keep their weights. A language model's logits are
   * dropped (`vocabularyLogits`).
   */
  queryKeys?: boolean;
}

const FUSED = new Set(['Attention', 'MultiHeadAttention', 'GroupQueryAttention', 'PackedAttention', 'PackedMultiHeadAttention', 'DecoderMaskedMultiHeadAttention', 'SparseAttention']);
/**
 * Ops that keep the probabilities' shape and meaning between a Softmax and the MatMul with the
 * values: dtype casts, inference-time dropout, a head mask, and the guards SDPA exports put there
 * (`Where(IsNaN(p), 0, p)` zeroes fully masked rows). For Where and Mul only the data operand is
 * followed, never the condition.
 */
const PASS_THROUGH = new Set(['Cast', 'Dropout', 'Identity', 'Where', 'Mul']);
/** How far past the Softmax the value MatMul may sit. */
const MAX_PATH = 6;
const RECIPE = 'Export with eager attention and output_attentions=True (see "Use your own model" in the README), or with Optimum without fused-attention optimizations.';

/** Rewrites `bytes` so the session returns every attention probability tensor. */
export function exposeAttention(bytes: Uint8Array, fileLabel = 'model.onnx', options: SurgeryOptions = {}): SurgeryResult {
  let model: onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw new SurgeryError(`${fileLabel} is not a readable ONNX protobuf (${(e as Error).message}). The file may be truncated or corrupt: re-download or re-export it.`);
  }
  const graph = model.graph;
  if (!graph || (graph.node ?? []).length === 0) {
    throw new SurgeryError(bytes.length === 0
      ? `${fileLabel} is empty (0 bytes): re-download or re-export it.`
      : `${fileLabel} is not an ONNX model (no graph in its ${bytes.length} bytes). Check that the file is the exported model, then re-download or re-export it.`);
  }
  const fused = allNodes(graph).find((n) => FUSED.has(n.opType ?? '') && n.domain === 'com.microsoft' && !fusedOp(n));
  if (fused) {
    throw new SurgeryError(`${fileLabel} computes attention inside a fused com.microsoft ${fused.opType} operator (node ${fused.name || fused.opType}), which never exposes the attention weights. ${RECIPE}`);
  }

  if (options.externalData) inlineSmallExternal(graph, options.externalData);
  const withoutPast = inlineCacheBranch(graph);
  const nodes = graph.node ?? [];
  const main = findSources(graph, options, fileLabel, options.externalData);
  const decoderInputs = decoderSide((graph.input ?? []).map((i) => i.name ?? ''));
  const dependsOnDecoder = decoderInputs.size > 0 ? decoderReach(nodes, decoderInputs) : undefined;
  const taken = new Set(allNodes(graph).flatMap((n) => n.output ?? []));
  const counters: Record<AttentionKind, number> = { self: 0, encoder: 0, decoder: 0, cross: 0 };
  const found: FoundAttention[] = [];
  const mechanism: MechanismOutputs[] = [];
  const queryKeys: QueryKeyOutputs[] = [];
  const blockable: Blockable[] = [];
  const opset = Number((model.opsetImport ?? []).find((o) => (o.domain ?? '') === '' || o.domain === 'ai.onnx')?.version ?? 0);
  /** Outputs of the graph's own that hold weights now returned as queries and keys. */
  const dropped = new Set<string>();
  /** The next free output name of `kind`; an internal tensor that already has it (a stripped attention output) is renamed. */
  const nextName = (kind: AttentionKind): { name: string; layer: number; renamed?: string } => {
    const layer = counters[kind]++;
    const name = `${kind === 'self' ? '' : `${kind}_`}attentions.${layer}`;
    if (!taken.has(name)) return { name, layer };
    renameTensor(graph, name, `${name}/attention_lens_original`);
    return { name, layer, renamed: `${name}/attention_lens_original` };
  };
  for (const { node: sm, weights, q, k, mechanism: tensors } of main) {
    const kind = dependsOnDecoder ? classify(sm, q, k, dependsOnDecoder) : 'self';
    const { name, layer, renamed } = nextName(kind);
    const source = renamed && weights === name ? renamed : weights;
    found.push({ name, kind, layer, node: sm.name ?? '', op: sm.opType ?? '' });
    /** Exposes each tensor of `tensors` as `attention_lens/<name>/<role>` (a stripped attention output was renamed above: follow it). */
    const expose = <T extends Record<string, string>>(tensors: T): T =>
      Object.fromEntries(Object.entries(tensors).map(([role, t]) => [role, addOutput(graph, t === name && renamed ? renamed : t, `attention_lens/${name}/${role}`)])) as T;
    const qk = options.queryKeys && !options.mechanism && tensors ? exposeQueryKeys(graph, name, source, tensors, expose, opset, blockable) : undefined;
    if (qk) {
      queryKeys.push(qk);
      if (renamed) dropped.add(renamed);
      continue;
    }
    addOutput(graph, source, name);
    if (tensors && 'fused' in tensors) {
      const { q: tq, k: tk, v, heads, kvHeads, scale, shaped, projection } = tensors;
      mechanism.push({ attention: name, outputs: expose({ q: tq, k: tk, v }), fused: { heads, kvHeads, scale }, shaped, projection });
    } else if (tensors) {
      const { q: tq, keysT, v, scores, output, scale, shaped, projection } = tensors;
      mechanism.push({ attention: name, outputs: expose({ q: tq, keysT, v, scores, output }), scale, shaped, projection });
    }
  }
  if (main.length === 0) {
    // Attention inside the two branches of another If (a merged decoder whose condition is not
    // use_cache_branch): expose the branches' attentions, paired in order, as new outputs of the If.
    for (const n of nodes) {
      const branches = n.opType === 'If' && (n.domain ?? '') === '' ? ifBranches(n) : undefined;
      if (!branches) continue;
      const [a, b] = branches.map((g) => findSources(g, {}, fileLabel));
      if (a.length === 0 && b.length === 0) continue;
      if (a.length !== b.length) {
        throw new SurgeryError(`${fileLabel}: the two branches of the If node ${n.name || 'If'} hold ${a.length} and ${b.length} attentions, so they cannot be paired as outputs. Export the model without merging the decoders (decoder_model.onnx), or as model.onnx.`);
      }
      a.forEach((sa, i) => {
        const { name, layer } = nextName('self');
        addOutput(branches[0], sa.weights, `attention_lens/then/${name}`);
        addOutput(branches[1], b[i].weights, `attention_lens/else/${name}`);
        n.output = [...(n.output ?? []), name];
        graph.output = [...(graph.output ?? []), floatOutput(name)];
        found.push({ name, kind: 'self', layer, node: `${n.name ?? 'If'}/${b[i].node.name ?? ''}`, op: b[i].node.opType ?? '' });
      });
    }
  }
  if (queryKeys.length > 0) for (const o of graph.output ?? []) if (vocabularyLogits(o)) dropped.add(o.name ?? '');
  if (dropped.size > 0) {
    graph.output = (graph.output ?? []).filter((o) => !dropped.has(o.name ?? ''));
    removeDeadNodes(graph);
  }
  blockAttentions(graph, blockable);
  if (found.length === 0) {
    throw new SurgeryError(`No attention found in ${fileLabel}: no Softmax feeds a MatMul with the values, and the graph has no attention outputs. ${RECIPE}`);
  }
  const inlineData = options.keepInline ? undefined : pointIntoOriginal(graph, bytes);
  return { bytes: onnx.ModelProto.encode(model).finish(), found, mechanism, queryKeys, ...(inlineData ? { inlineData } : {}), ...(withoutPast ? { withoutPast: true as const } : {}) };
}

/** The location the rewritten graph gives the original bytes, as an external data file. */
export const ORIGINAL_BYTES = 'attention_lens_original.onnx';
/** Weights below this stay in the graph. */
const POINT_BYTES = 64 * 1024;

/**
 * Large weights of the rewritten graph as external data pointing into the original model bytes,
 * where the decoder left them: encoding the graph then copies kilobytes instead of every weight
 * (a 1 GB single-file model would otherwise be held twice while the session opens). Undefined
 * when no weight qualifies.
 */
function pointIntoOriginal(graph: onnx.IGraphProto, bytes: Uint8Array): { path: string; data: Uint8Array } | undefined {
  let used = false;
  for (const t of graph.initializer ?? []) {
    const raw = t.rawData;
    if (!raw || raw.byteLength < POINT_BYTES || raw.buffer !== bytes.buffer || t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) continue;
    const offset = raw.byteOffset - bytes.byteOffset;
    if (offset < 0 || offset + raw.byteLength > bytes.byteLength) continue;
    t.externalData = [['location', ORIGINAL_BYTES], ['offset', String(offset)], ['length', String(raw.byteLength)]].map(([key, value]) => onnx.StringStringEntryProto.create({ key, value }));
    t.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
    t.rawData = new Uint8Array(0);
    used = true;
  }
  return used ? { path: ORIGINAL_BYTES, data: bytes } : undefined;
}

/**
 * Every attention of one graph in graph order: Softmaxes whose probabilities multiply the values,
 * and fused operators that return their softmax weights when asked (asked here: the node is changed).
 */
function findSources(graph: onnx.IGraphProto, options: SurgeryOptions, fileLabel: string, external?: ExternalBytes): Source[] {
  const nodes = graph.node ?? [];
  const consumers: Consumers = new Map();
  const producer: Producers = new Map();
  for (const n of nodes) {
    (n.input ?? []).forEach((x, index) => consumers.set(x, [...(consumers.get(x) ?? []), { node: n, index }]));
    for (const o of n.output ?? []) producer.set(o, n);
  }
  const constants = new Constants(graph, producer, external);
  return nodes.flatMap((n, index): Source[] => {
    const op = fusedOp(n);
    if (op) {
      const mechanism = options.mechanism || options.queryKeys ? fusedMechanismTensors(n, consumers, constants) : undefined;
      return [{ node: n, weights: fusedWeights(n, op, index, fileLabel), q: n.input![0], k: n.input![1], mechanism }];
    }
    if (n.opType !== 'Softmax' || (n.domain ?? '') !== '') return [];
    const path = valuePath(n.output![0], consumers);
    if (path === undefined) return [];
    const scores = scorePath(n.input![0], producer, constants)?.matmul;
    const mechanism = options.mechanism || options.queryKeys ? mechanismTensors(n, path.matmul, producer, consumers, constants) : undefined;
    return [{ node: n, weights: path.weights, q: scores?.input?.[0], k: scores?.input?.[1], mechanism }];
  });
}

/**
 * Small tensors a model keeps in external data, moved into the graph itself: shape inference reads
 * constants such as a ReduceSum's axes while the session is created, before onnxruntime-web has
 * loaded any external data, and fails on them ("Cannot parse data from external tensors").
 * Exporters that write every tensor out (onnxruntime-genai's builder) make such graphs.
 */
const INLINE_EXTERNAL_BYTES = 4096;

function inlineSmallExternal(graph: onnx.IGraphProto, external: ExternalBytes): void {
  const tensors = [
    ...(graph.initializer ?? []),
    ...allNodes(graph).flatMap((n) => (n.attribute ?? []).flatMap((a) => [...(a.t ? [a.t] : []), ...(a.tensors ?? []), ...(a.g?.initializer ?? [])])),
  ];
  for (const t of tensors) {
    if (t.dataLocation !== onnx.TensorProto.DataLocation.EXTERNAL) continue;
    const raw = externalRaw(t, external, INLINE_EXTERNAL_BYTES);
    if (!raw) continue; // large, or not there: onnxruntime loads it, or says what is missing
    t.rawData = raw.slice();
    t.externalData = [];
    t.dataLocation = onnx.TensorProto.DataLocation.DEFAULT;
  }
}

/** The merged decoder's condition: true with a past, false without. */
const USE_CACHE_BRANCH = 'use_cache_branch';

/**
 * A legacy merged decoder (`decoder_model_merged.onnx`) keeps every layer inside the two branches
 * of an If on the `use_cache_branch` input: with a past (then) and without (else). Attention Lens
 * then feeds false and an empty past (the engine runs it without a cache), so only the else branch
 * ever runs: its nodes replace the If in the graph. Exact for what is fed, and onnxruntime then
 * holds the weights once (with the If, each branch kept copies of its own: SmolLM2-135M's merged
 * export peaked at 3.0 GB in the CLI, its model.onnx at 1.7 GB). Left alone when a branch's names
 * would collide with the graph's. True when it was replaced.
 */
function inlineCacheBranch(graph: onnx.IGraphProto): boolean {
  const nodes = graph.node ?? [];
  const at = nodes.findIndex((n) => n.opType === 'If' && (n.domain ?? '') === '' && n.input?.[0] === USE_CACHE_BRANCH && ifBranches(n));
  if (at < 0 || !(graph.input ?? []).some((i) => i.name === USE_CACHE_BRANCH)) return false;
  const node = nodes[at];
  const branch = ifBranches(node)![1];
  const outer = new Set([...nodes.filter((n) => n !== node).flatMap((n) => n.output ?? []), ...(graph.input ?? []).map((i) => i.name ?? ''), ...(graph.initializer ?? []).map((t) => t.name ?? '')]);
  const inner = [...(branch.node ?? []).flatMap((n) => n.output ?? []), ...(branch.initializer ?? []).map((t) => t.name ?? '')].filter(Boolean);
  const results = (branch.output ?? []).map((o) => o.name ?? '');
  if (inner.some((name) => outer.has(name)) || results.length !== (node.output ?? []).length) return false;
  const ifOutputs = node.output ?? [];
  // The If's outputs keep their names: the branch's results flow into them (unless already so named).
  const identities = ifOutputs.flatMap((name, i) => (!name || name === results[i] ? [] : [onnx.NodeProto.create({ opType: 'Identity', name: `attention_lens/${USE_CACHE_BRANCH}/${name}`, input: [results[i]], output: [name] })]));
  if (ifOutputs.some((name, i) => name && name !== results[i] && inner.includes(name))) return false;
  graph.node = [...nodes.slice(0, at), ...(branch.node ?? []), ...identities, ...nodes.slice(at + 1)];
  graph.initializer = [...(graph.initializer ?? []), ...(branch.initializer ?? [])];
  return true;
}

/**
 * The attention weights as the value MatMul uses them, and that MatMul; undefined when `softmax`
 * (a Softmax output) never reaches a MatMul as its first operand through PASS_THROUGH ops. The
 * weights are the last tensor on that path before any dtype cast, so guards (SDPA's NaN Where),
 * dropout and head masks are applied as in Hugging Face's `output_attentions`, while an fp16
 * model's weights keep the Softmax's precision.
 */
function valuePath(softmax: string, consumers: Consumers): { weights: string; matmul: onnx.INodeProto } | undefined {
  const walk = (tensor: string, weights: string, cast: boolean, depth: number): { weights: string; matmul: onnx.INodeProto } | undefined => {
    for (const { node, index } of consumers.get(tensor) ?? []) {
      const op = node.opType ?? '';
      if (op === 'MatMul' && index === 0) return { weights, matmul: node };
      if (depth >= MAX_PATH || !PASS_THROUGH.has(op) || (node.domain ?? '') !== '') continue;
      // Where(condition, a, b): the probabilities are data (a or b), never the condition.
      if (op === 'Where' && index === 0) continue;
      const out = node.output![0];
      const isCast = cast || op === 'Cast';
      const hit = walk(out, isCast ? weights : out, isCast, depth + 1);
      if (hit !== undefined) return hit;
    }
    return undefined;
  };
  return walk(softmax, softmax, false, 0);
}

/**
 * The inputs that carry the decoder's side of an encoder-decoder graph: `decoder_*` in one graph
 * of both; in a decoder of its own (Optimum's decoder_model.onnx, which takes the encoder's output
 * as `encoder_hidden_states` or its keys and values as `past_key_values.N.encoder.*`), its
 * `input_ids` and its own past. Empty for a graph of one side.
 */
function decoderSide(inputs: string[]): Set<string> {
  const joint = inputs.filter((n) => n.startsWith('decoder_'));
  if (joint.length > 0) return new Set(joint);
  return new Set(isSplitDecoder(inputs) ? inputs.filter((n) => n === 'input_ids' || /^past_key_values\.\d+\.decoder\./.test(n)) : []);
}

/** Names of all tensors computed from any of `inputs`. */
function decoderReach(nodes: onnx.INodeProto[], inputs: Set<string>): Set<string> {
  const reach = new Set(inputs);
  for (const n of nodes) {
    if ((n.input ?? []).some((x) => reach.has(x))) for (const o of n.output ?? []) reach.add(o);
  }
  return reach;
}

/**
 * Encoder self, decoder self or cross attention, from the queries and keys of the score product
 * Q·Kᵀ: keys computed from decoder inputs → decoder; else queries from decoder inputs → cross;
 * else encoder. Without them, from whether the scores themselves depend on the decoder.
 */
function classify(node: onnx.INodeProto, q: string | undefined, k: string | undefined, fromDecoder: Set<string>): AttentionKind {
  if (q === undefined || k === undefined) return fromDecoder.has(node.input![0]) ? 'decoder' : 'encoder';
  if (fromDecoder.has(k)) return 'decoder';
  return fromDecoder.has(q) ? 'cross' : 'encoder';
}

/** A fused attention operator that can return its softmax weights as output 3, and how to ask it. */
interface FusedOp {
  label: string;
  /** The attribute that selects what output 3 holds, and the value meaning "after the softmax". */
  attribute: string;
  weights: number;
}

/**
 * The ONNX Attention operator (opset 23/24: `qk_matmul_output_mode` 3) and onnxruntime's
 * GroupQueryAttention (`qk_output` 2, computed by its CPU/WASM kernel). onnxruntime's other fused
 * operators (Attention, MultiHeadAttention, …) have no such output, or only the scores before the
 * softmax while decoding.
 */
function fusedOp(n: onnx.INodeProto): FusedOp | undefined {
  const domain = n.domain ?? '';
  if (domain === '' && n.opType === 'Attention') return { label: 'Attention', attribute: 'qk_matmul_output_mode', weights: 3 };
  if (domain === 'com.microsoft' && n.opType === 'GroupQueryAttention') return { label: 'com.microsoft GroupQueryAttention', attribute: 'qk_output', weights: 2 };
  return undefined;
}

/**
 * Asks a fused attention node for its softmax weights (output 3) and returns that output's name.
 * A node whose output 3 already feeds the graph with something else is left alone: changing it
 * would change the model.
 */
function fusedWeights(node: onnx.INodeProto, op: FusedOp, index: number, fileLabel: string): string {
  const attrs = node.attribute ?? [];
  const mode = attrs.find((a) => a.name === op.attribute);
  const outputs = [...(node.output ?? [])];
  if (outputs[3]) {
    if (Number(mode?.i ?? 0) === op.weights) return outputs[3];
    throw new SurgeryError(`${fileLabel}: the ${op.label} node ${node.name || index} already returns its scores before the softmax (${op.attribute} ${Number(mode?.i ?? 0)}) to the rest of the graph, so its weights cannot be returned as well. ${RECIPE}`);
  }
  while (outputs.length < 3) outputs.push('');
  outputs[3] = `attention_lens/weights.${index}`;
  node.output = outputs;
  node.attribute = [...attrs.filter((a) => a !== mode), onnx.AttributeProto.create({ name: op.attribute, type: onnx.AttributeProto.AttributeType.INT, i: op.weights })];
  return outputs[3];
}

/** Where one attention's weights come from: the node, the weights tensor, and the score product's operands when known. */
interface Source {
  node: onnx.INodeProto;
  weights: string;
  q?: string;
  k?: string;
  /** With the mechanism option, where its steps are, when they could be found. */
  mechanism?: MechanismTensors | FusedMechanismTensors;
}

