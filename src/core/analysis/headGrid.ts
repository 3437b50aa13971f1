/**
 * Everything the head explorer draws for one run, computed where the tensors are (the panel) and
 * sent as typed arrays: one row per record (layer), one cell per head, each cell a max-pooled
 * thumbnail of the head's matrix and its statistics. Pure.
 */
import type { AttentionKind, AttentionRecord } from '../attention';
import { headJsDistance } from './headSimilarity';
import { type HeadStats, type KeyCategories, STAT_NAMES, type StatName, headStats } from './headStats';

/** Thumbnail side, in cells of the pooled matrix; the explorer pools further to its pixels. */
export const THUMBNAIL_SIZE = 64;

/** One row of the grid: a record (a layer) of the run. */
export interface GridRow {
  recordIndex: number;
  label: string;
  /** Section of an encoder-decoder model, or `self`. */
  section: AttentionKind;
  heads: number;
}

/** The explorer's data for one run. */
export interface HeadGrid {
  runId: number;
  rows: GridRow[];
  /** Thumbnail side (≤ THUMBNAIL_SIZE; smaller for short inputs). */
  size: number;
  /** `cells * size * size` bytes: each cell's max-pooled weights, 0…255 for 0…1, row-major. */
  thumbnails: Uint8Array;
  /** `cells * STAT_NAMES.length` statistics; NaN where undefined. */
  stats: Float32Array;
  /** What the cells show when it is not the attention weights (contributions), for people. */
  weighting?: string;
  /** An image model's grid: each thumbnail is the class token's attention over the patches, as a map of the image. */
  patchMaps?: boolean;
  /** In a comparison: how far each head of A (the grid's run) is from model B. */
  divergence?: GridDivergence;
}

/** A comparison's per-cell divergence from model B. */
export interface GridDivergence {
  /** "Tiny masked LM (bundled)". */
  modelB: string;
  /** Per cell (NaN until computed): mean |A − B| where heads correspond, else the JS distance to the best match. */
  values: Float32Array;
  /** Per cell, the head of B compared with (-1 until computed). */
  partner: Int16Array;
  /** Per row, the layer label of B compared with. */
  layersB: string[];
  /** Per row, what `values` measures. */
  measures: string[];
}

/** Index of the first cell of each row (cells run row by row, head by head). */
export function cellOffsets(rows: readonly GridRow[]): number[] {
  const out: number[] = [];
  let n = 0;
  for (const r of rows) {
    out.push(n);
    n += r.heads;
  }
  out.push(n);
  return out;
}

/** Max-pools head `h` of `r` into a `size`×`size` grid of bytes (every link survives as its bin's maximum). */
export function thumbnail(r: AttentionRecord, h: number, size: number, out: Uint8Array = new Uint8Array(size * size)): Uint8Array {
  const { queries: nq, keys: nk, data } = r;
  // Key k falls in column floor(k·size/nk): column c spans keys [edge[c], edge[c + 1]).
  const edge = Int32Array.from({ length: size + 1 }, (_, c) => Math.ceil((c * nk) / size));
  const pooled = new Float32Array(size * size);
  for (let q = 0; q < nq; q++) {
    const base = Math.floor((q * size) / nq) * size;
    const start = (h * nq + q) * nk;
    for (let c = 0; c < size; c++) {
      let m = pooled[base + c];
      for (let k = start + edge[c], end = start + edge[c + 1]; k < end; k++) if (data[k] > m) m = data[k];
      pooled[base + c] = m;
    }
  }
  for (let i = 0; i < pooled.length; i++) out[i] = Math.round(Math.min(1, pooled[i]) * 255);
  return out;
}

/**
 * An image model's head as a map of the image: the class token's attention (the mean of the
 * patches' rows where there is none; a captioner's cross attention: the mean of the caption's rows)
 * on each patch, relative to the strongest patch, drawn on the patch grid stretched to `size` ×
 * `size` bytes. Undefined where the keys are not patches.
 */
export function patchMap(r: AttentionRecord, h: number, size: number, out: Uint8Array = new Uint8Array(size * size)): Uint8Array | undefined {
  const keys = (r.keyTokens as ReadonlyArray<{ patch?: { row: number; col: number } }>).map((t) => t.patch);
  if (!keys.some((p) => p)) return undefined;
  const rows = 1 + Math.max(...keys.map((p) => p?.row ?? 0));
  const cols = 1 + Math.max(...keys.map((p) => p?.col ?? 0));
  // The image's own attention (its queries are its tokens): the class token's row; other queries (a caption's words): all of them.
  const own = r.queries === r.keys && (r.queryTokens as ReadonlyArray<{ patch?: unknown }>).some((t) => t.patch);
  const cls = own ? keys.findIndex((p) => !p) : -1;
  const from = cls >= 0 ? [cls] : own ? keys.flatMap((p, q) => (p ? [q] : [])) : Array.from({ length: r.queries }, (_, q) => q);
  const map = new Float32Array(rows * cols);
  for (const q of from) {
    const start = (h * r.queries + q) * r.keys;
    keys.forEach((p, k) => p && (map[p.row * cols + p.col] += r.data[start + k] / from.length));
  }
  const max = Math.max(...map);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) out[y * size + x] = max > 0 ? Math.round((map[Math.floor((y * rows) / size) * cols + Math.floor((x * cols) / size)] / max) * 255) : 0;
  }
  return out;
}

