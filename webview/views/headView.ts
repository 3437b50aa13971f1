/**
 * The head view: query tokens left, key tokens right, one line per link whose opacity is the
 * weight and whose colour is the head. Three stacked canvases the size of the viewport (links,
 * labels, hover) inside a scroller: only visible rows and the links crossing the viewport are
 * drawn, so a 512-token input costs the same pixels as a 20-token one. Hovering redraws only the
 * hover canvas.
 */
import { addCanvas } from '../canvas';
import { type AttentionRecord, weightAt } from '../../src/core/attention';
import { ALPHA_BUCKETS, type LinkSet, alphaBucket, selectLinks, signedBucket } from '../../src/core/analysis/links';
import { MIN_LINK_WEIGHT } from '../../src/core/analysis/thresholds';
import type { TokenTarget } from '../../src/core/analysis/tokenFocus';
import { headColor } from '../../src/core/palette';
import { type TokenInfo, tokenLabel } from '../../src/core/tokens';
import { FONT_PX, LINK_WIDTH, ROW, TOP, bucketAlpha, clipLabel, contentHeight as contentHeightOf, labelWidth, viewWidth } from '../../src/core/figure/headViewFigure';
import { cssVar, editorFont, signHues } from '../theme';
import type { View } from './view';


/** Everything the head view draws. */
export interface HeadViewState {
  record: AttentionRecord;
  visibleHeads: readonly boolean[];
  maxLinksPerQuery: number;
  hover: TokenTarget | null;
}

interface Geometry {
  width: number;
  height: number;
  contentHeight: number;
  leftX: number;
  rightX: number;
  labelW: number;
  dpr: number;
  scrollTop: number;
}

/** Canvas renderer of one layer's attention. */
export class HeadView implements View<HeadViewState> {
  private readonly stage: HTMLDivElement;
  private readonly sizer: HTMLDivElement;
  private readonly links: HTMLCanvasElement;
  private readonly labels: HTMLCanvasElement;
  private readonly overlay: HTMLCanvasElement;
  private state: HeadViewState | undefined;
  private drawnKey: { record: AttentionRecord; heads: string } | undefined;
  private readonly cache = new Map<AttentionRecord, Map<number, LinkSet>>();
  private g: Geometry = { width: 0, height: 0, contentHeight: 0, leftX: 0, rightX: 0, labelW: 0, dpr: 1, scrollTop: 0 };
  private frame = 0;
  /** Statistics of the last draw, for the status line, tests and benchmarks. */
  readonly stats = { links: 0, renderMs: 0, hoverMs: 0 };

  /** `scroller` must be a fixed-height element with `overflow: auto`. */
  constructor(private readonly scroller: HTMLElement, onHover: (target: TokenTarget | null) => void) {
    scroller.classList.add('head-view');
    this.stage = document.createElement('div');
    this.stage.className = 'stage';
    this.sizer = document.createElement('div');
    this.sizer.className = 'sizer';
    scroller.append(this.stage, this.sizer);
    this.links = addCanvas(this.stage, 'layer-links');
    this.labels = addCanvas(this.stage, 'layer-labels');
    this.overlay = addCanvas(this.stage, 'layer-overlay');
    scroller.addEventListener('mousemove', (e) => onHover(this.hitTest(e.clientX, e.clientY)));
    scroller.addEventListener('mouseleave', () => onHover(null));
    scroller.addEventListener('scroll', () => this.schedule(), { passive: true });
    new ResizeObserver(() => this.schedule()).observe(scroller);
  }

  /** Draws `state` from scratch (new layer, heads, tokens or size). */
  render(state: HeadViewState): void {
    const t0 = performance.now();
    this.state = state;
    this.layout(state);
    this.drawLinks(state);
    this.drawLabels(state);
    this.drawOverlay(state);
    this.stats.renderMs = performance.now() - t0;
    this.scroller.dataset.links = String(this.stats.links);
  }

  /** Applies a state change, redrawing only what it affects. */
  update(state: HeadViewState): void {
    const k = this.drawnKey;
    if (!k || k.record !== state.record || k.heads !== state.visibleHeads.join()) {
      this.render(state);
      return;
    }
    const t0 = performance.now();
    this.state = state;
    this.drawOverlay(state);
    this.stats.hoverMs = performance.now() - t0;
  }

