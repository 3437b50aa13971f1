// The panel's state: its actions, what each reports as changed, and keyboard navigation.
import { beforeEach, describe, expect, it } from 'vitest';
import type { AttentionLayer } from '../../src/core/attention';
import type { RunRequest } from '../../src/core/protocol/panel';
import type { TokenInfo } from '../../src/core/tokens';
import { PanelState } from '../../webview/panel/state';
import { viewKey } from '../../webview/panel/viewKeys';
import type { Change } from '../../webview/panel/snapshot';

const tokens: TokenInfo[] = ['<s>', 'a', 'b'].map((text, i) => ({ id: i, text, start: i, end: i + 1, special: i === 0 }));
const layer = (name: string, kind: AttentionLayer['kind'], layer: number, heads: number, queries = 3, keys = 3): AttentionLayer =>
  ({ name, kind, layer, heads, queries, keys, data: new Float32Array(heads * queries * keys).fill(1 / keys) });
const request = (runId: number, over: Partial<RunRequest> = {}): RunRequest => ({
  runId,
  model: { id: 'm', label: 'M', architecture: 'gpt2', onnxFile: 'u', onnxLabel: 'onnx/model.onnx', causal: true },
  backend: 'auto',
  text: '_ab', // token i spans [i, i + 1); the special token's span is not read
  tokens,
  ids: Int32Array.from([0, 1, 2]),
  maxLinksPerQuery: 12,
  ...over,
});

