/**
 * Where the panel keeps a run's attention layers, so that long inputs on real-size models do not
 * hold every layer in full precision (BERT-base at 512 tokens: 151 MB).
 *
 * Layers arrive in full precision. Once the picture is drawn, `compact` keeps every layer as 16-bit
 * floats (half the bytes; enough for pictures and for passes over every layer) and moves its
 * full-precision bytes into a Blob, which the browser keeps outside the page's heap (and pages to
 * disk under pressure). The layers on screen (`pin`) are read back from it in full precision;
 * until they arrive, and for every other layer, `data` decodes the 16-bit copy. Exports read
 * every layer back with `fullLayer`. Runs smaller than `compactAbove` bytes stay as they are.
 * Records made from layers (word level, hiding) use a store that keeps no Blobs: their full
 * precision is made again from the layers (`replace`).
 *
 * Long inputs keep layers as `ComputedLayer`s (queries and keys): nothing quadratic is held; a
 * layer is computed in full precision when read, kept while on screen, and never compacted.
 */
import { type AttentionLayer, type AttentionRecord, type RunTokens, compareLayers, recordOfLayer } from '../../src/core/attention';
import { fromFloat16, toFloat16 } from '../../src/core/float16';
import { type QueryKeyLayer, layerWeights, queryKeyBytes, weightBytes } from '../../src/core/queryKeys';
import { takeSpareLayer } from './spareLayer';

/** A layer computed when it is read (long inputs: from its queries and keys), never held whole unless on screen. */
export interface ComputedLayer {
  compute(): Float32Array;
  /** The same, off the page's thread where the page has workers (`computeLayersWith`). */
  computeLater(): Promise<Float32Array>;
  /** Bytes it holds to compute the layer (queries and keys). */
  heldBytes: number;
  /** Bytes of the layer once computed. */
  naiveBytes: number;
  /** The queries and keys it is computed from, where it is a layer of the run (not a record made from layers). */
  layer?: QueryKeyLayer;
}

/** A layer's weights as they arrive: every weight, or a way to compute them. */
export type LayerSource = Float32Array | ComputedLayer;

/** Runs with more attention than this are compacted once drawn. */
export const COMPACT_ABOVE_BYTES = 16 << 20;
/** Decoded layers kept for passes over every layer (two: a pass may compare two layers). */
const SCRATCH = 2;

export class LayerStore {
  private readonly full: (Float32Array | undefined)[] = [];
  private readonly half: (Uint16Array | undefined)[] = [];
  private readonly blobs: (Blob | undefined)[] = [];
  private readonly computed: (ComputedLayer | undefined)[] = [];
  /** Decoded 16-bit copies of pinned layers whose full precision is still being read back. */
  private readonly shown = new Map<number, Float32Array>();
  /** Recently decoded layers that are not pinned, most recent last; released after the task. */
  private scratch: { i: number; data: Float32Array }[] = [];
  private releasing = false;
  private pinned: ReadonlySet<number> = new Set();
  /** Computed layers being made off the page's thread (`prepare`). */
  private readonly preparing = new Map<number, Promise<Float32Array>>();

  /** `keepFull` false: the full precision is dropped, not kept in Blobs (records made from 16-bit copies have none worth keeping). */
  constructor(layers: readonly LayerSource[], readonly compactAbove = COMPACT_ABOVE_BYTES, private readonly keepFull = true) {
    this.append(layers);
  }

  /** Layers that arrive later (read back from the GPU after the first picture). */
  append(layers: readonly LayerSource[]): void {
    for (const d of layers) {
      const computed = d instanceof Float32Array ? undefined : d;
      this.full.push(computed ? undefined : (d as Float32Array));
      this.computed.push(computed);
      this.half.push(undefined);
      this.blobs.push(undefined);
    }
  }

  get length(): number {
    return this.full.length;
  }

  /** Every layer in full precision, as the model returned them. */
  get naiveBytes(): number {
    return this.full.reduce((n, f, i) => n + (this.computed[i]?.naiveBytes ?? 4 * (f?.length ?? this.half[i]!.length)), 0);
  }

