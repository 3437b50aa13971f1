/**
 * Runs an ONNX transformer with onnxruntime-web and returns its attention tensors.
 * The ort module is passed in, so the same code runs in the webview (WebGPU or WASM bundle)
 * and in Node (CLI and tests, WASM). No DOM and no vscode here.
 */
import type * as Ort from 'onnxruntime-web';
import { type AttentionLayer, compareLayers, parseAttentionName } from '../attention';
import type { Backend } from '../backend';
import { MechanismError, type MechanismLayer, fusedSteps, mechanismLayer } from '../mechanism';
import { type FoundAttention, type MechanismOutputs, SurgeryError, exposeAttention, graphOutputNames } from './graphSurgery';

/** The onnxruntime-web module, whichever bundle provided it. */
export type OrtModule = typeof Ort;

/** A failure the user can act on; `message` says what happened and what to do. */
export class EngineError extends Error {
  constructor(message: string, readonly code: 'corrupt-model' | 'no-attention' | 'unknown-input' | 'run-failed' | 'no-webgpu' | 'too-large' | 'no-mechanism') {
    super(message);
    this.name = 'EngineError';
  }
}

/** Token ids of one run; `decoderIds` only for encoder-decoder models. */
export interface RunInput {
  ids: ArrayLike<number>;
  decoderIds?: ArrayLike<number>;
}

/** Layers read after the first picture, and their warnings. */
export interface MoreLayers {
  layers: AttentionLayer[];
  warnings: string[];
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
}

export interface EngineOptions {
  /**
   * Expose queries, keys, values, scores and per-head outputs as well (the mechanism view, the
   * CLI's `--mechanism`). Always rewrites the graph, even one that outputs attention itself.
   */
  mechanism?: boolean;
}

export interface RunOptions {
  /** With a mechanism engine: the attention outputs whose mechanism to return (default all). */
  mechanismOf?: readonly string[];
}

/** Every layer of a run and every warning, waiting for the layers still on the GPU (the CLI, exports). */
export async function allLayers(out: RunOutput): Promise<MoreLayers> {
  const more = out.rest ? await out.rest : { layers: [], warnings: [] };
  return { layers: [...out.layers, ...more.layers], warnings: [...out.warnings, ...more.warnings] };
}

/** The query and key lengths an attention output must have for this input. */
function expectedShape(kind: AttentionLayer['kind'], input: RunInput): [number, number] {
  const n = input.ids.length;
  const d = input.decoderIds?.length ?? n;
  return kind === 'decoder' ? [d, d] : kind === 'cross' ? [d, n] : [n, n];
}

/**
 * Sets NaN and ±Infinity weights to 0, so every view, summary and JSON stays consistent, and names
 * each head that had them: "Layer 2 head 3: 4 of 256 weights were not numbers".
 */
function sanitizeNonFinite(l: AttentionLayer): string[] {
  const out: string[] = [];
  const d = l.data;
  const size = l.queries * l.keys;
  for (let h = 0; h < l.heads; h++) {
    const from = h * size;
    const to = from + size;
    // A branch-free pass first (x * 0 is NaN only for NaN and ±Infinity): clean heads, nearly all, cost one read each.
    let a = 0;
    let b = 0;
    let c = 0;
    let e = 0;
    let i = from;
    for (; i + 3 < to; i += 4) {
      a += d[i] * 0;
      b += d[i + 1] * 0;
      c += d[i + 2] * 0;
      e += d[i + 3] * 0;
    }
    for (; i < to; i++) a += d[i] * 0;
    if (a + b + c + e === 0) continue;
    let bad = 0;
    for (let k = from; k < to; k++) {
      if (!Number.isFinite(d[k])) {
        d[k] = 0;
        bad++;
      }
    }
    if (bad > 0) out.push(`${l.kind === 'self' ? '' : `${l.kind} `}Layer ${l.layer + 1} head ${h + 1}: ${bad} of ${size} weights were not numbers (NaN or infinite) and show as 0`);
  }
  return out;
}

const ENCODER_INPUTS = new Set(['input_ids', 'attention_mask', 'token_type_ids', 'position_ids']);
const DECODER_INPUTS = new Set(['decoder_input_ids', 'decoder_attention_mask', 'decoder_position_ids']);
/** KV-cache inputs of decoder exports with past (Optimum, Transformers.js): fed an empty past. */
const PAST = /^past_key_values\.\d+\.(?:(?:encoder|decoder)\.)?(?:key|value)$/;
const USE_CACHE = 'use_cache_branch';

