/**
 * The text view: the input as running text, as in the editor, with arcs from the hovered (or
 * keyboard-focused) token to the tokens it attends to, over the visible heads; the strongest
 * `maxArcs` per token on long inputs. Tokens are DOM text (inert); arcs are drawn on a canvas
 * laid over them, so hovering redraws only that canvas and restyles a handful of spans.
 */
import type { AttentionRecord } from '../../src/core/attention';
import { meanRow, strongest } from '../../src/core/analysis/summary';
import { MIN_LINK_WEIGHT } from '../../src/core/analysis/thresholds';
import type { TokenTarget } from '../../src/core/analysis/tokenFocus';
import { addCanvas } from '../canvas';
import { type Point, type TextFigureInput, arcControl, arcStroke } from '../../src/core/figure/textFigure';
import { cssVar } from '../theme';
import type { View } from './view';

/** Below this many tokens every visible arc is drawn; above, the strongest `maxArcs`. */
const DENSE_LIMIT = 64;

/** Everything the text view draws. */
export interface TextViewState {
  record: AttentionRecord;
  visibleHeads: readonly boolean[];
  hover: TokenTarget | null;
  /** The inspected text; token spans index into it. */
  text: string;
  maxArcs: number;
}

/** Running text with attention arcs. */
export class TextView implements View<TextViewState> {
  private readonly flow: HTMLDivElement;
  private readonly arcs: HTMLCanvasElement;
  private spans: HTMLSpanElement[] = [];
  private state: TextViewState | undefined;
  private lit: HTMLSpanElement[] = [];
  /** Arcs drawn for the last hover, for tests and benchmarks. */
  readonly stats = { arcs: 0 };

  constructor(private readonly host: HTMLElement, onHover: (t: TokenTarget | null) => void) {
    host.classList.add('text-arcs');
    this.flow = document.createElement('div');
    this.flow.className = 'flow';
    host.append(this.flow);
    this.arcs = addCanvas(host, 'arcs');
    host.addEventListener('mousemove', (e) => onHover(this.hitTest(e.clientX, e.clientY)));
    host.addEventListener('mouseleave', () => onHover(null));
    host.addEventListener('scroll', () => this.state && this.update(this.state), { passive: true });
  }

  /** Lays the text out again: the record's key tokens, with the text between them. */
  render(state: TextViewState): void {
    this.state = state;
    const tokens = state.record.keyTokens;
    const frag = document.createDocumentFragment();
    this.spans = [];
    let at = tokens.find((t) => !t.special)?.start ?? 0;
    tokens.forEach((t, i) => {
      if (!t.special && t.start > at) frag.append(state.text.slice(at, t.start));
      const span = document.createElement('span');
      span.className = t.special ? 'tok special' : 'tok';
      span.dataset.index = String(i);
      span.textContent = t.special ? t.text : state.text.slice(t.start, t.end) || t.text;
      frag.append(span);
      this.spans.push(span);
      if (!t.special) at = Math.max(at, t.end);
    });
    this.flow.replaceChildren(frag);
    this.host.dataset.tokens = String(tokens.length);
    this.update(state);
  }

  /** Draws the arcs of the hovered token and lights its targets. */
  update(state: TextViewState): void {
    if (state.record !== this.state?.record) return this.render(state);
    this.state = state;
    for (const s of this.lit) s.style.removeProperty('--w'), s.classList.remove('target', 'source');
    this.lit = [];
    const w = this.host.clientWidth, h = Math.max(this.host.scrollHeight, this.host.clientHeight);
    const dpr = Math.min(2, window.devicePixelRatio || 1);
    if (this.arcs.width !== Math.round(w * dpr) || this.arcs.height !== Math.round(h * dpr)) {
      this.arcs.width = Math.round(w * dpr);
      this.arcs.height = Math.round(h * dpr);
      this.arcs.style.width = `${w}px`;
      this.arcs.style.height = `${h}px`;
    }
    const ctx = this.arcs.getContext('2d')!;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    this.stats.arcs = 0;
    const focus = this.focus(state);
    if (!focus) return;
    focus.source.classList.add('source');
    this.lit.push(focus.source);
    ctx.strokeStyle = cssVar('--vscode-charts-orange', '#d18616');
    for (const { span, weight } of focus.targets) {
      span.classList.add('target');
      span.style.setProperty('--w', weight.toFixed(3));
      this.lit.push(span);
    }
    // The same arcs as the exported figure (src/core/figure/textFigure.ts).
    for (const { from, to, weight } of focus.arcs) {
      const c = arcControl(from, to);
      const stroke = arcStroke(weight);
      ctx.globalAlpha = stroke.alpha;
      ctx.lineWidth = stroke.width;
      ctx.beginPath();
      ctx.moveTo(from.x, from.y);
      ctx.quadraticCurveTo(c.x, c.y, to.x, to.y);
      ctx.stroke();
      this.stats.arcs++;
    }
    ctx.globalAlpha = 1;
    this.host.dataset.arcs = String(this.stats.arcs);
  }

