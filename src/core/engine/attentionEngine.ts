/**
 * Runs an ONNX transformer with onnxruntime and returns its attention tensors. The ort module is
 * passed in, so the same code runs in the webview (onnxruntime-web: WebGPU or WASM bundle), in
 * Node on WebAssembly (CLI and tests) and natively (onnxruntime-node: the extension host's worker,
 * the CLI). No DOM and no vscode here.
 */
import type { TimingSpan } from '../timing';
import type * as Ort from 'onnxruntime-web';
import { type AttentionLayer, compareLayers, parseAttentionName } from '../attention';
import { type Backend, onCpuKernels } from '../backend';
import { fromFloat16 } from '../float16';
import { MechanismError, type MechanismLayer, fusedSteps, mechanismLayer } from '../mechanism';
import { EngineError } from './engineError';
import type { QueryKeyLayer } from '../queryKeys';
import { type FoundAttention, type MechanismOutputs, SurgeryError, exposeAttention } from './graphSurgery';
import { queryKeyFetches, queryKeyLayers } from './queryKeyRun';
import type { QueryKeyOutputs } from './queryKeySurgery';
import { type ExternalBytes, bytesOfFiles } from './mechanismGraph';
import { weightFootprint } from './modelWeights';
import { type ModelScan, bytesSource, scanModel } from './onnxScan';
import { sanitizeNonFinite } from './nonFinite';
import { DECODER_EXTRAS, DECODER_INPUTS, ENCODER_INPUTS, SPLIT_DECODER_INPUTS, cacheAfter, canFill, inputFeeds, isPastInput } from './inputFeeds';
import { MEMORY, type ExternalSource, firstLine, openSession } from './session';

export { EngineError, type EngineErrorCode } from './engineError';

/** The onnxruntime module: onnxruntime-web (whichever bundle provided it) or onnxruntime-node, which has the same API. */
export type OrtModule = typeof Ort;

/** Token ids of one run; `decoderIds` only for encoder-decoder models. */
export interface RunInput {
  ids: ArrayLike<number>;
  decoderIds?: ArrayLike<number>;
  /** The input's attention mask (0: a padding token no query sees); all ones when absent. */
  attentionMask?: ArrayLike<number>;
  /**
   * An image model's input: `pixel_values` as its processor makes it, `[1, channels, height,
   * width]` (`ids` are then empty: the model makes its tokens from the patches).
   */
  pixelValues?: { data: Float32Array; dims: readonly number[] };
  /**
   * A previous run's key/value cache (`RunOptions.cache`): `ids` continue it, so each attention
   * has `ids.length` queries over `past.length + ids.length` keys. Decoder-only models with past
   * inputs (`AttentionEngine.hasPast`).
   */
  past?: KvCache;
  /** A split encoder-decoder model's decoder: the encoder's output (`RunOutput.hidden`), which `ids` (the source) produced. */
  encoderHidden?: unknown;
  /** A decoder's source length when `ids` are not its tokens (a captioner's image patches): the keys of its cross attention. */
  sourceLength?: number;
}

/** A run's key/value cache: its `present.*` outputs, fed back as `past_key_values.*`. Opaque outside the engine. */
export interface KvCache {
  /** The positions it holds. */
  readonly length: number;
  /** The tensors, by the input name they feed. */
  readonly tensors: ReadonlyMap<string, unknown>;
  /** A cache the native engine's worker holds (its tensors stay there): its handle. */
  readonly handle?: number;
}

/** Layers read after the first picture, and their warnings. */
export interface MoreLayers {
  layers: AttentionLayer[];
  warnings: string[];
  queryKeys?: QueryKeyLayer[]; // layers kept as queries and keys, sent after the first (native engine)
}

/**
 * The attention of one run, ordered by kind then layer. On WebGPU the attention stays on the GPU
 * and only the first layer is read back before the run returns; `rest` reads the others, in order
 * (the first picture does not wait for 150 MB of copies). On WebAssembly every layer is in `layers`.
 */
