// Comparisons of long inputs (issue 24): each side kept as queries and keys, both sides' aligned
// records computed when read, and every compared number (records, A − B, the head
// correspondence, the explorer's divergence) what the same comparison of the full tensors gives.
import { afterEach, describe, expect, it } from 'vitest';
import type { AttentionLayer, AttentionRecord } from '../../src/core/attention';
import { bestMatches, correspondence, differenceRecord, layerComparisons } from '../../src/core/analysis/compare';
import { alignRuns } from '../../src/core/analysis/alignment';
import { computedRecords } from '../../src/core/analysis/onDemand';
import { recordOfLayer } from '../../src/core/attention';
import { compareJson } from '../../src/core/export/compareJson';
import { jsonChunks } from '../../src/core/jsonStream';
import { emptyHeadGrid } from '../../src/core/analysis/headGrid';
import type { RunRequest } from '../../src/core/protocol/panel';
import { type QueryKeyLayer, alignedHeads, layerWeights, queryKeyBytes, sameQueryKeys } from '../../src/core/queryKeys';
import type { TokenInfo } from '../../src/core/tokens';
import { ComparisonRun } from '../../webview/panel/comparisonRun';
import { withDivergence } from '../../webview/panel/headGridTask';
import { computeLayersWith, prepareRecords } from '../../webview/panel/layerStore';
import { alignLayersWith } from '../../webview/panel/comparedRuns';
import type { RunResult } from '../../webview/panel/runner';
import { PanelState } from '../../webview/panel/state';

const N = 9;

/** Layer `layer` of a model (`seed`): `heads` query heads over `kvHeads` key heads, dimension 3, over `n` tokens. */
function qkLayer(seed: number, layer: number, n: number, { heads = 4, kvHeads = 2, causal = true } = {}): QueryKeyLayer {
  const q = Float32Array.from({ length: heads * n * 3 }, (_, i) => Math.sin(1.3 * i + seed + 7 * layer));
  const k = Float32Array.from({ length: kvHeads * n * 3 }, (_, i) => Math.cos(0.7 * i + 2 * seed + layer));
  return { name: `attentions.${layer}`, kind: 'self', layer, heads, kvHeads, queries: n, keys: n, headDim: 3, scale: 0.8, q, k, causal };
}

const tokensOf = (ids: number[], offset = 0): TokenInfo[] => ids.map((id, i) => ({ id, text: `t${id}`, start: offset + i, end: offset + i + 1, special: false }));
const model = (label: string, causal = true) => ({ id: label, label, architecture: 'qwen2', onnxFile: label, onnxLabel: 'onnx/model.onnx', causal });
const ids = Array.from({ length: N }, (_, i) => i);
const text = 'x'.repeat(N);

function request(runId: number, over: Partial<RunRequest> = {}): RunRequest {
  return { runId, model: model('A'), backend: 'auto', text, tokens: tokensOf(ids), ids: Int32Array.from(ids), maxLinksPerQuery: 12, ...over };
}

const asQueryKeys = (layers: QueryKeyLayer[], moreToCome = false): RunResult => ({ layers: [], queryKeys: layers, backend: 'native', millis: 1, warnings: [], backendReason: '', spans: [], moreToCome });
const asWeights = (layers: QueryKeyLayer[]): RunResult => ({ layers: layers.map((l): AttentionLayer => layerWeights(l)), backend: 'wasm', millis: 1, warnings: [], backendReason: '', spans: [], moreToCome: false });

/** The same comparison twice: from queries and keys, and from the full tensors. */
async function compareBoth(a: RunRequest, layersA: QueryKeyLayer[], b: RunRequest, layersB: QueryKeyLayer[]) {
  const long = new PanelState(), full = new PanelState();
  await Promise.all([
    long.finishCompare(a, asQueryKeys(layersA), { request: b, result: asQueryKeys(layersB) }),
    full.finishCompare(a, asWeights(layersA), { request: b, result: asWeights(layersB) }),
  ]);
  await nextTask(); // the layers computed to be shown first are let go after their task (the panel pins what it draws)
  return { long, full };
}

