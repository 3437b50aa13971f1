/**
 * Exposes attention in ONNX graphs that do not output it: finds each attention Softmax (the one
 * whose probabilities multiply the values), appends its output as a graph output named like
 * Hugging Face's (`attentions.N`, or `encoder_`/`decoder_`/`cross_attentions.N`), and explains
 * graphs where attention is hidden inside fused operators. Pure: bytes in, bytes out.
 */
import { onnx } from 'onnx-proto';
import { Reader } from 'protobufjs/minimal';
import type { AttentionKind } from '../attention';

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
  /** Name of the Softmax node it comes from. */
  node: string;
}

/** The rewritten model and what was found in it. */
export interface SurgeryResult {
  bytes: Uint8Array;
  found: FoundAttention[];
}

const FUSED = new Set(['Attention', 'MultiHeadAttention', 'GroupQueryAttention', 'PackedAttention', 'PackedMultiHeadAttention', 'DecoderMaskedMultiHeadAttention', 'SparseAttention']);
/** Ops allowed between a Softmax and the MatMul with the values (dtype casts, no-op dropout). */
const PASS_THROUGH = new Set(['Cast', 'Dropout', 'Identity']);
/** Ops allowed between the score MatMul (Q·Kᵀ) and the Softmax (scale, mask, bias). */
const SCORE_OPS = new Set(['Add', 'Div', 'Mul', 'Sub', 'Where', 'Cast', 'Tanh']);
const RECIPE = 'Export with eager attention and output_attentions=True (see "Use your own model" in the README), or with Optimum without fused-attention optimizations.';

// Field numbers from onnx.proto: ModelProto.graph = 7, GraphProto.output = 12, ValueInfoProto.name = 1.
const MODEL_GRAPH = 7;
const GRAPH_OUTPUT = 12;
const VALUE_INFO_NAME = 1;
const LENGTH_DELIMITED = 2;

/**
 * The graph's output names, read from the protobuf wire format while skipping everything else
 * (weights included), so that it costs microseconds even for large models. Lets the engine decide
 * on surgery before opening a session instead of after. Throws on bytes that are not a protobuf.
 */
export function graphOutputNames(bytes: Uint8Array): string[] {
  const r = Reader.create(bytes);
  const names: string[] = [];
  const fields = (end: number, visit: (field: number, wire: number) => boolean) => {
    while (r.pos < end) {
      const tag = r.uint32();
      if (!visit(tag >>> 3, tag & 7)) r.skipType(tag & 7);
    }
  };
  fields(r.len, (field, wire) => {
    if (field !== MODEL_GRAPH || wire !== LENGTH_DELIMITED) return false;
    const graphEnd = r.uint32() + r.pos;
    fields(graphEnd, (f, w) => {
      if (f !== GRAPH_OUTPUT || w !== LENGTH_DELIMITED) return false;
      const outputEnd = r.uint32() + r.pos;
      fields(outputEnd, (g, x) => {
        if (g !== VALUE_INFO_NAME || x !== LENGTH_DELIMITED) return false;
        names.push(r.string());
        return true;
      });
      return true;
    });
    return true;
  });
  return names;
}

