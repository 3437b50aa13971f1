/**
 * Aggregations of heads and layers as attention records: mean and max over heads, and attention
 * rollout across layers (Abnar & Zuidema 2020). Pure.
 */
import type { AttentionRecord } from '../attention';
import { ROLLOUT_WASM } from '../kernels/rolloutWasm';

/** How heads are combined where one head could be shown. */
export type Aggregation = 'mean' | 'max' | 'rollout';

/** One record of a single head: the mean over heads. */
export function meanOverHeads(r: AttentionRecord): AttentionRecord {
  return overHeads(r, 'mean');
}

/** One record of a single head: the elementwise max over heads (rows no longer sum to 1). */
export function maxOverHeads(r: AttentionRecord): AttentionRecord {
  return overHeads(r, 'max');
}

/** The mean or max over heads without its weights (`data` empty): one head, its names, as `meanOverHeads`/`maxOverHeads` make them. */
export function overHeadsHeader(r: AttentionRecord, how: 'mean' | 'max'): AttentionRecord {
  return { ...r, id: `${how}(${r.id})`, label: `${r.label} · ${how} of all ${r.heads} heads`, heads: 1, data: new Float32Array(0) };
}

function overHeads(r: AttentionRecord, how: 'mean' | 'max'): AttentionRecord {
  return { ...overHeadsHeader(r, how), data: fusedRecord(r, how) };
}

/** `r`'s heads fused into one `[queries][keys]` (`fuseHeads`). */
export function fusedRecord(r: AttentionRecord, fusion: 'mean' | 'max' | 'min'): Float32Array {
  const size = r.queries * r.keys;
  const src = r.data; // once: a stored record's weights come through a getter
  return fuseHeads(r.heads, size, (h) => src.subarray(h * size, (h + 1) * size), fusion);
}

/**
 * Heads given one at a time (`head(h)`, `[queries][keys]`, `size` weights; it may reuse one array)
 * fused into one `[queries][keys]`: their mean, max or min, in head order and float32 as the
 * views' aggregates and the rollout make them (the same bits whichever way the heads come).
 */
export function fuseHeads(heads: number, size: number, head: (h: number) => ArrayLike<number>, fusion: 'mean' | 'max' | 'min'): Float32Array {
  if (fusion === 'min') {
    const out = Float32Array.from(head(0) as ArrayLike<number>);
    for (let h = 1; h < heads; h++) {
      const src = head(h);
      for (let i = 0; i < size; i++) out[i] = Math.min(out[i], src[i]);
    }
    return out;
  }
  const out = new Float32Array(size);
  for (let h = 0; h < heads; h++) {
    const src = head(h);
    if (fusion === 'mean') for (let i = 0; i < size; i++) out[i] = out[i] + src[i] / heads;
    else for (let i = 0; i < size; i++) out[i] = Math.max(out[i], src[i]);
  }
  return out;
}

/**
 * Attention rollout of square self-attention records given in layer order: for each layer,
 * Ã = 0.5·mean over heads + 0.5·I with rows renormalised, and rollout after layer L is
 * Ã_L·…·Ã_1. Returns one single-head record per layer.
 */
export function rollout(layers: readonly AttentionRecord[], options: RolloutOptions = {}): AttentionRecord[] {
  if (layers.length === 0) return [];
  const n = rolloutLength(layers);
  const fusion = options.fusion ?? 'mean';
  let acc: RolloutMatrix | undefined;
  return layers.map((l) => {
    acc = rolloutStep(acc, fusedRecord(l, fusion), n, options.discard);
    return { ...rolloutHeader(l, options), data: acc.data };
  });
}

/** The one length n of `layers` (at least one), each n × n; throws naming a layer that is not, as a rollout needs. */
export function rolloutLength(layers: readonly AttentionRecord[]): number {
  const n = layers[0].queries;
  for (const l of layers) if (l.queries !== n || l.keys !== n) throw new Error(`rollout needs square attention of one length; ${l.label} is ${l.queries}×${l.keys}`);
  return n;
}

/** Layer `l`'s rollout record without its weights (`data` empty), named as `rollout` names it. */
export function rolloutHeader(l: AttentionRecord, options: RolloutOptions = {}): AttentionRecord {
  const fusion = options.fusion ?? 'mean';
  const discard = options.discard ?? 0;
  const how = [fusion !== 'mean' ? `${fusion} of heads` : '', discard > 0 ? `lowest ${Math.round(discard * 100)} % discarded` : ''].filter(Boolean).join(', ');
  return { ...l, id: `rollout(${l.id})`, label: `Rollout through ${l.label}${how ? ` (${how})` : ''}`, heads: 1, data: new Float32Array(0) };
}

/** A rollout through some layers, `[n][n]`, with where each row's weights end (one past its last key that is not 0). */
export interface RolloutMatrix {
  data: Float32Array;
  ends: Int32Array;
}

/**
 * One layer of the rollout: Ã from the layer's fused heads `fused` `[n][n]` (the lowest `discard`
 * share dropped first), times the rollout through the layers before (`previous`; none for the
 * first). In float64, each element of the product summed in key order, so a long input's rollout,
 * made a layer at a time in a worker, has the same bits as one made from every layer. Rows are
 * written only up to their last weight that is not 0: the product of causal layers stays
 * lower-triangular, and neither its upper half nor the products that would fill it with 0 are
 * touched (a sixth of the full product's work). The product is WebAssembly (kernels/rollout.wat):
 * four rows and four keys at a time, each value of `previous` read once for the four rows.
 */
