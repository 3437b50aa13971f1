/**
 * One engine interface over two kinds of export: a single graph (`AttentionEngine`), and an
 * encoder-decoder model split as the Hub ships it (Optimum's layout: `encoder_model.onnx`, then
 * `decoder_model.onnx` with `decoder_with_past_model.onnx`, or `decoder_model_merged.onnx`).
 *
 * A split model runs its encoder, then its decoder on the encoder's output; its attention is the
 * encoder's self attention (as `encoder_attentions.N`) and the decoder's self and cross attention,
 * as one graph of both would return them. With a with-past decoder it generates incrementally: the
 * first decoder run returns the cross-attention keys and values with its own, and each later step
 * runs the with-past decoder on the new token alone, fed that cache; the encoder runs once.
 */
import { type AttentionLayer, compareLayers } from '../attention';
import type { Backend } from '../backend';
import type { MechanismLayer } from '../mechanism';
import { AttentionEngine, type EngineOptions, type KvCache, type MoreLayers, type OrtModule, type RunInput, type RunOptions, type RunOutput } from './attentionEngine';
import { EngineError } from './engineError';
import type { FoundAttention } from './graphSurgery';

/** What every caller uses of an engine, whichever export it runs. */
export interface ModelEngine {
  readonly backend: Backend;
  /** The attention outputs, by name (`attentions.N`, `encoder_attentions.N`, `cross_attentions.N`, …). */
  readonly attentionOutputs: string[];
  /** The attentions graph surgery exposed (empty where the model outputs them itself). */
  readonly exposed: FoundAttention[];
  readonly hasLogits: boolean;
  readonly hasPast: boolean;
  run(input: RunInput, options?: RunOptions): Promise<RunOutput>;
  dispose(): Promise<void>;
}

/** One ONNX file of a split model: its bytes and its name in messages. */
export interface OnnxPart {
  bytes: Uint8Array;
  label: string;
}

/** A split model's decoders: the one that starts (decoder_model.onnx or the merged one), and the one that continues from a cache. */
export interface DecoderParts {
  decoder: OnnxPart;
  withPast?: OnnxPart;
}

/** How to open a model: the engine's options, and for a split encoder-decoder model its decoders (the bytes given are the encoder's). */
export type OpenOptions = EngineOptions & { decoders?: DecoderParts };

/** Opens a model: one graph, or a split encoder-decoder model. */
export async function openEngine(ort: OrtModule, bytes: Uint8Array, backend: Backend, fileLabel = 'model.onnx', options: OpenOptions = {}): Promise<ModelEngine> {
  const { decoders, ...engine } = options;
  return decoders ? SplitEngine.create(ort, { bytes, label: fileLabel }, decoders, backend, engine) : AttentionEngine.create(ort, bytes, backend, fileLabel, engine);
}

/** The encoder's self attention as a split model names it: `attentions.N` of its own graph becomes `encoder_attentions.N`. */
const ENCODER_PREFIX = 'encoder_';
function asEncoder<T extends { name: string; kind: AttentionLayer['kind'] }>(a: T): T {
  return a.kind === 'self' ? { ...a, kind: 'encoder', name: `${ENCODER_PREFIX}${a.name}` } : a;
}

/** Dimension `i` of a tensor the engine returned (undefined when it is not one). */
function dimOf(t: unknown, i: number): number | undefined {
  const dims = (t as { dims?: readonly number[] } | undefined)?.dims;
  return dims && dims.length > i ? Number(dims[i]) : undefined;
}

/** The source length a split cache holds: its cross-attention keys (`past_key_values.N.encoder.key`, [batch, heads, source, size]). */
function cachedSource(cache: KvCache): number | undefined {
  for (const [name, t] of cache.tensors) if (/\.encoder\.key$/.test(name)) return dimOf(t, 2);
  return undefined;
}

export class SplitEngine implements ModelEngine {
  private constructor(
    private readonly encoder: AttentionEngine,
    private readonly decoder: AttentionEngine,
    private readonly withPast: AttentionEngine | undefined,
  ) {}

