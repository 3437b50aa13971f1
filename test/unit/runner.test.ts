// The panel's runner with fake onnxruntime, network and engines: backend fallback, caching and
// stale-run guards, as the webview sees them.
import { describe, expect, it } from 'vitest';
import type { AttentionLayer } from '../../src/core/attention';
import type { Backend, BackendSetting } from '../../src/core/backend';
import { EngineError, type MoreLayers, type OrtModule } from '../../src/core/engine/attentionEngine';
import type { RunRequest } from '../../src/core/protocol/panel';
import { isSoftwareAdapter } from '../../webview/panel/ortRuntime';
import { shouldFallBack } from '../../webview/panel/placement';
import { type Engine, type RunResult, Runner, type RunnerDeps } from '../../webview/panel/runner';

const LAYER: AttentionLayer = { name: 'attentions.0', kind: 'self', layer: 0, heads: 1, queries: 1, keys: 1, data: Float32Array.of(1) };
const request = (runId: number, backend: BackendSetting = 'auto', onnxFile = 'model-a'): RunRequest => ({
  runId,
  model: { id: 'm', label: 'M', architecture: 'gpt2', onnxFile, onnxLabel: 'onnx/model.onnx', causal: true },
  backend,
  text: 'a',
  tokens: [{ id: 1, text: 'a', start: 0, end: 1, special: false }],
  ids: Int32Array.of(1),
  maxLinksPerQuery: 12,
});

/** Fake surroundings: an adapter when `gpu`, engines that fail as `failOn` says, and a log of calls. */
function harness(opts: {
  gpu?: boolean;
  failOn?: (backend: Backend) => Error | undefined;
  fetchGate?: Promise<void>;
  rest?: () => Promise<MoreLayers>;
  runGate?: () => Promise<void>;
  /** The host's native engine: its availability, and how opening behaves (a failure, or CUDA's notice). */
  native?: { available: boolean; openError?: () => Error | undefined; notice?: string };
} = {}) {
  const log: string[] = [];
  /** Backends of the engine runs started. */
  const runs: Backend[] = [];
  let clock = 1000;
  const deps: RunnerDeps = {
    readRuntime: async (backend) => {
      log.push(`ort ${backend}`);
      return new Uint8Array(4);
    },
    loadOrt: async () => ({}) as OrtModule,
    chooseBackend: async (setting) => {
      if (setting === 'wasm') return { backend: 'wasm', reason: 'setting' };
      if (opts.gpu) return { backend: 'webgpu', reason: 'hardware adapter' };
      if (setting === 'webgpu') throw new EngineError('attentionLens.backend is "webgpu" but no WebGPU adapter is available.', 'no-webgpu');
      return { backend: 'wasm', reason: 'no WebGPU adapter is available' };
    },
    now: () => clock,
    readModel: async (url, _label, onProgress) => {
      log.push(`fetch ${url}`);
      clock += 100;
      await opts.fetchGate;
      onProgress(2.5e6, 5e6);
      return new Uint8Array(8);
    },
    createEngine: async (_ort, _bytes, backend, _label, options): Promise<Engine> => {
      log.push(`create ${backend}${options?.externalData?.length ? ` +${options.externalData.map((f) => `${f.path}:${f.data.byteLength}`).join(',')}` : ''}${options?.firstPosition ? ` from ${options.firstPosition}` : ''}`);
      return {
        backend,
        run: async () => {
          runs.push(backend);
          await opts.runGate?.();
          const e = opts.failOn?.(backend);
          if (e) throw e;
          clock += 5; // 3 ms in the session, 2 ms extracting
          const rest = opts.rest?.();
          return { layers: [LAYER], millis: 3, warnings: [], rest };
        },
        dispose: async () => void log.push(`dispose ${backend}`),
      };
    },
    ...(opts.native ? {
      native: {
        availability: () => ({ available: opts.native!.available, reason: opts.native!.available ? 'onnxruntime-node for linux-x64' : 'onnxruntime-node has no build for darwin-x64' }),
        open: async (model, backend, mechanism): Promise<Engine> => {
          log.push(`native open ${model.onnxFile} ${backend}${mechanism ? ' mechanism' : ''}`);
          const e = opts.native!.openError?.();
          if (e) throw e;
          const ran = opts.native!.notice ? 'native' : backend;
          return {
            backend: ran,
            notice: opts.native!.notice,
            run: async () => {
              runs.push(ran);
              const err = opts.failOn?.(ran);
              if (err) throw err;
              return { layers: [LAYER], millis: 1, warnings: [], ...(mechanism ? { mechanism: [] } : {}) };
            },
            dispose: async () => void log.push(`native dispose ${ran}`),
          };
        },
      },
    } : {}),
  };
  const finished: Array<[number, RunResult]> = [];
  const more: Array<[number, number, string[]]> = [];
  const failed: Array<[number, string]> = [];
  const progress: string[] = [];
  const runner = new Runner(deps, {
    progress: (r, stage, message) => progress.push(`${r ? r.runId : '-'} ${stage}: ${message}`),
    finished: (r, result) => finished.push([r.runId, result]),
    more: (r, m) => more.push([r.runId, m.layers.length, m.warnings]),
    failed: (r, message) => failed.push([r.runId, message]),
  });
  return { runner, log, runs, finished, failed, progress, more };
}

