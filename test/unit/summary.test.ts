import { describe, expect, it } from 'vitest';
import type { AttentionLayer, AttentionRecord } from '../../src/core/attention';
import { compareLayers, layerLabel, parseAttentionName, recordOfLayer, row, weightAt } from '../../src/core/attention';
import { attendedBy, meanColumn, meanRow, opacityLevel, positionOfToken, scopeLabel, summarize, tokenUnits, tokensOfPosition, topK } from '../../src/core/analysis/summary';
import { tokenFocus } from '../../src/core/analysis/tokenFocus';
import { hoverMarkdown } from '../../src/core/hoverMarkdown';
import { type TokenInfo, markerLegend, tokenLabel } from '../../src/core/tokens';

/** A 2-head causal layer over 3 tokens with known weights. */
function layer(): AttentionLayer {
  const h0 = [[1, 0, 0], [0.3, 0.7, 0], [0.2, 0.5, 0.3]];
  const h1 = [[1, 0, 0], [0.9, 0.1, 0], [0.6, 0.1, 0.3]];
  return { name: 'attentions.1', kind: 'self', layer: 1, heads: 2, queries: 3, keys: 3, data: Float32Array.from([...h0.flat(), ...h1.flat()]) };
}
const tokens: TokenInfo[] = [
  { id: 0, text: '<s>', start: 0, end: 0, special: true },
  { id: 5, text: 'Ġcat', start: 0, end: 4, special: false },
  { id: 6, text: 'Ġ`x`', start: 4, end: 8, special: false },
];
/** The layer as a view gets it: causal self attention over `tokens`. */
function record(): AttentionRecord {
  return recordOfLayer(layer(), { tokens, causal: true });
}

describe('attention names', () => {
  it('parses every supported output name and rejects others', () => {
    expect(parseAttentionName('attentions.3')).toEqual({ kind: 'self', layer: 3 });
    expect(parseAttentionName('encoder_attentions.0')).toEqual({ kind: 'encoder', layer: 0 });
    expect(parseAttentionName('decoder_attentions.11')).toEqual({ kind: 'decoder', layer: 11 });
    expect(parseAttentionName('cross_attentions.2')).toEqual({ kind: 'cross', layer: 2 });
    expect(parseAttentionName('logits')).toBeUndefined();
    expect(parseAttentionName('attentions.x')).toBeUndefined();
    expect(parseAttentionName('present.0.key')).toBeUndefined();
  });

  it('orders layers by kind then index', () => {
    const names = ['cross_attentions.0', 'decoder_attentions.1', 'encoder_attentions.1', 'decoder_attentions.0', 'encoder_attentions.0'];
    const sorted = names.map((n) => ({ n, ...parseAttentionName(n)! })).sort(compareLayers).map((x) => x.n);
    expect(sorted).toEqual(['encoder_attentions.0', 'encoder_attentions.1', 'decoder_attentions.0', 'decoder_attentions.1', 'cross_attentions.0']);
  });

  it('indexes data as [head][query][key]', () => {
    const l = layer();
    expect(weightAt(l, 1, 2, 0)).toBeCloseTo(0.6);
    expect(Array.from(row(l, 0, 1))).toEqual([expect.closeTo(0.3), expect.closeTo(0.7), 0]);
  });
});

