/**
 * The panel's state in one typed module: the loaded run, the chosen record (layer) and heads, the
 * hovered token, the view mode and the phase of the current run. Changed only through the named
 * actions below; views subscribe and never read state back from the DOM. No DOM here.
 */
import type { AttentionRecord } from '../../src/core/attention';
import type { HeadGrid } from '../../src/core/analysis/headGrid';
import { positionOfToken, tokenUnits } from '../../src/core/analysis/summary';
import type { TokenTarget } from '../../src/core/analysis/tokenFocus';
import type { AnalysisChoices } from '../../src/core/analysis/transform';
import { Emitter } from '../../src/core/events';
import type { MoreLayers } from '../../src/core/engine/attentionEngine';
import type { RunRequest, RunStage } from '../../src/core/protocol/panel';
import type { RunResult } from './runner';
import { allSteps, bestMatches, correspondenceSteps, mapLayer } from '../../src/core/analysis/compare';
import { TASK_CELLS, closestHead } from './headGridTask';
import { compareRuns } from './comparedRuns';
import { derive, longContributions, longMechanism, onDemandNotice, withLaterLayers } from './derive';
import { type LongRollout, rolloutKey } from './longRollout';
import { COMPACT_ABOVE_BYTES, type LayerStore, isStored, needsComputing, prepareRecords, runRecords, withFullPrecision } from './layerStore';
import { type Change, type CompareShow, type ContributionSet, INITIAL, type LoadedRun, type PanelSnapshot, type ViewMode, type Weighting } from './snapshot';

/** The panel's state and its actions. */
export class PanelState {
  private s: PanelSnapshot = INITIAL;
  private readonly changed = new Emitter<Change>();
  /** Fires after every effective change. */
  readonly onDidChange = this.changed.event;

  /** `compactAbove`: runs with more attention bytes than this keep a compact copy of the layers off screen. */
  constructor(private readonly compactAbove = COMPACT_ABOVE_BYTES) {}

  get snapshot(): PanelSnapshot {
    return this.s;
  }

  /** The record on screen. */
  get record(): AttentionRecord | undefined {
    return this.s.records[this.s.recordIndex];
  }

  /** In a comparison: the layer of B facing the record on screen (the user's choice, else proportional). */
  get layerB(): number {
    return this.layerBOf(this.s.recordIndex);
  }

  /** In a comparison: the layer of B facing record `i` of A. */
  layerBOf(i: number): number {
    const c = this.s.compare;
    return c ? c.layerB ?? mapLayer(i, this.s.records.length, c.records.length) : 0;
  }

  /** In a comparison: which heads of B show. */
  get visibleHeadsB(): boolean[] {
    const r = this.recordB, c = this.s.compare;
    if (!r || !c) return [];
    if (c.headsB) return Array.from({ length: r.heads }, (_, h) => c.headsB!.includes(h));
    return r.heads === this.s.visibleHeads.length ? [...this.s.visibleHeads] : allHeads(r.heads);
  }

  /** Head `a` of A beside head `b` of B, side by side (a pair chosen in the correspondence). */
  pickPair(a: number, b: number): void {
    const c = this.s.compare;
    if (!c || a < 0 || a >= this.s.visibleHeads.length) return;
    this.set({ visibleHeads: this.s.visibleHeads.map((_, i) => i === a), compare: { ...c, show: 'side', headsB: [b] }, hover: null, reveal: false }, 'selection');
  }

  /** In a comparison: B's record facing the one on screen. */
  get recordB(): AttentionRecord | undefined {
    return this.s.compare?.records[this.layerB];
  }

  /** Bytes of attention data the panel holds: its stores, every other distinct buffer under the records, and the grid. */
  get heldBytes(): number {
    const buffers = new Set<ArrayBufferLike>();
    for (const r of [...(this.s.run?.records ?? []), ...this.s.base, ...this.s.records]) if (!isStored(r)) buffers.add(r.data.buffer);
    if (this.s.grid) for (const a of [this.s.grid.thumbnails, this.s.grid.stats]) buffers.add(a.buffer);
    let n = 0;
    for (const [store] of this.stores) n += store.heldBytes;
    const layersB = this.s.compare?.b.store;
    if (layersB && layersB !== this.s.compare?.storeB) n += layersB.heldBytes; // a long B's layers, from which its aligned records are computed
    for (const b of buffers) n += b.byteLength;
    return n;
  }

