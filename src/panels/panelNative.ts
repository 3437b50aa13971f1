/**
 * A panel's side of the native engine: opens and runs models for its page by message, keeps the
 * engines that page holds (released when it reloads or the panel closes), and opens a model ahead
 * while the page starts. No vscode here: `send` posts to the page.
 */
import * as fs from 'node:fs';
import { type Backend, type NativeBackend, isNative } from '../core/backend';
import { EngineError } from '../core/engine/engineError';
import { type NativeInput, type NativeOpen, type NativeOpened, type NativeRunResult, plainRunOptions } from '../core/protocol/engine';
import type { FromPanel, RunRequest, ToPanel } from '../core/protocol/panel';
import { runKeepsQueryKeys, runWeightBytes } from '../core/queryKeys';
import { wallClock } from '../core/timing';
import type { NativeEngines } from '../native/nativeEngines';
import type { PanelModel } from './attentionPanel';

/** Where `auto` ran the last model on this machine, remembered across windows: a model is opened ahead only where the page will run it. */
export interface PlacementMemory {
  lastAuto(): Backend | undefined;
  remember(backend: Backend): void;
}

/** In `auto`, before any run on this machine said where models run, a model this small is opened ahead in the native engine on the chance. */
const GUESS_AHEAD_BYTES = 256 * 1024 * 1024;
/** On that chance, a run is begun ahead only where its attention is this small (the bundled models' at 128 tokens: under 1 MB). */
const GUESS_RUN_BYTES = 16 * 1024 * 1024;

export class PanelNative {
  /** Native engines the page opened and has not released, in the order opened: what each opened (`nativeOpen`'s JSON), and whether it has logits. */
  private readonly engines = new Map<number, { key: string; hasLogits?: boolean }>();
  /**
   * Which load of the page this is (counted at each `pageLoaded`): a reloaded page has a fresh
   * engine client whose request ids start again, so answers to the previous load's requests are
   * dropped and its engines released.
   */
  private load = 0;
  private closed = false;
  /** What this panel last opened ahead: dropped if nobody took it when the panel closes or asks for another model. */
  private openedAhead: { key: string; drop(): void } | undefined;
  /** Runs begun ahead for a ready page, counted: the page matches each result to its announcement. */
  private aheadSeq = 0;

  /** Posts to the page (a page that has gone does not answer: nothing to do). */
  private readonly send: (m: ToPanel) => Promise<unknown>;

  constructor(private readonly native: NativeEngines, private readonly placements: PlacementMemory, post: (m: ToPanel) => PromiseLike<unknown>) {
    this.send = (m) => Promise.resolve(post(m)).catch(() => undefined);
  }

  /** The page (re)loaded: the previous load's engines are unreachable now. */
  pageLoaded(): void {
    this.load++;
    this.releaseAll();
  }

  /** A request is about to go to the page: what the host can begin for it meanwhile (below), as the page is ready or not. */
  starting(request: RunRequest, model: PanelModel, pageReady: boolean): void {
    if (pageReady) this.runAhead(request, model);
    else this.openAhead(request, model);
  }

  /**
   * A page takes about a second to start (measured: 0.9–1.1 s in code-server), and a native run
   * would only then open its model: the host opens it now, as the page will ask (same backend,
   * same choice of weights or queries and keys), and the page's `engine/open` takes it, and runs
   * the request's tokens once it is open, which the page's first `engine/run` takes. Plain runs
   * only, where the page will run natively: the setting says so, or `auto` ran natively last
   * time on this machine (or nothing has run yet and the model is small).
   */
  private openAhead(request: RunRequest, model: PanelModel): void {
    const ahead = this.ahead(request, model);
    const key = ahead && JSON.stringify(ahead.open);
    // A request for another model (or not to be opened ahead) before the page was ready: the first opening is nobody's now.
    if (this.openedAhead && this.openedAhead.key !== key) this.openedAhead.drop();
    this.openedAhead = undefined;
    if (!ahead || !key) return;
    // Its first run too, as the page will ask it: the run's crossings to the page and back are off
    // its path. Not a long input's: its model opens after the page asks anyway (6.5 s for the
    // Qwen2.5-0.5B stand-in), and a run the page did not ask for would hold the worker for minutes.
    // Nor a large run where native is only guessed: the page may run it elsewhere.
    const large = (runWeightBytes(request.ids.length, request.model.attention, request.decoderIds?.length) ?? Infinity) > GUESS_RUN_BYTES;
    this.openedAhead = { key, drop: this.native.openAhead(ahead.open, { input: ahead.long || (ahead.guessed && large) ? undefined : ahead.input }) };
  }

