/**
 * Workers that compute a long input's layers from queries and keys, its heads split between them:
 * a layer switch, the explorer's statistics and exports wait for them without freezing the page
 * (a 14-head layer at 2,048 tokens is about 2 s of arithmetic on one core). Browser only.
 */
import type { QueryKeyLayer } from '../../src/core/queryKeys';
import type { LayerTask, LayerTaskDone } from './layerWorker';

/** The worker's bundle, as text (scripts/build.mjs defines it). */
declare const __LAYER_WORKER__: string;

export class LayerWorkers {
  private readonly workers: Worker[] = [];
  private readonly waiting = new Map<number, { resolve(d: Float32Array): void; reject(e: Error): void }>();
  private seq = 0;
  /** Why the workers failed (their script would not start, as under a stricter policy): the page computes layers itself then. */
  private broken: string | undefined;

  /**
   * `count` workers, started on first use: by default one per core but the page's, at most four.
   * Several workers' shares of a layer are copied into one array here, which costs the page about
   * 0.2 s for a 59 MB layer (14 heads at 1,024 tokens): with one worker its array is the layer.
   */
  constructor(private readonly count = Math.max(1, Math.min(4, (navigator.hardwareConcurrency || 2) - 1))) {}

  /** Every weight of layer `l`, `[heads][queries][keys]`. */
  async compute(l: QueryKeyLayer): Promise<Float32Array> {
    this.start();
    if (this.broken) throw new Error(this.broken);
    const parts = Math.min(this.workers.length, l.heads);
    const size = l.queries * l.keys;
    const bounds = Array.from({ length: parts + 1 }, (_, p) => Math.round((p * l.heads) / parts));
    const done = await Promise.all(bounds.slice(0, -1).map((from, p) => this.task(this.workers[p], l, from, bounds[p + 1])));
    if (done.length === 1) return done[0];
    const out = new Float32Array(l.heads * size);
    done.forEach((d, p) => out.set(d, bounds[p] * size));
    return out;
  }

  private start(): void {
    if (this.workers.length) return;
    const url = URL.createObjectURL(new Blob([__LAYER_WORKER__], { type: 'text/javascript' }));
    for (let i = 0; i < this.count; i++) {
      const w = new Worker(url);
      w.onmessage = ({ data }: MessageEvent<LayerTaskDone>) => {
        const wait = this.waiting.get(data.id);
        this.waiting.delete(data.id);
        if ('error' in data) wait?.reject(new Error(`a layer could not be computed from its queries and keys: ${data.error}`));
        else wait?.resolve(data.data);
        document.body.dataset.layerWorkers = this.broken ? 'failed' : 'working'; // for the tests
      };
      w.onerror = (e) => {
        e.preventDefault();
        this.broken = `the page's workers failed (${e.message || 'their script did not start'})`;
        document.body.dataset.layerWorkers = 'failed';
        for (const wait of this.waiting.values()) wait.reject(new Error(this.broken));
        this.waiting.clear();
      };
      this.workers.push(w);
    }
  }

  private task(worker: Worker, layer: QueryKeyLayer, from: number, to: number): Promise<Float32Array> {
    const id = ++this.seq;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      worker.postMessage({ id, layer, from, to } satisfies LayerTask);
    });
  }
}
