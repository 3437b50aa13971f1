/**
 * Computes the head explorer's grid in the panel, one layer per task, so hovering and drawing
 * stay responsive while it runs; a newer run abandons an older computation.
 */
import type { AttentionRecord } from '../../src/core/attention';
import { type HeadGrid, type RowCells, cellOffsets, emptyHeadGrid, fillGridRow, setGridRow } from '../../src/core/analysis/headGrid';
import { bestMatches, correspondenceSteps, headDivergenceSteps } from '../../src/core/analysis/compare';
import { categoriesFor } from '../../src/core/analysis/transform';
import type { RunRequest } from '../../src/core/protocol/panel';
import type { QueryKeyLayer } from '../../src/core/queryKeys';
import { plain, prepareRecords, queryKeysToCompute } from './layerStore';
import type { GridTask } from './layerWorker';

let generation = 0;
/** The pass in progress: layers done of all. */
let measuring: { done: number; of: number } | undefined;
/** A grid measured for longer than this says how far it is. */
const PROGRESS_AFTER_MS = 500;

/** Computes a long input's grid rows in the page's workers, once the page has set it. */
let rowsLater: ((l: QueryKeyLayer, task: GridTask) => Promise<RowCells[]>) | undefined;

/** The page fills the grid rows of layers kept as queries and keys with `compute` (a failure fills them here instead). */
export function gridRowsWith(compute: typeof rowsLater): void {
  rowsLater = compute;
}

/** Cells (rows × keys, summed over pairs of heads) a comparison's pass computes in one task: tens of milliseconds. */
export const TASK_CELLS = 4 << 20;

/** Yields to the event loop (input, paint) before the next slice of work. */
export const nextTask = (): Promise<void> => new Promise<void>((resolve) => setTimeout(resolve, 0));

/** Resolves once the frame after this one has been painted: the picture just drawn is on screen. */
export const afterPaint = (): Promise<void> => new Promise<void>((resolve) => requestAnimationFrame(() => requestAnimationFrame(() => resolve())));

/**
 * Builds the grid of a run's per-head `records`; resolves undefined when a newer call or
 * `stopHeadGrid` superseded it; after half a second, `progress` hears how many layers are done before each next one.
 * It starts once the picture drawn with the run is painted: a layer's task (tens of ms) run
 * between the two frames would hold the picture back (measured: 50–100 ms of a warm run's paint).
 */
export async function computeHeadGrid(request: RunRequest, records: readonly AttentionRecord[], progress?: (done: number, of: number) => void): Promise<HeadGrid | undefined> {
  const gen = ++generation;
  measuring = { done: 0, of: records.length };
  try {
    return await measure(gen, request, records, progress);
  } finally {
    if (gen === generation) measuring = undefined;
  }
}

async function measure(gen: number, request: RunRequest, records: readonly AttentionRecord[], progress?: (done: number, of: number) => void): Promise<HeadGrid | undefined> {
  const categories = categoriesFor({ tokens: request.tokens, text: request.text, decoderTokens: request.decoderTokens });
  const grid = emptyHeadGrid(request.runId, records);
  await afterPaint();
  const started = performance.now();
  for (let i = 0; i < records.length; i++) {
    await nextTask();
    if (gen !== generation) return undefined;
    measuring = { done: i, of: records.length };
    // Told once it takes long enough to be seen waiting for (a long input's: minutes).
    if (progress && performance.now() - started > PROGRESS_AFTER_MS) progress(i, records.length);
    const r = records[i];
    // A long input's layer not on screen: its cells are computed in the page's workers, a head at
    // a time, and only they come back (the layer would take 940 MB at 4,096 tokens on 14 heads).
    const qk = rowsLater && queryKeysToCompute(r);
    const cells = qk && (await rowsLater!(qk, { record: { ...r, data: new Float32Array(0) }, categories: categories(r), size: grid.size, patchMaps: grid.patchMaps === true }).catch(() => undefined));
    if (gen !== generation) return undefined;
    if (cells) {
      for (const c of cells) setGridRow(grid, i, c);
      document.body.dataset.gridRows = 'workers'; // for the tests
      continue;
    }
    // Else the layer is computed in the page's workers, then read at once.
    await prepareRecords([r]);
    if (gen !== generation) return undefined;
    fillGridRow(grid, i, r, categories(r));
  }
  return grid;
}

