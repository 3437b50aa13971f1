/**
 * Resizing of 8-bit RGB images exactly as Pillow's `Image.resize` does it (Pillow 9.4,
 * `libImaging/Resample.c` and, for NEAREST, `Geometry.c`), byte for byte, so that pixel values
 * match Hugging Face's image processors, which resize with Pillow. A browser's canvas scaling
 * does not. Pure.
 *
 * The convolution filters run in two separable passes, horizontal first, each with coefficients
 * computed in float64, normalised to sum 1 and turned into 22-bit fixed point; when shrinking, the
 * filter's support widens by the scale factor (it becomes a low-pass filter). NEAREST is Pillow's
 * affine nearest-neighbour scaling, with its accumulated source positions.
 */

/** Pillow's resampling filter codes (`PIL.Image.Resampling`), as `preprocessor_config.json` writes them. */
export const Resampling = { NEAREST: 0, LANCZOS: 1, BILINEAR: 2, BICUBIC: 3, BOX: 4, HAMMING: 5 } as const;
/** One of Pillow's filter codes. */
export type ResampleFilter = (typeof Resampling)[keyof typeof Resampling];

/** An 8-bit RGB image: `data` holds `width × height` pixels row by row, 3 interleaved bytes each. */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/** True when `value` is one of Pillow's filter codes 0–5. */
export function isResampleFilter(value: unknown): value is ResampleFilter {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 5;
}

interface Kernel {
  /** Half-width of the filter at scale 1, in source pixels. */
  support: number;
  weight(x: number): number;
}

// Pillow computes `0.54f + 0.46f * cos(x)` with single-precision constants promoted to double.
const HAMMING_A = Math.fround(0.54);
const HAMMING_B = Math.fround(0.46);

function sinc(x: number): number {
  if (x === 0) return 1;
  const px = x * Math.PI;
  return Math.sin(px) / px;
}

const KERNELS: Record<Exclude<ResampleFilter, 0>, Kernel> = {
  [Resampling.BOX]: { support: 0.5, weight: (x) => (x > -0.5 && x <= 0.5 ? 1 : 0) },
  [Resampling.BILINEAR]: {
    support: 1,
    weight: (x) => {
      const ax = Math.abs(x);
      return ax < 1 ? 1 - ax : 0;
    },
  },
  [Resampling.HAMMING]: {
    support: 1,
    weight: (x) => {
      const ax = Math.abs(x);
      if (ax === 0) return 1;
      if (ax >= 1) return 0;
      const px = ax * Math.PI;
      return (Math.sin(px) / px) * (HAMMING_A + HAMMING_B * Math.cos(px));
    },
  },
  [Resampling.BICUBIC]: {
    support: 2,
    weight: (x) => {
      const a = -0.5;
      const ax = Math.abs(x);
      if (ax < 1) return ((a + 2) * ax - (a + 3)) * ax * ax + 1;
      if (ax < 2) return (((ax - 5) * ax + 8) * ax - 4) * a;
      return 0;
    },
  },
  [Resampling.LANCZOS]: { support: 3, weight: (x) => (x >= -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0) },
};

/** Fixed-point fraction bits: 8 bits of result, a sign bit and one of headroom in an int32. */
const PRECISION_BITS = 32 - 8 - 2;
const ONE = 2 ** PRECISION_BITS;
const HALF = 2 ** (PRECISION_BITS - 1);

/**
 * One pass's coefficients: for output position i, source pixels `first[i]` to
 * `first[i] + count[i] − 1` weighted by `weights[i × ksize …]` (22-bit fixed point).
 */
interface Coefficients {
  ksize: number;
  first: Int32Array;
  count: Int32Array;
  weights: Int32Array;
}

/** Pillow's `precompute_coeffs` then `normalize_coeffs_8bpc`, for the whole source span `[0, inSize)`. */
function coefficients(inSize: number, outSize: number, kernel: Kernel): Coefficients {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = kernel.support * filterScale;
  const ksize = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Int32Array(outSize * ksize);
  const inverse = 1 / filterScale;
  const row = new Float64Array(ksize);
  for (let i = 0; i < outSize; i++) {
    const center = (i + 0.5) * scale;
    const lo = Math.max(Math.trunc(center - support + 0.5), 0);
    const hi = Math.min(Math.trunc(center + support + 0.5), inSize);
    const n = hi - lo;
    let sum = 0;
    for (let x = 0; x < n; x++) {
      const w = kernel.weight((x + lo - center + 0.5) * inverse);
      row[x] = w;
      sum += w;
    }
    for (let x = 0; x < n; x++) {
      const k = sum !== 0 ? row[x] / sum : row[x];
      weights[i * ksize + x] = k < 0 ? Math.trunc(-0.5 + k * ONE) : Math.trunc(0.5 + k * ONE);
    }
    first[i] = lo;
    count[i] = n;
  }
  return { ksize, first, count, weights };
}

