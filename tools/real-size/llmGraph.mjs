// The LLM stand-ins' graphs (tools/real-size/llm.mjs) in Optimum's export form: the decoder with
// its past, RMSNorm, rotary embedding, masks, grouped-query SDPA and MLP, and the legacy merged
// decoder whose two branches (with and without a past) hold every layer.
import { Graph, T, ag, ai, aints, asBytes, onnx, typedValue, valueInfo } from './onnxBuild.mjs';
import { base, floatWeight, lazyPair, lazyQ4, quantize8, quantizeNf4 } from './llmWeights.mjs';

const FLOAT_MIN = -3.4028234663852886e38;
const HALF_MIN = -65504;

/** One builder context: the graph, the shape, the variant, and the float type of the arithmetic. */
export class Ctx {
  constructor(g, spec, variant) {
    this.g = g;
    this.spec = spec;
    this.v = variant;
    this.F = variant.float ?? T.FLOAT;
  }

  scalar(x) {
    return this.g.constant(this.F, [], [x]);
  }

  node(...a) {
    return this.g.node(...a);
  }

  /**
   * x · W (+ b), W [inDim, outDim] stored as the variant stores projections. `name` is the base
   * weight (its values); `stored` the initializer's name when the layout names it otherwise;
   * `matrix` makes W when it is not one base weight (genai's packed Q, K and V).
   */
  linear(x, name, inDim, outDim, { bias = false, prefix, stored = name, matrix } = {}) {
    const { g, spec, v } = this;
    const values = matrix ?? (() => base(spec, name, inDim * outDim));
    let y;
    if (v.linear === 'q4' || v.genai) {
      const { packed, scales, blocks } = lazyQ4(values, inDim, outDim, this.F);
      const b = g.weight(`${stored}_Q4`, [outDim, blocks, 16], T.UINT8, (emit) => emit(packed().packed), outDim * blocks * 16);
      const s = g.weight(`${stored}_scales`, [outDim * blocks], this.F, (emit) => emit(scales()), outDim * blocks * (this.F === T.FLOAT16 ? 2 : 4));
      const attrs = [ai('K', inDim), ai('N', outDim), ai('bits', 4), ai('block_size', 32), ...(v.genai ? [ai('accuracy_level', 4)] : [])];
      y = g.node('MatMulNBits', [x, b, s], attrs, { name: `${prefix}/MatMul_Q4`, domain: 'com.microsoft' });
    } else if (v.linear === 'bnb4') {
      const made = lazyPair(() => quantizeNf4(inDim, outDim, values()));
      const b = g.weight(`${stored}_Bnb4`, [Math.ceil((inDim * outDim) / 2)], T.UINT8, (emit) => emit(made.first().packed), Math.ceil((inDim * outDim) / 2));
      const a = g.weight(`${stored}_absmax`, [Math.ceil((inDim * outDim) / 64)], T.FLOAT, (emit) => emit(made.second().absmax), Math.ceil((inDim * outDim) / 64) * 4);
      y = g.node('MatMulBnb4', [x, b, a], [ai('K', inDim), ai('N', outDim), ai('block_size', 64), ai('quant_type', 1)], { name: `${prefix}/MatMul_Bnb4`, domain: 'com.microsoft' });
    } else if (v.linear === 'int8' || v.linear === 'uint8') {
      const unsigned = v.linear === 'uint8';
      // The scale and zero point go into the graph: the weight is quantized now for them, and again
      // when written (one matrix in memory at a time, even at real size).
      const { scale, zero } = quantize8(values(), unsigned);
      const wq = g.weight(`${stored}_quantized`, [inDim, outDim], unsigned ? T.UINT8 : T.INT8, (emit) => emit(quantize8(values(), unsigned).q), inDim * outDim);
      const ws = g.weight(`${stored}_scale`, [], T.FLOAT, (emit) => emit(asBytes(Float32Array.of(scale))), 4);
      const wz = g.weight(`${stored}_zero_point`, [], unsigned ? T.UINT8 : T.INT8, (emit) => emit(Uint8Array.of(zero & 0xff)), 1);
      const [xq, xs, xz] = g.node('DynamicQuantizeLinear', [x], [], { name: `${prefix}/MatMul_QuantizeLinear`, outputs: 3 });
      const mm = g.node('MatMulInteger', [xq, wq, xz, wz], [], { name: `${prefix}/MatMul_quant` });
      const cast = g.node('Cast', [mm], [ai('to', T.FLOAT)], { name: `${prefix}/MatMul_quant_cast` });
      const scales = g.node('Mul', [xs, ws], [], { name: `${prefix}/MatMul_quant_scales_mul` });
      y = g.node('Mul', [cast, scales], [], { name: `${prefix}/MatMul_quant_output_scale_mul` });
    } else {
      y = g.node('MatMul', [x, floatWeight(g, spec, name, [inDim, outDim], 'matrix', this.F)], [], { name: `${prefix}/MatMul` });
    }
    return bias ? g.node('Add', [y, floatWeight(g, spec, name.replace(/weight$/, 'bias'), [outDim], 'bias', this.F)], [], { name: `${prefix}/Add` }) : y;
  }

