/**
 * The mechanism view's controller: follows the toolbar's layer, the one shown head (when one is
 * soloed) and the hovered or the editor's query token, and computes each layer's mechanism once
 * per run (a second session of the model, through the runner); a long input's, for the query
 * shown, from what its layer keeps.
 */
import type { AttentionRecord } from '../../src/core/attention';
import type { MechanismLayer } from '../../src/core/mechanism';
import { queryMechanism } from '../../src/core/queryMechanism';
import type { RunRequest } from '../../src/core/protocol/panel';
import { tokenLabel } from '../../src/core/tokens';
import { MechanismView, type MechanismPick, type MechanismViewState } from '../views/mechanismView';
import { queryKeysOf } from './layerStore';
import type { Change } from './snapshot';
import type { PanelState } from './state';

export class MechanismPane {
  /** The view's own choices; the layer is the toolbar's. */
  private readonly choice: { head: number; query: number; sort: MechanismViewState['sort'] } = { head: 0, query: 0, sort: 'position' };
  /** Mechanisms computed for the current run, by attention name (a new run clears them). */
  private readonly mechanisms = new Map<string, Promise<MechanismLayer>>();
  private run = -1;
  private readonly view: MechanismView;

  constructor(container: HTMLElement, private readonly tooltip: HTMLElement, private readonly state: PanelState, private readonly compute: (req: RunRequest, names: string[]) => Promise<MechanismLayer[]>) {
    this.view = new MechanismView(container, (p: MechanismPick) => {
      Object.assign(this.choice, p);
      this.draw();
    });
  }

  /** What the view shows, for the figure export. */
  get shown(): MechanismView['shown'] {
    return this.view.shown;
  }

  /** The view is on screen and the state changed; it has no tooltip of its own. */
  update(change: Change): void {
    const s = this.state.snapshot;
    this.tooltip.hidden = true;
    if (change === 'hover') {
      if (s.hover?.side !== 'query' || s.choices.words || s.choices.hide.length > 0 || s.hover.index === this.choice.query) return;
      this.choice.query = s.hover.index;
    } else if (change === 'view' || change === 'run' || change === 'selection' || change === 'records') {
      if (this.state.shownHeads.length === 1) this.choice.head = this.state.shownHeads[0];
    } else return;
    this.draw();
  }

  /** Shows the mechanism of the toolbar's layer for the chosen head and query, computing it once per layer and run. */
  private draw(): void {
    const s = this.state.snapshot;
    const run = s.run;
    const name = (s.base[s.recordIndex] ?? s.records[s.recordIndex])?.source.name;
    const raw = run?.records.find((r) => r.source.name === name);
    if (!run || !raw || !name) return;
    // A long input's layer keeps its values: the query shown is computed from what it keeps, with no second run.
    const kept = run.onDemand ? queryKeysOf(raw) : undefined;
    if (kept) {
      const query = Math.min(this.choice.query, kept.queries - 1);
      try {
        const { layer, weights } = queryMechanism(kept, query);
        const shifted = kept.bias ? 'This layer’s position bias is kept relative to the query’s own key, so each score here is the model’s less one constant for the whole row, which the softmax does not see: the weights are the model’s.' : undefined;
        this.show(layer, raw, query, (head) => weights.subarray(head * kept.keys, (head + 1) * kept.keys), shifted);
      } catch (e) {
        this.view.message((e as Error).message, false);
      }
      return;
    }
    if (this.run !== run.request.runId) {
      this.mechanisms.clear();
      this.run = run.request.runId;
    }
    let pending = this.mechanisms.get(name);
    if (!pending) {
      const made = this.compute(run.request, [name]).then(([layer]) => layer);
      pending = made;
      this.mechanisms.set(name, made);
      made.catch(() => this.mechanisms.get(name) === made && this.mechanisms.delete(name));
      this.view.message(`Computing the queries, keys and values of ${raw.label} (a second WebAssembly session of the model)…`, true);
    }
    const runId = run.request.runId;
    pending.then((layer) => {
      const now = this.state.snapshot;
      if (now.run?.request.runId !== runId || now.viewMode !== 'mechanism' || (now.base[now.recordIndex] ?? now.records[now.recordIndex])?.source.name !== name) return;
      const query = Math.min(this.choice.query, layer.queries - 1);
      this.show(layer, raw, query, (head) => raw.data.subarray((head * raw.queries + query) * raw.keys, (head * raw.queries + query + 1) * raw.keys));
    }, (e: Error) => this.view.message(e.message, false));
  }

  /** Draws `layer`'s mechanism of `query` for the chosen head, whose weights `weightsOf` gives, with `note` above it. */
  private show(layer: MechanismLayer, raw: AttentionRecord, query: number, weightsOf: (head: number) => Float32Array, note?: string): void {
    const now = this.state.snapshot;
    const head = Math.min(this.choice.head, layer.heads - 1);
    const reshaped = now.choices.words || now.choices.hide.length > 0 || now.choices.aggregate !== undefined;
    this.view.render({
      layer,
      queryTokens: raw.queryTokens.map(tokenLabel),
      keyTokens: raw.keyTokens.map(tokenLabel),
      head,
      query,
      sort: this.choice.sort,
      weights: weightsOf(head),
      note: [reshaped ? 'The mechanism is per head and per token, as the model computes it: word merge, hidden tokens and aggregates in the toolbar do not apply here.' : '', note ?? ''].filter(Boolean).join(' ') || undefined,
    });
  }
}