describe('Runner', () => {
  it('runs on WebGPU when there is an adapter', async () => {
    const h = harness({ gpu: true });
    await h.runner.start(request(1));
    expect(h.finished.map(([id, r]) => [id, r.backend, r.backendReason])).toEqual([[1, 'webgpu', 'hardware adapter']]);
    expect(h.progress).toContain('1 model: Loading onnx/model.onnx: 2.5 MB of 5.0 MB');
    expect(h.progress.at(-1)).toBe('1 render: Drawing…');
  });

  it('falls back to WASM when WebGPU fails mid-run in auto mode, and says why', async () => {
    const h = harness({ gpu: true, failOn: (b) => (b === 'webgpu' ? new Error('device lost\nstack…') : undefined) });
    await h.runner.start(request(1));
    expect(h.failed).toEqual([]);
    expect(h.finished.map(([, r]) => [r.backend, r.backendReason])).toEqual([['wasm', 'WebGPU failed (device lost); using WebAssembly for this model']]);
    // The WebGPU session took the bytes; WASM reads the model again rather than the page keeping a copy.
    expect(h.log.filter((l) => !l.startsWith('ort'))).toEqual(['fetch model-a', 'create webgpu', 'fetch model-a', 'dispose webgpu', 'create wasm']);
  });

  it('does not fall back when WebGPU was required, or when the model itself is the problem', async () => {
    const gpuError = () => new Error('device lost');
    const required = harness({ gpu: true, failOn: gpuError });
    await required.runner.start(request(1, 'webgpu'));
    expect(required.failed).toEqual([[1, 'WebGPU failed: device lost. Run again for a fresh GPU session, or set attentionLens.backend to "auto" to use WebAssembly when the GPU fails.']]);
    const model = harness({ gpu: true, failOn: () => new EngineError('No attention found in onnx/model.onnx', 'no-attention') });
    await model.runner.start(request(2));
    expect(model.failed).toEqual([[2, 'No attention found in onnx/model.onnx']]);
    expect(model.log.filter((l) => l.startsWith('create'))).toEqual(['create webgpu']);
  });

  it('releases a session whose run failed, so the next run opens a fresh one (a lost GPU device stays lost)', async () => {
    let lost = true;
    const h = harness({ gpu: true, failOn: (b) => (b === 'webgpu' && lost ? new Error('GPU device was lost') : undefined) });
    await h.runner.start(request(1, 'webgpu'));
    expect(h.failed).toEqual([[1, expect.stringMatching(/^WebGPU failed: GPU device was lost\. Run again/)]]);
    await Promise.resolve(); // the release is asynchronous
    expect(h.log.filter((l) => /create|dispose/.test(l))).toEqual(['create webgpu', 'dispose webgpu']);
    lost = false; // the GPU is back
    await h.runner.start(request(2, 'webgpu'));
    expect(h.finished.map(([id, r]) => [id, r.backend])).toEqual([[2, 'webgpu']]);
    expect(h.log.filter((l) => /create|dispose/.test(l))).toEqual(['create webgpu', 'dispose webgpu', 'create webgpu']);
  });

  it('sends no run to a busy session: of the requests that come meanwhile only the newest runs, after the run in flight', async () => {
    const gates: Array<() => void> = [];
    const h = harness({ runGate: () => new Promise<void>((resolve) => gates.push(resolve)) });
    const settle = () => new Promise((resolve) => setTimeout(resolve, 0));
    const first = h.runner.start(request(1));
    while (gates.length === 0) await settle();
    const second = h.runner.start(request(2));
    const third = h.runner.start(request(3));
    for (let i = 0; i < 5; i++) await settle();
    expect(h.runs).toHaveLength(1); // nothing queued behind the run in flight
    expect(h.progress.at(-1)).toMatch(/^3 inference: Waiting for the previous run to end/);
    gates[0]();
    while (gates.length === 1) await settle();
    gates[1]();
    await Promise.all([first, second, third]);
    expect(h.runs).toHaveLength(2); // 1, then 3; 2 never ran
    expect(h.finished.map(([id]) => id)).toEqual([3]);
    expect(h.failed).toEqual([]);
  });

  it('decides fallback by backend, setting and error kind', () => {
    expect(shouldFallBack(new Error('x'), 'webgpu', 'auto')).toBe(true);
    expect(shouldFallBack(new EngineError('x', 'run-failed'), 'webgpu', 'auto')).toBe(true);
    expect(shouldFallBack(new EngineError('x', 'unknown-input'), 'webgpu', 'auto')).toBe(false);
    expect(shouldFallBack(new Error('x'), 'wasm', 'auto')).toBe(false);
    expect(shouldFallBack(new Error('x'), 'webgpu', 'webgpu')).toBe(false);
  });

  it('reports a missing adapter when WebGPU is required', async () => {
    const h = harness({ gpu: false });
    await h.runner.start(request(1, 'webgpu'));
    expect(h.failed[0][1]).toMatch(/no WebGPU adapter/);
    await h.runner.start(request(2, 'auto'));
    expect(h.finished.map(([id, r]) => [id, r.backend, r.backendReason])).toEqual([[2, 'wasm', 'no WebGPU adapter is available']]);
  });

  it('reuses the model bytes and the engine for the same model, and replaces them for another', async () => {
    const h = harness();
    await h.runner.start(request(1));
    await h.runner.start(request(2));
    const made = () => h.log.filter((l) => !l.startsWith('ort'));
    expect(made()).toEqual(['fetch model-a', 'create wasm']);
    await h.runner.start(request(3, 'auto', 'model-b'));
    expect(made()).toEqual(['fetch model-a', 'create wasm', 'fetch model-b', 'dispose wasm', 'create wasm']); // the old session goes before the new one opens
    expect(h.finished.map(([id]) => id)).toEqual([1, 2, 3]);
    expect(h.log.filter((l) => l.startsWith('ort'))).toEqual(['ort wasm']); // the runtime is read and compiled once
  });

  it('drops a run superseded by a newer one: no result, no failure, its engine disposed', async () => {
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const h = harness({ fetchGate: gate });
    const first = h.runner.start(request(1));
    await new Promise((r) => setTimeout(r, 0));
    const second = h.runner.start(request(2, 'auto', 'model-b'));
    open();
    await Promise.all([first, second]);
    expect(h.finished.map(([id]) => id)).toEqual([2]);
    expect(h.failed).toEqual([]);
  });

  it('loads the runtime of the backend it runs on, and the model while the runtime loads', async () => {
    const h = harness({ gpu: false });
    await h.runner.start(request(1));
    expect(h.log.slice(0, 2).sort()).toEqual(['fetch model-a', 'ort wasm']);
    const g = harness({ gpu: true });
    await g.runner.start(request(1));
    expect(g.log).toContain('ort webgpu');
    expect(g.log).not.toContain('ort wasm');
  });

  it('prepares a model before its run (runtime and bytes): the run finds them, and nothing is read twice', async () => {
    const h = harness();
    h.runner.prepare({ model: request(0).model, backend: 'auto' });
    await new Promise((r) => setTimeout(r, 0));
    expect(h.progress[0]).toMatch(/^- runtime: Loading onnxruntime/); // no run yet: progress for the panel only
    await h.runner.start(request(1));
    expect(h.log).toEqual(['ort wasm', 'fetch model-a', 'create wasm']);
    expect(h.finished.map(([id]) => id)).toEqual([1]);
  });

  it('reports a preparation after a finished run as nobody\'s progress (the picture on screen stays ready)', async () => {
    const h = harness();
    await h.runner.start(request(1));
    h.progress.length = 0;
    h.runner.prepare({ model: { ...request(0).model, onnxFile: 'model-b' }, backend: 'auto' });
    await new Promise((r) => setTimeout(r, 0));
    expect(h.progress.length).toBeGreaterThan(0);
    expect(h.progress.every((p) => p.startsWith('- '))).toBe(true);
  });

  it('keeps WebAssembly for a model whose WebGPU run failed, instead of failing on the GPU each run', async () => {
    const h = harness({ gpu: true, failOn: (b) => (b === 'webgpu' ? new Error('device lost') : undefined) });
    await h.runner.start(request(1));
    await h.runner.start(request(2));
    expect(h.log.filter((l) => l.startsWith('create'))).toEqual(['create webgpu', 'create wasm']);
    expect(h.finished.map(([id, r]) => [id, r.backend])).toEqual([[1, 'wasm'], [2, 'wasm']]);
    expect(h.finished[1][1].backendReason).toMatch(/WebGPU failed \(device lost\)/);
  });

  it('records where the time went: transfer, runtime read and compile, model, session, inference, extraction', async () => {
    const h = harness();
    const req = { ...request(1), timing: { commandAt: 900, spans: [], sentAt: 950 } };
    await h.runner.start(req);
    const spans = h.finished[0][1].spans;
    expect(spans.map((s) => s.stage).sort()).toEqual(['compile', 'extraction', 'inference', 'model', 'runtime', 'session', 'transfer']);
    const of = (stage: string) => spans.find((s) => s.stage === stage)!;
    expect(of('transfer')).toEqual({ stage: 'transfer', start: 950, end: 1000 });
    expect(of('model').end - of('model').start).toBe(100);
    expect(of('inference').end - of('inference').start).toBe(3);
    expect(of('extraction').end - of('extraction').start).toBe(2);
    // A warm run on the same model has no load stages.
    await h.runner.start({ ...request(2), timing: { commandAt: 1105, spans: [], sentAt: 1105 } });
    expect(h.finished[1][1].spans.map((s) => s.stage).sort()).toEqual(['extraction', 'inference', 'transfer']);
  });
});

