// Figures as SVG: the matrix's cells (one rectangle each, or max-pooled blocks past POOLED_MAX,
// so a single strong link survives), the head view's links and labels, and inert text.
import { DOMParser } from '@xmldom/xmldom';
import { describe, expect, it } from 'vitest';
import type { AttentionRecord } from '../../src/core/attention';
import { LIGHT_STYLE, headViewSvg } from '../../src/core/figure/headViewFigure';
import { POOLED_MAX, matrixSvg } from '../../src/core/figure/matrixFigure';
import { escapeXml, svgBeside, svgSize } from '../../src/core/figure/svg';
import { correspondenceSvg } from '../../src/core/figure/correspondenceFigure';
import { BADGE_MIN_CELL, GRID_PLACES, badgeKey, badgeMark, fitCell, gridLayout, gridSvg } from '../../src/core/figure/gridFigure';
import type { HeadGrid } from '../../src/core/analysis/headGrid';
import { STAT_NAMES } from '../../src/core/analysis/headStats';
import { buildHeadGrid } from '../../src/core/analysis/headGrid';
import { textViewSvg } from '../../src/core/figure/textFigure';
import { mechanismSvg } from '../../src/core/figure/mechanismFigure';
import { mechanismLayer } from '../../src/core/mechanism';

function record(queries: number, keys: number, heads: number, fill: (h: number, q: number, k: number) => number, text = (i: number) => `t${i}`): AttentionRecord {
  const data = new Float32Array(heads * queries * keys);
  for (let h = 0; h < heads; h++) for (let q = 0; q < queries; q++) for (let k = 0; k < keys; k++) data[(h * queries + q) * keys + k] = fill(h, q, k);
  const tokens = (n: number) => Array.from({ length: Math.max(queries, keys) }, (_, i) => ({ id: i, text: text(i), start: i, end: i + 1, special: false })).slice(0, n);
  return { id: 'attentions.0', label: 'Layer 1', heads, queries, keys, data, queryTokens: tokens(queries), keyTokens: tokens(keys), causal: false, signed: false, overInput: true, source: { name: 'attentions.0', kind: 'self', layer: 0 } };
}
const measure = (t: string) => t.length * 7;
/** `r` with one token list for queries and keys, so positional statistics (self, previous, distance) are defined. */
const positional = (r: AttentionRecord): AttentionRecord => ({ ...r, keyTokens: r.queryTokens });
const COLORS = { cellBg: '#eeeeee', tint: '#ff8800', badgeBg: '#444444', badgeFg: '#ffffff', corner: '#3794ff' };
const parse = (svg: string) => {
  const errors: string[] = [];
  const doc = new DOMParser({ onError: (l, m) => errors.push(`${l}: ${m}`) }).parseFromString(svg, 'image/svg+xml');
  expect(errors).toEqual([]);
  return doc;
};
const base = { style: LIGHT_STYLE, positive: '#1a85ff', negative: '#e51400', measure, width: 600, height: 500 };

describe('matrixSvg', () => {
  it('draws one cell per weight of the mean of the shown heads, alpha √w, with labels', () => {
    // Head 0 puts 0.64 on key 1, head 1 (hidden) 1 everywhere: only head 0 counts.
    const r = record(2, 3, 2, (h, q, k) => (h === 1 ? 1 : k === 1 ? 0.64 : 0));
    const doc = parse(matrixSvg({ ...base, record: r, visibleHeads: [true, false] }));
    const cells = Array.from(doc.getElementsByTagName('rect')).slice(1); // the first is the background
    expect(cells.map((c) => c.getAttribute('fill-opacity'))).toEqual(['0.8', '0.8']);
    const texts = Array.from(doc.getElementsByTagName('text')).map((t) => t.textContent);
    expect(texts).toEqual(['t0', 't1', 't0', 't1', 't2']);
  });

  it('pools a large matrix to at most POOLED_MAX blocks a side, keeping the strongest value', () => {
    const n = POOLED_MAX + 44;
    const r = record(n, n, 1, (_h, q, k) => (q === 123 && k === 77 ? 1 : 0.0001));
    const doc = parse(matrixSvg({ ...base, record: r, visibleHeads: [true] }));
    const cells = Array.from(doc.getElementsByTagName('rect')).slice(1);
    expect(cells.length).toBe(POOLED_MAX * POOLED_MAX);
    expect(cells.filter((c) => c.getAttribute('fill-opacity') === '1')).toHaveLength(1);
  });
});

