/**
 * Turns text into the token ids a model run needs: one home for truncation and the
 * encoder-decoder shift-right, shared by the extension host and the CLI. No vscode import.
 */
import { type InductionProbe, inductionProbe } from '../core/analysis/induction';
import * as path from 'node:path';
import type { TokenInfo } from '../core/tokens';
import { type ModelInfo, ModelFolderError } from './modelFolder';
import { type ModelTokenizer, shiftRight } from './tokenizer';

/** Everything a run needs besides the model bytes. */
export interface PreparedInputs {
  tokens: TokenInfo[];
  /** Decoder tokens of an encoder-decoder model (shift-right of the target). */
  decoderTokens?: TokenInfo[];
  /** Token count before truncation, when the text was longer than the model allows. */
  truncatedFrom?: number;
}

/** Tokenizes `text` (and `target` for encoder-decoder models; defaults to `text`). */
export async function prepareInputs(info: ModelInfo, tokenizer: ModelTokenizer, text: string, target?: string): Promise<PreparedInputs> {
  checkTextModel(info);
  const { tokens, truncatedFrom } = await tokenizer.tokenize(text, info.maxPositions);
  checkVocabulary(info, tokens);
  if (!info.encoderDecoder) return { tokens, truncatedFrom };
  const startId = info.decoderStartTokenId ?? 0;
  const targetTokens = target === undefined ? tokens : (await tokenizer.tokenize(target, info.maxPositions)).tokens;
  if (target !== undefined) checkVocabulary(info, targetTokens);
  return { tokens, decoderTokens: shiftRight(targetTokens, startId, tokenizer.idToToken(startId)), truncatedFrom };
}

/**
 * The induction probe of a causal model (undefined for others): random ids of its vocabulary
 * (added tokens and ids past the embedding table left out), after the special tokens its
 * tokenizer puts before any text (a BOS).
 */
export async function inductionProbeFor(info: ModelInfo, tokenizer: ModelTokenizer): Promise<InductionProbe | undefined> {
  if (!info.causal || info.encoderDecoder) return undefined;
  const { size, added } = tokenizer.vocabulary();
  const prefix = (await tokenizer.tokenize('', info.maxPositions)).tokens.filter((t) => t.special).map((t) => t.id);
  return inductionProbe(Math.min(size, info.vocabSize ?? size), added, info.maxPositions, prefix);
}

/** Throws, saying so, when `info` is an image model asked about text (call it before loading a tokenizer: such a model has none). */
export function checkTextModel(info: ModelInfo): void {
  if (info.vision) throw new ModelFolderError(`${path.basename(info.folder)} is an image model (${info.modelType}): it takes an image, not text. Choose a text model for text, or give it an image.`);
}

/** A one-line notice for a truncated selection. */
export function truncationNotice(p: PreparedInputs, maxPositions: number): string | undefined {
  return p.truncatedFrom === undefined
    ? undefined
    : `The selection has ${p.truncatedFrom} tokens; the model accepts ${maxPositions}, so only the first ${maxPositions} are shown.`;
}

/** Token ids past the embedding table mean the tokenizer belongs to another model. */
function checkVocabulary(info: ModelInfo, tokens: TokenInfo[]): void {
  if (info.vocabSize === undefined) return;
  const bad = tokens.find((t) => t.id >= info.vocabSize!);
  if (bad) {
    throw new ModelFolderError(`tokenizer.json gives "${bad.text}" the id ${bad.id}, but the model's embedding table has ${info.vocabSize} entries (config.json vocab_size): the tokenizer does not belong to this model.`);
  }
}
