/**
 * Runs one request at a time in the panel: loads onnxruntime, picks the backend, keeps the model
 * bytes and the engine for the next run, falls back from WebGPU to WASM when the GPU fails, drops
 * results of runs superseded by a newer one, and generates. A model can be prepared before its
 * first run, while the host still tokenizes. Records where the time goes. Reports through
 * callbacks; no DOM, so it runs under tests with fake dependencies.
 */
import type { AttentionLayer } from '../../src/core/attention';
import { type Backend, type BackendSetting, type NativeBackend, type WebBackend, backendLabel, isNative } from '../../src/core/backend';
import { EngineError, type MoreLayers, type OrtModule, type RunInput, type RunOptions, type RunOutput, allLayers } from '../../src/core/engine/attentionEngine';
import type { OpenOptions } from '../../src/core/engine/splitEngine';
import { type GpuCaps, fitOn, placeModel } from '../../src/core/engine/backendLimits';
import type { MechanismLayer } from '../../src/core/mechanism';
import { type NativeAvailability, plainRunOptions } from '../../src/core/protocol/engine';
import { type QueryKeyLayer, runKeepsQueryKeys, runWeightBytes } from '../../src/core/queryKeys';
import { withSpareLayer } from './spareLayer';
import type { ModelDescriptor, PrepareRequest, RunRequest, RunStage } from '../../src/core/protocol/panel';
import { type TimingSpan, type TimingStage, wallClock } from '../../src/core/timing';
import { formatBytes } from '../../src/core/units';
import { type GenerationStep, type StopReason, generate } from '../../src/core/generation/generate';
import { type LabelProbability, predictedLabels } from '../../src/core/classification';
import { ModelFiles, engineOptions } from './modelFiles';
import { Placement, externalSizes, isModelProblem, shouldFallBack } from './placement';

/** The part of `AttentionEngine` the runner uses. */
export interface Engine {
  readonly backend: Backend;
  /** Why it runs elsewhere than asked (the native engine's CUDA missing), said with the backend. */
  readonly notice?: string;
  /** The model returns next-token logits (it can generate); it takes a key/value cache (it generates incrementally). */
  readonly hasLogits?: boolean;
  readonly hasPast?: boolean;
  run(input: RunInput, options?: RunOptions): Promise<RunOutput>;
  dispose(): Promise<void>;
}

/** A backend and why it was chosen, for the status bar. */
export interface BackendChoice {
  backend: Backend;
  reason: string;
}

/** What the machine offers: the backend the setting picks, and the WebGPU adapter's limits when there is an adapter. */
export type MachineChoice = BackendChoice & { gpu?: GpuCaps };

/** What the runner needs from its surroundings (the browser, onnxruntime); fakes in tests. */
export interface RunnerDeps {
  /** The bytes of the runtime's WebAssembly binary for `backend`. */
  readRuntime(backend: WebBackend): Promise<Uint8Array>;
  /** The runtime for `backend` from its binary, warmed up (the WebAssembly compiled). Called once per backend. */
  loadOrt(backend: WebBackend, binary: Uint8Array): Promise<OrtModule>;
  chooseBackend(setting: BackendSetting): Promise<MachineChoice>;
  /** The bytes of model file `fileId` (from the host), with progress. */
  readModel(fileId: string, label: string, onProgress: (loaded: number, total: number) => void): Promise<Uint8Array>;
  createEngine(ort: OrtModule, bytes: Uint8Array, backend: WebBackend, fileLabel: string, options?: OpenOptions): Promise<Engine>;
  /**
   * The extension host's native engine (onnxruntime-node): whether it can run here (undefined: not
   * known yet), and opening a model in it. Absent where there is none.
   */
  native?: {
    availability(): NativeAvailability | undefined;
    open(model: ModelDescriptor, backend: NativeBackend, mechanism: boolean, queryKeys?: boolean): Promise<Engine>;
  };
  /** The shared wall clock (epoch ms); `wallClock` unless a test fakes it. */
  now?(): number;
}