  /** RMSNorm over the last axis (computed in float32, as Hugging Face's modules do); Gemma's multiplies by (1 + w). */
  rmsNorm(x, name, size, prefix) {
    const { g, spec } = this;
    const gemma = spec.family === 'gemma3';
    const x32 = this.F === T.FLOAT ? x : g.node('Cast', [x], [ai('to', T.FLOAT)], { name: `${prefix}/Cast` });
    const sq = g.node('Pow', [x32, g.constant(T.FLOAT, [], [2])], [], { name: `${prefix}/Pow` });
    const mean = g.node('ReduceMean', [sq], [aints('axes', [-1]), ai('keepdims', 1)], { name: `${prefix}/ReduceMean` });
    const root = g.node('Sqrt', [g.node('Add', [mean, g.constant(T.FLOAT, [], [spec.eps])], [], { name: `${prefix}/Add` })], [], { name: `${prefix}/Sqrt` });
    let y = g.node('Mul', [x32, g.node('Reciprocal', [root], [], { name: `${prefix}/Reciprocal` })], [], { name: `${prefix}/Mul` });
    if (this.F !== T.FLOAT) y = g.node('Cast', [y], [ai('to', this.F)], { name: `${prefix}/Cast_1` });
    let w = floatWeight(g, spec, name, [size], gemma ? 'offset-norm' : 'norm', this.F);
    if (gemma) w = g.node('Add', [w, this.scalar(1)], [], { name: `${prefix}/Add_1` });
    return g.node('Mul', [w, y], [], { name: `${prefix}/Mul_1` });
  }
}


/** Rotary inverse frequencies, with Llama 3's scaling of the low frequencies when the shape has it. */
export function inverseFrequencies(headDim, theta, scaling) {
  const inv = Array.from({ length: headDim / 2 }, (_, i) => 1 / theta ** ((2 * i) / headDim));
  if (!scaling) return inv;
  const { factor, low_freq_factor: low, high_freq_factor: high, original_max_position_embeddings: orig } = scaling;
  return inv.map((f) => {
    const wavelen = (2 * Math.PI) / f;
    if (wavelen < orig / high) return f;
    if (wavelen > orig / low) return f / factor;
    const s = (orig / wavelen - low) / (high - low);
    return (1 - s) * (f / factor) + s * f;
  });
}

/** cos and sin [1, 1, S, headDim] of positions `pos` ([1, S] int64), Hugging Face's rotary embedding. */
function rotary(c, pos, theta, prefix) {
  const { g, spec } = c;
  const inv = g.constant(T.FLOAT, [spec.headDim / 2], inverseFrequencies(spec.headDim, theta, spec.family === 'llama' ? spec.ropeScaling : undefined));
  const p = g.node('Unsqueeze', [g.node('Cast', [pos], [ai('to', T.FLOAT)], { name: `${prefix}/Cast` }), g.ints([2])], [], { name: `${prefix}/Unsqueeze` });
  const freqs = g.node('Mul', [p, inv], [], { name: `${prefix}/Mul` });
  const emb = g.node('Concat', [freqs, freqs], [ai('axis', -1)], { name: `${prefix}/Concat` });
  const out = (op) => {
    let t = g.node(op, [emb], [], { name: `${prefix}/${op}` });
    if (c.F !== T.FLOAT) t = g.node('Cast', [t], [ai('to', c.F)], { name: `${prefix}/${op}/Cast` });
    return g.node('Unsqueeze', [t, g.ints([1])], [], { name: `${prefix}/${op}/Unsqueeze` });
  };
  return { cos: out('Cos'), sin: out('Sin') };
}

