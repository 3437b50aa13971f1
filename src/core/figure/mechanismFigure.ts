/**
 * The mechanism view's arithmetic for drawing, shared by the panel and the SVG figure: the key
 * order (position or weight), the colour scale of each column of vectors (so a colour means the
 * same size in every row), a vector cell's colour and opacity, and the whole view as a standalone
 * SVG (every key, not only the rows in sight). Pure.
 */
import { type MechanismLayer, mechanismRow as vectorOf, queryRow } from '../mechanism';
import type { FigureStyle } from './headViewFigure';
import { escapeXml, svgNumber, svgStart } from './svg';

export type KeyOrder = 'position' | 'weight';

/** Keys in display order: by position, or by weight (highest first, ties by position). */
export function keyOrder(weights: ArrayLike<number>, order: KeyOrder): number[] {
  const keys = Array.from({ length: weights.length }, (_, j) => j);
  return order === 'weight' ? keys.sort((a, b) => weights[b] - weights[a] || a - b) : keys;
}


/** The largest |value| of each column kind over all keys (k, q∘k, weight × v); 1 where all are 0. */
export function columnScales(m: MechanismLayer, head: number, query: number, weights: ArrayLike<number>): { k: number; qk: number; wv: number } {
  const q = vectorOf(m.q, m.queries, m.headDim, head, queryRow(m, query));
  let k = 0, qk = 0, wv = 0;
  for (let j = 0; j < m.keys; j++) {
    const kv = vectorOf(m.k, m.keys, m.headDim, head, j);
    const v = vectorOf(m.v, m.keys, m.valueDim, head, j);
    for (let d = 0; d < m.headDim; d++) {
      k = Math.max(k, Math.abs(kv[d]));
      qk = Math.max(qk, Math.abs(q[d] * kv[d]));
    }
    for (let d = 0; d < m.valueDim; d++) wv = Math.max(wv, Math.abs(weights[j] * v[d]));
  }
  return { k: k || 1, qk: qk || 1, wv: wv || 1 };
}

/** A vector cell: the positive or negative hue, opaque in proportion to |value| / scale. */
export function cellTone(x: number, scale: number): { positive: boolean; alpha: number } {
  return { positive: x >= 0, alpha: Math.min(1, Math.abs(x) / scale) };
}

/** Share of each head in the layer's output for `query` (‖o·W_Oʰ‖ over all heads). */
export function headShare(m: MechanismLayer, head: number, query: number): number {
  const row = queryRow(m, query);
  let total = 0;
  for (let h = 0; h < m.heads; h++) total += m.headNorms[h * m.queries + row];
  return total > 0 ? m.headNorms[head * m.queries + row] / total : 0;
}

export interface MechanismFigureInput {
  layer: MechanismLayer;
  head: number;
  query: number;
  order: KeyOrder;
  weights: Float32Array;
  queryTokens: readonly string[];
  keyTokens: readonly string[];
  style: FigureStyle;
  positive: string;
  negative: string;
  accent: string;
  title?: string;
}

const ROW = 20;
const CELL = 3;
const FONT = 11;

