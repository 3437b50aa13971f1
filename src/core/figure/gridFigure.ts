/**
 * The head explorer's grid, laid out once for its canvas and its SVG figure: one row per layer
 * (section headers for encoder, decoder and cross attention), one cell per head in the row's
 * order, each a thumbnail over a tint, label badges in the corner. Pure: the thumbnails' images
 * come from the caller (the page encodes them as it draws them).
 */
import { headLabels } from '../analysis/headLabels';
import { type HeadGrid, cellOffsets, cellStats } from '../analysis/headGrid';
import type { FigureStyle } from './headViewFigure';
import { TITLE_HEIGHT, escapeXml, svgNumber, svgStart, svgTitle } from './svg';

/** Width of the row labels, gap between cells, height of a section header, top margin (CSS pixels). */
export const GRID_LABEL_W = 58;
export const GRID_GAP = 2;
export const GRID_SECTION_H = 16;
export const GRID_TOP = 2;
export const GRID_FONT_PX = 10;

/** Where everything of the grid goes. */
export interface GridLayout {
  cell: number;
  width: number;
  height: number;
  /** Top y of each row. */
  rowY: number[];
  sections: Array<{ y: number; label: string }>;
  /** Display order of heads per row. */
  order: number[][];
  offsets: number[];
}

/** Lays out `grid` with cells of `cell` pixels and heads in `order` per row. */
export function gridLayout(grid: HeadGrid, order: number[][], cell: number): GridLayout {
  const maxHeads = Math.max(1, ...grid.rows.map((r) => r.heads));
  const rowY: number[] = [];
  const sections: GridLayout['sections'] = [];
  let y = GRID_TOP;
  let section = '';
  for (const row of grid.rows) {
    if (row.section !== section && row.section !== 'self') {
      sections.push({ y, label: row.section });
      y += GRID_SECTION_H;
    }
    section = row.section;
    rowY.push(y);
    y += cell + GRID_GAP;
  }
  return { cell, width: GRID_LABEL_W + maxHeads * (cell + GRID_GAP), height: y + GRID_TOP, rowY, sections, order, offsets: cellOffsets(grid.rows) };
}

/** Left x of column `column`. */
export function columnX(l: GridLayout, column: number): number {
  return GRID_LABEL_W + column * (l.cell + GRID_GAP);
}

/** A row's label in the grid: sections name the kind, so "L3". */
export function rowLabel(label: string): string {
  return label.replace(/^(\w+ )?Layer /, 'L');
}

/** A cell's badges: its labels' one-letter marks. */
export function cellBadges(grid: HeadGrid, cell: number): string {
  return headLabels(cellStats(grid, cell)).map((b) => b.badge).join('');
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

/** The grid as a standalone SVG: every cell with its thumbnail, tint and badges, row labels as text. */
export function gridSvg(p: GridFigureInput): string {
  const l = p.layout;
  const titleH = p.title ? TITLE_HEIGHT : 0;
  const out = [...svgStart(l.width, l.height + titleH, p.style, GRID_FONT_PX), ...svgTitle(p.title, 6, p.style.foreground), `<g transform="translate(0 ${titleH})">`];
  for (const s of l.sections) out.push(`<text x="2" y="${s.y + GRID_SECTION_H / 2}" dominant-baseline="central" fill="${p.style.muted}">${escapeXml(s.label)}</text>`);
  p.grid.rows.forEach((row, r) => {
    const y = l.rowY[r];
    out.push(`<text x="${GRID_LABEL_W - 6}" y="${svgNumber(y + l.cell / 2)}" text-anchor="end" dominant-baseline="central" fill="${p.style.muted}">${escapeXml(rowLabel(row.label))}</text>`);
    l.order[r].forEach((head, column) => {
      const cell = l.offsets[r] + head;
      const x = columnX(l, column);
      const t = p.tints[cell];
      const parts = [
        `<rect width="${l.cell}" height="${l.cell}" fill="${p.colors.cellBg}"/>`,
        ...(Number.isNaN(t) ? [] : [`<rect width="${l.cell}" height="${l.cell}" fill="${p.colors.tint}" fill-opacity="${svgNumber(tintAlpha(t), 3)}"/>`]),
        `<image width="${l.cell}" height="${l.cell}" href="${p.image(cell)}"/>`,
      ];
      const badges = cellBadges(p.grid, cell);
      if (badges && l.cell >= 20) {
        const w = badges.length * GRID_FONT_PX * 0.6 + 4;
        parts.push(`<rect x="${svgNumber(l.cell - w)}" y="${l.cell - 11}" width="${svgNumber(w)}" height="11" fill="${p.colors.badgeBg}"/>`, `<text x="${svgNumber(l.cell - w + 2)}" y="${l.cell - 5}" dominant-baseline="central" fill="${p.colors.badgeFg}">${escapeXml(badges)}</text>`);
      }
      out.push(`<g class="cell" data-layer="${r}" data-head="${head}" transform="translate(${svgNumber(x)} ${svgNumber(y)})"${p.dimmed(cell) ? ' opacity="0.25"' : ''}>`, ...parts, '</g>');
    });
  });
  for (const s of p.selected ?? []) {
    const column = l.order[s.row]?.indexOf(s.head) ?? -1;
    if (column >= 0) out.push(`<rect class="selected" x="${svgNumber(columnX(l, column) - 1)}" y="${svgNumber(l.rowY[s.row] - 1)}" width="${l.cell + 2}" height="${l.cell + 2}" fill="none" stroke="${p.selection ?? p.style.foreground}" stroke-width="2"/>`);
  }
  out.push('</g>', '</svg>');
  return out.join('\n');
}
