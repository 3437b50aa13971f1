// Hand-built attention graphs for the matcher and the fused-operator tests: the same weights
// written the way different exporters write attention (eager, SDPA decomposed, with casts, with
// grouped-query expansion, as the opset-23 Attention operator), plus an independent plain-JS
// computation of the weights they must give. Input `input_ids` [1, S] (and `attention_mask`), so
// a folder with a tokenizer makes them a model the CLI and the extension can open.
import { onnx } from 'onnx-proto';
import { seededRandom } from '../../src/core/generation/sampling';

export type AttentionForm =
  /** MatMul(Q, Kᵀ) → Div(√d) → Add(mask) → Softmax → MatMul(V) */
  | 'eager'
  /** Q·s^½ and Kᵀ·s^½ before the MatMul, Softmax → Where(IsNaN(p), 0, p) → MatMul(V), as torch.onnx writes SDPA */
  | 'sdpa'
  /** eager, but Softmax → Cast(fp16) → Cast(fp32) → Dropout → MatMul(V) */
  | 'cast'
  /** DistilBERT-style: Q / √d before the product, the mask by Where(keep, scores, −1e9) */
  | 'prescaled'
  /** ONNX Attention (opset 23), 3-D Q/K/V with q_num_heads / kv_num_heads */
  | 'attention23'
  /** onnxruntime's com.microsoft GroupQueryAttention (always causal; head size a multiple of 8) */
  | 'gqa-contrib';

export interface AttentionGraphSpec {
  form: AttentionForm;
  layers: number;
  hidden: number;
  heads: number;
  /** Key/value heads; fewer than `heads` is grouped-query attention. */
  kvHeads: number;
  causal: boolean;
  vocab: number;
  seed: number;
  /** Opset of the graph (17 for unfused forms, 23 by default for the fused one; 24 also has Attention). */
  opset?: number;
  /** A sequence classifier's labels: a `logits` output [1, labels] from the first token's final state. */
  classifier?: number;
}

const F = onnx.TensorProto.DataType.FLOAT;
const I64 = onnx.TensorProto.DataType.INT64;

/** mulberry32: a small seeded PRNG (uniform in [0, 1)), the one generation samples with. */
export const rng = seededRandom;

interface Weights {
  embed: Float32Array; // [vocab, D]
  layers: Array<{ q: Float32Array; k: Float32Array; v: Float32Array; o: Float32Array }>; // [D, out]
  classifier?: Float32Array; // [D, labels]
}

function weights(spec: AttentionGraphSpec): Weights {
  const r = rng(spec.seed);
  const mat = (n: number, scale: number) => Float32Array.from({ length: n }, () => (r() * 2 - 1) * scale);
  const d = spec.hidden;
  const kv = (d / spec.heads) * spec.kvHeads;
  return {
    embed: mat(spec.vocab * d, 1),
    layers: Array.from({ length: spec.layers }, () => ({ q: mat(d * d, 0.9), k: mat(d * kv, 0.9), v: mat(d * kv, 0.6), o: mat(d * d, 0.4) })),
    ...(spec.classifier ? { classifier: mat(d * spec.classifier, 1) } : {}),
  };
}

/** Nodes and initializers of a graph being written, and the calls that add them (each returns the name it made). */
export function graphBuilder() {
  const nodes: onnx.INodeProto[] = [];
  const inits: onnx.ITensorProto[] = [];
  const node = (opType: string, input: string[], output: string, attribute: onnx.IAttributeProto[] = []) => {
    nodes.push(onnx.NodeProto.create({ opType, name: `${output}/node`, input, output: [output], attribute }));
    return output;
  };
  const floats = (name: string, dims: number[], data: ArrayLike<number>) => {
    inits.push(onnx.TensorProto.create({ name, dataType: F, dims, floatData: Array.from(data) }));
    return name;
  };
  /** An int64 initializer, one-dimensional unless `dims` says otherwise (`[]`: a scalar). */
  const ints = (name: string, data: number[], dims = [data.length]) => {
    inits.push(onnx.TensorProto.create({ name, dataType: I64, dims, int64Data: data }));
    return name;
  };
  return { nodes, inits, node, floats, ints };
}

