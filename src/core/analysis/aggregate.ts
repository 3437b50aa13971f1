/**
 * Aggregations of heads and layers as attention records: mean and max over heads, and attention
 * rollout across layers (Abnar & Zuidema 2020). Pure.
 */
import type { AttentionRecord } from '../attention';

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
  const size = r.queries * r.keys;
  const src = r.data; // once: a stored record's weights come through a getter
  return { ...overHeadsHeader(r, how), data: fuseHeads(r.heads, size, (h) => src.subarray(h * size, (h + 1) * size), how) };
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
  const n = layers[0].queries;
  for (const l of layers) if (l.queries !== n || l.keys !== n) throw new Error(`rollout needs square attention of one length; ${l.label} is ${l.queries}×${l.keys}`);
  const fusion = options.fusion ?? 'mean';
  let acc: RolloutMatrix | undefined;
  return layers.map((l) => {
    const data = l.data; // once: a stored record's weights come through a getter
    acc = rolloutStep(acc, fuseHeads(l.heads, n * n, (h) => data.subarray(h * n * n, (h + 1) * n * n), fusion), n, options.discard);
    return { ...rolloutHeader(l, options), data: acc.data };
  });
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
 * touched (a sixth of the full product's work). Four rows are made at a time, each row of
 * `previous` read once for the four (memory, not arithmetic, bounds this product).
 */
export function rolloutStep(previous: RolloutMatrix | undefined, fused: Float32Array, n: number, discard = 0): RolloutMatrix {
  const kept = discard > 0 ? discardLowest(fused, discard) : fused;
  const data = new Float32Array(n * n);
  const ends = new Int32Array(n);
  const t = new Float64Array(BLOCK * n);
  const rows = new Float64Array(BLOCK * n);
  const lasts = new Int32Array(BLOCK);
  for (let q0 = 0; q0 < n; q0 += BLOCK) {
    const count = Math.min(BLOCK, n - q0);
    let lastOfAll = 0, written = 0;
    for (let r = 0; r < count; r++) {
      // Ã's row: its weights, halved, and half on the diagonal; renormalised.
      const q = q0 + r, off = q * n, tr = r * n;
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
      for (let k = last + 1; k < n; k++) t[tr + k] = 0;
      lasts[r] = last;
      if (last > lastOfAll) lastOfAll = last;
    }
    if (!previous) {
      for (let r = 0; r < count; r++) for (let k = 0; k <= lasts[r]; k++) data[(q0 + r) * n + k] = t[r * n + k];
      written = lastOfAll + 1;
    } else {
      // Adding 0·b (a row past its last weight, or a 0 weight) leaves a sum as it is: the four rows share one loop.
      const b = previous.data;
      let reach = 0;
      rows.fill(0);
      for (let j = 0; j <= lastOfAll; j++) {
        const v0 = t[j], v1 = count > 1 ? t[n + j] : 0, v2 = count > 2 ? t[2 * n + j] : 0, v3 = count > 3 ? t[3 * n + j] : 0;
        if (v0 === 0 && v1 === 0 && v2 === 0 && v3 === 0) continue;
        const to = previous.ends[j], from = j * n;
        for (let k = 0; k < to; k++) {
          const x = b[from + k];
          rows[k] += v0 * x;
          rows[n + k] += v1 * x;
          rows[2 * n + k] += v2 * x;
          rows[3 * n + k] += v3 * x;
        }
        if (to > reach) reach = to;
      }
      for (let r = 0; r < count; r++) for (let k = 0; k < reach; k++) data[(q0 + r) * n + k] = rows[r * n + k];
      written = reach;
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

/** Rows of the rollout made together. */
const BLOCK = 4;

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
