// The WebAssembly kernel behind weightRows (src/core/kernels): its committed bytes are what its text
// compiles to, its exp and softmax hold to float32 precision over the whole range of scores, and
// the bookkeeping around it (odd head sizes, reused output rows, keys loaded again) is right.
// The rows' definition over masks, windows and grouped keys is tested in queryKeys.test.ts.
import { describe, expect, it } from 'vitest';
import { type QueryKeyLayer, weightRows } from '../../src/core/queryKeys';
import { ROWS_WASM } from '../../src/core/kernels/rowsWasm';
import { ROLLOUT_WASM } from '../../src/core/kernels/rolloutWasm';
// @ts-expect-error: a plain script of the build, without types
import { compileKernel } from '../../scripts/build-kernels.mjs';

/** One head, one query, keys whose dot products with the query are `dots` (head size 1, q = 1). */
function scored(dots: number[], over: Partial<QueryKeyLayer> = {}): QueryKeyLayer {
  return { name: 'attentions.0', kind: 'self', layer: 0, heads: 1, kvHeads: 1, queries: 1, keys: dots.length, headDim: 1, scale: 1, causal: false, q: Float32Array.of(1), k: Float32Array.from(dots), ...over };
}

/** The definition in float64 with Math.exp, of scores as the float32 keys hold them. */
function softmax(dots: number[]): number[] {
  const scores = dots.map(Math.fround);
  const max = Math.max(...scores);
  const e = scores.map((s) => Math.exp(s - max));
  const z = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / z);
}

/** Whether `a` is `b` rounded to float32 (within one unit in the last place of float32). */
const f32Close = (a: number, b: number) => Math.abs(a - b) <= Math.max(Math.abs(b) * 2 ** -23, 1.5e-45);

describe('the rows kernel', () => {
  it('is what rows.wat compiles to, and the rollout\'s product what rollout.wat does (run `npm run build:kernels` after editing them)', async () => {
    for (const [file, committed] of [['rows.wat', ROWS_WASM], ['rollout.wat', ROLLOUT_WASM]] as const) {
      const bytes: Uint8Array = await compileKernel(file);
      expect([file, Buffer.from(committed).equals(Buffer.from(bytes))]).toEqual([file, true]);
    }
  });

  it('gives each weight to float32 precision, for score gaps from 0 to beyond e^−708', () => {
    const gaps: number[] = [];
    for (let x = 0; x <= 120; x += 0.37) gaps.push(-x);
    gaps.push(-700, -708, -709, -745, -800, -1e6);
    for (const g of gaps) {
      // two keys (the pair path) and three (the odd one at the end), scores 0, g and g / 2
      for (const dots of [[0, g], [g / 2, 0, g]]) {
        const rows = weightRows(scored(dots), 0, 0, 1);
        softmax(dots).forEach((w, j) => expect(f32Close(rows[j], w), `gap ${g}, key ${j}: ${rows[j]} against ${w}`).toBe(true));
      }
    }
  });

  it('sums every row to 1 over a thousand keys with wide scores', () => {
    let seed = 3;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
    const dots = Array.from({ length: 1001 }, () => 40 * rnd());
    const rows = weightRows(scored(dots), 0, 0, 1);
    const want = softmax(dots);
    let sum = 0;
    rows.forEach((w, j) => {
      sum += w;
      expect(f32Close(w, want[j])).toBe(true);
    });
    expect(Math.abs(sum - 1)).toBeLessThan(1e-5);
  });

  it('pads an odd head size with zeros', () => {
    // head size 3: q = (1, 2, 3), keys (1, 0, 0), (0, 0, 1), (1, 1, 1): dots 1, 3, 6
    const l = scored([0, 0, 0], { headDim: 3, q: Float32Array.of(1, 2, 3), k: Float32Array.of(1, 0, 0, 0, 0, 1, 1, 1, 1) });
    const rows = weightRows(l, 0, 0, 1);
    softmax([1, 3, 6]).forEach((w, j) => expect(f32Close(rows[j], w)).toBe(true));
  });

  it('clears what it does not write in a reused row, and leaves a new array untouched there', () => {
    const l = scored([0, 1, 2], { causal: true, queries: 2, q: Float32Array.of(1, 1), keys: 3, k: Float32Array.of(0, 1, 2) });
    const reused = new Float32Array(6).fill(9);
    weightRows(l, 0, 0, 2, reused);
    // query 0 sits at key 1 (one key of past): it sees keys 0 and 1
    expect(Array.from(reused.subarray(0, 3)).map((x, j) => f32Close(x, [...softmax([0, 1]), 0][j]))).toEqual([true, true, true]);
    expect(reused.subarray(3).every((x) => x < 1)).toBe(true);
  });

  it('loads the keys again for another array or key head of the same shape', () => {
    const a = scored([0, 5]);
    const b = scored([5, 0]);
    const first = weightRows(a, 0, 0, 1)[0];
    expect(weightRows(b, 0, 0, 1)[0]).toBeCloseTo(first === 0 ? 1 : 1 - first, 6);
    // two key heads over the same array: head 1 reads the second
    const two: QueryKeyLayer = { ...scored([0, 5]), heads: 2, kvHeads: 2, q: Float32Array.of(1, 1), k: Float32Array.of(0, 5, 5, 0) };
    const h0 = weightRows(two, 0, 0, 1), h1 = weightRows(two, 1, 0, 1);
    expect(h0[1]).toBeGreaterThan(0.99);
    expect(h1[0]).toBeGreaterThan(0.99);
  });
});
