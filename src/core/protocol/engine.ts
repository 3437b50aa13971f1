/**
 * Messages of the native engine (onnxruntime-node on a worker thread of the extension host), and
 * the model and results they carry. The host talks to its worker with these; the panel asks the
 * host with `engine/…` messages of its own protocol, which carry the same results. Large numeric
 * data crosses as typed arrays (transferred, not copied, between threads). Pure.
 */
import type { AttentionLayer } from '../attention';
import type { Logits } from '../engine/attentionEngine';
import type { NativeBackend } from '../backend';
import type { EngineErrorCode } from '../engine/engineError';
import type { MechanismLayer } from '../mechanism';
import { type QueryKeyLayer, sameElements } from '../queryKeys';

/** Whether this machine can run the native engine, and if not, why (for the one notice). */
export interface NativeAvailability {
  available: boolean;
  reason: string;
}

/** A model on the host's disk, as the native engine opens it (paths checked by the host before). */
export interface NativeModel {
  onnxPath: string;
  /** The ONNX file relative to the model folder, for messages. */
  label: string;
  /** The external data files the graph names: location as the graph names it, path on disk, size. */
  external: Array<{ location: string; path: string; bytes: number }>;
  /** The first position id the export expects (1 for Gemma 3's exports). */
  firstPosition?: number;
  /** A split encoder-decoder model (`onnxPath` is its encoder): its decoders on disk. */
  decoders?: { decoder: ModelPartFile; withPast?: ModelPartFile };
}

/** One more ONNX file of a model (a split model's decoder): its path on disk, and its name relative to the model folder. */
export interface ModelPartFile {
  path: string;
  label: string;
}

/** What to open: a model on a native backend, with the mechanism's extra outputs, or as queries and keys (long inputs). */
export interface NativeOpen {
  model: NativeModel;
  backend: NativeBackend;
  mechanism?: boolean;
  queryKeys?: boolean;
}

/** An opened engine: the backend it runs on (CPU when CUDA was asked for but is missing), and why. */
export interface NativeOpened {
  backend: NativeBackend;
  /** Said once to the user: CUDA asked for and not available, so the CPU runs it. */
  notice?: string;
  /** The model returns next-token logits (it can generate). */
  hasLogits?: boolean;
  /** It takes a key/value cache (`AttentionEngine.hasPast`): generation continues runs by `NativeInput.past`. */
  hasPast?: boolean;
}

/** Token ids of one run, as the engine takes them. */
export interface NativeInput {
  ids: Int32Array;
  decoderIds?: Int32Array;
  /** Also return the next-token logits (`RunOptions.logits`). */
  logits?: 'last' | 'all';
  /** An image model's input (`RunInput.pixelValues`). */
  pixelValues?: { data: Float32Array; dims: number[] };
  /** Keep this run's key/value cache in the worker (`RunOptions.cache`): the result says its handle. */
  cache?: boolean;
  /** Continue the cache kept under this handle (`RunInput.past`); `ids` (or `decoderIds`) are the tokens it does not hold. */
  past?: number;
}

/**
 * What a plain run of a panel's request asks besides its tokens: a classifier's logits, for its
 * prediction. The page's run and the host's run ahead of it (`NativeEngines.openAhead`) ask alike.
 */
export function plainRunOptions(model: { labels?: readonly string[] }, hasLogits: boolean | undefined): { logits?: 'last' } {
  return model.labels && hasLogits ? { logits: 'last' } : {};
}

/** A run of tokens alone: no image, no key/value cache kept or continued. */
export function isPlainNativeInput(x: NativeInput): boolean {
  return !x.pixelValues && !x.cache && x.past === undefined;
}

/** Whether two inputs ask the same run (the same tokens and logits, no image, no cache). */
export function sameNativeInput(a: NativeInput, b: NativeInput): boolean {
  return isPlainNativeInput(a) && isPlainNativeInput(b) && a.logits === b.logits && sameElements(a.ids, b.ids) && sameElements(a.decoderIds, b.decoderIds);
}

/** One run's results: every layer (nothing stays on a GPU), and the mechanism when asked. */
export interface NativeRunResult {
  layers: AttentionLayer[];
  millis: number;
  warnings: string[];
  mechanism?: MechanismLayer[];
  /** With `queryKeys`: the layers kept as queries and keys. */
  queryKeys?: QueryKeyLayer[];
  /** With `NativeInput.logits`: the next-token logits. */
  logits?: Logits;
  /** With `NativeInput.cache`: the kept cache's handle, and the positions it holds (the tensors stay in the worker). */
  cache?: { handle: number; length: number };
  /** Wall clock when the worker's run ended, and when the host sent the result on (the panel's breakdown of a run's time). */
  ranAt?: number;
  sentAt?: number;
  /** The host began this run before the page asked (`NativeEngines.runAhead`): it may have ended, or been in flight, when asked. */
  ranAhead?: boolean;
}

/** Host → worker. `engine` ids are the host's, unique for the life of the extension. */
export type ToNativeWorker =
  | { type: 'open'; id: number; engine: number; open: NativeOpen }
  | { type: 'run'; id: number; engine: number; input: NativeInput; mechanismOf?: string[] }
  | { type: 'dispose'; id: number; engine: number }
  /** Release every session once the request in hand is answered, then end the thread (no reply). */
  | { type: 'exit'; id: number };

/** Worker → host: one reply per request `id`. */
export type FromNativeWorker =
  | { type: 'opened'; id: number; opened: NativeOpened }
  | { type: 'ran'; id: number; result: NativeRunResult }
  | { type: 'disposed'; id: number }
  | { type: 'failed'; id: number; message: string; code?: EngineErrorCode };

/** The buffers of a result, to transfer rather than copy. */
export function resultBuffers(r: NativeRunResult): ArrayBuffer[] {
  const arrays: ArrayBufferView[] = [...r.layers.map((l) => l.data), ...(r.queryKeys ?? []).flatMap((l) => [l.q, l.k, ...[l.bias, l.valueNorms, l.values, l.gram].filter((a): a is Float32Array => a !== undefined)]), ...(r.logits ? [r.logits.data] : [])];
  for (const m of r.mechanism ?? []) for (const v of Object.values(m)) if (ArrayBuffer.isView(v)) arrays.push(v);
  // Distinct, whole buffers only: a view into a larger shared buffer is copied instead.
  const buffers = new Set<ArrayBuffer>();
  for (const a of arrays) if (a.buffer instanceof ArrayBuffer && a.byteOffset === 0 && a.byteLength === a.buffer.byteLength) buffers.add(a.buffer);
  return [...buffers];
}
