/**
 * How the tokens of two runs correspond, so that their attention can be compared cell by cell:
 * identical tokenizations pair token with token; two tokenizers on one text meet at the text's
 * words (a token belongs to every word it overlaps); two texts through one model pair the tokens
 * that a diff of their token sequences leaves unchanged. Two image models on one image pair patch
 * with patch on the same grid, and meet at the coarser grid's patches otherwise (each patch of
 * the finer grid belongs to the coarser patch its centre lies in). Pure.
 */
import { diffArrays } from 'diff';
import type { ImageToken, PatchBox } from '../image/patches';
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
  /** `tokens`: token with token; `words`: the words of the text; `patches`: patch with patch; `areas`: the coarser grid's patches. */
  kind: 'tokens' | 'words' | 'patches' | 'areas';
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
  const image = imageAlignment(a.tokens as readonly ImageToken[], b.tokens as readonly ImageToken[]);
  if (image) return image;
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
 * Two runs over one image (their tokens have patches): the same grid pairs patch with patch (and
 * special tokens of the same name, [CLS] with [CLS]); different grids meet at the coarser grid's
 * patches, each patch of the finer grid a member of the coarser patch holding its centre, special
 * tokens left out and rows renormalised. Undefined when either run's tokens have no patches.
 */
function imageAlignment(a: readonly ImageToken[], b: readonly ImageToken[]): Alignment | undefined {
  const pa = a.flatMap((t, i) => (t.patch ? [i] : [])), pb = b.flatMap((t, i) => (t.patch ? [i] : []));
  if (pa.length === 0 || pb.length === 0) return undefined;
  const same = pa.length === pb.length && pa.every((i, k) => sameBox(a[i].patch!, b[pb[k]].patch!));
  if (same) {
    const specials = a.flatMap((t, i): Array<[number, number]> => {
      const j = t.patch ? -1 : b.findIndex((u) => !u.patch && u.text === t.text);
      return j >= 0 ? [[i, j]] : [];
    });
    const pairs = [...specials, ...pa.map((i, k): [number, number] => [i, pb[k]])].sort((x, y) => x[0] - y[0]);
    const all = pairs.length === a.length && pairs.length === b.length;
    return {
      kind: 'patches', edited: false, a: tokenSide(a), b: tokenSide(b), pairs, renormalised: !all,
      description: `patches: both models cut the image into the same ${pa.length} patches, compared patch by patch${all ? '' : '; special tokens without a counterpart are left out and each row renormalised'}`,
    };
  }
  // The coarser grid's patches are the units; the finer grid's patches join the one holding their centre.
  const [coarse, fine, coarseTokens, fineTokens] = pa.length <= pb.length ? [pa, pb, a, b] : [pb, pa, b, a];
  const units = coarse.map((i) => coarseTokens[i]);
  const coarseSide: AlignedSide = { units, members: coarse.map((i) => [i]), owners: coarseTokens.map((t) => (t.patch ? 1 : 0)) };
  const members = coarse.map(() => [] as number[]);
  const owners = fineTokens.map(() => 0);
  for (const i of fine) {
    const p = fineTokens[i].patch!;
    const cx = p.x + p.width / 2, cy = p.y + p.height / 2;
    const u = units.findIndex((t) => cx >= t.patch!.x && cx < t.patch!.x + t.patch!.width && cy >= t.patch!.y && cy < t.patch!.y + t.patch!.height);
    if (u < 0) continue;
    members[u].push(i);
    owners[i] = 1;
  }
  const fineSide: AlignedSide = { units, members, owners };
  const pairs = units.flatMap((_, u): Array<[number, number]> => (members[u].length > 0 ? [[u, u]] : []));
  const [sa, sb] = coarseTokens === a ? [coarseSide, fineSide] : [fineSide, coarseSide];
  return {
    kind: 'areas', edited: false, a: sa, b: sb, pairs, renormalised: true,
    description: `image areas: the models cut the image into ${pa.length} and ${pb.length} patches, so attention is compared between the ${units.length} patches of the coarser grid (a finer patch counts in the one holding its centre). Attention to special tokens is left out and each row renormalised`,
  };
}

function sameBox(p: PatchBox, q: PatchBox): boolean {
  const close = (x: number, y: number) => Math.abs(x - y) < 1e-6;
  return p.row === q.row && p.col === q.col && close(p.x, q.x) && close(p.y, q.y) && close(p.width, q.width) && close(p.height, q.height);
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
