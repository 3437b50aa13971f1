/**
 * The explorer grid: one row per layer (with encoder/decoder/cross section headers), one cell per
 * head, each a max-pooled thumbnail of the head's matrix on one canvas; tints, badges and the
 * label filter on top, and hover, selection and keyboard focus on an overlay canvas, so a hover
 * redraws only the overlay. Cells are sized to the grid's box (the width of the view, the height
 * the controls and the legend leave) and redrawn when it changes; row labels sit on their own
 * canvas, kept in view when the grid scrolls sideways. Thumbnails are pooled to the cell's device
 * pixels once per grid and size.
 */
import { addCanvas } from '../canvas';
import { type HeadGrid, cellOffsets } from '../../src/core/analysis/headGrid';
import {
  GRID_GAP as GAP, GRID_PLACES, GRID_TOP, type GridLayout, type GridPlace,
  badgeMark, cellBadges, columnX, fitCell, gridLayout, gridSvg, rowLabelAt, rowText, sectionHeight, tintAlpha,
} from '../../src/core/figure/gridFigure';
import { type Cell, type ExplorerModel, cellTints, rowOrder } from './explorerModel';
import { cssVar, parseColor } from '../theme';

type Layout = GridLayout & { dpr: number };

/** Every cell's thumbnail at `px`×`px` device pixels, in a square-ish atlas (one long strip would pass the canvas's size limit). */
interface Thumbnails {
  grid: HeadGrid;
  px: number;
  color: string;
  columns: number;
  canvas: HTMLCanvasElement;
}

/** Canvas renderer of the head grid. */
export class HeadGridView {
  private readonly base: HTMLCanvasElement;
  private readonly overlay: HTMLCanvasElement;
  /** Row labels, kept in view when the grid scrolls sideways. */
  private readonly labels: HTMLCanvasElement;
  private layout: Layout | undefined;
  private thumbs: Thumbnails | undefined;
  /** Milliseconds of the last render and overlay update, for benchmarks. */
  readonly stats = { renderMs: 0, updateMs: 0 };
  /** Called after each full render (a change, or the space changed) with how many cells show a corner mark instead of badge letters. */
  onRender: (corners: number) => void = () => undefined;

  constructor(private readonly host: HTMLElement, private readonly model: ExplorerModel, private readonly place: GridPlace = 'sidebar') {
    host.classList.add('grid-view');
    this.base = addCanvas(this.host, 'grid-base');
    this.overlay = addCanvas(this.host, 'grid-overlay');
    this.labels = addCanvas(this.host, 'grid-labels');
    host.addEventListener('scroll', () => (this.labels.style.left = `${host.scrollLeft}px`));
    let size = '';
    new ResizeObserver(() => {
      const now = `${this.host.clientWidth}x${this.host.clientHeight}`;
      if (now !== size) this.render();
      size = now;
    }).observe(host);
  }