/** Whether a grid pass is in progress. */
export const measuringGrid = (): boolean => measuring !== undefined;

/** Abandons the grid pass in progress (the explorer's Stop: a long input's takes minutes); where it was, or undefined when none was running. */
export function stopHeadGrid(): { done: number; of: number } | undefined {
  const was = measuring;
  measuring = undefined;
  generation++;
  return was;
}

/**
 * Runs `steps` to its end in the event loop's tasks, none in the caller's: it yields first, then
 * whenever about `TASK_CELLS` cells were worked through (`cellsPerStep` a step); undefined once
 * `still(stepsDone)`, asked at each yield, says the result is no longer wanted.
 */
export async function inTasks<T>(steps: Generator<void, T>, cellsPerStep: number, still: (stepsDone: number) => boolean): Promise<T | undefined> {
  await nextTask();
  if (!still(0)) return undefined;
  let step = steps.next(), pending = cellsPerStep, done = 1;
  for (; !step.done; step = steps.next(), pending += cellsPerStep, done++) {
    if (pending < TASK_CELLS) continue;
    pending = 0;
    await nextTask();
    if (!still(done)) return undefined;
  }
  return step.value;
}

/**
 * The head of `b` closest to head `head` of `a` (aligned records) by Jensen-Shannon distance, as
 * the head correspondence measures it, a few million cells per task; undefined once `still` says
 * it is no longer wanted.
 */
export async function closestHead(a: AttentionRecord, b: AttentionRecord, head: number, still: () => boolean): Promise<number | undefined> {
  await prepareRecords([a, b]);
  if (!still()) return undefined;
  const distances = await inTasks(correspondenceSteps(plain(a), plain(b), [head]), a.queries * a.keys, still);
  return distances && bestMatches(distances, 1, b.heads)[0].head;
}

/**
 * Adds a comparison's divergence to `grid` (run A's): row i against layer `layerOf(i)` of B, one
 * layer per task; undefined when a newer grid computation superseded it.
 */
export async function withDivergence(grid: HeadGrid, a: readonly AttentionRecord[], b: readonly AttentionRecord[], layerOf: (i: number) => number, modelB: string): Promise<HeadGrid | undefined> {
  const gen = generation;
  const cells = cellOffsets(grid.rows);
  const values = new Float32Array(cells.at(-1)!).fill(NaN);
  const partner = new Int16Array(values.length).fill(-1);
  const layersB: string[] = [], measures: string[] = [];
  for (let i = 0; i < a.length; i++) {
    // A long input's layers are computed in the page's workers first, then read once each (a
    // stored record's weights come through a getter) and held while the layer's steps run, in
    // tasks of their own (`inTasks` yields first).
    await prepareRecords([a[i], b[layerOf(i)]]);
    if (gen !== generation) return undefined;
    const ra = plain(a[i]), rb = plain(b[layerOf(i)]);
    // Pairs of heads, where heads are matched by distance, a few million cells per task (most of
    // a second a layer at BERT-base size; one pair a task at 4,096 tokens).
    const d = await inTasks(headDivergenceSteps(ra, rb), ra.queries * ra.keys, () => gen === generation);
    if (!d) return undefined;
    values.set(d.values, cells[i]);
    partner.set(d.partner, cells[i]);
    layersB.push(rb.label);
    measures.push(d.measure);
  }
  return { ...grid, divergence: { modelB, values, partner, layersB, measures } };
}
