// Benchmark page: the head explorer grid, head statistics and the matrix view on a 12-layer ×
// 12-head synthetic attention, each against a plain baseline measured in the same browser run.
// Bundled by bench/headView.bench.mjs.
import { type AttentionRecord, recordOfLayer } from '../src/core/attention';
import { buildHeadGrid } from '../src/core/analysis/headGrid';
import { allHeadStats, keyCategories } from '../src/core/analysis/headStats';
import type { TokenInfo } from '../src/core/tokens';
import { ExplorerModel } from '../webview/explorer/explorerModel';
import { HeadGridView } from '../webview/explorer/headGridView';
import { MatrixView } from '../webview/views/matrixView';

const LAYERS = 12;
const HEADS = 12;

/** One synthetic layer (softmax of structured random logits); all layers share it, to fit 1024 tokens in memory. */
function syntheticRecords(n: number): { records: AttentionRecord[]; tokens: TokenInfo[]; text: string } {
  let s = 11;
  const rand = () => ((s = (s * 1664525 + 1013904223) >>> 0) / 4294967296);
  const data = new Float32Array(HEADS * n * n);
  for (let h = 0; h < HEADS; h++) {
    for (let q = 0; q < n; q++) {
      const off = (h * n + q) * n;
      let sum = 0;
      for (let k = 0; k < n; k++) sum += data[off + k] = Math.exp(3 * rand() + (k === q - 1 - (h % 3) ? 6 : 0) + (k === 0 ? 4 : 0));
      for (let k = 0; k < n; k++) data[off + k] /= sum;
    }
  }
  const text = Array.from({ length: n }, (_, i) => (i % 9 === 8 ? '.' : `w${i}`)).join(' ');
  let at = 0;
  const tokens: TokenInfo[] = text.split(' ').map((w, i) => {
    const t = { id: i, text: w, start: at, end: at + w.length, special: i === 0 };
    at += w.length + 1;
    return t;
  });
  const records = Array.from({ length: LAYERS }, (_, layer) => recordOfLayer({ name: `attentions.${layer}`, kind: 'self', layer, heads: HEADS, queries: n, keys: n, data }, { tokens, causal: false }));
  return { records, tokens, text };
}

/** A straightforward statistics loop: each statistic its own pass over each head, through nested arrays. */
function plainStats(records: AttentionRecord[], special: boolean[]): number {
  let checksum = 0;
  for (const r of records) {
    for (let h = 0; h < r.heads; h++) {
      const m: number[][] = Array.from({ length: r.queries }, (_, q) => Array.from(r.data.subarray((h * r.queries + q) * r.keys, (h * r.queries + q + 1) * r.keys)));
      const mean = (f: (row: number[], q: number) => number) => m.reduce((a, row, q) => a + f(row, q), 0) / m.length;
      checksum += mean((row) => -row.reduce((e, v) => e + (v > 0 ? v * Math.log(v) : 0), 0) / Math.log(row.length));
      checksum += mean((row, q) => row.reduce((d, v, k) => d + v * Math.abs(q - k), 0));
      checksum += mean((row, q) => (q > 0 ? row[q - 1] : 0)) + mean((row, q) => row[q + 1] ?? 0) + mean((row, q) => row[q]) + mean((row) => row[0]);
      checksum += mean((row) => row.reduce((a, v, k) => a + (special[k] ? v : 0), 0));
    }
  }
  return checksum;
}

/** A plain grid: every thumbnail pixel its own fillRect (what a direct port of a notebook model view does). */
function plainGrid(canvas: HTMLCanvasElement, thumbs: Uint8Array, cells: number, size: number, cell: number): void {
  const ctx = canvas.getContext('2d')!;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const px = cell / size;
  for (let c = 0; c < cells; c++) {
    const x0 = (c % HEADS) * (cell + 2), y0 = Math.floor(c / HEADS) * (cell + 2);
    for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) {
      const v = thumbs[c * size * size + y * size + x];
      if (v === 0) continue;
      ctx.fillStyle = `rgba(200,200,200,${Math.sqrt(v / 255)})`;
      ctx.fillRect(x0 + x * px, y0 + y * px, px, px);
    }
  }
}

/** A plain heat map: one fillRect per cell. */
function plainMatrix(canvas: HTMLCanvasElement, r: AttentionRecord, cell: number): void {
  const ctx = canvas.getContext('2d')!;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  for (let q = 0; q < r.queries; q++) for (let k = 0; k < r.keys; k++) {
    let v = 0;
    for (let h = 0; h < r.heads; h++) v += r.data[(h * r.queries + q) * r.keys + k] / r.heads;
    ctx.fillStyle = `rgba(55,148,255,${Math.sqrt(v)})`;
    ctx.fillRect(k * cell, q * cell, cell, cell);
  }
}