/** A finished run. */
export interface RunResult {
  layers: AttentionLayer[];
  backend: Backend;
  millis: number;
  /** Why this backend was used (a hardware adapter, the setting, or why not WebGPU). */
  backendReason: string;
  /** Heads whose weights were not numbers (see `RunOutput.warnings`). */
  warnings: string[];
  /** The panel's stages of this run (runtime, model, session, inference, extraction, transfer). */
  spans: TimingSpan[];
  /** Whether more layers follow (`RunnerEvents.more`): WebGPU reads them back after the first picture. */
  moreToCome: boolean;
  /** Long inputs: the layers kept as queries and keys (their rows computed when a view asks). */
  queryKeys?: QueryKeyLayer[];
  /** A classifier's most probable labels. */
  prediction?: LabelProbability[];
}

/** How the runner reports; never called for a superseded run. `request` is absent while only preparing. */
export interface RunnerEvents {
  progress(request: RunRequest | undefined, stage: RunStage, message: string, fraction?: number): void;
  finished(request: RunRequest, result: RunResult): void;
  /** The layers that stayed on the GPU, read back after `finished`; a failure to read them arrives as a warning. */
  more(request: RunRequest, more: MoreLayers): void;
  failed(request: RunRequest, message: string): void;
  /** A generation (`RunRequest.generate`) made a step. */
  stepped?(request: RunRequest, step: GenerationStep): void;
  /** A generation ended: the generated ids and why (a failure goes to `failed` instead). */
  generated?(request: RunRequest, tokens: number[], stop: StopReason): void;
}

/** Spans kept for the timings of the runs to come (older ones cannot belong to them). */
const MAX_SPANS = 64;

/** Owns onnxruntime, the engine cache and the stale-run guard of one panel. */
export class Runner {
  private generation = 0;
  private active: RunRequest | undefined;
  private engine: { key: string; promise: Promise<Engine> } | undefined;
  /** The mechanism engine (WASM, its own session with the extra outputs), opened when the mechanism view first asks. */
  private mechanismEngine: { file: string; promise: Promise<Engine> } | undefined;
  private readonly files: ModelFiles;
  private readonly spans: TimingSpan[] = [];
  private readonly placement: Placement;
  /** The backend each model's last run used: its mechanism runs there too when that is the native engine. */
  private readonly lastBackend = new Map<string, Backend>();
  private readonly now: () => number;
  /** The engine run in progress, superseded or not. */
  private inFlight: Promise<RunOutput> | undefined;
  /** The generation in progress: stopping it ends it after the step in progress. */
  private generating: { runId: number; stop: AbortController } | undefined;

  constructor(private readonly deps: RunnerDeps, private readonly events: RunnerEvents) {
    this.now = deps.now ?? wallClock;
    this.placement = new Placement(deps);
    this.files = new ModelFiles(deps, (stage, f) => this.timed(stage, f), (stage, message, fraction) => this.progress(stage, message, fraction));
  }

  /**
   * Gets `p`'s model ready for a run without running it: the runtime and the model's bytes for the
   * webview's engines. The session opens with the run, which knows from its tokens whether it
   * keeps the weights or queries and keys (a session opened for the wrong one would be opened
   * twice, and on the native engine the first must finish before the second starts). Failures
   * surface in the run.
   */
  prepare(p: PrepareRequest): void {
    void this.placement.backendFor(p.model, p.backend)
      .then((choice) => (isNative(choice.backend) ? undefined : Promise.all([this.files.runtime(choice.backend), this.files.bytes(p.model)])))
      .catch(() => undefined);
  }

