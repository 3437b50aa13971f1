// The panel's compact layer store and the half-precision conversion under it.
import { describe, expect, it, vi } from 'vitest';
import { fromFloat16, toFloat16 } from '../../src/core/float16';
import { LayerStore, isStored, storedRecord } from '../../webview/panel/layerStore';
import { recordOfLayer } from '../../src/core/attention';

/** Deterministic pseudo-random numbers (mulberry32). */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Softmax rows of `n` keys: weights as attention produces them, large and tiny. */
function softmaxRows(rows: number, n: number, seed: number): Float32Array {
  const next = random(seed);
  const out = new Float32Array(rows * n);
  for (let r = 0; r < rows; r++) {
    let sum = 0;
    for (let k = 0; k < n; k++) sum += out[r * n + k] = Math.exp(12 * next() - 6);
    for (let k = 0; k < n; k++) out[r * n + k] /= sum;
  }
  return out;
}

const pause = () => Promise.resolve();

describe('float16', () => {
  it('gives back every half-precision value exactly', () => {
    const all = new Uint16Array(0x10000).map((_, h) => h);
    const values = fromFloat16(all);
    const again = toFloat16(values);
    for (let h = 0; h < 0x10000; h++) {
      if (Number.isNaN(values[h])) expect(Number.isNaN(fromFloat16(again.subarray(h, h + 1))[0])).toBe(true);
      else expect(again[h], `pattern ${h.toString(16)}`).toBe(h);
    }
  });

  it('rounds to the nearest half, ties to even, over the whole range', () => {
    const next = random(7);
    const xs = Float32Array.from({ length: 20000 }, (_, i) => (next() - 0.5) * 2 ** (Math.floor(next() * 44) - 30) * (i % 2 ? 1 : -1));
    const halves = toFloat16(xs);
    const ys = fromFloat16(halves);
    for (let i = 0; i < xs.length; i++) {
      const h = halves[i], err = Math.abs(ys[i] - xs[i]);
      // No neighbouring half is closer.
      for (const n of [h - 1, h + 1]) {
        if ((n & 0x7fff) >= 0x7c00 || n < 0 || n > 0xffff || (h & 0x7fff) === 0) continue;
        expect(err).toBeLessThanOrEqual(Math.abs(fromFloat16(Uint16Array.of(n))[0] - xs[i]));
      }
    }
    // Halfway between 1 and the next half (1 + 2⁻¹⁰): to the even one, 1; the next tie up goes up.
    expect(fromFloat16(toFloat16(Float32Array.of(1 + 2 ** -11, 1 + 3 * 2 ** -11)))).toEqual(Float32Array.of(1, 1 + 2 * 2 ** -10));
    // Subnormals, underflow, overflow and the specials.
    expect(Array.from(fromFloat16(toFloat16(Float32Array.of(2 ** -24, 3 * 2 ** -25, 2 ** -26, 65504, 70000, -Infinity, 0))))).toEqual([2 ** -24, 2 ** -23, 0, 65504, Infinity, -Infinity, 0]);
    expect(Number.isNaN(fromFloat16(toFloat16(Float32Array.of(NaN)))[0])).toBe(true);
  });

  it('keeps attention weights to a relative 2⁻¹¹ (absolute 3e-8 for the tiniest)', () => {
    const w = softmaxRows(64, 512, 3);
    const back = fromFloat16(toFloat16(w));
    for (let i = 0; i < w.length; i++) expect(Math.abs(back[i] - w[i])).toBeLessThanOrEqual(Math.max(w[i] * 2 ** -11, 3e-8));
  });
});

