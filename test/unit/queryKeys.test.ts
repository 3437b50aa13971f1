// Rows of attention from queries and keys (src/core/queryKeys.ts) against hand-worked answers:
// the softmax of scaled dot products, the causal mask, a sliding window, padding, shared key heads.
import { describe, expect, it } from 'vitest';
import { type QueryKeyLayer, headByHead, headsFirst, layerWeights, sharedHeads, weightRows } from '../../src/core/queryKeys';

const E = Math.E;
/** Two heads over three tokens in two dimensions; head 1 shares head 0's keys when kvHeads is 1. */
function layer(over: Partial<QueryKeyLayer> = {}): QueryKeyLayer {
  return {
    name: 'attentions.0', kind: 'self', layer: 0, heads: 2, kvHeads: 1, queries: 3, keys: 3, headDim: 2, scale: 1, causal: false,
    // head 0: q = e0, e1, e0+e1; head 1: q = 0 (uniform rows)
    q: Float32Array.of(1, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0),
    k: Float32Array.of(1, 0, 0, 1, 0, 0), // keys e0, e1, 0
    ...over,
  };
}
const close = (a: ArrayLike<number>, b: number[]) => b.forEach((x, i) => expect(a[i]).toBeCloseTo(x, 6));

describe('weightRows', () => {
  it('is the softmax of scale·q·k over every key of a bidirectional layer', () => {
    const rows = weightRows(layer(), 0, 0, 3);
    const z = E + 2;
    close(rows, [E / z, 1 / z, 1 / z, 1 / z, E / z, 1 / z, E / (2 * E + 1), E / (2 * E + 1), 1 / (2 * E + 1)]);
    close(weightRows(layer(), 1, 1, 2), [1 / 3, 1 / 3, 1 / 3]); // a zero query: uniform
    close(weightRows(layer({ scale: 2 }), 0, 0, 1), [E * E / (E * E + 2), 1 / (E * E + 2), 1 / (E * E + 2)]);
  });

  it('hides later keys under a causal mask, and keys outside a sliding window', () => {
    close(weightRows(layer({ causal: true }), 0, 0, 3), [1, 0, 0, 1 / (1 + E), E / (1 + E), 0, E / (2 * E + 1), E / (2 * E + 1), 1 / (2 * E + 1)]);
    close(weightRows(layer({ causal: true, window: 2 }), 0, 2, 3), [0, E / (E + 1), 1 / (E + 1)]);
    // More keys than queries (a past): query i sits at position i + keys − queries.
    const past = layer({ causal: true, queries: 1, q: Float32Array.of(1, 0, 0, 0) });
    close(weightRows(past, 0, 0, 1), [E / (E + 2), 1 / (E + 2), 1 / (E + 2)]);
  });

  it('gives padding keys no weight, and a row with no key left is 0', () => {
    close(weightRows(layer({ keyMask: Uint8Array.of(1, 0, 1) }), 0, 0, 1), [E / (E + 1), 0, 1 / (E + 1)]);
    close(weightRows(layer({ keyMask: Uint8Array.of(0, 0, 0) }), 0, 0, 1), [0, 0, 0]);
  });

  it('equals the definition on a larger layer: any row range, odd counts, grouped keys, a past, a window and padding', () => {
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
    const heads = 4, kvHeads = 2, keys = 37, d = 6;
    for (const [queries, causal, window, masked] of [[37, false, undefined, false], [29, true, undefined, true], [37, true, 10, true], [1, true, undefined, false]] as const) {
      const l = layer({ heads, kvHeads, queries, keys, headDim: d, scale: 0.4, causal, window, q: Float32Array.from({ length: heads * queries * d }, rnd), k: Float32Array.from({ length: kvHeads * keys * d }, rnd), keyMask: masked ? Uint8Array.from({ length: keys }, (_, j) => (j % 7 === 3 ? 0 : 1)) : undefined });
      for (const [head, from, to] of [[0, 0, queries], [3, Math.min(5, queries - 1), Math.min(30, queries)], [2, queries - 1, queries]]) {
        const rows = weightRows(l, head, from, to);
        for (let i = from; i < to; i++) {
          // The definition: softmax over the keys query i sees of scale · q·k, with the key head of its group.
          const pos = i + keys - queries;
          const seen = (j: number) => (!causal || j <= pos) && (!window || j > pos - window) && (!masked || j % 7 !== 3);
          const g = Math.floor(head / (heads / kvHeads));
          const scores = Array.from({ length: keys }, (_, j) => {
            let dot = 0;
            for (let x = 0; x < d; x++) dot += l.q[(head * queries + i) * d + x] * l.k[(g * keys + j) * d + x];
            return seen(j) ? Math.exp(0.4 * dot) : 0;
          });
          const z = scores.reduce((a, b) => a + b, 0);
          for (let j = 0; j < keys; j++) expect(Math.abs(rows[(i - from) * keys + j] - scores[j] / z)).toBeLessThan(1e-7);
        }
      }
    }
  });

  it('adds a relative position bias to each head\'s scores, −∞ where it hides a key', () => {
    let seed = 9;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
    const [heads, kvHeads, n, d] = [4, 2, 13, 3];
    for (const causal of [false, true]) {
      // bias of head h at relative position r = j − i: random, except −∞ at r = −5 (no key five back)
      const rel = (h: number, r: number) => (r === -5 ? -Infinity : Math.fround(3 * Math.sin(h + 0.7 * r)));
      const bias = Float32Array.from({ length: heads * (2 * n - 1) }, (_, x) => rel(Math.floor(x / (2 * n - 1)), (x % (2 * n - 1)) - (n - 1)));
      const l = layer({ heads, kvHeads, queries: n, keys: n, headDim: d, scale: 0.5, causal, bias, q: Float32Array.from({ length: heads * n * d }, rnd), k: Float32Array.from({ length: kvHeads * n * d }, rnd) });
      for (let h = 0; h < heads; h++) {
        const rows = weightRows(l, h, 0, n);
        for (let i = 0; i < n; i++) {
          const g = Math.floor(h / (heads / kvHeads));
          const e = Array.from({ length: n }, (_, j) => {
            if (causal && j > i) return 0;
            let dot = 0;
            for (let x = 0; x < d; x++) dot += l.q[(h * n + i) * d + x] * l.k[(g * n + j) * d + x];
            return Math.exp(0.5 * dot + rel(h, j - i));
          });
          const z = e.reduce((a, b) => a + b, 0);
          for (let j = 0; j < n; j++) expect(Math.abs(rows[i * n + j] - e[j] / z)).toBeLessThan(1e-7);
        }
      }
    }
  });

  it('headByHead gives each head in turn in one array, as weightRows does', () => {
    let seed = 5;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) * 4 - 2;
    const [heads, n, d] = [4, 21, 4];
    const l = layer({ heads, kvHeads: 2, queries: n, keys: n, headDim: d, causal: true, window: 6, keyMask: Uint8Array.from({ length: n }, (_, j) => (j % 5 === 1 ? 0 : 1)), q: Float32Array.from({ length: heads * n * d }, rnd), k: Float32Array.from({ length: 2 * n * d }, rnd) });
    const next = headByHead(l);
    const first = next(2);
    for (const h of [2, 0, 3, 1, 3]) {
      const got = next(h);
      expect(got).toBe(first);
      expect(Array.from(got)).toEqual(Array.from(weightRows(l, h, 0, n)));
    }
  });

  it('layerWeights lays the heads out [heads][queries][keys]', () => {
    const l = layerWeights(layer());
    expect([l.heads, l.queries, l.keys, l.data.length]).toEqual([2, 3, 3, 18]);
    close(l.data.subarray(9), Array(9).fill(1 / 3));
  });
});

