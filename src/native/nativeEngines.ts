/**
 * The extension host's side of the native engine: one worker thread running onnxruntime-node,
 * started on first use, requests answered in order. A worker that ends (stopped, crashed, out of
 * memory) fails what it had in hand with a message that says so; the next request starts a fresh
 * one. No vscode here: the panel and tests use it alike.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type ResourceLimits, Worker } from 'node:worker_threads';
import { EngineError } from '../core/engine/engineError';
import { type FromNativeWorker, type NativeAvailability, type NativeInput, type NativeOpen, type NativeOpened, type NativeRunResult, type ToNativeWorker, isPlainNativeInput, sameNativeInput } from '../core/protocol/engine';

/** onnxruntime-node's binding for this platform, where its package ships it. */
export function nativeAvailability(): NativeAvailability {
  const target = `${process.platform}-${process.arch}`;
  let dir: string;
  try {
    dir = path.dirname(require.resolve('onnxruntime-node/package.json'));
  } catch {
    return { available: false, reason: `onnxruntime-node is not installed with this copy of Attention Lens (${target})` };
  }
  const binding = path.join(dir, 'bin', 'napi-v6', process.platform, process.arch, 'onnxruntime_binding.node');
  return fs.existsSync(binding)
    ? { available: true, reason: `onnxruntime-node for ${target}` }
    : { available: false, reason: `onnxruntime-node has no build for ${target}` };
}

type Pending = { resolve(m: FromNativeWorker): void; reject(e: Error): void };

/** An opening begun ahead: the run to begin on it once open (the latest request's), and whether it was dropped before it was taken. */
interface Ahead {
  opening: Promise<{ engine: number } & NativeOpened>;
  input: ((opened: NativeOpened) => NativeInput) | undefined;
  dropped: boolean;
  /** Once open: its engine and what it turned out to be. */
  open?: { engine: number } & NativeOpened;
  timer?: ReturnType<typeof setTimeout>;
}

/** A run begun ahead: its input, its result, and its request to the worker once sent. */
interface RunAhead {
  input: NativeInput;
  result: Promise<NativeRunResult>;
  requestId?: number;
}

/** Requests to the native worker; `stop()` ends it (and whatever it runs), `dispose()` for good. */
export class NativeEngines {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private seq = 0;
  private engineSeq = 0;
  private disposed = false;
  private available: NativeAvailability | undefined;
  /** What each engine id opened, until released: a worker that ended is replaced and the model reopened on the next run. */
  private readonly opened = new Map<number, NativeOpen>();
  /** The engine ids the current worker holds. */
  private readonly live = new Set<number>();
  /** Engines being opened again on a fresh worker: runs that come meanwhile wait for the same opening. */
  private readonly reopening = new Map<number, Promise<unknown>>();
  /** A stopped worker still finishing the native call it was in (a thread cannot be interrupted there). */
  private exiting: Promise<void> | undefined;
  /** Openings begun before anyone asked (`openAhead`), by what they open: `open` takes them. */
  private readonly ahead = new Map<string, Ahead>();
  /** Runs begun ahead (`runAhead`, and on those openings), by engine: the next plain `run` of that engine takes its own if it asks the same. */
  private readonly runsAhead = new Map<number, RunAhead>();
  /**
   * A run ahead held back while the worker was busy (onnxruntime cannot stop a run, and a burst of
   * requests would queue one run each): sent when the worker is idle, unless a newer one replaces it
   * or the engine's own plain run comes first.
   */
  private heldBack: { engine: number; input: NativeInput; keep: boolean; settle(result: Promise<NativeRunResult> | undefined): void } | undefined;

  /**
   * `script`: the worker's bundle (dist/nativeWorker.js); `limits`: the worker's JavaScript heap
   * limits (onnxruntime's own memory is outside them).
   */
  constructor(private readonly script: string, private readonly limits?: ResourceLimits) {}

  /** Whether this machine can run it (checked once). */
  availability(): NativeAvailability {
    return (this.available ??= nativeAvailability());
  }

  /**
   * Starts opening `open` before anyone asks for it (a panel still starting up will): the `open`
   * of the same model, backend and options takes it. One not taken within `keepMs` is released.
   * With `input` (what the first run will be, from what the model turned out to be), that run
   * begins once the model is open, and the engine's first `run` takes it if it asks the same
   * input, without mechanism; one that asks another waits behind it (the worker runs one at a time).
   * Asked again for the same model before it is open, the latest `input` is the one run. Returns
   * a way to drop the opening if nobody has taken it (its panel closed, or asked for another
   * model): nothing runs on it then, and its engine, with any run begun on it, is released.
   */
  openAhead(open: NativeOpen, { input, keepMs = 60_000 }: { input?: (opened: NativeOpened) => NativeInput; keepMs?: number } = {}): () => void {
    const key = JSON.stringify(open);
    const known = this.ahead.get(key);
    if (known) {
      known.input = input;
      known.timer?.refresh(); // a minute from this request
      // Already open (its run begun on the first request's tokens): this request's runs instead.
      if (known.open && input) this.holdBack(known.open.engine, input, known.open);
      return () => this.ahead.get(key) === known && this.drop(key, known);
    }
    const entry: Ahead = { opening: this.openNew(open), input, dropped: false };
    entry.opening.catch(() => undefined); // reported to whoever takes it; nobody else waits
    void entry.opening.then(({ engine, ...opened }) => {
      entry.open = { engine, ...opened };
      if (!entry.dropped && entry.input) this.holdBack(engine, entry.input, opened);
    }, () => undefined);
    this.ahead.set(key, entry);
    const dropIfNotTaken = () => this.ahead.get(key) === entry && this.drop(key, entry);
    entry.timer = setTimeout(dropIfNotTaken, keepMs);
    entry.timer.unref?.();
    return dropIfNotTaken;
  }

