/**
 * The head view: query tokens left, key tokens right, one line per link whose opacity is the
 * weight and whose colour is the head. Drawn on three stacked canvases: links (redrawn on
 * layer/head changes), labels (redrawn on render), hover (redrawn on every hover, cheap).
 */
import type { AttentionLayer } from '../../src/core/attention';
import { weightAt } from '../../src/core/attention';
import { type TokenInfo, tokenLabel } from '../../src/core/tokens';
import { ALPHA_BUCKETS, type LinkSet, alphaBucket, selectLinks } from '../analysis/links';

const ROW = 18;
const TOP = 6;
const LABEL_MAX = 170;

/** Categorical head colours, readable on dark and light backgrounds. */
export const HEAD_COLORS = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac', '#17becf', '#bcbd22'];

/** A token the pointer or keyboard is on. */
export interface HoverTarget {
  side: 'query' | 'key';
  index: number;
}

/** Everything the head view draws; the view never reads state back from the DOM. */
export interface ViewState {
  layer: AttentionLayer;
  queryTokens: TokenInfo[];
  keyTokens: TokenInfo[];
  visibleHeads: readonly boolean[];
  causal: boolean;
  maxLinksPerQuery: number;
  hover: HoverTarget | null;
}

/** Canvas renderer of one layer's attention. */
export class HeadView {
  private readonly links: HTMLCanvasElement;
  private readonly labels: HTMLCanvasElement;
  private readonly overlay: HTMLCanvasElement;
  private state: ViewState | undefined;
  private drawn: { layer: AttentionLayer; heads: string } | undefined;
  private readonly cache = new Map<AttentionLayer, Map<number, LinkSet>>();
  private geometry = { width: 0, height: 0, leftX: 0, rightX: 0, labelW: 0, dpr: 1 };
  /** Statistics of the last draw, for the status line, tests and benchmarks. */
  readonly stats = { links: 0, renderMs: 0, hoverMs: 0 };

  constructor(private readonly container: HTMLElement, onHover: (target: HoverTarget | null) => void) {
    container.classList.add('head-view');
    this.links = this.canvas('links');
    this.labels = this.canvas('labels');
    this.overlay = this.canvas('overlay');
    container.addEventListener('mousemove', (e) => onHover(this.hitTest(e.clientX, e.clientY)));
    container.addEventListener('mouseleave', () => onHover(null));
  }

  /** Draws `state` from scratch (new layer, heads, tokens or size). */
  render(state: ViewState): void {
    const t0 = performance.now();
    this.state = state;
    this.layout(state);
    this.drawLinks(state);
    this.drawLabels(state);
    this.drawOverlay(state);
    this.stats.renderMs = performance.now() - t0;
    this.container.dataset.links = String(this.stats.links);
  }

  /** Applies a state change, redrawing only what it affects. */
  update(state: ViewState): void {
    const prev = this.state;
    const heads = state.visibleHeads.join();
    if (!prev || !this.drawn || this.drawn.layer !== state.layer || this.drawn.heads !== heads || prev.queryTokens !== state.queryTokens) {
      this.render(state);
      return;
    }
    const t0 = performance.now();
    this.state = state;
    this.drawOverlay(state);
    this.stats.hoverMs = performance.now() - t0;
  }

  /** The token under a client point, if any. */
  hitTest(clientX: number, clientY: number): HoverTarget | null {
    const s = this.state;
    if (!s) return null;
    const r = this.overlay.getBoundingClientRect();
    const x = clientX - r.left;
    const y = clientY - r.top;
    const g = this.geometry;
    const index = Math.floor((y - TOP) / ROW);
    if (x < g.leftX + 4) return index >= 0 && index < s.queryTokens.length ? { side: 'query', index } : null;
    if (x > g.rightX - 4) return index >= 0 && index < s.keyTokens.length ? { side: 'key', index } : null;
    return null;
  }

  /** Client rectangle of a token's label (for tooltips and scrolling into view). */
  labelRect(target: HoverTarget): DOMRect {
    const r = this.overlay.getBoundingClientRect();
    const g = this.geometry;
    const x = target.side === 'query' ? r.left : r.left + g.rightX;
    return new DOMRect(x, r.top + TOP + target.index * ROW, g.labelW, ROW);
  }

  private canvas(cls: string): HTMLCanvasElement {
    const c = document.createElement('canvas');
    c.className = `layer-${cls}`;
    c.setAttribute('aria-hidden', 'true');
    this.container.appendChild(c);
    return c;
  }

  private layout(s: ViewState): void {
    const ctx = this.labels.getContext('2d')!;
    ctx.font = font();
    let labelW = 40;
    for (const t of [...s.queryTokens, ...s.keyTokens]) labelW = Math.max(labelW, Math.min(LABEL_MAX, ctx.measureText(tokenLabel(t)).width + 12));
    const rows = Math.max(s.queryTokens.length, s.keyTokens.length);
    const width = Math.max(320, Math.min(this.container.clientWidth || 640, 2 * labelW + 420));
    const height = TOP * 2 + rows * ROW;
    // Large canvases cost memory quadratically in the pixel ratio: draw long inputs at 1×.
    const dpr = rows > 200 ? 1 : Math.min(2, window.devicePixelRatio || 1);
    this.geometry = { width, height, leftX: labelW, rightX: width - labelW, labelW, dpr };
    for (const c of [this.links, this.labels, this.overlay]) {
      c.width = Math.round(width * dpr);
      c.height = Math.round(height * dpr);
      c.style.width = `${width}px`;
      c.style.height = `${height}px`;
    }
    this.container.style.height = `${height}px`;
  }

