/**
 * The native engine as the panel sees it: engines that live in the extension host (onnxruntime-node
 * on a worker thread), opened and run by message. The page receives attention, never weights: the
 * model's bytes stay where the model is (also on a remote machine). No DOM; runs under tests with
 * a fake `post`.
 */
import type { NativeBackend } from '../../src/core/backend';
import type { AttentionLayer } from '../../src/core/attention';
import type { QueryKeyLayer } from '../../src/core/queryKeys';
import { EngineError, type EngineErrorCode, type MoreLayers, type RunInput, type RunOptions, type RunOutput } from '../../src/core/engine/attentionEngine';
import type { FromPanel, ModelDescriptor, ToPanel } from '../../src/core/protocol/panel';
import { type NativeInput, sameNativeInput } from '../../src/core/protocol/engine';
import type { Engine } from './runner';
import { type TimingSpan, wallClock } from '../../src/core/timing';

type Reply = Extract<ToPanel, { type: 'engine/didOpen' | 'engine/didRun' | 'engine/didFail' }>;
type RunReply = Extract<ToPanel, { type: 'engine/didRun' }>;

/** A run the host began ahead on an engine (`engine/runAhead`): what it ran, and what became of it once told (undefined: dropped). */
interface Ahead {
  aheadId: number;
  runId: number;
  input: NativeInput;
  outcome: Promise<{ reply: RunReply; rest?: Promise<MoreLayers> } | Error | undefined>;
  settle(outcome: { reply: RunReply; rest?: Promise<MoreLayers> } | Error | undefined): void;
  /** Its later layers' messages, once it ran. */
  requestId?: number;
  /** A run of the page waits for it. */
  taken?: boolean;
}

/** Layers of a run still arriving (`engine/didRunLayer`), and who waits for them. */
interface Arriving {
  layers: AttentionLayer[];
  queryKeys: QueryKeyLayer[];
  expected: number;
  resolve(more: MoreLayers): void;
}

/** An engine in the host: runs by message; `notice` says why it runs elsewhere than asked (CUDA missing). */
export interface HostEngine extends Engine {
  readonly notice?: string;
}

/** The page's side of the host's native engines: requests out, replies in. */
export class HostEngines {
  private seq = 0;
  private readonly waiting = new Map<number, { resolve(r: Reply): void }>();
  private readonly arriving = new Map<number, Arriving>();
  /** Runs the host began ahead, by engine (the latest each, until a run takes it). */
  private readonly ahead = new Map<number, Ahead>();
  /** The same, and those taken, by id, until the host says what became of them. */
  private readonly announced = new Map<number, Ahead>();
  /** Engines opened and not released: a run ahead announced for another is nobody's. */
  private readonly held = new Set<number>();

  constructor(private readonly post: (m: FromPanel) => void) {}