  /** Where the records keep their weights, each with the indices the views on screen use (kept in full precision). */
  get stores(): Array<[LayerStore, number[]]> {
    const out: Array<[LayerStore, number[]]> = [];
    // A comparison whose records are not A's layers (aligned through words or an edit) draws none of them.
    if (this.s.run?.store) out.push([this.s.run.store, this.s.compare && this.s.baseStore ? [] : this.layersOnScreen]);
    if (this.s.baseStore) out.push([this.s.baseStore, [this.s.recordIndex]]);
    for (const store of [this.s.recordStore, this.s.weightStore]) if (store) out.push([store, [this.s.recordIndex]]);
    if (this.s.compare) out.push([this.s.compare.storeB, [this.layerB]]);
    return out;
  }

  /** Indices of the run's layers the views on screen are made from (kept in full precision). */
  get layersOnScreen(): number[] {
    const run = this.s.run;
    if (!run || (run.rollout && this.s.recordStore === run.rollout.store)) return []; // a long input's rollout is not made from the layer shown
    const names = new Set<string>();
    for (const r of [this.s.base[this.s.recordIndex], this.s.records[this.s.recordIndex]]) if (r) names.add(r.source.name);
    return run.records.flatMap((r, i) => (names.has(r.source.name) ? [i] : []));
  }

  /**
   * The per-head base and the records on screen, made again from every layer in full precision
   * (read back where the panel keeps a compact copy): what exports write.
   */
  async fullPrecision(): Promise<{ base: AttentionRecord[]; records: AttentionRecord[]; recordsB?: AttentionRecord[] }> {
    const s = this.s, run = s.run;
    if (s.compare) {
      const [records, recordsB] = await Promise.all([withFullPrecision(s.records), withFullPrecision(s.compare.records)]);
      return { base: records, records, recordsB };
    }
    if (!run) return { base: [], records: [] };
    const { base, records } = derive({ ...run, records: await withFullPrecision(run.records) }, this.shownChoices(s.choices), s.weighting, s.contributions);
    return { base, records };
  }

  /**
   * Layers on screen came back in full precision. The record on screen, when made from its layer
   * (words, hiding, a mean or max over heads), is made again and drawn; a rollout, made from every
   * layer, stays as it is. The run's own records read their new weights when next used, so only
   * what was computed from them (the summary) is refreshed ('precision').
   */
  refreshPrecision(): void {
    const run = this.s.run;
    if (!run) return;
    const choices = this.shownChoices(this.s.choices), i = this.s.recordIndex;
    // A comparison's records read their weights when used; the correspondence is made from them on demand.
    if (this.s.compare || this.s.records[i] === run.records[i] || choices.aggregate === 'rollout' || this.s.base.length !== run.records.length) return void this.set({}, 'precision');
    const one = derive({ ...run, records: [run.records[i]] }, choices, this.s.weighting, this.s.contributions);
    // A per-head record kept in a store goes back there (so it is compacted again off screen); what is made from it is new.
    let base = this.s.base;
    if (this.s.baseStore && isStored(base[i])) this.s.baseStore.replace(i, one.base[0].data);
    else if (base[i] !== one.base[0]) base = base.map((r, j) => (j === i ? one.base[0] : r));
    const records = choices.aggregate === undefined ? base : this.s.records.map((r, j) => (j === i ? one.records[0] : r));
    this.set({ base, records }, 'selection');
  }

  /** The choices the views apply: a rollout multiplies every layer, so while some are still on the GPU it waits for them (addLayers). */
  private shownChoices(choices: AnalysisChoices): AnalysisChoices {
    return this.s.layersPending && choices.aggregate === 'rollout' ? { ...choices, aggregate: undefined } : choices;
  }

