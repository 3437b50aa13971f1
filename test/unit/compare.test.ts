// Comparison of two runs: word and edit alignment, aligned records, A − B, the head
// correspondence by Jensen-Shannon distance and the proportional layer map, against answers
// worked out by hand.
import { describe, expect, it } from 'vitest';
import { type AttentionRecord, recordOfLayer } from '../../src/core/attention';
import { alignRuns, sameTokens, textWords } from '../../src/core/analysis/alignment';
import { alignedRecord, bestMatches, correspondence, correspondenceSteps, differenceRecord, headDivergenceSteps, identicalRecords, layerComparisons, mapLayer, meanAbsDifference } from '../../src/core/analysis/compare';
import { rowJsDistance } from '../../src/core/analysis/headSimilarity';
import type { ImageToken } from '../../src/core/image/patches';
import type { TokenInfo } from '../../src/core/tokens';

const tok = (text: string, start: number, end: number, id = 0, special = false): TokenInfo => ({ id, text, start, end, special });
/** Tokens that split `text` at the given cut points (no specials). */
function split(text: string, cuts: number[], ids?: number[]): TokenInfo[] {
  const edges = [0, ...cuts, text.length];
  return edges.slice(1).map((end, i) => tok(text.slice(edges[i], end), edges[i], end, ids?.[i] ?? i));
}
function rec(heads: number[][][], tokens: TokenInfo[], layer = 0, causal = false): AttentionRecord {
  const data = Float32Array.from(heads.flat(2));
  return recordOfLayer({ name: `attentions.${layer}`, kind: 'self', layer, heads: heads.length, queries: heads[0].length, keys: heads[0][0].length, data }, { tokens, causal });
}
const matrix = (r: AttentionRecord, h = 0) => Array.from({ length: r.queries }, (_, q) => Array.from(r.data.subarray((h * r.queries + q) * r.keys, (h * r.queries + q + 1) * r.keys)).map((v) => +v.toFixed(6)));

describe('words of a text', () => {
  it('splits on spaces and punctuation, keeps letters with marks and astral characters, in UTF-16 offsets', () => {
    const text = ' Héllo, wo\u0301rld!  𝔘n 42';
    expect(textWords(text).map((w) => text.slice(w.start, w.end))).toEqual(['Héllo', ',', 'wo\u0301rld', '!', '𝔘n', '42']);
    expect(textWords(text)[4]).toEqual({ start: 17, end: 20 });
  });
});

