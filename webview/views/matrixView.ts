/**
 * The matrix view: queries × keys as a heat map (mean over the visible heads), token labels on
 * both axes when they fit, exact values on hover, and drag-to-zoom into a region (double-click or
 * Escape zooms out). The image is pooled to the canvas's device pixels (max over the cells a
 * pixel covers), so a 1024-token input costs one pass over its cells and no link disappears.
 */
import { addCanvas } from '../canvas';
import type { AttentionRecord } from '../../src/core/attention';
import { MATRIX_FONT_PX, MATRIX_PAD as PAD, type Region, matrixAlpha, matrixLayout, meanOfHeads, poolMatrix } from '../../src/core/figure/matrixFigure';
import type { TokenTarget } from '../../src/core/analysis/tokenFocus';
import { tokenLabel } from '../../src/core/tokens';
import { clipText as clip, cssVar, editorFont, parseColor, signHues } from '../theme';
import type { View } from './view';


/** Everything the matrix view draws. */
export interface MatrixViewState {
  record: AttentionRecord;
  visibleHeads: readonly boolean[];
  hover: TokenTarget | null;
}


/** Canvas heat map of one record. */
export class MatrixView implements View<MatrixViewState> {
  private readonly image: HTMLCanvasElement;
  private readonly overlay: HTMLCanvasElement;
  private state: MatrixViewState | undefined;
  private mean: { record: AttentionRecord; heads: string; data: Float32Array } | undefined;
  private region: Region | undefined;
  private g = { left: 0, top: 0, cell: 1, dpr: 1, width: 0, height: 0 };
  private drag: { x: number; y: number; q: number; k: number } | undefined;
  /** Statistics of the last draw, for tests and benchmarks. */
  readonly stats = { renderMs: 0, hoverMs: 0 };

