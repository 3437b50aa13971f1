// Long inputs in the panel (issue 24): the runner asks for queries and keys when a run's weights
// would be too large, and takes the weights again for a model whose rows cannot be computed; the
// layer store holds computed layers without their weights, computing them when read.
import { describe, expect, it } from 'vitest';
import { type AttentionLayer, recordOfLayer } from '../../src/core/attention';
import { maxOverHeads, meanOverHeads } from '../../src/core/analysis/aggregate';
import { perHeadRecords } from '../../src/core/analysis/transform';
import { EngineError, type EngineOptions, type OrtModule } from '../../src/core/engine/attentionEngine';
import type { RunRequest } from '../../src/core/protocol/panel';
import { contributionRecord } from '../../src/core/mechanism';
import { type QueryKeyLayer, keepsQueryKeys, layerWeights, longRunQuestion, weightBytes } from '../../src/core/queryKeys';
import { LayerStore, computedLayer, runLayers } from '../../webview/panel/layerStore';
import { type RunResult, Runner } from '../../webview/panel/runner';

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Math.max(...Array.from(a, (x, i) => Math.abs(x - b[i])));

/** A causal layer of `heads` heads over `n` tokens, queries and keys of 2 dimensions. */
function qkLayer(layer: number, n: number, heads = 2): QueryKeyLayer {
  const q = Float32Array.from({ length: heads * n * 2 }, (_, i) => Math.sin(i + layer));
  const k = Float32Array.from({ length: n * 2 }, (_, i) => Math.cos(i * 0.7 + layer));
  return { name: `attentions.${layer}`, kind: 'self', layer, heads, kvHeads: 1, queries: n, keys: n, headDim: 2, scale: 0.5, q, k, causal: true };
}

describe('keepsQueryKeys', () => {
  it('keeps queries and keys when L·H·n² float32 weights reach 512 MB (or the limit set), and by token count when the shape is unknown', () => {
    const qwen = { layers: 24, heads: 14 };
    expect(keepsQueryKeys(512, qwen)).toBe(false); // 352 MB
    expect(keepsQueryKeys(2048, qwen)).toBe(true); // 5.6 GB
    expect(keepsQueryKeys(512, { layers: 12, heads: 12 })).toBe(false); // BERT-base: 151 MB
    expect(keepsQueryKeys(2047, undefined)).toBe(false);
    expect(keepsQueryKeys(2048, undefined)).toBe(true);
    expect(keepsQueryKeys(616, qwen)).toBe(false); // 510 MB
    expect(keepsQueryKeys(618, qwen)).toBe(true); // 513 MB
    expect(keepsQueryKeys(512, qwen, 0, 300e6)).toBe(true);
    expect(keepsQueryKeys(8, undefined, 0, 0)).toBe(true); // 0: always
  });
});

describe('LayerStore with computed layers', () => {
  it('holds queries and keys only, computes a layer when read, keeps it while on screen, and never compacts it', async () => {
    const layers = [qkLayer(0, 40), qkLayer(1, 40)];
    const store = new LayerStore(layers.map(computedLayer), 0);
    const exact = layers.map((l) => layerWeights(l).data);
    expect(store.naiveBytes).toBe(2 * weightBytes(layers[0]));
    expect(store.heldBytes).toBe(layers.reduce((n, l) => n + l.q.byteLength + l.k.byteLength, 0));
    expect(store.isFull(0) && store.isFull(1)).toBe(true); // exact whenever read
    expect(Array.from(store.data(1))).toEqual(Array.from(exact[1]));
    expect(await store.compact(() => Promise.resolve())).toBe(false);
    await store.pin([0]);
    expect(store.heldBytes).toBeGreaterThanOrEqual(weightBytes(layers[0])); // layer 0 on screen, held whole
    const onScreen = store.data(0);
    expect(store.data(0)).toBe(onScreen); // not computed again
    await store.pin([1]);
    expect(store.data(0)).not.toBe(onScreen); // off screen: computed again when read
    expect(Array.from(await store.fullLayer(0))).toEqual(Array.from(exact[0]));
  });

  it('orders layers returned whole and computed ones as the views expect', () => {
    const whole: AttentionLayer = { name: 'attentions.1', kind: 'self', layer: 1, heads: 1, queries: 1, keys: 1, data: Float32Array.of(1) };
    const order = runLayers([whole], [qkLayer(2, 3), qkLayer(0, 3)]);
    expect(order.map((l) => [l.layer.name, l.source instanceof Float32Array])).toEqual([['attentions.0', false], ['attentions.1', true], ['attentions.2', false]]);
  });
});

