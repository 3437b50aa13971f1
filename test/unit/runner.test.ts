// The panel's runner with fake onnxruntime, network and engines: backend fallback, caching and
// stale-run guards, as the webview sees them.
import { describe, expect, it } from 'vitest';
import type { AttentionLayer } from '../../src/core/attention';
import type { Backend, BackendSetting } from '../../src/core/backend';
import { EngineError, type OrtModule } from '../../src/core/engine/attentionEngine';
import type { RunRequest } from '../../src/core/protocol/panel';
import { type Engine, type RunResult, Runner, type RunnerDeps, shouldFallBack } from '../../webview/panel/runner';

const LAYER: AttentionLayer = { name: 'attentions.0', kind: 'self', layer: 0, heads: 1, queries: 1, keys: 1, data: Float32Array.of(1) };
const request = (runId: number, backend: BackendSetting = 'auto', onnxUri = 'model-a'): RunRequest => ({
  runId,
  model: { id: 'm', label: 'M', architecture: 'gpt2', onnxUri, onnxLabel: 'onnx/model.onnx', causal: true },
  backend,
  text: 'a',
  tokens: [{ id: 1, text: 'a', start: 0, end: 1, special: false }],
  ids: Int32Array.of(1),
  maxLinksPerQuery: 12,
});

/** Fake surroundings: an adapter when `gpu`, engines that fail as `failOn` says, and a log of calls. */
function harness(opts: { gpu?: boolean; failOn?: (backend: Backend) => Error | undefined; fetchGate?: Promise<void> } = {}) {
  const log: string[] = [];
  const deps: RunnerDeps = {
    loadOrt: async () => ({}) as OrtModule,
    chooseBackend: async (setting) => {
      if (setting === 'wasm') return { backend: 'wasm' };
      if (opts.gpu) return { backend: 'webgpu' };
      if (setting === 'webgpu') throw new EngineError('attentionLens.backend is "webgpu" but no WebGPU adapter is available.', 'no-webgpu');
      return { backend: 'wasm', fallbackReason: 'no WebGPU adapter is available' };
    },
    fetchModel: async (url, _label, onProgress) => {
      log.push(`fetch ${url}`);
      await opts.fetchGate;
      onProgress(2.5e6, 5e6);
      return new Uint8Array(8);
    },
    createEngine: async (_ort, _bytes, backend): Promise<Engine> => {
      log.push(`create ${backend}`);
      return {
        backend,
        run: async () => {
          const e = opts.failOn?.(backend);
          if (e) throw e;
          return { layers: [LAYER], millis: 3, warnings: [] };
        },
        dispose: async () => void log.push(`dispose ${backend}`),
      };
    },
  };
  const finished: Array<[number, RunResult]> = [];
  const failed: Array<[number, string]> = [];
  const progress: string[] = [];
  const runner = new Runner(deps, {
    progress: (_r, stage, message) => progress.push(`${stage}: ${message}`),
    finished: (r, result) => finished.push([r.runId, result]),
    failed: (r, message) => failed.push([r.runId, message]),
  });
  return { runner, log, finished, failed, progress };
}

describe('Runner', () => {
  it('runs on WebGPU when there is an adapter', async () => {
    const h = harness({ gpu: true });
    await h.runner.start(request(1));
    expect(h.finished.map(([id, r]) => [id, r.backend, r.fallbackReason])).toEqual([[1, 'webgpu', undefined]]);
    expect(h.progress).toContain('model: Loading onnx/model.onnx: 2.5 MB of 5.0 MB');
    expect(h.progress.at(-1)).toBe('render: Drawing…');
  });

  it('falls back to WASM when WebGPU fails mid-run in auto mode, and says why', async () => {
    const h = harness({ gpu: true, failOn: (b) => (b === 'webgpu' ? new Error('device lost\nstack…') : undefined) });
    await h.runner.start(request(1));
    expect(h.failed).toEqual([]);
    expect(h.finished.map(([, r]) => [r.backend, r.fallbackReason])).toEqual([['wasm', 'WebGPU failed (device lost)']]);
    expect(h.log).toEqual(['fetch model-a', 'create webgpu', 'create wasm', 'dispose webgpu']);
  });

  it('does not fall back when WebGPU was required, or when the model itself is the problem', async () => {
    const gpuError = () => new Error('device lost');
    const required = harness({ gpu: true, failOn: gpuError });
    await required.runner.start(request(1, 'webgpu'));
    expect(required.failed).toEqual([[1, 'device lost']]);
    const model = harness({ gpu: true, failOn: () => new EngineError('No attention found in onnx/model.onnx', 'no-attention') });
    await model.runner.start(request(2));
    expect(model.failed).toEqual([[2, 'No attention found in onnx/model.onnx']]);
    expect(model.log.filter((l) => l.startsWith('create'))).toEqual(['create webgpu']);
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
    expect(h.finished.map(([id, r]) => [id, r.backend, r.fallbackReason])).toEqual([[2, 'wasm', 'no WebGPU adapter is available']]);
  });

  it('reuses the model bytes and the engine for the same model, and replaces them for another', async () => {
    const h = harness();
    await h.runner.start(request(1));
    await h.runner.start(request(2));
    expect(h.log).toEqual(['fetch model-a', 'create wasm']);
    await h.runner.start(request(3, 'auto', 'model-b'));
    expect(h.log).toEqual(['fetch model-a', 'create wasm', 'fetch model-b', 'create wasm', 'dispose wasm']);
    expect(h.finished.map(([id]) => id)).toEqual([1, 2, 3]);
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
});
