/**
 * The analysis choices every view and the CLI share, applied to a run's records in one order:
 * word level, then hidden tokens, then aggregation. Pure.
 */
import type { AttentionRecord } from '../attention';
import type { TokenInfo } from '../tokens';
import { type Aggregation, type RolloutOptions, maxOverHeads, meanOverHeads, rollout } from './aggregate';
import { type KeyCategories, keyCategories } from './headStats';
import { type HideChoice, hiddenHeader, hideTokens } from './hiding';
import { mergeWords, type Word, wordHeader, wordRecord } from './words';

/** What the user chose to look at. */
export interface AnalysisChoices {
  words: boolean;
  hide: readonly HideChoice[];
  /** Undefined: every head. */
  aggregate?: Aggregation;
  /** With the rollout: its head fusion and discarded share. */
  rollout?: RolloutOptions;
}

/** The texts the run's token spans index into: the input, and the decoder target if it differs. */
export interface RunTexts {
  tokens: readonly TokenInfo[];
  text: string;
  decoderTokens?: readonly TokenInfo[];
  target?: string;
}

/** The text a run's token indexes into: the target for decoder tokens, else the input. */
function sourceOf(run: RunTexts): (t: TokenInfo) => string {
  const input = new Set(run.tokens);
  const decoder = new Set(run.target === undefined ? [] : run.decoderTokens ?? []);
  return (t) => (decoder.has(t) && !input.has(t) ? run.target! : run.text);
}

/** A token's text in the input it came from; words, made by `mergeWords`, carry theirs as `text`. */
function spanResolver(run: RunTexts): (t: TokenInfo) => string {
  const source = sourceOf(run);
  const original = new Set([...run.tokens, ...(run.decoderTokens ?? [])]);
  return (t) => (original.has(t) ? source(t).slice(t.start, t.end) : t.text);
}

/**
 * Per-head records after word merge and hiding: the basis of statistics and of aggregation.
 * `headersOnly`: their shapes, tokens and names without weights (`data` empty), nothing computed.
 */
export function perHeadRecords(records: readonly AttentionRecord[], run: RunTexts, choices: Pick<AnalysisChoices, 'words' | 'hide'>, headersOnly = false): AttentionRecord[] {
  const source = sourceOf(run);
  const words = new Map<readonly TokenInfo[], Word[]>();
  const wordsOf = (tokens: readonly TokenInfo[]) => {
    let w = words.get(tokens);
    if (!w) {
      w = mergeWords(tokens, source);
      words.set(tokens, w);
    }
    return w;
  };
  return records.map((r) => {
    const merged = choices.words ? (headersOnly ? wordHeader : wordRecord)(r, wordsOf(r.queryTokens), wordsOf(r.keyTokens)) : r;
    return (headersOnly ? hiddenHeader : hideTokens)(merged, choices.hide);
  });
}

/** The records to show from per-head `base` records: themselves, or one aggregate per layer (rollout covers attention over the input). */
export function aggregateRecords(base: AttentionRecord[], aggregate: Aggregation | undefined, options?: RolloutOptions): AttentionRecord[] {
  switch (aggregate) {
    case undefined: return base;
    case 'mean': return base.map(meanOverHeads);
    case 'max': return base.map(maxOverHeads);
    case 'rollout': return rollout(rolloutLayers(base), options);
  }
}

/** The records a rollout runs through: attention over the input, square (self attention). */
export function rolloutLayers(base: readonly AttentionRecord[]): AttentionRecord[] {
  return base.filter((r) => r.overInput && r.queries === r.keys);
}

/** The key categories (special, punctuation) of any record of the run, words included. */
export function categoriesFor(run: RunTexts): (r: AttentionRecord) => KeyCategories {
  const span = spanResolver(run);
  return (r) => keyCategories(r.keyTokens, span);
}