export function rolloutStep(previous: RolloutMatrix | undefined, fused: Float32Array, n: number, discard = 0): RolloutMatrix {
  const kept = discard > 0 ? discardLowest(fused, discard) : fused;
  const data = new Float32Array(n * n);
  const ends = new Int32Array(n);
  const np = (n + 3) & ~3;
  const kernel = previous ? productKernel(previous, n, np) : undefined;
  const t = kernel?.t ?? new Float64Array(4 * np);
  for (let q0 = 0; q0 < n; q0 += 4) {
    const count = Math.min(4, n - q0);
    let lastOfAll = 0;
    t.fill(0);
    for (let r = 0; r < count; r++) {
      // Ã's row: its weights, halved, and half on the diagonal; renormalised.
      const q = q0 + r, off = q * n, tr = r * np;
      let last = q;
      for (let k = n - 1; k > q; k--) {
        if (kept[off + k] !== 0) {
          last = k;
          break;
        }
      }
      let sum = 0;
      for (let k = 0; k <= last; k++) sum += t[tr + k] = 0.5 * kept[off + k] + (q === k ? 0.5 : 0);
      if (sum > 0) for (let k = 0; k <= last; k++) t[tr + k] /= sum;
      if (last > lastOfAll) lastOfAll = last;
    }
    let written = lastOfAll + 1;
    if (!kernel) {
      for (let r = 0; r < count; r++) data.set(t.subarray(r * np, r * np + written), (q0 + r) * n);
    } else {
      // The keys the product reaches: the rows of `previous` the block weighs, as far as they go.
      written = 0;
      for (let j = 0; j <= lastOfAll; j++) {
        if (previous!.ends[j] > written && (t[j] !== 0 || t[np + j] !== 0 || t[2 * np + j] !== 0 || t[3 * np + j] !== 0)) written = previous!.ends[j];
      }
      kernel.product(lastOfAll, (written + 3) & ~3);
      for (let r = 0; r < count; r++) data.set(kernel.out.subarray(r * np, r * np + written), (q0 + r) * n);
    }
    for (let r = 0; r < count; r++) {
      const off = (q0 + r) * n;
      let end = written;
      while (end > 0 && data[off + end - 1] === 0) end--;
      ends[q0 + r] = end;
    }
  }
  return { data, ends };
}

/** The compiled product, compiled once per thread; each layer's instance (and its memory, the previous rollout's size) goes with the layer. */
let productModule: WebAssembly.Module | undefined;

/**
 * rollout.wat's product over `previous` laid out in a new instance's memory (rows padded to `np`,
 * a multiple of 4): `t` takes four rows of Ã, `product(last, reach)` multiplies them into `out`.
 */
function productKernel(previous: RolloutMatrix, n: number, np: number) {
  productModule ??= new WebAssembly.Module(ROLLOUT_WASM);
  const x = new WebAssembly.Instance(productModule, {}).exports as unknown as { memory: WebAssembly.Memory; product(t: number, b: number, ends: number, starts: number, np: number, last: number, reach: number, out: number): void };
  const b = 0, endsAt = b + 4 * n * np, startsAt = endsAt + 4 * n, tAt = (startsAt + np + 7) & ~7, outAt = tAt + 32 * np;
  const bytes = outAt + 16 * np;
  x.memory.grow(Math.max(0, Math.ceil(bytes / 65536) - x.memory.buffer.byteLength / 65536));
  const buffer = x.memory.buffer;
  const rows = new Float32Array(buffer, b, n * np);
  for (let j = 0; j < n; j++) rows.set(previous.data.subarray(j * n, j * n + previous.ends[j]), j * np);
  new Int32Array(buffer, endsAt, n).set(previous.ends);
  // starts[k / 4]: the first row that reaches key k (rows before it are 0 there).
  const starts = new Int32Array(buffer, startsAt, np / 4).fill(n);
  for (let j = n - 1; j >= 0; j--) for (let c = 0; c * 4 < previous.ends[j]; c++) starts[c] = j;
  return {
    t: new Float64Array(buffer, tAt, 4 * np),
    out: new Float32Array(buffer, outAt, 4 * np),
    product: (last: number, reach: number) => x.product(tAt, b, endsAt, startsAt, np, last, reach, outAt),
  };
}

/** How rollout fuses each layer's heads (vit-explain's head fusion) and which weights it drops first. */
export interface RolloutOptions {
  /** The mean of the heads (Abnar & Zuidema), or their max or min. */
  fusion?: 'mean' | 'max' | 'min';
  /** Drop this share (0–1) of each fused layer's smallest weights before the identity is added, as vit-explain does (the first token's weight on itself is kept). */
  discard?: number;
}

/**
 * `m` with its `share` smallest entries set to 0 (ties broken by position), except entry 0 (the
 * first token on itself), which vit-explain keeps. The cut is found in a sorted copy (a long
 * input's layer has 16.7 million weights at 4,096 tokens: no array of indices is sorted).
 */
function discardLowest(m: Float32Array, share: number): Float32Array {
  const count = Math.floor(m.length * share);
  const out = Float32Array.from(m);
  if (count <= 0) return out;
  const cut = Float32Array.from(m).sort()[count - 1];
  let ties = count;
  for (let i = 0; i < m.length; i++) if (m[i] < cut) ties--;
  for (let i = 0; i < m.length; i++) {
    if (m[i] < cut || (m[i] === cut && ties-- > 0)) {
      if (i !== 0) out[i] = 0;
    }
  }
  return out;
}
