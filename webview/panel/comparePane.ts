/**
 * The comparison part of the panel: the bar (display, layer of B), model B's head view and matrix
 * beside A's with hover and scrolling shared, A − B for the main view, and the head
 * correspondence. Reads the state, changes it only through its actions.
 */
import type { AttentionRecord } from '../../src/core/attention';
import { correspondenceSteps, differenceRecord, mapLayer } from '../../src/core/analysis/compare';
import type { TokenTarget } from '../../src/core/analysis/tokenFocus';
import { CorrespondenceView } from '../views/correspondenceView';
import { HeadView } from '../views/headView';
import { MatrixView } from '../views/matrixView';
import type { PanelState } from './state';
import { COMPARE_SHOWS, type Change, type CompareShow } from './snapshot';
import type { ComparisonFigures } from './exporter';
import { inTasks } from './headGridTask';
import { plain, prepareRecords } from './layerStore';
import { viewKey } from './viewKeys';
/** Rows × keys from which the correspondence says how many pairs it has done (1,024 tokens). */
const LONG_CELLS = 1 << 20;

/** The elements the pane owns. */
export interface ComparePaneElements {
  bar: HTMLElement;
  show: HTMLSelectElement;
  layerB: HTMLSelectElement;
  models: HTMLElement;
  headB: HTMLElement;
  matrixB: HTMLElement;
  correspondence: HTMLElement;
  /** A's containers, whose scrolling B follows (and the other way round). */
  headA: HTMLElement;
  matrixA: HTMLElement;
}

export class ComparePane {
  private readonly headB: HeadView;
  private readonly matrixB: MatrixView;
  private readonly correspondence: CorrespondenceView;
  private difference: { a: AttentionRecord; b: AttentionRecord; d: AttentionRecord } | undefined;
  private distances: { a: AttentionRecord; b: AttentionRecord; d: Float32Array } | undefined;
  /** The main view's container at the last draw. */
  private main: HTMLElement | undefined;
  /** The distances being computed. */
  private computing: { a: AttentionRecord; b: AttentionRecord } | undefined;
  private barKey = '';

  constructor(private readonly el: ComparePaneElements, private readonly state: PanelState, hover: (t: TokenTarget | null) => void) {
    this.headB = new HeadView(el.headB, hover);
    this.matrixB = new MatrixView(el.matrixB, hover);
    this.correspondence = new CorrespondenceView(el.correspondence, (a, b) => state.pickPair(a, b));
    el.show.onchange = () => state.setCompareShow(el.show.value as CompareShow);
    el.layerB.onchange = () => state.setLayerB(el.layerB.value === '' ? undefined : Number(el.layerB.value));
    for (const [a, b] of [[el.headA, el.headB], [el.matrixA, el.matrixB]]) syncScroll(a, b);
    for (const c of [el.headB, el.matrixB]) c.addEventListener('keydown', (e) => viewKey(state, e.key) && e.preventDefault());
  }

  /** Whether heads of A and B correspond by index (same count), so A − B exists. */
  private get paired(): boolean {
    return this.state.record?.heads === this.state.recordB?.heads;
  }

  /** The display on screen: the one chosen, except that a difference without paired heads shows side by side. */
  private get display(): CompareShow | undefined {
    const c = this.state.snapshot.compare;
    return c && (c.show === 'difference' && !this.paired ? 'side' : c.show);
  }

  /** What the main view draws: A's record, or A − B in the difference display (heads paired by index). */
  mainRecord(): AttentionRecord | undefined {
    const a = this.state.record, b = this.state.recordB;
    if (!a || !b || this.display !== 'difference') return a;
    if (this.difference?.a !== a || this.difference.b !== b) {
      this.difference = { a, b, d: differenceRecord(a, b, `${a.label} − B ${b.label}`) };
    }
    return this.difference.d;
  }

  /** After a state change in a comparison: the bar, which containers show, and B's side or the correspondence. */
  draw(change: Change, mainContainer: HTMLElement): void {
    this.main = mainContainer;
    const s = this.state.snapshot, c = s.compare;
    this.el.bar.hidden = !c;
    if (!c) {
      for (const e of [this.el.headB, this.el.matrixB, this.el.correspondence]) e.hidden = true;
      return;
    }
    const a = this.state.record, b = this.state.recordB;
    if (!a || !b) return;
    if (change !== 'hover') this.drawBar();
    const show = this.display!;
    mainContainer.hidden = show === 'correspondence';
    this.el.headB.hidden = !(show === 'side' && s.viewMode === 'head');
    this.el.matrixB.hidden = !(show === 'side' && s.viewMode === 'matrix');
    this.el.correspondence.hidden = show !== 'correspondence';
    if (show === 'correspondence') {
      if (change === 'hover') return;
      if (this.distances?.a === a && this.distances.b === b) this.correspondence.render({ distances: this.distances.d, headsA: a.heads, headsB: b.heads, labelA: a.label, labelB: b.label });
      else void this.computeDistances(a, b);
      return;
    }
    if (show !== 'side') return;
    const viewState = { record: b, visibleHeads: this.state.visibleHeadsB, maxLinksPerQuery: s.run?.request.maxLinksPerQuery ?? 12, hover: s.hover };
    const view = s.viewMode === 'matrix' ? this.matrixB : this.headB;
    // What B shows hovered (the same position as A's), for people's tools and the tests.
    const container = s.viewMode === 'matrix' ? this.el.matrixB : this.el.headB;
    container.dataset.hover = s.hover ? `${s.hover.side}:${s.hover.index}` : '';
    container.dataset.heads = viewState.visibleHeads.flatMap((v, h) => (v ? [h] : [])).join(',');
    if (change === 'hover') view.update(viewState);
    else if (change !== 'phase' && change !== 'grid') view.render(viewState);
  }

