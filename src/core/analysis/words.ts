/**
 * Word-level attention: subword tokens merged into words by the tokenizer's word ids. Attention
 * to a word is the sum over its pieces (keys), attention from a word the mean over its pieces
 * (queries); special tokens stay single words. Pure.
 */
import type { AttentionRecord } from '../attention';
import type { TokenInfo } from '../tokens';

/** A word: its text and UTF-16 span in the input, and the token indices it merges. */
export interface Word extends TokenInfo {
  tokens: number[];
}

/**
 * Groups consecutive tokens with the same word id; tokens without one (special tokens) stay alone.
 * `text` is the input the spans index into, or a function giving it per token (input or target).
 */
export function mergeWords(tokens: readonly TokenInfo[], text: string | ((t: TokenInfo) => string)): Word[] {
  const source = typeof text === 'string' ? () => text : text;
  const words: Word[] = [];
  tokens.forEach((t, i) => {
    const last = words.at(-1);
    const prev = tokens[i - 1];
    if (last && t.word !== undefined && !t.special && prev?.word === t.word && !prev.special) {
      last.tokens.push(i);
      last.end = Math.max(last.end, t.end);
      last.text = source(t).slice(last.start, last.end);
      return;
    }
    words.push({ id: t.id, text: t.special ? t.text : source(t).slice(t.start, t.end), start: t.start, end: t.end, special: t.special, word: t.word, tokens: [i] });
  });
  return words;
}

/** The word-level record without its weights (`data` empty): its shape, words and names, as `wordRecord` makes them. */
export function wordHeader(r: AttentionRecord, queryWords: readonly Word[], keyWords: readonly Word[]): AttentionRecord {
  const same = r.queryTokens === r.keyTokens && queryWords === keyWords;
  return { ...r, id: `words(${r.id})`, label: `${r.label} · words`, queries: queryWords.length, keys: keyWords.length, data: new Float32Array(0), queryTokens: queryWords, keyTokens: same ? queryWords : keyWords };
}

/** The record at word level; `queryWords`/`keyWords` come from `mergeWords` of each side's tokens. */
export function wordRecord(r: AttentionRecord, queryWords: readonly Word[], keyWords: readonly Word[]): AttentionRecord {
  const nq = queryWords.length, nk = keyWords.length;
  const data = new Float32Array(r.heads * nq * nk);
  const src = r.data; // once: a stored record's weights come through a getter
  for (let h = 0; h < r.heads; h++) {
    for (let qi = 0; qi < nq; qi++) {
      const pieces = queryWords[qi].tokens;
      for (let ki = 0; ki < nk; ki++) {
        let sum = 0;
        for (const q of pieces) for (const k of keyWords[ki].tokens) sum += src[(h * r.queries + q) * r.keys + k];
        data[(h * nq + qi) * nk + ki] = sum / pieces.length;
      }
    }
  }
  return { ...wordHeader(r, queryWords, keyWords), data };
}