describe('PanelState', () => {
  let state: PanelState;
  let changes: Change[];
  beforeEach(() => {
    state = new PanelState();
    changes = [];
    state.onDidChange((c) => changes.push(c));
  });
  const load = (layers = [layer('attentions.0', 'self', 0, 4), layer('attentions.1', 'self', 1, 4)], req = request(1)) =>
    state.finish(req, { layers, backend: 'wasm', millis: 5, warnings: [], backendReason: 'attentionLens.backend is "wasm"', spans: [], moreToCome: false });

  it('goes idle → running → ready, carrying the notice, and lands on the first record with every head', () => {
    expect(state.snapshot.phase.name).toBe('idle');
    state.begin(request(1, { notice: 'truncated' }));
    state.progress('model', 'Loading…', 0.5);
    expect(state.snapshot.phase).toEqual({ name: 'running', stage: 'model', message: 'Loading…', fraction: 0.5 });
    expect(state.snapshot.notice).toBe('truncated');
    load();
    expect(state.snapshot.phase.name).toBe('ready');
    expect(state.record?.label).toBe('Layer 1');
    expect(state.shownHeads).toEqual([0, 1, 2, 3]);
    expect(changes).toEqual(['phase', 'phase', 'run']);
  });

  it('takes layers read back after the first picture without moving the view, and holds a rollout until they are all there', () => {
    const first = [layer('attentions.0', 'self', 0, 4)];
    state.finish(request(1), { layers: first, backend: 'webgpu', millis: 5, warnings: [], backendReason: 'hardware adapter', spans: [], moreToCome: true });
    expect(state.snapshot.layersPending).toBe(true);
    state.toggleHead(3);
    state.setChoices({ aggregate: 'rollout' });
    expect(state.record?.label).toBe('Layer 1'); // not a rollout of one layer
    state.addLayers(request(2), { layers: [layer('attentions.1', 'self', 1, 4)], warnings: [] }); // another run's: ignored
    expect(state.snapshot.run?.records).toHaveLength(1);
    changes = [];
    state.addLayers(request(1), { layers: [layer('attentions.1', 'self', 1, 4)], warnings: ['Layer 2 head 1: 1 of 9 weights were not numbers'] });
    expect(changes).toEqual(['records']);
    expect(state.snapshot.layersPending).toBe(false);
    expect(state.snapshot.run?.records.map((r) => r.id)).toEqual(['attentions.0', 'attentions.1']);
    expect(state.snapshot.records[0].label).toMatch(/rollout/i);
    expect(state.snapshot.notice).toContain('Warning: Layer 2 head 1: 1 of 9 weights were not numbers.');
  });

  it('counts the attention bytes it holds once per buffer, derived records and the grid included', () => {
    load(); // two layers of 4 heads × 3 × 3 float32: 2 × 144 bytes, shared by base and records
    expect(state.heldBytes).toBe(2 * 4 * 9 * 4);
    state.setChoices({ aggregate: 'mean' }); // one 3 × 3 mean per layer besides
    expect(state.heldBytes).toBe(2 * 4 * 9 * 4 + 2 * 9 * 4);
  });

  it('keeps the layer on screen in full precision once compacted, and gives exports every layer in full precision', async () => {
    const compact = new PanelState(1); // every run is compacted
    const seen: Change[] = [];
    compact.onDidChange((c) => seen.push(c));
    const ls = [0, 1].map((l) => layer(`attentions.${l}`, 'self', l, 4));
    ls.forEach((l, li) => l.data.forEach((_, i) => (l.data[i] = (1 + ((i * 7 + li) % 5)) / 7.3))); // not exact in 16 bits
    const exact = ls.map((l) => l.data.slice());
    compact.finish(request(1), { layers: ls, backend: 'wasm', millis: 5, warnings: [], backendReason: 'wasm', spans: [], moreToCome: false });
    const store = compact.snapshot.run!.store!;
    expect(compact.layersOnScreen).toEqual([0]);
    await store.pin(compact.layersOnScreen);
    await store.compact(() => Promise.resolve());
    expect(compact.heldBytes).toBe(4 * 9 * 4 + 2 * (4 * 9 * 2)); // layer 0 in full, both in 16 bits
    expect(compact.record!.data).toEqual(exact[0]);
    compact.selectRecord(1);
    expect(compact.layersOnScreen).toEqual([1]);
    expect(compact.record!.data).not.toEqual(exact[1]); // the 16-bit copy, until read back
    seen.length = 0;
    expect(await store.pin(compact.layersOnScreen)).toBe(true);
    compact.refreshPrecision();
    expect(seen).toEqual(['precision']); // the run's own records: nothing to make again
    expect(compact.record!.data).toEqual(exact[1]);
    // Exports re-read every layer, whatever is on screen.
    compact.setChoices({ aggregate: 'mean' });
    const full = await compact.fullPrecision();
    expect(full.base.map((r) => Array.from(r.data))).toEqual(exact.map((e) => Array.from(e)));
    expect(full.records[0].data[0]).toBeCloseTo((exact[0][0] + exact[0][9] + exact[0][18] + exact[0][27]) / 4, 6);
    // A mean over heads made from a 16-bit copy is made again once its layer is back in full precision.
    compact.setChoices({ aggregate: undefined });
    compact.selectRecord(0);
    await store.pin(compact.layersOnScreen); // layer 2 gives its full precision up
    compact.setChoices({ aggregate: 'mean' }); // layer 2's mean comes from its 16-bit copy
    const layer1 = compact.snapshot.records[0];
    compact.selectRecord(1);
    const mean = (exact[1][0] + exact[1][9] + exact[1][18] + exact[1][27]) / 4;
    expect(Math.abs(compact.record!.data[0] - mean)).toBeGreaterThan(1e-6);
    await store.pin(compact.layersOnScreen);
    seen.length = 0;
    compact.refreshPrecision();
    expect(seen).toEqual(['selection']);
    expect(compact.snapshot.records[0]).toBe(layer1); // only the record on screen is made again
    expect(Math.abs(compact.record!.data[0] - mean)).toBeLessThan(1e-7);
  });

  it('keeps records made from compacted layers (hidden tokens) in a store of their own: 16 bits off screen, made again on screen', async () => {
    const compact = new PanelState(1);
    const ls = [0, 1].map((l) => layer(`attentions.${l}`, 'self', l, 4));
    ls.forEach((l, li) => l.data.forEach((_, i) => (l.data[i] = (1 + ((i * 7 + li) % 5)) / 7.3)));
    const exact = ls.map((l) => l.data.slice());
    compact.finish(request(1), { layers: ls, backend: 'wasm', millis: 5, warnings: [], backendReason: 'wasm', spans: [], moreToCome: false });
    compact.setChoices({ hide: ['special'] }); // 4 heads × 2 × 2 a layer
    expect(compact.stores).toHaveLength(2);
    const settle = async () => {
      for (const [store, onScreen] of compact.stores) {
        if (await store.pin(onScreen)) compact.refreshPrecision();
        await store.compact(() => Promise.resolve());
      }
    };
    await settle();
    // Layers: layer 1 in full, both in 16 bits; hidden records the same way, and no Blobs for them.
    expect(compact.heldBytes).toBe(4 * 9 * 4 + 2 * 4 * 9 * 2 + 4 * 4 * 4 + 2 * 4 * 4 * 2);
    expect(compact.snapshot.baseStore!.blobBytes).toBe(0);
    compact.selectRecord(1);
    const hidden = compact.record!;
    // Head 1, first query left ('a') to the first key left ('a'), renormalised over 'a' and 'b'.
    const w = (k: number) => exact[1][(0 * 3 + 1) * 3 + k];
    const expected = w(1) / (w(1) + w(2));
    expect(Math.abs(hidden.data[0] - expected)).toBeGreaterThan(1e-6); // made from layer 2's 16-bit copy
    await settle();
    expect(compact.record).toBe(hidden); // the same record, its store holding the weights made again
    expect(Math.abs(compact.record!.data[0] - expected)).toBeLessThan(1e-7);
    // Back to every token: the store of hidden-token records goes with them.
    compact.setChoices({ hide: [] });
    expect(compact.stores).toHaveLength(1);
  });

  it('adds a warning to the notice once, however often it comes', () => {
    load();
    state.warn('layer 2 could not be read back');
    state.warn('layer 2 could not be read back');
    expect(state.snapshot.notice).toBe('Warning: layer 2 could not be read back.');
  });

  it('normalises records once: causal from the model, tokens on both sides', () => {
    load();
    expect(state.record?.causal).toBe(true);
    expect(state.record?.queryTokens).toBe(tokens);
    expect(state.snapshot.run?.records.map((r) => r.id)).toEqual(['attentions.0', 'attentions.1']);
  });

  it('toggles and solos heads, and keeps the choice across layers with the same head count', () => {
    load();
    state.toggleHead(1);
    expect(state.shownHeads).toEqual([0, 2, 3]);
    state.soloHead(2);
    expect(state.shownHeads).toEqual([2]);
    state.selectRecord(1);
    expect(state.shownHeads).toEqual([2]);
    expect(changes.slice(-3)).toEqual(['selection', 'selection', 'selection']);
    state.toggleHead(9); // out of range: nothing happens
    state.selectRecord(5);
    expect(changes).toHaveLength(4);
  });

  it('shows every head again on a layer with another head count, and clears the hover', () => {
    load([layer('encoder_attentions.0', 'encoder', 0, 4), layer('cross_attentions.0', 'cross', 0, 2)], request(1, { decoderTokens: tokens.slice(0, 2) }));
    state.soloHead(0);
    state.hoverOn({ side: 'query', index: 1 });
    state.selectRecord(1);
    expect(state.shownHeads).toEqual([0, 1]);
    expect(state.snapshot.hover).toBeNull();
    expect(state.record?.queryTokens).toHaveLength(2);
  });

  it('reports a hover only when it changes', () => {
    load();
    state.hoverOn({ side: 'key', index: 2 });
    state.hoverOn({ side: 'key', index: 2 });
    state.hoverOn(null);
    expect(changes.filter((c) => c === 'hover')).toHaveLength(2);
  });

  it('follows the editor cursor only for the run and records over the input', () => {
    load([layer('encoder_attentions.0', 'encoder', 0, 2), layer('decoder_attentions.0', 'decoder', 0, 2)]);
    state.focusFromEditor(2, 1); // another run
    expect(state.snapshot.hover).toBeNull();
    state.focusFromEditor(1, 1);
    expect(state.snapshot.hover).toEqual({ side: 'query', index: 1 });
    expect(state.snapshot.reveal).toBe(true);
    state.focusFromEditor(1, -1);
    expect(state.snapshot.hover).toBeNull();
    state.selectRecord(1); // decoder attention is not over the selected text
    state.focusFromEditor(1, 2);
    expect(state.snapshot.hover).toBeNull();
  });

  it('moves with the keyboard between tokens, sides and layers, and ignores other keys', () => {
    load();
    expect(viewKey(state, 'ArrowDown')).toBe(true);
    expect(state.snapshot.hover).toEqual({ side: 'query', index: 0 });
    viewKey(state, 'ArrowDown');
    viewKey(state, 'ArrowDown');
    viewKey(state, 'ArrowDown'); // stays on the last token
    expect(state.snapshot.hover).toEqual({ side: 'query', index: 2 });
    viewKey(state, 'ArrowRight');
    expect(state.snapshot.hover).toEqual({ side: 'key', index: 2 });
    viewKey(state, 'ArrowUp');
    expect(state.snapshot.hover).toEqual({ side: 'key', index: 1 });
    viewKey(state, 'Escape');
    expect(state.snapshot.hover).toBeNull();
    viewKey(state, 'PageDown');
    expect(state.snapshot.recordIndex).toBe(1);
    viewKey(state, 'PageDown');
    expect(state.snapshot.recordIndex).toBe(1);
    viewKey(state, 'PageUp');
    expect(state.snapshot.recordIndex).toBe(0);
    expect(viewKey(state, 'a')).toBe(false);
    expect(viewKey(state, 'toString')).toBe(false);
  });

  it('ignores keys before any run is loaded, and shows a failure with its message', () => {
    expect(viewKey(state, 'ArrowDown')).toBe(false);
    state.fail('boom');
    expect(state.snapshot.phase).toEqual({ name: 'error', message: 'boom' });
  });

  it('switches to an aggregate and back, keeping the layer, and reports every head as selected', () => {
    load();
    state.selectRecord(1);
    state.soloHead(2);
    state.setChoices({ aggregate: 'mean' });
    expect(state.record?.label).toBe('Layer 2 · mean of all 4 heads');
    expect(state.shownHeads).toEqual([0]);
    expect(state.headSelection).toEqual({ recordIndex: 1, heads: [0, 1, 2, 3], of: 4 });
    state.setChoices({ aggregate: undefined });
    expect([state.record?.label, state.shownHeads]).toEqual(['Layer 2', [0, 1, 2, 3]]);
    expect(changes.slice(-2)).toEqual(['selection', 'selection']); // the grid stays: same per-head records
  });

  it('rebuilds the records for word level and hidden tokens, dropping the grid, and maps the editor cursor to words', () => {
    const words = tokens.map((t, i) => ({ ...t, ...(i > 0 ? { word: 0 } : {}) })); // "a" and "b" are one word
    load(undefined, request(1, { tokens: words }));
    state.setGrid({ runId: 1, rows: [], size: 1, thumbnails: new Uint8Array(0), stats: new Float32Array(0) });
    expect(state.snapshot.grid).toBeDefined();
    state.setChoices({ words: true });
    expect(changes.at(-1)).toBe('records');
    expect(state.snapshot.grid).toBeUndefined();
    expect(state.record?.queryTokens.map((t) => t.text)).toEqual(['<s>', 'ab']);
    state.focusFromEditor(1, 2); // the token "b" is in the word "ab"
    expect(state.snapshot.hover).toEqual({ side: 'query', index: 1 });
    state.setChoices({ words: false, hide: ['special'] });
    expect(state.record?.queryTokens.map((t) => t.text)).toEqual(['a', 'b']);
    state.focusFromEditor(1, 0); // the hidden special token
    expect(state.snapshot.hover).toBeNull();
  });

  it('takes a selection from the explorer, leaving any aggregation, and ignores grids of other runs', () => {
    load();
    state.setChoices({ aggregate: 'rollout' });
    state.setSelection(1, [0, 2]);
    expect(state.snapshot.choices.aggregate).toBeUndefined();
    expect([state.snapshot.recordIndex, state.shownHeads]).toEqual([1, [0, 2]]);
    state.setGrid({ runId: 99, rows: [], size: 1, thumbnails: new Uint8Array(0), stats: new Float32Array(0) });
    expect(state.snapshot.grid).toBeUndefined();
  });

  it('switches views and clears the hover', () => {
    load();
    state.hoverOn({ side: 'query', index: 1, key: 2 });
    state.hoverOn({ side: 'query', index: 1, key: 0 }); // another cell of the same row is a change
    state.setViewMode('matrix');
    state.setViewMode('matrix');
    expect([state.snapshot.viewMode, state.snapshot.hover]).toEqual(['matrix', null]);
    expect(changes.slice(-3)).toEqual(['hover', 'hover', 'view']);
  });

  it('names the model while it loads, and marks a hover the editor opened', () => {
    state.begin(request(1));
    expect(state.snapshot.loading).toBe('M');
    load();
    state.focusFromEditor(1, 2);
    expect([state.snapshot.hover, state.snapshot.hoverSource]).toEqual([{ side: 'query', index: 2 }, 'editor']);
    state.hoverOn({ side: 'query', index: 2 }); // the pointer arrives on the same token: now it is the pointer's
    expect(state.snapshot.hoverSource).toBe('pointer');
    viewKey(state, 'ArrowUp');
    expect(state.snapshot.hoverSource).toBe('keyboard');
  });
});

