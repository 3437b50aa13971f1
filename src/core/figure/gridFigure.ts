/**
 * The head explorer's grid, laid out once for its canvas and its SVG figure: one row per layer
 * (section headers for encoder, decoder and cross attention), one cell per head in the row's
 * order, each a thumbnail over a tint, label badges in the corner. Cells are sized to the space
 * the grid has (`fitCell`), badges to the cell (`badgeMark`). Pure: the thumbnails' images come
 * from the caller (the page encodes them as it draws them).
 */
import { LABEL_RULES, headLabels } from '../analysis/headLabels';
import { type HeadGrid, cellOffsets, cellStats } from '../analysis/headGrid';
import type { ExplorerPlace } from '../protocol/explorer';
import type { FigureStyle } from './headViewFigure';
import { TITLE_HEIGHT, escapeXml, svgNumber, svgStart, svgTitle } from './svg';

/** Gap between cells and top margin (CSS pixels). */
export const GRID_GAP = 2;
export const GRID_TOP = 2;
/** Room beside the outer cells for the selection outline (2 pixels, drawn around the cell). */
const OUTLINE = 2;
/** Average glyph width of the UI fonts as a share of the font size (sizes boxes before any text is measured). */
const CHAR_W = 0.62;

/** Where the explorer is shown: the sidebar view, or a tab in the editor area. */
export type GridPlace = ExplorerPlace;

/**
 * Per place: the smallest cell before the grid scrolls instead of shrinking (in the editor area,
 * the scale of bertviz's model view), the largest, and the font of row labels.
 */
export const GRID_PLACES: Record<GridPlace, { minCell: number; maxCell: number; fontPx: number }> = {
  sidebar: { minCell: 14, maxCell: 96, fontPx: 11 },
  editor: { minCell: 64, maxCell: 160, fontPx: 13 },
};

/** Where the row labels go: a column left of the cells, or a line above each row (where the width is short). */
export type RowLabels = 'left' | 'above';

/** Where everything of the grid goes. */
export interface GridLayout {
  cell: number;
  width: number;
  height: number;
  labels: RowLabels;
  /** Left x of the first column: the label column's width (or a one-pixel margin, labels above). */
  labelWidth: number;
  /** Height of the label line above each row (0 with labels at the left). */
  labelLine: number;
  /** Font size of row labels and section headers. */
  fontPx: number;
  /** Top y of each row's cells. */
  rowY: number[];
  sections: Array<{ y: number; label: string }>;
  /** Display order of heads per row. */
  order: number[][];
  offsets: number[];
}

/** A row's label in a label column: sections name the kind, so "L3". */
export function rowLabel(label: string): string {
  return label.replace(/^(\w+ )?Layer /, 'L');
}

/** A row's label as the layout writes it: "L3" in a label column, "Layer 3" on a line above the row. */
export function rowText(l: GridLayout, label: string): string {
  return l.labels === 'left' ? rowLabel(label) : label.replace(/^(\w+ )?Layer /, 'Layer ');
}

/** Height of a section header (encoder, decoder, cross) at `fontPx`. */
export function sectionHeight(fontPx: number): number {
  return fontPx + 6;
}
const sectionCount = (grid: HeadGrid) => grid.rows.filter((row, r) => row.section !== 'self' && row.section !== grid.rows[r - 1]?.section).length;

/** What the labels take: the first column's x and the line above each row. */
function labelRoom(grid: HeadGrid, fontPx: number, labels: RowLabels): { firstX: number; line: number } {
  if (labels === 'above') return { firstX: OUTLINE, line: fontPx + 4 };
  return { firstX: Math.ceil(Math.max(2, ...grid.rows.map((r) => rowLabel(r.label).length)) * fontPx * CHAR_W) + 10, line: 0 };
}

/**
 * The cell size (CSS pixels) that shows the whole grid in `space` (the grid's box) within the
 * place's limits, and where the row labels go: left of the cells, or above each row where that
 * leaves larger cells (a narrow sidebar). Below the minimum the grid keeps it and scrolls.
 */