describe('headViewSvg', () => {
  it('draws the links of the shown heads only, and token texts as escaped text', () => {
    const r = record(3, 3, 2, (_h, q, k) => (k <= q ? 1 / (q + 1) : 0), (i) => ['<b>', '&amp;', '"x"'][i]);
    const svg = headViewSvg({ record: r, visibleHeads: [false, true], maxLinksPerQuery: 12, style: LIGHT_STYLE, measure });
    const doc = parse(svg);
    expect(doc.getElementsByTagName('line').length).toBe(6); // 1 + 2 + 3 links of head 2
    expect(Array.from(doc.getElementsByTagName('text')).map((t) => t.textContent).slice(0, 3)).toEqual(['<b>', '&amp;', '"x"']);
    expect(svg).not.toContain('<b>');
  });

  it('escapeXml drops characters XML cannot hold', () => {
    expect(escapeXml('a\u0000b\u0007c<')).toBe('abc&lt;');
  });
});

describe('textViewSvg', () => {
  it('places tokens where the view laid them out, shades targets by weight and draws one arc per target', () => {
    const tokens = [
      { x: 0, y: 10, width: 20, height: 16, text: 'The', special: false, role: 'source' as const },
      { x: 30, y: 10, width: 20, height: 16, text: '<cat>', special: false, role: 'target' as const, weight: 0.5 },
      { x: 60, y: 40, width: 20, height: 16, text: '[SEP]', special: true, role: 'target' as const, weight: 1 },
    ];
    const arcs = [{ from: { x: 10, y: 10 }, to: { x: 40, y: 10 }, weight: 0.5 }, { from: { x: 10, y: 10 }, to: { x: 70, y: 40 }, weight: 1 }];
    const svg = textViewSvg({ width: 200, height: 80, tokens, arcs, style: LIGHT_STYLE, accent: '#d18616', focus: '#0066b8', fontPx: 13 });
    const doc = parse(svg);
    expect(Array.from(doc.getElementsByTagName('text')).map((t) => t.textContent)).toEqual(['The', '<cat>', '[SEP]']);
    const paths = Array.from(doc.getElementsByTagName('path'));
    expect(paths.map((p) => [p.getAttribute('stroke-opacity'), p.getAttribute('stroke-width')])).toEqual([['0.65', '2.5'], ['1', '4']]);
    // Arcs lift above both ends: the control point is higher than the higher end.
    expect(paths[1].getAttribute('d')).toMatch(/^M 10 10 Q 40 -\d+(\.\d+)? 70 40$/);
    const shades = Array.from(doc.getElementsByTagName('rect')).filter((r) => r.getAttribute('fill') === '#d18616').map((r) => r.getAttribute('fill-opacity'));
    expect(shades).toEqual(['0.35', '0.7']);
  });
});

describe('mechanismSvg', () => {
  it('draws every key, in weight order when asked, with the step numbers of the view', () => {
    const t = (dims: number[], data: number[]) => ({ dims, data: Float32Array.from(data) });
    const weights = Float32Array.from([0.25, 0.75, 1, 0]);
    const m = mechanismLayer(
      { name: 'attentions.0', kind: 'self', layer: 0, scale: 0.5, shaped: false },
      { q: t([1, 1, 2, 2], [1, 1, 2, 0]), keysT: t([1, 1, 2, 2], [1, 0, 0, 2]), v: t([1, 1, 2, 2], [3, 4, 0, 1]), scores: t([1, 1, 2, 2], [0.5, 1, 1, -3.4e38]), output: t([1, 1, 2, 2], [0.75, 1.75, 3, 4]) },
      weights,
    );
    const svg = mechanismSvg({ layer: m, head: 0, query: 0, order: 'weight', weights: weights.subarray(0, 2), queryTokens: ['<a>', 'b'], keyTokens: ['<a>', 'b'], style: LIGHT_STYLE, positive: '#1a85ff', negative: '#e51400', accent: '#d18616' });
    const doc = parse(svg);
    const keys = Array.from(doc.getElementsByTagName('g')).filter((g) => g.getAttribute('class') === 'key');
    expect(keys.map((g) => g.getAttribute('data-key'))).toEqual(['1', '0']); // 0.75 before 0.25
    const texts = Array.from(doc.getElementsByTagName('text')).map((x) => x.textContent ?? '');
    expect(texts).toContain('1 b');
    expect(texts).toContain('0.7500');
    expect(texts.some((x) => x.includes('score = 0.5 × q·k'))).toBe(true);
    expect(svg).not.toContain('<a>');
  });
});

