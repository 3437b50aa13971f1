// The panel's runner generating (Generate with Attention) with fake engines: steps reported in
// order, the end-of-sequence and maximum stops, Stop, a newer run superseding a generation, a
// model without logits, and a GPU that fails before the first step.
import { describe, expect, it } from 'vitest';
import type { Backend } from '../../src/core/backend';
import { type OrtModule, type RunInput, type RunOptions, type RunOutput } from '../../src/core/engine/attentionEngine';
import type { GenerationStep, StopReason } from '../../src/core/generation/generate';
import type { GenerateRequest, RunRequest } from '../../src/core/protocol/panel';
import { type Engine, Runner, type RunnerDeps } from '../../webview/panel/runner';

const VOCAB = 10;

/**
 * A causal "model" whose next token is (last + 1) mod VOCAB, with a uniform causal attention of one
 * layer and two heads; `logits` false: it has none.
 */
function fakeEngine(backend: Backend, opts: { logits?: boolean; fail?: () => Error | undefined; onRun?: (ids: readonly number[]) => void | Promise<void> }): Engine {
  return {
    backend,
    hasLogits: opts.logits ?? true,
    async run(input: RunInput, options?: RunOptions): Promise<RunOutput> {
      const e = opts.fail?.();
      if (e) throw e;
      await opts.onRun?.(Array.from(input.ids));
      const n = input.ids.length;
      const data = new Float32Array(2 * n * n);
      for (let h = 0; h < 2; h++) for (let q = 0; q < n; q++) for (let k = 0; k <= q; k++) data[(h * n + q) * n + k] = 1 / (q + 1);
      const out: RunOutput = { layers: [{ name: 'attentions.0', kind: 'self', layer: 0, heads: 2, queries: n, keys: n, data }], millis: 1, warnings: [] };
      if (options?.logits) {
        const logits = new Float32Array(VOCAB);
        logits[(input.ids[n - 1] + 1) % VOCAB] = 5;
        logits[(input.ids[n - 1] + 2) % VOCAB] = 3;
        out.logits = { rows: 1, vocab: VOCAB, data: logits };
      }
      return out;
    },
    dispose: async () => undefined,
  };
}

function harness(opts: { logits?: boolean; gpu?: boolean; failOn?: (b: Backend) => Error | undefined; onRun?: (ids: readonly number[]) => void | Promise<void> } = {}) {
  const created: Backend[] = [];
  const deps: RunnerDeps = {
    readRuntime: async () => new Uint8Array(4),
    loadOrt: async () => ({}) as OrtModule,
    chooseBackend: async () => (opts.gpu ? { backend: 'webgpu', reason: 'hardware adapter' } : { backend: 'wasm', reason: 'no WebGPU adapter is available' }),
    readModel: async () => new Uint8Array(8),
    createEngine: async (_ort, _bytes, backend) => {
      created.push(backend);
      return fakeEngine(backend, { logits: opts.logits, fail: () => opts.failOn?.(backend), onRun: opts.onRun });
    },
  };
  const steps: Array<[number, GenerationStep]> = [];
  const generated: Array<[number, number[], StopReason]> = [];
  const failed: Array<[number, string]> = [];
  const finished: number[] = [];
  const runner = new Runner(deps, {
    progress: () => undefined,
    finished: (r) => finished.push(r.runId),
    more: () => undefined,
    failed: (r, m) => failed.push([r.runId, m]),
    stepped: (r, s) => steps.push([r.runId, s]),
    generated: (r, tokens, stop) => generated.push([r.runId, tokens, stop]),
  });
  return { runner, steps, generated, failed, finished, created };
}

/** A generation request (`null`: a plain run). */
const request = (runId: number, generate: Partial<GenerateRequest> | null = {}): RunRequest => ({
  runId,
  model: { id: 'm', label: 'M', architecture: 'gpt2', onnxFile: 'model', onnxLabel: 'onnx/model.onnx', causal: true },
  backend: 'auto',
  text: 'abc',
  tokens: [0, 1, 2].map((id, i) => ({ id, text: String(id), start: i, end: i + 1, special: false })),
  ids: Int32Array.of(3, 4, 5),
  maxLinksPerQuery: 12,
  ...(generate ? { generate: { maxNewTokens: 4, eos: [], alternatives: 3, vocabulary: [], ...generate } } : {}),
});