  /**
   * Starts `req`, superseding any run in progress; resolves when it has finished or failed. A run
   * whose weights would be too large keeps queries and keys instead (`RunResult.queryKeys`), each
   * side of a comparison alike; `readyFirstLayer`: its first layer's array is readied meanwhile.
   */
  async start(req: RunRequest, readyFirstLayer = true): Promise<void> {
    const gen = this.supersede();
    this.active = req;
    const stale = () => gen !== this.generation;
    const received = this.now();
    if (req.timing) this.record('transfer', req.timing.sentAt, received);
    /** The engine entry the run used last: dropped if the run fails, so the next run opens a fresh session. */
    let used: { key: string; promise: Promise<Engine> } | undefined;
    let queryKeys = runKeepsQueryKeys(req);
    let notice = '';
    try {
      let choice = await this.placement.backendFor(req.model, req.backend);
      let engine!: Engine;
      /** The run on `choice`'s engine, its first layer's array readied meanwhile (not for a comparison's B, drawn from the workers); undefined when superseded. */
      const attempt = () => withSpareLayer(req, queryKeys && readyFirstLayer, stale, async () => {
        engine = await this.engineFor(req.model, choice, queryKeys);
        used = this.engine;
        return stale() ? undefined : this.runOn(engine, req, stale, queryKeys);
      });
      let out: RunOutput | undefined;
      try {
        out = await attempt();
        if (!out) return;
      } catch (e) {
        if (stale()) throw e;
        if (e instanceof EngineError && e.code === 'not-on-demand' && queryKeys) {
          // Rows cannot be computed from queries and keys (a position bias that depends on more than the distance from query to key): the weights themselves, as for shorter inputs.
          queryKeys = false;
          notice = `${e.message.replace(/\.$/, '')}: the weights are kept whole, which takes more memory`;
        } else if (!shouldFallBack(e, choice.backend, req.backend)) {
          // WebGPU required and failing (not the model's fault): say what to do.
          if (choice.backend === 'webgpu' && !isModelProblem(e)) throw new Error(`WebGPU failed: ${(e as Error).message?.split('\n')[0] ?? String(e)}. Run again for a fresh GPU session, or set attentionLens.backend to "auto" to use WebAssembly when the GPU fails.`);
          throw e;
        } else if (isNative(choice.backend)) {
          // onnxruntime-node would not load: said once, and the webview's engines run from now on.
          this.placement.nativeFailed((e as Error).message);
          choice = await this.placement.backendFor(req.model, req.backend);
        } else {
          // The GPU failed (lost device, unsupported op, out of memory): the CPU path still works, and is kept for this model.
          const wasmOnly = e instanceof EngineError && e.code === 'wasm-only';
          const reason = wasmOnly ? e.message : `WebGPU failed (${(e as Error).message.split('\n')[0]}); using WebAssembly for this model`;
          this.placement.gpuFailed(req.model.onnxFile, reason);
          // In auto, the native engine takes over where it runs (a model too large for WebAssembly included).
          const next = req.backend === 'auto' ? await this.placement.backendFor(req.model, 'auto').catch(() => undefined) : undefined;
          if (next && isNative(next.backend)) choice = { backend: next.backend, reason: `${reason.replace(/; using WebAssembly for this model$/, '')}; ${next.reason}` };
          else {
            const fit = req.model.footprint && fitOn('wasm', req.model.footprint, undefined, externalSizes(req.model));
            if (fit && !fit.fits) throw new EngineError(`${wasmOnly ? e.message.replace(/ It runs on WebAssembly\.$/, '') : `WebGPU failed (${(e as Error).message.split('\n')[0]})`}, and ${req.model.onnxLabel} is too large for WebAssembly (${fit.reasons.join('; ')}). Choose a smaller (quantized) variant of the model.`, 'too-large');
            choice = { backend: 'wasm', reason };
          }
        }
        out = await attempt();
        if (!out) return;
      }
      if (stale()) return;
      this.progress('render', 'Drawing…');
      const since = req.timing?.commandAt ?? received;
      const spans = this.spans.filter((s) => s.start >= since);
      this.lastBackend.set(req.model.onnxFile, engine.backend);
      const warnings = notice ? [...out.warnings, notice] : out.warnings;
      const prediction = req.model.labels && predictedLabels(out.logits, req.model.labels, 5);
      this.events.finished(req, { layers: out.layers, backend: engine.backend, millis: out.millis, backendReason: engine.notice ?? choice.reason, warnings, spans, moreToCome: out.rest !== undefined, ...(out.queryKeys ? { queryKeys: out.queryKeys } : {}), ...(prediction ? { prediction } : {}) });
      if (out.rest) {
        const more = await out.rest.catch((e: Error): MoreLayers => ({ layers: [], warnings: [`only the first layer could be read back from the GPU (${e.message.split('\n')[0]}); run again for the others`] }));
        if (!stale()) this.events.more(req, more);
      }
    } catch (e) {
      // A session whose run failed (a lost GPU device, an out-of-memory) may stay broken: release it.
      if (used && this.engine === used) {
        this.engine = undefined;
        void used.promise.then((engine) => engine.dispose()).catch(() => undefined);
      }
      if (stale()) return;
      this.events.failed(req, e instanceof Error ? e.message : String(e));
    } finally {
      if (!stale()) this.active = undefined; // a later preparation's progress belongs to no run
    }
  }