const nextTask = () => new Promise((resolve) => setTimeout(resolve, 0));

const weights = (r: AttentionRecord) => Array.from(r.data);

/** Every record of A and B, the difference where heads correspond, the correspondence and the explorer's divergence: equal in both states. */
async function expectSameComparison(long: PanelState, full: PanelState) {
  const [l, f] = [long.snapshot, full.snapshot];
  expect(l.compare!.alignment).toEqual(f.compare!.alignment);
  expect(l.records.map((r) => [r.id, r.label, r.heads, r.queries, r.keys])).toEqual(f.records.map((r) => [r.id, r.label, r.heads, r.queries, r.keys]));
  l.records.forEach((r, i) => expect(weights(r)).toEqual(weights(f.records[i])));
  l.compare!.records.forEach((r, i) => expect(weights(r)).toEqual(weights(f.compare!.records[i])));
  for (let i = 0; i < l.records.length; i++) {
    const [ra, rb, fa, fb] = [l.records[i], l.compare!.records[long.layerBOf(i)], f.records[i], f.compare!.records[full.layerBOf(i)]];
    if (ra.heads === rb.heads) expect(weights(differenceRecord(ra, rb))).toEqual(weights(differenceRecord(fa, fb)));
    expect(Array.from(correspondence(ra, rb))).toEqual(Array.from(correspondence(fa, fb)));
  }
  const divergence = async (s: PanelState) => (await withDivergence(emptyHeadGrid(1, s.snapshot.records), s.snapshot.records, s.snapshot.compare!.records, (i) => s.layerBOf(i), 'B'))!.divergence!;
  const [dl, df] = [await divergence(long), await divergence(full)];
  expect(Array.from(dl.values)).toEqual(Array.from(df.values));
  expect(Array.from(dl.partner)).toEqual(Array.from(df.partner));
  expect(dl.measures).toEqual(df.measures);
}

afterEach(() => {
  computeLayersWith(undefined);
  alignLayersWith(undefined);
});

