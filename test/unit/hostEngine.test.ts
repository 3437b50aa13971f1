// The page's side of the host's native engine: requests out, replies in; a run's first layer
// resolves the run, the others arrive one message each; failures carry the host's code.
import { describe, expect, it } from 'vitest';
import type { AttentionLayer } from '../../src/core/attention';
import { EngineError } from '../../src/core/engine/attentionEngine';
import type { FromPanel, ModelDescriptor, ToPanel } from '../../src/core/protocol/panel';
import { HostEngines, nativeSpans } from '../../webview/panel/hostEngine';
import { stageTotals } from '../../src/core/timing';

const MODEL: ModelDescriptor = { id: 'm', label: 'M', architecture: 'gpt2', onnxFile: 'file-1', onnxLabel: 'onnx/model.onnx', causal: true };
const layer = (i: number): AttentionLayer => ({ name: `attentions.${i}`, kind: 'self', layer: i, heads: 1, queries: 1, keys: 1, data: Float32Array.of(i) });

/** A page whose host answers as `answer` says; `sent` logs every message out. */
function page(answer: (m: FromPanel, reply: (r: ToPanel) => void) => void) {
  const sent: FromPanel[] = [];
  let engines!: HostEngines;
  // Replies arrive as later tasks, as messages do.
  const reply = (r: ToPanel) => setTimeout(() => engines.receive(r), 0);
  engines = new HostEngines((m) => {
    sent.push(m);
    answer(m, reply);
  });
  return { engines, sent };
}

