// The panel's side of the native engine in the host: which models it opens ahead while the page
// starts (only where the page will run natively, with the page's own choice of weights or
// queries and keys), where `auto` ran is remembered, and a reloaded page's engines are released
// and its answers dropped.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Backend } from '../../src/core/backend';
import { type NativeInput, type NativeOpen, type NativeOpened, type NativeRunResult, sameNativeInput } from '../../src/core/protocol/engine';
import type { QueryKeyLayer } from '../../src/core/queryKeys';
import type { AttentionLayer } from '../../src/core/attention';
import type { RunRequest, ToPanel } from '../../src/core/protocol/panel';
import type { NativeEngines } from '../../src/native/nativeEngines';
import type { PanelModel } from '../../src/panels/attentionPanel';
import { PanelNative } from '../../src/panels/panelNative';
import { EngineError } from '../../src/core/engine/engineError';
import { HostEngines } from '../../webview/panel/hostEngine';
import { Runner } from '../../webview/panel/runner';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'panel-engines-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const onnx = path.join(dir, 'model.onnx');
fs.writeFileSync(onnx, new Uint8Array(1000));

const MODEL: PanelModel = { id: 'm', label: 'M', architecture: 'gpt2', onnxPath: onnx, onnxLabel: 'onnx/model.onnx', causal: true, attention: { layers: 24, heads: 14 } };

function request(over: Partial<RunRequest> = {}): RunRequest {
  return { runId: 1, model: { ...MODEL, onnxFile: 'f1' } as RunRequest['model'], backend: 'auto', text: '', tokens: [], ids: new Int32Array(100), maxLinksPerQuery: 8, ...over };
}

/** A native engine that logs what it is asked and answers at once (runs with `result`). */
/** A run ahead's outcome in the fake: its result by default (one layer per id, marked as NativeEngines marks it), or what a test sets. */
let aheadOutcome = (input: NativeInput): Promise<NativeRunResult | undefined> => Promise.resolve({ layers: Array.from(input.ids, (_, i) => qkLayer(i)), millis: 1, warnings: [], ranAt: 1, sentAt: 2, ranAhead: true });
const qkLayer = (i: number): AttentionLayer => ({ name: `attentions.${i}`, kind: 'self', layer: i, heads: 1, queries: 1, keys: 1, data: Float32Array.of(i) });

function fakeNative(available = true, result: Partial<NativeRunResult> = {}) {
  const log: string[] = [];
  const ahead: NativeOpen[] = [];
  const inputs: Array<((opened: NativeOpened) => NativeInput) | undefined> = [];
  let seq = 0;
  const native = {
    availability: () => ({ available, reason: available ? 'here' : 'not here' }),
    openAhead: (o: NativeOpen, { input }: { input?: (opened: NativeOpened) => NativeInput } = {}) => {
      ahead.push(o);
      inputs.push(input);
      return () => void log.push(`drop ${o.model.onnxPath}${o.queryKeys ? ' queryKeys' : ''}`);
    },
    open: async (o: NativeOpen) => {
      log.push(`open ${o.backend}${o.queryKeys ? ' queryKeys' : ''}${o.mechanism ? ' mechanism' : ''}`);
      return { engine: ++seq, backend: o.backend, hasLogits: true };
    },
    run: async (engine: number) => ({ layers: [], millis: 1, warnings: [], engine, ...result }),
    runAhead: (engine: number, input: NativeInput) => {
      log.push(`run ahead ${engine} ${Array.from(input.ids).length}${input.logits ? ` ${input.logits}` : ''}`);
      return aheadOutcome(input);
    },
    release: async (engine: number) => void log.push(`release ${engine}`),
  };
  return { native: native as unknown as NativeEngines, log, ahead, inputs };
}

function panel(native: NativeEngines, last?: Backend) {
  const remembered: Backend[] = [];
  const sent: ToPanel[] = [];
  const engines = new PanelNative(native, { lastAuto: () => last, remember: (b) => void remembered.push(b) }, async (m) => void sent.push(m));
  return { engines, remembered, sent };
}