describe('Runner placing today\'s LLM files', () => {
  const GB = 1e9;
  const withModel = (req: RunRequest, model: Partial<RunRequest['model']>): RunRequest => ({ ...req, model: { ...req.model, ...model } });
  const footprint = (weightBytes: number) => ({ protoBytes: 1e6, weightBytes, halfBytes: 0, largest: { name: 'embed', bytes: 0.5 * GB }, externalBytes: weightBytes });

  it('reads each external data file after the ONNX file, with progress over all of them, and hands them to the engine', async () => {
    const h = harness();
    const externalData = [{ fileId: 'data-0', path: 'model.onnx_data', bytes: 8 }, { fileId: 'data-1', path: 'model.onnx_data_1', bytes: 8 }];
    await h.runner.start(withModel(request(1), { externalData, firstPosition: 1 }));
    expect(h.log.filter((l) => !l.startsWith('ort'))).toEqual(['fetch model-a', 'fetch data-0', 'fetch data-1', 'create wasm +model.onnx_data:8,model.onnx_data_1:8 from 1']);
    // Each file's own progress, and where the whole model stands.
    expect(h.progress.filter((p) => p.includes('model.onnx_data'))).toEqual([expect.stringMatching(/^1 model: Loading model\.onnx_data: 2\.5 MB of 5\.0 MB \(\d\.\d MB of 5\.0 MB in all\)$/), expect.stringMatching(/^1 model: Loading model\.onnx_data_1: /)]);
    expect(h.finished).toHaveLength(1);
  });

  it('fails a data file that changed size since the host checked it', async () => {
    const h = harness();
    await h.runner.start(withModel(request(1), { externalData: [{ fileId: 'data-0', path: 'model.onnx_data', bytes: 9 }] }));
    expect(h.failed).toEqual([[1, 'model.onnx_data changed while it was read (8 bytes, expected 9); run again.']]);
  });

  it('runs a GroupQueryAttention model on WebAssembly even when WebGPU is asked for, saying why', async () => {
    const h = harness({ gpu: true });
    await h.runner.start(withModel(request(1, 'webgpu'), { wasmOnly: 'only WebAssembly returns its weights' }));
    expect(h.runs).toEqual(['wasm']);
    expect(h.finished[0][1]).toMatchObject({ backend: 'wasm', backendReason: 'only WebAssembly returns its weights' });
  });

  it('moves to WebAssembly, whatever the setting, when the engine finds GroupQueryAttention on WebGPU', async () => {
    const h = harness({ gpu: true, failOn: (b) => (b === 'webgpu' ? new EngineError('m.onnx computes attention in com.microsoft GroupQueryAttention (node n). It runs on WebAssembly.', 'wasm-only') : undefined) });
    await h.runner.start(request(1, 'webgpu'));
    expect(h.runs).toEqual(['webgpu', 'wasm']);
    expect(h.finished[0][1].backendReason).toMatch(/GroupQueryAttention/);
  });

  it('refuses a model too large for every backend before reading a byte of it', async () => {
    const h = harness();
    await h.runner.start(withModel(request(1), { footprint: footprint(5 * GB) }));
    expect(h.failed[0][1]).toMatch(/^onnx\/model\.onnx is too large to load here \(5\.0 GB of weights/);
    expect(h.log.filter((l) => l.startsWith('fetch'))).toEqual([]);
  });

  it('keeps a model that fits on the backend the machine suggests', async () => {
    const h = harness({ gpu: true });
    await h.runner.start(withModel(request(1), { footprint: footprint(1 * GB) }));
    expect(h.runs).toEqual(['webgpu']);
  });
});

describe('Runner with the native engine (the extension host)', () => {
  const GB = 1e9;
  const big = (req: RunRequest): RunRequest => ({ ...req, model: { ...req.model, footprint: { protoBytes: 1e6, weightBytes: 5 * GB, halfBytes: 0, largest: { name: 'embed', bytes: 0.5 * GB }, externalBytes: 5 * GB } } });

  it('runs in the host when the setting says native: no runtime and no model bytes in the page', async () => {
    const h = harness({ native: { available: true } });
    await h.runner.start(request(1, 'native'));
    expect(h.finished.map(([, r]) => [r.backend, r.backendReason])).toEqual([['native', 'attentionLens.backend is "native"']]);
    expect(h.log).toEqual(['native open model-a native']);
  });

  it('in auto on a hardware GPU, keeps WebGPU for what it holds', async () => {
    const h = harness({ gpu: true, native: { available: true } });
    await h.runner.start(big(request(1)));
    await h.runner.start(request(2, 'auto', 'model-b'));
    expect(h.runs).toEqual(['webgpu', 'webgpu']);
  });

  it('in auto without a hardware GPU, runs on the native engine rather than WebAssembly, and says why', async () => {
    const h = harness({ native: { available: true } });
    await h.runner.start(big(request(1)));
    await h.runner.start(request(2, 'auto', 'model-b'));
    expect(h.finished.map(([, r]) => [r.backend, r.backendReason])).toEqual([
      ['native', 'onnx/model.onnx is too large for WebAssembly and WebGPU in the webview, so the native engine (CPU) runs it in the extension host'],
      ['native', 'the native engine (CPU) runs it: faster than WebAssembly, which the webview would use (no WebGPU adapter is available)'],
    ]);
    // Asked for by name, WebAssembly stays WebAssembly.
    await h.runner.start(request(3, 'wasm', 'model-b'));
    expect(h.runs).toEqual(['native', 'native', 'wasm']);
  });

  it('without a native engine here, runs in the webview and says why; a model too large for it is refused', async () => {
    const h = harness({ native: { available: false } });
    await h.runner.start(request(1, 'native'));
    expect(h.finished.map(([, r]) => [r.backend, r.backendReason])).toEqual([['wasm', 'attentionLens.backend is "native", but onnxruntime-node has no build for darwin-x64, so WebAssembly runs it (no WebGPU adapter is available)']]);
    await h.runner.start(big(request(2)));
    expect(h.failed[0][1]).toMatch(/^onnx\/model\.onnx is too large to load here/);
  });

  it('falls back to the webview once when the native binary fails to load, and stays there', async () => {
    const h = harness({ native: { available: true, openError: () => new EngineError('The native engine (onnxruntime-node) is not available on linux-x64 (libonnxruntime.so.1: cannot open shared object file).', 'native-unavailable') } });
    await h.runner.start(request(1, 'native'));
    expect(h.finished.map(([, r]) => [r.backend, r.backendReason])).toEqual([['wasm', expect.stringMatching(/^attentionLens\.backend is "native", but the native engine \(onnxruntime-node\) is not available on linux-x64 \(libonnxruntime\.so\.1: cannot open shared object file\), so WebAssembly runs it/)]]);
    await h.runner.start(request(2, 'native'));
    expect(h.log.filter((l) => l.startsWith('native'))).toEqual(['native open model-a native']);
    expect(h.runs).toEqual(['wasm', 'wasm']);
  });

  it('survives a worker that dies mid-run: the run fails with its message, the next one opens a fresh engine', async () => {
    let dead = true;
    const h = harness({ native: { available: true }, failOn: (b) => (b === 'native' && dead ? new EngineError('The native engine ended before it answered: its thread exited with code 1. Run again: a fresh engine starts, and the model is loaded again.', 'worker-died') : undefined) });
    await h.runner.start(request(1, 'native'));
    expect(h.failed).toEqual([[1, expect.stringMatching(/^The native engine ended before it answered/)]]);
    dead = false;
    await h.runner.start(request(2, 'native'));
    expect(h.finished.map(([id, r]) => [id, r.backend])).toEqual([[2, 'native']]);
    expect(h.log.filter((l) => l.startsWith('native open'))).toHaveLength(2);
  });

  it('in auto, hands a model whose WebGPU run failed to the native engine, also one too large for WebAssembly', async () => {
    const h = harness({ gpu: true, native: { available: true }, failOn: (b) => (b === 'webgpu' ? new Error('GPU out of memory') : undefined) });
    await h.runner.start(big(request(1)));
    expect(h.failed).toEqual([]);
    expect(h.finished.map(([, r]) => [r.backend, r.backendReason])).toEqual([['native', expect.stringMatching(/^WebGPU failed \(GPU out of memory\); onnx\/model\.onnx is too large for WebAssembly and WebGPU in the webview, so the native engine \(CPU\) runs it/)]]);
    await h.runner.start(big(request(2)));
    expect(h.runs).toEqual(['webgpu', 'native', 'native']);
  });

  it('in auto, says why the native engine did not run when it failed to load', async () => {
    const h = harness({ native: { available: true, openError: () => new EngineError('The native engine (onnxruntime-node) is not available on linux-x64 (libonnxruntime.so.1: cannot open shared object file).', 'native-unavailable') } });
    await h.runner.start(request(1));
    expect(h.finished.map(([, r]) => [r.backend, r.backendReason])).toEqual([['wasm', 'no WebGPU adapter is available; the native engine (onnxruntime-node) is not available on linux-x64 (libonnxruntime.so.1: cannot open shared object file)']]);
  });

  it('says once why CUDA was not used, with the backend that ran', async () => {
    const h = harness({ native: { available: true, notice: 'CUDA is not available here (no CUDA-capable device); the native engine (CPU) runs onnx/model.onnx instead.' } });
    await h.runner.start(request(1, 'native-cuda'));
    expect(h.finished.map(([, r]) => [r.backend, r.backendReason])).toEqual([['native', expect.stringMatching(/^CUDA is not available here/)]]);
  });

  it('asks the host for the mechanism of a model the host ran', async () => {
    const h = harness({ native: { available: true } });
    await h.runner.start(big(request(1)));
    await h.runner.mechanism(big(request(1))).catch(() => undefined);
    expect(h.log).toEqual(['native open model-a native', 'native open model-a native mechanism']);
  });

  it('opens the mechanism afresh after a mechanism run failed (its model file changed under the native engine)', async () => {
    let fail = false;
    const h = harness({ native: { available: true }, failOn: () => (fail ? new EngineError('model.onnx changed on disk since the model was opened', 'run-failed') : undefined) });
    await h.runner.start(big(request(1)));
    fail = true;
    await expect(h.runner.mechanism(big(request(1)))).rejects.toThrow(/changed on disk/);
    fail = false;
    await h.runner.mechanism(big(request(1))).catch(() => undefined); // this stub's mechanism is empty
    expect(h.log).toEqual(['native open model-a native', 'native open model-a native mechanism', 'native dispose native', 'native open model-a native mechanism']);
  });
});

describe('Runner with layers read back after the first picture (WebGPU)', () => {
  const layer2 = { ...LAYER, name: 'attentions.1', layer: 1 };

  it('finishes with the first layer, then delivers the others', async () => {
    const h = harness({ gpu: true, rest: async () => ({ layers: [layer2], warnings: ['Layer 2 head 1: 1 of 1 weights were not numbers'] }) });
    await h.runner.start(request(1));
    expect(h.finished.map(([id, r]) => [id, r.layers.length, r.moreToCome])).toEqual([[1, 1, true]]);
    expect(h.more).toEqual([[1, 1, ['Layer 2 head 1: 1 of 1 weights were not numbers']]]);
  });

  it('turns a failed read-back into a warning, and drops the layers of a superseded run', async () => {
    const failing = harness({ gpu: true, rest: async () => Promise.reject(new Error('device lost\nstack')) });
    await failing.runner.start(request(1));
    expect(failing.failed).toEqual([]);
    expect(failing.more).toEqual([[1, 0, ['only the first layer could be read back from the GPU (device lost); run again for the others']]]);
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const slow = harness({ gpu: true, rest: async () => (await gate, { layers: [layer2], warnings: [] }) });
    const first = slow.runner.start(request(1));
    await new Promise((r) => setTimeout(r, 0));
    const second = slow.runner.start(request(2));
    open();
    await Promise.all([first, second]);
    expect(slow.finished.map(([id]) => id)).toEqual([1, 2]);
    expect(slow.more.map(([id]) => id)).toEqual([2]);
  });
});

describe('isSoftwareAdapter', () => {
  it('tells SwiftShader and fallback adapters from hardware ones', () => {
    expect(isSoftwareAdapter({ info: { vendor: 'google', architecture: 'swiftshader', description: '' } })).toBe(true);
    expect(isSoftwareAdapter({ isFallbackAdapter: true, info: { vendor: 'x' } })).toBe(true);
    expect(isSoftwareAdapter({ info: { vendor: 'mesa', description: 'llvmpipe (LLVM 15.0.6, 256 bits)' } })).toBe(true);
    expect(isSoftwareAdapter({ info: { vendor: 'nvidia', architecture: 'hopper', isFallbackAdapter: false } })).toBe(false);
    expect(isSoftwareAdapter({ info: { vendor: 'apple', architecture: 'metal-3' } })).toBe(false);
  });
});