  private holdBack(engine: number, input: (opened: NativeOpened) => NativeInput, opened: NativeOpened): void {
    try {
      void this.runAhead(engine, input(opened));
    } catch {
      // no run ahead: the page's own run reports what is wrong with its input
    }
  }

  private drop(key: string, entry: Ahead): void {
    this.ahead.delete(key);
    entry.dropped = true;
    void entry.opening.then(({ engine }) => this.release(engine), () => undefined);
  }

  /**
   * Begins a run of an opened engine before anyone asks for it (a ready panel's next request).
   * With `keep`, the engine's next plain `run` takes it if it asks the same input, without
   * mechanism; without, only the returned promise has it. It replaces one begun ahead before and
   * not taken (which still runs: the worker cannot drop it). It goes once the current task is done
   * and the worker is idle (a burst of requests, or runs in hand, would otherwise queue a run
   * each), and only the latest; not if the engine's own plain run or its release comes first (a
   * panel that took an opening and closed at once). Resolves with its result, or undefined where
   * it did not go.
   */
  runAhead(engine: number, input: NativeInput, { keep = true }: { keep?: boolean } = {}): Promise<NativeRunResult | undefined> {
    if (!this.opened.has(engine)) return Promise.resolve(undefined);
    this.runsAhead.delete(engine);
    this.dropHeldBack();
    const ran = new Promise<NativeRunResult | undefined>((resolve) => {
      this.heldBack = { engine, input, keep, settle: resolve };
      queueMicrotask(() => this.sendHeldBack());
    });
    ran.catch(() => undefined); // a failure is for whoever listens (or takes the run)
    return ran;
  }

  /** The run ahead held back does not go (replaced, the engine's own run came first, released, the worker ended): whoever waits hears so. */
  private dropHeldBack(engine?: number): void {
    const held = this.heldBack;
    if (!held || (engine !== undefined && held.engine !== engine)) return;
    this.heldBack = undefined;
    held.settle(undefined);
  }

  private sendHeldBack(): void {
    const held = this.heldBack;
    if (!held || this.pending.size > 0) return;
    if (!this.opened.has(held.engine)) return this.dropHeldBack();
    this.heldBack = undefined;
    const ahead = { input: held.input } as RunAhead;
    ahead.result = this.runEngine(held.engine, held.input, undefined, (id) => (ahead.requestId = id)).then((r) => ({ ...r, ranAhead: true }));
    ahead.result.catch(() => undefined); // reported to whoever takes it
    if (held.keep) this.runsAhead.set(held.engine, ahead);
    held.settle(ahead.result);
  }

  /** Opens a model (or takes the opening `openAhead` began for it); resolves with the host's id for the engine and where it runs. */
  open(open: NativeOpen): Promise<{ engine: number } & NativeOpened> {
    const key = JSON.stringify(open);
    const entry = this.ahead.get(key);
    if (!entry) return this.openNew(open);
    this.ahead.delete(key);
    return entry.opening;
  }

  private async openNew(open: NativeOpen): Promise<{ engine: number } & NativeOpened> {
    const engine = ++this.engineSeq;
    const opened = await this.openOnWorker(engine, open);
    this.opened.set(engine, open);
    return { engine, ...opened };
  }

  /**
   * Runs an opened engine once. An engine whose worker has ended since (stopped, crashed) is opened
   * again on a fresh worker first: only the request in hand when a worker ends fails.
   */
  async run(engine: number, input: NativeInput, mechanismOf?: string[]): Promise<NativeRunResult> {
    // Only a plain run can be the one begun ahead (a mechanism run, a generation's step or an
    // image leave it for the run that may be); it takes it if it asks the same, or drops it.
    if (!mechanismOf && isPlainNativeInput(input)) {
      this.dropHeldBack(engine);
      const ahead = this.runsAhead.get(engine);
      this.runsAhead.delete(engine);
      if (ahead && sameNativeInput(ahead.input, input)) return ahead.result;
    }
    return this.runEngine(engine, input, mechanismOf);
  }

