// The head explorer's grid measured in the panel (webview/panel/headGridTask.ts): a pass that takes
// long says how far it is, and the explorer's Stop abandons it; measured again, it completes.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { recordOfLayer } from '../../src/core/attention';
import { buildHeadGrid, rowCells } from '../../src/core/analysis/headGrid';
import { contributionRecord } from '../../src/core/mechanism';
import { categoriesFor } from '../../src/core/analysis/transform';
import type { RunRequest } from '../../src/core/protocol/panel';
import { type QueryKeyLayer, headByHead, layerWeights } from '../../src/core/queryKeys';
import { TASK_CELLS, computeHeadGrid, gridRowsWith, inTasks, measuringGrid, stopHeadGrid } from '../../webview/panel/headGridTask';
import { computeLayersWith, computedLayer, storedRecords } from '../../webview/panel/layerStore';

// The page's frames, as a browser gives them, and its body, where the pass marks how it measured
// (for the e2e tests): for this file only (the unit files share a process).
const page = globalThis as { requestAnimationFrame?: (f: () => void) => void; document?: unknown };
const had = { requestAnimationFrame: page.requestAnimationFrame, document: page.document };
beforeAll(() => {
  page.requestAnimationFrame ??= (f) => setTimeout(f, 0);
  page.document ??= { body: { dataset: {} } };
});
afterAll(() => {
  for (const key of ['requestAnimationFrame', 'document'] as const) if (had[key] === undefined) delete page[key];
});

function qkLayer(layer: number, n: number): QueryKeyLayer {
  const q = Float32Array.from({ length: 2 * n * 2 }, (_, i) => Math.sin(i + layer));
  const k = Float32Array.from({ length: n * 2 }, (_, i) => Math.cos(i * 0.7 + layer));
  return { name: `attentions.${layer}`, kind: 'self', layer, heads: 2, kvHeads: 1, queries: n, keys: n, headDim: 2, scale: 0.5, q, k, causal: true };
}

const n = 6;
const tokens = Array.from({ length: n }, (_, i) => ({ id: i, text: `t${i}`, start: i, end: i + 1, special: false }));
const request: RunRequest = { runId: 3, model: { id: 'm', label: 'M', architecture: 'qwen2', onnxFile: 'u', onnxLabel: 'onnx/model.onnx', causal: true }, backend: 'auto', text: 'abcdef', tokens, ids: Int32Array.from(tokens.map((t) => t.id)), maxLinksPerQuery: 12 };
const layers = [0, 1, 2].map((l) => qkLayer(l, n));
const headers = layers.map((l) => recordOfLayer({ ...layerWeights(l), data: new Float32Array(0) }, { tokens, causal: true }));

afterEach(() => {
  computeLayersWith(undefined);
  gridRowsWith(undefined);
});

/** The layers as a long run's records, each computed "in the workers", layer `held` kept back until `release()`. */
function gatedRecords(held: number) {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  computeLayersWith(async (l) => {
    if (l.layer === held) await gate;
    return layerWeights(l).data;
  });
  return { records: storedRecords(headers, Infinity, false, layers.map(computedLayer)).records, release };
}

describe('the grid pass', () => {
  it('says how far it is once it has taken half a second, stops when asked (saying where), and completes when measured again', async () => {
    const { records, release } = gatedRecords(1);
    const heard: string[] = [];
    const first = computeHeadGrid(request, records, (done, of) => heard.push(`${done}/${of}`));
    await new Promise((r) => setTimeout(r, 700)); // layer 2 waits on the gate past half a second
    expect(measuringGrid()).toBe(true);
    expect(stopHeadGrid()).toEqual({ done: 1, of: 3 });
    release();
    expect(await first).toBeUndefined();
    expect(measuringGrid()).toBe(false);
    expect(heard).toEqual([]); // the pass was under half a second when it reached layer 2
    const again = await computeHeadGrid(request, records);
    const full = buildHeadGrid(request.runId, layers.map((l, i) => ({ ...headers[i], data: layerWeights(l).data })), categoriesFor({ tokens, text: 'abcdef' }));
    expect(Array.from(again!.stats)).toEqual(Array.from(full.stats));
    expect(stopHeadGrid()).toBeUndefined(); // none running
  });

  it('reports each layer after half a second', async () => {
    const { records, release } = gatedRecords(0);
    const heard: string[] = [];
    const pass = computeHeadGrid(request, records, (done, of) => heard.push(`${done}/${of}`));
    setTimeout(release, 600);
    expect(await pass).toBeDefined();
    expect(heard).toEqual(['1/3', '2/3']);
  });
});

