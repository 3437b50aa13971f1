/**
 * Runs one request at a time in the panel: loads onnxruntime, picks the backend, keeps the model
 * bytes and the engine for the next run, falls back from WebGPU to WASM when the GPU fails, and
 * drops results of runs superseded by a newer one. Reports through callbacks; no DOM here, so it
 * runs under tests with fake dependencies.
 */
import type { AttentionLayer } from '../../src/core/attention';
import { type Backend, type BackendSetting, backendLabel } from '../../src/core/backend';
import { EngineError, type OrtModule, type RunInput, type RunOutput } from '../../src/core/engine/attentionEngine';
import type { RunRequest, RunStage } from '../../src/core/protocol/panel';
import { formatBytes } from '../../src/core/units';

/** The part of `AttentionEngine` the runner uses. */
export interface Engine {
  readonly backend: Backend;
  run(input: RunInput): Promise<RunOutput>;
  dispose(): Promise<void>;
}

/** What the runner needs from its surroundings (the browser, onnxruntime); fakes in tests. */
export interface RunnerDeps {
  loadOrt(): Promise<OrtModule>;
  chooseBackend(setting: BackendSetting): Promise<{ backend: Backend; fallbackReason?: string }>;
  fetchModel(url: string, label: string, onProgress: (loaded: number, total: number) => void): Promise<Uint8Array>;
  createEngine(ort: OrtModule, bytes: Uint8Array, backend: Backend, fileLabel: string): Promise<Engine>;
}

/** A finished run. */
export interface RunResult {
  layers: AttentionLayer[];
  backend: Backend;
  millis: number;
  /** Why WebGPU was not used, when `auto` ended on WASM. */
  fallbackReason?: string;
  /** Heads whose weights were not numbers (see `RunOutput.warnings`). */
  warnings: string[];
}

/** How the runner reports; never called for a superseded run. */
export interface RunnerEvents {
  progress(request: RunRequest, stage: RunStage, message: string, fraction?: number): void;
  finished(request: RunRequest, result: RunResult): void;
  failed(request: RunRequest, message: string): void;
}

/**
 * Whether a run that failed on `used` should be retried on WASM: only in `auto` mode, only after
 * WebGPU, and never for problems of the model itself (no attention found, inputs it cannot
 * fill): they would fail the same way on the CPU. A session WebGPU cannot create is retried.
 */
export function shouldFallBack(error: unknown, used: Backend, setting: BackendSetting): boolean {
  const modelProblem = error instanceof EngineError && (error.code === 'no-attention' || error.code === 'unknown-input');
  return used === 'webgpu' && setting === 'auto' && !modelProblem;
}

class Superseded extends Error {}

/** Owns onnxruntime, the engine cache and the stale-run guard of one panel. */
export class Runner {
  private generation = 0;
  private engine: { key: string; engine: Engine } | undefined;
  private bytes: { url: string; bytes: Uint8Array } | undefined;

  constructor(private readonly deps: RunnerDeps, private readonly events: RunnerEvents) {}

  /** Starts `req`, superseding any run in progress; resolves when it has finished or failed. */
  async start(req: RunRequest): Promise<void> {
    const gen = ++this.generation;
    const stale = () => gen !== this.generation;
    const progress = (stage: RunStage, message: string, fraction?: number) => {
      if (!stale()) this.events.progress(req, stage, message, fraction);
    };
    try {
      progress('runtime', 'Loading onnxruntime…');
      const ort = await this.deps.loadOrt();
      const choice = await this.deps.chooseBackend(req.backend);
      let fallbackReason = choice.fallbackReason;
      let engine: Engine;
      let out: RunOutput;
      try {
        engine = await this.engineFor(ort, req, choice.backend, stale, progress);
        progress('inference', `Running ${req.model.label} on ${backendLabel(choice.backend)} (${req.tokens.length} tokens)…`);
        out = await engine.run({ ids: req.ids, decoderIds: req.decoderIds });
      } catch (e) {
        if (stale() || !shouldFallBack(e, choice.backend, req.backend)) throw e;
        // The GPU failed (lost device, unsupported op, out of memory): the CPU path still works.
        fallbackReason = `WebGPU failed (${(e as Error).message.split('\n')[0]})`;
        engine = await this.engineFor(ort, req, 'wasm', stale, progress);
        out = await engine.run({ ids: req.ids, decoderIds: req.decoderIds });
      }
      if (stale()) return;
      progress('render', 'Drawing…');
      this.events.finished(req, { layers: out.layers, backend: engine.backend, millis: out.millis, fallbackReason, warnings: out.warnings });
    } catch (e) {
      if (stale() || e instanceof Superseded) return;
      this.events.failed(req, e instanceof Error ? e.message : String(e));
    }
  }

  /** The engine for `req`'s model on `backend`: reused when it is the one loaded, else created from (cached) bytes. */
  private async engineFor(ort: OrtModule, req: RunRequest, backend: Backend, stale: () => boolean, progress: (stage: RunStage, message: string, fraction?: number) => void): Promise<Engine> {
    const key = `${req.model.onnxUri}|${backend}`;
    if (this.engine?.key === key) return this.engine.engine;
    const { onnxUri, onnxLabel } = req.model;
    if (this.bytes?.url !== onnxUri) {
      progress('model', `Loading ${onnxLabel}…`);
      const bytes = await this.deps.fetchModel(onnxUri, onnxLabel, (loaded, total) =>
        progress('model', `Loading ${onnxLabel}: ${formatBytes(loaded)}${total ? ` of ${formatBytes(total)}` : ''}`, total ? loaded / total : undefined));
      this.bytes = { url: onnxUri, bytes };
    }
    progress('model', `Preparing ${req.model.label} for ${backendLabel(backend)}…`);
    const created = await this.deps.createEngine(ort, this.bytes.bytes, backend, onnxLabel);
    if (stale()) {
      await created.dispose();
      throw new Superseded();
    }
    await this.engine?.engine.dispose();
    this.engine = { key, engine: created };
    return created;
  }
}