  private async runEngine(engine: number, input: NativeInput, mechanismOf?: string[], sent?: (requestId: number) => void): Promise<NativeRunResult> {
    const open = this.opened.get(engine);
    if (!open) throw new EngineError('The native engine was asked to run a model it was never given or has released.', 'worker-died');
    if (!this.live.has(engine)) {
      let p = this.reopening.get(engine);
      if (!p) {
        p = this.openOnWorker(engine, open).finally(() => this.reopening.delete(engine));
        this.reopening.set(engine, p);
      }
      await p;
    }
    const r = await this.request({ type: 'run', id: 0, engine, input, ...(mechanismOf ? { mechanismOf } : {}) }, sent);
    if (r.type !== 'ran') throw new Error(`unexpected reply ${r.type}`);
    return r.result;
  }

  /** Releases an engine's session (nothing to do when its worker has ended since). */
  async release(engine: number): Promise<void> {
    this.opened.delete(engine);
    this.runsAhead.delete(engine);
    this.dropHeldBack(engine);
    if (!this.live.delete(engine) || !this.worker) return;
    await this.request({ type: 'dispose', id: 0, engine }).catch(() => undefined);
  }

  /** Whether a worker is running (it holds sessions, and may be in a run). */
  get running(): boolean {
    return this.worker !== undefined;
  }

  /**
   * Ends the worker: what it had in hand fails now with `why`, and it exits, freeing every session,
   * as soon as the native call it is in returns (onnxruntime cannot stop a run midway). It is asked
   * to leave, never terminated: a thread ended while onnxruntime-node's asynchronous run is in
   * flight aborts the whole process (here the extension host) once that run completes. The next
   * request starts a fresh worker once it has exited, so two never hold models at once. Resolves
   * when it has exited.
   */
  stop(why = 'it was stopped'): Promise<void> {
    const w = this.worker;
    if (!w) return this.exiting ?? Promise.resolve();
    this.ended(w, why);
    const exiting = new Promise<void>((resolve) => w.once('exit', () => resolve()));
    w.ref(); // whoever waits for it keeps this process alive until it has left
    w.postMessage({ type: 'exit', id: 0 } satisfies ToNativeWorker);
    this.exiting = exiting;
    void exiting.then(() => {
      if (this.exiting === exiting) this.exiting = undefined;
    });
    return exiting;
  }

  /** Ends the worker for good; resolves once it has exited (a test's file must not end while it is still stopping). */
  dispose(): Promise<void> {
    this.disposed = true;
    return this.stop('VS Code is closing');
  }

  private async openOnWorker(engine: number, open: NativeOpen): Promise<NativeOpened> {
    const r = await this.request({ type: 'open', id: 0, engine, open });
    if (r.type !== 'opened') throw new Error(`unexpected reply ${r.type}`);
    this.live.add(engine);
    // Released while it was being opened again: release the new session too.
    if (this.reopening.has(engine) && !this.opened.has(engine)) void this.release(engine);
    return r.opened;
  }

  private async request(m: ToNativeWorker, sent?: (requestId: number) => void): Promise<FromNativeWorker> {
    if (this.disposed) throw new EngineError('The native engine has been shut down.', 'worker-died');
    while (this.exiting && !this.worker) await this.exiting;
    if (this.disposed) throw new EngineError('The native engine has been shut down.', 'worker-died');
    const worker = this.ensureWorker();
    const id = ++this.seq;
    sent?.(id);
    const r = await new Promise<FromNativeWorker>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ ...m, id });
    });
    if (r.type === 'failed') throw new EngineError(r.message, r.code ?? 'run-failed');
    return r;
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(this.script, this.limits ? { resourceLimits: this.limits } : {});
    this.worker = w;
    w.on('message', (m: FromNativeWorker) => {
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      p?.resolve(m);
      this.sendHeldBack(); // if that left the worker idle
    });
    // An uncaught error ends the worker; 'exit' follows and fails what was pending.
    w.on('error', (e) => this.ended(w, e.message.split('\n')[0]));
    w.on('exit', (code) => this.ended(w, `its thread exited with code ${code}`));
    w.unref(); // an idle worker never keeps the CLI or a test process alive
    return w;
  }

  /** Forgets worker `w` and fails its pending requests with why it ended. */
  private ended(w: Worker, why: string): void {
    if (this.worker !== w) return;
    this.worker = undefined;
    this.live.clear();
    const out = /memory|allocation/i.test(why) ? ' (out of memory: select less text, or choose a smaller variant of the model)' : '';
    // The engines' next runs open them again on a fresh worker and run anew (a run ahead the page
    // was sent unasked fails with the rest: so would its own run in hand); but a run ahead kept for
    // the page's run, which ran the worker out of memory (the one in hand: the worker answers in
    // order), would do so again: the page's run takes its failure instead.
    const inHand = out ? Math.min(...this.pending.keys()) : undefined;
    for (const [engine, ahead] of this.runsAhead) if (ahead.requestId === undefined || ahead.requestId !== inHand) this.runsAhead.delete(engine);
    this.dropHeldBack();
    for (const p of this.pending.values()) p.reject(new EngineError(`The native engine ended before it answered: ${why}${out}. Run again: a fresh engine starts, and the model is loaded again.`, 'worker-died'));
    this.pending.clear();
  }
}

/** The worker bundle beside this one (dist/extension.js → dist/nativeWorker.js). */
export function workerScript(dist: string): string {
  return path.join(dist, 'nativeWorker.js');
}
