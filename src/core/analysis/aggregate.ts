/**
 * Aggregations of heads and layers as attention records: mean and max over heads, and attention
 * rollout across layers (Abnar & Zuidema 2020). Pure.
 */
import type { AttentionRecord } from '../attention';

/** How heads are combined where one head could be shown. */
export type Aggregation = 'mean' | 'max' | 'rollout';

/** One record of a single head: the mean over heads. */
export function meanOverHeads(r: AttentionRecord): AttentionRecord {
  return overHeads(r, 'mean', (acc, v) => acc + v / r.heads);
}

/** One record of a single head: the elementwise max over heads (rows no longer sum to 1). */
export function maxOverHeads(r: AttentionRecord): AttentionRecord {
  return overHeads(r, 'max', (acc, v) => Math.max(acc, v));
}

/** The mean or max over heads without its weights (`data` empty): one head, its names, as `meanOverHeads`/`maxOverHeads` make them. */
export function overHeadsHeader(r: AttentionRecord, how: 'mean' | 'max'): AttentionRecord {
  return { ...r, id: `${how}(${r.id})`, label: `${r.label} · ${how} of all ${r.heads} heads`, heads: 1, data: new Float32Array(0) };
}

function overHeads(r: AttentionRecord, how: 'mean' | 'max', f: (acc: number, v: number) => number): AttentionRecord {
  const n = r.queries * r.keys;
  const data = new Float32Array(n);
  const src = r.data; // once: a stored record's weights come through a getter
  for (let h = 0; h < r.heads; h++) {
    const off = h * n;
    for (let i = 0; i < n; i++) data[i] = f(data[i], src[off + i]);
  }
  return { ...overHeadsHeader(r, how), data };
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
  const discard = options.discard ?? 0;
  const how = [fusion !== 'mean' ? `${fusion} of heads` : '', discard > 0 ? `lowest ${Math.round(discard * 100)} % discarded` : ''].filter(Boolean).join(', ');
  const out: AttentionRecord[] = [];
  let acc: Float32Array | undefined;
  for (const l of layers) {
    const fused = fusion === 'mean' ? meanOverHeads(l).data : fusion === 'max' ? maxOverHeads(l).data : minOverHeads(l);
    const kept = discard > 0 ? discardLowest(fused, discard) : fused;
    const t = new Float64Array(n * n);
    for (let q = 0; q < n; q++) {
      let sum = 0;
      for (let k = 0; k < n; k++) sum += t[q * n + k] = 0.5 * kept[q * n + k] + (q === k ? 0.5 : 0);
      if (sum > 0) for (let k = 0; k < n; k++) t[q * n + k] /= sum;
    }
    acc = acc ? matmul(t, acc, n) : Float32Array.from(t);
    out.push({ ...l, id: `rollout(${l.id})`, label: `Rollout through ${l.label}${how ? ` (${how})` : ''}`, heads: 1, data: acc });
  }
  return out;
}

/** How rollout fuses each layer's heads (vit-explain's head fusion) and which weights it drops first. */
export interface RolloutOptions {
  /** The mean of the heads (Abnar & Zuidema), or their max or min. */
  fusion?: 'mean' | 'max' | 'min';
  /** Drop this share (0–1) of each fused layer's smallest weights before the identity is added, as vit-explain does (the first token's weight on itself is kept). */
  discard?: number;
}

/** The minimum over heads, `[queries][keys]`. */
function minOverHeads(l: AttentionRecord): Float32Array {
  const size = l.queries * l.keys;
  const out = Float32Array.from(l.data.subarray(0, size));
  for (let h = 1; h < l.heads; h++) for (let i = 0; i < size; i++) out[i] = Math.min(out[i], l.data[h * size + i]);
  return out;
}

/**
 * `m` with its `share` smallest entries set to 0 (ties broken by position), except entry 0 (the
 * first token on itself), which vit-explain keeps.
 */
function discardLowest(m: Float32Array, share: number): Float32Array {
  const count = Math.floor(m.length * share);
  const order = Array.from(m.keys()).sort((a, b) => m[a] - m[b] || a - b).slice(0, count);
  const out = Float32Array.from(m);
  for (const i of order) if (i !== 0) out[i] = 0;
  return out;
}

/** `a · b` for n×n matrices (`a` in float64 for accuracy, the result in float32). */
function matmul(a: Float64Array, b: Float32Array, n: number): Float32Array {
  const out = new Float32Array(n * n);
  const tmp = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    tmp.fill(0);
    for (let j = 0; j < n; j++) {
      const v = a[i * n + j];
      if (v === 0) continue;
      const bj = b.subarray(j * n, j * n + n);
      for (let k = 0; k < n; k++) tmp[k] += v * bj[k];
    }
    out.set(tmp, i * n);
  }
  return out;
}
