// Stand-ins for today's LLM files as the Hub ships them: random-weight decoders with the exact
// architectures, shapes, graph layouts and input/output names of Qwen2.5-0.5B, Llama-3.2-1B,
// SmolLM2-135M and Gemma-3-1B, in each variant people download:
//
//   fp32       onnx/model.onnx, Optimum-style (past inputs, SDPA form), weights in external data chunks
//              (model.onnx_data, model.onnx_data_1, …) as transformers.js_config announces
//   fp16       onnx/model_fp16.onnx, float16 throughout (inputs and outputs too)
//   q4         onnx/model_q4.onnx, MatMulNBits (4-bit, block 32, symmetric) on the projection weights only
//   q4f16      onnx/model_q4f16.onnx, q4 in float16 with float32 inputs and outputs (keep_io_types)
//   quantized  onnx/model_quantized.onnx, 8-bit dynamic quantization (DynamicQuantizeLinear, MatMulInteger; int8 weights)
//   uint8      onnx/model_uint8.onnx, the same with asymmetric uint8 weights
//   bnb4       onnx/model_bnb4.onnx, MatMulBnb4 (NF4, blocks of 64) on the projections, as MatMulBnb4Quantizer writes it
//   merged     onnx/decoder_model_merged.onnx, the legacy merged decoder: every layer inside an If on use_cache_branch
//   genai      <arch>-genai/model.onnx + model.onnx.data + genai_config.json, as onnxruntime-genai's model
//              builder writes int4 CPU models: packed QKV MatMulNBits, GroupQueryAttention with fused rotary,
//              SimplifiedLayerNormalization / SkipSimplifiedLayerNormalization
//
// Every variant of one architecture is made from the same float32 weights (deterministic, by tensor
// name), so one reference computation serves them all once the variant's own weights are read back
// (dequantized). `tiny` shapes keep each architecture's peculiarities (grouped-query ratios, head
// sizes that differ from hidden/heads, biases, rotary scaling, sliding windows, norms) at a few MB.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Graph, T, ag, ai, af, aints, asBytes, fillNormal, hash, onnx, toHalf, typedValue, valueInfo, writeModel } from './onnxBuild.mjs';

export const LLM_VERSION = 'v1';

/** The real shapes (config.json values of the Hub models). */
export const LLM_SHAPES = {
  'qwen2.5-0.5b': {
    family: 'qwen2', layers: 24, hidden: 896, heads: 14, kvHeads: 2, headDim: 64, intermediate: 4864, vocab: 151936,
    positions: 32768, ropeTheta: 1e6, eps: 1e-6, qkvBias: true, bos: 151643, eos: 151643,
  },
  'llama-3.2-1b': {
    family: 'llama', layers: 16, hidden: 2048, heads: 32, kvHeads: 8, headDim: 64, intermediate: 8192, vocab: 128256,
    positions: 131072, ropeTheta: 500000, eps: 1e-5, bos: 128000, eos: 128001,
    ropeScaling: { factor: 32, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192, rope_type: 'llama3' },
  },
  'smollm2-135m': {
    family: 'llama', layers: 30, hidden: 576, heads: 9, kvHeads: 3, headDim: 64, intermediate: 1536, vocab: 49152,
    positions: 8192, ropeTheta: 100000, eps: 1e-5, bos: 0, eos: 0,
  },
  'gemma-3-1b': {
    family: 'gemma3', layers: 26, hidden: 1152, heads: 4, kvHeads: 1, headDim: 256, intermediate: 6912, vocab: 262144,
    positions: 32768, ropeTheta: 1e6, localRopeTheta: 10000, eps: 1e-6, slidingWindow: 512, slidingPattern: 6,
    queryPreAttnScalar: 256, bos: 2, eos: 1,
  },
};

/**
 * The tiny version of a shape: the same family and ratios at a few MB. Vocabulary 3000 (the test
 * tokenizer's), weights large enough that attention is far from uniform, and a sliding window
 * short enough to matter on a sentence.
 */
export function tinyShape(name) {
  const s = LLM_SHAPES[name];
  const tiny = {
    'qwen2.5-0.5b': { hidden: 64, heads: 4, kvHeads: 2, headDim: 16, intermediate: 128 },
    'llama-3.2-1b': { hidden: 64, heads: 4, kvHeads: 2, headDim: 16, intermediate: 128 },
    'smollm2-135m': { hidden: 96, heads: 6, kvHeads: 2, headDim: 16, intermediate: 192 },
    'gemma-3-1b': { hidden: 64, heads: 4, kvHeads: 1, headDim: 32, intermediate: 128, slidingWindow: 4, slidingPattern: 2, queryPreAttnScalar: 32 },
  }[name];
  return { ...s, ...tiny, layers: 2, vocab: 3000, positions: 2048, bos: 1, eos: 2, tiny: true };
}

