/**
 * The matrix view's layout and heat map, shared by the panel's canvas and the SVG figure: queries
 * down, keys across, the mean of the shown heads, alpha √|weight| in the theme's blue (red for
 * negative values), the region zoomed into, and token labels when cells are large enough. Large
 * matrices are max-pooled (no strong link disappears), on screen to the canvas's pixels and in a
 * figure to at most POOLED_MAX blocks a side. Pure: text is measured by the caller.
 */
import { type AttentionRecord, row } from '../attention';
import { tokenLabel } from '../tokens';
import { type FigureStyle, type Measure, clipLabel } from './headViewFigure';
import { TITLE_HEIGHT, escapeXml, svgNumber, svgStart, svgTitle } from './svg';

export const MATRIX_LABEL_MAX = 110;
/** Cells smaller than this (CSS pixels) get no labels. */
export const MIN_LABEL_CELL = 9;
export const MATRIX_PAD = 4;
export const MATRIX_FONT_PX = 11;
/** A figure draws at most this many blocks along each side; larger matrices are max-pooled. */
export const POOLED_MAX = 256;

/** Cells of the matrix on screen (the whole matrix, or the region zoomed into). */
export interface Region {
  q0: number;
  q1: number;
  k0: number;
  k1: number;
}

export interface MatrixLayout {
  left: number;
  top: number;
  cell: number;
  showLabels: boolean;
  width: number;
  height: number;
}

export function fullRegion(r: AttentionRecord): Region {
  return { q0: 0, q1: r.queries, k0: 0, k1: r.keys };
}

/** Where the heat map and labels go in `width` × `height` CSS pixels. */
export function matrixLayout(r: AttentionRecord, reg: Region, width: number, height: number, measure: Measure): MatrixLayout {
  const nq = reg.q1 - reg.q0;
  const nk = reg.k1 - reg.k0;
  const labelW = (tokens: AttentionRecord['queryTokens'], from: number, to: number) => Math.min(MATRIX_LABEL_MAX, Math.max(24, ...tokens.slice(from, to).map((t) => measure(tokenLabel(t)) + 8)));
  let cell = Math.min((width - 2 * MATRIX_PAD) / nk, (height - 2 * MATRIX_PAD) / nq);
  const showLabels = cell >= MIN_LABEL_CELL;
  const left = MATRIX_PAD + (showLabels ? labelW(r.queryTokens, reg.q0, reg.q1) : 0);
  const top = MATRIX_PAD + (showLabels ? labelW(r.keyTokens, reg.k0, reg.k1) : 0);
  cell = Math.max(0.25, Math.min((width - left - MATRIX_PAD) / nk, (height - top - MATRIX_PAD) / nq));
  return { left, top, cell, showLabels, width: left + nk * cell + MATRIX_PAD, height: top + nq * cell + MATRIX_PAD };
}

/** The mean over the shown heads, `[queries][keys]`. */
export function meanOfHeads(r: AttentionRecord, visibleHeads: readonly boolean[]): Float32Array {
  const heads = visibleHeads.flatMap((v, h) => (v ? [h] : []));
  const data = new Float32Array(r.queries * r.keys);
  for (const h of heads) {
    for (let q = 0; q < r.queries; q++) {
      const src = row(r, h, q);
      for (let k = 0; k < r.keys; k++) data[q * r.keys + k] += src[k] / heads.length;
    }
  }
  return data;
}