/** A graph input's or output's type: `elem` with dims fixed (numbers) or symbolic (names). */
export function tensorType(elem: number, dims: Array<number | string>): onnx.ITypeProto {
  return onnx.TypeProto.create({ tensorType: onnx.TypeProto.Tensor.create({ elemType: elem, shape: onnx.TensorShapeProto.create({ dim: dims.map((v) => (typeof v === 'number' ? { dimValue: v } : { dimParam: v })) }) }) });
}

export const attr = {
  int: (name: string, i: number) => onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INT, i }),
  ints: (name: string, ints: number[]) => onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INTS, ints }),
  float: (name: string, f: number) => onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.FLOAT, f }),
};

/** The ONNX model of `spec`. */
export function attentionGraph(spec: AttentionGraphSpec): Uint8Array {
  const w = weights(spec);
  const d = spec.hidden;
  const dh = d / spec.heads;
  const kvd = dh * spec.kvHeads;
  const { nodes, inits, node, floats, ints } = graphBuilder();

  floats('embed', [spec.vocab, d], w.embed);
  let x = node('Gather', ['embed', 'input_ids'], 'x0', [attr.int('axis', 0)]); // [1, S, D]
  // Key mask from attention_mask: 0 where attended, -1e9 where not, shaped [1, 1, 1, S].
  const maskF = node('Cast', ['attention_mask'], 'mask/float', [attr.int('to', F)]);
  const notMask = node('Sub', [floats('one', [], [1]), maskF], 'mask/not');
  const keyBias = node('Unsqueeze', [node('Mul', [notMask, floats('neg', [], [-1e9])], 'mask/bias'), ints('axes12', [1, 2])], 'mask/key');
  let bias = keyBias;
  const s = node('Slice', [node('Shape', ['input_ids'], 'causal/shape'), ints('one_i', [1]), ints('two_i', [2])], 'causal/len');
  if (spec.causal && spec.form !== 'attention23') {
    // Causal part: (1 - tril(ones[S, S])) · -1e9, added to the key mask.
    const ones = node('ConstantOfShape', [node('Concat', [s, s], 'causal/square', [attr.int('axis', 0)])], 'causal/ones', [
      onnx.AttributeProto.create({ name: 'value', type: onnx.AttributeProto.AttributeType.TENSOR, t: onnx.TensorProto.create({ dataType: F, dims: [1], floatData: [1] }) }),
    ]);
    const upper = node('Sub', ['one', node('Trilu', [ones], 'causal/tril', [attr.int('upper', 0)])], 'causal/upper');
    bias = node('Add', [keyBias, node('Mul', [upper, 'neg'], 'causal/bias')], 'mask/all');
  }
  // The fused operator takes a boolean mask [1, 1, S, S] (onnxruntime wants the query axis spelled out).
  const boolMask = node('Expand', [
    node('Cast', [node('Unsqueeze', ['attention_mask', 'axes12'], 'mask/u')], 'mask/key_bool', [attr.int('to', onnx.TensorProto.DataType.BOOL)]),
    node('Concat', [ints('one_one', [1, 1]), s, s], 'mask/shape', [attr.int('axis', 0)]),
  ], 'mask/bool');

  ints('bshd', [1, -1, spec.heads, dh]);
  ints('bskd', [1, -1, spec.kvHeads, dh]);
  ints('bsd', [1, 0, d]);
  ints('bhsd', [1, spec.heads, -1, dh]);
  ints('rep', [1, 1, spec.heads / spec.kvHeads, 1, 1]);
  ints('axis2', [2]);
  w.layers.forEach((lw, l) => {
    const p = `l${l}`;
    const q = node('MatMul', [x, floats(`${p}/wq`, [d, d], lw.q)], `${p}/q`);
    const k = node('MatMul', [x, floats(`${p}/wk`, [d, kvd], lw.k)], `${p}/k`);
    const v = node('MatMul', [x, floats(`${p}/wv`, [d, kvd], lw.v)], `${p}/v`);
    let out: string; // [1, S, D]
    if (spec.form === 'gqa-contrib') {
      if (!spec.causal) throw new Error('GroupQueryAttention is always causal');
      // seqlens_k is the index of the last key (total - 1) per batch row; total_sequence_length a scalar.
      const total = node('Cast', [node('Squeeze', [s], `${p}/total64`)], `${p}/total`, [attr.int('to', onnx.TensorProto.DataType.INT32)]);
      const last = node('Cast', [node('Sub', [s, 'one_i'], `${p}/last64`)], `${p}/seqlens_k`, [attr.int('to', onnx.TensorProto.DataType.INT32)]);
      nodes.push(onnx.NodeProto.create({ opType: 'GroupQueryAttention', domain: 'com.microsoft', name: `${p}/gqa`, input: [q, k, v, '', '', last, total], output: [`${p}/y`],
        attribute: [attr.int('num_heads', spec.heads), attr.int('kv_num_heads', spec.kvHeads)] }));
      out = `${p}/y`;
    } else if (spec.form === 'attention23') {
      out = node('Attention', [q, k, v, boolMask], `${p}/y`, [attr.int('q_num_heads', spec.heads), attr.int('kv_num_heads', spec.kvHeads), attr.int('is_causal', spec.causal ? 1 : 0)]);
    } else {
      const heads = (t: string, shape: string, perm: number[]) => node('Transpose', [node('Reshape', [t, shape], `${t}/r`)], `${t}/t`, [attr.ints('perm', perm)]);
      /** Grouped-query: repeat each key/value head for its group (HF repeat_kv), as exporters write it. */
      const repeat = (t: string) => spec.kvHeads === spec.heads ? t : node('Reshape', [node('Expand', [node('Unsqueeze', [t, 'axis2'], `${t}/u`), 'rep'], `${t}/e`), 'bhsd'], `${t}/rep`);
      const qh = heads(q, 'bshd', [0, 2, 1, 3]); // [1, H, S, dh]
      const kh = repeat(heads(k, 'bskd', [0, 2, 1, 3])); // [1, H, S, dh]
      const vh = repeat(heads(v, 'bskd', [0, 2, 1, 3]));
      const kt = node('Transpose', [kh], `${p}/kt`, [attr.ints('perm', [0, 1, 3, 2])]);
      let scores: string;
      if (spec.form === 'sdpa') {
        const c = floats(`${p}/sqrt_scale`, [], [Math.sqrt(1 / Math.sqrt(dh))]);
        scores = node('MatMul', [node('Mul', [qh, c], `${p}/qs`), node('Mul', [kt, c], `${p}/ks`)], `${p}/scores`);
      } else if (spec.form === 'prescaled') {
        scores = node('MatMul', [node('Div', [qh, floats(`${p}/sqrt_d`, [], [Math.sqrt(dh)])], `${p}/qs`), kt], `${p}/scores`);
      } else {
        scores = node('Div', [node('MatMul', [qh, kt], `${p}/qk`), floats(`${p}/sqrt_d`, [], [Math.sqrt(dh)])], `${p}/scores`);
      }
      const masked = spec.form === 'prescaled'
        ? node('Where', [node('Equal', [bias, floats(`${p}/zero_bias`, [], [0])], `${p}/keep`), scores, floats(`${p}/min`, [], [-1e9])], `${p}/masked`)
        : node('Add', [scores, bias], `${p}/masked`);
      let probs = node('Softmax', [masked], `${p}/probs`, [attr.int('axis', -1)]);
      if (spec.form === 'sdpa') {
        probs = node('Where', [node('IsNaN', [probs], `${p}/nan`), floats(`${p}/zero`, [], [0]), probs], `${p}/guarded`);
      } else if (spec.form === 'cast') {
        const half = node('Cast', [probs], `${p}/half`, [attr.int('to', onnx.TensorProto.DataType.FLOAT16)]);
        probs = node('Dropout', [node('Cast', [half], `${p}/full`, [attr.int('to', F)])], `${p}/dropped`);
      }
      const ctx = node('MatMul', [probs, vh], `${p}/ctx`); // [1, H, S, dh]
      out = node('Reshape', [node('Transpose', [ctx], `${p}/ctx_t`, [attr.ints('perm', [0, 2, 1, 3])]), 'bsd'], `${p}/y`);
    }
    x = node('MatMul', [out, floats(`${p}/wo`, [d, d], lw.o)], `${p}/out`);
  });
  node('Identity', [x], 'last_hidden_state');
  if (w.classifier) {
    const first = node('Gather', [x, ints('first_token', [0])], 'first', [attr.int('axis', 1)]); // [1, 1, D]
    node('Reshape', [node('MatMul', [first, floats('classifier', [d, spec.classifier!], w.classifier)], 'scores_cls'), ints('one_labels', [1, spec.classifier!])], 'logits');
  }

  return onnx.ModelProto.encode(onnx.ModelProto.create({
    irVersion: 10,
    opsetImport: [
      onnx.OperatorSetIdProto.create({ domain: '', version: spec.opset ?? (spec.form === 'attention23' ? 23 : 17) }),
      onnx.OperatorSetIdProto.create({ domain: 'com.microsoft', version: 1 }),
    ],
    graph: onnx.GraphProto.create({
      name: `attention-${spec.form}`,
      node: nodes,
      initializer: inits,
      input: [onnx.ValueInfoProto.create({ name: 'input_ids', type: tensorType(I64, [1, 'sequence']) }), onnx.ValueInfoProto.create({ name: 'attention_mask', type: tensorType(I64, [1, 'sequence']) })],
      output: [onnx.ValueInfoProto.create({ name: 'last_hidden_state', type: tensorType(F, [1, 'sequence', d]) }), ...(spec.classifier ? [onnx.ValueInfoProto.create({ name: 'logits', type: tensorType(F, [1, spec.classifier]) })] : [])],
    }),
  })).finish();
}