/** The variants, their files and how their weights and arithmetic are stored. */
export const LLM_VARIANTS = {
  fp32: { file: 'onnx/model.onnx', external: true },
  fp16: { file: 'onnx/model_fp16.onnx', float: T.FLOAT16, io: T.FLOAT16 },
  q4: { file: 'onnx/model_q4.onnx', linear: 'q4' },
  q4f16: { file: 'onnx/model_q4f16.onnx', linear: 'q4', float: T.FLOAT16, io: T.FLOAT },
  quantized: { file: 'onnx/model_quantized.onnx', linear: 'int8' },
  uint8: { file: 'onnx/model_uint8.onnx', linear: 'uint8' },
  bnb4: { file: 'onnx/model_bnb4.onnx', linear: 'bnb4' },
  merged: { file: 'onnx/decoder_model_merged.onnx', merged: true },
  genai: { file: 'model.onnx', genai: true },
};

/** Bytes per data file (below Chrome's 2 GB ArrayBuffer and onnxruntime-web's 2 GiB per piece). */
const CHUNK_BYTES = 1.9e9;
/** Protobufs larger than this keep their weights in external data (protobuf's limit is 2 GB). */
const INLINE_LIMIT = 1.9e9;
const FLOAT_MIN = -3.4028234663852886e38;
const HALF_MIN = -65504;

// ---------------------------------------------------------------------------------------------
// Weights: float32 values by tensor name, the same in every variant.

/** Standard deviation of random matrices: Hugging Face's initialisation at real size, larger for tiny models. */
const std = (spec) => (spec.tiny ? 0.3 : 0.02);

/** The float32 values of base weight `name` (`count` of them), streamed in chunks of at most 1 M. */
function streamBase(spec, name, count, kind, emit) {
  const chunk = new Float32Array(Math.min(count, 1 << 20));
  const rng = { state: hash(`${spec.seed}/${name}`) };
  for (let done = 0; done < count; done += chunk.length) {
    const part = chunk.subarray(0, Math.min(chunk.length, count - done));
    fillNormal(part, rng, kind === 'matrix' ? std(spec) : 1);
    if (kind === 'norm') for (let i = 0; i < part.length; i++) part[i] = spec.tiny ? 1 + 0.2 * part[i] : 1;
    else if (kind === 'offset-norm') for (let i = 0; i < part.length; i++) part[i] = spec.tiny ? 0.2 * part[i] : 0;
    else if (kind === 'bias') for (let i = 0; i < part.length; i++) part[i] = spec.tiny ? 0.1 * part[i] : 0;
    emit(part);
  }
}

/** All of base weight `name` in memory (matrices to quantize: at most a few hundred MB at real size). */
function base(spec, name, count, kind = 'matrix') {
  const out = new Float32Array(count);
  let at = 0;
  streamBase(spec, name, count, kind, (part) => {
    out.set(part, at);
    at += part.length;
  });
  return out;
}

/** Adds base weight `name` to `g` in the graph's float type. */
function floatWeight(g, spec, name, dims, kind, float) {
  const count = dims.reduce((a, b) => a * b, 1);
  return g.weight(name, dims, float, (emit) => streamBase(spec, name, count, kind, (part) => emit(float === T.FLOAT16 ? asBytes(toHalf(part)) : asBytes(part))));
}

/**
 * Symmetric 4-bit blocks as onnxruntime's MatMul4BitsQuantizer writes them for MatMulNBits: per
 * output column and block of 32 along K, scale = (the value of largest magnitude) / −8, codes
 * round(w / scale) clipped to [−8, 7] stored as code + 8, two per byte, the first in the low nibble.
 * `column(n, out)` fills the K weights of output n.
 */
function quantize4(K, N, column, float) {
  const blocks = Math.ceil(K / 32);
  const packed = new Uint8Array(N * blocks * 16);
  const scales = new Float32Array(N * blocks);
  const col = new Float32Array(blocks * 32);
  for (let n = 0; n < N; n++) {
    col.fill(0);
    column(n, col);
    for (let b = 0; b < blocks; b++) {
      let vmax = 0;
      for (let i = b * 32; i < b * 32 + 32; i++) if (Math.abs(col[i]) > Math.abs(vmax)) vmax = col[i];
      // The scale is stored in the graph's float type: codes are computed with that very scale.
      const stored = float === T.FLOAT16 ? halfValue(vmax / -8) : Math.fround(vmax / -8);
      scales[n * blocks + b] = stored;
      for (let j = 0; j < 16; j++) {
        const code = (x) => (stored === 0 ? 8 : Math.max(-8, Math.min(7, Math.round(x / stored))) + 8);
        packed[(n * blocks + b) * 16 + j] = code(col[b * 32 + 2 * j]) | (code(col[b * 32 + 2 * j + 1]) << 4);
      }
    }
  }
  return { packed, scales: float === T.FLOAT16 ? asBytes(toHalf(scales)) : asBytes(scales), blocks };
}