  /** The token under a client point, if any. */
  hitTest(clientX: number, clientY: number): TokenTarget | null {
    const s = this.state;
    if (!s) return null;
    const r = this.stage.getBoundingClientRect();
    const x = clientX - r.left;
    const index = Math.floor((clientY - r.top + this.g.scrollTop - TOP) / ROW);
    if (x < this.g.leftX + 4) return index >= 0 && index < s.record.queries ? { side: 'query', index } : null;
    if (x > this.g.rightX - 4) return index >= 0 && index < s.record.keys ? { side: 'key', index } : null;
    return null;
  }

  /** Client rectangle of a token's label (for tooltips). */
  labelRect(target: TokenTarget): DOMRect {
    const r = this.stage.getBoundingClientRect();
    const x = target.side === 'query' ? r.left : r.left + this.g.rightX;
    return new DOMRect(x, r.top + TOP + target.index * ROW - this.g.scrollTop, this.g.labelW, ROW);
  }

  /** Scrolls so that `target`'s row is visible. */
  reveal(target: TokenTarget): void {
    const y = TOP + target.index * ROW;
    const top = this.scroller.scrollTop;
    const h = this.scroller.clientHeight;
    if (y < top + ROW) this.scroller.scrollTop = Math.max(0, y - h / 3);
    else if (y > top + h - 2 * ROW) this.scroller.scrollTop = y - (2 * h) / 3;
  }

