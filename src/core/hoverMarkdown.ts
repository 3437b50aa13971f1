/** The editor hover's Markdown for one token of a summary. Pure. */
import { type ViewSummary, attendedBy, positionOfToken } from './analysis/summary';
import { type TokenInfo, tokenLabel } from './tokens';

/**
 * Markdown for the editor hover of token `token`: scope (with the head's labels) and its top
 * attended tokens (or words) with weights; empty when the token is hidden in the summary.
 */
export function hoverMarkdown(s: ViewSummary, tokens: readonly TokenInfo[], token: number, top = 5): string {
  const esc = (t: string) => t.replace(/[\\`*_{}[\]()#+\-.!|<>]/g, (c) => `\\${c}`);
  const label = (p: number) => (s.units ? s.units.texts[p] : tokenLabel(tokens[p]));
  // Inside a table cell a pipe ends the cell, even in a code span: escape it (GFM).
  const code = (text: string, inTable = true) => {
    const t = text.replace(/`/g, "'");
    return `\`${inTable ? t.replace(/\|/g, '\\|') : t}\``;
  };
  const query = positionOfToken(s.units, token);
  if (query < 0) return '';
  const lines = attendedBy(s, query)
    .slice(0, top)
    .map(({ key, weight }) => `| ${code(label(key))} | ${key} | ${weight.toFixed(3)} |`);
  const labels = s.headLabels?.length ? ` (${s.headLabels.join(', ')})` : '';
  return [
    `**Attention Lens** · ${esc(s.label + labels)}`,
    '',
    `${s.units ? 'Word' : 'Token'} ${code(label(query), false)} (#${query}) attends to:`,
    '',
    '| token | # | weight |',
    '|---|--:|--:|',
    ...lines,
  ].join('\n');
}
