/**
 * Generation with attention: the model continues its input one token at a time, and each step
 * keeps what the model looked at when it chose the token: the row of the query at the last input
 * position over every key up to it, in every layer and head (for encoder-decoder models the
 * decoder's self-attention row and its cross-attention row over the source), with the
 * next-token probabilities (the chosen token's, its rank, the most probable ones).
 *
 * An export with a key/value cache (`past_key_values.*` inputs: a decoder-only model, or a split
 * encoder-decoder model's with-past decoder) runs incrementally: the prompt (or the source and the
 * decoder's start token) once, then each new token alone, fed the cache of the run before. Any
 * other export with logits runs the growing sequence again at each step. Both give the same rows:
 * a causal decoder's rows at earlier positions do not change as the sequence grows, so each step's
 * row is the full run's row at that position. Pure: the engine is passed in.
 */
import type { AttentionKind } from '../attention';
import { type KvCache, type Logits, type RunInput, type RunOptions, type RunOutput, allLayers } from '../engine/attentionEngine';
import { EngineError } from '../engine/engineError';
import { type Sampling, type TokenProbability, alternatives, chooseToken, seededRandom } from './sampling';

/** What generation needs of an engine. */
export interface GenerationEngine {
  readonly hasLogits: boolean;
  /** The export takes a key/value cache: generation runs incrementally (absent: it does not). */
  readonly hasPast?: boolean;
  run(input: RunInput, options?: RunOptions): Promise<RunOutput>;
}

export interface GenerateOptions {
  /** Steps at most. */
  maxNewTokens: number;
  /** Stop after choosing one of these (the end-of-sequence ids from the config); empty: stop at the maximum. */
  eos: readonly number[];
  /** Greedy when absent. */
  sampling?: Sampling;
  /** How many of the most probable tokens each step lists (default 5). */
  alternatives?: number;
  /** Encoder-decoder models: the decoder's first token (`decoder_start_token_id`); the input is the encoder's. */
  decoderStart?: number;
  /** Checked before each step: when aborted, generation ends after the steps made ("stopped"). */
  signal?: AbortSignal;
  /** Run the growing sequence again at each step even where the export has a key/value cache. */
  rerun?: boolean;
  /** A captioner's image (`RunInput.pixelValues`): the source its decoder writes about; `input` is then empty. */
  pixelValues?: RunInput['pixelValues'];
}

/** One attention row of a step: `weights` is [heads][keys] (keys: the query's position + 1, or the source's tokens for cross attention). */
export interface StepAttention {
  name: string;
  kind: AttentionKind;
  layer: number;
  heads: number;
  keys: number;
  weights: Float32Array;
}

/** One generated token and what the model looked at to choose it. */
export interface GenerationStep {
  step: number;
  /** Position of the query that chose the token (in the decoder's sequence for encoder-decoder models). */
  query: number;
  token: number;
  probability: number;
  /** 1: the most probable token. */
  rank: number;
  top: TokenProbability[];
  attention: StepAttention[];
}

/** Why generation ended. */
export type StopReason = 'eos' | 'max' | 'stopped';

/**
 * Generates from `input` (token ids), calling `onStep` with each step as it is made; resolves with
 * every step and why it ended. Throws `EngineError` (`no-logits`) for a model without logits.
 */
export async function generate(engine: GenerationEngine, input: readonly number[], options: GenerateOptions, onStep: (s: GenerationStep) => void | Promise<void> = () => undefined): Promise<{ steps: GenerationStep[]; stop: StopReason }> {
  if (!engine.hasLogits) throw new EngineError('This model has no logits output: it shows attention but cannot generate. Export it with its language-model head.', 'no-logits');
  const random = seededRandom(options.sampling?.seed ?? 0);
  const encoderDecoder = options.decoderStart !== undefined;
  const sequence = encoderDecoder ? [options.decoderStart!] : [...input];
  const incremental = !options.rerun && engine.hasPast === true;
  let past: KvCache | undefined;
  const steps: GenerationStep[] = [];
  for (let step = 0; step < options.maxNewTokens; step++) {
    if (options.signal?.aborted) return { steps, stop: 'stopped' };
    // With a cache, only the tokens it does not hold: the last one chosen.
    const fresh = past ? sequence.slice(past.length) : sequence;
    const run: RunInput = encoderDecoder ? { ids: input, decoderIds: fresh, past, ...(options.pixelValues ? { pixelValues: options.pixelValues } : {}) } : { ids: fresh, past };
    const out = await engine.run(run, { logits: 'last', ...(incremental ? { cache: true } : {}) });
    past = out.cache;
    const query = sequence.length - 1;
    const { layers } = await allLayers(out);
    const attention = layers.filter((l) => l.kind !== 'encoder').map((l): StepAttention => {
      // The row of the last query (the run's last), every head: every key up to it (self), or the whole source (cross).
      const row = l.queries - 1;
      const weights = new Float32Array(l.heads * l.keys);
      for (let h = 0; h < l.heads; h++) weights.set(l.data.subarray((h * l.queries + row) * l.keys, (h * l.queries + row + 1) * l.keys), h * l.keys);
      return { name: l.name, kind: l.kind, layer: l.layer, heads: l.heads, keys: l.keys, weights };
    });
    const logits = lastRow(out.logits!);
    const token = chooseToken(logits, options.sampling, random);
    const { top, probability, rank } = alternatives(logits, token, options.alternatives ?? 5);
    const made: GenerationStep = { step, query, token, probability, rank, top, attention };
    steps.push(made);
    sequence.push(token);
    await onStep(made);
    if (options.eos.includes(token)) return { steps, stop: 'eos' };
  }
  return { steps, stop: 'max' };
}

/**
 * How many tokens a generation may make: `requested`, cut to the positions the model has left
 * (every new token takes one: the prompt's for a causal model, the decoder's after its start
 * token), with a notice when cut. `what` names the request in the notice ("--max-new-tokens 400").
 * Throws when the input leaves no room.
 */
export function newTokenLimit(requested: number, promptLength: number, maxPositions: number, encoderDecoder: boolean, what = `${requested} new tokens`): { maxNewTokens: number; notice?: string } {
  const room = encoderDecoder ? maxPositions - 1 : maxPositions - promptLength;
  if (room < 1) throw new Error(`the text fills the model's ${maxPositions} positions: no room to generate. Give a shorter text.`);
  if (requested <= room) return { maxNewTokens: requested };
  return { maxNewTokens: room, notice: `${what} is more than the ${room} positions left of the model's ${maxPositions}: generating at most ${room}.` };
}

/** Said when a model names no end-of-sequence token. */
export const NO_EOS_NOTICE = 'neither generation_config.json nor config.json names an eos_token_id: generating until the maximum.';

function lastRow(l: Logits): Float32Array {
  return l.data.subarray((l.rows - 1) * l.vocab, l.rows * l.vocab);
}