  /** Redraws everything on the next frame (scroll, resize). */
  private schedule(): void {
    if (this.frame || !this.state) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      if (this.state) this.render(this.state);
    });
  }

  private layout(s: HeadViewState): void {
    // The same layout as the exported figure (src/core/figure/headViewFigure.ts).
    const labelW = labelWidth(s.record, this.measure());
    const contentHeight = contentHeightOf(s.record);
    const width = viewWidth(labelW, this.scroller.clientWidth);
    const height = Math.max(ROW, Math.min(contentHeight, this.scroller.clientHeight || contentHeight));
    const dpr = Math.min(2, window.devicePixelRatio || 1);
    this.g = { width, height, contentHeight, leftX: labelW, rightX: width - labelW, labelW, dpr, scrollTop: this.scroller.scrollTop };
    this.sizer.style.height = `${contentHeight}px`;
    this.stage.style.height = `${height}px`;
    this.stage.style.marginBottom = `-${height}px`;
    for (const c of [this.links, this.labels, this.overlay]) {
      const w = Math.round(width * dpr);
      const h = Math.round(height * dpr);
      if (c.width !== w || c.height !== h) {
        c.width = w;
        c.height = h;
        c.style.width = `${width}px`;
        c.style.height = `${height}px`;
      }
    }
  }

  /** Text width in the label font, as the exported figure measures it too. */
  measure(): (text: string) => number {
    const ctx = this.labels.getContext('2d')!;
    ctx.font = editorFont(FONT_PX);
    return (text) => ctx.measureText(text).width;
  }

  private linkSet(record: AttentionRecord, head: number, s: HeadViewState): LinkSet {
    let perRecord = this.cache.get(record);
    if (!perRecord) {
      this.cache.clear();
      perRecord = new Map();
      this.cache.set(record, perRecord);
    }
    let set = perRecord.get(head);
    if (!set) {
      set = selectLinks(record, head, s.maxLinksPerQuery, record.causal, record.signed);
      perRecord.set(head, set);
    }
    return set;
  }

  /** Viewport y of a row's centre. */
  private y(index: number): number {
    return TOP + index * ROW + ROW / 2 - this.g.scrollTop;
  }

  private context(c: HTMLCanvasElement): CanvasRenderingContext2D {
    const ctx = c.getContext('2d')!;
    ctx.setTransform(this.g.dpr, 0, 0, this.g.dpr, 0, 0);
    ctx.clearRect(0, 0, this.g.width, this.g.height);
    return ctx;
  }

  private drawLinks(s: HeadViewState): void {
    const { height } = this.g;
    const ctx = this.context(this.links);
    ctx.lineWidth = LINK_WIDTH;
    let count = 0;
    for (let h = 0; h < s.record.heads; h++) {
      if (!s.visibleHeads[h]) continue;
      const set = this.linkSet(s.record, h, s);
      for (const [color, sign] of linkColors(s.record, h)) {
        const buckets: number[][] = Array.from({ length: ALPHA_BUCKETS }, () => []);
        for (let i = 0; i < set.length; i++) {
          if (sign !== 0 && Math.sign(set.weight[i]) !== sign) continue;
          const y1 = this.y(set.query[i]);
          const y2 = this.y(set.key[i]);
          if ((y1 < 0 && y2 < 0) || (y1 > height && y2 > height)) continue; // entirely off screen
          buckets[bucketOf(s.record, set.weight[i])].push(y1, y2);
        }
        this.strokeBuckets(ctx, color, buckets);
      }
      count += set.length;
    }
    this.stats.links = count;
    this.drawnKey = { record: s.record, heads: s.visibleHeads.join() };
  }

  /**
   * Strokes each link as its own path: one path holding many crossing segments makes the
   * rasterizer resolve every overlap (measured 5-10x slower in `npm run bench`).
   */
  private strokeBuckets(ctx: CanvasRenderingContext2D, color: string, buckets: number[][]): void {
    const { leftX, rightX } = this.g;
    ctx.strokeStyle = color;
    buckets.forEach((ys, b) => {
      ctx.globalAlpha = bucketAlpha(b);
      for (let i = 0; i < ys.length; i += 2) {
        ctx.beginPath();
        ctx.moveTo(leftX, ys[i]);
        ctx.lineTo(rightX, ys[i + 1]);
        ctx.stroke();
      }
    });
    ctx.globalAlpha = 1;
  }

  private drawLabels(s: HeadViewState): void {
    const { leftX, rightX, labelW, height } = this.g;
    const ctx = this.context(this.labels);
    ctx.font = editorFont(FONT_PX);
    ctx.textBaseline = 'middle';
    const measure = (text: string) => ctx.measureText(text).width;
    const fg = cssVar('--vscode-editor-foreground', '#ccc');
    const muted = cssVar('--vscode-descriptionForeground', '#888');
    const draw = (tokens: readonly TokenInfo[], align: CanvasTextAlign, x: number) => {
      ctx.textAlign = align;
      const first = Math.max(0, Math.floor((this.g.scrollTop - TOP) / ROW));
      const last = Math.min(tokens.length - 1, Math.ceil((this.g.scrollTop + height) / ROW));
      for (let i = first; i <= last; i++) {
        ctx.fillStyle = tokens[i].special ? muted : fg;
        ctx.fillText(clipLabel(tokenLabel(tokens[i]), labelW - 10, measure), x, this.y(i));
      }
    };
    draw(s.record.queryTokens, 'right', leftX - 6);
    draw(s.record.keyTokens, 'left', rightX + 6);
  }

  private drawOverlay(s: HeadViewState): void {
    const { rightX, labelW } = this.g;
    const ctx = this.context(this.overlay);
    this.links.style.opacity = s.hover ? '0.08' : '1';
    if (!s.hover) return;
    const { side, index } = s.hover;
    ctx.fillStyle = cssVar('--vscode-focusBorder', '#007fd4');
    ctx.globalAlpha = 0.25;
    ctx.fillRect(side === 'query' ? 0 : rightX, this.y(index) - ROW / 2, labelW, ROW);
    ctx.globalAlpha = 1;
    ctx.lineWidth = 2;
    const L = s.record;
    const n = side === 'query' ? L.keys : L.queries;
    for (let h = 0; h < L.heads; h++) {
      if (!s.visibleHeads[h]) continue;
      for (const [color, sign] of linkColors(L, h)) {
        const buckets: number[][] = Array.from({ length: ALPHA_BUCKETS }, () => []);
        for (let j = 0; j < n; j++) {
          const q = side === 'query' ? index : j;
          const k = side === 'query' ? j : index;
          if (L.causal && k > q) continue;
          const w = weightAt(L, h, q, k);
          if (sign === 0 ? w >= MIN_LINK_WEIGHT : Math.sign(w) === sign && Math.abs(w) >= MIN_LINK_WEIGHT) buckets[bucketOf(L, w)].push(this.y(q), this.y(k));
        }
        this.strokeBuckets(ctx, color, buckets);
      }
    }
  }
}

/** How head `h`'s links are stroked: in the head's colour, or a difference by sign in the theme's diverging hues. */
function linkColors(r: AttentionRecord, h: number): Array<[string, number]> {
  return r.signed
    ? [[signHues().positive, 1], [signHues().negative, -1]]
    : [[headColor(h), 0]];
}

/** Opacity bucket of a link: its weight, or √|Δ| for a difference. */
function bucketOf(r: AttentionRecord, w: number): number {
  return r.signed ? signedBucket(w) : alphaBucket(w);
}
