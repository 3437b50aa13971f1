/**
 * The head explorer's state: the run's grid, the panel's selection, and the explorer's own
 * choices (colour, sort, label filter, hover, keyboard focus), changed through named actions.
 * No DOM here, so it runs under tests.
 */
import { headLabels } from '../../src/core/analysis/headLabels';
import { type HeadGrid, cellOffsets, cellStats } from '../../src/core/analysis/headGrid';
import { STAT_NAMES, type StatName } from '../../src/core/analysis/headStats';
import { Emitter } from '../../src/core/events';
import type { ExplorerState } from '../../src/core/protocol/explorer';
import type { HeadSelection } from '../../src/core/protocol/panel';

/** What tints the cells. */
export type ColorBy = 'none' | 'similarity' | 'divergence' | StatName;
/** How heads are ordered within each layer. */
export type SortBy = 'head' | StatName;

/** A cell by grid position: row (record) and head. */
export interface Cell {
  row: number;
  head: number;
}

/** Everything the explorer shows. */
export interface ExplorerSnapshot {
  readonly data: ExplorerState;
  readonly colorBy: ColorBy;
  readonly sortBy: SortBy;
  /** Only heads with this label are shown at full strength; '' for all. */
  readonly labelFilter: string;
  readonly hover: Cell | null;
  /** The keyboard's cell, by display position (column = place in the sorted row). */
  readonly focus: { row: number; column: number };
}

/** `data` rebuilds the grid, `style` restyles it, `hover` moves the highlight. */
export type ExplorerChange = 'data' | 'style' | 'hover';

/** Display order of the heads of `row`: by head number, or by a statistic, largest first (undefined last). */
export function rowOrder(grid: HeadGrid, row: number, sortBy: SortBy): number[] {
  const heads = Array.from({ length: grid.rows[row].heads }, (_, h) => h);
  if (sortBy === 'head') return heads;
  const first = cellOffsets(grid.rows)[row];
  const i = STAT_NAMES.indexOf(sortBy);
  const v = (h: number) => grid.stats[(first + h) * STAT_NAMES.length + i];
  return heads.sort((a, b) => (Number.isNaN(v(a)) ? 1 : Number.isNaN(v(b)) ? -1 : v(b) - v(a) || a - b));
}

/** Per cell, how strongly to tint it (0…1, NaN for no tint): a statistic scaled over the grid, or similarity to the chosen head. */
export function cellTints(data: ExplorerState, colorBy: ColorBy): Float32Array {
  const grid = data.grid!;
  const cells = cellOffsets(grid.rows).at(-1)!;
  const out = new Float32Array(cells).fill(NaN);
  if (colorBy === 'none') return out;
  if (colorBy === 'similarity') {
    const d = data.similarity?.distances;
    if (d && d.length === cells) for (let c = 0; c < cells; c++) out[c] = 1 - d[c];
    return out;
  }
  if (colorBy === 'divergence') {
    // A comparison: stronger where the head differs more from model B, scaled per row's measure over the grid.
    const d = grid.divergence;
    if (!d || d.values.length !== cells) return out;
    const offsets = cellOffsets(grid.rows);
    const max = new Map<string, number>();
    grid.rows.forEach((_, r) => {
      for (let c = offsets[r]; c < offsets[r + 1]; c++) if (!Number.isNaN(d.values[c])) max.set(d.measures[r], Math.max(max.get(d.measures[r]) ?? 0, d.values[c]));
    });
    grid.rows.forEach((_, r) => {
      const m = max.get(d.measures[r]) ?? 0;
      for (let c = offsets[r]; c < offsets[r + 1]; c++) if (!Number.isNaN(d.values[c])) out[c] = m > 0 ? d.values[c] / m : 0;
    });
    return out;
  }
  const i = STAT_NAMES.indexOf(colorBy);
  const { lo, hi } = statRange(grid, colorBy);
  for (let c = 0; c < cells; c++) {
    const v = grid.stats[c * STAT_NAMES.length + i];
    if (!Number.isNaN(v)) out[c] = hi > lo ? (v - lo) / (hi - lo) : 1;
  }
  return out;
}

/** The smallest and largest value of a statistic over the grid's cells (Infinity and -Infinity when none is defined). */
export function statRange(grid: HeadGrid, stat: StatName): { lo: number; hi: number } {
  const i = STAT_NAMES.indexOf(stat);
  const cells = cellOffsets(grid.rows).at(-1)!;
  let lo = Infinity, hi = -Infinity;
  for (let c = 0; c < cells; c++) {
    const v = grid.stats[c * STAT_NAMES.length + i];
    if (!Number.isNaN(v)) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
  }
  return { lo, hi };
}

