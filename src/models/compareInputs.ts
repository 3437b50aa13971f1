/**
 * The inputs of a comparison: two models on one text, or one model on two texts. A text too long
 * for either model is cut for both at the same place, so both sides see the same words. Shared by
 * the extension host and the CLI. No vscode import.
 */
import type { TokenInfo } from '../core/tokens';
import type { ModelInfo } from './modelFolder';
import { type PreparedInputs, prepareInputs } from './prepareInputs';
import type { ModelTokenizer } from './tokenizer';

/** One side of a comparison before tokenizing. */
export interface CompareSide {
  info: ModelInfo;
  tokenizer: ModelTokenizer;
  text: string;
  /** The model's name for people. */
  label: string;
}

/** One side after tokenizing: the text its spans index into (possibly cut) and its tokens. */
export interface PreparedSide extends PreparedInputs {
  text: string;
}

/** Both sides, ready to run, and what the user should know (a cut text). */
export interface PreparedComparison {
  a: PreparedSide;
  b: PreparedSide;
  notice?: string;
}

/** Where the text of a truncated side ends: after its last token that covers text. */
function keptLength(tokens: readonly TokenInfo[]): number {
  return tokens.reduce((end, t) => (t.special ? end : Math.max(end, t.end)), 0);
}

/**
 * Tokenizes both sides. On one text, when either model truncates it, both get the text up to
 * where the shorter one stopped; on two texts (one model) each is cut by the model as usual.
 */
export async function prepareComparison(a: CompareSide, b: CompareSide): Promise<PreparedComparison> {
  let pa = await prepareInputs(a.info, a.tokenizer, a.text);
  let pb = await prepareInputs(b.info, b.tokenizer, b.text);
  if (pa.truncatedFrom === undefined && pb.truncatedFrom === undefined) return { a: { ...pa, text: a.text }, b: { ...pb, text: b.text } };
  if (a.text !== b.text) {
    const cut = [pa.truncatedFrom !== undefined && 'A', pb.truncatedFrom !== undefined && 'B'].filter(Boolean).join(' and ');
    return {
      a: { ...pa, text: a.text.slice(0, pa.truncatedFrom === undefined ? a.text.length : keptLength(pa.tokens)) },
      b: { ...pb, text: b.text.slice(0, pb.truncatedFrom === undefined ? b.text.length : keptLength(pb.tokens)) },
      notice: `Text ${cut} ${cut.length > 1 ? 'are' : 'is'} longer than the model accepts (${a.info.maxPositions} tokens) and ${cut.length > 1 ? 'were' : 'was'} cut.`,
    };
  }
  const lengths = [pa, pb].flatMap((p) => (p.truncatedFrom === undefined ? [] : [keptLength(p.tokens)]));
  const text = a.text.slice(0, Math.min(...lengths));
  const short = pa.truncatedFrom !== undefined ? a : b;
  pa = await prepareInputs(a.info, a.tokenizer, text);
  pb = await prepareInputs(b.info, b.tokenizer, text);
  return {
    a: { ...pa, text },
    b: { ...pb, text },
    notice: `The selection is longer than ${short.label} accepts (${short.info.maxPositions} tokens): both models see its first ${text.length} characters.`,
  };
}