/** `data` (`[queries][keys]`) in `reg` pooled to `pw` × `ph` blocks, each the value of largest magnitude it covers. */
export function poolMatrix(data: Float32Array, keys: number, reg: Region, pw: number, ph: number): Float32Array {
  const nq = reg.q1 - reg.q0;
  const nk = reg.k1 - reg.k0;
  const best = new Float32Array(pw * ph);
  for (let q = reg.q0; q < reg.q1; q++) {
    const y0 = Math.floor(((q - reg.q0) * ph) / nq), y1 = Math.max(y0 + 1, Math.floor(((q - reg.q0 + 1) * ph) / nq));
    const rowData = data.subarray(q * keys, (q + 1) * keys);
    for (let k = reg.k0; k < reg.k1; k++) {
      const v = rowData[k];
      const a = Math.abs(v);
      const x0 = Math.floor(((k - reg.k0) * pw) / nk), x1 = Math.max(x0 + 1, Math.floor(((k - reg.k0 + 1) * pw) / nk));
      for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) if (a > Math.abs(best[y * pw + x])) best[y * pw + x] = v;
    }
  }
  return best;
}

/** Opacity of a value: √ so weak structure stays visible. */
export function matrixAlpha(v: number): number {
  return Math.sqrt(Math.min(1, Math.abs(v)));
}

export interface MatrixFigureInput {
  record: AttentionRecord;
  visibleHeads: readonly boolean[];
  region?: Region;
  /** The view's size on screen. */
  width: number;
  height: number;
  style: FigureStyle;
  /** Hues of positive and negative values. */
  positive: string;
  negative: string;
  measure: Measure;
  title?: string;
}

/** The matrix view as a standalone SVG: one rectangle per cell (or pooled block), labels as text. */
export function matrixSvg(p: MatrixFigureInput): string {
  const r = p.record;
  const reg = p.region ?? fullRegion(r);
  const g = matrixLayout(r, reg, p.width, p.height, p.measure);
  const titleH = p.title ? TITLE_HEIGHT : 0;
  const nq = reg.q1 - reg.q0;
  const nk = reg.k1 - reg.k0;
  const pw = Math.min(nk, POOLED_MAX);
  const ph = Math.min(nq, POOLED_MAX);
  const values = poolMatrix(meanOfHeads(r, p.visibleHeads), r.keys, reg, pw, ph);
  const bw = (nk * g.cell) / pw;
  const bh = (nq * g.cell) / ph;
  const out = [...svgStart(g.width, g.height + titleH, p.style, MATRIX_FONT_PX), ...svgTitle(p.title, MATRIX_PAD, p.style.foreground)];
  out.push(`<g transform="translate(0 ${titleH})">`);
  for (const [sign, color] of [[1, p.positive], [-1, p.negative]] as const) {
    out.push(`<g class="cells" fill="${color}" shape-rendering="crispEdges">`);
    for (let y = 0; y < ph; y++) {
      for (let x = 0; x < pw; x++) {
        const v = values[y * pw + x];
        if (v === 0 || Math.sign(v) !== sign) continue;
        out.push(`<rect x="${svgNumber(g.left + x * bw)}" y="${svgNumber(g.top + y * bh)}" width="${svgNumber(bw, 3)}" height="${svgNumber(bh, 3)}" fill-opacity="${svgNumber(matrixAlpha(v), 3)}"/>`);
      }
    }
    out.push('</g>');
  }
  if (g.showLabels) {
    out.push(`<g fill="${p.style.foreground}" dominant-baseline="central">`);
    for (let q = reg.q0; q < reg.q1; q++) out.push(`<text x="${svgNumber(g.left - 4)}" y="${svgNumber(g.top + (q - reg.q0 + 0.5) * g.cell)}" text-anchor="end">${escapeXml(clipLabel(tokenLabel(r.queryTokens[q]), g.left - MATRIX_PAD - 4, p.measure))}</text>`);
    for (let k = reg.k0; k < reg.k1; k++) {
      const x = svgNumber(g.left + (k - reg.k0 + 0.5) * g.cell);
      out.push(`<text transform="translate(${x} ${svgNumber(g.top - 4)}) rotate(-90)" text-anchor="start">${escapeXml(clipLabel(tokenLabel(r.keyTokens[k]), g.top - MATRIX_PAD - 4, p.measure))}</text>`);
    }
    out.push('</g>');
  }
  out.push('</g>', '</svg>');
  return out.join('\n');
}
