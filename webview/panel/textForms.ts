/** The text forms of the view: the hover tooltip and the accessible list of strongest links. */
import type { AttentionRecord } from '../../src/core/attention';
import { type ViewSummary, attendedBy, meanRow } from '../../src/core/analysis/summary';
import type { TokenFocus, TokenTarget } from '../../src/core/analysis/tokenFocus';
import { markerLegend, tokenLabel } from '../../src/core/tokens';

/**
 * Fills the tooltip for `focus` and places it beside `anchor` (the token's label or cell), or hides
 * it. A hovered matrix cell (`target.key`) adds its exact value.
 */
export function renderTooltip(tip: HTMLElement, focus: TokenFocus | undefined, target: TokenTarget | null, record: AttentionRecord, heads: readonly number[], anchor: DOMRect): void {
  if (!focus || !target) {
    tip.hidden = true;
    return;
  }
  const { index, side } = target;
  const title = document.createElement('div');
  title.className = 'tip-title';
  title.textContent = `${tokenLabel(focus.token)} (#${index}) ${focus.relation} · ${focus.scope}`;
  const parts: HTMLElement[] = [title];
  if (target.key !== undefined) {
    const exact = document.createElement('div');
    exact.className = 'tip-exact';
    exact.textContent = `→ ${tokenLabel(record.keyTokens[target.key])} (#${target.key}): ${meanRow(record, heads, index)[target.key].toFixed(4)}`;
    parts.push(exact);
  }
  const table = document.createElement('table');
  for (const p of focus.partners) {
    const tr = table.insertRow();
    tr.insertCell().textContent = tokenLabel(p.token);
    tr.insertCell().textContent = `#${p.index}`;
    tr.insertCell().textContent = p.weight.toFixed(4);
  }
  parts.push(table);
  const legend = markerLegend([focus.token, ...focus.partners.map((p) => p.token)].map(tokenLabel));
  if (legend) parts.push(Object.assign(document.createElement('div'), { className: 'tip-legend', textContent: legend }));
  tip.replaceChildren(...parts);
  tip.hidden = false;
  const x = side === 'query' ? anchor.right + 8 : anchor.left - tip.offsetWidth - 8;
  tip.style.left = `${Math.max(4, Math.min(window.innerWidth - tip.offsetWidth - 4, x))}px`;
  tip.style.top = `${Math.max(4, Math.min(window.innerHeight - tip.offsetHeight - 4, anchor.top))}px`;
}

/** Lists each query's three strongest keys; `data-top` holds the strongest key's index (-1: none). */
export function renderLinkList(list: HTMLElement, title: HTMLElement, record: AttentionRecord, summary: ViewSummary | undefined): void {
  const legend = markerLegend(record.queryTokens.map(tokenLabel));
  title.textContent = `Strongest links as text${summary ? ` · ${summary.label}` : ''}${legend ? ` (${legend})` : ''}`;
  const frag = document.createDocumentFragment();
  for (let q = 0; summary && q < summary.queries; q++) {
    const best = attendedBy(summary, q).slice(0, 3);
    const li = document.createElement('li');
    li.dataset.query = String(q);
    li.dataset.top = String(best[0]?.key ?? -1);
    li.textContent = `${tokenLabel(record.queryTokens[q])} → ${best.map(({ key, weight }) => `${tokenLabel(record.keyTokens[key])} ${weight.toFixed(3)}`).join(', ')}`;
    frag.appendChild(li);
  }
  list.replaceChildren(frag);
}