describe('summaries', () => {
  it('finds the top k, largest first', () => {
    expect(topK([0.1, 0.5, 0.2, 0.9, 0.3], 3)).toEqual([3, 1, 4]);
    expect(topK([0.2, 0.2, 0.1], 2)).toEqual([0, 1]);
    expect(topK([1], 5)).toEqual([0]);
    expect(topK([3, 1], 0)).toEqual([]);
    // Against a stable sort, largest first (ties: lower index first), on values with many ties.
    let seed = 11;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    for (const [n, k] of [[50, 1], [50, 5], [7, 7], [300, 12], [3, 9]]) {
      const values = Float32Array.from({ length: n }, () => Math.floor(rnd() * 20) / 20);
      const want = Array.from(values.keys()).sort((a, b) => values[b] - values[a] || a - b).slice(0, k);
      expect(topK(values, k)).toEqual(want);
    }
  });

  it('reads no key after the query of a causal record (a long layer\'s untouched memory)', () => {
    const r = record();
    const read: number[] = [];
    // Rows of the layer's weights behind a proxy that notes every index read.
    const noted = (a: number, b: number) => new Proxy(r.data.subarray(a, b), {
      get: (t, p) => (typeof p === 'string' && /^\d+$/.test(p) ? (read.push(a + Number(p)), t[Number(p)]) : Reflect.get(t, p, t)),
    });
    const s = summarize(1, { ...r, data: { subarray: noted } as unknown as Float32Array }, [0, 1], 3);
    expect(read.length).toBeGreaterThan(0);
    const query = (i: number) => Math.floor(i / 3) % 3, key = (i: number) => i % 3;
    expect(read.filter((i) => key(i) > query(i))).toEqual([]);
    expect(attendedBy(s, 1)).toEqual([{ key: 0, weight: expect.closeTo(0.6) }, { key: 1, weight: expect.closeTo(0.4) }]);
  });

  it('averages the chosen heads', () => {
    const m = meanRow(layer(), [0, 1], 1);
    expect(Array.from(m).map((v) => +v.toFixed(4))).toEqual([0.6, 0.4, 0]);
    expect(Array.from(meanRow(layer(), [1], 2))).toEqual([expect.closeTo(0.6), expect.closeTo(0.1), expect.closeTo(0.3)]);
  });

  it('summarizes top keys per query and leaves masked (zero) keys out', () => {
    const s = summarize(7, record(), [0], 3);
    expect(s.runId).toBe(7);
    expect(s.label).toBe('Layer 2 · head 1');
    expect(attendedBy(s, 0)).toEqual([{ key: 0, weight: 1 }]);
    expect(attendedBy(s, 1).map((x) => x.key)).toEqual([1, 0]);
    expect(attendedBy(s, 2).map((x) => x.key)).toEqual([1, 2, 0]);
    expect(attendedBy(s, 9)).toEqual([]);
  });

  it('labels the scope for people (1-based)', () => {
    expect(scopeLabel(record(), [0, 1])).toBe('Layer 2 · mean of all 2 heads');
    expect(scopeLabel({ label: layerLabel({ kind: 'cross', layer: 0 }), heads: 4 }, [0, 2])).toBe('cross Layer 1 · mean of heads 1, 3');
  });

  it('renders a hover with the scope, the token and its weights, escaping markdown', () => {
    const md = hoverMarkdown(summarize(1, record(), [0, 1], 5), tokens, 2);
    expect(md).toContain('Layer 2 · mean of all 2 heads');
    expect(md).toContain('Token ·\\`x\\` (#2) attends to:');
    expect(md).toContain('| \\<s\\> | 0 | 0.400 |');
    expect(md).toContain('| ·cat | 1 | 0.300 |');
    expect(md.indexOf('\\<s\\>')).toBeLessThan(md.indexOf('·cat'));
  });

  it('escapes pipes so tokens like <|endoftext|> stay in one table cell', () => {
    const piped = [{ ...tokens[0], text: '<|endoftext|>' }, tokens[1], tokens[2]];
    const md = hoverMarkdown(summarize(1, record(), [0, 1], 5), piped, 2);
    expect(md).toContain('| \\<\\|endoftext\\|\\> | 0 | 0.400 |');
    for (const row of md.split('\n').filter((l) => /^\| .* \| \d+ \| /.test(l))) expect(row.split(/(?<!\\)\|/).length).toBe(5);
  });

  it('buckets weights into opacity levels', () => {
    expect(opacityLevel(0, 10)).toBe(0);
    expect(opacityLevel(0.05, 10)).toBe(0);
    expect(opacityLevel(0.55, 10)).toBe(5);
    expect(opacityLevel(1, 10)).toBe(9);
    expect(opacityLevel(3, 10)).toBe(9);
  });
});

describe('attention records', () => {
  const enc: TokenInfo[] = tokens;
  const dec: TokenInfo[] = [{ id: 1, text: '<pad>', start: 0, end: 0, special: true }, tokens[1]];
  const of = (kind: AttentionLayer['kind'], q: number, k: number) =>
    recordOfLayer({ name: `${kind}_attentions.0`, kind, layer: 0, heads: 1, queries: q, keys: k, data: new Float32Array(q * k) }, { tokens: enc, decoderTokens: dec, causal: false });

  it('puts decoder tokens on the query side of decoder and cross attention, encoder tokens on the keys of cross attention', () => {
    expect([of('encoder', 3, 3).queryTokens, of('encoder', 3, 3).keyTokens]).toEqual([enc, enc]);
    expect([of('decoder', 2, 2).queryTokens, of('decoder', 2, 2).keyTokens]).toEqual([dec, dec]);
    expect([of('cross', 2, 3).queryTokens, of('cross', 2, 3).keyTokens]).toEqual([dec, enc]);
  });

  it('marks decoder attention and causal models causal, and only attention over the input as editor-ready', () => {
    expect(['encoder', 'decoder', 'cross'].map((k) => of(k as AttentionLayer['kind'], 2, 2).causal)).toEqual([false, true, false]);
    expect(['encoder', 'decoder', 'cross'].map((k) => of(k as AttentionLayer['kind'], 2, 2).overInput)).toEqual([true, false, false]);
    expect(record().causal).toBe(true);
    expect(recordOfLayer(layer(), { tokens, causal: false }).causal).toBe(false);
    expect([record().label, record().signed, record().overInput]).toEqual(['Layer 2', false, true]);
  });
});