function canFill(name: string): boolean {
  return ENCODER_INPUTS.has(name) || DECODER_INPUTS.has(name) || PAST.test(name) || name === USE_CACHE;
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
  ) {}

  /**
   * Creates a session from ONNX bytes. Models without attention outputs are rewritten in memory
   * so that their attention Softmax outputs become outputs. Throws `EngineError` for corrupt
   * files, unsupported inputs and graphs whose attention cannot be found.
   */
  static async create(ort: OrtModule, bytes: Uint8Array, backend: Backend, fileLabel = 'model.onnx', options: EngineOptions = {}): Promise<AttentionEngine> {
    const hasAttention = (names: readonly string[]) => names.some((n) => parseAttentionName(n));
    let outputs: string[] | undefined;
    try {
      outputs = graphOutputNames(bytes);
    } catch {
      outputs = undefined; // not a readable protobuf: onnxruntime or the surgery below says why
    }
    // Opening a session uploads every weight: when the outputs show that surgery is needed, do it
    // before the first session. Only when they could not be read does the session tell.
    let session = options.mechanism || (outputs && !hasAttention(outputs)) ? undefined : await openSession(ort, bytes, backend, fileLabel, outputs?.filter((n) => parseAttentionName(n)));
    let exposed: FoundAttention[] = [];
    let mechanism: MechanismOutputs[] = [];
    if (!session || !hasAttention(session.outputNames)) {
      await session?.release().catch(() => undefined);
      try {
        const surgery = exposeAttention(bytes, fileLabel, { mechanism: options.mechanism });
        exposed = surgery.found;
        mechanism = surgery.mechanism;
        if (options.mechanism && mechanism.length === 0) {
          throw new EngineError(`${fileLabel}: attention was found, but not the queries and keys behind it (no score product Q·Kᵀ before any of its ${exposed.length} softmaxes), so its mechanism cannot be shown. The attention views work as usual.`, 'no-mechanism');
        }
        const exposedNames = [...(outputs ?? []).filter((n) => parseAttentionName(n)), ...exposed.map((f) => f.name)];
        // A mechanism run reads every layer at once, so nothing stays on the GPU.
        session = await openSession(ort, surgery.bytes, backend, fileLabel, options.mechanism ? [] : exposedNames);
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
        `${fileLabel} expects inputs Attention Lens cannot fill: ${unknown.join(', ')}. Supported inputs: ${[...ENCODER_INPUTS, ...DECODER_INPUTS].join(', ')}, past_key_values.N.key/value and use_cache_branch.`,
        'unknown-input',
      );
    }
    return new AttentionEngine(ort, session, backend, attentionOutputs, exposed, mechanism);
  }

  /** Runs the model once and returns every attention output (and, with a mechanism engine, their mechanism). */
  async run(input: RunInput, options: RunOptions = {}): Promise<RunOutput> {
    const feeds = this.feeds(input);
    const taps = this.mechanism.filter((m) => !options.mechanismOf || options.mechanismOf.includes(m.attention));
    const fetches = [...this.attentionOutputs, ...taps.flatMap((m) => Object.values(m.outputs))];
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
      throw new EngineError(`The model failed to run (${detail}).`, 'run-failed');
    }
    const millis = now() - t0;
    try {
      const out = await this.collect(results, input, millis);
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
      const [q, k] = expectedShape(parsed.kind, input);
      if (dims[0] !== 1 || dims[2] !== q || dims[3] !== k) {
        throw new EngineError(`Output ${name} has shape [${dims.join(', ')}], but the input has ${q === k ? `${q} tokens` : `${q} decoder and ${k} encoder tokens`} (expected [1, heads, ${q}, ${k}]): the model's attention outputs do not follow the input (a fixed-size export?). Re-export with dynamic sequence axes.`, 'run-failed');
      }
      outputs.push({ name, tensor: t, meta: { name, ...parsed, heads: dims[1], queries: dims[2], keys: dims[3] } });
    }
    outputs.sort((a, b) => compareLayers(a.meta, b.meta));
    const onCpu = outputs.filter((o) => o.tensor.location !== 'gpu-buffer');
    const onGpu = outputs.filter((o) => o.tensor.location === 'gpu-buffer');
    const layers = onCpu.map((o) => layerOf(o.meta, o.tensor.data as Float32Array | number[]));
    for (const o of onCpu) o.tensor.dispose?.();
    let rest: Promise<MoreLayers> | undefined;
    if (onGpu.length > 0) {
      // The first layer now, the others after the first picture; each GPU buffer released once read.
      const read = async (o: (typeof onGpu)[number]) => layerOf(o.meta, (await o.tensor.getData(true)) as Float32Array);
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

  private feeds(input: RunInput): Record<string, Ort.Tensor> {
    const { Tensor } = this.ort;
    const n = input.ids.length;
    const int64 = (values: ArrayLike<number>) => new Tensor('int64', BigInt64Array.from(Array.from(values), (v) => BigInt(v)), [1, values.length]);
    const filled = (len: number, f: (i: number) => number) => int64(Array.from({ length: len }, (_, i) => f(i)));
    const dec = input.decoderIds;
    const feeds: Record<string, Ort.Tensor> = {};
    for (const name of this.session.inputNames) {
      switch (name) {
        case 'input_ids': feeds[name] = int64(input.ids); break;
        case 'attention_mask': feeds[name] = filled(n, () => 1); break;
        case 'token_type_ids': feeds[name] = filled(n, () => 0); break;
        case 'position_ids': feeds[name] = filled(n, (i) => i); break;
        case 'decoder_input_ids':
        case 'decoder_attention_mask':
        case 'decoder_position_ids': {
          if (!dec) throw new EngineError('This is an encoder-decoder model: decoder token ids are required.', 'unknown-input');
          feeds[name] = name === 'decoder_input_ids' ? int64(dec) : filled(dec.length, name === 'decoder_attention_mask' ? () => 1 : (i) => i);
          break;
        }
        case USE_CACHE:
          feeds[name] = new Tensor('bool', [false], [1]);
          break;
        default:
          if (PAST.test(name)) feeds[name] = this.emptyPast(name);
      }
    }
    return feeds;
  }

  /** A past of length 0: batch 1, symbolic sequence dims 0, fixed dims (heads, head size) as declared. */
  private emptyPast(name: string): Ort.Tensor {
    const meta = this.session.inputMetadata.find((m) => m.name === name);
    const shape = meta && meta.isTensor ? meta.shape : [];
    const dims = shape.map((d, i) => (typeof d === 'number' && d >= 0 ? d : i === 0 ? 1 : 0));
    const type = meta && meta.isTensor ? meta.type : 'float32';
    if (dims.length !== 4) throw new EngineError(`Input ${name} has ${dims.length} dimensions; expected [batch, heads, past, head size].`, 'unknown-input');
    return type === 'float16' ? new this.ort.Tensor('float16', new Uint16Array(0), dims) : new this.ort.Tensor('float32', new Float32Array(0), dims);
  }
}

