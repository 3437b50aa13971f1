/** The explorer's words: a cell's tooltip (every statistic, labels with their rules) and the selection line. */
import { headLabels, ruleText } from '../../src/core/analysis/headLabels';
import { type HeadGrid, cellOffsets, cellStats } from '../../src/core/analysis/headGrid';
import { STAT_NAMES } from '../../src/core/analysis/headStats';
import type { HeadSelection } from '../../src/core/protocol/panel';
import { type Cell, statText } from './explorerModel';

/** Tooltip content for a cell: title, a table of statistics, and its labels with the rules that gave them. */
export function describeCell(grid: HeadGrid, cell: Cell): HTMLElement[] {
  const stats = cellStats(grid, cellOffsets(grid.rows)[cell.row] + cell.head);
  const title = document.createElement('div');
  title.className = 'tip-title';
  title.textContent = `${grid.rows[cell.row].label} · head ${cell.head + 1}`;
  const table = document.createElement('table');
  for (const name of STAT_NAMES) {
    const tr = table.insertRow();
    tr.insertCell().textContent = name;
    const v = stats[name];
    tr.insertCell().textContent = statText(name, v);
  }
  const labels = document.createElement('div');
  labels.className = 'tip-labels';
  const found = headLabels(stats);
  labels.textContent = found.length > 0 ? found.map((l) => `${l.badge} ${l.label} (${ruleText(l)})`).join(' · ') : 'no label';
  const d = grid.divergence;
  const cellIndex = cellOffsets(grid.rows)[cell.row] + cell.head;
  if (d && d.partner[cellIndex] >= 0) {
    const vs = document.createElement('div');
    vs.className = 'tip-labels';
    vs.textContent = `vs ${d.modelB} ${d.layersB[cell.row]} head ${d.partner[cellIndex] + 1}: ${d.measures[cell.row]} ${d.values[cellIndex].toFixed(3)}`;
    return [title, table, labels, vs];
  }
  return [title, table, labels];
}

/** "Layer 2 · head 4 (previous-token)", or several heads. */
export function describeSelection(grid: HeadGrid, sel: HeadSelection): string {
  const row = grid.rows[sel.recordIndex];
  if (!row) return '';
  const first = cellOffsets(grid.rows)[sel.recordIndex];
  const heads = sel.heads.map((h) => {
    const labels = headLabels(cellStats(grid, first + h)).map((l) => l.label);
    return `head ${h + 1}${labels.length ? ` (${labels.join(', ')})` : ''}`;
  });
  return `Shown in the panel: ${row.label} · ${heads.length === row.heads ? `all ${row.heads} heads` : heads.join(', ')}`;
}