  /**
   * A ready page that holds this model's engine would send the request's run back after its
   * crossing to the page and the page's turn: the host begins it now, on that engine, tells the
   * page so before the request (`engine/runAhead`), and sends what became of it unasked
   * (`engine/didRunAhead`); the page's run of the same input waits for that instead of asking (in
   * code-server each crossing took 37–147 ms). Where the page will run natively for certain (the
   * setting, or where `auto` ran last), and not a long input's (see `openAhead`).
   */
  private runAhead(request: RunRequest, model: PanelModel): void {
    const ahead = this.ahead(request, model);
    if (!ahead || ahead.long || ahead.guessed) return;
    const key = JSON.stringify(ahead.open);
    const held = [...this.engines].reverse().find(([, e]) => e.key === key); // the latest: the page's current one
    if (!held) return;
    const [engine, opened] = held;
    const input = ahead.input(opened);
    const aheadId = ++this.aheadSeq;
    const load = this.load;
    const told = (m: Omit<Extract<ToPanel, { type: 'engine/didRunAhead' }>, 'type' | 'engine' | 'aheadId' | 'requestId'>, requestId = 0) =>
      this.send({ type: 'engine/didRunAhead', engine, aheadId, requestId, ...m });
    const ran = this.native.runAhead(engine, input, { keep: false });
    void this.send({ type: 'engine/runAhead', engine, aheadId, runId: request.runId, input });
    ran.then(
      (result) => {
        if (this.closed || load !== this.load) return;
        if (!result) return void told({});
        void this.sendResult(-aheadId, result, load, (first, more) => told({ result: first, more }, -aheadId)).catch(() => undefined);
      },
      (e: unknown) => load === this.load && !this.closed && void told({ message: e instanceof Error ? e.message : String(e), ...(e instanceof EngineError ? { code: e.code } : {}) }),
    );
  }

  /** How the page will open and first run `request` natively, if it will: a plain run where native is named, or `auto` ran (or may run) there. */
  private ahead(request: RunRequest, model: PanelModel) {
    if (request.compare || request.generate || request.image || !this.native.availability().available) return undefined;
    const last = this.placements.lastAuto();
    let backend: NativeBackend | undefined;
    if (isNative(request.backend)) backend = request.backend;
    else if (request.backend === 'auto' && (last === 'native' || (last === undefined && modelBytes(model) < GUESS_AHEAD_BYTES))) backend = 'native';
    if (!backend) return undefined;
    const long = runKeepsQueryKeys(request);
    return {
      open: nativeOpen(model, backend, false, long),
      long,
      guessed: !isNative(request.backend) && last === undefined,
      input: (opened: Pick<NativeOpened, 'hasLogits'>): NativeInput => ({ ids: request.ids, ...(request.decoderIds ? { decoderIds: request.decoderIds } : {}), ...plainRunOptions(request.model, opened.hasLogits) }),
    };
  }

  /** A run of `request` ended on `backend`: where `auto` runs is remembered. */
  finished(request: RunRequest, backend: Backend): void {
    if (request.backend === 'auto') this.placements.remember(backend);
  }

  /** Opens `model` (a model this page was given; undefined if it names another) on the backend the page asks for. */
  async open(m: Extract<FromPanel, { type: 'engine/open' }>, model: PanelModel | undefined): Promise<void> {
    if (!model) return this.fail(m.requestId, new Error('the panel asked for a model it was not given'));
    const load = this.load;
    try {
      const open = nativeOpen(model, m.backend, m.mechanism, m.queryKeys);
      const { engine, backend, notice, hasLogits, hasPast } = await this.native.open(open);
      if (this.closed || load !== this.load) return void this.native.release(engine); // closed or reloaded meanwhile
      this.engines.set(engine, { key: JSON.stringify(open), hasLogits });
      void this.send({ type: 'engine/didOpen', requestId: m.requestId, engine, backend, hasLogits, hasPast, ...(notice ? { notice } : {}) });
    } catch (e) {
      if (load === this.load) this.fail(m.requestId, e);
    }
  }