/** bitsandbytes' NormalFloat4 code book (onnxruntime's MatMulBnb4 decodes code c as NF4[c] × the block's absmax). */
const NF4 = [-1, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0,
  0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1];

/**
 * NF4 blocks as onnxruntime's MatMulBnb4Quantizer writes them: the weight transposed to [N, K] and
 * flattened, blocks of 64 elements each scaled by their largest magnitude (absmax, float32), every
 * element the nearest NF4 code, two per byte with the first in the high nibble.
 */
function quantizeNf4(K, N, w) {
  const total = N * K;
  const packed = new Uint8Array(Math.ceil(total / 2));
  const absmax = new Float32Array(Math.ceil(total / 64));
  const flat = new Float32Array(total); // the [N, K] transpose, row after row
  for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) flat[n * K + k] = w[k * N + n];
  const mid = NF4.slice(1).map((v, c) => (v + NF4[c]) / 2); // code c + 1 from above mid[c]
  for (let b = 0; b < absmax.length; b++) {
    const end = Math.min(total, (b + 1) * 64);
    let m = 0;
    for (let e = b * 64; e < end; e++) m = Math.max(m, Math.abs(flat[e]));
    absmax[b] = m;
    for (let e = b * 64; e < end; e++) {
      const x = m ? flat[e] / m : 0;
      let code = 0;
      while (code < 15 && x > mid[code]) code++;
      packed[e >> 1] |= e % 2 === 0 ? code << 4 : code;
    }
  }
  return { packed, absmax: asBytes(absmax) };
}

/** The float32 value of the float16 nearest to `x`. */
function halfValue(x) {
  const h = toHalf(Float32Array.of(x))[0];
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  return e === 0 ? s * m * 2 ** -24 : s * (1 + m / 1024) * 2 ** (e - 15);
}

/**
 * 8-bit weights as onnxruntime's dynamic quantization writes them: int8, symmetric per tensor
 * (scale = max|w| / 127, zero point 0), or uint8, asymmetric (range [min(0, w), max(0, w)] over 255
 * steps, zero point round(−min / scale)).
 */
function quantize8(w, unsigned) {
  let lo = 0;
  let hi = 0;
  for (let i = 0; i < w.length; i++) {
    if (w[i] < lo) lo = w[i];
    if (w[i] > hi) hi = w[i];
  }
  const scale = Math.fround(unsigned ? (hi - lo) / 255 : Math.max(-lo, hi) / 127);
  const zero = unsigned ? Math.max(0, Math.min(255, Math.round(-lo / scale))) : 0;
  const [min, max] = unsigned ? [0, 255] : [-127, 127];
  const q = unsigned ? new Uint8Array(w.length) : new Int8Array(w.length);
  for (let i = 0; i < w.length; i++) q[i] = Math.max(min, Math.min(max, Math.round(w[i] / scale) + zero));
  return { q: asBytes(q), scale, zero };
}

// ---------------------------------------------------------------------------------------------
// Graph pieces.

