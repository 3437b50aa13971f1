// A long run's outputs made into layers (src/core/engine/queryKeyRun.ts) when the model adds a
// position bias to its scores: kept as one row per head when it depends only on the distance from
// query to key (T5's buckets, ALiBi), refused by name when it does not. The T5 fixture runs through
// the engine in test/engine/queryKeys.test.ts; here the bias is made by hand.
import { describe, expect, it } from 'vitest';
import type { QueryKeyOutputs } from '../../src/core/engine/queryKeySurgery';
import { queryKeyLayers, relativeBias } from '../../src/core/engine/queryKeyRun';
import type { QueryKeyLayer } from '../../src/core/queryKeys';

const [H, N, D] = [2, 9, 2];
let seed = 3;
const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
const q = Float32Array.from({ length: H * N * D }, rnd);
const k = Float32Array.from({ length: H * N * D }, rnd);
/** The rows the bias output holds: the first query, the last, and ⌊n/4⌋, ⌊n/2⌋, ⌊3n/4⌋. */
const BIAS_ROWS = [0, N - 1, Math.floor(N / 4), Math.floor(N / 2), Math.floor((3 * N) / 4)];

/** The model's outputs for scores q·k + bias(h, i, j). */
function outputs(bias: (h: number, i: number, j: number) => number): { o: QueryKeyOutputs; results: Record<string, { dims: number[]; data: Float32Array }> } {
  const row = (h: number, i: number) => {
    const e = Array.from({ length: N }, (_, j) => {
      let dot = 0;
      for (let x = 0; x < D; x++) dot += q[(h * N + i) * D + x] * k[(h * N + j) * D + x];
      return Math.exp(dot + bias(h, i, j));
    });
    const z = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / z);
  };
  const probe = Float32Array.from(Array.from({ length: H }, (_, h) => [...row(h, 0), ...row(h, N - 1)]).flat());
  const added = Float32Array.from(Array.from({ length: H }, (_, h) => BIAS_ROWS.flatMap((i) => Array.from({ length: N }, (_, j) => bias(h, i, j)))).flat());
  return {
    o: { attention: 'encoder_attentions.0', q: 'q', keys: 'k', transposed: false, scale: 1, probe: 'probe', bias: 'bias' },
    results: { q: { dims: [1, H, N, D], data: q }, k: { dims: [1, H, N, D], data: k }, probe: { dims: [1, H, 2, N], data: probe }, bias: { dims: [1, H, 5, N], data: added } },
  };
}

const layersOf = (bias: (h: number, i: number, j: number) => number): QueryKeyLayer[] => {
  const { o, results } = outputs(bias);
  return queryKeyLayers([o], results as never, () => [N, N], false);
};

describe('a position bias in the scores', () => {
  it('is kept as one row per head when it depends only on the distance (T5\'s buckets, ALiBi)', () => {
    const rel = (h: number, r: number) => Math.fround(h === 0 ? -0.4 * Math.abs(r) : Math.cos(r)); // ALiBi-like, and arbitrary
    const [l] = layersOf((h, i, j) => rel(h, j - i));
    expect(l.bias).toBeDefined();
    // each head's bias less its value at distance 0, which no softmax sees
    for (let h = 0; h < H; h++) for (let r = -(N - 1); r <= N - 1; r++) expect(l.bias![h * (2 * N - 1) + N - 1 + r]).toBeCloseTo(rel(h, r) - rel(h, 0), 6);
    // BLOOM's ALiBi adds slope · j: the same as slope · (j − i) to every row's softmax
    const [bloom] = layersOf((h, i, j) => -0.25 * (h + 1) * j);
    for (let x = 0; x < 2 * N - 1; x++) expect(bloom.bias![x]).toBeCloseTo(-0.25 * (x - (N - 1)), 6);
  });

  it('is refused, naming the layer, when it depends on where the query is (an absolute position bias)', () => {
    // Relative in the first and last rows, which the probe rows check, but not in between.
    const bias = (h: number, i: number, j: number) => 0.2 * (j - i) + 2 * Math.sin((Math.PI * i) / (N - 1)) * j;
    expect(() => layersOf(bias)).toThrow(expect.objectContaining({ code: 'not-on-demand', message: expect.stringMatching(/^encoder Layer 1: .*distance from query to key/) }));
  });

  it('adds nothing for a mask alone: none is kept', () => {
    const [plain] = layersOf(() => 0);
    expect(plain.bias).toBeUndefined();
    // the causal mask of a decoder: nothing a query sees
    const causal: QueryKeyLayer = { ...plain, causal: true };
    const mask = Float32Array.from(Array.from({ length: H }, () => BIAS_ROWS.flatMap((i) => Array.from({ length: N }, (_, j) => (j > i ? -3.4e38 : 0)))).flat());
    expect(relativeBias({ dims: [1, H, 5, N], data: mask }, causal)).toBeUndefined();
    // one head's bias for every head (a bias shared across heads broadcasts)
    const shared = Float32Array.from(BIAS_ROWS.flatMap((i) => Array.from({ length: N }, (_, j) => j - i)));
    const b = relativeBias({ dims: [1, 1, 5, N], data: shared }, plain)!;
    expect([b.length, b[0], b[N - 1], b[2 * N - 2], b[2 * N - 1]]).toEqual([H * (2 * N - 1), -(N - 1), 0, N - 1, -(N - 1)]);
  });
});