  /** The cell size in use (CSS pixels), once drawn. */
  get cellSize(): number | undefined {
    return this.layout?.cell;
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
      this.thumbs = pooledThumbnails(grid, px, theme.fg);
    }
    const thumbs = this.thumbs;
    for (const c of [this.base, this.overlay]) {
      c.width = Math.round(l.width * l.dpr);
      c.height = Math.round(l.height * l.dpr);
      c.style.width = `${l.width}px`;
      c.style.height = `${l.height}px`;
    }
    const ctx = this.base.getContext('2d')!;
    ctx.setTransform(l.dpr, 0, 0, l.dpr, 0, 0);
    ctx.clearRect(0, 0, l.width, l.height);
    ctx.textBaseline = 'middle';
    const labelFont = `${l.fontPx}px ${theme.font}`;
    ctx.font = labelFont;
    const tints = cellTints(data, this.model.snapshot.colorBy);
    for (const s of l.sections) {
      ctx.fillStyle = theme.muted;
      ctx.fillText(s.label, 2, s.y + sectionHeight(l.fontPx) / 2);
    }
    let corners = 0;
    this.drawRowLabels(grid, l, theme);
    grid.rows.forEach((row, r) => {
      l.order[r].forEach((head, column) => {
        const cell = l.offsets[r] + head;
        const x = columnX(l, column);
        const y = l.rowY[r];
        const alpha = this.model.matchesFilter(cell) ? 1 : 0.25;
        ctx.globalAlpha = alpha;
        ctx.fillStyle = theme.cellBg;
        ctx.fillRect(x, y, l.cell, l.cell);
        if (!Number.isNaN(tints[cell])) {
          ctx.fillStyle = theme.tint;
          ctx.globalAlpha = alpha * tintAlpha(tints[cell]);
          ctx.fillRect(x, y, l.cell, l.cell);
          ctx.globalAlpha = alpha;
        }
        ctx.drawImage(thumbs.canvas, (cell % thumbs.columns) * px, Math.floor(cell / thumbs.columns) * px, px, px, x, y, l.cell, l.cell);
        const badges = cellBadges(grid, cell);
        const mark = badgeMark(badges, l.cell);
        if (mark?.kind === 'text') {
          ctx.fillStyle = theme.badgeBg;
          ctx.fillRect(x + l.cell - mark.width, y + l.cell - mark.height, mark.width, mark.height);
          ctx.fillStyle = theme.badgeFg;
          ctx.font = `${mark.fontPx}px ${theme.font}`;
          ctx.fillText(badges, x + l.cell - mark.width + 2, y + l.cell - mark.height / 2);
        } else if (mark?.kind === 'corner') {
          corners++;
          ctx.fillStyle = theme.corner;
          ctx.beginPath();
          ctx.moveTo(x + l.cell, y + l.cell - mark.size);
          ctx.lineTo(x + l.cell, y + l.cell);
          ctx.lineTo(x + l.cell - mark.size, y + l.cell);
          ctx.fill();
        }
        ctx.globalAlpha = 1;
      });
    });
    // Geometry for tests and assistive tooling: cells, their pitch and size, where the first column and each row start, badges drawn as corners.
    Object.assign(this.host.dataset, { cells: String(l.offsets.at(-1)), cellSize: String(l.cell + GAP), cell: String(l.cell), firstColumn: String(l.labelWidth), rowTops: l.rowY.join(','), rowLabels: l.labels, cornerBadges: String(corners) });
    this.stats.renderMs = performance.now() - t0;
    this.update();
    this.onRender(corners);
  }

  /** Row labels on their own canvas over the grid's left edge, on the page's background so cells scrolled under them are hidden. */
  private drawRowLabels(grid: HeadGrid, l: Layout, theme: ReturnType<typeof themeColors>): void {
    const c = this.labels;
    const font = `${l.fontPx}px ${theme.font}`;
    const measure = c.getContext('2d')!;
    measure.font = font;
    const texts = grid.rows.map((row) => rowText(l, row.label));
    // Labels at the left fill their column (short of the first cell, whose outline starts a pixel left of it); labels above, their text.
    const width = l.labels === 'left' ? l.labelWidth - 3 : Math.ceil(Math.max(...texts.map((t) => measure.measureText(t).width))) + 6;
    c.width = Math.round(width * l.dpr);
    c.height = Math.round(l.height * l.dpr);
    c.style.width = `${width}px`;
    c.style.height = `${l.height}px`;
    c.style.left = `${this.host.scrollLeft}px`;
    const ctx = c.getContext('2d')!;
    ctx.setTransform(l.dpr, 0, 0, l.dpr, 0, 0);
    ctx.font = font;
    ctx.textBaseline = 'middle';
    texts.forEach((text, r) => {
      const at = rowLabelAt(l, r);
      // Above the row, short of the outlines that reach 2 pixels above the cells.
      const top = l.labels === 'left' ? l.rowY[r] - GAP : l.rowY[r] - l.labelLine;
      ctx.fillStyle = this.background();
      ctx.fillRect(0, top, width, l.labels === 'left' ? l.cell + 2 * GAP : l.labelLine - 2);
      ctx.fillStyle = theme.muted;
      ctx.textAlign = at.align === 'end' ? 'right' : 'left';
      ctx.fillText(text, at.x, at.y);
    });
  }

  /** The page's background colour. */
  private background(): string {
    const editor = cssVar('--vscode-editor-background', '#1e1e1e');
    return this.place === 'editor' ? editor : cssVar('--vscode-sideBar-background', editor);
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
      ctx.strokeRect(columnX(l, column) - width / 2, l.rowY[cell.row] - width / 2, l.cell + width, l.cell + width);
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
    // Cells scrolled under the row labels are hidden there: no hit.
    if (l.labels === 'left' && clientX - this.host.getBoundingClientRect().left < l.labelWidth - 3) return null;
    const r = this.base.getBoundingClientRect();
    const x = clientX - r.left - l.labelWidth;
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
    return new DOMRect(r.left + columnX(l, column), r.top + l.rowY[cell.row], l.cell, l.cell);
  }

  /** Scrolls the grid to show `cell` (not under the row labels). */
  reveal(cell: Cell): void {
    const l = this.layout;
    if (!l) return;
    const r = this.cellRect(cell);
    const box = this.host.getBoundingClientRect();
    const left = box.left + (l.labels === 'left' ? l.labelWidth : 0);
    const top = box.top + l.labelLine;
    if (r.right > box.left + this.host.clientWidth) this.host.scrollLeft += r.right - box.left - this.host.clientWidth + GAP;
    else if (r.left < left) this.host.scrollLeft -= left - r.left;
    if (r.bottom > box.top + this.host.clientHeight) this.host.scrollTop += r.bottom - box.top - this.host.clientHeight + GAP;
    else if (r.top < top) {
      // Up to the row's label line, and to its section's header when it is the section's first row.
      const line = l.rowY[cell.row] - l.labelLine;
      const header = l.sections.find((s) => s.y + sectionHeight(l.fontPx) === line);
      this.host.scrollTop = Math.max(0, Math.min(this.host.scrollTop, (header?.y ?? line) - GRID_TOP));
    }
  }

  private computeLayout(grid: HeadGrid): Layout {
    // The grid's box (the page gives it the height the controls and the legend leave).
    const { cell, labels } = fitCell(grid, { width: this.host.clientWidth || 300, height: this.host.clientHeight || 300 }, this.place);
    const order = grid.rows.map((_, r) => rowOrder(grid, r, this.model.snapshot.sortBy));
    return { ...gridLayout(grid, order, cell, GRID_PLACES[this.place].fontPx, labels), dpr: Math.min(2, window.devicePixelRatio || 1) };
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
      cropCtx.drawImage(thumbs.canvas, (cell % thumbs.columns) * px, Math.floor(cell / thumbs.columns) * px, px, px, 0, 0, px, px);
      return crop.toDataURL('image/png');
    };
    const theme = themeColors();
    const sel = s.data.selection;
    return gridSvg({
      grid, layout: l, tints: cellTints(s.data, s.colorBy), dimmed: (cell) => !this.model.matchesFilter(cell), image,
      style: { background: this.background(), foreground: theme.fg, muted: theme.muted, fontFamily: theme.font },
      colors: { cellBg: theme.cellBg, tint: theme.tint, badgeBg: theme.badgeBg, badgeFg: theme.badgeFg, corner: theme.corner },
      selected: sel?.heads.map((head) => ({ row: sel.recordIndex, head })), selection: theme.selection, title,
    });
  }
}

