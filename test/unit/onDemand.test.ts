// A long run's records computed when read (src/core/analysis/onDemand.ts, the CLI's long inputs):
// the same weights as the full tensors through every transform (word level, hiding, mean, max,
// rollout), each layer computed once by a pass that reads them in order, and never more than the
// last one held at each step (a layer read again after another is computed again).
import { describe, expect, it } from 'vitest';
import { type AttentionRecord, recordOfLayer } from '../../src/core/attention';
import { type Aggregation } from '../../src/core/analysis/aggregate';
import { onDemandAggregates, onDemandPerHead, onDemandRun } from '../../src/core/analysis/onDemand';
import { aggregateRecords, perHeadRecords } from '../../src/core/analysis/transform';
import { type QueryKeyLayer, layerWeights } from '../../src/core/queryKeys';
import type { TokenInfo } from '../../src/core/tokens';

const text = 'the cat sat on the mat';
// Sub-word tokens: "the", "c", "at", "sat", "on", "the", "m", "at", with a special token first.
const cuts: Array<[number, number]> = [[0, 0], [0, 3], [4, 5], [5, 7], [8, 11], [12, 14], [15, 18], [19, 20], [20, 22]];
const tokens: TokenInfo[] = cuts.map(([start, end], i) => ({ id: i, text: i === 0 ? '<s>' : text.slice(start, end), start, end, special: i === 0 }));
const n = tokens.length;

function qkLayer(layer: number, causal: boolean): QueryKeyLayer {
  const q = Float32Array.from({ length: 4 * n * 3 }, (_, i) => Math.sin(i * 1.3 + layer) * 2);
  const k = Float32Array.from({ length: 2 * n * 3 }, (_, i) => Math.cos(i * 0.7 + layer * 2));
  return { name: `attentions.${layer}`, kind: 'self', layer, heads: 4, kvHeads: 2, queries: n, keys: n, headDim: 3, scale: 0.6, q, k, causal };
}

/** The layers computed when read, counting each computation by layer. */
function counted(causal: boolean) {
  const layers = [0, 1, 2].map((l) => qkLayer(l, causal));
  const computed: number[] = [];
  // layerWeights reads a layer's name once, as it computes the layer.
  const kept = layers.map((l) => new Proxy(l, { get: (t, p) => (p === 'name' && computed.push(t.layer), Reflect.get(t, p)) }));
  // Layer 1 returned whole, as an engine returns a layer it could not keep as queries and keys.
  const whole = layerWeights(layers[1]);
  const run = onDemandRun([whole], [kept[0], kept[2]], { tokens, causal });
  computed.length = 0;
  const full = layers.map((l) => recordOfLayer(layerWeights(l), { tokens, causal }));
  return { run, full, computed };
}

const weights = (records: readonly AttentionRecord[]) => records.map((r) => Array.from(r.data));

describe('records computed when read', () => {
  for (const causal of [true, false]) {
    it(`equal the full tensors through word level, hiding and every aggregate (${causal ? 'causal' : 'bidirectional'})`, () => {
      const { run, full } = counted(causal);
      expect(run.records.map((r) => r.source.name)).toEqual(full.map((r) => r.source.name));
      expect(weights(run.records)).toEqual(weights(full));
      const texts = { tokens, text };
      for (const choices of [{ words: true, hide: [] }, { words: false, hide: ['special' as const] }, { words: true, hide: ['special' as const, 'first' as const] }]) {
        const base = onDemandPerHead(run.records, texts, choices), fullBase = perHeadRecords(full, texts, choices);
        expect(base.map((r) => [r.label, r.queries, r.keys])).toEqual(fullBase.map((r) => [r.label, r.queries, r.keys]));
        expect(weights(base)).toEqual(weights(fullBase));
        for (const aggregate of ['mean', 'max', 'rollout'] as Aggregation[]) {
          const shown = onDemandAggregates(base, aggregate, { fusion: 'max', discard: 0.2 }), fullShown = aggregateRecords(fullBase, aggregate, { fusion: 'max', discard: 0.2 });
          expect(shown.map((r) => r.label)).toEqual(fullShown.map((r) => r.label));
          expect(weights(shown)).toEqual(weights(fullShown));
        }
      }
    });
  }

  it('computes a layer once for a pass in order, holds only the last, and computes it again when read after another', () => {
    const { run, computed } = counted(true);
    expect(computed).toEqual([]); // nothing before it is read
    for (const r of run.records) for (let i = 0; i < 5; i++) void r.data[0];
    expect(computed).toEqual([0, 2]); // layer 1 came whole
    void run.records[0].data;
    expect(computed).toEqual([0, 2, 0]);
    // A rollout read in layer order multiplies each layer in once; read backwards, it starts again.
    const rollout = onDemandAggregates(run.records, 'rollout');
    computed.length = 0;
    for (const r of rollout) for (let i = 0; i < 3; i++) void r.data[0];
    expect(computed).toEqual([2]); // layer 0 was held from above, layer 1 came whole
    computed.length = 0;
    void rollout[0].data;
    expect(computed).toEqual([0]);
  });
});