  constructor(private readonly host: HTMLElement, onHover: (t: TokenTarget | null) => void) {
    host.classList.add('matrix-view');
    this.image = addCanvas(this.host, 'matrix-image');
    this.overlay = addCanvas(this.host, 'matrix-overlay');
    host.addEventListener('mousemove', (e) => {
      if (this.drag) this.drawDrag(e.clientX, e.clientY);
      onHover(this.hitTest(e.clientX, e.clientY));
    });
    host.addEventListener('mouseleave', () => onHover(null));
    host.addEventListener('mousedown', (e) => {
      const t = this.hitTest(e.clientX, e.clientY);
      if (t?.key !== undefined) this.drag = { x: e.clientX, y: e.clientY, q: t.index, k: t.key };
    });
    host.addEventListener('mouseup', (e) => {
      const d = this.drag;
      this.drag = undefined;
      const t = this.hitTest(e.clientX, e.clientY);
      if (!d || !t || t.key === undefined || (Math.abs(e.clientX - d.x) < 6 && Math.abs(e.clientY - d.y) < 6)) return this.state && this.update(this.state);
      this.zoom({ q0: Math.min(d.q, t.index), q1: Math.max(d.q, t.index) + 1, k0: Math.min(d.k, t.key), k1: Math.max(d.k, t.key) + 1 });
    });
    host.addEventListener('dblclick', () => this.zoom(undefined));
    host.addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && this.region) this.zoom(undefined);
    });
    new ResizeObserver(() => this.state && this.render(this.state)).observe(host);
  }

  /** Zooms to `region` (cells), or back out to the whole matrix. */
  zoom(region: Region | undefined): void {
    this.region = region;
    if (this.state) this.render(this.state);
  }

  render(state: MatrixViewState): void {
    const t0 = performance.now();
    if (this.state?.record !== state.record) this.region = undefined;
    this.state = state;
    const r = state.record;
    const data = this.meanOf(state);
    const reg = this.region ?? { q0: 0, q1: r.queries, k0: 0, k1: r.keys };
    const nq = reg.q1 - reg.q0, nk = reg.k1 - reg.k0;
    const width = Math.max(200, this.host.clientWidth || 600);
    const height = Math.max(200, this.host.clientHeight || 500);
    // The same layout and pooling as the exported figure (src/core/figure/matrixFigure.ts).
    const ctx0 = this.image.getContext('2d')!;
    ctx0.font = editorFont(MATRIX_FONT_PX);
    const { left, top, cell, showLabels } = matrixLayout(r, reg, width, height, (t) => ctx0.measureText(t).width);
    const dpr = Math.min(2, window.devicePixelRatio || 1);
    this.g = { left, top, cell, dpr, width: left + nk * cell + PAD, height: top + nq * cell + PAD };
    for (const c of [this.image, this.overlay]) {
      c.width = Math.round(this.g.width * dpr);
      c.height = Math.round(this.g.height * dpr);
      c.style.width = `${this.g.width}px`;
      c.style.height = `${this.g.height}px`;
    }
    const ctx = this.image.getContext('2d')!;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, this.image.width, this.image.height);
    const theme = colors();
    // Heat map: one pixel at a time, each the maximum of the cells it covers.
    const pw = Math.max(1, Math.round(nk * cell * dpr)), ph = Math.max(1, Math.round(nq * cell * dpr));
    const img = ctx.createImageData(pw, ph);
    const best = poolMatrix(data, r.keys, reg, pw, ph);
    for (let i = 0; i < best.length; i++) {
      const v = best[i];
      const [cr, cg, cb] = v < 0 ? theme.negative : theme.positive;
      img.data[i * 4] = cr;
      img.data[i * 4 + 1] = cg;
      img.data[i * 4 + 2] = cb;
      img.data[i * 4 + 3] = Math.round(matrixAlpha(v) * 255);
    }
    ctx.putImageData(img, Math.round(left * dpr), Math.round(top * dpr));
    if (showLabels) this.drawLabels(ctx, r, reg, theme.fg);
    // Geometry for tests and assistive tooling: cells drawn, zoom, and where cell (0, 0) sits.
    Object.assign(this.host.dataset, { cells: String(nq * nk), zoomed: String(!!this.region), origin: `${left},${top},${cell}` });
    this.stats.renderMs = performance.now() - t0;
    this.update(state);
  }

  update(state: MatrixViewState): void {
    const t0 = performance.now();
    if (state.record !== this.state?.record || state.visibleHeads !== this.state.visibleHeads) return this.render(state);
    this.state = state;
    const ctx = this.overlay.getContext('2d')!;
    ctx.setTransform(this.g.dpr, 0, 0, this.g.dpr, 0, 0);
    ctx.clearRect(0, 0, this.g.width, this.g.height);
    const h = state.hover;
    const reg = this.region ?? { q0: 0, q1: state.record.queries, k0: 0, k1: state.record.keys };
    if (h) {
      ctx.fillStyle = colors().focus;
      ctx.globalAlpha = 0.18;
      const { left, top, cell } = this.g;
      if (h.side === 'query' && h.index >= reg.q0 && h.index < reg.q1) ctx.fillRect(left, top + (h.index - reg.q0) * cell, (reg.k1 - reg.k0) * cell, cell);
      const k = h.side === 'key' ? h.index : h.key;
      if (k !== undefined && k >= reg.k0 && k < reg.k1) ctx.fillRect(left + (k - reg.k0) * cell, top, cell, (reg.q1 - reg.q0) * cell);
      ctx.globalAlpha = 1;
    }
    this.stats.hoverMs = performance.now() - t0;
  }

  hitTest(clientX: number, clientY: number): TokenTarget | null {
    const s = this.state;
    if (!s) return null;
    const b = this.image.getBoundingClientRect();
    const reg = this.region ?? { q0: 0, q1: s.record.queries, k0: 0, k1: s.record.keys };
    const { left, top, cell } = this.g;
    const x = clientX - b.left - left, y = clientY - b.top - top;
    const q = reg.q0 + Math.floor(y / cell), k = reg.k0 + Math.floor(x / cell);
    const inQ = y >= 0 && q < reg.q1, inK = x >= 0 && k < reg.k1;
    if (inQ && inK) return { side: 'query', index: q, key: k };
    if (inQ && x < 0) return { side: 'query', index: q };
    if (inK && y < 0) return { side: 'key', index: k };
    return null;
  }

  /** Client rectangle of a hovered cell or label, for the tooltip. */
  labelRect(t: TokenTarget): DOMRect {
    const b = this.image.getBoundingClientRect();
    const reg = this.region ?? { q0: 0, q1: this.state?.record.queries ?? 0, k0: 0, k1: this.state?.record.keys ?? 0 };
    const { left, top, cell } = this.g;
    const k = t.side === 'key' ? t.index : t.key ?? reg.k0;
    const q = t.side === 'query' ? t.index : reg.q0;
    return new DOMRect(b.left + left + (k - reg.k0) * cell, b.top + top + (q - reg.q0) * cell, cell, cell);
  }

  /** What the view shows, for an exported figure: the record, heads, zoomed region and the view's size. */
  figureInput(): { record: AttentionRecord; visibleHeads: readonly boolean[]; region?: Region; width: number; height: number } | undefined {
    const s = this.state;
    return s && { record: s.record, visibleHeads: s.visibleHeads, region: this.region, width: Math.max(200, this.host.clientWidth || 600), height: Math.max(200, this.host.clientHeight || 500) };
  }

  /** The mean over visible heads, cached per record and head choice. */
  private meanOf(s: MatrixViewState): Float32Array {
    const key = s.visibleHeads.join();
    if (this.mean?.record === s.record && this.mean.heads === key) return this.mean.data;
    const data = meanOfHeads(s.record, s.visibleHeads);
    this.mean = { record: s.record, heads: key, data };
    return data;
  }

  private drawLabels(ctx: CanvasRenderingContext2D, r: AttentionRecord, reg: Region, fg: string): void {
    const { left, top, cell, dpr } = this.g;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.font = editorFont(MATRIX_FONT_PX);
    ctx.fillStyle = fg;
    ctx.textBaseline = 'middle';
    ctx.textAlign = 'right';
    for (let q = reg.q0; q < reg.q1; q++) ctx.fillText(clip(ctx, tokenLabel(r.queryTokens[q]), left - PAD - 4), left - 4, top + (q - reg.q0 + 0.5) * cell);
    for (let k = reg.k0; k < reg.k1; k++) {
      ctx.save();
      ctx.translate(left + (k - reg.k0 + 0.5) * cell, top - 4);
      ctx.rotate(-Math.PI / 2);
      ctx.textAlign = 'left';
      ctx.fillText(clip(ctx, tokenLabel(r.keyTokens[k]), top - PAD - 4), 0, 0);
      ctx.restore();
    }
  }

  private drawDrag(x: number, y: number): void {
    const d = this.drag!;
    const b = this.overlay.getBoundingClientRect();
    const ctx = this.overlay.getContext('2d')!;
    if (this.state) this.update(this.state);
    ctx.strokeStyle = colors().focus;
    ctx.setLineDash([4, 3]);
    ctx.strokeRect(Math.min(d.x, x) - b.left, Math.min(d.y, y) - b.top, Math.abs(x - d.x), Math.abs(y - d.y));
    ctx.setLineDash([]);
  }
}

/** Theme colours: the heat map's hue for positive and negative values, text and focus. */
function colors() {
  return {
    positive: parseColor(signHues().positive),
    negative: parseColor(signHues().negative),
    fg: cssVar('--vscode-editor-foreground', '#cccccc'),
    focus: cssVar('--vscode-focusBorder', '#007fd4'),
  };
}
