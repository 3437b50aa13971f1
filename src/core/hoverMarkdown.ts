/** The editor hover's Markdown for one token of a summary. Pure. */
import { type ComparedSummary, type ViewSummary, attendedBy, positionOfToken } from './analysis/summary';
import { inertMarkdown } from './markdown';
import type { GeneratedStep } from './protocol/panel';
import { type TokenInfo, tokenLabel } from './tokens';

/**
 * Markdown for the editor hover of token `token`: scope (with the head's labels) and its top
 * attended tokens (or words) with weights; empty when the token is hidden in the summary. Every
 * text that comes from the model or the document goes through `inertMarkdown`.
 */
export function hoverMarkdown(s: ViewSummary, tokens: readonly TokenInfo[], token: number, top = 5): string {
  const label = (p: number) => inertMarkdown(s.units ? s.units.texts[p] : tokenLabel(tokens[p]));
  const query = positionOfToken(s.units, token);
  if (query < 0) return '';
  const lines = attendedBy(s, query)
    .slice(0, top)
    .map(({ key, weight }) => `| ${label(key)} | ${key} | ${weight.toFixed(3)} |`);
  const labels = s.headLabels?.length ? ` (${s.headLabels.join(', ')})` : '';
  if (s.compare) return comparedMarkdown(s, s.compare, query, label, top, labels);
  return [
    `**Attention Lens** · ${inertMarkdown(s.label + labels)}`,
    '',
    `${s.units ? 'Word' : 'Token'} ${label(query)} (#${query}) attends to:`,
    '',
    '| token | # | weight |',
    '|---|--:|--:|',
    ...lines,
  ].join('\n');
}

/**
 * The editor hover of a generated token: its probability and rank, what the model nearly chose,
 * then what the model looked at when it chose it (the row of the query before it, `step.query`).
 */
export function generatedMarkdown(s: ViewSummary, tokens: readonly TokenInfo[], step: GeneratedStep, top = 5): string {
  const label = (t: { text: string }) => inertMarkdown(tokenLabel(t));
  const chosen = [
    `**Attention Lens** · generated token ${label(step.token)} (step ${step.step + 1}): p ${step.probability.toFixed(3)}, rank ${step.rank}`,
    '',
    '| it could have chosen | p |',
    '|---|--:|',
    ...step.top.slice(0, top).map((t) => `| ${t.id === step.token.id ? `**${label(t)}**` : label(t)} | ${t.probability.toFixed(3)} |`),
  ];
  const row = hoverMarkdown(s, tokens, step.query, top);
  return [...chosen, ...(row ? ['', 'Chosen while the model looked at (the row of the token before it):', '', ...row.split('\n').slice(2)] : [])].join('\n');
}

/** The hover of a comparison: A's strongest keys with A's weight, B's and the difference; then B's own strongest. */
function comparedMarkdown(s: ViewSummary, b: ComparedSummary, query: number, label: (p: number) => string, top: number, labels: string): string {
  const rowsA = attendedBy(s, query).slice(0, top).map(({ key, weight }, i) => {
    const wb = b.weightAtA[query * s.k + i];
    return `| ${label(key)} | ${key} | ${weight.toFixed(3)} | ${wb.toFixed(3)} | ${(weight - wb >= 0 ? '+' : '−')}${Math.abs(weight - wb).toFixed(3)} |`;
  });
  const rowsB = attendedBy({ ...s, keyIndex: b.keyIndex, weight: b.weight }, query).slice(0, top).map(({ key, weight }) => `| ${label(key)} | ${key} | ${weight.toFixed(3)} |`);
  return [
    `**Attention Lens** · comparison · A: ${inertMarkdown(s.label + labels)} · ${inertMarkdown(b.label)}`,
    '',
    `${s.units ? 'Word' : 'Token'} ${label(query)} (#${query}): A's strongest links, with B's weight and A − B`,
    '',
    '| token | # | A | B | A − B |',
    '|---|--:|--:|--:|--:|',
    ...rowsA,
    '',
    'B attends most to:',
    '',
    '| token | # | B |',
    '|---|--:|--:|',
    ...rowsB,
  ].join('\n');
}