  /** The selection in per-head terms (an aggregate stands for every head of its layer). */
  get headSelection(): { recordIndex: number; heads: number[]; of?: number } {
    const base = this.s.base[this.s.recordIndex];
    const aggregated = this.s.choices.aggregate !== undefined;
    return { recordIndex: this.s.recordIndex, heads: aggregated && base ? Array.from({ length: base.heads }, (_, h) => h) : this.shownHeads, of: base?.heads };
  }

  /** Indices of the visible heads. */
  get shownHeads(): number[] {
    return this.s.visibleHeads.flatMap((v, h) => (v ? [h] : []));
  }

  /** A run started: progress shows; the previous result stays until the new one arrives. */
  begin(request: RunRequest): void {
    this.set({ phase: { name: 'running', stage: 'runtime', message: '' }, notice: request.notice ?? '', loading: request.model.label }, 'phase');
  }

  /** Progress of the current run. */
  progress(stage: RunStage, message: string, fraction?: number): void {
    this.set({ phase: { name: 'running', stage, message, fraction } }, 'phase');
  }

  /** The run finished: its first record, every head, nothing hovered. */
  finish(request: RunRequest, result: RunResult): void {
    const tokens = { tokens: request.tokens, decoderTokens: request.decoderTokens, causal: request.model.causal };
    const { records, store, onDemand } = runRecords(result.layers, result.queryKeys, tokens, this.compactAbove);
    const run: LoadedRun = { request, records, store, backend: result.backend, backendReason: result.backendReason, millis: result.millis, ...(onDemand ? { onDemand } : {}) };
    const weighting = onDemand && !longContributions(records) ? 'attention' : this.s.weighting; // contributions of a long input need every layer's value norms; its rollout: longRollout.ts
    const derived = derive(run, this.s.choices, weighting, undefined, this.compactAbove);
    const notice = [request.notice, onDemand ? onDemandNotice(request.ids.length, store) : '', ...result.warnings.map((w) => `Warning: ${w}.`)].filter(Boolean).join(' ');
    this.set({ run, weighting, ...derived, grid: undefined, recordIndex: 0, visibleHeads: allHeads(derived.records[0]?.heads ?? 0), hover: null, reveal: false, phase: { name: 'ready' }, notice, layersPending: result.moreToCome, contributions: undefined, compare: undefined }, 'run');
  }

  /**
   * A comparison finished: A becomes the run (its records over the input, aligned with B's units),
   * B sits beside it, once the records first shown are computed in the page's workers (long
   * sides: the page stays free meanwhile) and if `still()`. Word level, hiding, aggregation and
   * contributions do not apply to comparisons.
   */
  async finishCompare(request: RunRequest, a: RunResult, b: { request: RunRequest; result: RunResult }, still = () => true): Promise<void> {
    const made = compareRuns(request, a, b, this.compactAbove);
    const records = made.records, first = [records[0], made.recordsB[mapLayer(0, records.length, made.recordsB.length)]].filter((r) => r && needsComputing(r));
    if (first.length > 0) {
      const computing = first[0].label;
      this.set({ computing }, 'phase');
      await prepareRecords(first);
      // A newer run took the panel: say nothing more of this one.
      if (!still()) return void (this.s.computing === computing && this.set({ computing: undefined }, 'phase'));
    }
    this.set({ computing: undefined,
      run: made.run, base: records, baseStore: made.store, recordStore: undefined, weightStore: undefined, records, grid: undefined, recordIndex: 0, visibleHeads: allHeads(records[0]?.heads ?? 0), hover: null, reveal: false,
      phase: { name: 'ready' }, notice: made.notice, layersPending: false, contributions: undefined, choices: { words: false, hide: [] }, weighting: 'attention', weightingNote: '',
      viewMode: this.s.viewMode === 'head' || this.s.viewMode === 'matrix' ? this.s.viewMode : 'head',
      compare: { b: made.b, alignment: made.alignment, records: made.recordsB, storeB: made.storeB, show: made.identical ? 'side' : this.s.compare?.show ?? 'side', identical: made.identical },
    }, 'run');
  }