describe('token focus (the panel tooltip)', () => {
  it('averages the shown heads over a row for a query, over a column for a key', () => {
    expect(Array.from(meanColumn(layer(), [0, 1], 0)).map((v) => +v.toFixed(4))).toEqual([1, 0.6, 0.4]);
    const q = tokenFocus(record(), [0, 1], { side: 'query', index: 2 })!;
    expect(q.relation).toBe('attends to');
    expect(q.scope).toBe('Layer 2 · mean of all 2 heads');
    expect(q.partners.map((p) => [p.token.text, p.index, +p.weight.toFixed(4)])).toEqual([['<s>', 0, 0.4], ['Ġcat', 1, 0.3], ['Ġ`x`', 2, 0.3]]);
    const k = tokenFocus(record(), [1], { side: 'key', index: 1 })!;
    expect(k.relation).toBe('is attended by');
    // Head 2 gives key 1 weight 0.1 from queries 1 and 2; query 0 cannot see it (causal zero).
    expect(k.partners.map((p) => [p.index, +p.weight.toFixed(4)])).toEqual([[1, 0.1], [2, 0.1]]);
  });

  it('is empty when no head is shown and keeps at most k partners', () => {
    expect(tokenFocus(record(), [], { side: 'query', index: 0 })).toBeUndefined();
    expect(tokenFocus(record(), [0], { side: 'query', index: 2 }, 2)!.partners).toHaveLength(2);
  });
});

describe('summaries cross the webview boundary', () => {
  it('keep their typed arrays through structured clone (what postMessage uses)', () => {
    const data = Float32Array.from([1, 0, 0.25, 0.75]);
    const r = recordOfLayer({ name: 'attentions.0', kind: 'self', layer: 0, heads: 1, queries: 2, keys: 2, data }, { tokens: tokens.slice(0, 2), causal: false });
    const copy = structuredClone({ type: 'view/didChange', summary: summarize(3, r, [0], 2) });
    expect(copy.summary.keyIndex).toBeInstanceOf(Int32Array);
    expect(copy.summary.weight).toBeInstanceOf(Float32Array);
    expect(Array.from(copy.summary.keyIndex)).toEqual([0, -1, 1, 0]);
  });
});

describe('summaries of words and hidden tokens', () => {
  // "<s> ca t sat": pieces 1 and 2 are one word.
  const toks: TokenInfo[] = [
    { id: 0, text: '<s>', start: 0, end: 0, special: true },
    { id: 1, text: 'ca', start: 0, end: 2, special: false, word: 0 },
    { id: 2, text: 't', start: 2, end: 3, special: false, word: 0 },
    { id: 3, text: 'Ġsat', start: 3, end: 7, special: false, word: 1 },
  ];
  const words = [
    { ...toks[0], tokens: [0] },
    { ...toks[1], text: 'cat', end: 3, tokens: [1, 2] },
    { ...toks[3], text: ' sat', tokens: [3] },
  ];

  it('maps positions to the tokens they cover, and tokens back to positions (-1 when hidden)', () => {
    const u = tokenUnits(words, toks)!;
    expect(Array.from(u.offsets)).toEqual([0, 1, 3, 4]);
    expect(Array.from(u.tokens)).toEqual([0, 1, 2, 3]);
    expect([0, 1, 2, 3].map((t) => positionOfToken(u, t))).toEqual([0, 1, 1, 2]);
    expect(tokensOfPosition(u, 1)).toEqual([1, 2]);
    const hidden = tokenUnits(toks.slice(1), toks)!;
    expect([0, 1, 3].map((t) => positionOfToken(hidden, t))).toEqual([-1, 0, 2]);
    expect(tokenUnits(toks, toks)).toBeUndefined();
    expect(positionOfToken(undefined, 2)).toBe(2);
  });

  it('hovers a piece with its word’s attention, names the head’s labels, and nothing for a hidden token', () => {
    const data = Float32Array.from([1, 0, 0, 0.2, 0.8, 0, 0.1, 0.6, 0.3]);
    const r = recordOfLayer({ name: 'attentions.0', kind: 'self', layer: 0, heads: 1, queries: 3, keys: 3, data }, { tokens: words, causal: true });
    const s = { ...summarize(1, r, [0], 3, toks), headLabels: ['previous-token'] };
    const md = hoverMarkdown(s, toks, 2); // "t", a piece of "cat"
    expect(md).toContain('Layer 1 \\(previous\\-token\\)');
    expect(md).toContain('Word cat (#1) attends to:');
    expect(md).toContain('| cat | 1 | 0.800 |');
    const hiddenSummary = summarize(1, recordOfLayer({ name: 'attentions.0', kind: 'self', layer: 0, heads: 1, queries: 2, keys: 2, data: Float32Array.from([1, 0, 0.5, 0.5]) }, { tokens: toks.slice(2), causal: true }), [0], 2, toks);
    expect(hoverMarkdown(hiddenSummary, toks, 0)).toBe('');
  });
});

describe('token label markers', () => {
  it('explains only the markers the labels use', () => {
    expect(markerLegend(['·cat', 'at'])).toBe('· leading space');
    expect(markerLegend(['a↵', '⇥b', '·c'])).toBe('· leading space, ↵ newline, ⇥ tab');
    expect(markerLegend(['cat'])).toBe('');
    expect(tokenLabel({ text: 'Ġcat' })).toBe('·cat');
  });
});
