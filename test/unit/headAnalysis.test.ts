// Head statistics, labels, Jensen-Shannon distance, rollout, word merge and hiding, checked
// against answers worked out by hand from the definitions in the README.
import { describe, expect, it } from 'vitest';
import { type AttentionRecord, recordOfLayer } from '../../src/core/attention';
import { maxOverHeads, meanOverHeads, rollout } from '../../src/core/analysis/aggregate';
import { headLabels, ruleText, LABEL_RULES } from '../../src/core/analysis/headLabels';
import { headJsDistance, rowJsDistance } from '../../src/core/analysis/headSimilarity';
import { STAT_NAMES, headStats, isPunctuationSpan, keyCategories } from '../../src/core/analysis/headStats';
import { cellStats, patchMap, withStatistic } from '../../src/core/analysis/headGrid';
import { inductionScores } from '../../src/core/analysis/induction';
import { retrievalScores } from '../../src/core/analysis/retrieval';
import { hideTokens } from '../../src/core/analysis/hiding';
import { scopeLabel } from '../../src/core/analysis/summary';
import { mergeWords, wordRecord } from '../../src/core/analysis/words';
import type { TokenInfo } from '../../src/core/tokens';

// Each token its own id (repeated ids are a statistic of their own: duplicate tokens); `id` to repeat one.
let nextId = 100;
const tok = (text: string, start: number, end: number, special = false, word?: number, id = nextId++): TokenInfo => ({ id, text, start, end, special, ...(word === undefined ? {} : { word }) });
/** A record from per-head matrices `[head][query][key]`. */
function rec(heads: number[][][], tokens: TokenInfo[], opts: { causal?: boolean; kind?: 'self' | 'cross'; keyTokens?: TokenInfo[] } = {}): AttentionRecord {
  const kind = opts.kind ?? 'self';
  const data = Float32Array.from(heads.flat(2));
  const layer = { name: 'attentions.0', kind, layer: 0, heads: heads.length, queries: heads[0].length, keys: heads[0][0].length, data } as const;
  return recordOfLayer(layer, { tokens: opts.keyTokens ?? tokens, decoderTokens: tokens, causal: opts.causal ?? false });
}
const rows = (r: AttentionRecord, h = 0) => Array.from({ length: r.queries }, (_, q) => Array.from(r.data.subarray((h * r.queries + q) * r.keys, (h * r.queries + q + 1) * r.keys)).map((v) => +v.toFixed(6)));