  /**
   * Generates from `req` (`req.generate`), superseding any run in progress: each step as it is made
   * (`events.stepped`), then the ids and why it ended (`events.generated`). `stopGeneration` or a
   * newer run ends it after the step in progress. Every weight is kept (a step needs its whole
   * row); a GPU that fails before the first step hands over to WebAssembly as a run does.
   */
  async generate(req: RunRequest): Promise<void> {
    const g = req.generate;
    if (!g) throw new Error('not a generation request');
    const gen = this.supersede();
    const stop = new AbortController();
    [this.generating, this.active] = [{ runId: req.runId, stop }, req];
    const stale = () => gen !== this.generation;
    let used: { key: string; promise: Promise<Engine> } | undefined;
    let made = 0;
    const attempt = async (choice: BackendChoice): Promise<void> => {
      const engine = await this.engineFor(req.model, choice);
      used = this.engine;
      if (stale()) return;
      this.progress('inference', `Generating with ${req.model.label} on ${backendLabel(engine.backend)} (${g.sampling ? `sampling, seed ${g.sampling.seed ?? 0}` : 'greedy'}, up to ${g.maxNewTokens} tokens)…`, 0);
      const run = async (input: RunInput, options?: RunOptions) => (await this.exclusively(() => engine.run(input, options)))!;
      const { steps, stop: why } = await generate({ hasLogits: engine.hasLogits ?? false, hasPast: engine.hasPast, run }, Array.from(req.ids), { ...g, signal: stop.signal, ...(req.image ? { pixelValues: { data: req.image.pixelValues, dims: req.image.dims } } : {}) }, (s) => {
        made++;
        if (stale()) return stop.abort();
        this.progress('inference', `Generating: ${s.step + 1} of up to ${g.maxNewTokens} tokens on ${backendLabel(engine.backend)}…`, (s.step + 1) / g.maxNewTokens);
        this.events.stepped?.(req, s);
        return new Promise<void>((resolve) => setTimeout(resolve, 0)); // a WebAssembly run may not leave the task: let the page paint and hear Stop
      });
      if (!stale()) this.events.generated?.(req, steps.map((s) => s.token), why);
    };
    try {
      const choice = await this.placement.backendFor(req.model, req.backend);
      try {
        await attempt(choice);
      } catch (e) {
        // The GPU failed before any step (a lost device, an unsupported op): WebAssembly generates instead.
        if (stale() || made > 0 || isNative(choice.backend) || !shouldFallBack(e, choice.backend, req.backend)) throw e;
        const reason = `WebGPU failed (${(e as Error).message.split('\n')[0]}); using WebAssembly for this model`;
        this.placement.gpuFailed(req.model.onnxFile, reason);
        await attempt({ backend: 'wasm', reason });
      }
    } catch (e) {
      if (used && this.engine === used && !(e instanceof EngineError && e.code === 'no-logits')) {
        this.engine = undefined;
        void used.promise.then((engine) => engine.dispose()).catch(() => undefined);
      }
      if (!stale()) this.events.failed(req, e instanceof Error ? e.message : String(e));
    } finally {
      if (this.generating?.stop === stop) this.generating = undefined;
      if (!stale()) this.active = undefined;
    }
  }

  /** Ends generation run `runId` after the step in progress (it reports what it made). */
  stopGeneration(runId: number): void {
    if (this.generating?.runId === runId) this.generating.stop.abort();
  }