  /** Bytes this store keeps in the page: full-precision, 16-bit and decoded layers. */
  get heldBytes(): number {
    let n = 0;
    for (let i = 0; i < this.full.length; i++) n += (this.full[i]?.byteLength ?? 0) + (this.half[i]?.byteLength ?? 0) + (this.computed[i]?.heldBytes ?? 0);
    for (const d of this.shown.values()) n += d.byteLength;
    for (const s of this.scratch) n += s.data.byteLength;
    return n;
  }

  /** Bytes kept whatever is on screen: layers held whole, and the queries and keys of computed ones (not the weights computed from them). */
  get keptBytes(): number {
    let n = 0;
    for (let i = 0; i < this.full.length; i++) n += this.computed[i]?.heldBytes ?? (this.full[i]?.byteLength ?? 0) + (this.half[i]?.byteLength ?? 0);
    return n;
  }

  /** Bytes kept for full precision outside the page (in Blobs). */
  get blobBytes(): number {
    return this.blobs.reduce((n, b) => n + (b?.size ?? 0), 0);
  }

  /** Whether layer `i` is held in full precision now (a computed layer always is: it is exact when read). */
  isFull(i: number): boolean {
    return this.full[i] !== undefined || this.computed[i] !== undefined;
  }

  /** Layer `i`'s weights: full precision where held, else decoded from the 16-bit copy. */
  data(i: number): Float32Array {
    const f = this.full[i] ?? this.shown.get(i);
    if (f) return f;
    const hit = this.scratch.findIndex((s) => s.i === i);
    if (hit >= 0) {
      const [s] = this.scratch.splice(hit, 1);
      this.scratch.push(s);
      return s.data;
    }
    const data = this.computed[i]?.compute() ?? fromFloat16(this.half[i]!);
    this.keepForNow(i, data);
    return data;
  }

  /** The queries and keys layer `i` is computed from, where it is a run's layer so kept. */
  queryKeyLayer(i: number): QueryKeyLayer | undefined {
    return this.computed[i]?.layer;
  }

  /** Whether reading layer `i` now would compute it (kept as queries and keys, and not held). */
  needsComputing(i: number): boolean {
    return this.computed[i] !== undefined && !this.full[i] && !this.scratch.some((s) => s.i === i);
  }

  /**
   * Computes layer `i` off the page's thread when reading it would compute it, so that the read
   * that follows in the same task is immediate (a layer switch, a pass over every layer).
   */
  async prepare(i: number): Promise<void> {
    if (!this.needsComputing(i)) return;
    let making = this.preparing.get(i);
    if (!making) {
      making = this.computed[i]!.computeLater().finally(() => this.preparing.delete(i));
      this.preparing.set(i, making);
    }
    const data = await making;
    if (this.needsComputing(i)) this.keepForNow(i, data);
  }

  /** Keeps a decoded or computed layer among the recent ones, let go after the task. */
  private keepForNow(i: number, data: Float32Array): void {
    this.scratch.push({ i, data });
    if (this.scratch.length > SCRATCH) this.scratch.shift();
    // A pass over every layer runs within a task (or one layer per task): the decoded copies go after it.
    if (!this.releasing) {
      this.releasing = true;
      setTimeout(() => {
        this.scratch = [];
        this.releasing = false;
      }, 0);
    }
  }

  /**
   * Compacts every layer, one per `pause` (a task, so the page stays responsive): a 16-bit copy
   * and a Blob each; the full precision stays only for pinned layers. Nothing happens for runs
   * smaller than `compactAbove`. Resolves true when something was compacted; `stop` abandons it.
   */
  async compact(pause: () => Promise<void>, stop: () => boolean = () => false): Promise<boolean> {
    if (this.naiveBytes <= this.compactAbove) return false;
    let changed = false;
    for (let i = 0; i < this.full.length; i++) {
      const f = this.full[i];
      if (this.half[i] || !f || this.computed[i]) continue; // a computed layer held on screen is dropped, not compacted, when it leaves
      await pause();
      if (stop()) return changed;
      this.half[i] = toFloat16(f);
      if (this.keepFull) this.blobs[i] = new Blob([f as Float32Array<ArrayBuffer>]);
      if (!this.pinned.has(i)) this.full[i] = undefined;
      changed = true;
    }
    return changed;
  }