export interface RunOutput {
  layers: AttentionLayer[];
  millis: number;
  /** Heads whose weights held NaN or ±Infinity (now 0), named for people ("Layer 2 head 3: 4 of 256 weights …"). */
  warnings: string[];
  /** The layers still on the GPU, read back one after another. */
  rest?: Promise<MoreLayers>;
  /** With a mechanism engine: the mechanism of each attention asked for, ordered like `layers`. */
  mechanism?: MechanismLayer[];
  /**
   * With a query-key engine (long inputs): the attentions kept as queries and keys, whose rows are
   * computed when asked (`weightRows`), in view order; `layers` holds only those that could not be.
   */
  queryKeys?: QueryKeyLayer[];
  /** With `RunOptions.logits`: the next-token logits. */
  logits?: Logits;
  /** With `RunOptions.cache`: the key/value cache after this run. */
  cache?: KvCache;
  /** With `RunOptions.hidden`: an encoder's output (`last_hidden_state`), as a tensor to feed its decoder. */
  hidden?: unknown;
  /** Where the run's time went, when the engine knows more than `millis` (the native engine: the crossings to the host and back). */
  spans?: TimingSpan[];
}

/** One external data file of a model: its location as the graph names it, and its bytes. */
export interface ExternalDataFile {
  path: string;
  data: Uint8Array;
}

export interface EngineOptions {
  /**
   * The model's external data files (`model.onnx_data`, `model.onnx_data_1`, …), as bytes: handed
   * to onnxruntime as they are (a path would make it read the file twice).
   */
  externalData?: readonly ExternalDataFile[];
  /**
   * onnxruntime-node only, instead of `externalData`: the folder the graph's data locations are
   * relative to (onnxruntime memory-maps the files), and a reader of byte ranges of those files
   * for the few small tensors the graph surgery reads or moves into the graph.
   */
  externalFolder?: { folder: string; read: ExternalBytes };
  /** The first position id (0; 1 for exports that count positions from 1, as Gemma 3's do). */
  firstPosition?: number;
  /**
   * Expose queries, keys, values, scores and per-head outputs as well (the mechanism view, the
   * CLI's `--mechanism`). Always rewrites the graph, even one that outputs attention itself.
   */
  mechanism?: boolean;
  /**
   * Long inputs: return each attention as its queries and keys (`RunOutput.queryKeys`) where its
   * weights are softmax(scale·q·kᵀ + mask), checked on two rows the model computed; the weights
   * themselves (quadratic in the tokens) never leave onnxruntime. Not with `mechanism`. No logits.
   */
  queryKeys?: boolean;
}

export interface RunOptions {
  /** With a mechanism engine: the attention outputs whose mechanism to return (default all). */
  mechanismOf?: readonly string[];
  /**
   * Also return the model's next-token logits (`RunOutput.logits`): the last position's (what
   * generation needs), or every position's (`'all'`, for checking; vocabulary × tokens floats).
   * Only for models with a `logits` output (`AttentionEngine.hasLogits`).
   */
  logits?: 'last' | 'all';
  /** Also return the key/value cache (`RunOutput.cache`), to continue from with `RunInput.past`. */
  cache?: boolean;
  /** Also return the encoder's output (`RunOutput.hidden`): the encoder of a split encoder-decoder model. */
  hidden?: boolean;
}

/** Next-token logits of a run: `rows` positions (the last ones) × `vocab`, row-major, float32. */
export interface Logits {
  rows: number;
  vocab: number;
  data: Float32Array;
}

/** Every layer of a run and every warning, waiting for the layers still on the GPU (the CLI, exports). */
export async function allLayers(out: RunOutput): Promise<MoreLayers> {
  const more = out.rest ? await out.rest : { layers: [], warnings: [] };
  return { layers: [...out.layers, ...more.layers], warnings: [...out.warnings, ...more.warnings] };
}

/** The query and key lengths an attention output must have for this input. */
function expectedShape(kind: AttentionLayer['kind'], input: RunInput): [number, number] | undefined {
  // An image's tokens are the model's own (a class token, patches, registers): any square shape.
  if (input.pixelValues) return undefined;
  const n = input.ids.length;
  const d = input.decoderIds?.length ?? n;
  const past = input.past?.length ?? 0;
  return kind === 'decoder' ? [d, past + d] : kind === 'cross' ? [d, input.sourceLength ?? n] : [n, past + n];
}


