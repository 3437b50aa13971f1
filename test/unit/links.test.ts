import { describe, expect, it } from 'vitest';
import type { AttentionLayer } from '../../src/core/attention';
import { DENSE_LIMIT, alphaBucket, selectLinks } from '../../src/core/analysis/links';
import { MIN_LINK_WEIGHT as MIN_WEIGHT } from '../../src/core/analysis/thresholds';

function randomLayer(n: number, causal: boolean, seed = 1): AttentionLayer {
  let s = seed;
  const rand = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
  const data = new Float32Array(n * n);
  for (let q = 0; q < n; q++) {
    const limit = causal ? q + 1 : n;
    let sum = 0;
    for (let k = 0; k < limit; k++) sum += data[q * n + k] = rand() ** 4;
    for (let k = 0; k < limit; k++) data[q * n + k] /= sum;
  }
  return { name: 'attentions.0', kind: 'self', layer: 0, heads: 1, queries: n, keys: n, data };
}

describe('selectLinks', () => {
  it('draws every visible link of a short input', () => {
    const l = randomLayer(10, false);
    const set = selectLinks(l, 0, 3, false);
    const expected = Array.from(l.data).filter((w) => w >= MIN_WEIGHT).length;
    expect(set.length).toBe(expected);
  });

  it('keeps only the strongest links per query for long inputs', () => {
    const n = DENSE_LIMIT + 36;
    const l = randomLayer(n, false);
    const set = selectLinks(l, 0, 4, false);
    const perQuery = new Map<number, number[]>();
    for (let i = 0; i < set.length; i++) perQuery.set(set.query[i], [...(perQuery.get(set.query[i]) ?? []), set.weight[i]]);
    for (const [q, ws] of perQuery) {
      expect(ws.length).toBeLessThanOrEqual(4);
      const row = Array.from(l.data.subarray(q * n, (q + 1) * n)).sort((a, b) => b - a);
      expect(Math.max(...ws)).toBeCloseTo(row[0]);
    }
  });

  it('never draws links to the future for causal models', () => {
    const l = randomLayer(DENSE_LIMIT + 10, true);
    for (const max of [3, 500]) {
      const set = selectLinks(l, 0, max, true);
      for (let i = 0; i < set.length; i++) expect(set.key[i]).toBeLessThanOrEqual(set.query[i]);
    }
  });

  it('maps weights to opacity buckets monotonically', () => {
    expect(alphaBucket(0)).toBe(0);
    expect(alphaBucket(1)).toBe(15);
    expect(alphaBucket(0.5)).toBeGreaterThan(alphaBucket(0.2));
  });
});
