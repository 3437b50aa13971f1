/** The editor hover's Markdown for one token of a summary. Pure. */
import { type ViewSummary, attendedBy } from './analysis/summary';
import { type TokenInfo, tokenLabel } from './tokens';

/** Markdown for the editor hover of `query`: scope and its top attended tokens with weights. */
export function hoverMarkdown(s: ViewSummary, tokens: readonly TokenInfo[], query: number, top = 5): string {
  const esc = (t: string) => t.replace(/[\\`*_{}[\]()#+\-.!|<>]/g, (c) => `\\${c}`);
  // Inside a table cell a pipe ends the cell, even in a code span: escape it (GFM).
  const code = (t: TokenInfo, inTable = true) => {
    const label = tokenLabel(t).replace(/`/g, "'");
    return `\`${inTable ? label.replace(/\|/g, '\\|') : label}\``;
  };
  const lines = attendedBy(s, query)
    .slice(0, top)
    .map(({ key, weight }) => `| ${code(tokens[key])} | ${key} | ${weight.toFixed(3)} |`);
  return [
    `**Attention Lens** · ${esc(s.label)}`,
    '',
    `Token ${code(tokens[query], false)} (#${query}) attends to:`,
    '',
    '| token | # | weight |',
    '|---|--:|--:|',
    ...lines,
  ].join('\n');
}