  /** A new run or generation supersedes the one in progress (a generation stops after its step); returns its number. */
  private supersede(): number {
    this.generating?.stop.abort();
    return ++this.generation;
  }

  /**
   * The mechanism of attention outputs `names` (default all) for `req`'s tokens. Runs a second session of the
   * model on WebAssembly whose graph also returns queries, keys, values and scores (they are too
   * large to keep for every run, and the WebGPU session's outputs stay as they are). The session
   * is kept for the next query of the same model and released when another model asks.
   */
  async mechanism(req: RunRequest, names?: readonly string[]): Promise<MechanismLayer[]> {
    const last = this.lastBackend.get(req.model.onnxFile);
    // A model the native engine ran has its mechanism from there too (the webview may not hold it).
    const native = last && isNative(last) && this.deps.native ? last : undefined;
    const file = `${req.model.onnxFile}|${native ?? 'wasm'}`;
    if (this.mechanismEngine?.file !== file) {
      const previous = this.mechanismEngine?.promise;
      const promise = (async () => {
        await previous?.then((e) => e.dispose(), () => undefined);
        if (native) return this.deps.native!.open(req.model, native, true);
        placeModel(req.model.onnxLabel, req.model.footprint, externalSizes(req.model), 'wasm', { backend: 'wasm', reason: 'the mechanism runs on WebAssembly' });
        const [ort, bytes] = await Promise.all([this.files.runtime('wasm'), this.files.bytes(req.model)]);
        const engine = await this.deps.createEngine(ort, bytes.model, 'wasm', req.model.onnxLabel, { ...engineOptions(req.model, bytes), mechanism: true });
        this.files.release(req.model.onnxFile);
        return engine;
      })();
      this.mechanismEngine = { file, promise };
      promise.catch(() => this.mechanismEngine?.promise === promise && (this.mechanismEngine = undefined));
    }
    const entry = this.mechanismEngine, engine = await entry.promise;
    const out = await engine.run(req.image ? { ids: [], pixelValues: { data: req.image.pixelValues, dims: req.image.dims }, decoderIds: req.decoderIds } : { ids: req.ids, decoderIds: req.decoderIds }, { mechanismOf: names }).catch((e: unknown) => {
      // As for a run's engine: one whose run failed (its model file changed under it) is opened afresh next time.
      if (this.mechanismEngine === entry) { this.mechanismEngine = undefined; void engine.dispose(); }
      throw e;
    });
    const missing = names?.find((n) => !out.mechanism?.some((m) => m.name === n));
    if (missing || !out.mechanism?.length) throw new EngineError(`The mechanism of ${missing ?? 'this model'} could not be found in its graph (its queries and keys are not a plain score product).`, 'no-mechanism');
    return out.mechanism;
  }

  /** The engine for `model` on `choice.backend` (as queries and keys or not): the one loaded or being loaded, else a new one. Failures are not kept. */
  private engineFor(model: ModelDescriptor, choice: BackendChoice, queryKeys = false): Promise<Engine> {
    const key = `${model.onnxFile}|${choice.backend}${queryKeys ? '|queryKeys' : ''}`;
    if (this.engine?.key !== key) {
      const promise = this.createEngine(model, choice.backend, this.engine?.promise, queryKeys);
      this.engine = { key, promise };
      promise.catch(() => {
        if (this.engine?.promise === promise) this.engine = undefined;
      });
    }
    return this.engine.promise;
  }

  /** Loads the runtime and reads the model at the same time, releases the previous session, then opens the new one. */
  private async createEngine(model: ModelDescriptor, backend: Backend, previous: Promise<Engine> | undefined, queryKeys: boolean): Promise<Engine> {
    if (isNative(backend)) {
      // The host opens the model from its disk: no runtime or bytes in the page.
      await previous?.then((e) => e.dispose(), () => undefined);
      const native = this.deps.native;
      if (!native) throw new EngineError('The native engine is not offered here.', 'native-unavailable');
      this.progress('model', `Opening ${model.label} in ${backendLabel(backend)}…`);
      return this.timed('session', () => native.open(model, backend, false, queryKeys));
    }
    const ort = this.files.runtime(backend);
    const bytes = this.files.bytes(model);
    const [o, b] = await Promise.all([ort, bytes]);
    await previous?.then((e) => e.dispose(), () => undefined);
    this.progress('model', `Preparing ${model.label} for ${backendLabel(backend)}…`);
    const engine = await this.timed('session', () => this.deps.createEngine(o, b.model, backend, model.onnxLabel, { ...engineOptions(model, b), queryKeys }));
    this.files.release(model.onnxFile);
    return engine;
  }