  /** Opens `model` in the host's native engine on `backend` (with the mechanism's outputs, or as queries and keys, when asked). */
  async open(model: ModelDescriptor, backend: NativeBackend, mechanism = false, queryKeys = false): Promise<HostEngine> {
    const r = await this.request({ type: 'engine/open', requestId: 0, onnxFile: model.onnxFile, backend, mechanism, ...(queryKeys ? { queryKeys } : {}) });
    if (r.type !== 'engine/didOpen') throw unexpected(r);
    const id = r.engine;
    this.held.add(id);
    let released = false;
    return {
      backend: r.backend,
      notice: r.notice,
      hasLogits: r.hasLogits ?? false,
      hasPast: r.hasPast ?? false,
      run: async (input: RunInput, options: RunOptions = {}): Promise<RunOutput> => {
        if (input.past && input.past.handle === undefined) throw new EngineError('This key/value cache belongs to another engine.', 'run-failed');
        const posted = wallClock();
        const asked: NativeInput = {
          ids: Int32Array.from(input.ids),
          ...(input.decoderIds ? { decoderIds: Int32Array.from(input.decoderIds) } : {}),
          ...(options.logits ? { logits: options.logits } : {}),
          ...(input.pixelValues ? { pixelValues: { data: input.pixelValues.data, dims: [...input.pixelValues.dims] } } : {}),
          // The cache stays in the host's worker: the page holds its handle.
          ...(options.cache ? { cache: true } : {}),
          ...(input.past ? { past: input.past.handle } : {}),
        };
        // The host began this very run ahead: its result comes unasked (or word that it was dropped).
        const ahead = this.ahead.get(id);
        const mine = ahead && !options.mechanismOf && sameNativeInput(ahead.input, asked) ? this.takeAhead(id) : undefined; // another run (a probe's) leaves it
        if (mine) mine.taken = true;
        const took = mine && (await mine.outcome);
        if (took instanceof Error) throw took;
        const reply = took?.reply ?? (await this.request({ type: 'engine/run', requestId: 0, engine: id, input: asked, ...(options.mechanismOf ? { mechanismOf: [...options.mechanismOf] } : {}) }));
        if (reply.type !== 'engine/didRun') throw unexpected(reply);
        const { cache, ranAt, sentAt, ranAhead, ...result } = reply.result;
        // The same fields: a native run keeps nothing on a GPU.
        const out: RunOutput = { ...result, ...(cache ? { cache: { length: cache.length, tensors: new Map(), handle: cache.handle } } : {}), ...(ranAt && sentAt ? { spans: nativeSpans(posted, ranAt, result.millis, sentAt, wallClock(), ranAhead) } : {}) };
        if (reply.more === 0) return out;
        // The first layer draws now; the others follow one message each (as WebGPU reads them back).
        return { ...out, rest: took?.rest ?? this.arrive(reply.requestId, reply.more) };
      },
      dispose: async () => {
        if (released) return;
        released = true;
        this.held.delete(id);
        const ahead = this.takeAhead(id);
        if (ahead) this.dropArriving(ahead);
        this.post({ type: 'engine/release', engine: id });
      },
    };
  }

  /**
   * Request `runId` starts on the page: runs announced ahead for another (superseded, or this one
   * was not run ahead) are nobody's, nor are their results, nor their layers still to come.
   */
  startingRun(runId: number): void {
    for (const [engine, ahead] of this.ahead) {
      if (ahead.runId === runId) continue;
      this.ahead.delete(engine);
      this.dropArriving(ahead);
    }
  }

  /** The later layers of run `requestId` as they arrive. */
  private arrive(requestId: number, expected: number): Promise<MoreLayers> {
    return new Promise<MoreLayers>((resolve) => this.arriving.set(requestId, { layers: [], queryKeys: [], expected, resolve }));
  }

  private takeAhead(engine: number): Ahead | undefined {
    const ahead = this.ahead.get(engine);
    this.ahead.delete(engine);
    return ahead;
  }

  /** A run ahead nobody takes: its later layers are not kept (those still to come are dropped as they arrive). */
  private dropArriving(ahead: Ahead): void {
    if (ahead.requestId !== undefined) this.arriving.delete(ahead.requestId);
    void ahead.outcome.then((o) => o && !(o instanceof Error) && this.arriving.delete(o.reply.requestId));
  }

