/**
 * The host's one owner of runs: every inspection in progress or shown, with events. The panel,
 * the editor decorations, the status bar and the notifications subscribe; nobody reaches into
 * another component to learn about a run. No vscode import, so it runs under unit tests.
 */
import type { HeadGrid } from '../core/analysis/headGrid';
import type { ViewSummary } from '../core/analysis/summary';
import type { Backend } from '../core/backend';
import { Emitter } from '../core/events';
import type { Similarity } from '../core/protocol/explorer';
import type { GeneratedStep, HeadSelection } from '../core/protocol/panel';
import type { RunTimings } from '../core/timing';
import type { TokenInfo } from '../core/tokens';

/** Where a run stands. Only `running` runs accept progress, results and failures; `running` and `done` runs accept summaries. */
export type RunStatus = 'running' | 'done' | 'failed' | 'cancelled';

/** Where the inspected text sits: a document version and the offset of the selection's start. */
export interface RunDocument {
  uri: string;
  version: number;
  /** UTF-16 offset of the inspected text in the document; token offsets are relative to it. */
  offset: number;
  /** UTF-16 length of the inspected text. */
  length: number;
}

/** What starting a run needs. */
export interface RunInit {
  model: { id: string; label: string };
  document: RunDocument;
  /** The tokens in the document (a generation's output only once it is inserted). */
  tokens: readonly TokenInfo[];
  /** A generation's sequence: the index of its first generated token and its steps (the editor's hovers show them). */
  generation?: { first: number; steps: readonly GeneratedStep[] };
}

/** One inspection. Read-only outside the registry: change it through the registry's methods. */
export interface Run extends RunInit {
  readonly id: number;
  readonly status: RunStatus;
  /** Last progress message while running. */
  readonly progress?: string;
  readonly backend?: Backend;
  readonly millis?: number;
  /** Why this backend was used (a hardware adapter, the setting, or why not WebGPU). */
  readonly backendReason?: string;
  /** Where the time from the command to the picture went, once the picture is on screen. */
  readonly timings?: RunTimings;
  readonly error?: string;
  /** What the editor shows: the panel's current layer/heads, top keys per query. */
  readonly summary?: ViewSummary;
  /** The record and heads on screen; set by the panel, or requested by the explorer. */
  readonly selection?: HeadSelection;
  /** Thumbnails and statistics of every head, for the explorer. */
  readonly grid?: HeadGrid;
  /** How far the panel is in measuring the grid (layers done of all), until it arrives; `stopped` when asked to stop, `waiting` until asked to start (a long input's). */
  readonly gridProgress?: { done: number; of: number; stopped?: boolean; waiting?: boolean };
  /** Distances from one head to every cell, when the explorer asked for them. */
  readonly similarity?: Similarity;
}

/** Runs by id, with events for each change. */
export class RunRegistry {
  private nextId = 1;
  private readonly runs = new Map<number, Run>();
  private readonly added = new Emitter<Run>();
  private readonly changed = new Emitter<Run>();
  private readonly removed = new Emitter<Run>();
  private readonly moved = new Emitter<Run>();
  /** A run's text moved in its document (a generation's output was inserted after it): its document and tokens are new. */
  readonly onDidMove = this.moved.event;
  /** A run was added (status `running`). */
  readonly onDidAdd = this.added.event;
  /** A run's status, progress, result or summary changed. */
  readonly onDidChange = this.changed.event;
  /** A run was removed (its view closed): forget everything about it. */
  readonly onDidRemove = this.removed.event;
  private readonly similarityRequested = new Emitter<{ runId: number; recordIndex: number; head: number }>();
  /** Someone asked how alike every head of a run is to one head; the panel holding the tensors answers with `setSimilarity`. */
  readonly onDidRequestSimilarity = this.similarityRequested.event;
  private readonly gridRequested = new Emitter<{ runId: number; measure: boolean }>();
  /** Someone asked to stop measuring a run's grid, or to measure it again (`requestGrid`). */
  readonly onDidRequestGrid = this.gridRequested.event;

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
  finish(id: number, result: { backend: Backend; millis: number; backendReason: string }): void {
    this.updateRunning(id, { ...result, status: 'done', progress: undefined });
  }

  /** A finished run's picture is on screen: where the time went. */
  setTimings(id: number, timings: RunTimings): void {
    const run = this.runs.get(id);
    if (run?.status === 'done') this.update(run, { timings });
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

  /** Shows `selection` for a run (from the panel or the explorer); unchanged selections fire nothing. */
  setSelection(runId: number, selection: HeadSelection): void {
    const run = this.runs.get(runId);
    const s = run?.selection;
    // The head count stays known for the record when a selection does not say it (the explorer's).
    const of = selection.of ?? (s?.recordIndex === selection.recordIndex ? s.of : undefined);
    if (!run || (s && s.recordIndex === selection.recordIndex && s.heads.join() === selection.heads.join() && s.of === of)) return;
    this.update(run, { selection: { recordIndex: selection.recordIndex, heads: [...selection.heads], ...(of !== undefined ? { of } : {}) } });
  }

  /** The explorer's data for a run arrived. */
  setGrid(grid: HeadGrid): void {
    const run = this.runs.get(grid.runId);
    if (run && run.status !== 'cancelled' && run.status !== 'failed') this.update(run, { grid, gridProgress: undefined });
  }

  /**
   * The panel measured `done` of `of` layers of a run's grid (a long input's takes minutes), and
   * goes on unless `how` says it stopped or waits to be asked; ignored once a grid is there, except
   * `waiting`, which the panel says when what the grid is made from changed: the grid there goes.
   */
  setGridProgress(runId: number, done: number, of: number, how?: 'stopped' | 'waiting'): void {
    const run = this.runs.get(runId);
    if (!run || run.status === 'cancelled' || run.status === 'failed' || (run.grid && how !== 'waiting')) return;
    this.update(run, { gridProgress: { done, of, ...(how ? { [how]: true } : {}) }, ...(how === 'waiting' ? { grid: undefined, similarity: undefined } : {}) });
  }

  /** Asks the panel holding a run to stop measuring its grid, or to measure it again. */
  requestGrid(runId: number, measure: boolean): void {
    if (this.runs.has(runId)) this.gridRequested.fire({ runId, measure });
  }

  /** Asks for the similarity of every head to one head of a run. */
  requestSimilarity(runId: number, recordIndex: number, head: number): void {
    if (this.runs.has(runId)) this.similarityRequested.fire({ runId, recordIndex, head });
  }

  /** Similarities arrived. */
  setSimilarity(runId: number, similarity: Similarity): void {
    const run = this.runs.get(runId);
    if (run) this.update(run, { similarity });
  }

  /** The run's text is now at `document` (a new version), with `tokens` in it. */
  move(id: number, document: RunDocument, tokens: readonly TokenInfo[]): void {
    const run = this.runs.get(id);
    if (!run) return;
    const moved: Run = { ...run, document, tokens };
    this.runs.set(id, moved);
    this.moved.fire(moved);
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
    for (const e of [this.added, this.changed, this.removed, this.moved]) e.dispose();
    this.similarityRequested.dispose();
    this.gridRequested.dispose();
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