describe('head statistics', () => {
  // "<s> a." : a special first token, a word and a full stop; causal.
  const text = 'a.';
  const tokens = [tok('<s>', 0, 0, true), tok('a', 0, 1), tok('.', 1, 2)];
  const r = rec([[[1, 0, 0], [0.8, 0.2, 0], [0.1, 0.7, 0.2]]], tokens, { causal: true });
  const stats = headStats(r, 0, keyCategories(tokens, text));

  it('computes every statistic of a causal head as defined', () => {
    // entropy: row 0 may attend to one key → 0; row 1: H(0.8, 0.2)/ln 2 = 0.721928; row 2: H(0.1, 0.7, 0.2)/ln 3 = 0.729847.
    expect(stats.entropy).toBeCloseTo((0 + 0.721928 + 0.729847) / 3, 5);
    expect(stats.previous).toBeCloseTo((0.8 + 0.7) / 2, 6);
    expect(stats.next).toBeCloseTo(0, 6);
    expect(stats.self).toBeCloseTo((1 + 0.2 + 0.2) / 3, 6);
    expect(stats.first).toBeCloseTo((1 + 0.8 + 0.1) / 3, 6);
    expect(stats.special).toBeCloseTo((1 + 0.8 + 0.1) / 3, 6);
    expect(stats.punctuation).toBeCloseTo(0.2 / 3, 6);
    expect(stats.distance).toBeCloseTo((0 + 0.8 + 0.9) / 3, 6);
  });

  it('labels from the rule table, thresholds readable', () => {
    expect(headLabels(stats).map((l) => l.label)).toEqual(['previous-token', 'first-token/sink', 'special-token', 'local']);
    expect(ruleText(LABEL_RULES[0])).toBe('previous ≥ 0.5');
    expect(new Set(LABEL_RULES.map((l) => l.label)).size).toBe(LABEL_RULES.length);
  });

  it('handles a single-token input: no previous or next token, entropy 0', () => {
    const one = rec([[[1]]], [tok('x', 0, 1)]);
    expect(headStats(one, 0, keyCategories(one.keyTokens, 'x'))).toEqual({ entropy: 0, distance: 0, previous: null, next: null, self: 1, first: 1, special: 0, punctuation: 0, duplicate: null, induction: null, retrieval: null, pixelDistance: null });
  });

  it('measures attention to earlier occurrences of the same token, over the tokens seen before', () => {
    // "a b a b": positions 2 and 3 repeat 0 and 1. Head 1 looks back at the earlier occurrence; head 2 at the previous token.
    const [a, b] = [7, 8];
    const tokens = [tok('a', 0, 1, false, undefined, a), tok('b', 2, 3, false, undefined, b), tok('a', 4, 5, false, undefined, a), tok('b', 6, 7, false, undefined, b)];
    const r = rec([
      [[1, 0, 0, 0], [0.5, 0.5, 0, 0], [0.9, 0, 0.1, 0], [0, 0.6, 0, 0.4]],
      [[1, 0, 0, 0], [1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]],
    ], tokens, { causal: true });
    const cat = keyCategories(tokens, 'a b a b');
    expect(headStats(r, 0, cat).duplicate).toBeCloseTo((0.9 + 0.6) / 2, 6);
    expect(headStats(r, 1, cat).duplicate).toBe(0);
    expect(headLabels(headStats(r, 0, cat)).map((l) => l.label)).toContain('duplicate-token');
    expect(headLabels(headStats(r, 1, cat)).map((l) => l.label)).not.toContain('duplicate-token');
  });

  it('uses every key for the entropy of a bidirectional head, and omits positions for cross attention', () => {
    const uniform = rec([[[0.5, 0.5], [0.5, 0.5]]], [tok('a', 0, 1), tok('b', 2, 3)]);
    expect(headStats(uniform, 0, keyCategories(uniform.keyTokens, 'a b')).entropy).toBeCloseTo(1, 6);
    const enc = [tok('a', 0, 1), tok(',', 1, 2), tok('b', 3, 4)];
    const cross = rec([[[0.2, 0.5, 0.3], [0.1, 0.1, 0.8]]], [tok('<pad>', 0, 0, true), tok('a', 0, 1)], { kind: 'cross', keyTokens: enc });
    const s = headStats(cross, 0, keyCategories(cross.keyTokens, 'a, b'));
    expect([s.previous, s.next, s.self, s.distance]).toEqual([null, null, null, null]);
    expect(s.punctuation).toBeCloseTo((0.5 + 0.1) / 2, 6);
    expect(s.first).toBeCloseTo((0.2 + 0.1) / 2, 6);
  });

  it('counts only spans that are all Unicode punctuation', () => {
    expect(['.', ' ,', '«', '...', '—', '¿'].every(isPunctuationSpan)).toBe(true);
    expect(['', ' ', 'a.', '+', '$', '1'].some(isPunctuationSpan)).toBe(false);
  });
});