/** A loaded model session that answers attention queries. */
export class AttentionEngine {
  private constructor(
    private readonly ort: OrtModule,
    private readonly session: Ort.InferenceSession,
    readonly backend: Backend,
    readonly attentionOutputs: string[],
    /** Softmax nodes exposed by graph surgery; empty when the model outputs attention itself. */
    readonly exposed: FoundAttention[],
    /** With the mechanism option: where each attention's mechanism is (attentions whose mechanism was not found are absent). */
    readonly mechanism: MechanismOutputs[] = [],
    private readonly firstPosition = 0,
    /** With the queryKeys option: the attentions returned as queries and keys. */
    private readonly queryKeyOutputs: QueryKeyOutputs[] = [],
    /** The weights are float16 (the probe rows differ from float64 rows by float16 rounding). */
    private readonly halfPrecision = false,
    /** A merged decoder whose no-past branch replaced its If: it ignores a past, so it is run without one. */
    private readonly withoutPast = false,
  ) {}

  /**
   * Creates a session from ONNX bytes. Models without attention outputs are rewritten in memory
   * so that their attention Softmax outputs become outputs. Throws `EngineError` for corrupt
   * files, unsupported inputs and graphs whose attention cannot be found.
   */
  static async create(ort: OrtModule, bytes: Uint8Array, backend: Backend, fileLabel = 'model.onnx', options: EngineOptions = {}): Promise<AttentionEngine> {
    const hasAttention = (names: readonly string[]) => names.some((n) => parseAttentionName(n));
    let scan: ModelScan | undefined;
    try {
      scan = scanModel(bytesSource(bytes));
    } catch {
      scan = undefined; // not a readable protobuf: onnxruntime or the surgery below says why
    }
    const outputs = scan?.outputs.map((o) => o.name);
    const external = options.externalData ?? [];
    const source: ExternalSource = options.externalFolder ? { folder: options.externalFolder.folder } : external;
    // Float16 weights: at level 'all' the CPU kernels keep float32 copies of them besides
    // (SmolLM2-135M's fp16 export, CLI: peak 2.1 GB at 'all', 1.3 GB at 'basic', inference alike).
    const half = scan !== undefined && weightFootprint(scan).halfBytes > 0;
    const level = onCpuKernels(backend) && half ? 'basic' : 'all';
    const open = (model: Uint8Array, gpuOutputs?: string[]) => openSession(ort, model, backend, fileLabel, source, gpuOutputs, level);
    // Opening a session uploads every weight: when the outputs show that surgery is needed, do it
    // before the first session. Only when they could not be read does the session tell.
    let session = options.mechanism || options.queryKeys || (outputs && !hasAttention(outputs)) ? undefined : await open(bytes, outputs?.filter((n) => parseAttentionName(n)));
    let exposed: FoundAttention[] = [];
    let mechanism: MechanismOutputs[] = [];
    let queryKeys: QueryKeyOutputs[] = [];
    let withoutPast = false;
    if (!session || !hasAttention(session.outputNames)) {
      await session?.release().catch(() => undefined);
      try {
        const read = options.externalFolder?.read ?? bytesOfFiles(new Map(external.map((f) => [f.path, f.data])));
        const surgery = exposeAttention(bytes, fileLabel, { mechanism: options.mechanism, queryKeys: options.queryKeys && !options.mechanism, externalData: read, keepInline: options.externalFolder !== undefined });
        exposed = surgery.found;
        mechanism = surgery.mechanism;
        queryKeys = surgery.queryKeys;
        withoutPast = surgery.withoutPast === true;
        if (options.mechanism && mechanism.length === 0) {
          throw new EngineError(`${fileLabel}: attention was found, but not the queries and keys behind it (no score product Q·Kᵀ before any of its ${exposed.length} softmaxes), so its mechanism cannot be shown. The attention views work as usual.`, 'no-mechanism');
        }
        const gqa = exposed.find((f) => f.op === 'GroupQueryAttention');
        if (!onCpuKernels(backend) && gqa) {
          throw new EngineError(`${fileLabel} computes attention in com.microsoft GroupQueryAttention (node ${gqa.node || gqa.name}), whose weights only onnxruntime's CPU kernels return: on ${backend === 'webgpu' ? 'WebGPU' : 'CUDA'} they would be missing. It runs on ${backend === 'webgpu' ? 'WebAssembly' : 'the CPU'}.`, 'wasm-only');
        }
        const exposedNames = [...(outputs ?? []).filter((n) => parseAttentionName(n)), ...exposed.map((f) => f.name)];
        // A mechanism run reads every layer at once, so nothing stays on the GPU; nor do queries and keys (linear).
        session = await openSession(ort, surgery.bytes, backend, fileLabel, surgery.inlineData ? [...external, surgery.inlineData] : source, options.mechanism || options.queryKeys ? [] : exposedNames, level);
      } catch (e) {
        if (e instanceof SurgeryError) throw new EngineError(e.message, 'no-attention');
        throw e;
      }
    }
    const attentionOutputs = session.outputNames.filter((n) => parseAttentionName(n));
    const unknown = session.inputNames.filter((n) => !canFill(n));
    if (unknown.length > 0) {
      await session.release().catch(() => undefined);
      throw new EngineError(
        `${fileLabel} expects inputs Attention Lens cannot fill: ${unknown.join(', ')}. Supported inputs: ${[...ENCODER_INPUTS, ...DECODER_INPUTS, ...SPLIT_DECODER_INPUTS, ...DECODER_EXTRAS].join(', ')}, past_key_values.N.key/value and use_cache_branch.`,
        'unknown-input',
      );
    }
    return new AttentionEngine(ort, session, backend, attentionOutputs, exposed, mechanism, options.firstPosition ?? 0, queryKeys, half, withoutPast);
  }

