/** The panel toolbar: view, layer, heads, aggregation, word level and hidden tokens, wired to the state's actions. */
import type { Aggregation } from '../../src/core/analysis/aggregate';
import type { HideChoice } from '../../src/core/analysis/hiding';
import { headColor } from '../../src/core/palette';
import type { PanelState } from './state';
import { longContributions, longMechanism } from './derive';
import { VIEW_MODES, type ViewMode, type Weighting } from './snapshot';

/** The controls the toolbar owns. */
export interface ToolbarElements {
  viewMode: HTMLSelectElement;
  layer: HTMLSelectElement;
  heads: HTMLElement;
  aggregate: HTMLSelectElement;
  words: HTMLInputElement;
  hide: HTMLSelectElement;
  weighting: HTMLSelectElement;
  /** With the rollout: head fusion, and the share of each layer's weights dropped. */
  rolloutFusion: HTMLSelectElement;
  rolloutDiscard: HTMLSelectElement;
}

const AGGREGATES: Array<[string, string]> = [['', 'Heads'], ['mean', 'Mean of heads'], ['max', 'Max of heads'], ['rollout', 'Rollout']];
const WEIGHTINGS: Array<[Weighting, string]> = [['attention', 'Weights α'], ['contribution', 'Contributions ‖α·v·W_O‖']];
const FUSIONS: Array<[string, string]> = [['mean', 'Heads fused: mean'], ['max', 'Heads fused: max'], ['min', 'Heads fused: min']];
const DISCARDS: Array<[string, string]> = [['0', 'Every weight'], ['0.5', 'Lowest 50 % dropped'], ['0.9', 'Lowest 90 % dropped'], ['0.95', 'Lowest 95 % dropped']];
const HIDE: Array<[string, string]> = [['', 'Show all tokens'], ['special', 'Hide special tokens'], ['first', 'Hide the first token'], ['special,first', 'Hide special and first']];

function fill(select: HTMLSelectElement, items: ReadonlyArray<readonly [string, string]>): void {
  select.replaceChildren(...items.map(([value, label]) => Object.assign(document.createElement('option'), { value, textContent: label })));
}

/** Builds the controls for a new run and restyles them when the selection changes. */
export class Toolbar {
  constructor(private readonly el: ToolbarElements, private readonly state: PanelState) {
    fill(el.viewMode, VIEW_MODES);
    fill(el.aggregate, AGGREGATES);
    fill(el.hide, HIDE);
    fill(el.weighting, WEIGHTINGS);
    fill(el.rolloutFusion, FUSIONS);
    fill(el.rolloutDiscard, DISCARDS);
    const rollout = () => state.setChoices({ rollout: { fusion: el.rolloutFusion.value as 'mean' | 'max' | 'min', discard: Number(el.rolloutDiscard.value) } });
    el.rolloutFusion.onchange = rollout;
    el.rolloutDiscard.onchange = rollout;
    el.viewMode.onchange = () => state.setViewMode(el.viewMode.value as ViewMode);
    el.layer.onchange = () => state.selectRecord(Number(el.layer.value));
    el.aggregate.onchange = () => state.setChoices({ aggregate: (el.aggregate.value || undefined) as Aggregation | undefined });
    el.words.onchange = () => state.setChoices({ words: el.words.checked });
    el.hide.onchange = () => state.setChoices({ hide: el.hide.value ? (el.hide.value.split(',') as HideChoice[]) : [] });
    el.weighting.onchange = () => state.setWeighting(el.weighting.value as Weighting);
  }

  /** New run or new records: one option per record, one button per head. */
  rebuild(): void {
    const s = this.state.snapshot;
    // An image run has an image view and no text view; a text run the other way round.
    const image = s.run?.request.image !== undefined;
    for (const o of Array.from(this.el.viewMode.options)) o.hidden = o.value === 'image' ? !image : image && o.value === 'text';
    this.el.layer.replaceChildren(...s.records.map((r, i) => Object.assign(document.createElement('option'), { value: String(i), textContent: r.label })));
    this.el.heads.replaceChildren(...s.visibleHeads.map((_, h) => {
      const b = document.createElement('button');
      b.className = 'head';
      b.textContent = String(h + 1);
      b.title = `Head ${h + 1}: click to show or hide, double-click (or Shift+click) to show only this head`;
      b.style.setProperty('--head-color', headColor(h));
      b.onclick = (e) => (e.shiftKey ? this.state.soloHead(h) : this.state.toggleHead(h));
      b.ondblclick = () => this.state.soloHead(h);
      return b;
    }));
    this.update();
  }

  /** Selection or choices changed: chosen values and which heads are pressed. */
  update(): void {
    const s = this.state.snapshot;
    this.el.viewMode.value = s.viewMode;
    this.el.layer.value = String(s.recordIndex);
    this.el.aggregate.value = s.choices.aggregate ?? '';
    this.el.words.checked = s.choices.words;
    this.el.hide.value = s.choices.hide.join(',');
    this.el.weighting.value = s.weighting;
    this.el.heads.hidden = s.choices.aggregate !== undefined;
    this.el.rolloutFusion.hidden = this.el.rolloutDiscard.hidden = s.choices.aggregate !== 'rollout' || s.compare !== undefined;
    this.el.rolloutFusion.value = s.choices.rollout?.fusion ?? 'mean';
    this.el.rolloutDiscard.value = String(s.choices.rollout?.discard ?? 0);
    // A comparison is made of aligned per-head records: no aggregates, word merge, hiding or contributions, no text or mechanism view.
    const comparing = s.compare !== undefined;
    for (const e of [this.el.aggregate, this.el.hide, this.el.weighting, this.el.words.parentElement!]) e.hidden = comparing;
    const noMechanism = s.run?.onDemand === true && !longMechanism(s.run.records);
    this.el.viewMode.querySelectorAll('option').forEach((o) => (o.disabled = (comparing && o.value !== 'head' && o.value !== 'matrix') || (noMechanism && o.value === 'mechanism')));
    // A long input kept as queries and keys: each record is computed when shown, contributions too where every layer came with its value norms; its rollout is a pass over every layer.
    const long = s.run?.onDemand === true;
    const noContributions = long && !longContributions(s.run!.records);
    const weighting = this.el.weighting;
    weighting.disabled = noContributions;
    weighting.dataset.title ??= weighting.title;
    weighting.title = noContributions ? 'Not available for this long input: a layer kept its weights, or its values could not be read from the graph, and contributions need every layer’s' : weighting.dataset.title;
    const rollout = this.el.aggregate.querySelector<HTMLOptionElement>('option[value="rollout"]');
    if (rollout) rollout.title = long ? 'A long input’s rollout is computed once, layer by layer, with its progress shown: it keeps a matrix per layer' : '';
    this.el.heads.querySelectorAll<HTMLButtonElement>('button.head').forEach((b, h) => {
      b.setAttribute('aria-pressed', String(s.visibleHeads[h]));
      b.classList.toggle('off', !s.visibleHeads[h]);
    });
  }
}