describe('Runner on long inputs', () => {
  const request = (n: number, compare = false): RunRequest => ({
    runId: n,
    model: { id: 'm', label: 'M', architecture: 'gpt2', onnxFile: 'model-a', onnxLabel: 'onnx/model.onnx', causal: true, attention: { layers: 24, heads: 14 } },
    backend: 'wasm',
    text: 'a',
    tokens: [],
    ids: new Int32Array(n),
    maxLinksPerQuery: 12,
    ...(compare ? { compare: { model: {} as RunRequest['model'], text: 'b', tokens: [], ids: Int32Array.of(1), sameModel: true } } : {}),
  });

  /** A runner whose engines are opened with `options` logged, and fail as queries and keys when `biased`. */
  function harness(biased = false) {
    const opened: string[] = [];
    const finished: RunResult[] = [];
    const progress: string[] = [];
    const runner = new Runner({
      readRuntime: async () => new Uint8Array(1),
      loadOrt: async () => ({}) as OrtModule,
      chooseBackend: async () => ({ backend: 'wasm', reason: 'setting' }),
      readModel: async () => new Uint8Array(1),
      createEngine: async (_o, _b, backend, _l, options?: EngineOptions) => {
        opened.push(options?.queryKeys ? 'queryKeys' : 'weights');
        return {
          backend,
          run: async (input) => {
            if (options?.queryKeys && biased) throw new EngineError('Layer 1: its weights are not softmax(scale·q·kᵀ) under a causal mask (a position bias).', 'not-on-demand');
            const n = input.ids.length;
            return options?.queryKeys ? { layers: [], queryKeys: [qkLayer(0, n, 1)], millis: 1, warnings: [] } : { layers: [layerWeights(qkLayer(0, n, 1))], millis: 1, warnings: [] };
          },
          dispose: async () => undefined,
        };
      },
    }, { progress: (_r, _s, m) => progress.push(m), finished: (_r, result) => finished.push(result), more: () => undefined, failed: (_r, m) => { throw new Error(m); } });
    return { runner, opened, finished, progress };
  }

  it('asks for queries and keys on a long input (a side of a comparison too), and for the weights on a short one', async () => {
    const h = harness();
    await h.runner.start(request(2048));
    await h.runner.start(request(64));
    await h.runner.start(request(2048, true));
    await h.runner.start(request(64, true));
    expect(h.finished.map((r) => [r.layers.length, r.queryKeys?.length ?? 0])).toEqual([[0, 1], [1, 0], [0, 1], [1, 0]]);
    expect(new Set(h.opened)).toEqual(new Set(['queryKeys', 'weights']));
    // What it costs is said while it runs: 24 × 14 × 2048² × 4 bytes.
    expect(h.progress).toContain("Running M on WebAssembly (2,048 tokens; keeping queries and keys, as every layer's weights would take 5.6 GB)…");
    expect(h.progress).toContain('Running M on WebAssembly (64 tokens)…');
  });

  it('takes the weights whole for a model whose rows cannot be computed, and says so', async () => {
    const h = harness(true);
    await h.runner.start(request(2048));
    expect(h.opened).toEqual(['queryKeys', 'weights']);
    expect(h.finished[0].layers).toHaveLength(1);
    expect(h.finished[0].warnings).toEqual(['Layer 1: its weights are not softmax(scale·q·kᵀ) under a causal mask (a position bias): the weights are kept whole, which takes more memory']);
  });
});

