/**
 * The text view's arcs and its figure: the input as running text (token boxes where the panel
 * laid them out), arcs from the focused token to the tokens it attends to, their opacity and
 * width from the weight, the targets shaded by weight. The canvas and the SVG use the same arc
 * geometry. Pure: the caller measures the layout (the browser's text flow).
 */
import { type FigureStyle } from './headViewFigure';
import { TITLE_HEIGHT, escapeXml, svgNumber, svgStart, svgTitle } from './svg';

export interface Point {
  x: number;
  y: number;
}

/** The control point of the arc from `a` to `b` (a quadratic curve that lifts more for far tokens, at most 60 px). */
export function arcControl(a: Point, b: Point): Point {
  const lift = Math.min(60, 14 + Math.abs(b.x - a.x) / 6 + Math.abs(b.y - a.y) / 3);
  return { x: (a.x + b.x) / 2, y: Math.min(a.y, b.y) - lift };
}

/** An arc's opacity and line width for a weight. */
export function arcStroke(weight: number): { alpha: number; width: number } {
  return { alpha: Math.min(1, 0.15 + weight), width: 1 + 3 * weight };
}

/** One token where the view laid it out. */
export interface TextFigureToken {
  x: number;
  y: number;
  width: number;
  height: number;
  text: string;
  special: boolean;
  /** The focused token, or one it attends to (with its weight). */
  role?: 'source' | 'target';
  weight?: number;
}

export interface TextFigureInput {
  width: number;
  height: number;
  tokens: readonly TextFigureToken[];
  arcs: ReadonlyArray<{ from: Point; to: Point; weight: number }>;
  style: FigureStyle;
  /** Colour of the arcs and the targets' shading; of the source's outline. */
  accent: string;
  focus: string;
  fontPx: number;
  title?: string;
}

/** The text view as a standalone SVG document. */
export function textViewSvg(p: TextFigureInput): string {
  const titleH = p.title ? TITLE_HEIGHT : 0;
  const out = [...svgStart(p.width, p.height + titleH, p.style, p.fontPx), ...svgTitle(p.title, 4, p.style.foreground)];
  out.push(`<g transform="translate(0 ${titleH})">`);
  for (const t of p.tokens) {
    if (t.role === 'target' && t.weight !== undefined) out.push(`<rect x="${svgNumber(t.x)}" y="${svgNumber(t.y)}" width="${svgNumber(t.width)}" height="${svgNumber(t.height)}" rx="2" fill="${p.accent}" fill-opacity="${svgNumber(Math.min(1, t.weight) * 0.7, 3)}"/>`);
    if (t.role === 'source') out.push(`<rect x="${svgNumber(t.x)}" y="${svgNumber(t.y)}" width="${svgNumber(t.width)}" height="${svgNumber(t.height)}" rx="2" fill="none" stroke="${p.focus}"/>`);
  }
  out.push(`<g dominant-baseline="central">`);
  for (const t of p.tokens) {
    out.push(`<text x="${svgNumber(t.x)}" y="${svgNumber(t.y + t.height / 2)}" fill="${t.special ? p.style.muted : p.style.foreground}"${t.special ? ' font-size="0.85em"' : ''} xml:space="preserve">${escapeXml(t.text)}</text>`);
  }
  out.push('</g>', `<g fill="none" stroke="${p.accent}">`);
  for (const a of p.arcs) {
    const c = arcControl(a.from, a.to);
    const s = arcStroke(a.weight);
    out.push(`<path d="M ${svgNumber(a.from.x)} ${svgNumber(a.from.y)} Q ${svgNumber(c.x)} ${svgNumber(c.y)} ${svgNumber(a.to.x)} ${svgNumber(a.to.y)}" stroke-opacity="${svgNumber(s.alpha, 3)}" stroke-width="${svgNumber(s.width)}"/>`);
  }
  out.push('</g>', '</g>', '</svg>');
  return out.join('\n');
}
