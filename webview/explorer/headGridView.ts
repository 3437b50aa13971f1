/**
 * The explorer grid: one row per layer (with encoder/decoder/cross section headers), one cell per
 * head, each a max-pooled thumbnail of the head's matrix on one canvas; tints, badges and the
 * label filter on top, and hover, selection and keyboard focus on an overlay canvas, so a hover
 * redraws only the overlay. Thumbnails are pooled to the cell's device pixels once per grid and size.
 */
import { addCanvas } from '../canvas';
import { type HeadGrid, cellOffsets } from '../../src/core/analysis/headGrid';
import {
  GRID_FONT_PX, GRID_GAP as GAP, GRID_LABEL_W as LABEL_W, GRID_SECTION_H as SECTION_H, type GridLayout,
  cellBadges, columnX, gridLayout, gridSvg, rowLabel, tintAlpha,
} from '../../src/core/figure/gridFigure';
import { type Cell, type ExplorerModel, cellTints, rowOrder } from './explorerModel';
import { cssVar, parseColor } from '../theme';

const MIN_CELL = 14;
const MAX_CELL = 64;

type Layout = GridLayout & { dpr: number };

/** Canvas renderer of the head grid. */
export class HeadGridView {
  private readonly base: HTMLCanvasElement;
  private readonly overlay: HTMLCanvasElement;
  private layout: Layout | undefined;
  private thumbs: { grid: HeadGrid; px: number; color: string; canvas: HTMLCanvasElement } | undefined;
  /** Milliseconds of the last render and overlay update, for benchmarks. */
  readonly stats = { renderMs: 0, updateMs: 0 };

  constructor(private readonly host: HTMLElement, private readonly model: ExplorerModel) {
    host.classList.add('grid-view');
    this.base = addCanvas(this.host, 'grid-base');
    this.overlay = addCanvas(this.host, 'grid-overlay');
    new ResizeObserver(() => this.render()).observe(host);
  }

  /** Rebuilds: layout, thumbnails (when grid or size changed), tints, badges, then the overlay. */
  render(): void {
    const t0 = performance.now();
    const { data } = this.model.snapshot;
    const grid = data.grid;
    if (!grid) {
      this.layout = undefined;
      return;
    }
    const l = (this.layout = this.computeLayout(grid));
    const theme = themeColors();
    const px = Math.round(l.cell * l.dpr);
    if (!this.thumbs || this.thumbs.grid !== grid || this.thumbs.px !== px || this.thumbs.color !== theme.fg) {
      this.thumbs = { grid, px, color: theme.fg, canvas: pooledThumbnails(grid, px, theme.fg) };
    }
    for (const c of [this.base, this.overlay]) {
      c.width = Math.round(l.width * l.dpr);
      c.height = Math.round(l.height * l.dpr);
      c.style.width = `${l.width}px`;
      c.style.height = `${l.height}px`;
    }
    const ctx = this.base.getContext('2d')!;
    ctx.setTransform(l.dpr, 0, 0, l.dpr, 0, 0);
    ctx.clearRect(0, 0, l.width, l.height);
    ctx.font = `${GRID_FONT_PX}px ${theme.font}`;
    ctx.textBaseline = 'middle';
    const tints = cellTints(data, this.model.snapshot.colorBy);
    for (const s of l.sections) {
      ctx.fillStyle = theme.muted;
      ctx.fillText(s.label, 2, s.y + SECTION_H / 2);
    }
    grid.rows.forEach((row, r) => {
      ctx.fillStyle = theme.muted;
      ctx.textAlign = 'right';
      ctx.fillText(rowLabel(row.label), LABEL_W - 6, l.rowY[r] + l.cell / 2);
      ctx.textAlign = 'left';
      l.order[r].forEach((head, column) => {
        const cell = l.offsets[r] + head;
        const x = columnX(l, column);
        const y = l.rowY[r];
        const dim = !this.model.matchesFilter(cell);
        ctx.globalAlpha = dim ? 0.25 : 1;
        ctx.fillStyle = theme.cellBg;
        ctx.fillRect(x, y, l.cell, l.cell);
        if (!Number.isNaN(tints[cell])) {
          ctx.fillStyle = theme.tint;
          ctx.globalAlpha = (dim ? 0.25 : 1) * tintAlpha(tints[cell]);
          ctx.fillRect(x, y, l.cell, l.cell);
          ctx.globalAlpha = dim ? 0.25 : 1;
        }
        ctx.drawImage(this.thumbs!.canvas, cell * px, 0, px, px, x, y, l.cell, l.cell);
        const badges = cellBadges(grid, cell);
        if (badges && l.cell >= 20) {
          ctx.fillStyle = theme.badgeBg;
          const w = ctx.measureText(badges).width + 4;
          ctx.fillRect(x + l.cell - w, y + l.cell - 11, w, 11);
          ctx.fillStyle = theme.badgeFg;
          ctx.fillText(badges, x + l.cell - w + 2, y + l.cell - 5);
        }
        ctx.globalAlpha = 1;
      });
    });
    // Geometry for tests and assistive tooling: cells, their size and where the first column starts.
    Object.assign(this.host.dataset, { cells: String(l.offsets.at(-1)), cellSize: String(l.cell + GAP), firstColumn: String(LABEL_W) });
    this.stats.renderMs = performance.now() - t0;
    this.update();
  }