describe('Runner.generate', () => {
  it('reports each step in order, with its query row and alternatives, then the tokens and why it ended', async () => {
    const h = harness();
    await h.runner.generate(request(1));
    expect(h.steps.map(([, s]) => s.token)).toEqual([6, 7, 8, 9]);
    expect(h.steps.map(([, s]) => s.query)).toEqual([2, 3, 4, 5]);
    expect(h.steps[0][1].top.map((t) => t.id)).toEqual([6, 7, 0]);
    expect(h.steps[0][1].rank).toBe(1);
    // The row of the query that chose the token: every key up to it, in every head.
    const a = h.steps[1][1].attention[0];
    expect([a.heads, a.keys, Array.from(a.weights)]).toEqual([2, 4, [0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25]]);
    expect(h.generated).toEqual([[1, [6, 7, 8, 9], 'max']]);
    expect(h.failed).toEqual([]);
    expect(h.finished).toEqual([]); // a generation reports steps, not a run
  });

  it('stops at an end-of-sequence token', async () => {
    const h = harness();
    await h.runner.generate(request(1, { eos: [7], maxNewTokens: 10 }));
    expect(h.generated).toEqual([[1, [6, 7], 'eos']]);
  });

  it('Stop ends it after the step in progress, keeping what was made', async () => {
    const h = harness();
    let runs = 0;
    h.runner = new Runner({
      readRuntime: async () => new Uint8Array(4), loadOrt: async () => ({}) as OrtModule, readModel: async () => new Uint8Array(8),
      chooseBackend: async () => ({ backend: 'wasm', reason: 'setting' }),
      createEngine: async (_o, _b, backend) => fakeEngine(backend, { onRun: () => void (++runs === 2 && h.runner.stopGeneration(1)) }),
    }, { progress: () => undefined, finished: () => undefined, more: () => undefined, failed: (r, m) => h.failed.push([r.runId, m]), generated: (r, t, s) => h.generated.push([r.runId, t, s]) });
    await h.runner.generate(request(1, { maxNewTokens: 10 }));
    expect(h.generated).toEqual([[1, [6, 7], 'stopped']]);
    expect(runs).toBe(2);
  });

  it('a newer run supersedes a generation: it ends without reporting, and the run is shown', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let runs = 0;
    const h = harness({ onRun: async () => void (++runs === 2 && (await gate)) });
    const generating = h.runner.generate(request(1, { maxNewTokens: 10 }));
    while (runs < 2) await new Promise((r) => setTimeout(r, 0));
    const shown = h.runner.start(request(2, null));
    release();
    await Promise.all([generating, shown]);
    expect(h.generated).toEqual([]);
    expect(h.steps.map(([id]) => id)).toEqual([1]); // the step made before; none after the newer run came
    expect(h.finished).toEqual([2]);
  });

  it('says a model without logits cannot generate', async () => {
    const h = harness({ logits: false });
    await h.runner.generate(request(1));
    expect(h.failed).toHaveLength(1);
    expect(h.failed[0][1]).toMatch(/no logits output: it shows attention but cannot generate/);
    expect(h.generated).toEqual([]);
  });

  it('a GPU that fails before the first step hands over to WebAssembly', async () => {
    const h = harness({ gpu: true, failOn: (b) => (b === 'webgpu' ? new Error('GPU device lost') : undefined) });
    await h.runner.generate(request(1, { maxNewTokens: 2 }));
    expect(h.created).toEqual(['webgpu', 'wasm']);
    expect(h.generated).toEqual([[1, [6, 7], 'max']]);
  });

  it('refuses a request that is not a generation', async () => {
    await expect(harness().runner.generate(request(1, null))).rejects.toThrow(/not a generation request/);
  });
});