  /** Whether the model returns next-token logits (a language model's head), so it can generate. */
  get hasLogits(): boolean {
    return this.session.outputNames.includes(LOGITS);
  }

  /** Whether the model takes a key/value cache (`past_key_values.*` inputs, `present.*` outputs): it can continue a run incrementally. */
  get hasPast(): boolean {
    return !this.withoutPast && !this.session.inputNames.includes('decoder_input_ids') && this.session.inputNames.some(isPastInput) && this.hasPresent;
  }

  /** Whether the model returns a key/value cache (`present.*` outputs), as a split model's first decoder run does without taking one. */
  get hasPresent(): boolean {
    return this.session.outputNames.some((n) => n.startsWith(PRESENT));
  }

  /** Runs the model once and returns every attention output (and, with a mechanism engine, their mechanism). */
  async run(input: RunInput, options: RunOptions = {}): Promise<RunOutput> {
    if ((input.past && !this.hasPast) || (options.cache && !this.hasPresent)) throw new EngineError('This export takes no key/value cache (past_key_values inputs and present outputs).', 'unknown-input');
    if (options.logits && !this.hasLogits) throw new EngineError(`The model has no ${LOGITS} output (outputs: ${this.session.outputNames.join(', ')}): it shows attention but cannot generate. Export it with its language-model head (optimum's text-generation task).`, 'no-logits');
    const feeds = inputFeeds(this.ort, this.session, input, this.firstPosition);
    const taps = this.mechanism.filter((m) => !options.mechanismOf || options.mechanismOf.includes(m.attention));
    const presents = options.cache ? this.session.outputNames.filter((n) => n.startsWith(PRESENT)) : [];
    const hidden = options.hidden ? [HIDDEN] : [];
    if (options.hidden && !this.session.outputNames.includes(HIDDEN)) throw new EngineError(`This encoder has no ${HIDDEN} output (outputs: ${this.session.outputNames.join(', ')}), so its decoder cannot be fed.`, 'unknown-input');
    const fetches = [...this.attentionOutputs, ...taps.flatMap((m) => Object.values(m.outputs)), ...queryKeyFetches(this.queryKeyOutputs), ...(options.logits ? [LOGITS] : []), ...presents, ...hidden];
    const t0 = now();
    let results: Ort.InferenceSession.OnnxValueMapType;
    try {
      results = await this.session.run(feeds, fetches, { logSeverityLevel: 4 });
    } catch (e) {
      const detail = firstLine(e);
      // A Gather out of range means an id or a position past the model's tables: say which.
      if (/gather|indices|out of (range|bounds)|index .* (is )?out|invalid expand shape/i.test(detail)) {
        throw new EngineError(`The model rejected the input: an index was out of range (${detail}). The ${input.ids.length} tokens may exceed the model's position table, or the tokenizer may not match the model. Select less text, or check config.json's max_position_embeddings and the model's tokenizer.json.`, 'run-failed');
      }
      if (/bad_alloc|out of memory|allocation failed|memory access out of bounds/i.test(detail)) {
        throw new EngineError(`The model ran out of ${MEMORY[this.backend]} on ${input.ids.length} tokens (${detail}). Select less text, or choose a smaller (quantized) variant of the model.`, 'too-large');
      }
      throw new EngineError(`The model failed to run (${detail}).`, 'run-failed');
    }
    const millis = now() - t0;
    try {
      const out = await this.collect(results, input, millis);
      if (options.logits) out.logits = await logitsOf(results[LOGITS], options.logits);
      if (options.cache) out.cache = cacheAfter(input, presents.map((n) => [`past_key_values.${n.slice(PRESENT.length)}`, results[n]]));
      if (options.hidden) out.hidden = results[HIDDEN];
      if (this.queryKeyOutputs.length > 0) out.queryKeys = queryKeyLayers(this.queryKeyOutputs, results, (kind) => expectedShape(kind, input) ?? [0, 0], this.halfPrecision, input.attentionMask);
      return taps.length > 0 ? { ...out, mechanism: this.mechanismOf(taps, results, out.layers) } : out;
    } catch (e) {
      // A failed check or read back: release what the run holds (GPU buffers above all) before saying why.
      for (const t of Object.values(results)) t.dispose?.();
      throw e;
    }
  }