  /** Restyles the overlay: selection, hover and keyboard focus outlines. */
  update(): void {
    const t0 = performance.now();
    const l = this.layout;
    const s = this.model.snapshot;
    if (!l || !s.data.grid) return;
    const ctx = this.overlay.getContext('2d')!;
    ctx.setTransform(l.dpr, 0, 0, l.dpr, 0, 0);
    ctx.clearRect(0, 0, l.width, l.height);
    const theme = themeColors();
    const outline = (cell: Cell, color: string, width: number, dash: number[] = []) => {
      const column = l.order[cell.row].indexOf(cell.head);
      if (column < 0) return;
      ctx.strokeStyle = color;
      ctx.lineWidth = width;
      ctx.setLineDash(dash);
      ctx.strokeRect(LABEL_W + column * (l.cell + GAP) - width / 2, l.rowY[cell.row] - width / 2, l.cell + width, l.cell + width);
    };
    const sel = s.data.selection;
    if (sel) for (const head of sel.heads) outline({ row: sel.recordIndex, head }, theme.selection, 2);
    if (s.data.similarity && s.colorBy === 'similarity') outline({ row: s.data.similarity.recordIndex, head: s.data.similarity.head }, theme.tint, 1, [2, 2]);
    if (s.hover) outline(s.hover, theme.fg, 1);
    const f = this.model.focusedCell;
    if (f && document.activeElement === this.host) outline(f, theme.focus, 1, [3, 2]);
    this.stats.updateMs = performance.now() - t0;
  }

  /** The cell under a client point, if any. */
  hitTest(clientX: number, clientY: number): Cell | null {
    const l = this.layout;
    if (!l) return null;
    const r = this.base.getBoundingClientRect();
    const x = clientX - r.left - LABEL_W;
    const y = clientY - r.top;
    const row = l.rowY.findIndex((top) => y >= top && y < top + l.cell);
    const column = Math.floor(x / (l.cell + GAP));
    if (row < 0 || x < 0 || x - column * (l.cell + GAP) >= l.cell || column >= l.order[row].length) return null;
    return { row, head: l.order[row][column] };
  }

  /** Client rectangle of a cell (for the tooltip). */
  cellRect(cell: Cell): DOMRect {
    const l = this.layout!;
    const r = this.base.getBoundingClientRect();
    const column = Math.max(0, l.order[cell.row].indexOf(cell.head));
    return new DOMRect(r.left + LABEL_W + column * (l.cell + GAP), r.top + l.rowY[cell.row], l.cell, l.cell);
  }

  private computeLayout(grid: HeadGrid): Layout {
    const maxHeads = Math.max(1, ...grid.rows.map((r) => r.heads));
    const avail = (this.host.clientWidth || 300) - LABEL_W - 4;
    const cell = Math.max(MIN_CELL, Math.min(MAX_CELL, Math.floor(avail / maxHeads) - GAP));
    const order = grid.rows.map((_, r) => rowOrder(grid, r, this.model.snapshot.sortBy));
    return { ...gridLayout(grid, order, cell), dpr: Math.min(2, window.devicePixelRatio || 1) };
  }