  private linkSet(layer: AttentionLayer, head: number, s: ViewState): LinkSet {
    let perLayer = this.cache.get(layer);
    if (!perLayer) {
      this.cache.clear();
      perLayer = new Map();
      this.cache.set(layer, perLayer);
    }
    let set = perLayer.get(head);
    if (!set) {
      set = selectLinks(layer, head, s.maxLinksPerQuery, s.causal);
      perLayer.set(head, set);
    }
    return set;
  }

  private y(index: number): number {
    return TOP + index * ROW + ROW / 2;
  }

  private drawLinks(s: ViewState): void {
    const g = this.geometry;
    const ctx = this.links.getContext('2d')!;
    ctx.setTransform(g.dpr, 0, 0, g.dpr, 0, 0);
    ctx.clearRect(0, 0, g.width, g.height);
    ctx.lineWidth = 1.5;
    let count = 0;
    for (let h = 0; h < s.layer.heads; h++) {
      if (!s.visibleHeads[h]) continue;
      const set = this.linkSet(s.layer, h, s);
      const paths = Array.from({ length: ALPHA_BUCKETS }, () => new Path2D());
      for (let i = 0; i < set.length; i++) {
        const p = paths[alphaBucket(set.weight[i])];
        p.moveTo(g.leftX, this.y(set.query[i]));
        p.lineTo(g.rightX, this.y(set.key[i]));
      }
      ctx.strokeStyle = HEAD_COLORS[h % HEAD_COLORS.length];
      paths.forEach((p, b) => {
        ctx.globalAlpha = (b + 1) / ALPHA_BUCKETS;
        ctx.stroke(p);
      });
      count += set.length;
    }
    ctx.globalAlpha = 1;
    this.stats.links = count;
    this.drawn = { layer: s.layer, heads: s.visibleHeads.join() };
  }

  private drawLabels(s: ViewState): void {
    const g = this.geometry;
    const ctx = this.labels.getContext('2d')!;
    ctx.setTransform(g.dpr, 0, 0, g.dpr, 0, 0);
    ctx.clearRect(0, 0, g.width, g.height);
    ctx.font = font();
    ctx.textBaseline = 'middle';
    const fg = getComputedStyle(document.body).getPropertyValue('--vscode-editor-foreground').trim() || '#ccc';
    const muted = getComputedStyle(document.body).getPropertyValue('--vscode-descriptionForeground').trim() || '#888';
    const draw = (tokens: TokenInfo[], align: CanvasTextAlign, x: number) => {
      ctx.textAlign = align;
      tokens.forEach((t, i) => {
        ctx.fillStyle = t.special ? muted : fg;
        ctx.fillText(clip(ctx, tokenLabel(t), g.labelW - 10), x, this.y(i));
      });
    };
    draw(s.queryTokens, 'right', g.leftX - 6);
    draw(s.keyTokens, 'left', g.rightX + 6);
  }

  private drawOverlay(s: ViewState): void {
    const g = this.geometry;
    const ctx = this.overlay.getContext('2d')!;
    ctx.setTransform(g.dpr, 0, 0, g.dpr, 0, 0);
    ctx.clearRect(0, 0, g.width, g.height);
    this.links.style.opacity = s.hover ? '0.08' : '1';
    if (!s.hover) return;
    const { side, index } = s.hover;
    const focus = getComputedStyle(document.body).getPropertyValue('--vscode-focusBorder').trim() || '#007fd4';
    ctx.fillStyle = focus;
    ctx.globalAlpha = 0.25;
    ctx.fillRect(side === 'query' ? 0 : g.rightX, TOP + index * ROW, g.labelW, ROW);
    ctx.lineWidth = 2;
    const L = s.layer;
    for (let h = 0; h < L.heads; h++) {
      if (!s.visibleHeads[h]) continue;
      ctx.strokeStyle = HEAD_COLORS[h % HEAD_COLORS.length];
      const paths = Array.from({ length: ALPHA_BUCKETS }, () => new Path2D());
      const n = side === 'query' ? L.keys : L.queries;
      for (let j = 0; j < n; j++) {
        const q = side === 'query' ? index : j;
        const k = side === 'query' ? j : index;
        if (s.causal && k > q) continue;
        const w = weightAt(L, h, q, k);
        if (w < 0.01) continue;
        const p = paths[alphaBucket(w)];
        p.moveTo(g.leftX, this.y(q));
        p.lineTo(g.rightX, this.y(k));
      }
      paths.forEach((p, b) => {
        ctx.globalAlpha = (b + 1) / ALPHA_BUCKETS;
        ctx.stroke(p);
      });
    }
    ctx.globalAlpha = 1;
  }
}

/** The editor font at 12px (canvas fonts cannot use CSS variables). */
function font(): string {
  const family = getComputedStyle(document.body).getPropertyValue('--vscode-editor-font-family').trim();
  return `12px ${family || 'monospace'}`;
}

function clip(ctx: CanvasRenderingContext2D, text: string, max: number): string {
  if (ctx.measureText(text).width <= max) return text;
  let t = text;
  while (t.length > 1 && ctx.measureText(t + '…').width > max) t = t.slice(0, -1);
  return t + '…';
}
