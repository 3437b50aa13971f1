// The head explorer's data and model: max-pooled thumbnails, statistics per cell, similarity,
// ordering, tints, filters, clicks and keyboard focus.
import { describe, expect, it } from 'vitest';
import { type AttentionRecord, recordOfLayer } from '../../src/core/attention';
import { buildHeadGrid, cellOffsets, cellStats, emptyHeadGrid, rowCells, setGridRow, similarityToHead, thumbnail } from '../../src/core/analysis/headGrid';
import { type QueryKeyLayer, headWeights, layerWeights } from '../../src/core/queryKeys';
import { keyCategories } from '../../src/core/analysis/headStats';
import type { TokenInfo } from '../../src/core/tokens';
import { ExplorerModel, cellTints, clickSelection, rowOrder, tintMeaning } from '../../webview/explorer/explorerModel';

const tokens: TokenInfo[] = ['<s>', 'a', 'b', '.'].map((text, i) => ({ id: i, text, start: Math.max(0, i - 1), end: i, special: i === 0 }));
const TEXT = 'ab.';
const identity = (n: number) => Array.from({ length: n }, (_, q) => Array.from({ length: n }, (_, k) => (q === k ? 1 : 0)));
const previous = (n: number) => Array.from({ length: n }, (_, q) => Array.from({ length: n }, (_, k) => (k === Math.max(0, q - 1) ? 1 : 0)));
const first = (n: number) => Array.from({ length: n }, () => Array.from({ length: n }, (_, k) => (k === 0 ? 1 : 0)));
function rec(layer: number, heads: number[][][]): AttentionRecord {
  const n = heads[0].length;
  return recordOfLayer({ name: `attentions.${layer}`, kind: 'self', layer, heads: heads.length, queries: n, keys: n, data: Float32Array.from(heads.flat(2)) }, { tokens, causal: false });
}
const records = [rec(0, [identity(4), previous(4)]), rec(1, [first(4), previous(4), identity(4)])];
const grid = buildHeadGrid(7, records, (r) => keyCategories(r.keyTokens, TEXT));

describe('head grid', () => {
  it('lays out one row per record and one cell per head', () => {
    expect(grid.rows.map((r) => [r.label, r.heads, r.section])).toEqual([['Layer 1', 2, 'self'], ['Layer 2', 3, 'self']]);
    expect(cellOffsets(grid.rows)).toEqual([0, 2, 5]);
    expect(grid.size).toBe(4);
    expect(grid.thumbnails.length).toBe(5 * 16);
  });

  it('keeps every link when pooling: each bin holds its maximum', () => {
    const r = rec(0, [Array.from({ length: 8 }, (_, q) => Array.from({ length: 8 }, (_, k) => (k === 7 - q ? 0.9 : 0.1 / 7)))]);
    const t = thumbnail(r, 0, 2);
    // Anti-diagonal of an 8×8 matrix pooled to 2×2: the strong links fall in the top-right and bottom-left bins
    // (0.9 in float32 is 0.89999998, ×255 = 229.49).
    expect(Array.from(t)).toEqual([4, 229, 229, 4]);
  });

  it('stores each head’s statistics, undefined ones as null', () => {
    expect(cellStats(grid, 0)).toMatchObject({ self: 1, previous: 0, distance: 0 });
    expect(cellStats(grid, 3)).toMatchObject({ previous: 1, self: 0.25 });
    expect(cellStats(grid, 2)).toMatchObject({ first: 1, special: 1 });
  });

  it('measures how alike every head is to one head', () => {
    const d = similarityToHead(records, 0, 1); // layer 1, head 2: previous-token
    expect(d[1]).toBe(0);
    expect(d[3]).toBe(0); // layer 2, head 2: also previous-token
    expect(d[0]).toBeCloseTo(0.75, 6); // identity differs from previous-token in 3 of 4 rows (distance 1 each)
  });
});

