/**
 * IEEE 754 half precision (16-bit) copies of Float32 arrays, rounded to nearest, ties to even:
 * the compact form the panel keeps of layers that are not on screen. Attention weights keep about
 * three significant digits (relative error at most 2⁻¹¹; below 6.1e-5 the absolute error is at
 * most 3e-8). Bulk loops over bit patterns, because `Float16Array` is missing from the Chromium
 * of the VS Code versions we support and per-element polyfills are far too slow for layers of
 * millions of weights. Pure.
 */

/** Value of every half-precision bit pattern, made on first use (256 KB). */
let table: Float32Array | undefined;

function valueOfHalf(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa ? NaN : sign * Infinity;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/** The half-precision bit pattern nearest to the float32 with bits `b`. */
function halfOfBits(b: number): number {
  const sign = (b >>> 16) & 0x8000;
  const exponent = (b >>> 23) & 0xff;
  let mantissa = b & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  const e = exponent - 112; // rebias 127 → 15
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal half (or zero): the implicit bit joins the mantissa, shifted into units of 2⁻²⁴.
    if (e < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - e;
    const half = mantissa >>> shift;
    const rest = mantissa & ((1 << shift) - 1), mid = 1 << (shift - 1);
    return sign | (rest > mid || (rest === mid && half & 1) ? half + 1 : half);
  }
  const half = (e << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  // A carry out of the mantissa correctly moves to the next exponent (or to infinity).
  return sign | (rest > 0x1000 || (rest === 0x1000 && half & 1) ? half + 1 : half);
}

/** A half-precision copy of `src`, as bit patterns. */
export function toFloat16(src: Float32Array): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const out = new Uint16Array(src.length);
  for (let i = 0; i < bits.length; i++) out[i] = halfOfBits(bits[i]);
  return out;
}

/** The float32 values of half-precision bit patterns. */
export function fromFloat16(src: Uint16Array): Float32Array {
  if (!table) {
    table = new Float32Array(0x10000);
    for (let h = 0; h < 0x10000; h++) table[h] = valueOfHalf(h);
  }
  const t = table;
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = t[src[i]];
  return out;
}
