/**
 * A worker of the panel's that computes heads of a long input's layer from its queries and keys
 * (`headWeights`), so the page's thread stays free while a layer is made. Bundled into the page's
 * script as text (scripts/build.mjs) and started from a Blob: a webview's own files are of another
 * origin, which a worker may not load.
 */
import { type QueryKeyLayer, headWeights } from '../../src/core/queryKeys';

/** Page → worker: heads `from`…`to − 1` of `layer`. */
export interface LayerTask {
  id: number;
  layer: QueryKeyLayer;
  from: number;
  to: number;
}

/** Worker → page: those heads' weights, `[to − from][queries][keys]`, or why they could not be made. */
export type LayerTaskDone = { id: number; data: Float32Array } | { id: number; error: string };

const scope = self as unknown as { onmessage: ((e: MessageEvent<LayerTask>) => void) | null; postMessage(m: LayerTaskDone, transfer?: Transferable[]): void };

scope.onmessage = ({ data: { id, layer, from, to } }) => {
  try {
    const data = headWeights(layer, from, to);
    scope.postMessage({ id, data }, [data.buffer]);
  } catch (e) {
    scope.postMessage({ id, error: e instanceof Error ? e.message : String(e) });
  }
};