describe('explorer model', () => {
  it('orders heads within a layer by a statistic, largest first', () => {
    expect(rowOrder(grid, 1, 'head')).toEqual([0, 1, 2]);
    expect(rowOrder(grid, 1, 'self')).toEqual([2, 0, 1]); // 1, then a tie at 0.25 kept in head order
    expect(rowOrder(grid, 1, 'first')).toEqual([0, 1, 2]);
  });

  it('tints by a statistic scaled over the grid, or by similarity', () => {
    const t = cellTints({ grid }, 'self');
    expect(Array.from(t).map((v) => +v.toFixed(3))).toEqual([1, 0, 0, 0, 1]);
    expect(Number.isNaN(cellTints({ grid }, 'none')[0])).toBe(true);
    const s = cellTints({ grid, similarity: { recordIndex: 0, head: 1, distances: Float32Array.of(0.75, 0, 0.5, 0, 0.75) } }, 'similarity');
    expect(Array.from(s)).toEqual([0.25, 1, 0.5, 1, 0.25]);
  });

  it('says what the tint means for the legend: the statistic’s range over the grid, or what similarity and difference stand for', () => {
    expect(tintMeaning({ grid }, 'none')).toBeUndefined();
    expect(tintMeaning({ grid }, 'previous')).toEqual({ what: 'previous', faint: '0.000', strong: '1.000' });
    expect(tintMeaning({ grid }, 'distance')).toEqual({ what: 'distance', faint: '0.00', strong: '1.50' }); // identity 0 tokens; the first-token head (0+1+2+3)/4
    expect(tintMeaning({ grid }, 'similarity')).toBeUndefined(); // nothing computed yet
    expect(tintMeaning({ grid, similarity: { recordIndex: 0, head: 1, distances: new Float32Array(5) } }, 'similarity')?.what).toMatch(/Jensen-Shannon/);
  });

  it('selects one head on click, and adds or removes heads of the same layer with Shift', () => {
    expect(clickSelection(undefined, { row: 1, head: 2 }, true)).toEqual({ recordIndex: 1, heads: [2] });
    expect(clickSelection({ recordIndex: 1, heads: [2] }, { row: 1, head: 0 }, true)).toEqual({ recordIndex: 1, heads: [0, 2] });
    expect(clickSelection({ recordIndex: 1, heads: [0, 2] }, { row: 1, head: 2 }, true)).toEqual({ recordIndex: 1, heads: [0] });
    expect(clickSelection({ recordIndex: 1, heads: [0] }, { row: 1, head: 0 }, true)).toEqual({ recordIndex: 1, heads: [0] });
    expect(clickSelection({ recordIndex: 1, heads: [0, 2] }, { row: 0, head: 1 }, true)).toEqual({ recordIndex: 0, heads: [1] });
    expect(clickSelection({ recordIndex: 1, heads: [0, 2] }, { row: 1, head: 1 }, false)).toEqual({ recordIndex: 1, heads: [1] });
  });

  it('moves the keyboard focus within the grid and filters by label', () => {
    const m = new ExplorerModel();
    const changes: string[] = [];
    m.onDidChange((c) => changes.push(c));
    expect(m.moveFocus('ArrowDown')).toBe(false); // no grid yet
    m.receive({ grid });
    m.moveFocus('ArrowRight');
    m.moveFocus('ArrowRight'); // layer 1 has two heads: stays on the second
    expect(m.focusedCell).toEqual({ row: 0, head: 1 });
    m.moveFocus('ArrowDown');
    m.moveFocus('ArrowDown');
    expect(m.focusedCell).toEqual({ row: 1, head: 1 });
    m.setSortBy('self'); // the focus keeps its place on screen: the second column now holds head index 0
    expect(m.focusedCell).toEqual({ row: 1, head: 0 });
    m.setLabelFilter('previous-token');
    expect([0, 1, 2, 3, 4].map((c) => m.matchesFilter(c))).toEqual([false, true, false, true, false]);
    m.receive({ grid, selection: { recordIndex: 1, heads: [1] } });
    expect(changes).toEqual(['data', 'hover', 'hover', 'hover', 'hover', 'data', 'style', 'style']);
    expect(m.moveFocus('Enter')).toBe(false);
    // The same run's grid filling in keeps the keyboard's cell; another run's starts over.
    m.receive({ grid: { ...grid, stats: grid.stats.slice() } });
    expect(m.focusedCell).toEqual({ row: 1, head: 0 });
    m.receive({ grid: { ...grid, runId: grid.runId + 1 } });
    expect(m.snapshot.focus).toEqual({ row: 0, column: 0 });
  });
});

describe('a long input\'s grid row, from queries and keys a head at a time', () => {
  // What the page's workers do for a layer kept as queries and keys (webview/panel/layerWorker.ts):
  // each worker's share of heads, each head computed alone, measured and let go.
  const n = 9;
  const causalTokens: TokenInfo[] = Array.from({ length: n }, (_, i) => ({ id: i, text: i % 3 === 2 ? '.' : `t${i}`, start: i, end: i + 1, special: i === 0 }));
  const text = causalTokens.map((t) => t.text).join('');
  const qk: QueryKeyLayer = {
    name: 'attentions.0', kind: 'self', layer: 0, heads: 4, kvHeads: 2, queries: n, keys: n, headDim: 3, scale: 0.7, causal: true,
    q: Float32Array.from({ length: 4 * n * 3 }, (_, i) => Math.sin(i * 1.7)),
    k: Float32Array.from({ length: 2 * n * 3 }, (_, i) => Math.cos(i * 0.9)),
  };
  const whole = recordOfLayer(layerWeights(qk), { tokens: causalTokens, causal: true });

  it('fills the same cells as the layer computed whole, split between workers at any head', () => {
    const categories = keyCategories(whole.keyTokens, text);
    const expected = buildHeadGrid(1, [whole], () => categories);
    for (const split of [[0, 4], [0, 1, 4], [0, 2, 3, 4]]) {
      const got = emptyHeadGrid(1, [whole]);
      const header = { ...whole, data: new Float32Array(0) };
      for (let p = 0; p + 1 < split.length; p++) setGridRow(got, 0, rowCells(header, categories, got.size, false, split[p], split[p + 1], (h) => headWeights(qk, h, h + 1)));
      expect(Array.from(got.thumbnails)).toEqual(Array.from(expected.thumbnails));
      expect(Array.from(got.stats)).toEqual(Array.from(expected.stats));
    }
    expect(expected.thumbnails.some((v) => v > 0)).toBe(true);
  });
});