/** A layer in the views' form: Float32Array weights. */
function layerOf(meta: Omit<AttentionLayer, 'data'>, data: Float32Array | ArrayLike<number>): AttentionLayer {
  return { ...meta, data: data instanceof Float32Array ? data : Float32Array.from(data) };
}

/**
 * A session on `backend`. On WebGPU the attention outputs (`gpuOutputs`) stay in GPU buffers, read
 * back layer by layer when the views need them.
 */
async function openSession(ort: OrtModule, bytes: Uint8Array, backend: Backend, fileLabel: string, gpuOutputs: string[] = []): Promise<Ort.InferenceSession> {
  const onGpu = backend === 'webgpu' && gpuOutputs.length > 0 ? { preferredOutputLocation: Object.fromEntries(gpuOutputs.map((n) => [n, 'gpu-buffer' as const])) } : {};
  try {
    // Severity 4 (fatal only): onnxruntime's own log lines never reach the user; failures arrive as exceptions.
    return await ort.InferenceSession.create(bytes, { executionProviders: [backend], graphOptimizationLevel: 'all', logSeverityLevel: 4, ...onGpu });
  } catch (e) {
    throw new EngineError(
      `${fileLabel} could not be loaded by onnxruntime (${firstLine(e)}). The file may be truncated, corrupt or not an ONNX model: re-download or re-export it.`,
      'corrupt-model',
    );
  }
}

function firstLine(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  return text.split('\n')[0].slice(0, 300);
}

function now(): number {
  return typeof performance !== 'undefined' ? performance.now() : Date.now();
}
