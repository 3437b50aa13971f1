/**
 * The head correspondence of a comparison, laid out once for the panel's canvas and the SVG
 * figure: heads of A down, heads of B across, each cell the Jensen-Shannon distance (strong where
 * the patterns agree), each row's best match outlined. Pure.
 */
import { bestMatches } from '../analysis/compare';
import type { FigureStyle } from './headViewFigure';
import { TITLE_HEIGHT, escapeXml, svgNumber, svgStart, svgTitle } from './svg';

/** Side of a cell, the axis margin and the label font, in CSS pixels. */
export const CORRESPONDENCE_CELL = 26;
export const CORRESPONDENCE_AXIS = 44;
export const CORRESPONDENCE_FONT_PX = 11;

/** What the correspondence shows. */
export interface CorrespondenceInput {
  /** `[headsA × headsB]` distances, row-major. */
  distances: Float32Array;
  headsA: number;
  headsB: number;
  labelA: string;
  labelB: string;
}

/** Size of the matrix with its axes. */
export function correspondenceSize(c: Pick<CorrespondenceInput, 'headsA' | 'headsB'>): { width: number; height: number } {
  return { width: CORRESPONDENCE_AXIS + c.headsB * CORRESPONDENCE_CELL + 8, height: CORRESPONDENCE_AXIS + c.headsA * CORRESPONDENCE_CELL + 8 };
}

/** Opacity of a cell: 1 for the same pattern (distance 0), 0 for disjoint ones. */
export function correspondenceAlpha(distance: number): number {
  return Math.max(0, Math.min(1, 1 - distance));
}

/** A distance as the cells print it: two decimals without the leading zero. */
export function distanceText(d: number): string {
  return d.toFixed(2).replace(/^0/, '');
}

/** The axis captions. */
export function axisCaptions(c: Pick<CorrespondenceInput, 'labelA' | 'labelB'>): { a: string; b: string } {
  return { a: `A: ${c.labelA} heads →`, b: `B: ${c.labelB} heads →` };
}

/** The correspondence as a standalone SVG: one rectangle and one number per head pair, the best matches outlined and listed. */
export function correspondenceSvg(c: CorrespondenceInput & { style: FigureStyle; positive: string; title?: string }): string {
  const { width, height } = correspondenceSize(c);
  const best = bestMatches(c.distances, c.headsA, c.headsB);
  const listX = width + 12;
  const listW = 260;
  const titleH = c.title ? TITLE_HEIGHT : 0;
  const fullH = Math.max(height, 12 + best.length * 16) + titleH;
  const cell = CORRESPONDENCE_CELL, axis = CORRESPONDENCE_AXIS;
  const out = [...svgStart(width + listW, fullH, c.style, CORRESPONDENCE_FONT_PX), ...svgTitle(c.title, 6, c.style.foreground), `<g transform="translate(0 ${titleH})">`];
  out.push(`<g fill="${c.positive}">`);
  for (let a = 0; a < c.headsA; a++) {
    for (let b = 0; b < c.headsB; b++) {
      const d = c.distances[a * c.headsB + b];
      out.push(`<rect x="${axis + b * cell + 1}" y="${axis + a * cell + 1}" width="${cell - 2}" height="${cell - 2}" fill-opacity="${svgNumber(correspondenceAlpha(d), 3)}" data-head-a="${a}" data-head-b="${b}" data-distance="${svgNumber(d, 6)}"/>`);
    }
  }
  out.push('</g>', `<g fill="${c.style.foreground}" text-anchor="middle" dominant-baseline="central">`);
  for (let a = 0; a < c.headsA; a++) {
    for (let b = 0; b < c.headsB; b++) out.push(`<text x="${axis + b * cell + cell / 2}" y="${axis + a * cell + cell / 2}">${distanceText(c.distances[a * c.headsB + b])}</text>`);
    out.push(`<text x="${axis - 12}" y="${axis + a * cell + cell / 2}">${a + 1}</text>`);
  }
  for (let b = 0; b < c.headsB; b++) out.push(`<text x="${axis + b * cell + cell / 2}" y="${axis - 10}">${b + 1}</text>`);
  out.push('</g>', `<g fill="none" stroke="${c.style.foreground}" stroke-width="2">`);
  best.forEach((m, a) => out.push(`<rect class="best" x="${axis + m.head * cell + 1}" y="${axis + a * cell + 1}" width="${cell - 2}" height="${cell - 2}"/>`));
  const captions = axisCaptions(c);
  out.push('</g>', `<g fill="${c.style.foreground}">`, `<text x="${axis}" y="10">${escapeXml(captions.b)}</text>`, `<text transform="translate(10 ${axis}) rotate(90)">${escapeXml(captions.a)}</text>`);
  best.forEach((m, a) => out.push(`<text x="${listX}" y="${12 + a * 16}">${escapeXml(`A head ${a + 1} ~ B head ${m.head + 1} (JS ${m.distance.toFixed(3)})`)}</text>`));
  out.push('</g>', '</g>', '</svg>');
  return out.join('\n');
}
