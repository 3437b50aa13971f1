/**
 * How the tokens of two runs correspond, so that their attention can be compared cell by cell:
 * identical tokenizations pair token with token; two tokenizers on one text meet at the text's
 * words (a token belongs to every word it overlaps); two texts through one model pair the tokens
 * that a diff of their token sequences leaves unchanged. Pure.
 */
import { diffArrays } from 'diff';
import type { TokenInfo } from '../tokens';

/** One side's units (tokens or words) and, per unit, the token indices it gathers. */
export interface AlignedSide {
  units: TokenInfo[];
  members: number[][];
  /** Per token, how many units it belongs to (a key's weight is shared among them). */
  owners: number[];
}

/** What corresponds between run A and run B. */
export interface Alignment {
  /** `tokens`: token with token; `words`: the words of the text. */
  kind: 'tokens' | 'words';
  /** The runs' texts differ (two inputs on one model): only the tokens a diff leaves unchanged are paired. */
  edited: boolean;
  a: AlignedSide;
  b: AlignedSide;
  /** Corresponding units, in order: [unit of A, unit of B]. */
  pairs: Array<[number, number]>;
  /**
   * Rows are renormalised over the paired units: different tokenizers' special tokens and the
   * whitespace between words have no counterpart, so the attention they take is left out.
   */
  renormalised: boolean;
  /** For people: which alignment is in use and what it leaves out. */
  description: string;
}

/** One run as alignment sees it. */
export interface AlignmentInput {
  text: string;
  tokens: readonly TokenInfo[];
}

/** Both runs tokenized the same text into the same ids with the same spans. */
export function sameTokens(a: readonly TokenInfo[], b: readonly TokenInfo[]): boolean {
  return a.length === b.length && a.every((t, i) => t.id === b[i].id && t.start === b[i].start && t.end === b[i].end && t.special === b[i].special);
}

const WORD = /[\p{L}\p{N}\p{M}]+|[^\s\p{L}\p{N}\p{M}]/gu;

/** The words of `text`: runs of letters, digits and marks; every other non-space character is a word of its own. UTF-16 spans. */
export function textWords(text: string): Array<{ start: number; end: number }> {
  return Array.from(text.matchAll(WORD), (m) => ({ start: m.index, end: m.index + m[0].length }));
}

/** Units that are the tokens themselves. */
function tokenSide(tokens: readonly TokenInfo[]): AlignedSide {
  return { units: [...tokens], members: tokens.map((_, i) => [i]), owners: tokens.map(() => 1) };
}

/** Units that are the words of `text`; a token belongs to every word its span overlaps. */
function wordSide(text: string, tokens: readonly TokenInfo[], words: ReadonlyArray<{ start: number; end: number }>): AlignedSide {
  const members = words.map(() => [] as number[]);
  const owners = tokens.map(() => 0);
  tokens.forEach((t, i) => {
    if (t.special || t.end <= t.start) return;
    words.forEach((w, j) => {
      if (t.start < w.end && w.start < t.end) {
        members[j].push(i);
        owners[i]++;
      }
    });
  });
  // Like merged words, a unit names the token indices it covers (the editor maps positions to tokens with them).
  const units = words.map((w, j) => ({ id: -1, text: text.slice(w.start, w.end), start: w.start, end: w.end, special: false, word: j, tokens: members[j] }));
  return { units, members, owners };
}

/**
 * How run `a` and run `b` correspond. One text: `tokens` when both tokenizations are identical,
 * else `words`. Two texts: the tokens a diff of the token sequences leaves unchanged; that needs
 * one tokenizer (`sameModel`).
 */
export function alignRuns(a: AlignmentInput, b: AlignmentInput, sameModel = false): Alignment {
  const alignment = align(a, b, sameModel);
  if (alignment.pairs.length === 0) throw new Error(`the two runs share no ${alignment.kind === 'words' ? 'word' : 'token'}: there is nothing to compare`);
  return alignment;
}

function align(a: AlignmentInput, b: AlignmentInput, sameModel: boolean): Alignment {
  if (a.text === b.text) {
    if (sameTokens(a.tokens, b.tokens)) {
      const side = tokenSide(a.tokens);
      return { kind: 'tokens', edited: false, a: side, b: tokenSide(b.tokens), pairs: side.units.map((_, i) => [i, i]), renormalised: false, description: 'tokens: both tokenizations are identical' };
    }
    const words = textWords(a.text);
    const sa = wordSide(a.text, a.tokens, words), sb = wordSide(b.text, b.tokens, words);
    // A word no token of one side covers (it cannot happen with spans that tile the text) is left out.
    const pairs = words.flatMap((_, j): Array<[number, number]> => (sa.members[j].length && sb.members[j].length ? [[j, j]] : []));
    return {
      kind: 'words', edited: false, a: sa, b: sb, pairs, renormalised: true,
      description: `words: the tokenizers differ, so attention is compared between the text's ${words.length} words (split on spaces and punctuation; a token belongs to every word it overlaps). Attention to special tokens and spaces is left out and each row renormalised`,
    };
  }
  if (!sameModel) throw new Error('two different texts can be compared on one model only');
  return editAlignment(a, b);
}

/**
 * Tokens of two texts through one tokenizer, paired where a diff of the two token sequences
 * (by id, specials included) leaves them unchanged: the edit and the tokens it re-split stay unpaired.
 */
function editAlignment(a: AlignmentInput, b: AlignmentInput): Alignment {
  const pairs: Array<[number, number]> = [];
  let ia = 0, ib = 0, edits = 0, inEdit = false;
  for (const part of diffArrays(a.tokens as TokenInfo[], b.tokens as TokenInfo[], { comparator: (x, y) => x.id === y.id })) {
    const n = part.count ?? part.value.length;
    if (part.added || part.removed) {
      if (!inEdit) edits++;
      inEdit = true;
      if (part.added) ib += n;
      else ia += n;
      continue;
    }
    inEdit = false;
    for (let k = 0; k < n; k++) pairs.push([ia + k, ib + k]);
    ia += n;
    ib += n;
  }
  const unpairedA = a.tokens.length - pairs.length, unpairedB = b.tokens.length - pairs.length;
  return {
    kind: 'tokens', edited: true, a: tokenSide(a.tokens), b: tokenSide(b.tokens), pairs, renormalised: false,
    description: `tokens of two texts: ${edits} edit${edits === 1 ? '' : 's'}; ${pairs.length} tokens are unchanged and compared, ${unpairedA} of A and ${unpairedB} of B are not`,
  };
}