export function fitCell(grid: HeadGrid, space: { width: number; height: number }, place: GridPlace): { cell: number; labels: RowLabels } {
  const { minCell, maxCell, fontPx } = GRID_PLACES[place];
  const maxHeads = Math.max(1, ...grid.rows.map((r) => r.heads));
  const rows = Math.max(1, grid.rows.length);
  const fit = (labels: RowLabels) => {
    const { firstX, line } = labelRoom(grid, fontPx, labels);
    // width = firstX + n·cell + (n − 1)·gap + outline; height = 2·top + sections + rows·(line + cell + gap)
    const byWidth = Math.floor((space.width - firstX - OUTLINE + GRID_GAP) / maxHeads) - GRID_GAP;
    const byHeight = Math.floor((space.height - 2 * GRID_TOP - sectionCount(grid) * sectionHeight(fontPx)) / rows) - line - GRID_GAP;
    return Math.max(minCell, Math.min(maxCell, byWidth, byHeight));
  };
  const left = fit('left'), above = fit('above');
  return above > left ? { cell: above, labels: 'above' } : { cell: left, labels: 'left' };
}

/** Lays out `grid` with cells of `cell` pixels, heads in `order` per row, row labels at `fontPx` on the `labels` side. */
export function gridLayout(grid: HeadGrid, order: number[][], cell: number, fontPx = GRID_PLACES.sidebar.fontPx, labels: RowLabels = 'left'): GridLayout {
  const maxHeads = Math.max(1, ...grid.rows.map((r) => r.heads));
  const { firstX, line } = labelRoom(grid, fontPx, labels);
  const rowY: number[] = [];
  const sections: GridLayout['sections'] = [];
  let y = GRID_TOP;
  let section = '';
  for (const row of grid.rows) {
    if (row.section !== section && row.section !== 'self') {
      sections.push({ y, label: row.section });
      y += sectionHeight(fontPx);
    }
    section = row.section;
    rowY.push(y + line);
    y += line + cell + GRID_GAP;
  }
  return { cell, width: firstX + maxHeads * (cell + GRID_GAP) - GRID_GAP + OUTLINE, height: y + GRID_TOP, labels, labelWidth: firstX, labelLine: line, fontPx, rowY, sections, order, offsets: cellOffsets(grid.rows) };
}

/** Left x of column `column`. */
export function columnX(l: GridLayout, column: number): number {
  return l.labelWidth + column * (l.cell + GRID_GAP);
}

/** Where a row's label is written: its anchor point and alignment. */
export function rowLabelAt(l: GridLayout, row: number): { x: number; y: number; align: 'end' | 'start' } {
  return l.labels === 'left' ? { x: l.labelWidth - 6, y: l.rowY[row] + l.cell / 2, align: 'end' } : { x: 1, y: l.rowY[row] - l.labelLine / 2, align: 'start' };
}

/** A cell's badges: its labels' marks. */
export function cellBadges(grid: HeadGrid, cell: number): string {
  return headLabels(cellStats(grid, cell)).map((b) => b.badge).join('');
}

/** Cells below this size get a corner mark instead of badge letters. */
export const BADGE_MIN_CELL = 28;

/** How a cell's badges are drawn: letters in a box at the bottom right, or a coloured corner when they would not be legible. */
export type BadgeMark = { kind: 'text'; fontPx: number; width: number; height: number } | { kind: 'corner'; size: number };

/** The mark for badges `text` on a cell of `cell` pixels (undefined without badges): letters of at least 10 px, or a corner. */
export function badgeMark(text: string, cell: number): BadgeMark | undefined {
  if (!text) return undefined;
  const fontPx = Math.min(14, Math.max(10, Math.round(cell / 5)));
  const width = Math.ceil(text.length * fontPx * CHAR_W) + 4;
  if (cell >= BADGE_MIN_CELL && width <= cell - 2) return { kind: 'text', fontPx, width, height: fontPx + 3 };
  return { kind: 'corner', size: Math.max(5, Math.round(cell / 4)) };
}

/**
 * The key to the badges that occur in `grid` ("P previous-token", in the rule table's order), in
 * lines of at most `width` pixels at `fontPx`.
 */
export function badgeKey(grid: HeadGrid, width: number, fontPx: number): string[] {
  const cells = cellOffsets(grid.rows).at(-1)!;
  const seen = new Set<string>();
  for (let c = 0; c < cells; c++) for (const l of headLabels(cellStats(grid, c))) seen.add(l.label);
  const lines: string[] = [];
  for (const entry of LABEL_RULES.filter((r) => seen.has(r.label)).map((r) => `${r.badge} ${r.label}`)) {
    const line = lines.length > 0 ? `${lines[lines.length - 1]} · ${entry}` : entry;
    if (lines.length > 0 && line.length * fontPx * CHAR_W <= width) lines[lines.length - 1] = line;
    else lines.push(entry);
  }
  return lines;
}

/** Tint opacity of a cell coloured `t` (0…1). */
export function tintAlpha(t: number): number {
  return 0.15 + 0.7 * t;
}

