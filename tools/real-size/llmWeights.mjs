// The LLM stand-ins' weights (tools/real-size/llm.mjs): float32 values by tensor name, the same in
// every variant, and their stored forms (float16, MatMulNBits' 4-bit blocks, NF4 for MatMulBnb4,
// 8-bit for MatMulInteger), each made one matrix at a time.
import { T, asBytes, fillNormal, hash, toHalf } from './onnxBuild.mjs';

/** Standard deviation of random matrices: Hugging Face's initialisation at real size, larger for tiny models. */
const std = (spec) => (spec.tiny ? 0.3 : 0.02);

/** The float32 values of base weight `name` (`count` of them), streamed in chunks of at most 1 M. */
export function streamBase(spec, name, count, kind, emit) {
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
export function base(spec, name, count, kind = 'matrix') {
  const out = new Float32Array(count);
  let at = 0;
  streamBase(spec, name, count, kind, (part) => {
    out.set(part, at);
    at += part.length;
  });
  return out;
}

/** Adds base weight `name` to `g` in the graph's float type. */
export function floatWeight(g, spec, name, dims, kind, float) {
  const count = dims.reduce((a, b) => a * b, 1);
  return g.weight(name, dims, float, (emit) => streamBase(spec, name, count, kind, (part) => emit(float === T.FLOAT16 ? asBytes(toHalf(part)) : asBytes(part))));
}

/**
 * Symmetric 4-bit blocks as onnxruntime's MatMul4BitsQuantizer writes them for MatMulNBits: per
 * output column and block of 32 along K, scale = (the value of largest magnitude) / −8, codes
 * round(w / scale) clipped to [−8, 7] stored as code + 8, two per byte, the first in the low nibble.
 * `column(n, out)` fills the K weights of output n.
 */
export function quantize4(K, N, column, float) {
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
export function quantizeNf4(K, N, w) {
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
export function quantize8(w, unsigned) {
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

/**
 * Something made once and written in two parts (codes, then scales): made when the first part is
 * asked for, forgotten once both are out, so one matrix at a time is in memory.
 */
export function lazyPair(make) {
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
export function lazyQ4(values, inDim, outDim, float) {
  const made = lazyPair(() => {
    const w = values();
    return quantize4(inDim, outDim, (n, col) => {
      for (let k = 0; k < inDim; k++) col[k] = w[k * outDim + n];
    }, float);
  });
  return { packed: made.first, scales: () => made.second().scales, blocks: Math.ceil(inDim / 32) };
}