  /** The hovered token, the tokens it attends to (the strongest `maxArcs` on long inputs) and the arcs between them, in the view's coordinates. */
  private focus(state: TextViewState) {
    const r = state.record;
    const q = state.hover?.side === 'query' && r.queryTokens === r.keyTokens ? state.hover.index : -1;
    const heads = state.visibleHeads.flatMap((v, i) => (v ? [i] : []));
    if (q < 0 || q >= r.queries || heads.length === 0) return undefined;
    const source = this.spans[q];
    const found = strongest(meanRow(r, heads, q), r.keys <= DENSE_LIMIT ? r.keys : state.maxArcs).filter((t) => t.weight >= MIN_LINK_WEIGHT);
    const base = this.host.getBoundingClientRect();
    const point = (s: HTMLElement): Point => {
      const b = s.getBoundingClientRect();
      return { x: b.left - base.left + b.width / 2, y: b.top - base.top + this.host.scrollTop };
    };
    const a = point(source);
    const targets = found.map(({ index, weight }) => ({ index, span: this.spans[index], weight }));
    const arcs = targets.filter((t) => t.index !== q).map(({ span, weight }) => ({ from: a, to: point(span), weight }));
    return { q, source, targets, arcs };
  }

  /** What the view shows, for an exported figure: every token where it is laid out, and the hovered token's arcs. */
  figureInput(): Pick<TextFigureInput, 'width' | 'height' | 'tokens' | 'arcs' | 'fontPx'> | undefined {
    const s = this.state;
    if (!s) return undefined;
    const focus = this.focus(s);
    const base = this.host.getBoundingClientRect();
    const weights = new Map(focus?.targets.map((t) => [t.index, t.weight]));
    const tokens = this.spans.map((span, i) => {
      const b = span.getBoundingClientRect();
      return {
        x: b.left - base.left,
        y: b.top - base.top + this.host.scrollTop,
        width: b.width,
        height: b.height,
        text: span.textContent ?? '',
        special: span.classList.contains('special'),
        role: i === focus?.q ? ('source' as const) : weights.has(i) ? ('target' as const) : undefined,
        weight: weights.get(i),
      };
    });
    const fontPx = Number.parseFloat(getComputedStyle(this.flow).fontSize) || 13;
    return { width: this.host.clientWidth, height: Math.max(this.host.scrollHeight, this.host.clientHeight), tokens, arcs: focus?.arcs ?? [], fontPx };
  }

  hitTest(clientX: number, clientY: number): TokenTarget | null {
    const el = document.elementFromPoint(clientX, clientY) as HTMLElement | null;
    const index = el?.closest<HTMLElement>('span.tok')?.dataset.index;
    return index === undefined ? null : { side: 'query', index: Number(index) };
  }

  /** Client rectangle of a token (for the tooltip). */
  labelRect(t: TokenTarget): DOMRect {
    return this.spans[t.index]?.getBoundingClientRect() ?? new DOMRect();
  }

  /** Scrolls the token into view. */
  reveal(t: TokenTarget): void {
    this.spans[t.index]?.scrollIntoView({ block: 'nearest' });
  }
}