describe('PanelNative', () => {
  it('opens ahead where the page will run natively, as the page will ask', () => {
    const cases: Array<[string, Partial<RunRequest>, Backend | undefined, boolean, string[]]> = [
      ['auto, nothing run yet, a small model', {}, undefined, true, ['native']],
      ['auto, last run native', {}, 'native', true, ['native']],
      ['auto, last run on WebGPU', {}, 'webgpu', true, []],
      ['auto, last run on WebAssembly (native failed)', {}, 'wasm', true, []],
      ['the setting names native-cuda', { backend: 'native-cuda' }, 'webgpu', true, ['native-cuda']],
      ['the setting names wasm', { backend: 'wasm' }, undefined, true, []],
      ['a comparison (both models, every weight)', { compare: {} as RunRequest['compare'] }, 'native', true, []],
      ['a generation', { generate: {} as RunRequest['generate'] }, 'native', true, []],
      ['no native engine here', {}, 'native', false, []],
    ];
    for (const [what, over, last, available, expected] of cases) {
      const { native, ahead } = fakeNative(available);
      panel(native, last).engines.starting(request(over), MODEL, false);
      expect(ahead.map((o) => o.backend), what).toEqual(expected);
    }
  });

  it('opens ahead with queries and keys when the page will keep them (a long input), and never a large model on a guess', () => {
    const { native, ahead } = fakeNative();
    const { engines } = panel(native);
    engines.starting(request({ ids: new Int32Array(4096) }), MODEL, false); // 24 × 14 × 4096² × 4 bytes: far past 512 MB
    engines.starting(request({ ids: new Int32Array(100) }), MODEL, false);
    expect(ahead.map((o) => Boolean(o.queryKeys))).toEqual([true, false]);
    expect(ahead[1]).toEqual({ model: { onnxPath: onnx, label: 'onnx/model.onnx', external: [], firstPosition: undefined }, backend: 'native' });
    const big = { ...MODEL, external: [{ location: 'model.onnx_data', path: onnx, bytes: 2e9 }] };
    engines.starting(request(), big, false);
    expect(ahead.length).toBe(2);
    panel(native, 'native').engines.starting(request(), big, false);
    expect(ahead.length).toBe(3);
  });

  it('runs ahead the run the page will ask first: its tokens, and a classifier\'s logits where the model has them', () => {
    const { native, inputs } = fakeNative();
    const { engines } = panel(native, 'native');
    const ids = Int32Array.of(5, 6, 7);
    engines.starting(request({ ids }), MODEL, false);
    engines.starting(request({ ids, model: { ...MODEL, onnxFile: 'f1', labels: ['no', 'yes'] } as RunRequest['model'] }), MODEL, false);
    engines.starting(request({ ids, decoderIds: Int32Array.of(0) }), MODEL, false);
    const [plain, classifier, seq2seq] = inputs.map((f) => f!);
    expect(plain({ backend: 'native', hasLogits: true })).toEqual({ ids });
    expect(classifier({ backend: 'native', hasLogits: true })).toEqual({ ids, logits: 'last' });
    expect(classifier({ backend: 'native', hasLogits: false })).toEqual({ ids });
    expect(seq2seq({ backend: 'native' })).toEqual({ ids, decoderIds: Int32Array.of(0) });
    // A long input (queries and keys): opened ahead, not run.
    engines.starting(request({ ids: new Int32Array(4096) }), MODEL, false);
    expect(inputs.length).toBe(4);
    expect(inputs[3]).toBeUndefined();
    // Where native is only guessed (auto, nothing run yet): a small run ahead, not a large one (24 × 14 × 400² × 4 bytes: 215 MB).
    const guess = panel(native).engines;
    guess.starting(request({ ids }), MODEL, false);
    guess.starting(request({ ids: new Int32Array(400) }), MODEL, false);
    panel(native, undefined).engines.starting(request({ ids: new Int32Array(400), backend: 'native' }), MODEL, false); // named: certain
    expect(inputs.slice(4).map((f) => f !== undefined)).toEqual([true, false, true]);
  });

  it('drops what it opened ahead when the panel closes or asks for another model first', () => {
    const { native, log, ahead } = fakeNative();
    const { engines } = panel(native, 'native');
    const other: PanelModel = { ...MODEL, onnxPath: `${onnx}.other` };
    engines.starting(request(), MODEL, false);
    engines.starting(request({ ids: Int32Array.of(1, 2) }), MODEL, false); // the same model: the opening stays
    expect(log).toEqual([]);
    engines.starting(request(), other, false); // another model before the page was ready: the first is nobody's
    expect(log).toEqual([`drop ${onnx}`]);
    engines.dispose();
    expect(log).toEqual([`drop ${onnx}`, `drop ${onnx}.other`]);
    expect(ahead.map((o) => o.model.onnxPath)).toEqual([onnx, onnx, `${onnx}.other`]);
    // A request the host does not open ahead (an image, a comparison, another backend) drops it too; the page opens its own.
    for (const over of [{ image: {} as RunRequest['image'] }, { compare: {} as RunRequest['compare'] }, { backend: 'wasm' as const }]) {
      const fresh = fakeNative();
      const p = panel(fresh.native, 'native').engines;
      p.starting(request(), MODEL, false);
      p.starting(request(over), MODEL, false);
      p.dispose();
      expect(fresh.log, JSON.stringify(Object.keys(over))).toEqual([`drop ${onnx}`]);
    }
  });

  it('runs ahead exactly the input the page\'s runner then asks of the host', async () => {
    const ids = Int32Array.of(5, 6, 7);
    const cases: Array<[string, RunRequest, boolean]> = [
      ['plain', request({ ids, backend: 'native' }), true],
      ['classifier with logits', request({ ids, backend: 'native', model: { ...request().model, labels: ['no', 'yes'] } }), true],
      ['classifier without', request({ ids, backend: 'native', model: { ...request().model, labels: ['no', 'yes'] } }), false],
      ['seq2seq', request({ ids, backend: 'native', decoderIds: Int32Array.of(0) }), true],
    ];
    for (const [what, req, hasLogits] of cases) {
      const { native, inputs } = fakeNative();
      panel(native, 'native').engines.starting(req, MODEL, false);
      const asked: NativeInput[] = [];
      let host!: HostEngines;
      host = new HostEngines((m) => {
        const reply = (r: ToPanel) => setTimeout(() => host.receive(r), 0);
        if (m.type === 'engine/open') reply({ type: 'engine/didOpen', requestId: m.requestId, engine: 1, backend: 'native', hasLogits });
        if (m.type === 'engine/run') {
          asked.push(m.input);
          reply({ type: 'engine/didRun', requestId: m.requestId, result: { layers: [{ name: 'attentions.0', kind: 'self', layer: 0, heads: 1, queries: 3, keys: 3, data: new Float32Array(9) }], millis: 1, warnings: [] }, more: 0 });
        }
      });
      const failed: string[] = [];
      const unused = () => Promise.reject(new Error('not on the native engine'));
      const runner = new Runner({ readRuntime: unused, loadOrt: unused, chooseBackend: unused, readModel: unused, createEngine: unused, native: { availability: () => ({ available: true, reason: 'here' }), open: (m, b, mech, qk) => host.open(m, b, mech, qk) } }, { progress: () => undefined, finished: () => undefined, more: () => undefined, failed: (_r, message) => void failed.push(message) });
      await runner.start(req);
      expect(failed, what).toEqual([]);
      expect(asked.length, what).toBe(1);
      expect(sameNativeInput(inputs[0]!({ backend: 'native', hasLogits }), asked[0]), what).toBe(true);
    }
  });

  it('hands a ready page the run begun ahead unasked, and its runner takes it without asking; dropped or failed, as asked', async () => {
    const ids = Int32Array.of(5, 6, 7);
    const cases: Array<[string, RunRequest]> = [
      ['plain', request({ ids, backend: 'native' })],
      ['classifier', request({ ids, backend: 'native', model: { ...request().model, labels: ['no', 'yes'] } })],
      ['seq2seq', request({ ids, backend: 'native', decoderIds: Int32Array.of(0) })],
    ];
    const wire = (native: NativeEngines) => {
      let host!: HostEngines;
      const { engines, sent } = panel(native, 'native');
      const posted: string[] = [];
      const delivered = (m: ToPanel) => new Promise<void>((resolve) => setTimeout(() => resolve(void host.receive(m)), 0));
      Object.assign(engines, { send: delivered });
      host = new HostEngines((m) => {
        posted.push(m.type);
        if (m.type === 'engine/open') void engines.open(m, MODEL);
        if (m.type === 'engine/run') engines.run(m);
      });
      const done: Array<{ layers: string[]; more: number }> = [];
      const failed: string[] = [];
      const unused = () => Promise.reject(new Error('not on the native engine'));
      const runner = new Runner({ readRuntime: unused, loadOrt: unused, chooseBackend: unused, readModel: unused, createEngine: unused, native: { availability: () => ({ available: true, reason: 'here' }), open: (m, b, mech, qk) => host.open(m, b, mech, qk) } }, {
        progress: () => undefined,
        finished: (_r, result) => void done.push({ layers: result.layers.map((l) => l.name), more: 0 }),
        more: (_r, m) => void (done.at(-1)!.more = m.layers.length),
        failed: (_r, message) => void failed.push(message),
      });
      return { engines, sent, posted, runner, done, failed };
    };
    for (const [what, req] of cases) {
      const { native } = fakeNative(true, { layers: [qkLayer(0)] });
      const { engines, posted, runner, done, failed } = wire(native);
      await runner.start({ ...req, runId: 1 }); // the page opens its engine and runs
      engines.starting({ ...req, runId: 2 }, MODEL, true);
      await new Promise((r) => setTimeout(r, 0)); // the request reaches the page after what the host sent before it
      await runner.start({ ...req, runId: 2 });
      await new Promise((r) => setTimeout(r, 20));
      expect(failed, what).toEqual([]);
      expect(posted, what).toEqual(['engine/open', 'engine/run']); // the second run did not ask
      expect(done.at(-1), what).toEqual({ layers: ['attentions.0'], more: 2 }); // its first layer, then the two others, unasked
    }
    // Dropped before it ran (the host says so): the page asks as usual. Failed: the page's run fails with the host's message.
    for (const [outcome, expected] of [[() => Promise.resolve(undefined), []], [() => Promise.reject(new EngineError('out of memory', 'worker-died')), ['out of memory']]] as const) {
      const { native } = fakeNative(true, { layers: [qkLayer(0)] });
      const { engines, posted, runner, failed } = wire(native);
      await runner.start(request({ ids, backend: 'native', runId: 1 }));
      const was = aheadOutcome;
      aheadOutcome = outcome;
      engines.starting(request({ ids, backend: 'native', runId: 2 }), MODEL, true);
      aheadOutcome = was;
      await new Promise((r) => setTimeout(r, 0));
      await runner.start(request({ ids, backend: 'native', runId: 2 }));
      expect(failed).toEqual(expected);
      // Failed, the page's engine is released as after any failed run (the next run opens it again).
      expect(posted).toEqual(expected.length ? ['engine/open', 'engine/run', 'engine/release'] : ['engine/open', 'engine/run', 'engine/run']);
    }
  });

  it('tells a ready page of its run ahead, then its result unasked under a request id of its own; nothing once the page reloaded', async () => {
    const { native } = fakeNative();
    const { engines, sent } = panel(native, 'native');
    await engines.open({ type: 'engine/open', requestId: 1, onnxFile: 'f1', backend: 'native', mechanism: false }, MODEL);
    engines.starting(request({ ids: Int32Array.of(1, 2, 3), runId: 4 }), MODEL, true);
    await new Promise((r) => setTimeout(r, 0));
    expect(sent.map((m) => m.type)).toEqual(['engine/didOpen', 'engine/runAhead', 'engine/didRunAhead', 'engine/didRunLayer', 'engine/didRunLayer']);
    const [announced, told, ...layers] = sent.slice(1) as [Extract<ToPanel, { type: 'engine/runAhead' }>, Extract<ToPanel, { type: 'engine/didRunAhead' }>, ...Array<Extract<ToPanel, { type: 'engine/didRunLayer' }>>];
    expect([announced.engine, announced.runId, Array.from(announced.input.ids)]).toEqual([1, 4, [1, 2, 3]]);
    expect([told.aheadId, told.result?.ranAhead, told.result?.layers.length, told.more]).toEqual([announced.aheadId, true, 1, 2]);
    expect(told.requestId).toBeLessThan(0); // never one of the page's own request ids
    expect(layers.map((l) => l.requestId)).toEqual([told.requestId, told.requestId]);
    // Reloaded before it ran: the new page never heard of it, and hears nothing.
    let finish!: (r: NativeRunResult | undefined) => void;
    const was = aheadOutcome;
    aheadOutcome = () => new Promise((r) => (finish = r));
    engines.starting(request({ ids: Int32Array.of(1, 2, 3), runId: 5 }), MODEL, true);
    aheadOutcome = was;
    engines.pageLoaded();
    finish({ layers: [qkLayer(0)], millis: 1, warnings: [] });
    await new Promise((r) => setTimeout(r, 0));
    expect(sent.slice(5).map((m) => m.type)).toEqual(['engine/runAhead']);
  });

  it('runs a ready page\'s request ahead on the engine it holds for that model, where it will run natively for certain', async () => {
    const { native, log } = fakeNative();
    const open = (engines: PanelNative, requestId: number, over: { mechanism?: boolean; queryKeys?: boolean } = {}, model = MODEL) =>
      engines.open({ type: 'engine/open', requestId, onnxFile: 'f1', backend: 'native', mechanism: over.mechanism ?? false, ...(over.queryKeys ? { queryKeys: true } : {}) }, model);
    const { engines } = panel(native, 'native');
    engines.starting(request(), MODEL, true); // no engine held yet: the page opens one
    await open(engines, 1, { mechanism: true });
    engines.starting(request(), MODEL, true); // only the mechanism's engine: not that one
    await open(engines, 2);
    await open(engines, 3);
    await open(engines, 4, { queryKeys: true }); // a long input's engine, opened last
    engines.starting(request({ ids: Int32Array.of(1, 2, 3) }), MODEL, true);
    engines.starting(request({ model: { ...MODEL, onnxFile: 'f1', labels: ['no', 'yes'] } as RunRequest['model'] }), MODEL, true);
    engines.starting(request(), { ...MODEL, onnxPath: `${onnx}.other` }, true); // another model: the page opens it
    engines.starting(request({ ids: new Int32Array(4096) }), MODEL, true); // a long input: not run ahead (minutes), even with its engine held
    engines.starting(request({ generate: {} as RunRequest['generate'] }), MODEL, true);
    expect(log.filter((l) => l.startsWith('run ahead'))).toEqual(['run ahead 3 3', 'run ahead 3 100 last']); // the latest engine, with the classifier's logits
    // Where auto has not run yet on this machine (a guess), or ran elsewhere: nothing.
    for (const last of [undefined, 'wasm'] as const) {
      const other = fakeNative();
      const guess = panel(other.native, last).engines;
      await open(guess, 1);
      guess.starting(request(), MODEL, true);
      expect(other.log).toEqual(['open native']);
    }
    engines.pageLoaded(); // its engines released: nothing held to run on
    engines.starting(request(), MODEL, true);
    expect(log.filter((l) => l.startsWith('run ahead')).length).toBe(2);
  });

  it('hands a run begun ahead only to a request for the same plain run', () => {
    const ids = Int32Array.of(5, 6, 7);
    expect(sameNativeInput({ ids }, { ids: Int32Array.of(5, 6, 7) })).toBe(true);
    expect(sameNativeInput({ ids, decoderIds: Int32Array.of(0) }, { ids, decoderIds: Int32Array.of(0) })).toBe(true);
    for (const other of [{ ids: Int32Array.of(5, 6) }, { ids: Int32Array.of(5, 6, 8) }, { ids, logits: 'last' as const }, { ids, decoderIds: Int32Array.of(0) }, { ids, cache: true }, { ids, past: 1 }, { ids, pixelValues: { data: new Float32Array(1), dims: [1] } }]) {
      expect(sameNativeInput({ ids }, other), JSON.stringify(other)).toBe(false);
      expect(sameNativeInput(other, { ids }), JSON.stringify(other)).toBe(false);
    }
  });

  it('remembers where auto ran, not where a named backend did', () => {
    const { native } = fakeNative();
    const { engines, remembered } = panel(native);
    engines.finished(request(), 'native');
    engines.finished(request({ backend: 'wasm' }), 'wasm');
    engines.finished(request(), 'webgpu');
    expect(remembered).toEqual(['native', 'webgpu']);
  });

  it('releases a reloaded page\'s engines, drops answers meant for it, and refuses a model the page was not given', async () => {
    const { native, log } = fakeNative();
    const { engines, sent } = panel(native);
    await engines.open({ type: 'engine/open', requestId: 1, onnxFile: 'f1', backend: 'native', mechanism: false }, MODEL);
    expect(sent.at(-1)).toMatchObject({ type: 'engine/didOpen', requestId: 1, engine: 1 });
    engines.run({ type: 'engine/run', requestId: 2, engine: 1, input: { ids: Int32Array.of(1) } });
    engines.pageLoaded(); // reloaded while it ran: its answer is dropped
    expect(log).toEqual(['open native', 'release 1']);
    const opening = engines.open({ type: 'engine/open', requestId: 3, onnxFile: 'f1', backend: 'native', mechanism: false }, MODEL);
    engines.pageLoaded(); // reloaded while it opened: the engine is released, nobody is answered
    await opening;
    await new Promise((r) => setTimeout(r, 0));
    expect(log).toEqual(['open native', 'release 1', 'open native', 'release 2']);
    expect(sent.map((m) => m.type)).toEqual(['engine/didOpen']);
    await engines.open({ type: 'engine/open', requestId: 4, onnxFile: 'f9', backend: 'native', mechanism: false }, undefined);
    expect(sent.at(-1)).toMatchObject({ type: 'engine/didFail', requestId: 4, message: 'the panel asked for a model it was not given' });
  });

  it('sends a run\'s first layer with it and the others one message each, weights or queries and keys alike; a mechanism run whole', async () => {
    const weights = (i: number): AttentionLayer => ({ name: `attentions.${i}`, kind: 'self', layer: i, heads: 1, queries: 1, keys: 1, data: Float32Array.of(i) });
    const qk = (i: number): QueryKeyLayer => ({ name: `attentions.${i}`, kind: 'self', layer: i, heads: 1, kvHeads: 1, queries: 1, keys: 1, headDim: 1, scale: 1, q: Float32Array.of(i), k: Float32Array.of(i), causal: true });
    const cases: Array<[string, Partial<NativeRunResult>, string[]]> = [
      ['weights', { layers: [0, 1, 2].map(weights) }, ['run 1 layer(s) 0 queryKeys, 2 more', 'layer attentions.1', 'layer attentions.2']],
      ['queries and keys', { queryKeys: [0, 1, 2].map(qk) }, ['run 0 layer(s) 1 queryKeys, 2 more', 'queryKey attentions.1', 'queryKey attentions.2']],
      ['a mechanism run', { layers: [0, 1].map(weights), mechanism: [] }, ['run 2 layer(s) 0 queryKeys, 0 more']],
    ];
    for (const [what, result, expected] of cases) {
      const { native } = fakeNative(true, result);
      const { engines, sent } = panel(native);
      await engines.open({ type: 'engine/open', requestId: 1, onnxFile: 'f1', backend: 'native', mechanism: false }, MODEL);
      engines.run({ type: 'engine/run', requestId: 2, engine: 1, input: { ids: Int32Array.of(1) } });
      await new Promise((r) => setTimeout(r, 0));
      expect(sent.slice(1).map((m) => m.type === 'engine/didRun' ? `run ${m.result.layers.length} layer(s) ${m.result.queryKeys?.length ?? 0} queryKeys, ${m.more} more`
        : m.type === 'engine/didRunLayer' ? (m.layer ? `layer ${m.layer.name}` : `queryKey ${m.queryKey!.name}`) : m.type), what).toEqual(expected);
    }
  });
});