describe('alignment', () => {
  it('pairs token with token when both tokenizations are identical', () => {
    const t = split('a b', [1]);
    const al = alignRuns({ text: 'a b', tokens: t }, { text: 'a b', tokens: t.map((x) => ({ ...x })) });
    expect(sameTokens(t, t)).toBe(true);
    expect(al.kind).toBe('tokens');
    expect(al.pairs).toEqual([[0, 0], [1, 1]]);
  });

  it('meets at the words when the tokenizers differ; a token belongs to every word it overlaps', () => {
    const text = 'unbelievable, right';
    // A: un|believ|able|,| right ; B: [CLS] unbeliev|able,| right [SEP]
    const a = split(text, [2, 8, 12, 13]);
    const b = [tok('[CLS]', 0, 0, 100, true), ...split(text, [8, 13]), tok('[SEP]', 19, 19, 101, true)];
    const al = alignRuns({ text, tokens: a }, { text, tokens: b });
    expect(al.kind).toBe('words');
    expect(al.renormalised).toBe(true);
    expect(al.pairs).toEqual([[0, 0], [1, 1], [2, 2]]);
    expect(al.a.members).toEqual([[0, 1, 2], [3], [4]]);
    expect(al.b.members).toEqual([[1, 2], [2], [3]]); // "able," overlaps "unbelievable" and ","
    expect(al.b.owners).toEqual([0, 1, 2, 1, 0]);
    expect(al.description).toMatch(/^words: .*3 words/);
  });

  it('makes word-level rows: mean over query tokens, keys summed with shared tokens split, renormalised', () => {
    const text = 'ab,c';
    // B: [CLS] "ab," "c" — "ab," belongs to words "ab" and ",".
    const b = [tok('[CLS]', 0, 0, 1, true), tok('ab,', 0, 3, 2), tok('c', 3, 4, 3)];
    const a = split(text, [1, 2, 3]); // a|b|,|c
    const al = alignRuns({ text, tokens: a }, { text, tokens: b });
    const rb = rec([[[1, 0, 0], [0.5, 0.3, 0.2], [0.2, 0.4, 0.4]]], b);
    const wb = alignedRecord(rb, al, 'b');
    // Word "ab" (from "ab,"): keys ab = 0.3/2, "," = 0.3/2, c = 0.2 → total 0.5 → 0.3, 0.3, 0.4.
    // Word "," (also from "ab,"): the same row. Word "c": 0.2, 0.2, 0.4 of 0.8 → 0.25, 0.25, 0.5.
    expect(matrix(wb)).toEqual([[0.3, 0.3, 0.4], [0.3, 0.3, 0.4], [0.25, 0.25, 0.5]]);
    expect(wb.queryTokens.map((t) => t.text)).toEqual(['ab', ',', 'c']);
    const ra = rec([[[1, 0, 0, 0], [0.5, 0.5, 0, 0], [0.2, 0.2, 0.6, 0], [0.1, 0.1, 0.4, 0.4]]], a);
    // Word "ab" = mean of rows a and b: (0.75, 0.25, 0, 0) → keys ab 1, "," 0, c 0.
    expect(matrix(alignedRecord(ra, al, 'a'))).toEqual([[1, 0, 0], [0.4, 0.6, 0], [0.2, 0.4, 0.4]]);
  });

  it('pairs the unchanged tokens of an edited text, specials in order, and nothing across the edit', () => {
    const ta = 'the cat sat', tb = 'the big dog sat';
    const ids = new Map([['the', 1], [' cat', 2], [' sat', 3], [' big', 4], [' dog', 5]]);
    const wrap = (text: string, cuts: number[]) => {
      const inner = split(text, cuts).map((t) => ({ ...t, id: ids.get(t.text)! }));
      return [tok('[CLS]', 0, 0, 100, true), ...inner, tok('[SEP]', text.length, text.length, 101, true)];
    };
    const a = wrap(ta, [3, 7]), b = wrap(tb, [3, 7, 11]);
    expect(() => alignRuns({ text: ta, tokens: a }, { text: tb, tokens: b })).toThrow(/one model/);
    const al = alignRuns({ text: ta, tokens: a }, { text: tb, tokens: b }, true);
    expect(al.kind).toBe('tokens');
    expect(al.edited).toBe(true);
    expect(al.pairs).toEqual([[0, 0], [1, 1], [3, 4], [4, 5]]);
    expect(al.description).toMatch(/4 tokens are unchanged and compared, 1 of A and 2 of B are not/);
    // B's record over the pairs: each paired cell as B has it, nothing renormalised.
    const weights = Array.from({ length: 2 }, (_, h) => Array.from({ length: b.length }, (_, q) => Array.from({ length: b.length }, (_, k) => (h + 1) * 0.01 + q * 0.1 + k * 0.001)));
    const wb = alignedRecord(rec(weights, b), al, 'b');
    expect(matrix(wb, 1)).toEqual(al.pairs.map(([, q]) => al.pairs.map(([, k]) => +Math.fround(weights[1][q][k]).toFixed(6))));
    expect(wb.queryTokens.map((t) => t.text)).toEqual(['[CLS]', 'the', ' sat', '[SEP]']);
    // Nothing in common: said, not an empty picture.
    expect(() => alignRuns({ text: 'x', tokens: [tok('x', 0, 1, 7)] }, { text: 'y', tokens: [tok('y', 0, 1, 8)] }, true)).toThrow(/share no token/);
  });
});

