// Model- and document-provided text in Markdown stays text: a corpus of hostile token strings goes
// through the editor hover and a real Markdown renderer (marked, GFM, as VS Code's hovers use),
// and nothing becomes a link, an image, HTML, a code span or a new table cell.
import { marked } from 'marked';
import { describe, expect, it } from 'vitest';
import { comparedSummary, summarize } from '../../src/core/analysis/summary';
import { recordOfLayer } from '../../src/core/attention';
import { hoverMarkdown } from '../../src/core/hoverMarkdown';
import { inertMarkdown } from '../../src/core/markdown';
import type { TokenInfo } from '../../src/core/tokens';

const HOSTILE = [
  'plain', '`', '``', '```js', 'a`b``c', '|', '\\|', '\\', '\r', 'a\rb', '\n\n# Heading', 'x\r\n| a | b |',
  '<img src=x onerror=alert(1)>', '<script>alert(1)</script>', '<!-- c -->', '&lt;b&gt;', '&#x3C;',
  '![x](https://evil.example/x.png)', '[click](command:workbench.action.quit)', '[a]: https://evil.example',
  'https://evil.example/track', 'www.evil.example', 'mailto:a@b.c', '<https://evil.example>',
  '*em*', '_u_', '**b**', '~~s~~', '# h', '> q', '- item', '1. x', '    code', '---', '$(zap)',
  '\u202eevil', '\u0000\u0007', 'a\u2028b', '\\`not code\\`', '\\\\|',
];

/** Renders like VS Code's hover (GFM, no HTML allowed through is checked below). */
const render = (md: string) => marked.parse(md, { gfm: true, async: false }) as string;
/** Text content of rendered HTML. */
const textOf = (html: string) => html.replace(/<[^>]+>/g, '').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&');

describe('inertMarkdown', () => {
  it.each(HOSTILE.map((h) => [JSON.stringify(h), h]))('renders %s as exactly its visible text', (_name, hostile) => {
    const html = render(`Token ${inertMarkdown(hostile)} here`);
    expect(html).not.toMatch(/<(a|img|script|code|em|strong|del|h\d|blockquote|ul|ol|li|pre|hr|table)\b/i);
    const shown = hostile.replace(/\n/g, '↵').replace(/\r/g, '␍').replace(/\t/g, '⇥').replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, '\uFFFD');
    expect(textOf(html).trim()).toBe(`Token ${shown} here`);
  });
});

describe('the editor hover with hostile tokens', () => {
  it('keeps one row per key and one cell per column, with no link, image or HTML anywhere', () => {
    const tokens: TokenInfo[] = HOSTILE.map((text, i) => ({ id: i, text, start: i, end: i + 1, special: false }));
    const n = tokens.length;
    const data = new Float32Array(n * n).fill(1 / n);
    const r = recordOfLayer({ name: 'attentions.0', kind: 'self', layer: 0, heads: 1, queries: n, keys: n, data }, { tokens, causal: false });
    const summary = summarize(1, r, [0], 5);
    for (let q = 0; q < n; q++) {
      const html = render(hoverMarkdown({ ...summary, headLabels: ['<img src=x>'] }, tokens, q));
      expect(html).not.toMatch(/<(a|img|script|code|em|del|h\d|blockquote|ul|ol|pre|hr)\b/i);
      expect(html.match(/<strong>/g)).toHaveLength(1); // **Attention Lens** only
      const rows = html.match(/<tr>/g) ?? [];
      expect(rows).toHaveLength(1 + 5); // header + five keys
      for (const row of html.split('<tr>').slice(1)) expect(row.match(/<t[dh]\b/g)).toHaveLength(3);
    }
  });
});

describe('the comparison hover with hostile tokens', () => {
  it('shows A, B and A − B for A’s keys and B’s own strongest, every cell inert', () => {
    const tokens: TokenInfo[] = HOSTILE.map((text, i) => ({ id: i, text, start: i, end: i + 1, special: false }));
    const n = tokens.length;
    const a = new Float32Array(n * n), b = new Float32Array(n * n);
    // A attends to the previous token, B to the first; both give 0.1 to themselves.
    for (let q = 0; q < n; q++) {
      a[q * n + Math.max(0, q - 1)] += 0.9;
      a[q * n + q] += 0.1;
      b[q * n] += 0.9;
      b[q * n + q] += 0.1;
    }
    const rec = (data: Float32Array) => recordOfLayer({ name: 'attentions.0', kind: 'self', layer: 0, heads: 1, queries: n, keys: n, data }, { tokens, causal: false });
    const summary = summarize(1, rec(a), [0], 5);
    summary.compare = comparedSummary(summary, rec(b), [0]);
    const q = 5;
    const md = hoverMarkdown(summary, tokens, q);
    const html = render(md);
    expect(html).not.toMatch(/<(a|img|script|code|em|del|h\d|blockquote|ul|ol|pre|hr)\b/i);
    const tables = html.split('<table>').slice(1);
    expect(tables).toHaveLength(2);
    for (const row of tables[0].split('<tr>').slice(1)) expect(row.match(/<t[dh]\b/g)).toHaveLength(5);
    // A's strongest is the previous token (0.9 against B's 0); B's is the first token.
    expect(md).toContain(`| 4 | 0.900 | 0.000 | +0.900 |`);
    expect(md).toContain(`| 5 | 0.100 | 0.100 | +0.000 |`);
    expect(tables[1]).toMatch(/<td[^>]*>0<\/td>\s*<td[^>]*>0\.900<\/td>/);
  });
});