describe('comparison figures', () => {
  it('draws a difference by sign: positive links in one hue, negative in the other, opacity √|Δ|', () => {
    // One head, two tokens: Δ = +0.25 to key 0 and −0.25 to key 1 from each query.
    const d = { ...record(2, 2, 1, (_h, _q, k) => (k === 0 ? 0.25 : -0.25)), signed: true };
    const doc = parse(headViewSvg({ record: d, visibleHeads: [true], maxLinksPerQuery: 12, style: LIGHT_STYLE, measure, positive: '#0000ff', negative: '#ff0000' }));
    const groups = Array.from(doc.getElementsByTagName('g')).filter((g) => g.getAttribute('class') === 'head');
    expect(groups.map((g) => [g.getAttribute('stroke'), g.getElementsByTagName('line').length])).toEqual([['#0000ff', 2], ['#ff0000', 2]]);
    const line = groups[1].getElementsByTagName('line')[0];
    expect(line.getAttribute('data-weight')).toBe('-0.25');
    // √0.25 = 0.5 → bucket 8 of 16 → opacity 9/16.
    expect((line.parentNode as unknown as Element).getAttribute('stroke-opacity')).toBe(String(9 / 16));
  });

  it('draws the head correspondence: one cell per head pair with its distance, best matches outlined and listed', () => {
    const distances = Float32Array.from([0.2, 0.6, 0.9, 0.1, 0.5, 0.5]); // 3 heads of A × 2 of B
    const svg = correspondenceSvg({ distances, headsA: 3, headsB: 2, labelA: 'Layer 1', labelB: 'Layer 2', style: LIGHT_STYLE, positive: '#0000ff', title: 'A <x> · B' });
    const doc = parse(svg);
    const cells = Array.from(doc.getElementsByTagName('rect')).filter((r) => r.getAttribute('data-distance'));
    expect(cells.map((c) => [c.getAttribute('data-head-a'), c.getAttribute('data-head-b'), c.getAttribute('fill-opacity')])).toEqual([
      ['0', '0', '0.8'], ['0', '1', '0.4'], ['1', '0', '0.1'], ['1', '1', '0.9'], ['2', '0', '0.5'], ['2', '1', '0.5'],
    ]);
    const best = Array.from(doc.getElementsByTagName('rect')).filter((r) => r.getAttribute('class') === 'best');
    expect(best).toHaveLength(3);
    const texts = Array.from(doc.getElementsByTagName('text')).map((t) => t.textContent);
    expect(texts).toContain('A head 2 ~ B head 2 (JS 0.100)');
    expect(texts).toContain('.90');
    expect(texts).toContain('A <x> · B');
  });

  it('puts figures side by side in one SVG, each whole at its own size', () => {
    const a = headViewSvg({ record: record(3, 3, 1, () => 1 / 3), visibleHeads: [true], maxLinksPerQuery: 12, style: LIGHT_STYLE, measure });
    const b = headViewSvg({ record: record(5, 5, 2, () => 0.2), visibleHeads: [true, true], maxLinksPerQuery: 12, style: LIGHT_STYLE, measure });
    const both = parse(svgBeside([a, b], 16, { ...LIGHT_STYLE }, 12, 'A · B'));
    const root = both.documentElement!;
    const [wa, wb] = [svgSize(a).width, svgSize(b).width];
    expect(Number(root.getAttribute('width'))).toBe(wa + 16 + wb);
    const inner = Array.from(root.getElementsByTagName('svg'));
    expect(inner.map((s) => s.getAttribute('x'))).toEqual(['0', String(wa + 16)]);
    expect(inner[1].getElementsByTagName('line').length).toBe(parse(b).getElementsByTagName('line').length);
  });
});

