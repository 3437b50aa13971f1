/**
 * The host's one owner of runs: every inspection in progress or shown, with events. The panel,
 * the editor decorations, the status bar and the notifications subscribe; nobody reaches into
 * another component to learn about a run. No vscode import, so it runs under unit tests.
 */
import type { ViewSummary } from '../core/analysis/summary';
import type { Backend } from '../core/backend';
import { Emitter } from '../core/events';
import type { TokenInfo } from '../core/tokens';

/** Where a run stands. Only `running` runs accept progress, results and failures; `running` and `done` runs accept summaries. */
export type RunStatus = 'running' | 'done' | 'failed' | 'cancelled';

/** Where the inspected text sits: a document version and the offset of the selection's start. */
export interface RunDocument {
  uri: string;
  version: number;
  /** UTF-16 offset of the inspected text in the document; token offsets are relative to it. */
  offset: number;
}

/** What starting a run needs. */
export interface RunInit {
  model: { id: string; label: string };
  document: RunDocument;
  tokens: readonly TokenInfo[];
}

/** One inspection. Read-only outside the registry: change it through the registry's methods. */
export interface Run extends RunInit {
  readonly id: number;
  readonly status: RunStatus;
  /** Last progress message while running. */
  readonly progress?: string;
  readonly backend?: Backend;
  readonly millis?: number;
  /** Why WebGPU was not used, when `auto` ended on WASM. */
  readonly fallbackReason?: string;
  readonly error?: string;
  /** What the editor shows: the panel's current layer/heads, top keys per query. */
  readonly summary?: ViewSummary;
}

/** Runs by id, with events for each change. */
export class RunRegistry {
  private nextId = 1;
  private readonly runs = new Map<number, Run>();
  private readonly added = new Emitter<Run>();
  private readonly changed = new Emitter<Run>();
  private readonly removed = new Emitter<Run>();
  /** A run was added (status `running`). */
  readonly onDidAdd = this.added.event;
  /** A run's status, progress, result or summary changed. */
  readonly onDidChange = this.changed.event;
  /** A run was removed (its view closed): forget everything about it. */
  readonly onDidRemove = this.removed.event;

  /** Adds a running run. */
  add(init: RunInit): Run {
    const run: Run = { ...init, id: this.nextId++, status: 'running' };
    this.runs.set(run.id, run);
    this.added.fire(run);
    return run;
  }

  get(id: number): Run | undefined {
    return this.runs.get(id);
  }

  /** The newest run still held, if any. */
  get latest(): Run | undefined {
    let last: Run | undefined;
    for (const r of this.runs.values()) last = r;
    return last;
  }

  /** Progress of a running run. */
  progress(id: number, message: string): void {
    this.updateRunning(id, { progress: message });
  }

  /** A running run finished. */
  finish(id: number, result: { backend: Backend; millis: number; fallbackReason?: string }): void {
    this.updateRunning(id, { ...result, status: 'done', progress: undefined });
  }

  /** A running run failed. */
  fail(id: number, message: string): void {
    this.updateRunning(id, { status: 'failed', error: message, progress: undefined });
  }

  /** Stops waiting for a running run; its late messages are ignored. */
  cancel(id: number): void {
    this.updateRunning(id, { status: 'cancelled', progress: undefined });
  }

  /** The panel's view of a run changed layer or heads (the first summary may arrive just before the result). */
  setSummary(summary: ViewSummary): void {
    const run = this.runs.get(summary.runId);
    if (run?.status === 'done' || run?.status === 'running') this.update(run, { summary });
  }

  /** Forgets a run (cancelling it first if it still runs). */
  remove(id: number): void {
    const run = this.runs.get(id);
    if (!run) return;
    this.cancel(id);
    this.runs.delete(id);
    this.removed.fire(run);
  }

  dispose(): void {
    for (const e of [this.added, this.changed, this.removed]) e.dispose();
  }

  private updateRunning(id: number, patch: Partial<Run>): void {
    const run = this.runs.get(id);
    if (run?.status === 'running') this.update(run, patch);
  }

  private update(run: Run, patch: Partial<Run>): void {
    const next = { ...run, ...patch };
    this.runs.set(run.id, next);
    this.changed.fire(next);
  }
}