  /**
   * Opens the encoder, then the decoders (each rewritten to expose its attention where it does not
   * output it). The encoder's external data and folder are its own: the decoders are single files.
   */
  static async create(ort: OrtModule, encoder: OnnxPart, parts: DecoderParts, backend: Backend, options: EngineOptions = {}): Promise<SplitEngine> {
    const opened: AttentionEngine[] = [];
    const open = async (part: OnnxPart, own: EngineOptions) => {
      const e = await AttentionEngine.create(ort, part.bytes, backend, part.label, own);
      opened.push(e);
      return e;
    };
    try {
      // Long inputs keep the encoder's attention as queries and keys (T5's relative bias as one row
      // per head); the decoders' attention grows with the decoder's tokens, and keeps its weights.
      const shared: EngineOptions = { firstPosition: options.firstPosition, mechanism: options.mechanism };
      const enc = await open(encoder, options);
      const dec = await open(parts.decoder, shared);
      // A merged decoder that keeps its cache branch continues from its own cache.
      const withPast = parts.withPast ? await open(parts.withPast, shared) : dec.hasPast ? dec : undefined;
      return new SplitEngine(enc, dec, withPast);
    } catch (e) {
      await Promise.all(opened.map((o) => o.dispose()));
      throw e;
    }
  }

  get backend(): Backend {
    return this.encoder.backend;
  }

  get attentionOutputs(): string[] {
    return [...this.encoder.attentionOutputs.map((n) => `${ENCODER_PREFIX}${n}`), ...this.decoder.attentionOutputs];
  }

  get exposed(): FoundAttention[] {
    return [...this.encoder.exposed.map(asEncoder), ...this.decoder.exposed];
  }

  get hasLogits(): boolean {
    return this.decoder.hasLogits;
  }

  /** It continues from a cache: a with-past decoder, and a first decoder run that returns the cache to start it. */
  get hasPast(): boolean {
    return this.withPast !== undefined && this.withPast.hasPast && this.decoder.hasPresent;
  }

  /**
   * Runs the encoder on `ids` and the decoder on `decoderIds`; with `past` (a cache of an earlier
   * run), only the with-past decoder, on the new `decoderIds`, with `ids` the source it attends to.
   */
  async run(input: RunInput, options: RunOptions = {}): Promise<RunOutput> {
    const decoderIds = input.decoderIds;
    if (!decoderIds) throw new EngineError('This is an encoder-decoder model: decoder token ids are required.', 'unknown-input');
    const own = (names: readonly string[] | undefined, encoder: boolean) =>
      names?.flatMap((n) => (n.startsWith(ENCODER_PREFIX) === encoder ? [encoder ? n.slice(ENCODER_PREFIX.length) : n] : []));
    const decoderOptions: RunOptions = { ...options, mechanismOf: own(options.mechanismOf, false) };
    // An image's patches are the source: its length is the encoder output's (or the cached cross keys').
    const image = input.pixelValues !== undefined;
    if (input.past) {
      if (!this.hasPast || !this.withPast) throw new EngineError('This export takes no key/value cache (no decoder_with_past_model.onnx).', 'unknown-input');
      return this.withPast.run({ ids: input.ids, attentionMask: input.attentionMask, decoderIds, past: input.past, ...(image ? { sourceLength: cachedSource(input.past) } : {}) }, decoderOptions);
    }
    const enc = await this.encoder.run({ ids: input.ids, attentionMask: input.attentionMask, pixelValues: input.pixelValues }, { hidden: true, mechanismOf: own(options.mechanismOf, true) });
    const sourceLength = image ? dimOf(enc.hidden, 1) : undefined;
    const dec = await this.decoder.run({ ids: input.ids, attentionMask: input.attentionMask, decoderIds, encoderHidden: enc.hidden, ...(sourceLength !== undefined ? { sourceLength } : {}) }, decoderOptions);
    const rests = [enc.rest?.then((m) => ({ ...m, layers: m.layers.map(asEncoder) })), dec.rest].filter((r): r is Promise<MoreLayers> => r !== undefined);
    const rest = rests.length > 0 ? Promise.all(rests).then((all) => ({ layers: all.flatMap((m) => m.layers).sort(compareLayers), warnings: all.flatMap((m) => m.warnings) })) : undefined;
    rest?.catch(() => undefined); // the caller reports it
    const mechanism: MechanismLayer[] | undefined = enc.mechanism || dec.mechanism ? [...(enc.mechanism ?? []).map(asEncoder), ...(dec.mechanism ?? [])].sort(compareLayers) : undefined;
    return {
      ...dec,
      layers: [...enc.layers.map(asEncoder), ...dec.layers].sort(compareLayers),
      millis: enc.millis + dec.millis,
      warnings: [...enc.warnings, ...dec.warnings],
      rest,
      mechanism,
      ...(enc.queryKeys ? { queryKeys: enc.queryKeys.map(asEncoder) } : {}),
    };
  }

  async dispose(): Promise<void> {
    await Promise.all([...new Set([this.encoder, this.decoder, this.withPast])].map((e) => e?.dispose()));
  }
}