/** Colours of the grid beyond a figure's style. */
export interface GridColors {
  cellBg: string;
  tint: string;
  badgeBg: string;
  badgeFg: string;
  /** The corner mark of a cell too small for badge letters. */
  corner: string;
}

export interface GridFigureInput {
  grid: HeadGrid;
  layout: GridLayout;
  /** Per cell: tint 0…1, NaN for none. */
  tints: Float32Array;
  /** Cells the label filter dims. */
  dimmed: (cell: number) => boolean;
  /** Per cell, its thumbnail as an image URI (a PNG data URI). */
  image: (cell: number) => string;
  style: FigureStyle;
  colors: GridColors;
  /** Selected cells, outlined. */
  selected?: Array<{ row: number; head: number }>;
  selection?: string;
  title?: string;
}

/** A cell's badge mark as SVG, in cell coordinates. */
function badgeSvg(badges: string, cell: number, colors: GridColors): string[] {
  const m = badgeMark(badges, cell);
  if (!m) return [];
  if (m.kind === 'corner') return [`<path d="M${cell} ${cell - m.size}V${cell}H${cell - m.size}Z" fill="${colors.corner}"><title>${escapeXml(badges)}</title></path>`];
  return [
    `<rect x="${cell - m.width}" y="${cell - m.height}" width="${m.width}" height="${m.height}" fill="${colors.badgeBg}"/>`,
    `<text x="${cell - m.width + 2}" y="${svgNumber(cell - m.height / 2)}" dominant-baseline="central" font-size="${m.fontPx}" fill="${colors.badgeFg}">${escapeXml(badges)}</text>`,
  ];
}

/** The grid as a standalone SVG: every cell with its thumbnail, tint and badges, row labels as text, the badges' key below. */
export function gridSvg(p: GridFigureInput): string {
  const l = p.layout;
  const titleH = p.title ? TITLE_HEIGHT : 0;
  const key = badgeKey(p.grid, l.width - 4, l.fontPx);
  const lineH = l.fontPx + 6;
  const keyH = key.length > 0 ? key.length * lineH + 4 : 0;
  const out = [...svgStart(l.width, l.height + titleH + keyH, p.style, l.fontPx), ...svgTitle(p.title, 6, p.style.foreground), `<g transform="translate(0 ${titleH})">`];
  for (const s of l.sections) out.push(`<text x="2" y="${s.y + sectionHeight(l.fontPx) / 2}" dominant-baseline="central" fill="${p.style.muted}">${escapeXml(s.label)}</text>`);
  p.grid.rows.forEach((row, r) => {
    const y = l.rowY[r];
    const at = rowLabelAt(l, r);
    out.push(`<text x="${svgNumber(at.x)}" y="${svgNumber(at.y)}" text-anchor="${at.align}" dominant-baseline="central" fill="${p.style.muted}">${escapeXml(rowText(l, row.label))}</text>`);
    l.order[r].forEach((head, column) => {
      const cell = l.offsets[r] + head;
      const x = columnX(l, column);
      const t = p.tints[cell];
      const parts = [
        `<rect width="${l.cell}" height="${l.cell}" fill="${p.colors.cellBg}"/>`,
        ...(Number.isNaN(t) ? [] : [`<rect width="${l.cell}" height="${l.cell}" fill="${p.colors.tint}" fill-opacity="${svgNumber(tintAlpha(t), 3)}"/>`]),
        `<image width="${l.cell}" height="${l.cell}" href="${p.image(cell)}"/>`,
        ...badgeSvg(cellBadges(p.grid, cell), l.cell, p.colors),
      ];
      out.push(`<g class="cell" data-layer="${r}" data-head="${head}" transform="translate(${svgNumber(x)} ${svgNumber(y)})"${p.dimmed(cell) ? ' opacity="0.25"' : ''}>`, ...parts, '</g>');
    });
  });
  for (const s of p.selected ?? []) {
    const column = l.order[s.row]?.indexOf(s.head) ?? -1;
    if (column >= 0) out.push(`<rect class="selected" x="${svgNumber(columnX(l, column) - 1)}" y="${svgNumber(l.rowY[s.row] - 1)}" width="${l.cell + 2}" height="${l.cell + 2}" fill="none" stroke="${p.selection ?? p.style.foreground}" stroke-width="2"/>`);
  }
  key.forEach((line, i) => out.push(`<text class="key" x="2" y="${svgNumber(l.height + 2 + (i + 0.5) * lineH)}" dominant-baseline="central" fill="${p.style.muted}">${escapeXml(line)}</text>`));
  out.push('</g>', '</svg>');
  return out.join('\n');
}