  /**
   * The layers on screen: they are read back in full precision (a decoded 16-bit copy serves until
   * then); other layers give their full precision up. Resolves true when a pinned layer became
   * full precision (what the views show can be made again), false when nothing changed or `pin`
   * was called again meanwhile.
   */
  async pin(indices: readonly number[]): Promise<boolean> {
    const pinned = (this.pinned = new Set(indices.filter((i) => i >= 0 && i < this.full.length)));
    for (let i = 0; i < this.full.length; i++) {
      if (pinned.has(i)) continue;
      this.shown.delete(i);
      if (this.half[i] || this.computed[i]) this.full[i] = undefined;
    }
    // Computed layers on screen are computed once and kept while they stay there.
    for (const i of pinned) {
      if (this.computed[i] && !this.full[i]) {
        const hit = this.scratch.find((s) => s.i === i);
        this.full[i] = hit?.data ?? this.computed[i]!.compute();
      }
    }
    const missing = [...pinned].filter((i) => !this.full[i]);
    for (const i of missing) if (!this.shown.has(i)) this.shown.set(i, this.data(i));
    this.scratch = this.scratch.filter((s) => !pinned.has(s.i));
    if (missing.length === 0 || !this.keepFull) return false;
    const read = await Promise.all(missing.map((i) => this.readBack(i)));
    if (this.pinned !== pinned) return false;
    missing.forEach((i, k) => {
      this.full[i] = read[k];
      this.shown.delete(i);
    });
    return true;
  }

  /** Layer `i` made again in full precision (from layers read back): held until it is off screen. */
  replace(i: number, data: Float32Array): void {
    this.full[i] = data;
    this.shown.delete(i);
    this.scratch = this.scratch.filter((s) => s.i !== i);
  }

  /** Layer `i` in full precision (for exports): held, or read back. */
  async fullLayer(i: number): Promise<Float32Array> {
    return this.full[i] ?? (await this.computed[i]?.computeLater()) ?? this.readBack(i);
  }

  private async readBack(i: number): Promise<Float32Array> {
    const blob = this.blobs[i];
    if (!blob) throw new Error(`layer ${i + 1} is not held`);
    try {
      return new Float32Array(await blob.arrayBuffer());
    } catch (e) {
      throw new Error(`the full-precision weights of layer ${i + 1} could not be read back (${(e as Error).message}); run Show Attention again`);
    }
  }
}

/** The store and index of every record made by `storedRecord`. */
const homes = new WeakMap<AttentionRecord, { store: LayerStore; i: number }>();

/** `record` whose weights are layer `i` of `store` (read when used, never copied by a spread). */
export function storedRecord(record: AttentionRecord, store: LayerStore, i: number): AttentionRecord {
  const r = Object.defineProperty({ ...record }, 'data', { get: () => store.data(i), enumerable: false, configurable: true });
  homes.set(r, { store, i });
  return r;
}

/** `records` kept in a store of their own, compacted like a run's layers; `sources` where their weights come from (default their data). */
export function storedRecords(records: readonly AttentionRecord[], compactAbove: number, keepFull = true, sources: readonly LayerSource[] = records.map((r) => r.data)): { records: AttentionRecord[]; store: LayerStore } {
  const store = new LayerStore(sources, compactAbove, keepFull);
  return { records: records.map((r, i) => storedRecord(r, store, i)), store };
}

/** Whether `record` keeps its weights in a store (counted there). */
export function isStored(record: AttentionRecord): boolean {
  return homes.has(record);
}

/** `records` with their weights in full precision (read back where a store keeps them compact), for exports. */
export function withFullPrecision(records: readonly AttentionRecord[]): Promise<AttentionRecord[]> {
  return Promise.all(records.map(async (r) => {
    const home = homes.get(r);
    return home ? { ...r, data: await home.store.fullLayer(home.i) } : r;
  }));
}

/**
 * Records with these headers whose weights `compute(i)` makes when they are read from record
 * `from(i)`, in a store of their own (nothing held but what is on screen); made off the page's
 * thread: `later(i)` where given (it prepares what it needs), else that record is computed there
 * first and `compute(i)` runs.
 */