  /**
   * Runs `req` on `engine`. onnxruntime cannot stop a run midway, and runs sent while one is in
   * flight queue behind it in its worker: so a run waits for the one in flight instead, and of
   * the runs waiting only the newest goes (undefined: superseded while waiting).
   */
  private async runOn(engine: Engine, req: RunRequest, stale: () => boolean, queryKeys: boolean): Promise<RunOutput | undefined> {
    const bytes = queryKeys ? runWeightBytes(req.ids.length, req.model.attention, req.decoderIds?.length) : undefined;
    const kept = queryKeys ? `; keeping queries and keys${bytes ? `, as every layer's weights would take ${formatBytes(bytes)}` : ''}` : '';
    let start = 0;
    const out = await this.exclusively(() => {
      this.progress('inference', `Running ${req.model.label} on ${backendLabel(engine.backend)} (${(req.image ? req.tokens : req.ids).length.toLocaleString('en-US')} tokens${kept})…`);
      start = this.now();
      return engine.run(req.image ? { ids: [], pixelValues: { data: req.image.pixelValues, dims: req.image.dims }, decoderIds: req.decoderIds } : { ids: req.ids, decoderIds: req.decoderIds }, plainRunOptions(req.model, engine.hasLogits));
    }, stale, () => this.progress('inference', `Waiting for the previous run to end (onnxruntime cannot stop a run midway); then ${req.model.label} runs on ${req.tokens.length} tokens…`));
    if (!out) return undefined;
    const end = this.now();
    const inferenceEnd = Math.min(end, start + out.millis);
    for (const span of out.spans ?? [{ stage: 'inference', start, end: inferenceEnd }, { stage: 'extraction', start: inferenceEnd, end }]) this.record(span.stage, span.start, span.end);
    return out;
  }

  /** Every layer of `ids` through the session `req`'s run used, after the run in flight; undefined where that was a long input's, is gone, or is on WebGPU (a run there that never ends, as on a lost device, would hold up the next). */
  async sideRun(req: RunRequest, ids: readonly number[]): Promise<AttentionLayer[] | undefined> {
    const e = this.engine;
    if (!e?.key.startsWith(`${req.model.onnxFile}|`) || e.key.endsWith('|queryKeys') || e.key.endsWith('|webgpu')) return undefined;
    const engine = await e.promise;
    const out = await this.exclusively(() => engine.run({ ids }));
    return out && (await allLayers(out)).layers;
  }

  /** Runs `run` once the run in flight has ended (onnxruntime cannot stop one midway, and queues the others); undefined when `stale` meanwhile. */
  private async exclusively(run: () => Promise<RunOutput>, stale = () => false, waiting?: () => void): Promise<RunOutput | undefined> {
    while (this.inFlight) {
      waiting?.();
      await this.inFlight.catch(() => undefined);
      if (stale()) return undefined;
    }
    const running = run();
    this.inFlight = running;
    try {
      return await running;
    } finally {
      if (this.inFlight === running) this.inFlight = undefined;
    }
  }

  private progress(stage: RunStage, message: string, fraction?: number): void {
    this.events.progress(this.active, stage, message, fraction);
  }

  private timed<T>(stage: TimingStage, f: () => Promise<T>): Promise<T> {
    const start = this.now();
    return f().then((v) => {
      this.record(stage, start, this.now());
      return v;
    });
  }

  private record(stage: TimingStage, start: number, end: number): void {
    this.spans.push({ stage, start, end });
    if (this.spans.length > MAX_SPANS) this.spans.splice(0, this.spans.length - MAX_SPANS);
  }
}
