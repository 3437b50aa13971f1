/**
 * The panel's state in one typed module: the loaded run, the chosen record (layer) and heads, the
 * hovered token, the view mode and the phase of the current run. Changed only through the named
 * actions below; views subscribe and never read state back from the DOM. No DOM here.
 */
import { type AttentionRecord, recordOfLayer } from '../../src/core/attention';
import type { TokenTarget } from '../../src/core/analysis/tokenFocus';
import type { Backend } from '../../src/core/backend';
import { Emitter } from '../../src/core/events';
import type { RunRequest, RunStage } from '../../src/core/protocol/panel';
import type { RunResult } from './runner';

/** Views the panel can show; more come with the head explorer. */
export type ViewMode = 'head';

/** Where the current run stands. */
export type Phase =
  | { name: 'idle' }
  | { name: 'running'; stage: RunStage; message: string; fraction?: number }
  | { name: 'ready' }
  | { name: 'error'; message: string };

/** A run whose attention is loaded. */
export interface LoadedRun {
  request: RunRequest;
  records: AttentionRecord[];
  backend: Backend;
  millis: number;
}

/** Everything the panel shows. */
export interface PanelSnapshot {
  readonly run?: LoadedRun;
  readonly recordIndex: number;
  readonly visibleHeads: readonly boolean[];
  readonly hover: TokenTarget | null;
  /** Scroll the hovered token into view (it was chosen by keyboard or from the editor). */
  readonly reveal: boolean;
  readonly viewMode: ViewMode;
  readonly phase: Phase;
  readonly notice: string;
}

/** What an action changed: `run` and `selection` need a rebuild, `hover` a restyle, `phase` the status. */
export type Change = 'run' | 'selection' | 'hover' | 'phase';

const INITIAL: PanelSnapshot = { recordIndex: 0, visibleHeads: [], hover: null, reveal: false, viewMode: 'head', phase: { name: 'idle' }, notice: '' };

/** The panel's state and its actions. */
export class PanelState {
  private s: PanelSnapshot = INITIAL;
  private readonly changed = new Emitter<Change>();
  /** Fires after every effective change. */
  readonly onDidChange = this.changed.event;

  get snapshot(): PanelSnapshot {
    return this.s;
  }

  /** The record on screen. */
  get record(): AttentionRecord | undefined {
    return this.s.run?.records[this.s.recordIndex];
  }

  /** Indices of the visible heads. */
  get shownHeads(): number[] {
    return this.s.visibleHeads.flatMap((v, h) => (v ? [h] : []));
  }

  /** A run started: progress shows; the previous result stays until the new one arrives. */
  begin(request: RunRequest): void {
    this.set({ phase: { name: 'running', stage: 'runtime', message: '' }, notice: request.notice ?? '' }, 'phase');
  }

  /** Progress of the current run. */
  progress(stage: RunStage, message: string, fraction?: number): void {
    this.set({ phase: { name: 'running', stage, message, fraction } }, 'phase');
  }

  /** The run finished: its first record, every head, nothing hovered. */
  finish(request: RunRequest, result: RunResult): void {
    const tokens = { tokens: request.tokens, decoderTokens: request.decoderTokens, causal: request.model.causal };
    const records = result.layers.map((l) => recordOfLayer(l, tokens));
    const run: LoadedRun = { request, records, backend: result.backend, millis: result.millis };
    this.set({ run, recordIndex: 0, visibleHeads: allHeads(records[0]?.heads ?? 0), hover: null, reveal: false, phase: { name: 'ready' } }, 'run');
  }

  /** The run failed with a message for the user. */
  fail(message: string): void {
    this.set({ phase: { name: 'error', message } }, 'phase');
  }

  /** Shows record `i` (a layer); keeps the head choice when the head count matches. Out of range: ignored. */
  selectRecord(i: number): void {
    const records = this.s.run?.records ?? [];
    if (i < 0 || i >= records.length || i === this.s.recordIndex) return;
    const heads = records[i].heads;
    const visibleHeads = this.s.visibleHeads.length === heads ? this.s.visibleHeads : allHeads(heads);
    this.set({ recordIndex: i, visibleHeads, hover: null, reveal: false }, 'selection');
  }

  /** Shows or hides head `h`. */
  toggleHead(h: number): void {
    if (h < 0 || h >= this.s.visibleHeads.length) return;
    this.set({ visibleHeads: this.s.visibleHeads.map((v, i) => (i === h ? !v : v)) }, 'selection');
  }

  /** Shows only head `h`. */
  soloHead(h: number): void {
    if (h < 0 || h >= this.s.visibleHeads.length) return;
    this.set({ visibleHeads: this.s.visibleHeads.map((_, i) => i === h) }, 'selection');
  }

  /** Shows record `recordIndex` with exactly `heads` (a choice made in the head explorer). */
  setSelection(recordIndex: number, heads: readonly number[]): void {
    const r = this.s.run?.records[recordIndex];
    if (!r) return;
    const visibleHeads = Array.from({ length: r.heads }, (_, h) => heads.includes(h));
    if (recordIndex === this.s.recordIndex && visibleHeads.join() === this.s.visibleHeads.join()) return;
    const hover = recordIndex === this.s.recordIndex ? this.s.hover : null;
    this.set({ recordIndex, visibleHeads, hover, reveal: false }, 'selection');
  }

  /** Hovers a token (null clears); `reveal` scrolls it into view. Unchanged targets are ignored. */
  hoverOn(target: TokenTarget | null, reveal = false): void {
    const h = this.s.hover;
    if (h?.side === target?.side && h?.index === target?.index) return;
    this.set({ hover: target, reveal }, 'hover');
  }

  /** The editor cursor is on query `index` of run `runId` (-1: on none), shown when the record is over the input. */
  focusFromEditor(runId: number, index: number): void {
    if (this.s.run?.request.runId !== runId || !this.record?.overInput) return;
    this.hoverOn(index >= 0 ? { side: 'query', index } : null, true);
  }

  /** Keyboard navigation of the view; true when `key` did something. */
  key(key: string): boolean {
    const r = this.record;
    if (!r) return false;
    const side = this.s.hover?.side ?? 'query';
    const n = side === 'query' ? r.queries : r.keys;
    const at = this.s.hover?.index ?? -1;
    const moves: Record<string, () => void> = {
      ArrowDown: () => this.hoverOn({ side, index: Math.min(n - 1, at + 1) }, true),
      ArrowUp: () => this.hoverOn({ side, index: Math.max(0, at - 1) }, true),
      ArrowLeft: () => this.hoverOn({ side: 'query', index: Math.min(r.queries - 1, Math.max(0, at)) }),
      ArrowRight: () => this.hoverOn({ side: 'key', index: Math.min(r.keys - 1, Math.max(0, at)) }),
      Escape: () => this.hoverOn(null),
      PageDown: () => this.selectRecord(this.s.recordIndex + 1),
      PageUp: () => this.selectRecord(this.s.recordIndex - 1),
    };
    if (!Object.hasOwn(moves, key)) return false;
    moves[key]();
    return true;
  }

  private set(patch: Partial<PanelSnapshot>, change: Change): void {
    this.s = { ...this.s, ...patch };
    this.changed.fire(change);
  }
}

function allHeads(n: number): boolean[] {
  return Array<boolean>(n).fill(true);
}