describe('PanelState on a long input', () => {
  // Tokens 2 and 3 are pieces of one word; token 0 is special.
  const wordTokens = Array.from({ length: 6 }, (_, i) => ({ id: i, text: `t${i}`, start: i, end: i + 1, special: i === 0, ...(i > 0 ? { word: i === 3 ? 2 : i } : {}) }));
  const tokens = wordTokens;
  const req: RunRequest = {
    runId: 1, model: { id: 'm', label: 'M', architecture: 'qwen2', onnxFile: 'u', onnxLabel: 'onnx/model.onnx', causal: true },
    backend: 'auto', text: 'abcdef', tokens, ids: Int32Array.from(tokens.map((t) => t.id)), maxLinksPerQuery: 12,
  };

  it('shows the layers exact, makes word level, hiding and a mean or max over heads from the layer shown as the full tensor would, and keeps contributions and the mechanism off (the rollout: longRollout.test.ts)', async () => {
    const { PanelState } = await import('../../webview/panel/state');
    const state = new PanelState();
    state.setChoices({ aggregate: 'rollout' }); // chosen before, for a shorter input
    state.setWeighting('contribution');
    const layers = [qkLayer(0, 6), qkLayer(1, 6)];
    state.finish(req, { layers: [], queryKeys: layers, backend: 'native', millis: 1, warnings: [], spans: [], backendReason: '', moreToCome: false });
    expect(state.snapshot.notice).toMatch(/^6 tokens: each layer's weights are computed from its queries and keys when shown \(/);
    // The rollout stays chosen: its pass (not run here) makes it; the layers' heads show until then.
    expect([state.snapshot.choices.aggregate, state.snapshot.weighting]).toEqual(['rollout', 'attention']);
    expect(state.snapshot.records.map((r) => [r.label, r.heads, r.queries])).toEqual([['Layer 1', 2, 6], ['Layer 2', 2, 6]]);
    expect(Array.from(state.snapshot.records[1].data)).toEqual(Array.from(layerWeights(layers[1]).data));

    // The same analyses of the full tensor, for reference.
    const full = layers.map((l) => recordOfLayer({ name: l.name, kind: 'self', layer: l.layer, heads: l.heads, queries: 6, keys: 6, data: layerWeights(l).data }, { tokens: wordTokens, causal: true }));
    const texts = { tokens: wordTokens, text: 'abcdef' };
    const wordsHidden = perHeadRecords(full, texts, { words: true, hide: ['special'] });
    state.setChoices({ words: true, hide: ['special'], aggregate: 'mean' });
    const s = state.snapshot;
    // Nothing computed yet: the records are made when read.
    expect([s.baseStore?.heldBytes, s.recordStore?.heldBytes]).toEqual([0, 0]);
    expect(s.base.map((r) => [r.label, r.heads, r.queries, r.keys])).toEqual(wordsHidden.map((r) => [r.label, r.heads, r.queries, r.keys]));
    expect(s.base[1].queries).toBe(4); // six tokens, two merged into one word, the special one hidden
    s.base.forEach((r, i) => expect(Array.from(r.data)).toEqual(Array.from(wordsHidden[i].data)));
    const mean = wordsHidden.map(meanOverHeads);
    expect(s.records.map((r) => [r.label, r.heads])).toEqual(mean.map((r) => [r.label, 1]));
    s.records.forEach((r, i) => expect(Array.from(r.data)).toEqual(Array.from(mean[i].data)));
    // Held while on screen only (layers read for a pass are let go after the task).
    await s.recordStore!.pin([1]);
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(s.recordStore!.heldBytes).toBe(4 * 4 * 4);
    state.setChoices({ aggregate: 'max' });
    state.snapshot.records.forEach((r, i) => expect(Array.from(r.data)).toEqual(Array.from(maxOverHeads(wordsHidden[i]).data)));
    state.setViewMode('mechanism');
    expect(state.snapshot.viewMode).toBe('head');
    state.setWeighting('contribution');
    expect(state.snapshot.weighting).toBe('attention');
  });

  it('weighs a long input by contributions where its layers came with value norms: each layer, word level, hiding and the mean made from them as from the full tensor’s contributions', async () => {
    const { PanelState } = await import('../../webview/panel/state');
    const { longContributions } = await import('../../webview/panel/derive');
    const { rolloutKey } = await import('../../webview/panel/longRollout');
    const state = new PanelState();
    const withNorms = (l: QueryKeyLayer): QueryKeyLayer => ({ ...l, valueNorms: Float32Array.from({ length: l.heads * l.keys }, (_, i) => 0.25 + Math.abs(Math.sin(3 * i + l.layer))), valueNormBasis: 'output-projection' });
    const layers = [withNorms(qkLayer(0, 6)), withNorms(qkLayer(1, 6))];
    state.setWeighting('contribution');
    state.finish(req, { layers: [], queryKeys: layers, backend: 'native', millis: 1, warnings: [], spans: [], backendReason: '', moreToCome: false });
    expect(state.snapshot.weighting).toBe('contribution'); // kept: every layer has its norms
    expect(longContributions(state.snapshot.run!.records)).toBe('output-projection');
    // Weights until the page hands the contributions over (main.ts, once the run is in).
    expect(Array.from(state.snapshot.records[1].data)).toEqual(Array.from(layerWeights(layers[1]).data));
    state.setContributions({ runId: 1, byName: new Map(), basis: 'output-projection' });
    // The full tensor's contributions: each weight times its key's norm, by the full path's normalisation.
    const full = layers.map((l) => {
      const w = layerWeights(l).data;
      const record = recordOfLayer({ name: l.name, kind: 'self', layer: l.layer, heads: l.heads, queries: 6, keys: 6, data: w }, { tokens: wordTokens, causal: true });
      return contributionRecord(record, w.map((x, i) => x * l.valueNorms![Math.floor(i / 36) * 6 + (i % 6)]));
    });
    const s = state.snapshot;
    expect(s.weightStore?.heldBytes).toBe(0); // the queries and keys are the run's
    s.records.forEach((r, i) => {
      expect(r.id).toBe(`${layers[i].name}|contribution`);
      expect(maxDiff(r.data, full[i].data)).toBeLessThan(1e-7);
      expect(maxDiff(r.data, layerWeights(layers[i]).data)).toBeGreaterThan(1e-3); // not the weights
    });
    state.setChoices({ words: true, hide: ['special'], aggregate: 'mean' });
    const mean = perHeadRecords(full, { tokens: wordTokens, text: 'abcdef' }, { words: true, hide: ['special'] }).map(meanOverHeads);
    state.snapshot.records.forEach((r, i) => expect(maxDiff(r.data, mean[i].data)).toBeLessThan(1e-7));
    // A rollout made of weights is not one made of contributions.
    const choices = { words: false, hide: [], aggregate: 'rollout' as const };
    expect(rolloutKey(1, choices, state.snapshot)).not.toBe(rolloutKey(1, choices, { weighting: 'attention' }));
    state.setChoices({ words: false, hide: [], aggregate: undefined });
    state.setWeighting('attention');
    expect(Array.from(state.snapshot.records[0].data)).toEqual(Array.from(layerWeights(layers[0]).data));
    expect(state.snapshot.weightStore).toBeUndefined();
  });

  it('opens the mechanism view on a long input whose every layer kept its values and value norms, and not otherwise', async () => {
    const { PanelState } = await import('../../webview/panel/state');
    const state = new PanelState();
    const kept = (l: QueryKeyLayer): QueryKeyLayer => ({ ...l, values: Float32Array.from({ length: l.kvHeads * l.keys * 2 }, (_, i) => Math.sin(i)), valueDim: 2, valueNorms: new Float32Array(l.heads * l.keys).fill(1), valueNormBasis: 'value-norm' });
    const finish = (runId: number, queryKeys: QueryKeyLayer[]) => state.finish({ ...req, runId }, { layers: [], queryKeys, backend: 'native', millis: 1, warnings: [], spans: [], backendReason: '', moreToCome: false });
    finish(1, [kept(qkLayer(0, 6)), qkLayer(1, 6)]);
    state.setViewMode('mechanism');
    expect(state.snapshot.viewMode).toBe('head'); // layer 2 kept no values
    // Norms through the projection need its Gram matrices too.
    finish(2, [kept(qkLayer(0, 6)), { ...kept(qkLayer(1, 6)), valueNormBasis: 'output-projection' }]);
    state.setViewMode('mechanism');
    expect(state.snapshot.viewMode).toBe('head');
    finish(3, [kept(qkLayer(0, 6)), kept(qkLayer(1, 6))]);
    state.setViewMode('mechanism');
    expect(state.snapshot.viewMode).toBe('mechanism');
  });

  it('draws the first layer while the others arrive (the native engine sends one layer per message), then takes them in, its notice counting every layer', async () => {
    const { PanelState } = await import('../../webview/panel/state');
    const state = new PanelState();
    const n = 300;
    const long: RunRequest = { ...req, text: 'x'.repeat(n), tokens: Array.from({ length: n }, (_, i) => ({ id: i, text: 'x', start: i, end: i + 1, special: false })), ids: new Int32Array(n) };
    const layers = [qkLayer(0, n), qkLayer(1, n), qkLayer(2, n)];
    state.finish(long, { layers: [], queryKeys: layers.slice(0, 1), backend: 'native', millis: 1, warnings: [], spans: [], backendReason: '', moreToCome: true });
    expect([state.snapshot.layersPending, state.snapshot.records.length]).toEqual([true, 1]);
    // 2 heads × 300² float32 weights per layer: 0.7 MB; three: 2.2 MB.
    expect(state.snapshot.notice).toMatch(/^300 tokens: .* held instead of 0\.7 MB\)\.$/);
    // The first layer drawn meanwhile (computed and held while on screen) changes nothing in it.
    await state.snapshot.run!.store!.pin([0]);
    expect(state.snapshot.run!.store!.heldBytes).toBeGreaterThan(2 * n * n * 4);
    state.addLayers(long, { layers: [], queryKeys: layers.slice(1), warnings: ['late'] });
    const s = state.snapshot;
    expect([s.layersPending, s.records.map((r) => r.label)]).toEqual([false, ['Layer 1', 'Layer 2', 'Layer 3']]);
    expect(s.notice).toMatch(/^300 tokens: .* held instead of 2\.2 MB\)\. Warning: late\.$/);
    expect(Array.from(s.records[2].data)).toEqual(Array.from(layerWeights(layers[2]).data));
    // A later run's layers are not taken into this one.
    state.addLayers({ ...long, runId: 2 }, { layers: [], queryKeys: [qkLayer(3, n)], warnings: [] });
    expect(state.snapshot.records.length).toBe(3);
  });
});