export function computedRecordStore(headers: readonly AttentionRecord[], compute: (i: number) => Float32Array, from: (i: number) => AttentionRecord, later?: (i: number) => Promise<Float32Array>): { records: AttentionRecord[]; store: LayerStore } {
  const sources: ComputedLayer[] = headers.map((h, i) => ({
    compute: () => compute(i),
    computeLater: async () => {
      if (later) return later(i);
      await prepareRecords([from(i)]);
      return compute(i);
    },
    heldBytes: 0,
    naiveBytes: 4 * h.heads * h.queries * h.keys,
  }));
  return storedRecords(headers, Infinity, false, sources);
}

/** `r` with its weights read once (a stored record's come through a getter, once per element otherwise). */
export const plain = (r: AttentionRecord): AttentionRecord => ({ ...r, data: r.data });

/** Computes layers off the page's thread (its workers), once the page has set it. */
let later: ((l: QueryKeyLayer) => Promise<Float32Array>) | undefined;

/** The page computes layers kept as queries and keys with `compute` when it can wait for them (a failure computes them here instead). */
export function computeLayersWith(compute: ((l: QueryKeyLayer) => Promise<Float32Array>) | undefined): void {
  later = compute;
}

/** A layer kept as queries and keys, computed when read. */
export function computedLayer(l: QueryKeyLayer): ComputedLayer {
  const compute = () => layerWeights(l, takeSpareLayer(l)).data;
  return { compute, computeLater: async () => (later ? later(l).catch(() => compute()) : compute()), heldBytes: queryKeyBytes(l), naiveBytes: weightBytes(l), layer: l };
}

/** Computes, off the page's thread where it can, the layers `records` are read from that reading now would compute. */
export async function prepareRecords(records: readonly AttentionRecord[]): Promise<void> {
  await Promise.all(records.map((r) => {
    const home = homes.get(r);
    return home?.store.prepare(home.i);
  }));
}

/** The queries and keys `record`'s weights are computed from, where it is a run's layer kept so and not held now (reading it would compute it). */
export function queryKeysToCompute(record: AttentionRecord): QueryKeyLayer | undefined {
  const home = homes.get(record);
  return home && home.store.needsComputing(home.i) ? home.store.queryKeyLayer(home.i) : undefined;
}

/** The queries and keys `record`'s weights are computed from, where it is a run's layer kept so (held now or not). */
export function queryKeysOf(record: AttentionRecord): QueryKeyLayer | undefined {
  const home = homes.get(record);
  return home?.store.queryKeyLayer(home.i);
}

/** Whether reading `record` now would compute its layer from queries and keys. */
export function needsComputing(record: AttentionRecord): boolean {
  const home = homes.get(record);
  return home !== undefined && home.store.needsComputing(home.i);
}

const NO_WEIGHTS = new Float32Array(0);

/**
 * A run's layers in view order with where each one's weights come from: layers returned whole,
 * and layers kept as queries and keys (`data` empty: read them through a store).
 */
export function runLayers(layers: readonly AttentionLayer[], queryKeys: readonly QueryKeyLayer[] = []): Array<{ layer: AttentionLayer; source: LayerSource }> {
  const whole = layers.map((layer) => ({ layer, source: layer.data as LayerSource }));
  const computed = queryKeys.map((q) => ({ layer: { name: q.name, kind: q.kind, layer: q.layer, heads: q.heads, queries: q.queries, keys: q.keys, data: NO_WEIGHTS }, source: computedLayer(q) as LayerSource }));
  return [...whole, ...computed].sort((a, b) => compareLayers(a.layer, b.layer));
}

/**
 * A run's layers as records in a store of their own (`keep` picks which): weights as the model
 * returned them, or queries and keys whose weights are computed when read (then `onDemand`).
 */
export function runRecords(layers: readonly AttentionLayer[], queryKeys: readonly QueryKeyLayer[] | undefined, tokens: RunTokens, compactAbove: number, keep: (r: AttentionRecord) => boolean = () => true): { records: AttentionRecord[]; store: LayerStore; onDemand: boolean } {
  const kept = runLayers(layers, queryKeys).map((l) => ({ record: recordOfLayer(l.layer, tokens), source: l.source })).filter((l) => keep(l.record));
  const { records, store } = storedRecords(kept.map((l) => l.record), compactAbove, true, kept.map((l) => l.source));
  return { records, store, onDemand: kept.some((l) => !(l.source instanceof Float32Array)) };
}
