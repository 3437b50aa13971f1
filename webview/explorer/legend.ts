/**
 * The explorer's legend: what a cell shows, what its colour means, every badge with its rule (the
 * table the CLI prints and the README lists) and how many heads carry it, and, when cells are too
 * small for letters, the corner mark that stands in for them. Text only (model text never reaches it).
 */
import { LABEL_RULES, headLabels, ruleText } from '../../src/core/analysis/headLabels';
import { cellOffsets, cellStats } from '../../src/core/analysis/headGrid';
import { BADGE_MIN_CELL } from '../../src/core/figure/gridFigure';
import { distanceChartSvg } from '../../src/core/figure/distanceFigure';
import { cssVar } from '../theme';
import { type ExplorerSnapshot, tintMeaning } from './explorerModel';

const node = <K extends keyof HTMLElementTagNameMap>(tag: K, className: string, text = ''): HTMLElementTagNameMap[K] => Object.assign(document.createElement(tag), { className, textContent: text });

/** Fills `root` for the explorer as shown; `corners` is how many cells show a corner mark instead of letters. */
export function renderLegend(root: HTMLElement, s: ExplorerSnapshot, corners: number): void {
  const grid = s.data.grid;
  if (!grid) {
    root.replaceChildren();
    return;
  }
  const cells = cellOffsets(grid.rows).at(-1)!;
  const counts = new Map<string, number>();
  for (let c = 0; c < cells; c++) for (const l of headLabels(cellStats(grid, c))) counts.set(l.label, (counts.get(l.label) ?? 0) + 1);

  const cell = node('p', 'legend-line', grid.patchMaps
    ? 'Each cell is one head: a map of the image, each patch as bright as the class token’s attention to it (a caption’s cross attention: the mean of its words’), relative to the head’s strongest patch; a caption’s own attention is its matrix. Outlined: the heads shown in the panel. Hover a cell for its statistics.'
    : 'Each cell is one head: its attention matrix, queries down and keys across, max-pooled so that no strong link disappears; brighter is stronger. Outlined: the heads shown in the panel. Hover a cell for its statistics.');
  const colour = node('p', 'legend-line');
  const tint = tintMeaning(s.data, s.colorBy);
  if (tint) {
    colour.append(node('span', 'legend-text', 'Colour: '), node('strong', '', tint.what), node('span', 'legend-text', ` · faint ${tint.faint} `), node('span', 'legend-scale'), node('span', 'legend-text', ` strong ${tint.strong}`));
  } else {
    colour.textContent = 'Colour: none (pick a statistic, similarity or a comparison’s difference under Colour).';
  }

  const table = node('table', 'legend-badges');
  table.setAttribute('aria-label', 'Badges: one per label rule');
  for (const r of LABEL_RULES) {
    const tr = table.insertRow();
    tr.className = counts.has(r.label) ? 'present' : 'absent';
    tr.insertCell().append(node('span', 'badge', r.badge));
    tr.title = r.meaning;
    const name = tr.insertCell();
    name.append(node('strong', '', r.label), node('span', 'legend-text', ` (${ruleText(r)})`), node('span', 'meaning', `: ${r.meaning}`));
    tr.insertCell().textContent = `${counts.get(r.label) ?? 0} ${counts.get(r.label) === 1 ? 'head' : 'heads'}`;
  }

  const parts: HTMLElement[] = [cell, colour, table];
  const chart = grid.patchMaps ? distanceChart(grid) : undefined;
  if (chart) parts.push(chart);
  if (corners > 0) {
    const p = node('p', 'legend-line');
    p.append(node('span', 'corner'), node('span', 'legend-text', ` Cells narrower than ${BADGE_MIN_CELL} px, or with more labels than fit, show this corner instead of the letters: hover them for their labels, or open the explorer in the editor for larger cells.`));
    parts.push(p);
  }
  root.replaceChildren(...parts);
}

/**
 * An image model's mean attention distance against depth (Dosovitskiy et al. 2020, fig. 7): one
 * dot per head. The SVG holds numbers and fixed words only; it is parsed as SVG, never as HTML.
 */
function distanceChart(grid: NonNullable<ExplorerSnapshot['data']['grid']>): HTMLElement | undefined {
  const offsets = cellOffsets(grid.rows);
  const rows = grid.rows.filter((r) => r.section === 'self' || r.section === 'encoder');
  const points = rows.flatMap((row, layer) => Array.from({ length: row.heads }, (_, head) => ({ layer, head, value: cellStats(grid, offsets[grid.rows.indexOf(row)] + head).pixelDistance })))
    .flatMap((p) => (p.value === null ? [] : [{ ...p, value: p.value }]));
  if (points.length === 0) return undefined;
  const style = { background: 'transparent', foreground: cssVar('--vscode-foreground', '#cccccc'), muted: cssVar('--vscode-descriptionForeground', '#999999'), fontFamily: cssVar('--vscode-font-family', 'sans-serif') };
  const svg = new DOMParser().parseFromString(distanceChartSvg(points, rows.length, style, cssVar('--vscode-charts-orange', '#f0a030')), 'image/svg+xml').documentElement;
  const figure = node('figure', 'distance-chart');
  figure.setAttribute('aria-label', `Mean attention distance of each head, by layer: ${rows.map((_, l) => `layer ${l + 1} ${points.filter((p) => p.layer === l).map((p) => p.value.toFixed(1)).join(', ')} px`).join('; ')}`);
  figure.append(document.importNode(svg, true));
  return figure;
}