describe('a long input\'s layers computed off the page\'s thread', () => {
  it('switches layer only once the layer is computed (the page free meanwhile, its status saying so), then reads it without computing it again', async () => {
    const { PanelState } = await import('../../webview/panel/state');
    const { computeLayersWith } = await import('../../webview/panel/layerStore');
    const asked: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    // The workers, as the page has them: results arrive later, as messages do.
    computeLayersWith(async (l) => {
      asked.push(l.name);
      await gate;
      return layerWeights(l).data;
    });
    try {
      const state = new PanelState();
      const layers = [qkLayer(0, 6), qkLayer(1, 6), qkLayer(2, 6)];
      const req: RunRequest = { runId: 2, model: { id: 'm', label: 'M', architecture: 'qwen2', onnxFile: 'u', onnxLabel: 'onnx/model.onnx', causal: true }, backend: 'auto', text: 'abcdef', tokens: Array.from({ length: 6 }, (_, i) => ({ id: i, text: `t${i}`, start: i, end: i + 1, special: false })), ids: Int32Array.of(0, 1, 2, 3, 4, 5), maxLinksPerQuery: 12 };
      state.finish(req, { layers: [], queryKeys: layers, backend: 'native', millis: 1, warnings: [], spans: [], backendReason: '', moreToCome: false });
      await new Promise((r) => setTimeout(r, 0)); // the first picture's layer, read then, is let go
      state.selectRecord(2);
      expect([state.snapshot.recordIndex, state.snapshot.computing, asked]).toEqual([0, 'Layer 3', ['attentions.2']]);
      release();
      await gate;
      await new Promise((r) => setTimeout(r, 0));
      expect([state.snapshot.recordIndex, state.snapshot.computing]).toEqual([2, undefined]);
      expect(Array.from(state.snapshot.records[2].data)).toEqual(Array.from(layerWeights(layers[2]).data));
      // The explorer's choice waits alike; a layer that needs no computing is chosen at once.
      state.setSelection(1, [0]);
      expect(state.snapshot.recordIndex).toBe(2);
      await new Promise((r) => setTimeout(r, 0));
      expect([state.snapshot.recordIndex, state.snapshot.visibleHeads, asked]).toEqual([1, [true, false], ['attentions.2', 'attentions.1']]);
    } finally {
      computeLayersWith(undefined);
    }
  });
});

describe('the question before a very long run', () => {
  it('says how long the input is against the model’s limit, what the weights would take and that they are kept as queries and keys', () => {
    const q = longRunQuestion(8192, 32768, { layers: 24, heads: 14 }, 8192);
    expect(q).toBe("The selection is 8,192 tokens (the model takes up to 32,768). Every layer's attention weights would take 90.2 GB (24 layers × 14 heads × 8,192² × 4 bytes); they are kept as each layer's queries and keys instead, and a layer's weights are computed when it is shown. The run may take minutes on this machine. Run it?");
    expect(longRunQuestion(8191, 32768, { layers: 24, heads: 14 }, 8192)).toBeUndefined();
    expect(longRunQuestion(100_000, 131072, { layers: 24, heads: 14 }, 0)).toBeUndefined();
    expect(longRunQuestion(9000, 16384, undefined, 8192)).toMatch(/^The selection is 9,000 tokens \(the model takes up to 16,384\)\. The model does not give its layers and heads, so what the weights take is not known; they are kept/);
  });
});