/** x·cos + rotate_half(x)·sin, x [1, heads, S, headDim]. */
function applyRotary(c, x, { cos, sin }, prefix) {
  const { g, spec } = c;
  const h = spec.headDim / 2;
  const x1 = g.node('Slice', [x, g.ints([0]), g.ints([h]), g.ints([-1])], [], { name: `${prefix}/Slice` });
  const x2 = g.node('Slice', [x, g.ints([h]), g.ints([spec.headDim]), g.ints([-1])], [], { name: `${prefix}/Slice_1` });
  const rot = g.node('Concat', [g.node('Neg', [x2], [], { name: `${prefix}/Neg` }), x1], [ai('axis', -1)], { name: `${prefix}/Concat` });
  return g.node('Add', [g.node('Mul', [x, cos], [], { name: `${prefix}/Mul` }), g.node('Mul', [rot, sin], [], { name: `${prefix}/Mul_1` })], [], { name: `${prefix}/Add` });
}

/**
 * The additive mask [1, 1, S, T] (0 or the float type's minimum): key j visible to query i when
 * j ≤ past + i, its attention_mask entry is 1 (when there is one), and, with `window`, past + i − j < window.
 */
function maskBias(c, { past, total, keyMask }, window, prefix) {
  const { g } = c;
  const scalar = (x, name) => g.node('Squeeze', [x], [], { name });
  const one = g.constant(T.INT64, [], [1]);
  const end = scalar(total, `${prefix}/Squeeze`);
  const qpos = g.node('Range', [scalar(past, `${prefix}/Squeeze_1`), end, one], [], { name: `${prefix}/Range` });
  const kpos = g.node('Range', [g.constant(T.INT64, [], [0]), end, one], [], { name: `${prefix}/Range_1` });
  const q2 = g.node('Unsqueeze', [qpos, g.ints([1])], [], { name: `${prefix}/Unsqueeze` });
  const k2 = g.node('Unsqueeze', [kpos, g.ints([0])], [], { name: `${prefix}/Unsqueeze_1` });
  let allowed = g.node('LessOrEqual', [k2, q2], [], { name: `${prefix}/LessOrEqual` });
  if (window) {
    const near = g.node('Less', [g.node('Sub', [q2, k2], [], { name: `${prefix}/Sub` }), g.ints([window])], [], { name: `${prefix}/Less` });
    allowed = g.node('And', [allowed, near], [], { name: `${prefix}/And` });
  }
  allowed = g.node('Unsqueeze', [allowed, g.ints([0, 1])], [], { name: `${prefix}/Unsqueeze_2` });
  if (keyMask) allowed = g.node('And', [allowed, keyMask], [], { name: `${prefix}/And_1` });
  return g.node('Where', [allowed, c.scalar(0), c.scalar(c.F === T.FLOAT16 ? HALF_MIN : FLOAT_MIN)], [], { name: `${prefix}/Where` });
}

/** [1, S, n·d] → [1, n, S, d]. */
function heads(c, x, n, prefix) {
  const r = c.node('Reshape', [x, c.g.ints([0, 0, n, c.spec.headDim])], [], { name: `${prefix}/Reshape` });
  return c.node('Transpose', [r], [aints('perm', [0, 2, 1, 3])], { name: `${prefix}/Transpose` });
}

/** Hugging Face's repeat_kv as exporters write it: each key/value head repeated for its group of query heads. */
function repeatKv(c, x, prefix) {
  const { g, spec } = c;
  const groups = spec.heads / spec.kvHeads;
  if (groups === 1) return x;
  const e = g.node('Expand', [g.node('Unsqueeze', [x, g.ints([2])], [], { name: `${prefix}/Unsqueeze` }), g.ints([1, 1, groups, 1, 1])], [], { name: `${prefix}/Expand` });
  return g.node('Reshape', [e, g.ints([1, spec.heads, -1, spec.headDim])], [], { name: `${prefix}/Reshape` });
}