  /** Side by side, the difference or the head correspondence. */
  setCompareShow(show: CompareShow): void {
    const c = this.s.compare;
    if (c && c.show !== show) this.set({ compare: { ...c, show }, hover: null, reveal: false }, 'selection');
  }

  /** Compares the record on screen with layer `i` of B; undefined: the proportional layer. */
  setLayerB(i: number | undefined): void {
    const c = this.s.compare;
    // The explorer's divergence follows B's layers: the grid is made again ('records').
    if (!c || !(i === undefined || (i >= 0 && i < c.records.length)) || i === c.layerB) return;
    const b = c.records[i ?? mapLayer(this.s.recordIndex, this.s.records.length, c.records.length)];
    if (this.computeFirst([b], () => this.setLayerB(i))) return;
    this.set({ compare: { ...c, layerB: i }, grid: undefined, hover: null, reveal: false }, 'records');
  }

  /** The rest of the run's layers arrived (read back from the GPU after the first picture); the view keeps its place. */
  addLayers(request: RunRequest, more: MoreLayers): void {
    const run = this.s.run;
    if (!run || run.request.runId !== request.runId || this.s.compare) return;
    const later = withLaterLayers(run, more, this.s.notice);
    const next = later.run;
    const notice = [later.notice, ...more.warnings.map((w) => `Warning: ${w}.`)].filter(Boolean).join(' ');
    this.set({ run: next, ...derive(next, this.s.choices, this.s.weighting, this.s.contributions, this.compactAbove), notice, layersPending: false }, 'records');
  }

  /** Changes word level, hidden tokens or aggregation; keeps the layer where it still exists. */
  setChoices(patch: Partial<AnalysisChoices>): void {
    if (this.s.compare) return; // a comparison is made of aligned per-head records only
    const choices = { ...this.s.choices, ...patch };
    const was = this.s.run;
    if (!was) return void this.set({ choices }, 'view');
    const run = was.rollout && was.rollout.key !== rolloutKey(was.request.runId, choices, this.s) ? { ...was, rollout: undefined } : was; // made for other choices: it goes (a matrix per layer)
    const derived = derive(run, this.shownChoices(choices), this.s.weighting, this.s.contributions, this.compactAbove);
    const recordIndex = Math.min(this.s.recordIndex, Math.max(0, derived.records.length - 1));
    const heads = derived.records[recordIndex]?.heads ?? 0;
    const visibleHeads = heads === this.s.visibleHeads.length && choices.aggregate === undefined ? this.s.visibleHeads : allHeads(heads);
    const keepGrid = choices.words === this.s.choices.words && choices.hide.join() === this.s.choices.hide.join();
    this.set({ run, choices, ...derived, grid: keepGrid ? this.s.grid : undefined, recordIndex, visibleHeads, hover: null, reveal: false }, keepGrid ? 'selection' : 'records');
  }

  /** A long input's rollout pass ended: what it made for the current choices (none: stopped or failed); the views show it. */
  setRollout(rollout: LongRollout | undefined): void {
    const run = this.s.run;
    if (!run?.onDemand || (rollout && rollout.key !== rolloutKey(run.request.runId, this.s.choices, this.s))) return;
    this.s = { ...this.s, run: { ...run, rollout }, phase: { name: 'ready' } };
    this.setChoices({});
  }

  /** Links by attention weight or by contribution; the views show weights until contributions arrive (`setContributions`). */
  setWeighting(weighting: Weighting, note = ''): void {
    if (this.s.compare || (this.s.run?.onDemand && weighting !== 'attention' && !longContributions(this.s.run.records))) return;
    if (weighting === this.s.weighting && note === this.s.weightingNote) return;
    this.s = { ...this.s, weighting, weightingNote: note };
    this.rederive();
  }

  /** The current run's contributions arrived; with contributions chosen, the views switch to them. */
  setContributions(set: ContributionSet): void {
    if (set.runId !== this.s.run?.request.runId) return;
    this.s = { ...this.s, contributions: set, weightingNote: '' };
    this.rederive();
  }