describe('a long run weighed by contributions', () => {
  it('measures each layer’s contributions in the workers (the layer sent with its value norms), as the full tensors’ contributions give them', async () => {
    const { PanelState } = await import('../../webview/panel/state');
    const normed = layers.map((l) => ({ ...l, valueNorms: Float32Array.from({ length: l.heads * n }, (_, i) => 0.3 + Math.abs(Math.sin(2 * i + l.layer))), valueNormBasis: 'output-projection' as const }));
    const state = new PanelState();
    state.setWeighting('contribution');
    state.finish(request, { layers: [], queryKeys: normed, backend: 'native', millis: 1, warnings: [], spans: [], backendReason: '', moreToCome: false });
    state.setContributions({ runId: request.runId, byName: new Map(), basis: 'output-projection' });
    const sent: boolean[] = [];
    // The workers, as layerWorker.ts measures a layer: one head at a time, from queries and keys.
    gridRowsWith(async (l, task) => {
      sent.push(l.byContribution === true);
      return [rowCells(task.record, task.categories, task.size, task.patchMaps, 0, l.heads, headByHead(l))];
    });
    const grid = await computeHeadGrid(request, state.snapshot.base);
    expect(sent).toEqual([true, true, true]);
    expect(document.body.dataset.gridRows).toBe('workers');
    const contributions = normed.map((l, i) => contributionRecord({ ...headers[i], data: layerWeights(l).data }, layerWeights(l).data.map((w, j) => w * l.valueNorms[Math.floor(j / (n * n)) * n + (j % n)])));
    const full = buildHeadGrid(request.runId, contributions, categoriesFor({ tokens, text: 'abcdef' }));
    // NaN where a statistic has nothing to measure, in both.
    expect(Array.from(grid!.stats, (x, i) => (Number.isNaN(x) && Number.isNaN(full.stats[i])) || Math.abs(x - full.stats[i]) < 1e-6).every(Boolean)).toBe(true);
    expect(Array.from(grid!.thumbnails)).toEqual(Array.from(full.thumbnails));
  });
});

describe('work in tasks', () => {
  /** Steps that record which task ran each one (a counter the event loop's tasks advance). */
  function counted(steps: number, task: () => number) {
    const ran: number[] = [];
    function* work(): Generator<void, string> {
      for (let i = 0; i < steps; i++) {
        ran.push(task());
        if (i + 1 < steps) yield;
      }
      return 'done';
    }
    return { ran, work };
  }
  function taskCounter() {
    let n = 0, on = true;
    const tick = () => on && setTimeout(() => (n++, tick()), 0);
    tick();
    return { now: () => n, stop: () => (on = false) };
  }

  it('runs nothing in the caller’s task, and about TASK_CELLS cells a task', async () => {
    const tasks = taskCounter();
    const { ran, work } = counted(8, tasks.now);
    const before = tasks.now();
    const result = inTasks(work(), TASK_CELLS / 4, () => true);
    expect(ran).toEqual([]);
    expect(await result).toBe('done');
    tasks.stop();
    expect(ran[0]).toBeGreaterThan(before);
    // Four steps of a quarter each share a task; the eight make two.
    expect(new Set(ran.slice(0, 4)).size).toBe(1);
    expect(new Set(ran.slice(4)).size).toBe(1);
    expect(ran[4]).toBeGreaterThan(ran[3]);
  });

  it('stops when no longer wanted, telling how many steps were done at each yield', async () => {
    const heard: number[] = [];
    const { ran, work } = counted(5, () => 0);
    expect(await inTasks(work(), TASK_CELLS, (done) => (heard.push(done), done < 3))).toBeUndefined();
    expect(heard).toEqual([0, 1, 2, 3]);
    expect(ran.length).toBe(3);
  });
});