/**
 * The attention weights `spec` gives for `ids`, computed in plain JS in float64:
 * `[layer][head][query][key]`, with query head h using key/value head ⌊h / (heads / kvHeads)⌋ and
 * keys whose `mask` is 0 left out.
 */
export function expectedAttention(spec: AttentionGraphSpec, ids: number[], mask: number[] = ids.map(() => 1)): number[][][][] {
  return forward(spec, ids, mask).attention;
}

/** A classifier's logits (`spec.classifier`) for `ids`, in plain JS: the first token's final state times the classifier. */
export function expectedClassifierLogits(spec: AttentionGraphSpec, ids: number[]): number[] {
  const { x } = forward(spec, ids, ids.map(() => 1));
  const w = weights(spec).classifier!;
  const labels = spec.classifier!;
  return Array.from({ length: labels }, (_, j) => x[0].reduce((s, v, i) => s + v * w[i * labels + j], 0));
}

function forward(spec: AttentionGraphSpec, ids: number[], mask: number[]): { attention: number[][][][]; x: number[][] } {
  const w = weights(spec);
  const d = spec.hidden;
  const dh = d / spec.heads;
  const kvd = dh * spec.kvHeads;
  const matmul = (a: number[][], m: Float32Array, cols: number) => a.map((row) => Array.from({ length: cols }, (_, j) => row.reduce((s, v, i) => s + v * m[i * cols + j], 0)));
  let x = ids.map((id) => Array.from(w.embed.subarray(id * d, (id + 1) * d)));
  const out: number[][][][] = [];
  for (const lw of w.layers) {
    const q = matmul(x, lw.q, d);
    const k = matmul(x, lw.k, kvd);
    const v = matmul(x, lw.v, kvd);
    const probs: number[][][] = [];
    const ctx = x.map(() => new Array<number>(d).fill(0));
    for (let h = 0; h < spec.heads; h++) {
      const g = Math.floor(h / (spec.heads / spec.kvHeads));
      probs.push(q.map((qi, i) => {
        const s = k.map((kj, j) => ((spec.causal && j > i) || mask[j] === 0 ? -Infinity : Array.from({ length: dh }, (_, t) => qi[h * dh + t] * kj[g * dh + t]).reduce((a, b) => a + b, 0) / Math.sqrt(dh)));
        const m = Math.max(...s);
        const e = s.map((z) => Math.exp(z - m));
        const sum = e.reduce((a, b) => a + b, 0);
        const p = e.map((z) => z / sum);
        for (let t = 0; t < dh; t++) ctx[i][h * dh + t] = p.reduce((a, pj, j) => a + pj * v[j][g * dh + t], 0);
        return p;
      }));
    }
    out.push(probs);
    x = matmul(ctx, lw.o, d);
  }
  return { attention: out, x };
}