/**
 * One decoder (the whole model) in Optimum's export form, in graph `g`. `io` gives the names of the
 * inputs it reads; returns its logits and present key/values.
 */
function decoderBody(c, io, { withPast }) {
  const { g, spec } = c;
  const H = spec.hidden;
  const gemma = spec.family === 'gemma3';
  const toF = (x, name) => (c.io === c.F ? x : g.node('Cast', [x], [ai('to', c.F)], { name }));
  const toIo = (x, name, out) => (c.io === c.F ? g.node('Identity', [x], [], { name, out }) : g.node('Cast', [x], [ai('to', c.io)], { name, out }));

  let x = g.node('Gather', [floatWeight(g, spec, 'model.embed_tokens.weight', [spec.vocab, H], 'matrix', c.F), io.ids], [], { name: '/model/embed_tokens/Gather' });
  if (gemma) x = g.node('Mul', [x, c.scalar(Math.sqrt(H))], [], { name: '/model/embed_tokens/Mul' });

  // Lengths: S new tokens after `past` cached ones, `total` = past + S.
  const seq = g.node('Shape', [io.ids], [ai('start', 1), ai('end', 2)], { name: '/model/Shape' });
  const past = withPast ? g.node('Shape', [io.pastKey(0)], [ai('start', 2), ai('end', 3)], { name: '/model/Shape_1' }) : g.ints([0]);
  const total = g.node('Add', [past, seq], [], { name: '/model/Add' });
  const keyMask = io.mask ? g.node('Unsqueeze', [g.node('Cast', [io.mask], [ai('to', T.BOOL)], { name: '/model/mask/Cast' }), g.ints([1, 2])], [], { name: '/model/mask/Unsqueeze' }) : undefined;
  const lengths = { past, total, keyMask };
  const fullMask = maskBias(c, lengths, undefined, '/model/mask/full');
  const slidingMask = gemma ? maskBias(c, lengths, spec.slidingWindow, '/model/mask/sliding') : undefined;
  const rope = rotary(c, io.positions, spec.ropeTheta, '/model/rotary_emb');
  const localRope = gemma ? rotary(c, io.positions, spec.localRopeTheta, '/model/rotary_emb_local') : undefined;
  const sqrtScale = c.scalar(Math.sqrt(gemma ? spec.queryPreAttnScalar ** -0.5 : spec.headDim ** -0.5));

  const presents = [];
  for (let l = 0; l < spec.layers; l++) {
    const p = `/model/layers.${l}`;
    const w = `model.layers.${l}`;
    const local = gemma && (l + 1) % spec.slidingPattern !== 0;
    const h = c.rmsNorm(x, `${w}.input_layernorm.weight`, H, `${p}/input_layernorm`);
    const qd = spec.heads * spec.headDim;
    const kvd = spec.kvHeads * spec.headDim;
    let q = heads(c, c.linear(h, `${w}.self_attn.q_proj.weight`, H, qd, { bias: spec.qkvBias, prefix: `${p}/self_attn/q_proj` }), spec.heads, `${p}/self_attn/q`);
    let k = heads(c, c.linear(h, `${w}.self_attn.k_proj.weight`, H, kvd, { bias: spec.qkvBias, prefix: `${p}/self_attn/k_proj` }), spec.kvHeads, `${p}/self_attn/k`);
    let v = heads(c, c.linear(h, `${w}.self_attn.v_proj.weight`, H, kvd, { bias: spec.qkvBias, prefix: `${p}/self_attn/v_proj` }), spec.kvHeads, `${p}/self_attn/v`);
    if (gemma) {
      q = c.rmsNorm(q, `${w}.self_attn.q_norm.weight`, spec.headDim, `${p}/self_attn/q_norm`);
      k = c.rmsNorm(k, `${w}.self_attn.k_norm.weight`, spec.headDim, `${p}/self_attn/k_norm`);
    }
    const r = local ? localRope : rope;
    q = applyRotary(c, q, r, `${p}/self_attn/rotary_q`);
    k = applyRotary(c, k, r, `${p}/self_attn/rotary_k`);
    if (withPast) {
      k = g.node('Concat', [toF(io.pastKey(l), `${p}/past_key/Cast`), k], [ai('axis', 2)], { name: `${p}/self_attn/Concat_k` });
      v = g.node('Concat', [toF(io.pastValue(l), `${p}/past_value/Cast`), v], [ai('axis', 2)], { name: `${p}/self_attn/Concat_v` });
    }
    presents.push(toIo(k, `${p}/present_key`, io.presentName?.(l, 'key')), toIo(v, `${p}/present_value`, io.presentName?.(l, 'value')));
    const kr = repeatKv(c, k, `${p}/self_attn/repeat_k`);
    const vr = repeatKv(c, v, `${p}/self_attn/repeat_v`);
    // SDPA as torch.onnx writes it: the scale's square root on Q and on Kᵀ, then the product.
    const qs = g.node('Mul', [q, sqrtScale], [], { name: `${p}/self_attn/Mul_q` });
    const kt = g.node('Mul', [g.node('Transpose', [kr], [aints('perm', [0, 1, 3, 2])], { name: `${p}/self_attn/Transpose_k` }), sqrtScale], [], { name: `${p}/self_attn/Mul_k` });
    const scores = g.node('Add', [g.node('MatMul', [qs, kt], [], { name: `${p}/self_attn/MatMul` }), local ? slidingMask : fullMask], [], { name: `${p}/self_attn/Add` });
    const probs = g.node('Softmax', [scores], [ai('axis', -1)], { name: `${p}/self_attn/Softmax` });
    const ctx = g.node('MatMul', [probs, vr], [], { name: `${p}/self_attn/MatMul_1` });
    const merged = g.node('Reshape', [g.node('Transpose', [ctx], [aints('perm', [0, 2, 1, 3])], { name: `${p}/self_attn/Transpose_out` }), g.ints([0, 0, qd])], [], { name: `${p}/self_attn/Reshape_out` });
    let a = c.linear(merged, `${w}.self_attn.o_proj.weight`, qd, H, { prefix: `${p}/self_attn/o_proj` });
    if (gemma) a = c.rmsNorm(a, `${w}.post_attention_layernorm.weight`, H, `${p}/post_attention_layernorm`);
    x = g.node('Add', [x, a], [], { name: `${p}/Add` });
    const h2 = c.rmsNorm(x, `${w}.${gemma ? 'pre_feedforward_layernorm' : 'post_attention_layernorm'}.weight`, H, `${p}/${gemma ? 'pre_feedforward' : 'post_attention'}_layernorm`);
    const gate = c.linear(h2, `${w}.mlp.gate_proj.weight`, H, spec.intermediate, { prefix: `${p}/mlp/gate_proj` });
    const up = c.linear(h2, `${w}.mlp.up_proj.weight`, H, spec.intermediate, { prefix: `${p}/mlp/up_proj` });
    const act = gemma ? geluTanh(c, gate, `${p}/mlp/act`) : g.node('Mul', [gate, g.node('Sigmoid', [gate], [], { name: `${p}/mlp/act/Sigmoid` })], [], { name: `${p}/mlp/act/Mul` });
    let m = c.linear(g.node('Mul', [act, up], [], { name: `${p}/mlp/Mul` }), `${w}.mlp.down_proj.weight`, spec.intermediate, H, { prefix: `${p}/mlp/down_proj` });
    if (gemma) m = c.rmsNorm(m, `${w}.post_feedforward_layernorm.weight`, H, `${p}/post_feedforward_layernorm`);
    x = g.node('Add', [x, m], [], { name: `${p}/Add_1` });
  }
  x = c.rmsNorm(x, 'model.norm.weight', H, '/model/norm');
  if (io.logitsToKeep) {
    // The last `num_logits_to_keep` positions (0: all), as newer exports declare.
    const start = g.node('Neg', [g.node('Unsqueeze', [io.logitsToKeep, g.ints([0])], [], { name: '/lm_head/Unsqueeze' })], [], { name: '/lm_head/Neg' });
    x = g.node('Slice', [x, start, g.ints([2 ** 62]), g.ints([1])], [], { name: '/lm_head/Slice' });
  }
  // The tied lm_head: the embedding matrix, transposed by Gemm rather than stored twice.
  const flat = g.node('Reshape', [x, g.ints([-1, H])], [], { name: '/lm_head/Reshape' });
  const logits = g.node('Gemm', [flat, 'model.embed_tokens.weight'], [ai('transB', 1)], { name: '/lm_head/Gemm' });
  const shaped = g.node('Reshape', [logits, g.ints([1, -1, spec.vocab])], [], { name: '/lm_head/Reshape_1' });
  return { logits: toIo(shaped, '/lm_head/Cast', io.logitsName), presents };
}