/** Every cell's thumbnail pooled to `px`×`px` device pixels (max over source bins; nearest source bin when enlarging). */
function pooledThumbnails(grid: HeadGrid, px: number, color: string): Thumbnails {
  const cells = cellOffsets(grid.rows).at(-1)!;
  const T = grid.size;
  const columns = Math.max(1, Math.ceil(Math.sqrt(cells)));
  const canvas = document.createElement('canvas');
  canvas.width = columns * px;
  canvas.height = Math.max(1, Math.ceil(cells / columns)) * px;
  const img = new ImageData(canvas.width, canvas.height);
  const [r, g, b] = parseColor(color);
  const bins = Array.from({ length: px + 1 }, (_, i) => Math.floor((i * T) / px));
  for (let c = 0; c < cells; c++) {
    const src = grid.thumbnails.subarray(c * T * T, (c + 1) * T * T);
    const left = (c % columns) * px, top = Math.floor(c / columns) * px;
    for (let y = 0; y < px; y++) {
      const y0 = bins[y], y1 = Math.max(bins[y + 1], y0 + 1);
      for (let x = 0; x < px; x++) {
        const x0 = bins[x], x1 = Math.max(bins[x + 1], x0 + 1);
        let v = 0;
        for (let sy = y0; sy < y1; sy++) for (let sx = x0; sx < x1; sx++) v = Math.max(v, src[sy * T + sx]);
        const o = ((top + y) * canvas.width + left + x) * 4;
        img.data[o] = r;
        img.data[o + 1] = g;
        img.data[o + 2] = b;
        img.data[o + 3] = Math.round(Math.sqrt(v / 255) * 255); // √ so weak but present links stay visible
      }
    }
  }
  canvas.getContext('2d')!.putImageData(img, 0, 0);
  return { grid, px, color, columns, canvas };
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
    corner: cssVar('--vscode-charts-blue', '#3794ff'),
    font: cssVar('--vscode-font-family', 'sans-serif'),
  };
}