describe('a comparison of long inputs', () => {
  it('compares two models on one text from queries and keys, holding nothing quadratic until read, with the full tensors’ numbers', async () => {
    const layersA = [0, 1].map((i) => qkLayer(1, i, N));
    const layersB = [0, 1, 2].map((i) => qkLayer(5, i, N, { heads: 3, kvHeads: 3, causal: false })); // another model: 3 heads, bidirectional
    const b = request(1, { model: model('B', false) });
    const a = request(1, { compare: { model: b.model, text, tokens: b.tokens, ids: b.ids, sameModel: false } });
    const { long, full } = await compareBoth(a, layersA, b, layersB);
    const s = long.snapshot;
    // Nothing quadratic is held: each side's queries and keys only.
    expect(long.heldBytes).toBe([...layersA, ...layersB].reduce((n, l) => n + queryKeyBytes(l), 0));
    expect([s.run!.onDemand, s.compare!.b.onDemand]).toEqual([true, true]);
    expect(s.notice).toMatch(/Compared by tokens: both tokenizations are identical\. Run A: 9 tokens: each layer's weights are computed from its queries and keys when shown \([^)]+\)\. Run B: 9 tokens: each layer's weights are computed/);
    expect([s.compare!.identical, full.snapshot.compare!.identical]).toEqual([false, false]);
    await expectSameComparison(long, full);
  });

  it('compares two texts through one model (an edit): the aligned records are computed from each side’s layers when read', async () => {
    const edited = [99, 98, ...ids.slice(1)]; // the first token replaced by two
    const b = request(1, { text: `yz${text.slice(1)}`, tokens: tokensOf(edited), ids: Int32Array.from(edited) });
    const a = request(1, { compare: { model: b.model, text: b.text, tokens: b.tokens, ids: b.ids, sameModel: true } });
    const layersA = [0, 1].map((i) => qkLayer(1, i, N)), layersB = [0, 1].map((i) => qkLayer(2, i, N + 1));
    const { long, full } = await compareBoth(a, layersA, b, layersB);
    const s = long.snapshot;
    expect(s.compare!.alignment).toMatchObject({ kind: 'tokens', edited: true, pairs: ids.slice(1).map((i) => [i, i + 1]) });
    expect(s.records[0].queries).toBe(N - 1);
    expect(long.heldBytes).toBe([...layersA, ...layersB].reduce((n, l) => n + queryKeyBytes(l), 0));
    await expectSameComparison(long, full);
    // Off the page's thread: each side's layer aligned in the workers (as layerWorker.ts does, a
    // head at a time), the layer itself never sent to the page.
    let asked = 0, aligned = 0;
    computeLayersWith(async (l) => (asked++, layerWeights(l).data));
    alignLayersWith(async (l, how) => (aligned++, alignedHeads(l, 0, l.heads, how)));
    const [ra, rb] = [s.records[1], s.compare!.records[1]];
    await prepareRecords([ra, rb]);
    expect([weights(ra), weights(rb)]).toEqual([weights(full.snapshot.records[1]), weights(full.snapshot.compare!.records[1])]);
    expect([asked, aligned]).toEqual([0, 2]);
    // Workers that fail to align: each side's layer from the workers' layer computation, then aligned here in tasks.
    alignLayersWith(async () => Promise.reject(new Error('no workers')));
    const [ra0, rb0] = [s.records[0], s.compare!.records[0]];
    await prepareRecords([ra0, rb0]);
    expect([weights(ra0), weights(rb0)]).toEqual([weights(full.snapshot.records[0]), weights(full.snapshot.compare!.records[0])]);
    expect(asked).toBe(2);
  });

  it('knows two runs are identical from their queries and keys, computing only the layers shown first', async () => {
    const computed: string[] = [];
    computeLayersWith(async (l) => (computed.push(l.name), layerWeights(l).data));
    const layers = [0, 1].map((i) => qkLayer(3, i, N));
    const a = request(1, { compare: { model: model('A'), text, tokens: tokensOf(ids), ids: Int32Array.from(ids), sameModel: false } });
    const { long, full } = await compareBoth(a, layers, request(1), layers.map((l) => ({ ...l, q: l.q.slice(), k: l.k.slice() })));
    expect([long.snapshot.compare!.identical, full.snapshot.compare!.identical]).toEqual([true, true]);
    expect(long.snapshot.notice).toMatch(/The two runs are identical: every difference is 0\./);
    expect(computed).toEqual(['attentions.0', 'attentions.0']); // A's and B's first layers, to be drawn; not layer 2 to know it
    expect(long.heldBytes).toBe(2 * layers.reduce((n, l) => n + queryKeyBytes(l), 0));
    // One query of one layer apart: not identical.
    const moved = layers.map((l, i) => (i === 1 ? { ...l, q: l.q.map((v, j) => (j === 5 ? v + 1e-3 : v)) } : l));
    const other = await compareBoth(a, layers, request(1), moved);
    expect([other.long.snapshot.compare!.identical, other.full.snapshot.compare!.identical]).toEqual([false, false]);
    expect(sameQueryKeys(layers[0], { ...layers[0], keyMask: Uint8Array.from(ids, (i) => (i === 0 ? 0 : 1)) })).toBe(false);
    expect(sameQueryKeys(layers[0], { ...layers[0], window: 4 })).toBe(false);
  });

  it('waits for a long side’s queries and keys still coming from the native engine, then compares every layer', async () => {
    const state = new PanelState();
    const started: RunRequest[] = [];
    const a = request(7, { compare: { model: model('B'), text, tokens: tokensOf(ids), ids: Int32Array.from(ids), sameModel: false } });
    const run = new ComparisonRun({ state, startRun: (r) => started.push(r), show: () => undefined, post: () => undefined, isCurrent: () => true });
    run.begin(a);
    const layersA = [0, 1, 2].map((i) => qkLayer(1, i, N));
    run.finished(a, asQueryKeys(layersA.slice(0, 1), true));
    expect(started).toEqual([]);
    run.more(a, { layers: [], warnings: [], queryKeys: layersA.slice(1) });
    expect(started).toHaveLength(1);
    run.finished(started[0], asQueryKeys([0, 1, 2].map((i) => qkLayer(4, i, N))));
    // Shown once A's first layer and B's facing it are computed (off the page's thread where it has workers).
    expect(state.snapshot.computing).toBe('Layer 1');
    await expect.poll(() => state.snapshot.records.length).toBe(3);
    expect(state.snapshot.computing).toBeUndefined();
    expect(state.snapshot.records.map((r) => r.label)).toEqual(['Layer 1', 'Layer 2', 'Layer 3']);
    state.snapshot.records.forEach((r, i) => expect(weights(r)).toEqual(Array.from(layerWeights(layersA[i]).data)));
  });

  it('switches layer once A’s layer and B’s facing it are computed off the page’s thread', async () => {
    const computed: string[] = [];
    computeLayersWith(async (l) => (computed.push(`${l.name}/${l.q[0]}`), layerWeights(l).data));
    const layersA = [0, 1].map((i) => qkLayer(1, i, N)), layersB = [0, 1].map((i) => qkLayer(6, i, N));
    const b = request(1, { model: model('B') });
    const { long } = await compareBoth(request(1, { compare: { model: b.model, text, tokens: b.tokens, ids: b.ids, sameModel: false } }), layersA, b, layersB);
    computed.length = 0; // the first layers, computed to be shown
    long.selectRecord(1);
    expect([long.snapshot.recordIndex, long.snapshot.computing]).toEqual([0, 'Layer 2']);
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect([long.snapshot.recordIndex, long.snapshot.computing]).toEqual([1, undefined]);
    expect(computed.sort()).toEqual([`attentions.1/${layersA[1].q[0]}`, `attentions.1/${layersB[1].q[0]}`].sort());
  });

  it('finds the head of B closest to an explorer’s head of A a few million cells per task on long inputs, B’s heads showing meanwhile', async () => {
    const n = 1100; // 4 heads of B × 1,100² cells: past one task's share
    const layersA = [qkLayer(1, 0, n)], layersB = [qkLayer(6, 0, n)];
    const b = request(1, { model: model('B'), tokens: tokensOf(Array.from({ length: n }, (_, i) => i)), ids: Int32Array.from({ length: n }, (_, i) => i), text: 'x'.repeat(n) });
    const { long } = await compareBoth(request(1, { ...b, model: model('A'), compare: { model: b.model, text: b.text, tokens: b.tokens, ids: b.ids, sameModel: false } }), layersA, b, layersB);
    const expected = bestMatches(correspondence(long.snapshot.records[0], long.snapshot.compare!.records[0]), 4, 4)[2].head;
    long.setSelection(0, [2]);
    expect([long.snapshot.visibleHeads, long.snapshot.compare!.show, long.snapshot.compare!.headsB]).toEqual([[false, false, true, false], 'side', undefined]);
    await expect.poll(() => long.snapshot.compare!.headsB, { timeout: 10_000 }).toEqual([expected]);
    // A newer choice drops an older search (the layers on screen held, as the panel keeps them).
    for (const [store, onScreen] of long.stores) await store.pin(onScreen);
    long.setSelection(0, [3]);
    expect(long.snapshot.visibleHeads).toEqual([false, false, false, true]);
    long.toggleHead(0);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(long.snapshot.compare!.headsB).toBeUndefined();
  });

  it('drops a long comparison whose first layers came after a newer run took the panel, its status line cleared', async () => {
    const b = request(1, { model: model('B') });
    const a = request(1, { compare: { model: b.model, text, tokens: b.tokens, ids: b.ids, sameModel: false } });
    const state = new PanelState();
    let current = true;
    const shown = state.finishCompare(a, asQueryKeys([qkLayer(1, 0, N)]), { request: b, result: asQueryKeys([qkLayer(6, 0, N)]) }, () => current);
    expect([state.snapshot.computing, state.snapshot.compare]).toEqual(['Layer 1', undefined]);
    current = false;
    await shown;
    expect([state.snapshot.computing, state.snapshot.compare, state.snapshot.records]).toEqual([undefined, undefined, []]);
  });

  it('changes B’s layer once it is computed off the page’s thread', async () => {
    const computed: string[] = [];
    computeLayersWith(async (l) => (computed.push(l.name), layerWeights(l).data));
    const b = request(1, { model: model('B') });
    const { long } = await compareBoth(request(1, { compare: { model: b.model, text, tokens: b.tokens, ids: b.ids, sameModel: false } }), [qkLayer(1, 0, N)], b, [0, 1, 2].map((i) => qkLayer(6, i, N)));
    computed.length = 0; // the first layers, computed to be shown
    long.setLayerB(2);
    expect([long.layerB, long.snapshot.computing]).toEqual([0, 'Layer 3']);
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect([long.layerB, long.snapshot.computing, computed]).toEqual([2, undefined, ['attentions.2']]);
  });
});

