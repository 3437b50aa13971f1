/** The editor hover's Markdown for one token of a summary. Pure. */
import { type ViewSummary, attendedBy, positionOfToken } from './analysis/summary';
import { inertMarkdown } from './markdown';
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