/** An empty grid for `records`: rows laid out, arrays allocated, cells to be filled by `fillGridRow`. */
export function emptyHeadGrid(runId: number, records: readonly AttentionRecord[], maxSize = THUMBNAIL_SIZE): HeadGrid {
  const rows: GridRow[] = records.map((r, recordIndex) => ({ recordIndex, label: r.label, section: r.source.kind, heads: r.heads }));
  const cells = cellOffsets(rows).at(-1)!;
  const size = Math.max(1, Math.min(maxSize, Math.max(0, ...records.map((r) => Math.max(r.queries, r.keys)))));
  const patchMaps = records.some((r) => (r.keyTokens as ReadonlyArray<{ patch?: unknown }>).some((t) => t.patch));
  return { runId, rows, size, thumbnails: new Uint8Array(cells * size * size), stats: new Float32Array(cells * STAT_NAMES.length), ...(patchMaps ? { patchMaps } : {}) };
}

/** Fills the cells of row `index` (record `r`): thumbnails and statistics of each head. */
export function fillGridRow(grid: HeadGrid, index: number, r: AttentionRecord, categories: KeyCategories): void {
  const data = r.data;
  const size = r.queries * r.keys;
  setGridRow(grid, index, rowCells(r, categories, grid.size, grid.patchMaps === true, 0, r.heads, (h) => data.subarray(h * size, (h + 1) * size)));
}

/** Thumbnails (`size`² bytes each) and statistics (`STAT_NAMES` each) of heads `from`…`to − 1` of a record. */
export interface RowCells {
  from: number;
  thumbnails: Uint8Array;
  stats: Float32Array;
}

/**
 * The cells of heads `from`…`to − 1` of record `r`, `head(h)` giving head h's weights
 * `[queries][keys]` (`r.data` is not read): one head at a time, so that a long input's layer,
 * computed a head at a time from its queries and keys, is never held whole (a worker's share of a
 * grid row).
 */
export function rowCells(r: AttentionRecord, categories: KeyCategories, size: number, patchMaps: boolean, from: number, to: number, head: (h: number) => Float32Array): RowCells {
  const thumbnails = new Uint8Array((to - from) * size * size);
  const stats = new Float32Array((to - from) * STAT_NAMES.length);
  for (let h = from; h < to; h++) {
    const one: AttentionRecord = { ...r, heads: 1, data: head(h) };
    const cell = h - from;
    const out = thumbnails.subarray(cell * size * size, (cell + 1) * size * size);
    if (!(patchMaps && patchMap(one, 0, size, out))) thumbnail(one, 0, size, out);
    const s = headStats(one, 0, categories);
    STAT_NAMES.forEach((name, i) => (stats[cell * STAT_NAMES.length + i] = s[name] ?? NaN));
  }
  return { from, thumbnails, stats };
}

/** Puts `cells` (heads `cells.from`… of row `index`) into `grid`. */
export function setGridRow(grid: HeadGrid, index: number, cells: RowCells): void {
  const cell = cellOffsets(grid.rows)[index] + cells.from;
  grid.thumbnails.set(cells.thumbnails, cell * grid.size * grid.size);
  grid.stats.set(cells.stats, cell * STAT_NAMES.length);
}

/** Builds the grid of every head of `records` at once; `categories` gives each record's key categories. */
export function buildHeadGrid(runId: number, records: readonly AttentionRecord[], categories: (r: AttentionRecord) => KeyCategories, maxSize = THUMBNAIL_SIZE): HeadGrid {
  const grid = emptyHeadGrid(runId, records, maxSize);
  records.forEach((r, i) => fillGridRow(grid, i, r, categories(r)));
  return grid;
}

/** Jensen-Shannon distance from head `head` of record `from` to every cell; NaN where shapes differ. */
export function similarityToHead(records: readonly AttentionRecord[], from: number, head: number): Float32Array {
  const a = records[from];
  const out = new Float32Array(records.reduce((n, r) => n + r.heads, 0)).fill(NaN);
  let cell = 0;
  for (const r of records) {
    for (let h = 0; h < r.heads; h++, cell++) {
      if (r.queries === a.queries && r.keys === a.keys) out[cell] = headJsDistance(a, head, r, h);
    }
  }
  return out;
}

/**
 * The grid with statistic `name` of each row from `scores(row)` (one per head; undefined or NaN
 * where not measured), in a new statistics array: the statistics measured apart from the input's
 * (induction on a probe, retrieval from a generation).
 */
export function withStatistic(grid: HeadGrid, name: StatName, scores: (row: GridRow) => ArrayLike<number> | undefined): HeadGrid {
  const stats = grid.stats.slice();
  const column = STAT_NAMES.indexOf(name);
  const offsets = cellOffsets(grid.rows);
  grid.rows.forEach((row, i) => {
    const s = scores(row);
    for (let h = 0; h < row.heads; h++) stats[(offsets[i] + h) * STAT_NAMES.length + column] = s?.[h] ?? NaN;
  });
  return { ...grid, stats };
}

/** The statistics of one cell, as `headStats` gave them (NaN back to null). */
export function cellStats(grid: HeadGrid, cell: number): HeadStats {
  const out = {} as HeadStats;
  STAT_NAMES.forEach((name, i) => {
    const v = grid.stats[cell * STAT_NAMES.length + i];
    out[name] = Number.isNaN(v) ? null : v;
  });
  return out;
}
