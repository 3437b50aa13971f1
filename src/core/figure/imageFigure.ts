/**
 * The image view as an SVG figure: the image (embedded as a data URL), its patch grid, and the
 * heat map of one token's row (each patch tinted by its weight relative to the row's strongest
 * patch), as the panel draws it. Pure.
 */
import type { ImageToken } from '../image/patches';
import { escapeXml, svgNumber, svgStart, svgTitle, TITLE_HEIGHT } from './svg';
import type { FigureStyle } from './headViewFigure';

export interface ImageFigureInput {
  /** The image file as a data URL (`data:image/png;base64,…`). */
  href: string;
  /** The image's size in its own pixels; the figure draws it at `scale`. */
  width: number;
  height: number;
  scale: number;
  tokens: readonly ImageToken[];
  /** The row drawn (weights over `tokens`), and the token it is the row of; absent: the grid alone. */
  row?: { query: number; weights: ArrayLike<number> };
  style: FigureStyle;
  accent: string;
  focus: string;
  title?: string;
}

export function imageSvg(p: ImageFigureInput): string {
  const titleH = p.title ? TITLE_HEIGHT : 0;
  const w = p.width * p.scale, h = p.height * p.scale;
  const out = [...svgStart(w, h + titleH, p.style, 12), ...svgTitle(p.title, 4, p.style.foreground)];
  out.push(`<g transform="translate(0 ${titleH})">`);
  out.push(`<image href="${escapeXml(p.href)}" x="0" y="0" width="${svgNumber(w)}" height="${svgNumber(h)}" preserveAspectRatio="none"/>`);
  const box = (t: ImageToken) => `x="${svgNumber(t.patch!.x * p.scale)}" y="${svgNumber(t.patch!.y * p.scale)}" width="${svgNumber(t.patch!.width * p.scale)}" height="${svgNumber(t.patch!.height * p.scale)}"`;
  if (p.row) {
    let max = 0;
    p.tokens.forEach((t, k) => t.patch && (max = Math.max(max, p.row!.weights[k])));
    p.tokens.forEach((t, k) => {
      if (t.patch && max > 0 && p.row!.weights[k] > 0) out.push(`<rect ${box(t)} fill="${p.accent}" fill-opacity="${svgNumber((0.8 * p.row!.weights[k]) / max, 3)}"/>`);
    });
  }
  for (const t of p.tokens) if (t.patch) out.push(`<rect ${box(t)} fill="none" stroke="#ffffff" stroke-opacity="0.25"/>`);
  const from = p.row && p.tokens[p.row.query];
  if (from?.patch) out.push(`<rect ${box(from)} fill="none" stroke="${p.focus}" stroke-width="2"/>`);
  out.push('</g>', '</svg>');
  return out.join('\n');
}
