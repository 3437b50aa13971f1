/**
 * A worker of the panel's that computes heads of a long input's layer from its queries and keys
 * (`headWeights`; or their explorer cells, or their comparison's alignment), so the page's thread
 * stays free while a layer is made. Bundled into the page's script as text (scripts/build.mjs)
 * and started from a Blob: a webview's own files are of another origin, which a worker may not
 * load.
 */
import { type RowCells, rowCells } from '../../src/core/analysis/headGrid';
import type { KeyCategories } from '../../src/core/analysis/headStats';
import type { AttentionRecord } from '../../src/core/attention';
import type { RolloutMatrix } from '../../src/core/analysis/aggregate';
import type { HeadAlignment } from '../../src/core/analysis/compare';
import { type QueryKeyLayer, type RolloutTask, alignedHeads, headByHead, headWeights, rolloutLayer } from '../../src/core/queryKeys';

/** The head explorer's cells of a layer's record, instead of its weights. */
export interface GridTask {
  /** The record the layer is shown as (its weights are not sent). */
  record: AttentionRecord;
  categories: KeyCategories;
  size: number;
  patchMaps: boolean;
}

/** Page → worker: heads `from`…`to − 1` of `layer`, as weights, (`grid`) as the explorer's cells or (`align`) over a comparison's paired units; or a layer of a rollout. */
export type LayerTask = { id: number; layer: QueryKeyLayer; from: number; to: number; grid?: GridTask; align?: HeadAlignment } | { id: number; rollout: RolloutTask };

/**
 * Worker → page: those heads' weights, `[to − from][queries][keys]`, or their cells (each head
 * computed, measured and let go in turn: the layer is never held whole), or why they could not be made.
 */
export type LayerTaskDone = { id: number; data: Float32Array } | { id: number; cells: RowCells } | { id: number; rollout: RolloutMatrix } | { id: number; error: string };

const scope = self as unknown as { onmessage: ((e: MessageEvent<LayerTask>) => void) | null; postMessage(m: LayerTaskDone, transfer?: Transferable[]): void };

scope.onmessage = ({ data: task }) => {
  const { id } = task;
  try {
    if ('rollout' in task) {
      const rollout = rolloutLayer(task.rollout);
      scope.postMessage({ id, rollout }, [rollout.data.buffer, rollout.ends.buffer]);
      return;
    }
    const { layer, from, to, grid, align } = task;
    if (grid) {
      const cells = rowCells(grid.record, grid.categories, grid.size, grid.patchMaps, from, to, headByHead(layer));
      scope.postMessage({ id, cells }, [cells.thumbnails.buffer, cells.stats.buffer]);
      return;
    }
    const data = align ? alignedHeads(layer, from, to, align) : headWeights(layer, from, to);
    scope.postMessage({ id, data }, [data.buffer]);
  } catch (e) {
    scope.postMessage({ id, error: e instanceof Error ? e.message : String(e) });
  }
};
