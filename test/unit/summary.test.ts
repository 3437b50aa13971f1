import { describe, expect, it } from 'vitest';
import type { AttentionLayer } from '../../src/core/attention';
import { compareLayers, parseAttentionName, toNested, weightAt } from '../../src/core/attention';
import { attendedBy, hoverMarkdown, meanRow, opacityLevel, scopeLabel, summarize, topK } from '../../src/core/summary';
import type { TokenInfo } from '../../src/core/tokens';

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
    expect(toNested(l)[0][1]).toEqual([expect.closeTo(0.3), expect.closeTo(0.7), 0]);
  });
});

describe('summaries', () => {
  it('finds the top k, largest first', () => {
    expect(topK([0.1, 0.5, 0.2, 0.9, 0.3], 3)).toEqual([3, 1, 4]);
    expect(topK([0.2, 0.2, 0.1], 2)).toEqual([0, 1]);
    expect(topK([1], 5)).toEqual([0]);
  });

  it('averages the chosen heads', () => {
    const m = meanRow(layer(), [0, 1], 1);
    expect(Array.from(m).map((v) => +v.toFixed(4))).toEqual([0.6, 0.4, 0]);
    expect(Array.from(meanRow(layer(), [1], 2))).toEqual([expect.closeTo(0.6), expect.closeTo(0.1), expect.closeTo(0.3)]);
  });

  it('summarizes top keys per query and leaves masked (zero) keys out', () => {
    const s = summarize(7, layer(), [0], 3);
    expect(s.runId).toBe(7);
    expect(s.label).toBe('Layer 2 · head 1');
    expect(attendedBy(s, 0)).toEqual([{ key: 0, weight: 1 }]);
    expect(attendedBy(s, 1).map((x) => x.key)).toEqual([1, 0]);
    expect(attendedBy(s, 2).map((x) => x.key)).toEqual([1, 2, 0]);
    expect(attendedBy(s, 9)).toEqual([]);
  });

  it('labels the scope for people (1-based)', () => {
    expect(scopeLabel(layer(), [0, 1])).toBe('Layer 2 · mean of all 2 heads');
    expect(scopeLabel({ kind: 'cross', layer: 0, heads: 4 }, [0, 2])).toBe('cross Layer 1 · mean of heads 1, 3');
  });

  it('renders a hover with the scope, the token and its weights, escaping markdown', () => {
    const md = hoverMarkdown(summarize(1, layer(), [0, 1], 5), tokens, 2);
    expect(md).toContain('Layer 2 · mean of all 2 heads');
    expect(md).toContain("Token `·'x'` (#2) attends to:");
    expect(md).toContain('| `<s>` | 0 | 0.400 |');
    expect(md).toContain('| `·cat` | 1 | 0.300 |');
    expect(md.indexOf('`<s>`')).toBeLessThan(md.indexOf('`·cat`'));
  });

  it('escapes pipes so tokens like <|endoftext|> stay in one table cell', () => {
    const piped = [{ ...tokens[0], text: '<|endoftext|>' }, tokens[1], tokens[2]];
    const md = hoverMarkdown(summarize(1, layer(), [0, 1], 5), piped, 2);
    expect(md).toContain('| `<\\|endoftext\\|>` | 0 | 0.400 |');
    for (const row of md.split('\n').filter((l) => l.startsWith('| `'))) expect(row.split(/(?<!\\)\|/).length).toBe(5);
  });

  it('buckets weights into opacity levels', () => {
    expect(opacityLevel(0, 10)).toBe(0);
    expect(opacityLevel(0.05, 10)).toBe(0);
    expect(opacityLevel(0.55, 10)).toBe(5);
    expect(opacityLevel(1, 10)).toBe(9);
    expect(opacityLevel(3, 10)).toBe(9);
  });
});
