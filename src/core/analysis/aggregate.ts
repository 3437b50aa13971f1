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
export function rollout(layers: readonly AttentionRecord[]): AttentionRecord[] {
  if (layers.length === 0) return [];
  const n = layers[0].queries;
  for (const l of layers) if (l.queries !== n || l.keys !== n) throw new Error(`rollout needs square attention of one length; ${l.label} is ${l.queries}×${l.keys}`);
  const out: AttentionRecord[] = [];
  let acc: Float32Array | undefined;
  for (const l of layers) {
    const mean = meanOverHeads(l).data;
    const t = new Float64Array(n * n);
    for (let q = 0; q < n; q++) {
      let sum = 0;
      for (let k = 0; k < n; k++) sum += t[q * n + k] = 0.5 * mean[q * n + k] + (q === k ? 0.5 : 0);
      if (sum > 0) for (let k = 0; k < n; k++) t[q * n + k] /= sum;
    }
    acc = acc ? matmul(t, acc, n) : Float32Array.from(t);
    out.push({ ...l, id: `rollout(${l.id})`, label: `Rollout through ${l.label}`, heads: 1, data: acc });
  }
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