const painted = () => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
async function time(f: () => void | Promise<void>): Promise<number> {
  const t0 = performance.now();
  await f();
  await painted();
  return performance.now() - t0;
}

/** Every measurement at `n` tokens; the runner reads the result. */
async function runExplorer(n: number): Promise<Record<string, number>> {
  const { records, tokens, text } = syntheticRecords(n);
  const cats = keyCategories(tokens, text);
  let t0 = performance.now();
  allHeadStats(records, () => cats);
  const stats = performance.now() - t0;
  t0 = performance.now();
  const grid = buildHeadGrid(1, records, () => cats);
  const gridData = performance.now() - t0;
  t0 = performance.now();
  plainStats(records, tokens.map((t) => t.special));
  const plainStatsMs = performance.now() - t0;

  const host = document.createElement('div');
  host.style.cssText = 'width: 420px; height: 700px; overflow: auto; position: relative';
  document.body.replaceChildren(host);
  const model = new ExplorerModel();
  const view = new HeadGridView(host, model);
  // As the explorer page does: the model changes, then the view rebuilds (data, style) or restyles (hover).
  model.onDidChange((change) => (change === 'hover' ? view.update() : view.render()));
  const gridFirst = await time(() => model.receive({ grid }));
  const recolor = await time(() => model.setColorBy('entropy'));
  const hovers: number[] = [];
  const hoverJs: number[] = [];
  for (let i = 0; i < 20; i++) {
    hovers.push(await time(() => model.hoverOn({ row: i % LAYERS, head: (i * 5) % HEADS })));
    hoverJs.push(view.stats.updateMs);
  }
  const canvas = document.createElement('canvas');
  canvas.width = 420;
  canvas.height = 420;
  document.body.appendChild(canvas);
  const plainGridMs = await time(() => plainGrid(canvas, grid.thumbnails, LAYERS * HEADS, grid.size, 30));

  // The full-size explorer in the editor area: a 1050 × 760 tab (the editor area at 1400 × 900 with
  // the sidebar open), its cells at least 64 pixels; against the plain grid at the same cell size.
  const ehost = document.createElement('div');
  ehost.style.cssText = 'width: 1050px; height: 760px; overflow: auto; position: relative';
  document.body.replaceChildren(ehost);
  const emodel = new ExplorerModel();
  const eview = new HeadGridView(ehost, emodel, 'editor');
  emodel.onDidChange((change) => (change === 'hover' ? eview.update() : eview.render()));
  const editorFirst = await time(() => emodel.receive({ grid }));
  const editorCell = eview.cellSize ?? 0;
  const editorHovers: number[] = [];
  for (let i = 0; i < 20; i++) {
    await time(() => emodel.hoverOn({ row: i % LAYERS, head: (i * 5) % HEADS }));
    editorHovers.push(eview.stats.updateMs);
  }
  const ecanvas = document.createElement('canvas');
  ecanvas.width = ecanvas.height = HEADS * (editorCell + 2);
  document.body.appendChild(ecanvas);
  const plainEditorGrid = await time(() => plainGrid(ecanvas, grid.thumbnails, LAYERS * HEADS, grid.size, editorCell));

  const mhost = document.createElement('div');
  mhost.style.cssText = 'width: 700px; height: 700px; position: relative';
  document.body.replaceChildren(mhost);
  const matrix = new MatrixView(mhost, () => undefined);
  const state = { record: records[0], visibleHeads: Array(HEADS).fill(true), hover: null };
  const matrixFirst = await time(() => matrix.render(state));
  const mh: number[] = [];
  const mhJs: number[] = [];
  for (let i = 0; i < 20; i++) {
    mh.push(await time(() => matrix.update({ ...state, hover: { side: 'query', index: (i * 37) % n, key: (i * 11) % n } })));
    mhJs.push(matrix.stats.hoverMs);
  }
  const mcanvas = document.createElement('canvas');
  mcanvas.width = 700;
  mcanvas.height = 700;
  document.body.appendChild(mcanvas);
  const plainMatrixMs = await time(() => plainMatrix(mcanvas, records[0], 700 / n));
  return { n, stats, gridData, plainStats: plainStatsMs, gridFirst, recolor, gridHover: median(hovers), gridHoverJs: median(hoverJs), plainGrid: plainGridMs, editorCell, editorFirst, plainEditorGrid, editorHoverJs: median(editorHovers), matrixFirst, matrixHover: median(mh), matrixHoverJs: median(mhJs), plainMatrix: plainMatrixMs };
}

(window as unknown as { runExplorer: typeof runExplorer }).runExplorer = runExplorer;