describe('LayerStore', () => {
  const layers = () => [0, 1, 2].map((s) => softmaxRows(4 * 64, 64, s)); // 3 layers of 4 heads × 64 × 64
  const naive = 3 * 4 * 64 * 64 * 4;

  it('leaves runs below its threshold in full precision', async () => {
    const ls = layers();
    const store = new LayerStore(ls, naive);
    expect(await store.compact(pause)).toBe(false);
    expect(store.heldBytes).toBe(naive);
    expect(store.data(1)).toBe(ls[1]);
  });

  it('keeps the pinned layer in full precision and the others in 16 bits, and reads any layer back exactly', async () => {
    const ls = layers();
    const copies = ls.map((l) => l.slice());
    const store = new LayerStore(ls, 1);
    await store.pin([0]);
    expect(await store.compact(pause)).toBe(true);
    // Layer 0 also in full precision (4 bytes a weight), every layer in 16 bits (2 bytes).
    expect(store.heldBytes).toBe(naive / 3 + naive / 2);
    expect(store.blobBytes).toBe(naive);
    expect(store.data(0)).toEqual(copies[0]);
    const decoded = store.data(2);
    expect(decoded).not.toEqual(copies[2]);
    for (let i = 0; i < decoded.length; i++) expect(Math.abs(decoded[i] - copies[2][i])).toBeLessThanOrEqual(Math.max(copies[2][i] * 2 ** -11, 3e-8));
    expect(await store.fullLayer(2)).toEqual(copies[2]);
    // Pinning layer 2: a 16-bit copy serves at once, then the full precision comes back; layer 0 gives its up.
    const upgrading = store.pin([2]);
    expect(store.isFull(0)).toBe(false);
    expect(store.isFull(2)).toBe(false);
    expect(await upgrading).toBe(true);
    expect(store.isFull(2)).toBe(true);
    expect(store.data(2)).toEqual(copies[2]);
    expect(store.heldBytes).toBe(naive / 3 + (3 * naive) / 3 / 2);
    expect(await store.pin([2])).toBe(false); // already there
  });

  it('says which layer could not be read back, and keeps showing its 16-bit copy', async () => {
    const store = new LayerStore(layers(), 1);
    await store.compact(pause);
    const read = vi.spyOn(Blob.prototype, 'arrayBuffer').mockRejectedValue(new Error('the blob is gone'));
    try {
      await expect(store.pin([1])).rejects.toThrow('the full-precision weights of layer 2 could not be read back (the blob is gone); run Show Attention again');
      expect(store.data(1)).toHaveLength(4 * 64 * 64);
      await expect(store.fullLayer(2)).rejects.toThrow(/layer 3 could not be read back/);
    } finally {
      read.mockRestore();
    }
  });

  it('abandons a read-back when the layers on screen changed meanwhile', async () => {
    const store = new LayerStore(layers(), 1);
    await store.compact(pause);
    const first = store.pin([1]);
    const second = store.pin([2]);
    expect(await first).toBe(false);
    expect(await second).toBe(true);
    expect(store.isFull(1)).toBe(false);
    expect(store.isFull(2)).toBe(true);
  });

  it('decodes at most two layers off screen at a time, and reuses them', async () => {
    const store = new LayerStore(layers(), 1);
    await store.compact(pause);
    const a = store.data(0);
    expect(store.data(0)).toBe(a);
    store.data(1);
    store.data(2);
    expect(store.heldBytes).toBe((3 * naive) / 3 / 2 + (2 * naive) / 3);
    expect(store.data(0)).not.toBe(a); // decoded again
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(store.heldBytes).toBe((3 * naive) / 3 / 2); // released after the task
  });

  it('stops compacting when told, and takes layers that arrive later', async () => {
    const store = new LayerStore(layers().slice(0, 1), 1);
    let calls = 0;
    expect(await store.compact(pause, () => ++calls > 0)).toBe(false);
    expect(store.isFull(0)).toBe(true);
    store.append(layers().slice(1));
    expect(store.length).toBe(3);
    expect(await store.compact(pause)).toBe(true);
    expect([0, 1, 2].map((i) => store.isFull(i))).toEqual([false, false, false]);
  });

  it('without Blobs, keeps only 16 bits off screen and takes the full precision made again for the layer on screen', async () => {
    const ls = layers();
    const store = new LayerStore(ls, 1, false);
    await store.pin([0]);
    await store.compact(pause);
    expect(store.blobBytes).toBe(0);
    expect(store.isFull(0)).toBe(true);
    expect(await store.pin([1])).toBe(false); // nothing to read back: a 16-bit copy shows
    expect(store.isFull(0)).toBe(false);
    const exact = ls[1].slice();
    store.replace(1, exact);
    expect(store.data(1)).toBe(exact);
    await store.pin([2]);
    expect(store.isFull(1)).toBe(false); // off screen again: its 16-bit copy stays
    expect(store.heldBytes).toBe(naive / 2 + naive / 3);
    await expect(store.fullLayer(0)).rejects.toThrow(/not held/);
  });

  it('gives records whose weights follow the store, and which a spread does not copy', async () => {
    const ls = layers();
    const store = new LayerStore(ls, 1);
    const tokens = Array.from({ length: 64 }, (_, i) => ({ id: i, text: `t${i}`, start: i, end: i + 1, special: false }));
    const r = storedRecord(recordOfLayer({ name: 'attentions.1', kind: 'self', layer: 1, heads: 4, queries: 64, keys: 64, data: ls[1] }, { tokens, causal: false }), store, 1);
    expect(r.data).toBe(ls[1]);
    expect(isStored(r)).toBe(true);
    expect(isStored({ ...r, data: ls[1] })).toBe(false);
    expect(Object.keys({ ...r })).not.toContain('data');
    await store.compact(pause);
    expect(r.data).not.toBe(ls[1]);
    expect(r.data.length).toBe(ls[1].length);
  });
});