describe('alignment of two image models on one image', () => {
  /** [CLS] then a `rows` × `cols` grid over a `w` × `h` image. */
  const grid = (rows: number, cols: number, w = 40, h = 20): ImageToken[] => [
    { id: -1, text: '[CLS]', start: 0, end: 0, special: true },
    ...Array.from({ length: rows * cols }, (_, i): ImageToken => {
      const row = Math.floor(i / cols), col = i % cols;
      return { id: -1, text: `patch ${row},${col}`, start: 0, end: 0, special: false, patch: { row, col, size: 8, x: (col * w) / cols, y: (row * h) / rows, width: w / cols, height: h / rows } };
    }),
  ];

  it('pairs patch with patch (and [CLS] with [CLS]) on the same grid, rows as they are', () => {
    const al = alignRuns({ text: '', tokens: grid(2, 2) }, { text: '', tokens: grid(2, 2) });
    expect([al.kind, al.renormalised, al.pairs]).toEqual(['patches', false, [[0, 0], [1, 1], [2, 2], [3, 3], [4, 4]]]);
    // A model without the class token: the patches alone, rows renormalised over them.
    const noCls = grid(2, 2).slice(1);
    const al2 = alignRuns({ text: '', tokens: grid(2, 2) }, { text: '', tokens: noCls });
    expect([al2.kind, al2.renormalised, al2.pairs]).toEqual(['patches', true, [[1, 0], [2, 1], [3, 2], [4, 3]]]);
  });

  it('meets at the coarser grid’s patches, each finer patch in the one holding its centre, special tokens left out', () => {
    const fine = grid(2, 4), coarse = grid(1, 2);
    const al = alignRuns({ text: '', tokens: fine }, { text: '', tokens: coarse });
    expect([al.kind, al.renormalised, al.pairs]).toEqual(['areas', true, [[0, 0], [1, 1]]]);
    // Left half: fine patches (0,0), (0,1), (1,0), (1,1) = tokens 1, 2, 5, 6.
    expect(al.a.members).toEqual([[1, 2, 5, 6], [3, 4, 7, 8]]);
    expect(al.b.members).toEqual([[1], [2]]);
    expect(al.a.units.map((t) => t.text)).toEqual(['patch 0,0', 'patch 0,1']);
    // A's rows: the class token's uniform, every patch row puts 0.5 on [CLS] and 0.5 on its own patch.
    const n = fine.length;
    const rows = Array.from({ length: n }, (_, q) => Array.from({ length: n }, (_, k) => (q === 0 ? 1 / n : (k === 0 ? 0.5 : 0) + (k === q ? 0.5 : 0))));
    const wa = alignedRecord(rec([rows], fine), al, 'a');
    // Left area: each of its patches' rows keeps 0.5 on itself (left) and none on the right; renormalised: [1, 0].
    expect(matrix(wa)).toEqual([[1, 0], [0, 1]]);
    const wb = alignedRecord(rec([[[0.2, 0.5, 0.3], [0.1, 0.6, 0.3], [0.4, 0.2, 0.4]]], coarse), al, 'b');
    expect(matrix(wb)).toEqual([[0.666667, 0.333333], [0.333333, 0.666667]]);
    expect(al.description).toMatch(/^image areas: the models cut the image into 8 and 2 patches/);
  });
});

