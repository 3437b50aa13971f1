/**
 * The inputs an ONNX transformer is fed for one run: token ids, a mask (of ones unless given), position ids,
 * token types, decoder ids, an empty past for KV-cache exports, and what today's decoder exports
 * add (num_logits_to_keep, GroupQueryAttention's lengths). Pure: the ort module is passed in.
 */
import type * as Ort from 'onnxruntime-web';
import type { KvCache, OrtModule, RunInput } from './attentionEngine';
import { EngineError } from './engineError';

export const ENCODER_INPUTS = new Set(['input_ids', 'attention_mask', 'token_type_ids', 'position_ids', 'pixel_values']);
export const DECODER_INPUTS = new Set(['decoder_input_ids', 'decoder_attention_mask', 'decoder_position_ids']);
/** Inputs of a decoder exported on its own (Optimum's decoder_model.onnx): the encoder's output and its mask. */
export const SPLIT_DECODER_INPUTS = new Set(['encoder_hidden_states', 'encoder_attention_mask']);
/**
 * Inputs of today's decoder exports: how many positions to compute logits for (1: the last; the
 * logits are not read), and GroupQueryAttention's sequence lengths where a graph takes them as inputs.
 */
export const DECODER_EXTRAS = new Set(['num_logits_to_keep', 'logits_to_keep', 'seqlens_k', 'total_sequence_length']);
/** KV-cache inputs of decoder exports with past (Optimum, Transformers.js): fed an empty past. */
const PAST = /^past_key_values\.\d+\.(?:(?:encoder|decoder)\.)?(?:key|value)$/;
const USE_CACHE = 'use_cache_branch';
/** The encoder's output in a split model's key/value cache: with-past decoders that still take it are fed it from there. */
export const ENCODER_HIDDEN = 'encoder_hidden_states';

/** Whether input `name` is a key/value cache input. */
export function isPastInput(name: string): boolean {
  return PAST.test(name);
}

/** Whether Attention Lens knows what to feed input `name`. */
export function canFill(name: string): boolean {
  return ENCODER_INPUTS.has(name) || DECODER_INPUTS.has(name) || SPLIT_DECODER_INPUTS.has(name) || DECODER_EXTRAS.has(name) || PAST.test(name) || name === USE_CACHE;
}

/**
 * Whether a graph with these inputs is the decoder of a split encoder-decoder export: it takes the
 * encoder's output (or its keys and values as past), and its `input_ids` are the decoder's tokens.
 */
export function isSplitDecoder(inputs: readonly string[]): boolean {
  return inputs.some((n) => n === ENCODER_HIDDEN || /^past_key_values\.\d+\.encoder\./.test(n));
}