/** The mechanism of one head and query as a standalone SVG: steps, query vector, one row per key, output. */
export function mechanismSvg(p: MechanismFigureInput): string {
  const m = p.layer;
  const h = p.head;
  const scales = columnScales(m, h, p.query, p.weights);
  /** A vector column: its strip, and room for its header. */
  const stripW = (n: number) => Math.max(n * CELL, 72);
  const cols = [
    { name: 'key', w: 110 },
    { name: 'k', w: stripW(m.headDim) + 12 },
    { name: 'q∘k', w: stripW(m.headDim) + 12 },
    { name: 'q·k', w: 64 },
    { name: 'score', w: 64 },
    { name: 'weight', w: 64 },
    { name: 'weight × v', w: stripW(m.valueDim) + 12 },
    { name: 'contribution', w: 80 },
  ];
  const x: number[] = [];
  cols.reduce((at, c) => (x.push(at), at + c.w), 8);
  const width = x[x.length - 1] + cols[cols.length - 1].w + 8;
  const out: string[] = [];
  const text = (tx: number, ty: number, s: string, attrs = '') => out.push(`<text x="${svgNumber(tx)}" y="${svgNumber(ty)}"${attrs}>${escapeXml(s)}</text>`);
  const strip = (values: ArrayLike<number>, scale: number, sx: number, sy: number) => {
    out.push(`<g transform="translate(${svgNumber(sx)} ${svgNumber(sy)})">`);
    for (let d = 0; d < values.length; d++) {
      const t = cellTone(values[d], scale);
      if (t.alpha > 0) out.push(`<rect x="${d * CELL}" width="${CELL}" height="12" fill="${t.positive ? p.positive : p.negative}" fill-opacity="${svgNumber(t.alpha, 3)}"/>`);
    }
    out.push(`<rect width="${values.length * CELL}" height="12" fill="none" stroke="${p.style.muted}" stroke-opacity="0.4"/>`, '</g>');
  };
  let y = 16;
  if (p.title) {
    text(8, y, p.title, ' font-size="12"');
    y += 20;
  }
  const row = queryRow(m, p.query);
  const q = vectorOf(m.q, m.queries, m.headDim, h, row);
  const scale = m.scale === null ? 'a factor that is not a constant of the graph' : svgNumber(m.scale, 4);
  text(8, y, `Query "${p.queryTokens[p.query] ?? p.query}" (#${p.query}), head ${h + 1} of ${m.name}, ${m.headDim} dimensions.`);
  y += 16;
  text(8, y, `score = ${scale} × q·k${m.shaped ? ', soft-capped' : ''} + mask and bias; weight = softmax(score); output = Σ weight × v.`);
  y += 18;
  text(8, y + 10, 'q');
  strip(q, Math.max(...Array.from(q, Math.abs)) || 1, 24, y);
  y += 26;
  cols.forEach((c, i) => text(x[i], y, c.name, ` fill="${p.style.muted}"`));
  y += 8;
  for (const j of keyOrder(p.weights, p.order)) {
    const kv = vectorOf(m.k, m.keys, m.headDim, h, j);
    const v = vectorOf(m.v, m.keys, m.valueDim, h, j);
    const prod = Array.from(kv, (kx, d) => kx * q[d]);
    const score = m.scores[(h * m.queries + row) * m.keys + j];
    const w = p.weights[j];
    const cy = y + ROW / 2;
    out.push(`<g class="key" data-key="${j}" data-weight="${svgNumber(w, 6)}">`);
    out.push(`<rect x="${svgNumber(x[5])}" y="${svgNumber(y + 3)}" width="${svgNumber(cols[5].w * Math.max(0, Math.min(1, w)))}" height="${ROW - 6}" fill="${p.accent}" fill-opacity="0.45"/>`);
    text(x[0], cy + 4, `${j} ${p.keyTokens[j] ?? ''}`.slice(0, 18));
    strip(kv, scales.k, x[1], y + 4);
    strip(prod, scales.qk, x[2], y + 4);
    text(x[3], cy + 4, prod.reduce((a, b) => a + b, 0).toFixed(4));
    text(x[4], cy + 4, Number.isNaN(score) ? 'masked' : score.toFixed(4));
    text(x[5] + 2, cy + 4, w.toFixed(4));
    strip(Array.from(v, (vx) => vx * w), scales.wv, x[6], y + 4);
    text(x[7], cy + 4, m.contribution[(h * m.queries + row) * m.keys + j].toFixed(4));
    out.push('</g>');
    y += ROW;
  }
  y += 16;
  const o = vectorOf(m.output, m.queries, m.valueDim, h, row);
  text(8, y + 10, 'output = Σ weight × v');
  strip(o, Math.max(...Array.from(o, Math.abs)) || 1, 150, y);
  y += 30;
  text(8, y, `This head's share of the layer's output for this token: ${(headShare(m, h, p.query) * 100).toFixed(1)} % (${m.contributionBasis === 'output-projection' ? '‖o·W_Oʰ‖' : '‖o‖'} over ${m.heads} heads).`);
  y += 12;
  return [...svgStart(width, y, p.style, FONT, ` fill="${p.style.foreground}"`), ...out, '</svg>'].join('\n');
}