/** What the tint means, for the legend: the colouring's name and what faint and strong stand for. */
export function tintMeaning(data: ExplorerState, colorBy: ColorBy): { what: string; faint: string; strong: string } | undefined {
  const grid = data.grid;
  if (!grid || colorBy === 'none') return undefined;
  if (colorBy === 'similarity') {
    return data.similarity ? { what: 'similarity to the selected head (1 − Jensen-Shannon distance)', faint: 'unlike it', strong: 'alike' } : undefined;
  }
  if (colorBy === 'divergence') return grid.divergence ? { what: `difference from ${grid.divergence.modelB}`, faint: 'close', strong: 'the most different (per measure)' } : undefined;
  const { lo, hi } = statRange(grid, colorBy);
  if (lo > hi) return { what: `${colorBy} (not defined for these heads)`, faint: '–', strong: '–' };
  return { what: colorBy, faint: statText(colorBy, lo), strong: statText(colorBy, hi) };
}

/** A statistic as the explorer writes it: distances in tokens to 2 decimals, shares to 3, '–' where undefined. */
export function statText(name: StatName, v: number | null): string {
  return v === null ? '–' : v.toFixed(name === 'pixelDistance' ? 1 : name === 'distance' ? 2 : 3);
}

/** The selection after a click on `cell`: that head alone, or with `additive` added to (or removed from) the heads shown. */
export function clickSelection(current: HeadSelection | undefined, cell: Cell, additive: boolean): HeadSelection {
  if (!additive || !current || current.recordIndex !== cell.row) return { recordIndex: cell.row, heads: [cell.head] };
  const heads = current.heads.includes(cell.head) ? current.heads.filter((h) => h !== cell.head) : [...current.heads, cell.head].sort((a, b) => a - b);
  return { recordIndex: cell.row, heads: heads.length > 0 ? heads : [cell.head] };
}

/** The explorer's state and its actions. */
export class ExplorerModel {
  private s: ExplorerSnapshot = { data: {}, colorBy: 'none', sortBy: 'head', labelFilter: '', hover: null, focus: { row: 0, column: 0 } };
  private readonly changed = new Emitter<ExplorerChange>();
  /** Fires after every effective change. */
  readonly onDidChange = this.changed.event;

  get snapshot(): ExplorerSnapshot {
    return this.s;
  }

  /** New state from the host (a new run, a new selection or similarities). */
  receive(data: ExplorerState): void {
    const before = this.s.data.grid, after = data.grid;
    const sameGrid = after === before;
    // The same run's grid filling in (statistics arrive layer by layer) keeps the hover and the keyboard's cell.
    const sameRun = !!before && !!after && before.runId === after.runId && before.rows.length === after.rows.length && before.rows.every((r, i) => r.heads === after.rows[i].heads);
    this.set({ data, ...(sameGrid || sameRun ? {} : { hover: null, focus: { row: 0, column: 0 } }) }, sameGrid ? 'style' : 'data');
  }

  setColorBy(colorBy: ColorBy): void {
    this.set({ colorBy }, 'style');
  }

  setSortBy(sortBy: SortBy): void {
    this.set({ sortBy }, 'data');
  }

  setLabelFilter(labelFilter: string): void {
    this.set({ labelFilter }, 'style');
  }

  hoverOn(cell: Cell | null): void {
    const h = this.s.hover;
    if (h?.row === cell?.row && h?.head === cell?.head) return;
    this.set({ hover: cell }, 'hover');
  }

  /** The cell under the keyboard focus. */
  get focusedCell(): Cell | undefined {
    const grid = this.s.data.grid;
    if (!grid) return undefined;
    const { row, column } = this.s.focus;
    return { row, head: rowOrder(grid, row, this.s.sortBy)[column] };
  }

  /** Arrow keys move the focus; true when `key` moved it. */
  moveFocus(key: string): boolean {
    const grid = this.s.data.grid;
    const d = ({ ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] } as Record<string, [number, number]>)[key];
    if (!grid || !d) return false;
    const row = Math.max(0, Math.min(grid.rows.length - 1, this.s.focus.row + d[0]));
    const column = Math.max(0, Math.min(grid.rows[row].heads - 1, this.s.focus.column + d[1]));
    this.set({ focus: { row, column }, hover: null }, 'hover');
    return true;
  }

  /** Whether a cell passes the label filter. */
  matchesFilter(cell: number): boolean {
    const { labelFilter, data } = this.s;
    return !labelFilter || !data.grid || headLabels(cellStats(data.grid, cell)).some((l) => l.label === labelFilter);
  }

  private set(patch: Partial<ExplorerSnapshot>, change: ExplorerChange): void {
    this.s = { ...this.s, ...patch };
    this.changed.fire(change);
  }
}