/** The feeds of one run: every input the session declares. */
export function inputFeeds(ort: OrtModule, session: Ort.InferenceSession, input: RunInput, firstPosition = 0): Record<string, Ort.Tensor> {
  const { Tensor } = ort;
  const int64 = (values: ArrayLike<number>) => new Tensor('int64', BigInt64Array.from(Array.from(values), (v) => BigInt(v)), [1, values.length]);
  const filled = (len: number, f: (i: number) => number) => int64(Array.from({ length: len }, (_, i) => f(i)));
  const dec = input.decoderIds;
  // A split model's decoder: its own tokens are `input_ids`, the source's mask is `encoder_attention_mask`.
  const split = isSplitDecoder(session.inputNames);
  if (split && !dec) throw new EngineError('This is the decoder of an encoder-decoder model: decoder token ids are required.', 'unknown-input');
  const own = split ? dec! : input.ids;
  const n = own.length;
  // With a cache, the tokens continue it: positions and the mask cover the cached ones too.
  const past = input.past?.length ?? 0;
  const feeds: Record<string, Ort.Tensor> = {};
  for (const name of session.inputNames) {
    switch (name) {
      case 'input_ids': feeds[name] = int64(own); break;
      case 'encoder_attention_mask': feeds[name] = input.attentionMask ? int64(input.attentionMask) : filled(input.ids.length, () => 1); break;
      case ENCODER_HIDDEN: {
        const hidden = input.encoderHidden ?? input.past?.tensors.get(ENCODER_HIDDEN);
        if (!hidden) throw new EngineError('This decoder needs the encoder\'s output (encoder_hidden_states): run it through its encoder first.', 'unknown-input');
        feeds[name] = hidden as Ort.Tensor;
        break;
      }
      case 'pixel_values': {
        if (!input.pixelValues) throw new EngineError('This is an image model: it takes an image, not text. Run Show Attention on an image file.', 'unknown-input');
        feeds[name] = new Tensor('float32', input.pixelValues.data, [...input.pixelValues.dims]);
        break;
      }
      case 'attention_mask': feeds[name] = input.attentionMask && !split ? int64(input.attentionMask) : filled(past + n, () => 1); break;
      case 'token_type_ids': feeds[name] = filled(n, () => 0); break;
      case 'position_ids': feeds[name] = filled(n, (i) => past + i + firstPosition); break;
      case 'num_logits_to_keep':
      case 'logits_to_keep':
        feeds[name] = new Tensor('int64', BigInt64Array.of(1n), declaredRank(session, name) === 0 ? [] : [1]);
        break;
      case 'seqlens_k': feeds[name] = new Tensor('int32', Int32Array.of(past + n - 1), [1]); break;
      case 'total_sequence_length': feeds[name] = new Tensor('int32', Int32Array.of(past + n), declaredRank(session, name) === 0 ? [] : [1]); break;
      case 'decoder_input_ids':
      case 'decoder_attention_mask':
      case 'decoder_position_ids': {
        if (!dec) throw new EngineError('This is an encoder-decoder model: decoder token ids are required.', 'unknown-input');
        feeds[name] = name === 'decoder_input_ids' ? int64(dec) : filled(dec.length, name === 'decoder_attention_mask' ? () => 1 : (i) => i);
        break;
      }
      case USE_CACHE:
        feeds[name] = new Tensor('bool', [past > 0], [1]);
        break;
      default:
        if (PAST.test(name)) feeds[name] = input.past ? cached(input, name) : emptyPast(ort, session, name);
    }
  }
  return feeds;
}

/** The number of dimensions the graph declares for input `name` (undefined when it does not say). */
function declaredRank(session: Ort.InferenceSession, name: string): number | undefined {
  const meta = session.inputMetadata.find((m) => m.name === name);
  return meta && meta.isTensor ? meta.shape.length : undefined;
}

/** The cache's tensor for input `name`. */
function cached(input: RunInput, name: string): Ort.Tensor {
  const t = input.past?.tensors.get(name);
  if (!t) throw new EngineError(`The key/value cache has no ${name}: it belongs to another model.`, 'unknown-input');
  return t as Ort.Tensor;
}

/**
 * A past of length 0: batch 1, symbolic sequence dims 0, fixed dims (heads, head size) as declared.
 * A sequence fixed in the graph (a merged decoder's cross-attention past, exported for one source
 * length) gets zeros of that length: the branch without a past never reads them.
 */
function emptyPast(ort: OrtModule, session: Ort.InferenceSession, name: string): Ort.Tensor {
  const meta = session.inputMetadata.find((m) => m.name === name);
  const shape = meta && meta.isTensor ? meta.shape : [];
  const dims = shape.map((d, i) => (typeof d === 'number' && d >= 0 ? d : i === 0 ? 1 : 0));
  const type = meta && meta.isTensor ? meta.type : 'float32';
  if (dims.length !== 4) throw new EngineError(`Input ${name} has ${dims.length} dimensions; expected [batch, heads, past, head size].`, 'unknown-input');
  const size = dims.reduce((a, b) => a * b, 1);
  return type === 'float16' ? new ort.Tensor('float16', new Uint16Array(size), dims) : new ort.Tensor('float32', new Float32Array(size), dims);
}

/**
 * The cache after a run: the tensors it returned over those it was fed (a split decoder's with-past
 * run returns its own keys and values, not the encoder's, which stay), and the encoder's output
 * it was fed, for decoders that take it at every step. It holds the positions before and the run's.
 */
export function cacheAfter(input: RunInput, presents: Array<[string, unknown]>): KvCache {
  const tensors = new Map<string, unknown>([...(input.past?.tensors ?? []), ...(input.encoderHidden ? [[ENCODER_HIDDEN, input.encoderHidden] as [string, unknown]] : []), ...presents]);
  return { length: (input.past?.length ?? 0) + (input.decoderIds ?? input.ids).length, tensors };
}