/** Pillow's `clip8`: the fixed-point sum's integer part (an arithmetic shift), clamped to 0–255. */
function clip8(sum: number): number {
  const v = sum >> PRECISION_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/** Horizontal pass over source rows `rowStart` to `rowStart + rows − 1`. */
function horizontal(src: RgbImage, rowStart: number, rows: number, outWidth: number, c: Coefficients): RgbImage {
  const out = new Uint8Array(outWidth * rows * 3);
  const { ksize, first, count, weights } = c;
  for (let y = 0; y < rows; y++) {
    const inRow = (y + rowStart) * src.width * 3;
    const outRow = y * outWidth * 3;
    for (let x = 0; x < outWidth; x++) {
      let r = HALF, g = HALF, b = HALF;
      const k0 = x * ksize;
      let p = inRow + first[x] * 3;
      for (let j = 0; j < count[x]; j++, p += 3) {
        const k = weights[k0 + j];
        r += src.data[p] * k;
        g += src.data[p + 1] * k;
        b += src.data[p + 2] * k;
      }
      const o = outRow + x * 3;
      out[o] = clip8(r);
      out[o + 1] = clip8(g);
      out[o + 2] = clip8(b);
    }
  }
  return { width: outWidth, height: rows, data: out };
}

/** Vertical pass; `c.first` counts rows from `rowStart` of `src`. */
function vertical(src: RgbImage, rowStart: number, outHeight: number, c: Coefficients): RgbImage {
  const width = src.width;
  const out = new Uint8Array(width * outHeight * 3);
  const { ksize, first, count, weights } = c;
  for (let y = 0; y < outHeight; y++) {
    const k0 = y * ksize;
    const top = (first[y] - rowStart) * width * 3;
    for (let x = 0; x < width * 3; x += 3) {
      let r = HALF, g = HALF, b = HALF;
      let p = top + x;
      for (let j = 0; j < count[y]; j++, p += width * 3) {
        const k = weights[k0 + j];
        r += src.data[p] * k;
        g += src.data[p + 1] * k;
        b += src.data[p + 2] * k;
      }
      const o = y * width * 3 + x;
      out[o] = clip8(r);
      out[o + 1] = clip8(g);
      out[o + 2] = clip8(b);
    }
  }
  return { width, height: outHeight, data: out };
}

/**
 * Source indices of Pillow's nearest-neighbour scaling (`ImagingScaleAffine`): the position
 * starts at half a step and accumulates the step in float64, truncated; −1 where it falls outside.
 */
function nearestIndices(inSize: number, outSize: number): Int32Array {
  const step = inSize / outSize;
  const out = new Int32Array(outSize);
  let pos = step * 0.5;
  for (let i = 0; i < outSize; i++, pos += step) {
    const v = pos < 0 ? -1 : Math.trunc(pos);
    out[i] = v >= 0 && v < inSize ? v : -1;
  }
  return out;
}

function resizeNearest(image: RgbImage, width: number, height: number): RgbImage {
  const xs = nearestIndices(image.width, width);
  const ys = nearestIndices(image.height, height);
  const out = new Uint8Array(width * height * 3); // Pillow fills what it does not map with zeros
  for (let y = 0; y < height; y++) {
    if (ys[y] < 0) continue;
    const inRow = ys[y] * image.width * 3;
    for (let x = 0; x < width; x++) {
      if (xs[x] < 0) continue;
      const p = inRow + xs[x] * 3;
      const o = (y * width + x) * 3;
      out[o] = image.data[p];
      out[o + 1] = image.data[p + 1];
      out[o + 2] = image.data[p + 2];
    }
  }
  return { width, height, data: out };
}

/**
 * `image` resized to `width × height` with Pillow's `filter` (0–5), byte for byte what
 * `PIL.Image.resize((width, height), resample=filter)` gives for an RGB image. A new image;
 * `image` is not changed. Throws on sizes that are not positive integers or an unknown filter.
 */
export function resize(image: RgbImage, width: number, height: number, filter: ResampleFilter): RgbImage {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new Error(`resize: the target size must be positive whole pixels, got ${width} × ${height}`);
  }
  if (image.data.length !== image.width * image.height * 3) {
    throw new Error(`resize: ${image.width} × ${image.height} RGB needs ${image.width * image.height * 3} bytes, got ${image.data.length}`);
  }
  if (!isResampleFilter(filter)) throw new Error(`resize: unknown filter ${String(filter)}; Pillow's are 0 to 5`);
  if (width === image.width && height === image.height) return { width, height, data: image.data.slice() };
  if (filter === Resampling.NEAREST) return resizeNearest(image, width, height);
  const kernel = KERNELS[filter];
  // As Pillow: the vertical coefficients first, so the horizontal pass only makes the rows they use.
  const vert = coefficients(image.height, height, kernel);
  let src = image;
  let rowStart = 0;
  if (width !== image.width) {
    rowStart = vert.first[0];
    const rowEnd = vert.first[height - 1] + vert.count[height - 1];
    src = horizontal(image, rowStart, rowEnd - rowStart, width, coefficients(image.width, width, kernel));
  }
  if (height === image.height) return src.data === image.data ? { width, height, data: image.data.slice() } : src;
  return vertical(src, rowStart, height, vert);
}