/** One builder context: the graph, the shape, the variant, and the float type of the arithmetic. */
class Ctx {
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

/**
 * Something made once and written in two parts (codes, then scales): made when the first part is
 * asked for, forgotten once both are out, so one matrix at a time is in memory.
 */
function lazyPair(make) {
  let made;
  let taken = 0;
  const take = () => {
    made ??= make();
    const r = made;
    if (++taken === 2) made = undefined;
    return r;
  };
  return { first: take, second: take };
}

/** A weight's 4-bit MatMulNBits form from `values()` (W [inDim, outDim]). */
function lazyQ4(values, inDim, outDim, float) {
  const made = lazyPair(() => {
    const w = values();
    return quantize4(inDim, outDim, (n, col) => {
      for (let k = 0; k < inDim; k++) col[k] = w[k * outDim + n];
    }, float);
  });
  return { packed: made.first, scales: () => made.second().scales, blocks: Math.ceil(inDim / 32) };
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

function geluTanh(c, x, prefix) {
  const { g } = c;
  const x3 = g.node('Pow', [x, c.scalar(3)], [], { name: `${prefix}/Pow` });
  const inner = g.node('Mul', [g.node('Add', [x, g.node('Mul', [x3, c.scalar(0.044715)], [], { name: `${prefix}/Mul` })], [], { name: `${prefix}/Add` }), c.scalar(Math.sqrt(2 / Math.PI))], [], { name: `${prefix}/Mul_1` });
  const t = g.node('Add', [g.node('Tanh', [inner], [], { name: `${prefix}/Tanh` }), c.scalar(1)], [], { name: `${prefix}/Add_1` });
  return g.node('Mul', [g.node('Mul', [x, t], [], { name: `${prefix}/Mul_2` }), c.scalar(0.5)], [], { name: `${prefix}/Mul_3` });
}

/** The Optimum-style model (or the legacy merged decoder) of `spec` in `variant`. */
function optimumModel(spec, variant) {
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

// ---------------------------------------------------------------------------------------------
// onnxruntime-genai's int4 CPU layout.

function genaiModel(spec) {
  const g = new Graph();
  const variant = LLM_VARIANTS.genai;
  const c = new Ctx(g, spec, variant);
  const H = spec.hidden;
  const gemma = spec.family === 'gemma3';
  const inputs = [valueInfo('input_ids', T.INT64, ['batch_size', 'sequence_length']), valueInfo('attention_mask', T.INT64, ['batch_size', 'total_sequence_length'])];
  const outputs = [valueInfo('logits', T.FLOAT, ['batch_size', 'sequence_length', spec.vocab])];
  for (let l = 0; l < spec.layers; l++) {
    for (const kv of ['key', 'value']) {
      inputs.push(valueInfo(`past_key_values.${l}.${kv}`, T.FLOAT, ['batch_size', spec.kvHeads, 'past_sequence_length', spec.headDim]));
      outputs.push(valueInfo(`present.${l}.${kv}`, T.FLOAT, ['batch_size', spec.kvHeads, 'total_sequence_length', spec.headDim]));
    }
  }
  // seqlens_k = sum(mask) − 1 and total_sequence_length, as the builder computes them.
  const sub = '/model/attn_mask_reformat/attn_mask_subgraph';
  const sum = g.node('ReduceSum', ['attention_mask', g.ints([1])], [ai('keepdims', 0)], { name: `${sub}/ReduceSum` });
  const seqlens = g.node('Cast', [g.node('Sub', [sum, g.constant(T.INT64, [], [1])], [], { name: `${sub}/Sub` })], [ai('to', T.INT32)], { name: `${sub}/Sub/Cast` });
  const total = g.node('Cast', [g.node('Gather', [g.node('Shape', ['attention_mask'], [], { name: `${sub}/Shape` }), g.constant(T.INT64, [], [1])], [ai('axis', 0)], { name: `${sub}/Gather` })], [ai('to', T.INT32)], { name: `${sub}/Gather/Cast` });
  const caches = (theta, suffix) => {
    const inv = inverseFrequencies(spec.headDim, theta, spec.family === 'llama' ? spec.ropeScaling : undefined);
    const make = (f) => (emit) => {
      const row = new Float32Array(spec.headDim / 2);
      for (let t = 0; t < spec.positions; t++) {
        for (let i = 0; i < row.length; i++) row[i] = f(t * inv[i]);
        emit(asBytes(row));
      }
    };
    return {
      cos: g.weight(`cos_cache${suffix}`, [spec.positions, spec.headDim / 2], T.FLOAT, make(Math.cos)),
      sin: g.weight(`sin_cache${suffix}`, [spec.positions, spec.headDim / 2], T.FLOAT, make(Math.sin)),
    };
  };
  const global = caches(spec.ropeTheta, gemma ? '_global' : '');
  const local = gemma ? caches(spec.localRopeTheta, '_local') : undefined;
  // Norm weights as the builder stores them: Gemma's (1 + w) already added.
  const normWeight = (name) => {
    if (!gemma) return floatWeight(g, spec, name, [H], 'norm', T.FLOAT);
    return g.weight(name, [H], T.FLOAT, (emit) => streamBase(spec, name, H, 'offset-norm', (part) => emit(asBytes(part.map((x) => x + 1)))));
  };
  const simplified = (x, name, prefix) => g.node('SimplifiedLayerNormalization', [x, normWeight(name)], [ai('axis', -1), af('epsilon', spec.eps), ai('stash_type', 1)], { name: `${prefix}/LayerNorm` });
  /** SkipSimplifiedLayerNormalization: [normalized, residual sum]. */
  const skip = (root, skipIn, name, prefix) => {
    const [y, , , s] = g.node('SkipSimplifiedLayerNormalization', [root, skipIn, normWeight(name)], [af('epsilon', spec.eps)], { name: `${prefix}/SkipLayerNorm`, domain: 'com.microsoft', out: [`${prefix}/SkipLayerNorm/output_0`, '', '', `${prefix}/SkipLayerNorm/output_3`] });
    return [y, s];
  };
  /** A projection stored under genai's name, with the values of the base weight `name`. */
  const linear = (x, name, stored, inDim, outDim, prefix, matrix) => c.linear(x, name, inDim, outDim, { prefix, stored, matrix });

  let residual = g.node('Gather', [floatWeight(g, spec, 'model.embed_tokens.weight', [spec.vocab, H], 'matrix', T.FLOAT), 'input_ids'], [], { name: '/model/embed_tokens/Gather' });
  if (gemma) residual = g.node('Mul', [residual, g.constant(T.FLOAT, [], [Math.round(Math.sqrt(H) * 100) / 100])], [], { name: '/model/embed_tokens/Mul' });
  let pending; // the last sublayer's output, added to the residual by the next skip norm
  const qd = spec.heads * spec.headDim;
  const kvd = spec.kvHeads * spec.headDim;
  for (let l = 0; l < spec.layers; l++) {
    const p = `/model/layers.${l}`;
    const w = `model.layers.${l}`;
    let h;
    if (l === 0) h = simplified(residual, `${w}.input_layernorm.weight`, `${p}/input_layernorm`);
    else [h, residual] = skip(residual, pending, `${w}.input_layernorm.weight`, `${p}/input_layernorm`);
    const isLocal = gemma && (l + 1) % spec.slidingPattern !== 0;
    let q, k, v;
    if (!gemma) {
      // One packed MatMulNBits for Q, K and V (their weights concatenated along the output).
      const packed = () => {
        // W_qkv [H, qd + 2·kvd]: each row the row of W_q, then W_k, then W_v.
        const parts = [['q', qd], ['k', kvd], ['v', kvd]].map(([n, d]) => [base(spec, `${w}.self_attn.${n}_proj.weight`, H * d), d]);
        const out = new Float32Array(H * (qd + 2 * kvd));
        for (let i = 0; i < H; i++) {
          let at = i * (qd + 2 * kvd);
          for (const [m, d] of parts) {
            out.set(m.subarray(i * d, (i + 1) * d), at);
            at += d;
          }
        }
        return out;
      };
      q = linear(h, `${w}.self_attn.qkv_proj.weight`, `${w}.attn.qkv_proj.MatMul.weight`, H, qd + 2 * kvd, `${p}/attn/qkv_proj`, packed);
      if (spec.qkvBias) q = g.node('Add', [q, g.weight(`${w}.attn.qkv_proj.Add.bias`, [qd + 2 * kvd], T.FLOAT, (emit) => {
        for (const part of ['q', 'k', 'v']) streamBase(spec, `${w}.self_attn.${part}_proj.bias`, part === 'q' ? qd : kvd, 'bias', (x) => emit(asBytes(x)));
      })], [], { name: `${p}/attn/qkv_proj/Add` });
      k = '';
      v = '';
    } else {
      // Gemma's per-head q/k norms sit between the projections and the rotary: Reshape → norm → Reshape.
      const normHeads = (x, n, name, prefix) => {
        const r = g.node('Reshape', [x, g.ints([0, 0, n, spec.headDim])], [], { name: `${prefix}/Reshape` });
        const y = g.node('SimplifiedLayerNormalization', [r, g.weight(name, [spec.headDim], T.FLOAT, (emit) => streamBase(spec, name, spec.headDim, 'offset-norm', (part) => emit(asBytes(part.map((x) => x + 1)))))], [ai('axis', -1), af('epsilon', spec.eps), ai('stash_type', 1)], { name: `${prefix}/LayerNorm` });
        return g.node('Reshape', [y, g.ints([0, 0, n * spec.headDim])], [], { name: `${prefix}/Reshape_1` });
      };
      q = normHeads(linear(h, `${w}.self_attn.q_proj.weight`, `${w}.attn.q_proj.MatMul.weight`, H, qd, `${p}/attn/q_proj`), spec.heads, `${w}.self_attn.q_norm.weight`, `${p}/attn/q_norm`);
      k = normHeads(linear(h, `${w}.self_attn.k_proj.weight`, `${w}.attn.k_proj.MatMul.weight`, H, kvd, `${p}/attn/k_proj`), spec.kvHeads, `${w}.self_attn.k_norm.weight`, `${p}/attn/k_norm`);
      v = linear(h, `${w}.self_attn.v_proj.weight`, `${w}.attn.v_proj.MatMul.weight`, H, kvd, `${p}/attn/v_proj`);
    }
    const r = isLocal ? local : global;
    const attrs = [ai('num_heads', spec.heads), ai('kv_num_heads', spec.kvHeads), ai('do_rotary', 1), ai('rotary_interleaved', 0), ai('local_window_size', isLocal ? spec.slidingWindow : -1), af('softcap', 0)];
    if (gemma) attrs.push(af('scale', spec.queryPreAttnScalar ** -0.5));
    const [attn] = g.node('GroupQueryAttention', [q, k, v, `past_key_values.${l}.key`, `past_key_values.${l}.value`, seqlens, total, r.cos, r.sin], attrs, {
      name: `${p}/attn/GroupQueryAttention`, domain: 'com.microsoft', out: [`${p}/attn/GroupQueryAttention/output_0`, `present.${l}.key`, `present.${l}.value`],
    });
    let a = linear(attn, `${w}.self_attn.o_proj.weight`, `${w}.attn.o_proj.MatMul.weight`, qd, H, `${p}/attn/o_proj`);
    let h2;
    if (gemma) {
      a = simplified(a, `${w}.post_attention_layernorm.weight`, `${p}/post_attention_layernorm`);
      [h2, residual] = skip(residual, a, `${w}.pre_feedforward_layernorm.weight`, `${p}/pre_feedforward_layernorm`);
    } else {
      [h2, residual] = skip(residual, a, `${w}.post_attention_layernorm.weight`, `${p}/post_attention_layernorm`);
    }
    const gate = linear(h2, `${w}.mlp.gate_proj.weight`, `${w}.mlp.gate_proj.MatMul.weight`, H, spec.intermediate, `${p}/mlp/gate_proj`);
    const up = linear(h2, `${w}.mlp.up_proj.weight`, `${w}.mlp.up_proj.MatMul.weight`, H, spec.intermediate, `${p}/mlp/up_proj`);
    const act = gemma ? geluTanh(c, gate, `${p}/mlp/act`) : g.node('Mul', [gate, g.node('Sigmoid', [gate], [], { name: `${p}/mlp/act/Sigmoid` })], [], { name: `${p}/mlp/act/Mul` });
    pending = linear(g.node('Mul', [act, up], [], { name: `${p}/mlp/Mul` }), `${w}.mlp.down_proj.weight`, `${w}.mlp.down_proj.MatMul.weight`, spec.intermediate, H, `${p}/mlp/down_proj`);
    if (gemma) pending = simplified(pending, `${w}.post_feedforward_layernorm.weight`, `${p}/post_feedforward_layernorm`);
  }
  const [final] = skip(residual, pending, 'model.norm.weight', '/model/norm');
  // The lm_head is a MatMulNBits of its own (the tied embedding, transposed and quantized).
  g.node('MatMulNBits', [final, lmHeadQ4(g, spec), 'lm_head.MatMul.weight_scales'], [ai('K', H), ai('N', spec.vocab), ai('bits', 4), ai('block_size', 32), ai('accuracy_level', 4)], { name: '/lm_head/MatMul_Q4', domain: 'com.microsoft', out: 'logits' });
  return { g, inputs, outputs };
}

/** lm_head's 4-bit weights from the embedding's rows (output n's K weights are row n of the embedding), streamed. */
function lmHeadQ4(g, spec) {
  const H = spec.hidden;
  const blocks = Math.ceil(H / 32);
  const rows = 4096;
  const produce = (which) => (emit) => {
    let row = 0;
    const all = new Float32Array(Math.min(rows, spec.vocab) * H);
    let filled = 0;
    const flush = () => {
      const n = filled / H;
      const { packed, scales } = quantize4(H, n, (i, col) => col.set(all.subarray(i * H, (i + 1) * H)), T.FLOAT);
      emit(which === 'codes' ? packed : scales);
      row += n;
      filled = 0;
    };
    streamBase(spec, 'model.embed_tokens.weight', spec.vocab * H, 'matrix', (part) => {
      let at = 0;
      while (at < part.length) {
        const take = Math.min(part.length - at, all.length - filled);
        all.set(part.subarray(at, at + take), filled);
        filled += take;
        at += take;
        if (filled === all.length) flush();
      }
    });
    if (filled > 0) flush();
    if (row !== spec.vocab) throw new Error(`lm_head: ${row} rows of ${spec.vocab}`);
  };
  g.weight('lm_head.MatMul.weight_scales', [spec.vocab * blocks], T.FLOAT, produce('scales'), spec.vocab * blocks * 4);
  return g.weight('lm_head.MatMul.weight_Q4', [spec.vocab, blocks, 16], T.UINT8, produce('codes'), spec.vocab * blocks * 16);
}

// ---------------------------------------------------------------------------------------------
// Folders.

/** The config.json of `spec` as the Hub model's, with the variants' external data announced. */
export function configJson(name, spec, external) {
  const common = {
    vocab_size: spec.vocab, hidden_size: spec.hidden, intermediate_size: spec.intermediate, num_hidden_layers: spec.layers,
    num_attention_heads: spec.heads, num_key_value_heads: spec.kvHeads, head_dim: spec.headDim, max_position_embeddings: spec.positions,
    rms_norm_eps: spec.eps, rope_theta: spec.ropeTheta, tie_word_embeddings: true, bos_token_id: spec.bos, eos_token_id: spec.eos,
    torch_dtype: 'bfloat16', use_cache: true,
  };
  const family = {
    qwen2: { architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2', hidden_act: 'silu', sliding_window: spec.positions, use_sliding_window: false, max_window_layers: spec.layers },
    llama: { architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_act: 'silu', attention_bias: false, mlp_bias: false, rope_scaling: spec.ropeScaling ?? null },
    gemma3: {
      architectures: ['Gemma3ForCausalLM'], model_type: 'gemma3_text', hidden_activation: 'gelu_pytorch_tanh', query_pre_attn_scalar: spec.queryPreAttnScalar,
      sliding_window: spec.slidingWindow, sliding_window_pattern: spec.slidingPattern, rope_local_base_freq: spec.localRopeTheta,
      layer_types: Array.from({ length: spec.layers }, (_, l) => ((l + 1) % spec.slidingPattern === 0 ? 'full_attention' : 'sliding_attention')),
      attn_logit_softcapping: null, final_logit_softcapping: null,
    },
  }[spec.family];
  return {
    ...family,
    ...common,
    attention_lens_generator: `tools/real-size/llm.mjs ${LLM_VERSION}, random weights in the shape of ${name}`,
    'transformers.js_config': { kv_cache_dtype: { fp16: 'float16' }, use_external_data_format: external },
  };
}

/** genai_config.json as the model builder writes it. */
export function genaiConfigJson(spec) {
  return {
    model: {
      bos_token_id: spec.bos, context_length: spec.positions, eos_token_id: spec.eos, pad_token_id: spec.eos,
      type: spec.family === 'gemma3' ? 'gemma3_text' : spec.family, vocab_size: spec.vocab,
      decoder: {
        session_options: { log_id: 'onnxruntime-genai', provider_options: [] }, filename: 'model.onnx', head_size: spec.headDim, hidden_size: spec.hidden,
        inputs: { input_ids: 'input_ids', attention_mask: 'attention_mask', past_key_names: 'past_key_values.%d.key', past_value_names: 'past_key_values.%d.value' },
        outputs: { logits: 'logits', present_key_names: 'present.%d.key', present_value_names: 'present.%d.value' },
        num_attention_heads: spec.heads, num_hidden_layers: spec.layers, num_key_value_heads: spec.kvHeads,
      },
    },
    search: { do_sample: false, max_length: spec.positions, num_beams: 1, past_present_share_buffer: true },
  };
}

/**
 * Writes `variant` of `spec` into `folder` (which holds or will hold the model's other files);
 * returns its ONNX file and data files. `chunkBytes` overrides the data file size (tests split tiny
 * models into several chunks).
 */
export function writeVariant(folder, spec, variantName, { chunkBytes } = {}) {
  const variant = LLM_VARIANTS[variantName];
  if (!variant) throw new Error(`Unknown variant "${variantName}": expected one of ${Object.keys(LLM_VARIANTS).join(', ')}.`);
  const { g, inputs, outputs } = variant.genai ? genaiModel(spec) : optimumModel(spec, variant);
  const file = path.join(folder, variant.file);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const weightBytes = g.inits.reduce((s, i) => s + i.byteLength, 0);
  const external = variant.genai
    ? { location: 'model.onnx.data', chunkBytes: Infinity, threshold: 0 }
    : variant.external || weightBytes > INLINE_LIMIT ? { location: `${path.basename(variant.file)}_data`, chunkBytes: chunkBytes ?? CHUNK_BYTES } : undefined;
  const data = writeModel(file, {
    graph: { name: `attention-lens-${variantName}`, nodes: g.nodes, inputs, outputs, docString: `Random weights in a real model's shape (tools/real-size/llm.mjs ${LLM_VERSION}), variant ${variantName}.` },
    inits: g.inits,
    opsets: [['', 17], ['com.microsoft', 1]],
    producer: `attention-lens/tools/real-size ${LLM_VERSION}`,
  }, external);
  return { onnx: variant.file, data };
}

/** The tokenizer every stand-in uses: the Llama-style test tokenizer (SentencePiece BPE with byte fallback, 3000 tokens). */
const TOKENIZER = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../test/fixtures/tokenizers/llama');

/** The shape called `name`, real or tiny, with the seed its weights come from. */
export function llmShape(name, tiny = false) {
  if (!LLM_SHAPES[name]) throw new Error(`Unknown LLM shape "${name}": expected one of ${Object.keys(LLM_SHAPES).join(', ')}.`);
  return { ...(tiny ? tinyShape(name) : LLM_SHAPES[name]), seed: `${name}${tiny ? '-tiny' : ''}` };
}

/** The folder of `name`'s stand-in in the cache (`-genai` for the genai layout), not created. */
export function llmFolder(cacheDir, name, { tiny = false, genai = false } = {}) {
  return path.join(cacheDir, 'llm', `${name}${tiny ? '-tiny' : ''}${genai ? '-genai' : ''}-${LLM_VERSION}`);
}

/**
 * The folder holding `variant` of `name`'s stand-in (tiny or real size), writing it first when the
 * cache does not hold it; returns { folder, onnx } (the ONNX file relative to the folder). Each
 * variant's files are written under temporary names and renamed into place data first, the .onnx
 * last, so a model whose .onnx is there is whole; config.json then announces its external data.
 */
export function ensureLlmVariant(cacheDir, name, variantName, { tiny = false, log = () => {} } = {}) {
  const variant = LLM_VARIANTS[variantName];
  if (!variant) throw new Error(`Unknown variant "${variantName}": expected one of ${Object.keys(LLM_VARIANTS).join(', ')}.`);
  const spec = llmShape(name, tiny);
  const folder = llmFolder(cacheDir, name, { tiny, genai: variant.genai });
  if (fs.existsSync(path.join(folder, variant.file)) && fs.existsSync(path.join(folder, 'tokenizer.json'))) return { folder, onnx: variant.file };
  fs.mkdirSync(folder, { recursive: true });
  const tmp = fs.mkdtempSync(path.join(folder, `.tmp-${variantName}-`));
  try {
    const t0 = Date.now();
    log(`generating ${name}${tiny ? ' (tiny)' : ''} ${variantName} into ${folder} …`);
    const { data } = writeVariant(tmp, spec, variantName, { chunkBytes: tiny ? 512 * 1024 : undefined });
    const dir = path.dirname(variant.file);
    fs.mkdirSync(path.join(folder, dir), { recursive: true });
    for (const d of data) fs.renameSync(path.join(tmp, dir, d.location), path.join(folder, dir, d.location));
    writeFolderFiles(folder, name, spec, variant, data);
    fs.renameSync(path.join(tmp, variant.file), path.join(folder, variant.file));
    const bytes = [variant.file, ...data.map((d) => path.join(path.dirname(variant.file), d.location))].reduce((s, f) => s + fs.statSync(path.join(folder, f)).size, 0);
    log(`${name} ${variantName}: ${(bytes / 1e6).toFixed(0)} MB in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return { folder, onnx: variant.file };
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** The tokenizer files, and config.json (merged with the external data of the variant just written) or genai_config.json. */
function writeFolderFiles(folder, name, spec, variant, data) {
  const write = (file, text) => {
    const part = path.join(folder, `.${file}.part`);
    fs.writeFileSync(part, text);
    fs.renameSync(part, path.join(folder, file));
  };
  fs.copyFileSync(path.join(TOKENIZER, 'tokenizer.json'), path.join(folder, 'tokenizer.json'));
  const tokConfig = JSON.parse(fs.readFileSync(path.join(TOKENIZER, 'tokenizer_config.json'), 'utf8'));
  write('tokenizer_config.json', `${JSON.stringify({ ...tokConfig, model_max_length: spec.positions }, null, 1)}\n`);
  if (variant.genai) {
    write('genai_config.json', `${JSON.stringify(genaiConfigJson(spec), null, 1)}\n`);
    return;
  }
  const configFile = path.join(folder, 'config.json');
  const previous = fs.existsSync(configFile) ? JSON.parse(fs.readFileSync(configFile, 'utf8'))['transformers.js_config']?.use_external_data_format ?? {} : {};
  const external = { ...previous };
  if (data.length > 0) external[path.basename(variant.file)] = data.length;
  else delete external[path.basename(variant.file)];
  write('config.json', `${JSON.stringify(configJson(name, spec, external), null, 1)}\n`);
}
