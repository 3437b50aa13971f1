/**
 * The run of a comparison in the panel: A, then B, one session at a time, each with every layer
 * (layers still on the GPU, or a long input's queries and keys still coming from the native
 * engine, are awaited); then both go to the state. A side that fails is named,
 * and the other side's result is kept. No DOM here.
 */
import type { MoreLayers } from '../../src/core/engine/attentionEngine';
import type { FromPanel, RunRequest } from '../../src/core/protocol/panel';
import type { RunResult } from './runner';
import type { PanelState } from './state';

/** What a comparison run needs from the page. */
export interface ComparisonDeps {
  state: PanelState;
  /** Starts a run on the page's runner (superseding any other). */
  startRun(req: RunRequest): void;
  /** Shows a single run's result (as a run that is not a comparison). */
  show(req: RunRequest, result: RunResult): void;
  post(m: FromPanel): void;
  /** Whether `req` is still the run the panel works on. */
  isCurrent(req: RunRequest): boolean;
}

export class ComparisonRun {
  constructor(private readonly deps: ComparisonDeps) {}

  private a: RunRequest | undefined;
  private b: RunRequest | undefined;
  private resultA: RunResult | undefined;
  private failedA: string | undefined;
  /** A result whose layers still come from the GPU. */
  private partial = new Map<RunRequest, RunResult>();

  /** A new run: a comparison when it says so, else none in progress. */
  begin(request: RunRequest): void {
    this.partial.clear();
    this.resultA = this.failedA = undefined;
    this.a = request.compare ? request : undefined;
    const c = request.compare;
    this.b = c && { runId: request.runId, model: c.model, backend: request.backend, text: c.text, tokens: c.tokens, ids: c.ids, decoderTokens: c.decoderTokens, decoderIds: c.decoderIds, maxLinksPerQuery: request.maxLinksPerQuery, ...(request.keepWeightsBytes !== undefined ? { keepWeightsBytes: request.keepWeightsBytes } : {}), ...(c.image ? { image: c.image } : {}) };
  }

  owns(req: RunRequest): boolean {
    return req === this.a || req === this.b;
  }

  finished(req: RunRequest, result: RunResult): void {
    if (result.moreToCome) return void this.partial.set(req, result);
    if (req === this.a) {
      this.resultA = result;
      this.runB();
    } else void this.done(result);
  }

  more(req: RunRequest, more: MoreLayers): void {
    const first = this.partial.get(req);
    if (!first) return;
    this.partial.delete(req);
    const queryKeys = [...(first.queryKeys ?? []), ...(more.queryKeys ?? [])];
    this.finished(req, { ...first, layers: [...first.layers, ...more.layers], warnings: [...first.warnings, ...more.warnings], moreToCome: false, ...(queryKeys.length ? { queryKeys } : {}) });
  }

  /** A side failed: A's failure still runs B; B's keeps A's result, or reports both. */
  failed(req: RunRequest, message: string): void {
    if (req === this.a) {
      this.failedA = `Model A (${req.model.label}) failed: ${message}${memoryHint(message)}`;
      this.runB();
      return;
    }
    const why = `Model B (${req.model.label}) failed: ${message}${memoryHint(message)}`;
    if (this.resultA && this.a) {
      // Keep A's result, and say which model failed.
      const a = this.a;
      this.deps.show({ ...a, notice: [a.notice, why].filter(Boolean).join(' ') }, this.resultA);
      this.a = this.b = undefined;
      return;
    }
    this.deps.state.fail([this.failedA, why].filter(Boolean).join(' '));
    if (this.a) this.deps.post({ type: 'run/didFail', runId: this.a.runId, message: [this.failedA, why].filter(Boolean).join(' ') });
  }

  private runB(): void {
    if (!this.b || !this.a || !this.deps.isCurrent(this.a)) return;
    this.deps.state.progress('inference', `Running model B (${this.b.model.label})…`);
    this.deps.startRun(this.b);
  }

  private async done(resultB: RunResult): Promise<void> {
    const a = this.a, b = this.b;
    if (!a || !b || !this.deps.isCurrent(a)) return;
    if (this.failedA) {
      // A failed, B ran: show B alone, and report A's failure.
      this.deps.state.finish({ ...b, notice: this.failedA }, resultB);
      this.deps.post({ type: 'run/didFail', runId: a.runId, message: `${this.failedA} Model B's attention is in the panel.` });
      return;
    }
    const resultA = this.resultA!;
    try {
      await this.deps.state.finishCompare(a, resultA, { request: b, result: resultB }, () => this.deps.isCurrent(a));
      if (!this.deps.isCurrent(a)) return;
    } catch (e) {
      this.deps.state.fail(`The two runs cannot be compared: ${(e as Error).message}`);
      this.deps.post({ type: 'run/didFail', runId: a.runId, message: `The two runs cannot be compared: ${(e as Error).message}` });
      return;
    }
    this.deps.post({ type: 'run/didFinish', runId: a.runId, backend: resultA.backend, millis: resultA.millis + resultB.millis, backendReason: resultA.backendReason });
  }
}

/** What to do when a side ran out of memory: the models never share it, so that model alone is too large here. */
function memoryHint(message: string): string {
  return /out of memory|memory access out of bounds|allocation failed|Array buffer allocation|std::bad_alloc/i.test(message)
    ? `${/[.!?]$/.test(message.trim()) ? '' : '.'} The two models run one after the other and never hold memory together, so this one alone does not fit: choose a smaller (quantized) export or a shorter selection.`
    : '';
}