describe('PanelState in a comparison', () => {
  const ab = (data: number[][][]) => ({ name: 'attentions.0', kind: 'self' as const, layer: 0, heads: data.length, queries: 3, keys: 3, data: Float32Array.from(data.flat(2)) });
  const result = (layers: AttentionLayer[]) => ({ layers, backend: 'wasm' as const, millis: 1, warnings: [], backendReason: '', spans: [], moreToCome: false });
  const h0 = [[1, 0, 0], [0.5, 0.5, 0], [0.2, 0.3, 0.5]];
  const h1 = [[1, 0, 0], [1, 0, 0], [1, 0, 0]];

  it('aligns B with A, maps B’s layers proportionally, offers A − B and picks pairs from the correspondence', () => {
    const state = new PanelState();
    const b = request(1, { model: { ...request(1).model, id: 'b', label: 'B' } });
    const a = request(1, { compare: { model: b.model, text: b.text, tokens: b.tokens, ids: b.ids, sameModel: false } });
    const layersB = [0, 1, 2].map((i) => ({ ...ab([h1, h0]), name: `attentions.${i}`, layer: i }));
    state.finishCompare(a, result([ab([h0, h1]), { ...ab([h1, h1]), name: 'attentions.1', layer: 1 }]), { request: b, result: result(layersB) });
    const c = state.snapshot.compare!;
    expect(c.alignment.kind).toBe('tokens');
    expect(c.identical).toBe(false);
    expect(state.snapshot.notice).toMatch(/Compared by tokens: both tokenizations are identical/);
    expect(state.layerB).toBe(0);
    state.selectRecord(1);
    expect(state.layerB).toBe(2); // round(1 · 2 / 1)
    state.setLayerB(1);
    expect(state.layerB).toBe(1);
    expect(state.visibleHeadsB).toEqual([true, true]);
    state.pickPair(1, 0);
    expect(state.snapshot.compare!.show).toBe('side');
    expect(state.snapshot.visibleHeads).toEqual([false, true]);
    expect(state.visibleHeadsB).toEqual([true, false]);
    // Analysis choices and the text view belong to single runs.
    state.setChoices({ words: true });
    state.setViewMode('text');
    expect(state.snapshot.choices.words).toBe(false);
    expect(state.snapshot.viewMode).toBe('head');
    // A single run afterwards leaves the comparison.
    state.finish(request(2), result([ab([h0])]));
    expect(state.snapshot.compare).toBeUndefined();
  });

  it('keeps both sides compacted, B on its facing layer in full precision, and exports both in full precision', async () => {
    const state = new PanelState(1);
    const b = request(1, { model: { ...request(1).model, id: 'b', label: 'B' } });
    const a = request(1, { compare: { model: b.model, text: b.text, tokens: b.tokens, ids: b.ids, sameModel: false } });
    const odd = (h: number[][]) => h.map((row) => row.map((w) => w * 0.999)); // not exact in 16 bits
    const layersB = [0, 1, 2].map((i) => ({ ...ab([odd(h1), odd(h0)]), name: `attentions.${i}`, layer: i }));
    const exactB = layersB.map((l) => l.data.slice());
    state.finishCompare(a, result([ab([odd(h0), odd(h1)]), { ...ab([odd(h1), odd(h1)]), name: 'attentions.1', layer: 1 }]), { request: b, result: result(layersB) });
    // Identical tokenizations: A's aligned records share its layers' store; B has its own.
    expect(state.stores.map(([, onScreen]) => onScreen)).toEqual([[0], [0]]);
    for (const [store, onScreen] of state.stores) {
      await store.pin(onScreen);
      await store.compact(() => Promise.resolve());
    }
    const layer = 2 * 9 * 4; // 2 heads × 3 × 3 float32
    expect(state.heldBytes).toBe(layer + 2 * (layer / 2) + layer + 3 * (layer / 2)); // A: layer 1 + 16 bits of both; B: layer 1 + 16 bits of all three
    state.selectRecord(1); // B's layer 3 faces A's layer 2
    expect(state.stores.map(([, onScreen]) => onScreen)).toEqual([[1], [2]]);
    expect(state.recordB!.data).not.toEqual(exactB[2]);
    for (const [store, onScreen] of state.stores) await store.pin(onScreen);
    expect(state.recordB!.data).toEqual(exactB[2]);
    const full = await state.fullPrecision();
    expect(full.recordsB!.map((r) => Array.from(r.data))).toEqual(exactB.map((d) => Array.from(d)));
  });

  it('says when the two runs are identical', () => {
    const state = new PanelState();
    const a = request(1, { compare: { model: request(1).model, text: '_ab', tokens, ids: Int32Array.from([0, 1, 2]), sameModel: false } });
    state.finishCompare(a, result([ab([h0])]), { request: request(1), result: result([ab([h0])]) });
    expect(state.snapshot.compare!.identical).toBe(true);
    expect(state.snapshot.notice).toMatch(/identical: every difference is 0/);
  });
});
