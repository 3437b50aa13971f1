/**
 * Mean attention distance against depth (Dosovitskiy et al. 2020, fig. 7): one dot per head, its
 * layer across and its mean attention distance in pixels up. An SVG of numbers and fixed words
 * only. Pure.
 */
import { svgNumber, svgStart } from './svg';
import type { FigureStyle } from './headViewFigure';

export interface DistancePoint {
  /** 0-based. */
  layer: number;
  head: number;
  /** Pixels. */
  value: number;
}

export function distanceChartSvg(points: readonly DistancePoint[], layers: number, style: FigureStyle, accent: string, width = 260, height = 150): string {
  const left = 34, right = 8, top = 8, bottom = 28;
  const max = Math.max(1, ...points.map((p) => p.value));
  const x = (layer: number) => left + (layers <= 1 ? (width - left - right) / 2 : (layer * (width - left - right)) / (layers - 1));
  const y = (v: number) => top + (1 - v / max) * (height - top - bottom);
  const out = [...svgStart(width, height, style, 10)];
  out.push(`<path d="M${left} ${top}V${height - bottom}H${width - right}" fill="none" stroke="${style.muted}"/>`);
  out.push(`<text x="${left - 4}" y="${top + 8}" text-anchor="end" fill="${style.muted}">${svgNumber(max, 0)}</text>`, `<text x="${left - 4}" y="${height - bottom}" text-anchor="end" fill="${style.muted}">0</text>`);
  for (let l = 0; l < layers; l++) out.push(`<text x="${svgNumber(x(l))}" y="${height - bottom + 12}" text-anchor="middle" fill="${style.muted}">${l + 1}</text>`);
  out.push(`<text x="${svgNumber((left + width - right) / 2)}" y="${height - 4}" text-anchor="middle" fill="${style.foreground}">layer · mean attention distance (px) per head</text>`);
  for (const p of points) out.push(`<circle cx="${svgNumber(x(p.layer))}" cy="${svgNumber(y(p.value))}" r="3" fill="${accent}" fill-opacity="0.75"><title>layer ${p.layer + 1}, head ${p.head + 1}: ${svgNumber(p.value, 1)} px</title></circle>`);
  out.push('</svg>');
  return out.join('\n');
}
