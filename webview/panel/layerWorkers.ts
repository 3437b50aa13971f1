/**
 * Workers that compute a long input's layers from queries and keys, its heads split between them:
 * a layer switch, the explorer's statistics and exports wait for them without freezing the page
 * (a 14-head layer at 2,048 tokens is about 2 s of arithmetic on one core). Browser only.
 */
import type { RowCells } from '../../src/core/analysis/headGrid';
import type { RolloutMatrix } from '../../src/core/analysis/aggregate';
import type { HeadAlignment } from '../../src/core/analysis/compare';
import { type QueryKeyLayer, type RolloutTask, rolloutLayer } from '../../src/core/queryKeys';
import type { GridTask, LayerTask, LayerTaskDone } from './layerWorker';

type Done = Exclude<LayerTaskDone, { error: string }>;

/** The worker's bundle, as text (scripts/build.mjs defines it). */
declare const __LAYER_WORKER__: string;

export class LayerWorkers {
  private readonly workers: Worker[] = [];
  private readonly waiting = new Map<number, { resolve(d: Done): void; reject(e: Error): void }>();
  private seq = 0;
  /** Why the workers failed (their script would not start, as under a stricter policy): the page computes layers itself then. */
  private broken: string | undefined;

  /**
   * `count` workers, started on first use: by default one per core but the page's, at most four.
   * Several workers' shares of a layer are copied into one array here, which costs the page about
   * 0.2 s for a 59 MB layer (14 heads at 1,024 tokens): with one worker its array is the layer.
   */
  constructor(private readonly count = Math.max(1, Math.min(4, (navigator.hardwareConcurrency || 2) - 1))) {}

  /** Every weight of layer `l`, `[heads][queries][keys]`; with `align`, over a comparison's paired units, `[heads][n][n]` (the layer never reaches the page). */
  async compute(l: QueryKeyLayer, align?: HeadAlignment): Promise<Float32Array> {
    const size = align ? align.units.length ** 2 : l.queries * l.keys;
    const { bounds, done } = await this.split(l, align ? { align } : {});
    const data = done.map((d) => {
      if (!('data' in d)) throw new Error('a worker returned cells for a layer');
      return d.data;
    });
    if (data.length === 1) return data[0];
    const out = new Float32Array(l.heads * size);
    data.forEach((d, p) => out.set(d, bounds[p] * size));
    return out;
  }

  /**
   * The head explorer's cells of layer `l` shown as `grid.record`, each worker's share of heads
   * computed one head at a time and measured there: the page never receives the layer's weights
   * (940 MB at 4,096 tokens on a 14-head layer), only thumbnails and statistics.
   */
  async gridRow(l: QueryKeyLayer, grid: GridTask): Promise<RowCells[]> {
    const { done } = await this.split(l, { grid });
    return done.map((d) => {
      if (!('cells' in d)) throw new Error('a worker returned weights for a grid row');
      return d.cells;
    });
  }

  /**
   * A layer of a long input's rollout, in the first worker (each layer needs the one before; its
   * previous rollout is copied there, the page keeps its own); on the page when the workers failed.
   */
  async rollout(task: RolloutTask): Promise<RolloutMatrix> {
    this.start();
    if (this.broken) return rolloutLayer(task);
    const done = await this.task(this.workers[0], { id: ++this.seq, rollout: task });
    if (!('rollout' in done)) throw new Error('a worker returned something else for a rollout layer');
    return done.rollout;
  }

  /** Layer `l`'s heads split between the workers, each share's result. */
  private async split(l: QueryKeyLayer, what: { grid?: GridTask; align?: HeadAlignment } = {}): Promise<{ bounds: number[]; done: Done[] }> {
    this.start();
    if (this.broken) throw new Error(this.broken);
    const parts = Math.min(this.workers.length, l.heads);
    const bounds = Array.from({ length: parts + 1 }, (_, p) => Math.round((p * l.heads) / parts));
    const done = await Promise.all(bounds.slice(0, -1).map((from, p) => this.task(this.workers[p], { id: ++this.seq, layer: l, from, to: bounds[p + 1], ...what })));
    return { bounds, done };
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
        else wait?.resolve(data);
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

  private task(worker: Worker, task: LayerTask): Promise<Done> {
    return new Promise((resolve, reject) => {
      this.waiting.set(task.id, { resolve, reject });
      worker.postMessage(task);
    });
  }
}