describe('gridSvg', () => {
  it('lays the head explorer grid out as the view does: cells in the row’s order, tints, dimmed cells, selection, row labels', () => {
    const grid = buildHeadGrid(1, [positional(record(4, 4, 3, (h, q, k) => (k === Math.max(0, q - h) ? 1 : 0))), { ...record(4, 4, 2, () => 0.25), label: 'Layer 2' }], () => ({ special: new Uint8Array(4), punctuation: new Uint8Array(4) }), 8);
    const order = [[2, 0, 1], [1, 0]];
    const layout = gridLayout(grid, order, 30);
    expect(layout.rowY).toEqual([2, 34]);
    expect(layout.width).toBe(24 + 3 * 32 - 2 + 2); // room for the selection outline beside the last column
    const tints = Float32Array.from([0, 0.5, 1, NaN, NaN]);
    const svg = gridSvg({ grid, layout, tints, dimmed: (c) => c === 4, image: (c) => `data:image/png;base64,${c}`, style: LIGHT_STYLE, colors: COLORS, selected: [{ row: 1, head: 0 }], title: 'Head explorer' });
    const doc = parse(svg);
    const cells = Array.from(doc.getElementsByTagName('g')).filter((g) => g.getAttribute('class') === 'cell');
    expect(cells.map((c) => [c.getAttribute('data-layer'), c.getAttribute('data-head'), c.getAttribute('transform')])).toEqual([
      ['0', '2', 'translate(24 2)'], ['0', '0', 'translate(56 2)'], ['0', '1', 'translate(88 2)'], ['1', '1', 'translate(24 34)'], ['1', '0', 'translate(56 34)'],
    ]);
    // Head 3 of layer 1 (cell 2) has tint 1 → opacity 0.15 + 0.7; layer 2 has none; cell 4 (layer 2, head 2) is dimmed.
    expect(cells[0].getElementsByTagName('rect')[1].getAttribute('fill-opacity')).toBe('0.85');
    expect(cells[3].getElementsByTagName('rect')[1]?.getAttribute('fill-opacity') ?? null).toBeNull();
    expect(cells[3].getAttribute('opacity')).toBe('0.25');
    expect(cells[4].getAttribute('opacity')).toBeNull();
    expect(cells[2].getElementsByTagName('image')[0].getAttribute('href')).toBe('data:image/png;base64,1');
    const selected = Array.from(doc.getElementsByTagName('rect')).filter((r) => r.getAttribute('class') === 'selected');
    expect(selected.map((r) => [r.getAttribute('x'), r.getAttribute('y')])).toEqual([['55', '33']]);
    expect(Array.from(doc.getElementsByTagName('text')).map((t) => t.textContent)).toEqual(expect.arrayContaining(['Head explorer', 'L1', 'L2']));
    // Badges in letters at 30 px (head 1 of layer 1 attends to itself: S), and their key under the grid.
    const badge = cells[1].getElementsByTagName('text')[0];
    expect([badge.textContent, badge.getAttribute('font-size')]).toEqual([expect.stringContaining('S'), '10']);
    const key = Array.from(doc.getElementsByTagName('text')).filter((t) => t.getAttribute('class') === 'key').map((t) => t.textContent).join(' · ');
    expect(key).toContain('S self');
    expect(key).not.toContain('next-token');
  });

  it('marks the badges of cells too small for letters with a corner', () => {
    const grid = buildHeadGrid(1, [positional(record(4, 4, 2, (h, q, k) => (k === q ? 1 : 0)))], () => ({ special: new Uint8Array(4), punctuation: new Uint8Array(4) }), 8);
    const svg = gridSvg({ grid, layout: gridLayout(grid, [[0, 1]], 20), tints: new Float32Array(2).fill(NaN), dimmed: () => false, image: () => 'data:image/png;base64,', style: LIGHT_STYLE, colors: COLORS });
    const cells = Array.from(parse(svg).getElementsByTagName('g')).filter((g) => g.getAttribute('class') === 'cell');
    for (const c of cells) {
      expect(c.getElementsByTagName('text')).toHaveLength(0);
      const corner = c.getElementsByTagName('path')[0];
      expect([corner.getAttribute('fill'), corner.getAttribute('d'), corner.getElementsByTagName('title')[0].textContent]).toEqual([COLORS.corner, 'M20 15V20H15Z', expect.stringContaining('S')]);
    }
  });
});

