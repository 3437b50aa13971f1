/**
 * The upkeep of the panel's layer stores after each change: what is on screen kept in full
 * precision, the rest compacted once the picture is painted, and the memory figure the benchmark
 * reads (`data-attention-bytes` and the like on the page's body).
 */
import type { LayerStore } from './layerStore';
import { nextTask } from './headGridTask';
import type { PanelState } from './state';

/** Once the picture is painted, the panel's stores are compacted (one layer per task); the memory figure follows. */
export function compactLater(state: PanelState): void {
  const stores = state.stores.map(([store]) => store);
  const gone = (store: LayerStore) => () => !state.stores.some(([s]) => s === store);
  requestAnimationFrame(() => requestAnimationFrame(() => {
    for (const store of stores) {
      void store.compact(nextTask, gone(store)).then((changed) => {
        if (changed && !gone(store)()) showMemory(state);
      });
    }
  }));
}

/** Keeps what the views on screen are made from in full precision; when layers come back, what was made from them is made again. */
export function pinOnScreen(state: PanelState): void {
  const run = state.snapshot.run;
  for (const [store, onScreen] of state.stores) {
    store.pin(onScreen).then(
      (upgraded) => {
        if (upgraded && state.snapshot.run === run) state.refreshPrecision();
        else setTimeout(() => showMemory(state), 0); // computed layers kept or let go
      },
      (e: Error) => state.snapshot.run === run && state.warn(`${e.message}. The views show a 16-bit copy meanwhile`),
    );
  }
}

/** The panel's memory, for the benchmark (and anyone curious in the webview's developer tools). */
export function showMemory(state: PanelState): void {
  const store = state.snapshot.run?.store;
  const data = document.body.dataset;
  data.attentionBytes = String(state.heldBytes);
  data.attentionBlobBytes = String(store?.blobBytes ?? 0);
  // What the view draws: the run's layers on screen, or a comparison's records aligned apart from them.
  const s = state.snapshot;
  const drawn: Array<[LayerStore, number[]]> = s.compare && s.baseStore ? [[s.baseStore, [s.recordIndex]]] : store ? [[store, state.layersOnScreen]] : [];
  data.layerPrecision = drawn.every(([at, shown]) => shown.every((i) => at.isFull(i))) ? 'full' : '16-bit';
}