describe('Jensen-Shannon distance', () => {
  it('is 0 for equal rows, 1 for disjoint ones, and the worked value in between', () => {
    expect(rowJsDistance([0.3, 0.7], [0.3, 0.7])).toBe(0);
    expect(rowJsDistance([1, 0], [0, 1])).toBeCloseTo(1, 9);
    // M = (0.75, 0.25): ½·log2(1/0.75) + ½(½·log2(0.5/0.75) + ½·log2(0.5/0.25)) = 0.311278; √ = 0.557925.
    expect(rowJsDistance([1, 0], [0.5, 0.5])).toBeCloseTo(0.557925, 5);
  });

  it('averages rows of two heads', () => {
    const r = rec([[[1, 0], [0, 1]], [[0, 1], [0, 1]]], [tok('a', 0, 1), tok('b', 1, 2)]);
    expect(headJsDistance(r, 0, r, 1)).toBeCloseTo(0.5, 9);
    expect(headJsDistance(r, 1, r, 1)).toBe(0);
  });
});

describe('aggregations', () => {
  const tokens = [tok('a', 0, 1), tok('b', 1, 2)];
  const two = rec([[[1, 0], [0.5, 0.5]], [[0.6, 0.4], [0.1, 0.9]]], tokens);

  it('means and maxes over heads into one-head records with their own label', () => {
    expect(rows(meanOverHeads(two))).toEqual([[0.8, 0.2], [0.3, 0.7]]);
    expect(rows(maxOverHeads(two))).toEqual([[1, 0.4], [0.5, 0.9]]);
    expect(scopeLabel(meanOverHeads(two), [0])).toBe('Layer 1 · mean of all 2 heads');
  });

  it('rolls attention out across layers, later layers on the left', () => {
    const l1 = rec([[[1, 0], [0.5, 0.5]]], tokens);
    const l2 = rec([[[1, 0], [1, 0]]], tokens);
    const [r1, r2] = rollout([l1, l2]);
    // Ã1 = ½A1 + ½I = [[1, 0], [0.25, 0.75]]; Ã2 = [[1, 0], [0.5, 0.5]]; Ã2·Ã1 = [[1, 0], [0.625, 0.375]].
    expect(rows(r1)).toEqual([[1, 0], [0.25, 0.75]]);
    expect(rows(r2)).toEqual([[1, 0], [0.625, 0.375]]);
    expect(r2.label).toBe('Rollout through Layer 1');
    expect(() => rollout([rec([[[1, 0]]], tokens.slice(0, 1), { kind: 'cross', keyTokens: tokens })])).toThrow(/square/);
  });
});

describe('word level and hiding', () => {
  // "cat sat": <s> ca t sat; "ca" + "t" are one word.
  const text = 'cat sat';
  const tokens = [tok('<s>', 0, 0, true), tok('ca', 0, 2, false, 0), tok('t', 2, 3, false, 0), tok('Ġsat', 3, 7, false, 1)];
  const r = rec([[[0.4, 0.2, 0.2, 0.2], [0.1, 0.3, 0.5, 0.1], [0.2, 0.2, 0.2, 0.4], [0.25, 0.25, 0.25, 0.25]]], tokens);

  it('merges pieces by word id; special tokens stay alone', () => {
    const words = mergeWords(tokens, text);
    expect(words.map((w) => [w.text, w.start, w.end, w.tokens])).toEqual([['<s>', 0, 0, [0]], ['cat', 0, 3, [1, 2]], [' sat', 3, 7, [3]]]);
  });

  it('sums attention to a word and averages attention from it', () => {
    const words = mergeWords(tokens, text);
    const w = wordRecord(r, words, words);
    expect(rows(w)).toEqual([[0.4, 0.4, 0.2], [0.15, 0.6, 0.25], [0.25, 0.5, 0.25]]);
    expect(w.queryTokens).toBe(w.keyTokens);
  });

  it('removes hidden keys and queries and renormalises the rest', () => {
    const h = hideTokens(r, ['special']);
    expect(h.queryTokens.map((t) => t.text)).toEqual(['ca', 't', 'Ġsat']);
    expect(rows(h)).toEqual([[0.333333, 0.555556, 0.111111], [0.25, 0.25, 0.5], [0.333333, 0.333333, 0.333333]]);
    expect(hideTokens(r, [])).toBe(r);
  });

  it('leaves a row that had weight only on hidden keys at zero', () => {
    const mid = [tok('a', 0, 1), tok('<sep>', 1, 1, true), tok('b', 2, 3)];
    const h = hideTokens(rec([[[1, 0, 0], [0, 1, 0], [0, 1, 0]]], mid), ['special']);
    expect(rows(h)).toEqual([[1, 0], [0, 0]]);
    expect(rows(hideTokens(rec([[[1, 0, 0], [0, 1, 0], [0, 1, 0]]], mid), ['first']))).toEqual([[1, 0], [1, 0]]);
  });
});