describe('the compare document of long inputs', () => {
  it('computes each layer of A and of B once, its A − B included, and gives what the full tensors give', () => {
    const run = { tokens: tokensOf(ids), causal: true };
    const layers = (seed: number) => [0, 1, 2].map((l) => recordOfLayer(layerWeights(qkLayer(seed, l, N)), run));
    const fullA = layers(1), fullB = layers(2);
    const computed: string[] = [];
    const lazy = (side: string, full: AttentionRecord[]) => computedRecords(full.map((r) => ({ ...r, data: new Float32Array(0) })), (i) => {
      computed.push(`${side}${i}`);
      return full[i].data.slice();
    });
    const alignment = alignRuns({ text, tokens: tokensOf(ids) }, { text, tokens: tokensOf(ids) });
    const doc = (a: AttentionRecord[], b: AttentionRecord[], layerOf: (i: number) => number) =>
      JSON.parse([...jsonChunks(compareJson({ models: [], texts: [text, text], tokens: [tokensOf(ids), tokensOf(ids)], alignment, a, b, layerOf, identical: false, diff: true }))].join('')) as { layers: Array<{ layerB: number; jsDistance: number[][]; meanAbsDifference: number[]; diff: number[][][] }> };
    const heard: number[] = [];
    const long = JSON.parse(JSON.stringify(doc(lazy('A', fullA), lazy('B', fullB), (i) => 2 - i)));
    expect(computed).toEqual(['A0', 'B2', 'A1', 'B1', 'A2', 'B0']);
    const full = doc(fullA, fullB, (i) => 2 - i);
    expect(long).toEqual(full);
    // And what each layer says is the comparison's and the difference's own.
    const expected = layerComparisons(fullA, fullB, (i) => 2 - i);
    full.layers.forEach((l, i) => {
      expect(l.layerB).toBe(2 - i);
      expect(l.meanAbsDifference).toEqual(Array.from(expected[i].meanAbsDifference!));
      expect(l.diff.flat(2)).toEqual(Array.from(differenceRecord(fullA[i], fullB[2 - i]).data));
    });
    // Progress hears each pair as it is written.
    [...jsonChunks(compareJson({ models: [], texts: [text, text], tokens: [tokensOf(ids), tokensOf(ids)], alignment, a: fullA, b: fullB, layerOf: (i) => i, progress: (done) => heard.push(done), identical: false, diff: false }))].join('');
    expect(heard).toEqual([0, 1, 2]);
  });
});