describe('HostEngines', () => {
  it('opens an engine by the model file id, and resolves a run with its first layer, then the rest as they arrive', async () => {
    const { engines, sent } = page((m, reply) => {
      if (m.type === 'engine/open') reply({ type: 'engine/didOpen', requestId: m.requestId, engine: 7, backend: 'native' });
      if (m.type === 'engine/run') {
        reply({ type: 'engine/didRun', requestId: m.requestId, result: { layers: [layer(0)], millis: 3, warnings: ['w'] }, more: 2 });
        reply({ type: 'engine/didRunLayer', requestId: m.requestId, layer: layer(1) });
        reply({ type: 'engine/didRunLayer', requestId: m.requestId, layer: layer(2) });
      }
    });
    const engine = await engines.open(MODEL, 'native');
    expect(engine.backend).toBe('native');
    const out = await engine.run({ ids: [5, 6] });
    expect([out.layers.map((l) => l.name), out.millis, out.warnings]).toEqual([['attentions.0'], 3, ['w']]);
    expect((await out.rest!).layers.map((l) => l.name)).toEqual(['attentions.1', 'attentions.2']);
    const run = sent.find((m) => m.type === 'engine/run');
    expect(run).toMatchObject({ engine: 7, input: { ids: Int32Array.of(5, 6) } });
    await engine.dispose();
    await engine.dispose();
    expect(sent.filter((m) => m.type === 'engine/release')).toEqual([{ type: 'engine/release', engine: 7 }]);
  });

  it('gathers queries and keys that arrive after the first layer into the run\'s rest', async () => {
    const qk = (i: number) => ({ name: `attentions.${i}`, kind: 'self' as const, layer: i, heads: 1, kvHeads: 1, queries: 1, keys: 1, headDim: 1, scale: 1, q: Float32Array.of(i), k: Float32Array.of(i), causal: true });
    const { engines } = page((m, reply) => {
      if (m.type === 'engine/open') reply({ type: 'engine/didOpen', requestId: m.requestId, engine: 1, backend: 'native' });
      if (m.type === 'engine/run') {
        reply({ type: 'engine/didRun', requestId: m.requestId, result: { layers: [], queryKeys: [qk(0)], millis: 3, warnings: [] }, more: 2 });
        reply({ type: 'engine/didRunLayer', requestId: m.requestId, queryKey: qk(1) });
        reply({ type: 'engine/didRunLayer', requestId: m.requestId, queryKey: qk(2) });
      }
    });
    const out = await (await engines.open(MODEL, 'native', false, true)).run({ ids: [5] });
    expect(out.queryKeys!.map((l) => l.name)).toEqual(['attentions.0']);
    const rest = await out.rest!;
    expect([rest.layers, rest.queryKeys!.map((l) => l.name)]).toEqual([[], ['attentions.1', 'attentions.2']]);
  });

  it('takes a run the host began ahead, unasked, only for the same input; the latest announced; its layers kept from their arrival', async () => {
    const { engines, sent } = page((m, reply) => {
      if (m.type === 'engine/open') reply({ type: 'engine/didOpen', requestId: m.requestId, engine: 7, backend: 'native' });
      if (m.type === 'engine/run') reply({ type: 'engine/didRun', requestId: m.requestId, result: { layers: [layer(9)], millis: 1, warnings: [] }, more: 0 });
    });
    const engine = await engines.open(MODEL, 'native');
    const tell = (m: ToPanel) => engines.receive(m);
    const input = (...ids: number[]) => ({ ids: Int32Array.from(ids) });
    // Two announced in turn: the first's result (come later) is nobody's; the second's is taken by its run.
    tell({ type: 'engine/runAhead', engine: 7, aheadId: 1, runId: 1, input: input(1, 2) });
    tell({ type: 'engine/runAhead', engine: 7, aheadId: 2, runId: 2, input: input(3, 4) });
    // A run of other tokens (the induction probe's) and a mechanism run leave it.
    expect((await engine.run({ ids: [5] })).layers[0].name).toBe('attentions.9');
    expect((await engine.run({ ids: [3, 4] }, { mechanismOf: ['attentions.0'] })).layers[0].name).toBe('attentions.9');
    tell({ type: 'engine/didRunAhead', engine: 7, aheadId: 1, requestId: -1, result: { layers: [layer(1)], millis: 1, warnings: [] }, more: 1 });
    tell({ type: 'engine/didRunAhead', engine: 7, aheadId: 2, requestId: -2, result: { layers: [layer(0)], millis: 1, warnings: [], ranAt: Date.now(), sentAt: Date.now(), ranAhead: true }, more: 2 });
    tell({ type: 'engine/didRunLayer', requestId: -2, layer: layer(1) }); // before the page's run asks
    const taken = engine.run({ ids: [3, 4] });
    tell({ type: 'engine/didRunLayer', requestId: -2, layer: layer(2) });
    const out = await taken;
    expect(out.layers.map((l) => l.name)).toEqual(['attentions.0']);
    expect((await out.rest!).layers.map((l) => l.name)).toEqual(['attentions.1', 'attentions.2']);
    expect(out.spans?.map((s) => s.stage)).toEqual(['inference', 'extraction', 'transfer']);
    expect(sent.filter((m) => m.type === 'engine/run').length).toBe(2); // the probe's and the mechanism's only
    // Announced, then dropped (the host says so): the page's run asks as usual. Taken once only.
    tell({ type: 'engine/runAhead', engine: 7, aheadId: 3, runId: 3, input: input(6) });
    const asked = engine.run({ ids: [6] });
    tell({ type: 'engine/didRunAhead', engine: 7, aheadId: 3, requestId: 0 });
    expect((await asked).layers[0].name).toBe('attentions.9');
    expect(sent.filter((m) => m.type === 'engine/run').length).toBe(3);
    // Failed: the run fails with the host's message and code.
    tell({ type: 'engine/runAhead', engine: 7, aheadId: 4, runId: 4, input: input(6) });
    tell({ type: 'engine/didRunAhead', engine: 7, aheadId: 4, requestId: 0, message: 'The native engine ended before it answered', code: 'worker-died' });
    await expect(engine.run({ ids: [6] })).rejects.toMatchObject({ code: 'worker-died', message: 'The native engine ended before it answered' });
    // Another request starts (superseded, or not run ahead): one announced for the request before is nobody's, nor its layers.
    const internals = engines as unknown as { arriving: Map<number, unknown>; ahead: Map<number, unknown> };
    tell({ type: 'engine/runAhead', engine: 7, aheadId: 6, runId: 6, input: input(6) });
    tell({ type: 'engine/didRunAhead', engine: 7, aheadId: 6, requestId: -6, result: { layers: [layer(0)], millis: 1, warnings: [] }, more: 1 });
    expect(internals.arriving.size).toBe(1);
    engines.startingRun(6); // its own request: kept
    expect(internals.ahead.size).toBe(1);
    engines.startingRun(7);
    expect([internals.ahead.size, internals.arriving.size]).toEqual([0, 0]);
    expect((await engine.run({ ids: [6] })).layers[0].name).toBe('attentions.9'); // asked, not handed the old one
    // Released with one announced, or one announced after its release: its result is nobody's.
    tell({ type: 'engine/runAhead', engine: 7, aheadId: 5, runId: 5, input: input(6) });
    await engine.dispose();
    tell({ type: 'engine/didRunAhead', engine: 7, aheadId: 5, requestId: -5, result: { layers: [layer(0)], millis: 1, warnings: [] }, more: 1 });
    tell({ type: 'engine/runAhead', engine: 7, aheadId: 8, runId: 8, input: input(6) });
    tell({ type: 'engine/didRunAhead', engine: 7, aheadId: 8, requestId: -8, result: { layers: [layer(0)], millis: 1, warnings: [] }, more: 1 });
    expect([internals.ahead.size, internals.arriving.size]).toEqual([0, 0]);
  });

  it('fails with the host\'s message and code', async () => {
    const { engines } = page((m, reply) => {
      if (m.type === 'engine/open') reply({ type: 'engine/didFail', requestId: m.requestId, message: 'The native engine (onnxruntime-node) is not available on darwin-x64.', code: 'native-unavailable' });
    });
    const err = await engines.open(MODEL, 'native').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EngineError);
    expect(err).toMatchObject({ code: 'native-unavailable', message: 'The native engine (onnxruntime-node) is not available on darwin-x64.' });
  });

  it('breaks a native run\'s time into the crossings and the run, from the host\'s clock readings', async () => {
    const { engines } = page((m, reply) => {
      if (m.type === 'engine/open') reply({ type: 'engine/didOpen', requestId: m.requestId, engine: 1, backend: 'native' });
      if (m.type === 'engine/run') {
        const now = Date.now();
        const ranAhead = m.input.ids.length > 1; // the host says a run was begun ahead
        reply({ type: 'engine/didRun', requestId: m.requestId, result: { layers: [layer(0)], millis: 2, warnings: [], ranAt: ranAhead ? now - 50 : now + 3, sentAt: now + 4, ...(ranAhead ? { ranAhead } : {}) }, more: 0 });
      }
    });
    const engine = await engines.open(MODEL, 'native');
    const ahead = await engine.run({ ids: [1, 2] });
    expect(ahead.spans?.map((s) => s.stage)).toEqual(['inference', 'extraction', 'transfer']);
    expect(ahead.spans![0].end).toBeLessThan(ahead.spans![1].start);
    const out = await engine.run({ ids: [1] });
    expect(out.spans?.map((s) => s.stage)).toEqual(['transfer', 'inference', 'extraction', 'transfer']);
    expect(out.spans![1].end - out.spans![1].start).toBeCloseTo(2, 0);
    for (const [a, b] of out.spans!.slice(1).map((s, i) => [out.spans![i], s])) expect(b.start).toBe(a.end);
    // Clocks that disagree never give a negative span, and the run is counted whole.
    const skewed = stageTotals({ commandAt: 0, pictureAt: 100, spans: nativeSpans(50, 40, 30, 30, 45) });
    expect(skewed).toEqual({ transfer: 0, inference: 30, extraction: 0 });
    expect(stageTotals({ commandAt: 0, pictureAt: 100, spans: nativeSpans(10, 60, 30, 70, 90) })).toEqual({ transfer: 20 + 20, inference: 30, extraction: 10 });
    // A run the host began ahead (it says so): the run where it was, ended before the page asked
    // or still in flight then, and the answer's crossing once it had ended and the page had asked.
    expect(nativeSpans(100, 60, 30, 105, 120, true)).toEqual([{ stage: 'inference', start: 30, end: 60 }, { stage: 'extraction', start: 100, end: 105 }, { stage: 'transfer', start: 105, end: 120 }]);
    expect(nativeSpans(1000, 1060, 100, 1062, 1070, true)).toEqual([{ stage: 'inference', start: 960, end: 1060 }, { stage: 'extraction', start: 1060, end: 1062 }, { stage: 'transfer', start: 1062, end: 1070 }]);
    // Begun after the page asked (it waited for the worker to be idle): the wait is counted, as a run's crossing is.
    expect(nativeSpans(1000, 1100, 50, 1102, 1110, true)).toEqual([{ stage: 'transfer', start: 1000, end: 1050 }, { stage: 'inference', start: 1050, end: 1100 }, { stage: 'extraction', start: 1100, end: 1102 }, { stage: 'transfer', start: 1102, end: 1110 }]);
    // Not told so, a run that seems to have ended before it was asked (the page's clock ahead of the host's) is one run after the request.
    expect(stageTotals({ commandAt: 1000, pictureAt: 1200, spans: nativeSpans(1060, 1050, 30, 1065, 1150) })).toEqual({ transfer: 60, inference: 30, extraction: 0 });
  });
});