describe('induction scores', () => {
  it('average, per head, the weight from each token of the repeat to the token after its first occurrence, and fill the grid', () => {
    // Prefix 1, period 2: tokens [bos, a, b, a, b]; the repeat is positions 3 and 4, their targets 2 and 3.
    const probe = { ids: [0, 5, 6, 5, 6], prefix: 1, period: 2 };
    const n = 5;
    const data = new Float32Array(2 * n * n);
    data[(0 * n + 3) * n + 2] = 1; // head 1: all on the induction target
    data[(0 * n + 4) * n + 3] = 1;
    data[(1 * n + 3) * n + 1] = 1; // head 2: on the earlier occurrence itself (a duplicate-token head)
    data[(1 * n + 4) * n + 2] = 0.5;
    data[(1 * n + 4) * n + 3] = 0.5;
    const scores = inductionScores({ heads: 2, queries: n, keys: n, data }, probe);
    expect(Array.from(scores)).toEqual([1, 0.25]);
    expect(() => inductionScores({ heads: 1, queries: 4, keys: 4, data: new Float32Array(16) }, probe)).toThrow(/probe has 5 tokens/);
    const grid = { runId: 1, rows: [{ recordIndex: 0, label: 'Layer 1', section: 'self' as const, heads: 2 }, { recordIndex: 1, label: 'Layer 2', section: 'self' as const, heads: 2 }], size: 1, thumbnails: new Uint8Array(4), stats: new Float32Array(4 * STAT_NAMES.length).fill(NaN) };
    const filled = withStatistic(grid, 'induction', (row) => (row.recordIndex === 1 ? scores : undefined));
    expect([0, 1, 2, 3].map((c) => cellStats(filled, c).induction)).toEqual([null, null, 1, 0.25]);
    expect(headLabels(cellStats(filled, 2)).map((l) => l.label)).toContain('induction');
    expect(headLabels(cellStats(filled, 3)).map((l) => l.label)).not.toContain('induction');
    expect(grid.stats.every(Number.isNaN)).toBe(true); // the grid given is left as it was
  });
});

describe('retrieval scores', () => {
  it('count, per head, the copying steps whose strongest key is an earlier occurrence of the token written', () => {
    // Sequence a b c a b: steps chose "a" at query 2 (a copy: a is at 0) and "b" at query 3 (b is at 1), "x" at query 4 (no copy).
    const ids = [7, 8, 9, 7, 8];
    const steps = [{ query: 2, token: 7 }, { query: 3, token: 8 }, { query: 4, token: 99 }];
    const n = 5;
    const data = new Float32Array(2 * n * n);
    const row = (h: number, q: number, w: number[]) => w.forEach((v, k) => (data[(h * n + q) * n + k] = v));
    row(0, 2, [0.6, 0.3, 0.1]); // head 1 looks at the a it copies…
    row(0, 3, [0.1, 0.7, 0.1, 0.1]); // …and at the b
    row(1, 2, [0.2, 0.2, 0.6]); // head 2 looks at the token before
    row(1, 3, [0.1, 0.8, 0.05, 0.05]); // but once at the b
    expect(Array.from(retrievalScores({ heads: 2, queries: n, keys: n, data }, ids, steps))).toEqual([1, 0.5]);
    // No step writes a token of its context: not measured.
    expect(Array.from(retrievalScores({ heads: 2, queries: n, keys: n, data }, ids, [steps[2]])).every(Number.isNaN)).toBe(true);
    const grid = { runId: 1, rows: [{ recordIndex: 0, label: 'Layer 1', section: 'self' as const, heads: 2 }], size: 1, thumbnails: new Uint8Array(2), stats: new Float32Array(2 * STAT_NAMES.length).fill(NaN) };
    const filled = withStatistic(grid, 'retrieval', () => retrievalScores({ heads: 2, queries: n, keys: n, data }, ids, steps));
    expect(headLabels(cellStats(filled, 0)).map((l) => l.label)).toContain('retrieval');
    expect(cellStats(filled, 1).retrieval).toBe(0.5);
  });
});