describe('comparison', () => {
  const tokens = split('abc', [1, 2]);
  const h0 = [[1, 0, 0], [0.5, 0.5, 0], [0.2, 0.3, 0.5]];
  const h1 = [[1, 0, 0], [1, 0, 0], [1, 0, 0]];
  const h2 = [[1, 0, 0], [0, 1, 0], [0, 0, 1]];

  it('gives A − B signed, and the mean absolute difference per head over the causal cells', () => {
    const a = rec([h0, h1], tokens, 0, true), b = rec([h1, h1], tokens, 0, true);
    const d = differenceRecord(a, b);
    expect(d.signed).toBe(true);
    expect(matrix(d, 0)).toEqual([[0, 0, 0], [-0.5, 0.5, 0], [-0.8, 0.3, 0.5]]);
    // |Δ| over the 6 causal cells: 0 + 0.5 + 0.5 + 0.8 + 0.3 + 0.5 = 2.6.
    expect(Array.from(meanAbsDifference(a, b))).toEqual([expect.closeTo(2.6 / 6, 6), 0]);
    expect(() => differenceRecord(a, rec([h0], tokens))).toThrow(/different shapes/);
  });

  it('finds which head of B behaves like each head of A, with any head counts', () => {
    const a = rec([h0, h1, h2], tokens), b = rec([h2, h0], tokens);
    const m = correspondence(a, b);
    expect(m.length).toBe(6);
    // Row by row, from the definition: h1 against h2 differ on rows 1 and 2 completely (distance 1).
    expect(m[1 * 2 + 0]).toBeCloseTo((0 + 1 + 1) / 3, 6);
    expect(m[0 * 2 + 0]).toBeCloseTo((0 + rowJsDistance([0.5, 0.5, 0], [0, 1, 0]) + rowJsDistance([0.2, 0.3, 0.5], [0, 0, 1])) / 3, 6);
    expect(bestMatches(m, 3, 2)).toEqual([{ head: 1, distance: 0 }, { head: 1, distance: expect.any(Number) }, { head: 0, distance: 0 }]);
    // A self comparison has zeros on the diagonal.
    const self = correspondence(a, a);
    expect([self[0], self[4], self[8]]).toEqual([0, 0, 0]);
    // In steps, one pair of heads each, for some heads of A: the same distances.
    const steps = correspondenceSteps(a, b, [2, 1]);
    let step = steps.next(), yields = 0;
    for (; !step.done; step = steps.next()) yields++;
    expect(Array.from(step.value)).toEqual([m[4], m[5], m[2], m[3]]);
    expect(yields).toBe(3); // between the four pairs
  });

  it('maps layers proportionally and compares each layer of A with its layer of B', () => {
    expect(Array.from({ length: 12 }, (_, i) => mapLayer(i, 12, 6))).toEqual([0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]);
    expect(Array.from({ length: 4 }, (_, i) => mapLayer(i, 4, 12))).toEqual([0, 4, 7, 11]);
    expect(mapLayer(0, 1, 5)).toBe(0);
    const a = [rec([h0, h1], tokens, 0), rec([h1, h2], tokens, 1)];
    const b = [rec([h0], tokens, 0), rec([h2], tokens, 1), rec([h1], tokens, 2)];
    const cmp = layerComparisons(a, b);
    expect(cmp.map((c) => [c.layerA, c.layerB])).toEqual([[0, 0], [1, 2]]);
    expect(cmp[0].meanAbsDifference).toBeUndefined(); // 2 heads against 1: no correspondence by index
    expect(Array.from(cmp[1].distances)).toEqual([0, expect.any(Number)]);
    expect(identicalRecords(a, a.map((r) => ({ ...r, data: r.data.slice() })))).toBe(true);
    expect(identicalRecords(a, [a[0], rec([h1, h1], tokens, 1)])).toBe(false);
  });

  it('gives the explorer each head’s divergence: by index when heads correspond, else by best match, a step per pair of heads', () => {
    const headDivergence = (a: AttentionRecord, b: AttentionRecord) => {
      const steps = headDivergenceSteps(a, b);
      let step = steps.next();
      let yields = 0;
      for (; !step.done; step = steps.next()) yields++;
      return { ...step.value, yields };
    };
    const same = headDivergence(rec([h0, h1], tokens, 0, true), rec([h1, h1], tokens, 0, true));
    expect(same.measure).toBe('mean |A − B|');
    expect(Array.from(same.partner)).toEqual([0, 1]);
    expect(Array.from(same.values)).toEqual([expect.closeTo(2.6 / 6, 6), 0]);
    const other = headDivergence(rec([h0, h1, h2], tokens), rec([h2, h0], tokens));
    expect(other.measure).toBe('JS distance to the best match');
    expect(Array.from(other.partner)).toEqual([1, 1, 0]);
    expect(other.values[0]).toBe(0);
    expect([same.yields, other.yields]).toEqual([0, 6]); // a step per pair of heads
  });
});
