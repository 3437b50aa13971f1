// What generation says in words: the cut to the positions a model has left, and the editor hover
// of a generated token (its probability, what it nearly chose, the row that chose it), inert.
import { describe, expect, it } from 'vitest';
import type { ViewSummary } from '../../src/core/analysis/summary';
import { newTokenLimit } from '../../src/core/generation/generate';
import { generatedMarkdown } from '../../src/core/hoverMarkdown';
import type { GeneratedStep } from '../../src/core/protocol/panel';
import type { TokenInfo } from '../../src/core/tokens';

describe('newTokenLimit', () => {
  it('keeps a request that fits, cuts one that does not with a notice, and refuses a full input', () => {
    expect(newTokenLimit(20, 100, 512, false)).toEqual({ maxNewTokens: 20 });
    expect(newTokenLimit(500, 100, 512, false)).toEqual({ maxNewTokens: 412, notice: "500 new tokens is more than the 412 positions left of the model's 512: generating at most 412." });
    // An encoder-decoder model's output has its own positions, after the start token.
    expect(newTokenLimit(600, 500, 512, true).maxNewTokens).toBe(511);
    expect(() => newTokenLimit(5, 512, 512, false)).toThrow(/fills the model's 512 positions: no room to generate/);
  });
});

describe('generatedMarkdown', () => {
  const tokens: TokenInfo[] = ['The', 'Ġcat', 'Ġ*sat*', 'Ġ<b>'].map((text, i) => ({ id: i, text, start: i, end: i + 1, special: false }));
  // Query 2 ("*sat*") attends to 0 (0.7) and 1 (0.3).
  const summary: ViewSummary = {
    runId: 1, recordId: 'attentions.0', heads: [0], label: 'Layer 1 · head 1', k: 2, queries: 4,
    keyIndex: Int32Array.of(0, -1, 0, 1, 0, 1, 3, 2), weight: Float32Array.of(1, 0, 0.6, 0.4, 0.7, 0.3, 0.5, 0.5),
  };
  const step: GeneratedStep = { step: 0, query: 2, token: { id: 3, text: 'Ġ<b>' }, probability: 0.25, rank: 2, top: [{ id: 9, text: 'Ġ[x](http://e)', probability: 0.5 }, { id: 3, text: 'Ġ<b>', probability: 0.25 }] };

  it('gives the probability, the rank, the alternatives with the chosen one marked, and the row of the query that chose it', () => {
    const md = generatedMarkdown(summary, tokens, step);
    expect(md).toContain('(step 1): p 0.250, rank 2');
    expect(md).toContain('| it could have chosen | p |');
    expect(md).toContain('| 0.500 |');
    expect(md).toMatch(/\| \*\*.*b.*\*\* \| 0\.250 \|/);
    expect(md).toContain('Chosen while the model looked at');
    // The row of query 2, not of the generated token (3).
    expect(md).toMatch(/\| The \| 0 \| 0\.700 \|\n\| ·cat \| 1 \| 0\.300 \|$/);
  });

  it('keeps model text inert: no HTML, no links, no emphasis', () => {
    const md = generatedMarkdown(summary, tokens, step);
    expect(md).not.toContain('<b>');
    expect(md).not.toContain('[x](http://e)');
    expect(md).not.toMatch(/[^\\]\*sat\*/);
  });
});