  /** Records again after the weighting changed; the layer and the heads stay. */
  private rederive(): void {
    const was = this.s.run;
    if (!was) return void this.set({}, 'view');
    const run = was.rollout && was.rollout.key !== rolloutKey(was.request.runId, this.s.choices, this.s) ? { ...was, rollout: undefined } : was; // made for the other weighting: it goes
    this.set({ run, ...derive(run, this.s.choices, this.s.weighting, this.s.contributions, this.compactAbove), grid: undefined, hover: null, reveal: false }, 'records');
  }

  /** Switches between the head view, the matrix and the text view. */
  setViewMode(viewMode: ViewMode): void {
    // Comparisons have a head view and a matrix (and, of two image models, the image: A, or A − B).
    if (this.s.compare && viewMode !== 'head' && viewMode !== 'matrix' && !(viewMode === 'image' && this.s.run?.request.image)) return;
    if (this.s.run?.onDemand && viewMode === 'mechanism' && !longMechanism(this.s.run.records)) return; // a query's is computed from the values its layers keep
    if ((viewMode === 'image') !== (this.s.run?.request.image !== undefined) && (viewMode === 'image' || viewMode === 'text')) return; // images have no text, text no image
    if (viewMode !== this.s.viewMode) this.set({ viewMode, hover: null, reveal: false }, 'view');
  }

  /** The explorer's grid for the current base records arrived. */
  setGrid(grid: HeadGrid): void {
    if (grid.runId === this.s.run?.request.runId) this.set({ grid }, 'grid');
  }

  /** Something the user should know about the run on screen, added to its notice (once). */
  warn(message: string): void {
    const warning = `Warning: ${message}.`;
    if (!this.s.notice.includes(warning)) this.set({ notice: [this.s.notice, warning].filter(Boolean).join(' ') }, 'phase');
  }

  /** The run failed with a message for the user. */
  fail(message: string): void {
    this.set({ phase: { name: 'error', message } }, 'phase');
  }

  /** Shows record `i` (a layer); keeps the head choice when the head count matches. Out of range: ignored. */
  selectRecord(i: number): void {
    const records = this.s.records;
    if (i < 0 || i >= records.length || i === this.s.recordIndex || this.computeFirst(i, () => this.selectRecord(i))) return;
    const heads = records[i].heads;
    const visibleHeads = this.s.visibleHeads.length === heads ? this.s.visibleHeads : allHeads(heads);
    this.set({ recordIndex: i, visibleHeads, hover: null, reveal: false }, 'selection');
  }

  /**
   * A long input's record `i` (and in a comparison B's facing it), or `records`, computed in the
   * page's workers first (the page stays free), then `then` runs if they are still shown; true while that is so.
   */
  private computeFirst(i: number | AttentionRecord[], then: () => void): boolean {
    const all = typeof i === 'number' ? [this.s.records[i], this.s.compare?.records[this.layerBOf(i)]] : i;
    const records = all.filter((r): r is AttentionRecord => r !== undefined && needsComputing(r));
    if (records.length === 0) return false;
    const shown = (r: AttentionRecord) => this.s.records.includes(r) || this.s.compare?.records.includes(r) === true;
    this.set({ computing: records[0].label }, 'phase');
    void prepareRecords(records).then(() => (this.set({ computing: undefined }, 'phase'), records.every(shown) && then()));
    return true;
  }

  /** Shows or hides head `h`. */
  toggleHead(h: number): void {
    if (h < 0 || h >= this.s.visibleHeads.length) return;
    this.set({ visibleHeads: this.s.visibleHeads.map((v, i) => (i === h ? !v : v)), compare: this.s.compare && { ...this.s.compare, headsB: undefined } }, 'selection');
  }

  /** Shows only head `h`. */
  soloHead(h: number): void {
    if (h < 0 || h >= this.s.visibleHeads.length) return;
    this.set({ visibleHeads: this.s.visibleHeads.map((_, i) => i === h), compare: this.s.compare && { ...this.s.compare, headsB: undefined } }, 'selection');
  }