  /** Checks every output's shape first (known without reading it back), then reads them in view order. */
  private async collect(results: Ort.InferenceSession.OnnxValueMapType, input: RunInput, millis: number): Promise<RunOutput> {
    const outputs: Array<{ name: string; tensor: Ort.Tensor; meta: Omit<AttentionLayer, 'data'> }> = [];
    for (const name of this.attentionOutputs) {
      const t = results[name];
      const parsed = parseAttentionName(name);
      if (!parsed || !t) continue;
      const dims = t.dims.map(Number);
      if (dims.length !== 4) throw new EngineError(`Output ${name} has shape [${dims.join(', ')}]; expected [batch, heads, query, key].`, 'run-failed');
      const [q, k] = expectedShape(parsed.kind, input) ?? [dims[2], dims[2]];
      if (dims[0] !== 1 || dims[2] !== q || dims[3] !== k) {
        throw new EngineError(`Output ${name} has shape [${dims.join(', ')}], but the input has ${q === k ? `${q} tokens` : `${q} decoder and ${k} encoder tokens`} (expected [1, heads, ${q}, ${k}]): the model's attention outputs do not follow the input (a fixed-size export?). Re-export with dynamic sequence axes.`, 'run-failed');
      }
      outputs.push({ name, tensor: t, meta: { name, ...parsed, heads: dims[1], queries: dims[2], keys: dims[3] } });
    }
    outputs.sort((a, b) => compareLayers(a.meta, b.meta));
    const onCpu = outputs.filter((o) => o.tensor.location !== 'gpu-buffer');
    const onGpu = outputs.filter((o) => o.tensor.location === 'gpu-buffer');
    const layers = onCpu.map((o) => layerOf(o.meta, o.tensor.type, o.tensor.data));
    for (const o of onCpu) o.tensor.dispose?.();
    let rest: Promise<MoreLayers> | undefined;
    if (onGpu.length > 0) {
      // The first layer now, the others after the first picture; each GPU buffer released once read.
      const read = async (o: (typeof onGpu)[number]) => layerOf(o.meta, o.tensor.type, await o.tensor.getData(true));
      if (layers.length === 0) layers.push(await read(onGpu.shift()!));
      rest = (async () => {
        const more: AttentionLayer[] = [];
        try {
          for (const o of onGpu) more.push(await read(o));
        } finally {
          for (const o of onGpu) o.tensor.dispose();
        }
        return { layers: more, warnings: more.flatMap(sanitizeNonFinite) };
      })();
      rest.catch(() => undefined); // the caller reports it; never an unhandled rejection
    }
    return { layers, millis, warnings: layers.flatMap(sanitizeNonFinite), rest };
  }