export function geluTanh(c, x, prefix) {
  const { g } = c;
  const x3 = g.node('Pow', [x, c.scalar(3)], [], { name: `${prefix}/Pow` });
  const inner = g.node('Mul', [g.node('Add', [x, g.node('Mul', [x3, c.scalar(0.044715)], [], { name: `${prefix}/Mul` })], [], { name: `${prefix}/Add` }), c.scalar(Math.sqrt(2 / Math.PI))], [], { name: `${prefix}/Mul_1` });
  const t = g.node('Add', [g.node('Tanh', [inner], [], { name: `${prefix}/Tanh` }), c.scalar(1)], [], { name: `${prefix}/Add_1` });
  return g.node('Mul', [g.node('Mul', [x, t], [], { name: `${prefix}/Mul_2` }), c.scalar(0.5)], [], { name: `${prefix}/Mul_3` });
}

/** The Optimum-style model (or the legacy merged decoder) of `spec` in `variant`. */
export function optimumModel(spec, variant) {
  const g = new Graph();
  const c = new Ctx(g, spec, variant);
  c.io = variant.io ?? c.F;
  const gemma = spec.family === 'gemma3';
  const inputs = [valueInfo('input_ids', T.INT64, ['batch_size', 'sequence_length'])];
  // Gemma 3's exports take no attention_mask, position ids counted from 1, and num_logits_to_keep.
  if (!gemma) inputs.push(valueInfo('attention_mask', T.INT64, ['batch_size', 'past_sequence_length + sequence_length']));
  inputs.push(valueInfo('position_ids', T.INT64, ['batch_size', 'sequence_length']));
  for (let l = 0; l < spec.layers; l++) {
    for (const kv of ['key', 'value']) inputs.push(valueInfo(`past_key_values.${l}.${kv}`, c.io, ['batch_size', spec.kvHeads, 'past_sequence_length', spec.headDim]));
  }
  if (gemma) inputs.push(valueInfo('num_logits_to_keep', T.INT64, []));
  const outputs = [valueInfo('logits', c.io, ['batch_size', 'sequence_length', spec.vocab])];
  for (let l = 0; l < spec.layers; l++) {
    for (const kv of ['key', 'value']) outputs.push(valueInfo(`present.${l}.${kv}`, c.io, ['batch_size', spec.kvHeads, 'past_sequence_length + sequence_length', spec.headDim]));
  }
  const io = {
    ids: 'input_ids',
    mask: gemma ? undefined : 'attention_mask',
    // Gemma 3's exports were traced with positions counted from 1: rotary takes the ids as fed (attention does not change with a shift).
    positions: 'position_ids',
    pastKey: (l) => `past_key_values.${l}.key`,
    pastValue: (l) => `past_key_values.${l}.value`,
    logitsToKeep: gemma ? 'num_logits_to_keep' : undefined,
  };
  if (!variant.merged) {
    decoderBody(c, { ...io, logitsName: 'logits', presentName: (l, kv) => `present.${l}.${kv}` }, { withPast: true });
    return { g, inputs, outputs };
  }
  // The legacy merged decoder: then = with past, else = without; both read the outer scope.
  inputs.push(valueInfo('use_cache_branch', T.BOOL, [1]));
  const branch = (withPast) => {
    const sub = g.sub();
    const bc = new Ctx(sub, spec, variant);
    bc.io = c.io;
    const { logits, presents } = decoderBody(bc, io, { withPast });
    return onnx.GraphProto.create({ name: withPast ? 'optimum::then' : 'optimum::else', node: sub.nodes, output: [logits, ...presents].map((name) => typedValue(name, c.io)) });
  };
  g.node('If', ['use_cache_branch'], [ag('then_branch', branch(true)), ag('else_branch', branch(false))], { name: 'optimum::if', out: outputs.map((o) => o.name) });
  return { g, inputs, outputs };
}