/** A grid of `layers` rows of `heads` cells (sizes only; no statistics). */
function emptyGrid(layers: number, heads: number, section: 'self' | 'encoder' = 'self'): HeadGrid {
  const cells = layers * heads;
  return { runId: 1, size: 4, rows: Array.from({ length: layers }, (_, r) => ({ recordIndex: r, label: `Layer ${r + 1}`, section, heads })), thumbnails: new Uint8Array(cells * 16), stats: new Float32Array(cells * STAT_NAMES.length).fill(NaN) };
}

describe('fitCell', () => {
  it('fills the width it has; the row labels go above each row where that leaves larger cells', () => {
    const grid = emptyGrid(4, 8);
    // A 300-pixel sidebar: 8 heads of at least 34 pixels, labels above the rows.
    const fit = fitCell(grid, { width: 294, height: 700 }, 'sidebar');
    expect(fit).toEqual({ cell: 34, labels: 'above' });
    const l = gridLayout(grid, [[0]], fit.cell, GRID_PLACES.sidebar.fontPx, fit.labels);
    expect(l.width).toBeLessThanOrEqual(294);
    expect(gridLayout(grid, [[0]], fit.cell + 1, GRID_PLACES.sidebar.fontPx, fit.labels).width).toBeGreaterThan(294); // one pixel more would not fit
    expect(l.rowY[0]).toBe(2 + l.labelLine);
    // Wide enough, or short of height: labels at the left, the cells start after them.
    const wide = fitCell(grid, { width: 900, height: 200 }, 'sidebar');
    expect(wide.labels).toBe('left');
    const lw = gridLayout(grid, [[0]], wide.cell, GRID_PLACES.sidebar.fontPx, wide.labels);
    expect(lw.height).toBeLessThanOrEqual(200);
    expect(lw.labelWidth).toBeGreaterThan(11); // "L4" has its room
  });

  it('fits the height too, within the place’s limits, and keeps the minimum (scrolling) when the space is smaller', () => {
    const grid = emptyGrid(12, 12, 'encoder');
    expect(fitCell(grid, { width: 2000, height: 700 }, 'editor').cell).toBe(64); // the height alone would give less: the editor's minimum
    const l = gridLayout(grid, [[0]], 100, GRID_PLACES.editor.fontPx);
    expect(fitCell(grid, { width: 2000, height: l.height }, 'editor')).toEqual({ cell: 100, labels: 'left' }); // exactly 100-pixel rows under the section header
    expect(fitCell(grid, { width: 5000, height: 5000 }, 'editor').cell).toBe(GRID_PLACES.editor.maxCell);
    expect(fitCell(grid, { width: 100, height: 100 }, 'sidebar').cell).toBe(GRID_PLACES.sidebar.minCell);
  });
});

describe('badgeMark', () => {
  it('writes letters of at least 10 px where they fit, larger in larger cells, else a corner', () => {
    expect(badgeMark('', 80)).toBeUndefined();
    const small = badgeMark('P', BADGE_MIN_CELL);
    const large = badgeMark('P', 80);
    expect(small).toMatchObject({ kind: 'text', fontPx: 10 });
    expect(large).toMatchObject({ kind: 'text' });
    expect(large!.kind === 'text' && large!.fontPx).toBeGreaterThan(10);
    expect(badgeMark('P', BADGE_MIN_CELL - 1)).toMatchObject({ kind: 'corner' });
    expect(badgeMark('PSFSpB', 34)).toMatchObject({ kind: 'corner' }); // five labels do not fit a 34-pixel cell
    for (const cell of [28, 34, 50, 64, 100, 160]) {
      const m = badgeMark('FSp', cell)!;
      if (m.kind === 'text') expect(m.width).toBeLessThanOrEqual(cell - 2);
    }
  });

  it('keys the badges that occur, in lines that fit the width', () => {
    const grid = buildHeadGrid(1, [positional(record(4, 4, 2, (h, q, k) => (h === 0 ? (k === q ? 1 : 0) : k === 0 ? 1 : 0)))], () => ({ special: new Uint8Array(4), punctuation: new Uint8Array(4) }), 8);
    expect(badgeKey(grid, 1000, 10).join(' · ')).toMatch(/^S self · F first-token\/sink · L local$/);
    const narrow = badgeKey(grid, 80, 10);
    expect(narrow.length).toBeGreaterThan(1);
    for (const line of narrow) expect(line.length * 10 * 0.62).toBeLessThanOrEqual(Math.max(80, ...narrow.map((l) => l.length * 6.2)));
  });
});