  /** Each tapped attention's mechanism, from the exposed tensors and the layer's weights. */
  private mechanismOf(taps: MechanismOutputs[], results: Ort.InferenceSession.OnnxValueMapType, layers: AttentionLayer[]): MechanismLayer[] {
    const mechanism = taps.map((m) => {
      const weights = layers.find((l) => l.name === m.attention);
      if (!weights) throw new EngineError(`The mechanism of ${m.attention} was asked for, but the run returned no such attention.`, 'no-mechanism');
      const tensor = (name: string) => ({ dims: results[name].dims, data: results[name].data as Float32Array });
      const meta = { name: m.attention, kind: weights.kind, layer: weights.layer, shaped: m.shaped };
      try {
        if (m.fused) {
          // The operator hides its steps: computed here from its inputs and the weights it returned.
          const { tensors, scale } = fusedSteps(m.attention, m.fused, tensor(m.outputs.q), tensor(m.outputs.k), tensor(m.outputs.v), weights.data);
          return mechanismLayer({ ...meta, scale }, tensors, weights.data, m.projection);
        }
        const o = m.outputs;
        return mechanismLayer(
          { ...meta, scale: m.scale },
          { q: tensor(o.q), keysT: tensor(o.keysT), v: tensor(o.v), scores: tensor(o.scores), output: tensor(o.output) },
          weights.data,
          m.projection,
        );
      } catch (e) {
        if (e instanceof MechanismError) throw new EngineError(e.message, 'no-mechanism');
        throw e;
      }
    });
    return mechanism.sort(compareLayers);
  }

  /** Releases the session. */
  async dispose(): Promise<void> {
    await this.session.release().catch(() => undefined);
  }

}

/** Outputs of the key/value cache: `present.N.key` feeds `past_key_values.N.key` of the next run. */
const PRESENT = 'present.';

/** The name of a language model's next-token logits output ([batch, positions, vocabulary]). */
const LOGITS = 'logits';
/** An encoder's output, which its decoder attends to. */
const HIDDEN = 'last_hidden_state';

/** The last row (or every row) of a `[1, positions, vocabulary]` logits output, as float32; the tensor is released. */
async function logitsOf(t: Ort.Tensor | undefined, which: 'last' | 'all'): Promise<Logits> {
  if (!t) throw new EngineError('The run returned no logits.', 'run-failed');
  try {
    // [1, positions, vocabulary] for a language model, [1, labels] for a classifier (one row).
    const dims = t.dims.map(Number);
    if ((dims.length !== 3 && dims.length !== 2) || dims[0] !== 1) throw new EngineError(`The logits have shape [${dims.join(', ')}]; expected [1, positions, vocabulary] or [1, labels].`, 'run-failed');
    const [positions, vocab] = dims.length === 3 ? dims.slice(1) : [1, dims[1]];
    const all = layerOf({ name: LOGITS, kind: 'self', layer: 0, heads: 1, queries: positions, keys: vocab }, t.type, t.location === 'gpu-buffer' ? await t.getData() : t.data).data;
    return which === 'all' ? { rows: positions, vocab, data: all } : { rows: 1, vocab, data: all.slice((positions - 1) * vocab) };
  } finally {
    t.dispose?.();
  }
}

/**
 * A layer in the views' form: Float32Array weights. A model's own float16 attention outputs arrive
 * as their bit patterns (a Uint16Array) and are widened.
 */
function layerOf(meta: Omit<AttentionLayer, 'data'>, type: string, data: unknown): AttentionLayer {
  if (data instanceof Float32Array) return { ...meta, data };
  if (type === 'float16' && data instanceof Uint16Array) return { ...meta, data: fromFloat16(data) };
  return { ...meta, data: Float32Array.from(data as ArrayLike<number>) };
}

function now(): number {
  return typeof performance !== 'undefined' ? performance.now() : Date.now();
}