  /**
   * The grid as shown (cell size, order, tints, dimmed cells, selection) as an SVG figure in the
   * theme's colours; each thumbnail a PNG of the pixels on screen.
   */
  figure(title: string): string {
    const l = this.layout, thumbs = this.thumbs, s = this.model.snapshot;
    const grid = s.data.grid;
    if (!l || !thumbs || !grid) throw new Error('the head explorer shows no grid yet');
    const px = thumbs.px;
    const crop = document.createElement('canvas');
    crop.width = crop.height = px;
    const cropCtx = crop.getContext('2d')!;
    const image = (cell: number) => {
      cropCtx.clearRect(0, 0, px, px);
      cropCtx.drawImage(thumbs.canvas, cell * px, 0, px, px, 0, 0, px, px);
      return crop.toDataURL('image/png');
    };
    const theme = themeColors();
    const sel = s.data.selection;
    return gridSvg({
      grid, layout: l, tints: cellTints(s.data, s.colorBy), dimmed: (cell) => !this.model.matchesFilter(cell), image,
      style: { background: cssVar('--vscode-sideBar-background', cssVar('--vscode-editor-background', '#1e1e1e')), foreground: theme.fg, muted: theme.muted, fontFamily: theme.font },
      colors: { cellBg: theme.cellBg, tint: theme.tint, badgeBg: theme.badgeBg, badgeFg: theme.badgeFg },
      selected: sel?.heads.map((head) => ({ row: sel.recordIndex, head })), selection: theme.selection, title,
    });
  }
}

/** Every cell's thumbnail pooled to `px`×`px` device pixels (max over source bins), side by side on one canvas. */
function pooledThumbnails(grid: HeadGrid, px: number, color: string): HTMLCanvasElement {
  const cells = cellOffsets(grid.rows).at(-1)!;
  const T = grid.size;
  const canvas = document.createElement('canvas');
  canvas.width = Math.max(1, cells * px);
  canvas.height = px;
  const img = new ImageData(canvas.width, px);
  const [r, g, b] = parseColor(color);
  const bins = Array.from({ length: px + 1 }, (_, i) => Math.floor((i * T) / px));
  for (let c = 0; c < cells; c++) {
    const src = grid.thumbnails.subarray(c * T * T, (c + 1) * T * T);
    for (let y = 0; y < px; y++) {
      const y0 = bins[y], y1 = Math.max(bins[y + 1], y0 + 1);
      for (let x = 0; x < px; x++) {
        const x0 = bins[x], x1 = Math.max(bins[x + 1], x0 + 1);
        let v = 0;
        for (let sy = y0; sy < y1; sy++) for (let sx = x0; sx < x1; sx++) v = Math.max(v, src[sy * T + sx]);
        const o = (y * canvas.width + c * px + x) * 4;
        img.data[o] = r;
        img.data[o + 1] = g;
        img.data[o + 2] = b;
        img.data[o + 3] = Math.round(Math.sqrt(v / 255) * 255); // √ so weak but present links stay visible
      }
    }
  }
  canvas.getContext('2d')!.putImageData(img, 0, 0);
  return canvas;
}

/** Theme colours resolved from VS Code's CSS variables. */
function themeColors() {
  return {
    fg: cssVar('--vscode-foreground', '#cccccc'),
    muted: cssVar('--vscode-descriptionForeground', '#999999'),
    cellBg: cssVar('--vscode-editorWidget-background', '#252526'),
    tint: cssVar('--vscode-charts-orange', '#d18616'),
    selection: cssVar('--vscode-focusBorder', '#007fd4'),
    focus: cssVar('--vscode-foreground', '#cccccc'),
    badgeBg: cssVar('--vscode-badge-background', '#4d4d4d'),
    badgeFg: cssVar('--vscode-badge-foreground', '#ffffff'),
    font: cssVar('--vscode-font-family', 'sans-serif'),
  };
}