describe('key layouts', () => {
  it('sharedHeads keeps one head per group of repeated key heads, and leaves distinct heads alone', () => {
    const A = [1, 2, 3, 4];
    const B = [5, 6, 7, 8];
    const k = (blocks: number[][]) => ({ heads: blocks.length, tokens: 2, dim: 2, data: Float32Array.from(blocks.flat()) });
    const grouped = sharedHeads(k([A, A, B, B]));
    expect([grouped.heads, Array.from(grouped.data)]).toEqual([2, [...A, ...B]]);
    expect(sharedHeads(k([A, A, A, A])).heads).toBe(1);
    expect(sharedHeads(k([A, B, A, B])).heads).toBe(4); // not a grouped-query repetition
  });

  it('headsFirst splits a fused operator\'s [1, n, heads·d] into [heads][n][d]', () => {
    const t = { dims: [1, 2, 4], data: Float32Array.of(1, 2, 3, 4, 5, 6, 7, 8) }; // 2 tokens, 2 heads of 2
    const h = headsFirst('queries', t, 2);
    expect([h.heads, h.tokens, h.dim, Array.from(h.data)]).toEqual([2, 2, 2, [1, 2, 5, 6, 3, 4, 7, 8]]);
    expect(() => headsFirst('queries', { dims: [1, 2, 3], data: new Float32Array(6) }, 2)).toThrow(/does not split into heads/);
  });
});
