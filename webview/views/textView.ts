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
    const r = state.record;
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
    const q = state.hover?.side === 'query' && r.queryTokens === r.keyTokens ? state.hover.index : -1;
    const heads = state.visibleHeads.flatMap((v, i) => (v ? [i] : []));
    if (q < 0 || q >= r.queries || heads.length === 0) return;
    const from = this.spans[q];
    from.classList.add('source');
    this.lit.push(from);
    const targets = strongest(meanRow(r, heads, q), r.keys <= DENSE_LIMIT ? r.keys : state.maxArcs).filter((t) => t.weight >= MIN_LINK_WEIGHT);
    const base = this.host.getBoundingClientRect();
    const point = (s: HTMLElement) => {
      const b = s.getBoundingClientRect();
      return { x: b.left - base.left + b.width / 2, y: b.top - base.top + this.host.scrollTop };
    };
    const a = point(from);
    ctx.strokeStyle = cssVar('--vscode-charts-orange', '#d18616');
    for (const { index, weight } of targets) {
      const span = this.spans[index];
      span.classList.add('target');
      span.style.setProperty('--w', weight.toFixed(3));
      this.lit.push(span);
      if (index === q) continue;
      const b = point(span);
      const lift = Math.min(60, 14 + Math.abs(b.x - a.x) / 6 + Math.abs(b.y - a.y) / 3);
      ctx.globalAlpha = Math.min(1, 0.15 + weight);
      ctx.lineWidth = 1 + 3 * weight;
      ctx.beginPath();
      ctx.moveTo(a.x, a.y);
      ctx.quadraticCurveTo((a.x + b.x) / 2, Math.min(a.y, b.y) - lift, b.x, b.y);
      ctx.stroke();
      this.stats.arcs++;
    }
    ctx.globalAlpha = 1;
    this.host.dataset.arcs = String(this.stats.arcs);
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