  /** Shows record `recordIndex` with exactly `heads` (a choice made in the head explorer); leaves any aggregation. */
  setSelection(recordIndex: number, heads: readonly number[]): void {
    if (this.s.choices.aggregate !== undefined && this.s.base[recordIndex]) this.setChoices({ aggregate: undefined });
    const r = this.s.records[recordIndex];
    if (!r || this.computeFirst(recordIndex, () => this.setSelection(recordIndex, heads))) return;
    const visibleHeads = Array.from({ length: r.heads }, (_, h) => heads.includes(h));
    const c = this.s.compare;
    if (c && heads.length === 1) {
      // From the explorer: that head of A beside its closest head of B; on long inputs (seconds) B's
      // heads show until it is found, a few million cells per task.
      const rb = c.records[this.layerBOf(recordIndex)];
      const beside = (headsB: number[] | undefined) => this.set({ recordIndex, visibleHeads, compare: { ...c, show: 'side', headsB }, hover: null, reveal: false }, 'selection');
      if (r.queries * r.keys * rb.heads <= TASK_CELLS) return beside([bestMatches(allSteps(correspondenceSteps(r, rb, [heads[0]])), 1, rb.heads)[0].head]);
      beside(c.headsB);
      const shown = this.s.compare, still = () => this.s.compare === shown && this.s.visibleHeads === visibleHeads && this.s.recordIndex === recordIndex;
      return void closestHead(r, rb, heads[0], still).then((best) => best !== undefined && still() && beside([best]));
    }
    if (recordIndex === this.s.recordIndex && visibleHeads.join() === this.s.visibleHeads.join()) return;
    const hover = recordIndex === this.s.recordIndex ? this.s.hover : null;
    this.set({ recordIndex, visibleHeads, hover, reveal: false }, 'selection');
  }

  /** Hovers a token (null clears); `reveal` scrolls it into view. Unchanged targets are ignored. */
  hoverOn(target: TokenTarget | null, reveal = false, source: PanelSnapshot['hoverSource'] = reveal ? 'keyboard' : 'pointer'): void {
    const h = this.s.hover;
    if (h?.side === target?.side && h?.index === target?.index && h?.key === target?.key && source === this.s.hoverSource) return;
    this.set({ hover: target, reveal, hoverSource: source }, 'hover');
  }

  /** The editor cursor is on query `index` of run `runId` (-1: on none), shown when the record is over the input. */
  focusFromEditor(runId: number, index: number): void {
    const r = this.record;
    if (this.s.run?.request.runId !== runId || !r?.overInput) return;
    const p = index < 0 ? -1 : positionOfToken(tokenUnits(r.queryTokens, this.s.run.request.tokens), index);
    this.hoverOn(p >= 0 ? { side: 'query', index: p } : null, true, 'editor');
  }

  /**
   * Shows what token `index` of the run (of its decoder tokens when `decoder`) attends to, as the
   * generation's step slider asks: on a record whose queries are other tokens, the first record
   * whose queries are these is shown first.
   */
  focusQuery(index: number, decoder: boolean): void {
    const run = this.s.run;
    const all = decoder ? run?.request.decoderTokens : run?.request.tokens;
    if (!all) return;
    const fits = (r: AttentionRecord) => (decoder ? !r.overInput : r.overInput);
    if (this.record && !fits(this.record)) {
      const i = this.s.records.findIndex(fits);
      if (i >= 0) this.selectRecord(i);
    }
    const r = this.record;
    if (!r || !fits(r)) return;
    const p = positionOfToken(tokenUnits(r.queryTokens, all), index);
    this.hoverOn(p >= 0 ? { side: 'query', index: p } : null, true, 'keyboard');
  }

  private set(patch: Partial<PanelSnapshot>, change: Change): void {
    this.s = { ...this.s, ...patch };
    this.changed.fire(change);
  }
}

/** `n` heads, every one shown. */
function allHeads(n: number): boolean[] {
  return Array<boolean>(n).fill(true);
}
