/**
 * The head view's layout, shared by the panel's canvases and the SVG figure, so an exported
 * figure is the view itself (same links, same opacity steps, same label widths and clipping),
 * not a re-layout: query tokens left, key tokens right, one line per link whose opacity is the
 * weight and whose colour is the head. Pure: text is measured by a function the caller supplies.
 */
import type { AttentionRecord } from '../attention';
import { ALPHA_BUCKETS, alphaBucket, selectLinks, signedBucket } from '../analysis/links';
import { DIFFERENCE_COLORS, headColor } from '../palette';
import { tokenLabel } from '../tokens';
import { escapeXml, svgNumber, svgStart } from './svg';

/** Row height of one token, in CSS pixels. */
export const ROW = 18;
/** Space above the first row (and below the last). */
export const TOP = 6;
/** Token labels are at most this wide. */
export const LABEL_MAX = 170;
export const FONT_PX = 12;
export const LINK_WIDTH = 1.5;

/** Width of a string in the label font, in CSS pixels. */
export type Measure = (text: string) => number;

/** Width of the label columns: the widest label plus padding, within [40, LABEL_MAX]. */
export function labelWidth(record: AttentionRecord, measure: Measure): number {
  let w = 40;
  for (const t of [...record.queryTokens, ...record.keyTokens]) w = Math.max(w, Math.min(LABEL_MAX, measure(tokenLabel(t)) + 12));
  return w;
}

/** Width of the whole view for `available` pixels (0: unknown). */
export function viewWidth(labelW: number, available: number): number {
  // Narrow panes (a comparison side by side) get their own width rather than a clipped view.
  return Math.max(available ? Math.min(320, available) : 320, Math.min(available || 640, 2 * labelW + 420));
}

/** Height of all rows. */
export function contentHeight(record: AttentionRecord): number {
  return TOP * 2 + Math.max(record.queries, record.keys) * ROW;
}

/** `text` shortened with an ellipsis to fit `max` pixels. */
export function clipLabel(text: string, max: number, measure: Measure): string {
  if (measure(text) <= max) return text;
  let t = text;
  while (t.length > 1 && measure(t + '…') > max) t = t.slice(0, -1);
  return t + '…';
}

/** Opacity of links in a bucket (the canvas strokes each bucket at this alpha). */
export function bucketAlpha(bucket: number): number {
  return (bucket + 1) / ALPHA_BUCKETS;
}

/** A figure's title: the model, the record and the heads drawn ("all 4 heads", "head 3", "heads 1, 3"). */
export function figureTitle(model: string, r: Pick<AttentionRecord, 'label' | 'heads'>, heads: readonly number[]): string {
  const which = r.heads === 1 ? '' : heads.length === r.heads ? ` · all ${r.heads} heads` : ` · head${heads.length === 1 ? '' : 's'} ${heads.map((h) => h + 1).join(', ')}`;
  return `${model} · ${r.label}${which}`;
}

/** Concrete colours and the font of a figure (theme values resolved by the caller). */
export interface FigureStyle {
  background: string;
  foreground: string;
  /** Special tokens' labels. */
  muted: string;
  fontFamily: string;
}

/** A light style for figures made outside VS Code (the CLI). */
export const LIGHT_STYLE: FigureStyle = { background: '#ffffff', foreground: '#1f1f1f', muted: '#6e6e6e', fontFamily: 'Menlo, Consolas, "DejaVu Sans Mono", monospace' };

export interface HeadViewFigureInput {
  record: AttentionRecord;
  visibleHeads: readonly boolean[];
  maxLinksPerQuery: number;
  style: FigureStyle;
  measure: Measure;
  /** The view's width on screen (0: the default). */
  width?: number;
  /** A line above the figure (model, layer, heads); none when absent. */
  title?: string;
  /** Hues of a signed record's positive and negative links (A − B); concrete colours. */
  positive?: string;
  negative?: string;
}

/** The head view of `record` as a standalone SVG document: every row, every drawn link, text as text. */
export function headViewSvg(p: HeadViewFigureInput): string {
  const { record, style } = p;
  const labelW = labelWidth(record, p.measure);
  const width = viewWidth(labelW, p.width ?? 0);
  const titleH = p.title ? ROW + 6 : 0;
  const height = contentHeight(record) + titleH;
  const leftX = labelW;
  const rightX = width - labelW;
  const y = (i: number) => titleH + TOP + i * ROW + ROW / 2;
  const out: string[] = svgStart(width, height, style, FONT_PX);
  if (p.title) out.push(`<text x="6" y="${ROW / 2 + 4}" dominant-baseline="central" fill="${style.foreground}">${escapeXml(p.title)}</text>`);
  for (let h = 0; h < record.heads; h++) {
    if (!p.visibleHeads[h]) continue;
    const set = selectLinks(record, h, p.maxLinksPerQuery, record.causal, record.signed);
    // A difference is coloured by sign (one group per sign), weights by head.
    const groups = record.signed
      ? [{ color: p.positive ?? DIFFERENCE_COLORS.positive, keep: (w: number) => w > 0 }, { color: p.negative ?? DIFFERENCE_COLORS.negative, keep: (w: number) => w < 0 }]
      : [{ color: headColor(h), keep: () => true }];
    for (const { color, keep } of groups) {
      const buckets: string[][] = Array.from({ length: ALPHA_BUCKETS }, () => []);
      for (let i = 0; i < set.length; i++) {
        if (!keep(set.weight[i])) continue;
        buckets[record.signed ? signedBucket(set.weight[i]) : alphaBucket(set.weight[i])].push(`<line x1="${leftX}" y1="${svgNumber(y(set.query[i]))}" x2="${rightX}" y2="${svgNumber(y(set.key[i]))}" data-query="${set.query[i]}" data-key="${set.key[i]}" data-weight="${svgNumber(set.weight[i], 6)}"/>`);
      }
      out.push(`<g class="head" data-head="${h}" stroke="${color}" stroke-width="${LINK_WIDTH}">`);
      buckets.forEach((lines, b) => lines.length > 0 && out.push(`<g stroke-opacity="${svgNumber(bucketAlpha(b), 4)}">`, ...lines, '</g>'));
      out.push('</g>');
    }
  }
  const labels = (tokens: AttentionRecord['queryTokens'], anchor: 'end' | 'start', x: number) => {
    out.push(`<g text-anchor="${anchor}" dominant-baseline="central">`);
    tokens.forEach((t, i) => out.push(`<text x="${x}" y="${svgNumber(y(i))}" fill="${t.special ? style.muted : style.foreground}">${escapeXml(clipLabel(tokenLabel(t), labelW - 10, p.measure))}</text>`));
    out.push('</g>');
  };
  labels(record.queryTokens, 'end', leftX - 6);
  labels(record.keyTokens, 'start', rightX + 6);
  out.push('</svg>');
  return out.join('\n');
}