  /** Runs an engine the page opened; the result goes to the page (dropped if it reloaded or closed meanwhile). */
  run(m: Extract<FromPanel, { type: 'engine/run' }>): void {
    const load = this.load;
    this.native.run(m.engine, m.input, m.mechanismOf).then(
      (result) => (load === this.load ? this.sendResult(m.requestId, result, load).catch(() => undefined) : undefined),
      (e: unknown) => load === this.load && this.fail(m.requestId, e),
    );
  }

  release(engine: number): void {
    this.engines.delete(engine);
    void this.native.release(engine);
  }

  dispose(): void {
    this.closed = true;
    this.openedAhead?.drop();
    this.releaseAll();
  }

  private releaseAll(): void {
    for (const engine of this.engines.keys()) void this.native.release(engine);
    this.engines.clear();
  }

  /**
   * Sends a native run's result: the first layer at once, then the others one message each, each
   * after the page took the last (measured in code-server: BERT-base's 151 MB at 512 tokens took
   * 20 s to cross as one message, where the picture needs only the first layer). So do layers kept
   * as queries and keys, when every layer is (a Qwen2.5-0.5B shape's 100 MB at 1,024 tokens took
   * 14 s). A mechanism run goes whole: its view needs every tensor. `firstAs` sends the first
   * message instead (a run begun ahead's, unasked).
   */
  private async sendResult(requestId: number, result: NativeRunResult, load: number, firstAs?: (first: NativeRunResult, more: number) => PromiseLike<unknown>): Promise<void> {
    const later = result.mechanism ? [] : result.layers.slice(1);
    const first = result.layers.slice(0, result.layers.length - later.length);
    const queryKeys = result.queryKeys ?? [];
    const laterKeys = result.mechanism || first.length > 0 ? [] : queryKeys.slice(1);
    const firstKeys = queryKeys.slice(0, queryKeys.length - laterKeys.length);
    const sent = { ...result, layers: first, ...(result.queryKeys ? { queryKeys: firstKeys } : {}), sentAt: wallClock() };
    const more = later.length + laterKeys.length;
    await (firstAs ? firstAs(sent, more) : this.send({ type: 'engine/didRun', requestId, result: sent, more }));
    for (const m of [...later.map((layer) => ({ layer })), ...laterKeys.map((queryKey) => ({ queryKey }))]) {
      if (this.closed || load !== this.load) return;
      await this.send({ type: 'engine/didRunLayer', requestId, ...m });
    }
  }

  private fail(requestId: number, e: unknown): void {
    void this.send({ type: 'engine/didFail', requestId, message: e instanceof Error ? e.message : String(e), ...(e instanceof EngineError ? { code: e.code } : {}) });
  }
}

/** What the native engine opens for `model`: one shape for the page's requests and the openings ahead, which are matched by it. */
function nativeOpen(model: PanelModel, backend: NativeBackend, mechanism: boolean, queryKeys: boolean | undefined): NativeOpen {
  return {
    model: { onnxPath: model.onnxPath, label: model.onnxLabel, external: model.external ?? [], firstPosition: model.firstPosition, ...(model.decoders ? { decoders: model.decoders } : {}) },
    backend,
    ...(mechanism ? { mechanism } : {}),
    ...(queryKeys ? { queryKeys } : {}),
  };
}

/** The files of `model` in bytes (0 for one gone since it was checked: its run reports that). */
function modelBytes(model: PanelModel): number {
  const size = (f: string) => {
    try {
      return fs.statSync(f).size;
    } catch {
      return 0;
    }
  };
  const d = model.decoders;
  return size(model.onnxPath) + (model.external ?? []).reduce((n, f) => n + f.bytes, 0) + (d ? size(d.decoder.path) + (d.withPast ? size(d.withPast.path) : 0) : 0);
}
