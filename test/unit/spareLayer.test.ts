// A long input's first layer array, readied while the model runs (webview/panel/spareLayer.ts):
// taken once by the first layer of that shape, its weights those of a fresh array, and dropped
// when the run is superseded, fails or has nothing to draw.
import { describe, expect, it } from 'vitest';
import type { RunRequest } from '../../src/core/protocol/panel';
import { type QueryKeyLayer, layerWeights } from '../../src/core/queryKeys';
import { computedLayer } from '../../webview/panel/layerStore';
import { prepareSpareLayer, takeSpareLayer, withSpareLayer } from '../../webview/panel/spareLayer';

const HEADS = 3, N = 40, DIM = 4;
/** A causal layer of `N` tokens with random queries and keys (a fixed seed). */
function layer(over: Partial<QueryKeyLayer> = {}): QueryKeyLayer {
  let seed = 7;
  const rnd = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 2 - 1;
  const n = over.queries ?? N;
  return {
    name: 'attentions.0', kind: 'self', layer: 0, heads: HEADS, kvHeads: 1, queries: n, keys: n, headDim: DIM, scale: 0.5, causal: true,
    q: Float32Array.from({ length: HEADS * n * DIM }, rnd), k: Float32Array.from({ length: n * DIM }, rnd), ...over,
  };
}
const tasks = (k = 20) => new Promise((r) => setTimeout(r, k));
const request = (over: Partial<RunRequest> = {}) => ({ ids: Array.from({ length: N }, (_, i) => i), model: { attention: { layers: 2, heads: HEADS }, causal: true }, ...over }) as unknown as RunRequest;

describe('the spare layer', () => {
  it('is taken once, by the first layer of its shape, zeroed; a layer of another shape leaves it', async () => {
    prepareSpareLayer(HEADS, N, true, () => true);
    await tasks();
    expect(takeSpareLayer(layer({ queries: N - 1, keys: N - 1 }))).toBeUndefined();
    expect(takeSpareLayer(layer({ causal: false }))).toBeUndefined();
    expect(takeSpareLayer(layer({ window: 8 }))).toBeUndefined(); // a window's rows reach fewer keys than were touched
    const spare = takeSpareLayer(layer())!;
    expect(spare).toBeInstanceOf(Float32Array);
    expect(spare.length).toBe(HEADS * N * N);
    expect(spare.every((x) => x === 0)).toBe(true);
    expect(takeSpareLayer(layer())).toBeUndefined();
  });

  it('is readied for a run that draws, and the first picture computes into it the weights a fresh array would hold', async () => {
    const l = layer();
    expect(await withSpareLayer(request(), true, () => false, async () => 'drawn')).toBe('drawn');
    await tasks(); // its pages touched
    expect(takeSpareLayer(l)?.length).toBe(HEADS * N * N);

    await withSpareLayer(request(), true, () => false, async () => 'drawn');
    await tasks();
    const expected = layerWeights(l).data;
    const computed = computedLayer(l).compute();
    expect(Array.from(computed)).toEqual(Array.from(expected));
    expect(takeSpareLayer(l)).toBeUndefined(); // the compute took it
    // Taken into a given array of the wrong size: refused, not written past its end.
    expect(() => layerWeights(l, new Float32Array(5))).toThrow(/do not fit/);
  });

  it('goes when its run is superseded, fails or has nothing to draw, and is not made for runs that keep their weights', async () => {
    let stale = false;
    prepareSpareLayer(HEADS, N, true, () => !stale);
    stale = true;
    await tasks();
    expect(takeSpareLayer(layer())).toBeUndefined();

    await expect(withSpareLayer(request(), true, () => false, async () => {
      throw new Error('the model failed');
    })).rejects.toThrow('the model failed');
    expect(takeSpareLayer(layer())).toBeUndefined();
    expect(await withSpareLayer(request(), true, () => false, async () => undefined)).toBeUndefined();
    expect(takeSpareLayer(layer())).toBeUndefined();

    for (const [req, queryKeys] of [[request(), false], [request({ image: {} as RunRequest['image'] }), true], [request({ compare: {} as RunRequest['compare'] }), true]] as const) {
      await withSpareLayer(req, queryKeys, () => false, async () => 'drawn');
      expect(takeSpareLayer(layer())).toBeUndefined();
    }
  });

  it('a newer run\'s replaces the one before, and a newer run that readies none drops it', async () => {
    prepareSpareLayer(HEADS, N, true, () => true);
    prepareSpareLayer(HEADS, N - 1, true, () => true);
    await tasks();
    expect(takeSpareLayer(layer())).toBeUndefined();
    expect(takeSpareLayer(layer({ queries: N - 1, keys: N - 1 }))?.length).toBe(HEADS * (N - 1) * (N - 1));

    await withSpareLayer(request(), true, () => false, async () => 'drawn');
    await withSpareLayer(request(), false, () => false, async () => 'drawn'); // a short run, say
    expect(takeSpareLayer(layer())).toBeUndefined();
  });
});