/** Rewrites `bytes` so the session returns every attention probability tensor. */
export function exposeAttention(bytes: Uint8Array, fileLabel = 'model.onnx'): SurgeryResult {
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
  const nodes = graph.node ?? [];

  const fused = nodes.find((n) => FUSED.has(n.opType ?? '') && (n.domain === 'com.microsoft' || ((n.domain ?? '') === '' && n.opType === 'Attention')));
  if (fused) {
    const where = fused.domain === 'com.microsoft' ? `a fused com.microsoft ${fused.opType} operator` : 'the opset-23 Attention operator';
    throw new SurgeryError(`${fileLabel} computes attention inside ${where} (node ${fused.name || fused.opType}), which never exposes the attention weights. ${RECIPE}`);
  }
  if ((graph.initializer ?? []).some((t) => t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL)) {
    throw new SurgeryError(`${fileLabel} keeps its weights in external data files (model.onnx_data), which Attention Lens cannot load. Re-export the model as a single file (models under 2 GB fit).`);
  }

  const consumers = new Map<string, Array<{ node: onnx.INodeProto; index: number }>>();
  const producer = new Map<string, onnx.INodeProto>();
  for (const n of nodes) {
    (n.input ?? []).forEach((x, index) => consumers.set(x, [...(consumers.get(x) ?? []), { node: n, index }]));
    for (const o of n.output ?? []) producer.set(o, n);
  }

  const softmaxes = nodes.filter((n) => n.opType === 'Softmax' && (n.domain ?? '') === '' && feedsValues(n.output![0], consumers));
  if (softmaxes.length === 0) {
    throw new SurgeryError(`No attention found in ${fileLabel}: no Softmax feeds a MatMul with the values, and the graph has no attention outputs. ${RECIPE}`);
  }

  const decoderInputs = new Set((graph.input ?? []).map((i) => i.name ?? '').filter((n) => n.startsWith('decoder_')));
  const dependsOnDecoder = decoderInputs.size > 0 ? decoderReach(nodes, decoderInputs) : undefined;
  const taken = new Set(nodes.flatMap((n) => n.output ?? []));
  const counters: Record<AttentionKind, number> = { self: 0, encoder: 0, decoder: 0, cross: 0 };
  const found: FoundAttention[] = [];
  for (const sm of softmaxes) {
    const kind = dependsOnDecoder ? classify(sm, producer, dependsOnDecoder) : 'self';
    const layer = counters[kind]++;
    const name = `${kind === 'self' ? '' : `${kind}_`}attentions.${layer}`;
    if (taken.has(name)) renameTensor(graph, name, `${name}/attention_lens_original`);
    found.push({ name, kind, layer, node: sm.name ?? '' });
    // Cast to float32 so fp16 models give the same output type as fp32 ones.
    nodes.push(onnx.NodeProto.create({ opType: 'Cast', name: `attention_lens/${name}`, input: [sm.output![0]], output: [name], attribute: [onnx.AttributeProto.create({ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: onnx.TensorProto.DataType.FLOAT })] }));
    graph.output = [...(graph.output ?? []), onnx.ValueInfoProto.create({ name, type: onnx.TypeProto.create({ tensorType: onnx.TypeProto.Tensor.create({ elemType: onnx.TensorProto.DataType.FLOAT }) }) })];
  }
  graph.node = nodes;
  return { bytes: onnx.ModelProto.encode(model).finish(), found };
}

/** True when `tensor` (through casts) is the first operand of a MatMul: probabilities × values. */
function feedsValues(tensor: string, consumers: Map<string, Array<{ node: onnx.INodeProto; index: number }>>, depth = 0): boolean {
  for (const { node, index } of consumers.get(tensor) ?? []) {
    if (node.opType === 'MatMul' && index === 0) return true;
    if (depth < 4 && PASS_THROUGH.has(node.opType ?? '') && feedsValues(node.output![0], consumers, depth + 1)) return true;
  }
  return false;
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
 * Encoder self, decoder self or cross attention, from the score MatMul Q·Kᵀ behind the Softmax:
 * keys computed from decoder inputs → decoder; else queries from decoder inputs → cross; else encoder.
 */
function classify(softmax: onnx.INodeProto, producer: Map<string, onnx.INodeProto>, fromDecoder: Set<string>): AttentionKind {
  const scores = scoreMatMul(softmax.input![0], producer, 0);
  if (!scores) return fromDecoder.has(softmax.input![0]) ? 'decoder' : 'encoder';
  const [q, k] = scores.input!;
  if (fromDecoder.has(k)) return 'decoder';
  return fromDecoder.has(q) ? 'cross' : 'encoder';
}

/** The MatMul that computes the scores feeding `tensor`, looking through scale, mask and bias ops. */
function scoreMatMul(tensor: string, producer: Map<string, onnx.INodeProto>, depth: number): onnx.INodeProto | undefined {
  const p = producer.get(tensor);
  if (!p || depth > 8) return undefined;
  if (p.opType === 'MatMul') return p;
  if (!SCORE_OPS.has(p.opType ?? '')) return undefined;
  for (const x of p.input ?? []) {
    const hit = scoreMatMul(x, producer, depth + 1);
    if (hit) return hit;
  }
  return undefined;
}

/** Renames an internal tensor everywhere it appears, so an added output can take its name. */
function renameTensor(graph: onnx.IGraphProto, from: string, to: string): void {
  for (const n of graph.node ?? []) {
    n.input = (n.input ?? []).map((x) => (x === from ? to : x));
    n.output = (n.output ?? []).map((x) => (x === from ? to : x));
  }
  for (const v of [...(graph.valueInfo ?? []), ...(graph.output ?? [])]) if (v.name === from) v.name = to;
}