describe('patch maps', () => {
  it('draw an image model’s head as the class token’s attention over the patch grid, relative to the strongest patch', () => {
    // [CLS] and a 2 × 2 grid; the class token's row gives patches 0.1, 0.2, 0.3, 0.4 (and 0 to itself).
    const patch = (row: number, col: number) => ({ id: -1, text: `patch ${row},${col}`, start: 0, end: 0, special: false, patch: { row, col, size: 8, x: col * 8, y: row * 8, width: 8, height: 8 } });
    const tokens = [{ id: -1, text: '[CLS]', start: 0, end: 0, special: true }, patch(0, 0), patch(0, 1), patch(1, 0), patch(1, 1)];
    const n = 5;
    const data = new Float32Array(n * n);
    data.set([0, 0.1, 0.2, 0.3, 0.4], 0);
    const r = { ...rec([[[0]]], [tok('x', 0, 1)]), heads: 1, queries: n, keys: n, data, queryTokens: tokens, keyTokens: tokens };
    const map = patchMap(r, 0, 4)!;
    // Each patch covers a 2 × 2 block of the 4 × 4 map: 0.1/0.4, 0.2/0.4, 0.3/0.4, 1.
    expect(Array.from(map)).toEqual([64, 64, 128, 128, 64, 64, 128, 128, 191, 191, 255, 255, 191, 191, 255, 255]);
    // Text tokens have no map.
    expect(patchMap(rec([[[1]]], [tok('x', 0, 1)]), 0, 4)).toBeUndefined();
  });
});

describe('rollout options', () => {
  it('fuse the heads by min or max and drop the lowest share of each fused layer before the identity is added', () => {
    // One layer, two heads over two tokens.
    const r = rec([[[0.9, 0.1], [0.4, 0.6]], [[0.5, 0.5], [0.2, 0.8]]], [tok('a', 0, 1), tok('b', 2, 3)]);
    const at = (opts: Parameters<typeof rollout>[1]) => Array.from(rollout([r], opts)[0].data).map((v) => Number(v.toFixed(6)));
    // min fusion [[0.5, 0.1], [0.2, 0.6]] + I, halved, rows renormalised.
    expect(at({ fusion: 'min' })).toEqual([0.75 / 0.8, 0.05 / 0.8, 0.1 / 0.9, 0.8 / 0.9].map((v) => Number(v.toFixed(6))));
    // max fusion [[0.9, 0.5], [0.4, 0.8]], lowest 50 % (0.4 and 0.5) dropped: [[0.9, 0], [0, 0.8]] + I → the identity.
    expect(at({ fusion: 'max', discard: 0.5 })).toEqual([1, 0, 0, 1]);
    expect(rollout([r], { fusion: 'max', discard: 0.5 })[0].label).toBe(`Rollout through ${r.label} (max of heads, lowest 50 % discarded)`);
    // Entry 0 (the first token on itself) is never dropped.
    expect(at({ fusion: 'min', discard: 0.75 })[0]).toBe(1);
  });
});