  /** The host began a run ahead, or says what became of it. */
  private receiveAhead(m: Extract<ToPanel, { type: 'engine/runAhead' | 'engine/didRunAhead' }>): void {
    if (m.type === 'engine/runAhead') {
      if (!this.held.has(m.engine)) return; // released meanwhile: its result is dropped as it comes
      const previous = this.takeAhead(m.engine);
      if (previous) this.dropArriving(previous);
      let settle!: Ahead['settle'];
      const outcome = new Promise<Parameters<Ahead['settle']>[0]>((resolve) => (settle = resolve));
      const ahead: Ahead = { aheadId: m.aheadId, runId: m.runId, input: m.input, outcome, settle };
      this.ahead.set(m.engine, ahead);
      this.announced.set(m.aheadId, ahead);
      return;
    }
    const ahead = this.announced.get(m.aheadId);
    this.announced.delete(m.aheadId);
    // Nobody waits for it, nor will (replaced or released meanwhile): its layers are dropped as they come.
    if (!ahead || (!ahead.taken && this.ahead.get(m.engine) !== ahead)) return;
    if (m.result) {
      const more = m.more ?? 0;
      ahead.requestId = m.requestId;
      // Its layers may come before the page's run takes it: they are kept from now.
      ahead.settle({ reply: { type: 'engine/didRun', requestId: m.requestId, result: m.result, more }, ...(more > 0 ? { rest: this.arrive(m.requestId, more) } : {}) });
    } else ahead.settle(m.message !== undefined ? new EngineError(m.message, (m.code ?? 'run-failed') as EngineErrorCode) : undefined);
  }

  /** A reply from the host; false when it is not one of these messages. */
  receive(m: ToPanel): boolean {
    if (m.type === 'engine/runAhead' || m.type === 'engine/didRunAhead') {
      this.receiveAhead(m);
      return true;
    }
    if (m.type === 'engine/didRunLayer') {
      const a = this.arriving.get(m.requestId);
      if (m.layer) a?.layers.push(m.layer);
      else a?.queryKeys.push(m.queryKey);
      if (a && a.layers.length + a.queryKeys.length === a.expected) {
        this.arriving.delete(m.requestId);
        // The run's warnings covered every layer.
        a.resolve({ layers: a.layers, warnings: [], ...(a.queryKeys.length > 0 ? { queryKeys: a.queryKeys } : {}) });
      }
      return true;
    }
    if (m.type !== 'engine/didOpen' && m.type !== 'engine/didRun' && m.type !== 'engine/didFail') return false;
    const w = this.waiting.get(m.requestId);
    this.waiting.delete(m.requestId);
    w?.resolve(m);
    return true;
  }

  private async request(m: Extract<FromPanel, { requestId: number }>): Promise<Reply & { requestId: number }> {
    const requestId = ++this.seq;
    const reply = await new Promise<Reply>((resolve) => {
      this.waiting.set(requestId, { resolve });
      this.post({ ...m, requestId });
    });
    if (reply.type === 'engine/didFail') throw new EngineError(reply.message, (reply.code ?? 'run-failed') as EngineErrorCode);
    return reply;
  }
}

/**
 * A native run's time from the page: its request crossing to the host's worker, the run, the
 * result crossing back to the host and then to the page (each crossing a message, over the
 * remote connection in code-server).
 */
export function nativeSpans(posted: number, ranAt: number, millis: number, sentAt: number, received: number, ranAhead = false): TimingSpan[] {
  // Run ahead (the host began the panel's first request once its model was open): drawn where it
  // ran, before the page asked or while it waited; the answer crosses once the run has ended.
  if (ranAhead) {
    const began = ranAt - millis;
    const asked = Math.max(posted, ranAt);
    const sent = Math.max(asked, sentAt);
    // Begun after the page asked (it waited for the worker): that wait, as a run's crossing is.
    const waited: TimingSpan[] = began > posted ? [{ stage: 'transfer', start: posted, end: began }] : [];
    return [...waited, { stage: 'inference', start: began, end: ranAt }, { stage: 'extraction', start: asked, end: sent }, { stage: 'transfer', start: sent, end: Math.max(sent, received) }];
  }
  // Clocks of two threads that disagree by a little never make a span negative nor shorten the run.
  const started = Math.max(posted, ranAt - millis);
  const ran = started + millis;
  const sent = Math.max(ran, sentAt);
  return [
    { stage: 'transfer', start: posted, end: started },
    { stage: 'inference', start: started, end: ran },
    { stage: 'extraction', start: ran, end: sent },
    { stage: 'transfer', start: sent, end: Math.max(sent, received) },
  ];
}

function unexpected(r: Reply): Error {
  return new Error(`the host answered ${r.type} out of turn`);
}