  /**
   * Every head pair's distance for `a` and `b`, a few million cells per task (a BERT-base layer at
   * 512 tokens takes most of a second in all; one pair at 4,096 tokens, 16.8 million cells, takes
   * a task of its own), saying how far it is on long inputs, then drawn if still on screen.
   */
  private async computeDistances(a: AttentionRecord, b: AttentionRecord): Promise<void> {
    if (this.computing?.a === a && this.computing.b === b) return;
    const job = (this.computing = { a, b });
    const what = `Computing the Jensen-Shannon distance of every head pair (${a.heads} × ${b.heads})`;
    this.correspondence.message(`${what}…`);
    // Abandoned once the correspondence of these records is no longer on screen (it holds both layers while it runs).
    const wanted = () => {
      const on = this.computing === job && this.state.record === a && this.state.recordB === b && this.state.snapshot.compare?.show === 'correspondence';
      if (!on && this.computing === job) this.computing = undefined;
      return on;
    };
    // A long input's layers are computed in the page's workers first, then read once (held while this runs).
    await prepareRecords([a, b]);
    if (!wanted()) return;
    const cells = a.queries * a.keys, pairs = a.heads * b.heads;
    const d = await inTasks(correspondenceSteps(plain(a), plain(b)), cells, (done) => {
      if (!wanted()) return false;
      if (cells >= LONG_CELLS) this.correspondence.message(`${what}: ${done} of ${pairs} pairs…`);
      return true;
    });
    if (!d) return;
    this.computing = undefined;
    this.distances = { a, b, d };
    if (this.state.record === a && this.state.recordB === b && this.state.snapshot.compare?.show === 'correspondence') this.draw('selection', this.main ?? this.el.headA);
  }

  /** What the comparison shows besides the main view, for export. */
  figures(): ComparisonFigures | undefined {
    const s = this.state.snapshot, c = s.compare, main = this.mainRecord(), b = this.state.recordB;
    if (!c || !main || !b) return undefined;
    const show = this.display!;
    if (show === 'correspondence' && (this.distances?.a !== main || this.distances.b !== b)) throw new Error('the head correspondence is still being computed');
    return { main, show, b, visibleHeadsB: this.state.visibleHeadsB, matrixB: this.matrixB.figureInput(), correspondence: show === 'correspondence' ? this.correspondence.shown : undefined };
  }

  /** The display choice, B's layers (with the proportional one named) and which models sit where. */
  private drawBar(): void {
    const s = this.state.snapshot, c = s.compare!;
    const key = `${s.run?.request.runId}|${c.records.length}|${s.recordIndex}`;
    if (key !== this.barKey) {
      this.barKey = key;
      this.el.show.replaceChildren(...COMPARE_SHOWS.map(([value, label]) => Object.assign(document.createElement('option'), { value, textContent: label })));
      this.el.layerB.replaceChildren(
        Object.assign(document.createElement('option'), { value: '', textContent: `${c.records[mapLayer(s.recordIndex, s.records.length, c.records.length)]?.label} (proportional)` }),
        ...c.records.map((r, i) => Object.assign(document.createElement('option'), { value: String(i), textContent: r.label })),
      );
    }
    const diff = this.el.show.querySelector<HTMLOptionElement>('option[value="difference"]');
    const a = this.state.record, b = this.state.recordB;
    if (diff) {
      diff.disabled = !this.paired;
      diff.title = this.paired ? '' : `A has ${a?.heads} heads and B ${b?.heads}: heads do not correspond by index, so there is no difference by head. Use the head correspondence.`;
    }
    this.el.show.value = this.display!;
    this.el.layerB.value = c.layerB === undefined ? '' : String(c.layerB);
    const run = s.run!;
    const sameModel = run.request.compare?.sameModel;
    this.el.models.textContent = sameModel
      ? `${run.request.model.label}: the selection (A, left) and the edited text (B, right)`
      : `A (left): ${run.request.model.label} · B (right): ${c.b.request.model.label}${a && b && a.heads !== b.heads ? ` · ${a.heads} and ${b.heads} heads: compare them in the head correspondence` : ''}`;
  }
}

/** Keeps two scrollers at the same scroll position, whichever the user scrolls. */
function syncScroll(a: HTMLElement, b: HTMLElement): void {
  let from: HTMLElement | undefined;
  const follow = (src: HTMLElement, dst: HTMLElement) => () => {
    if (from && from !== src) return;
    from = src;
    dst.scrollTop = src.scrollTop;
    dst.scrollLeft = src.scrollLeft;
    requestAnimationFrame(() => (from = undefined));
  };
  a.addEventListener('scroll', follow(a, b), { passive: true });
  b.addEventListener('scroll', follow(b, a), { passive: true });
}
