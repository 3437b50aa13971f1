/** The head explorer's page root: composes the model, the grid view, the controls and the text around them. */
import { LABEL_RULES } from '../../src/core/analysis/headLabels';
import { STAT_NAMES } from '../../src/core/analysis/headStats';
import { assertNever } from '../../src/core/protocol/common';
import type { FromExplorer, ToExplorer } from '../../src/core/protocol/explorer';
import { vscodeChannel } from '../channel';
import { type ColorBy, ExplorerModel, type SortBy, clickSelection } from './explorerModel';
import { HeadGridView } from './headGridView';
import { renderLegend } from './legend';
import { describeCell, describeSelection } from './cellText';
import { svgToPng } from '../svgRaster';

const el = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const channel = vscodeChannel<ToExplorer, FromExplorer>();
const model = new ExplorerModel();
const gridEl = el('grid');
const place = document.body.dataset.place === 'editor' ? 'editor' : 'sidebar';
const view = new HeadGridView(gridEl, model, place);
view.onRender = (corners) => renderLegend(el('legend-body'), model.snapshot, corners);
// The legend starts open; closed once, it stays closed in this view (the grid gets its room).
const legend = el<HTMLDetailsElement>('legend');
legend.open = channel.getState().legendOpen !== false;
legend.addEventListener('toggle', () => channel.setState({ legendOpen: legend.open }));

function options(select: HTMLSelectElement, items: Array<[string, string]>, onChange: (value: string) => void): void {
  select.replaceChildren(...items.map(([value, label]) => Object.assign(document.createElement('option'), { value, textContent: label })));
  select.onchange = () => onChange(select.value);
}
options(el('color-by'), [['none', 'nothing'], ['similarity', 'similarity to the selected head'], ['divergence', 'difference from model B (comparison)'], ...STAT_NAMES.map((s) => [s, s] as [string, string])], (v) => {
  model.setColorBy(v as ColorBy);
  requestSimilarity();
});
options(el('sort-by'), [['head', 'head number'], ...STAT_NAMES.map((s) => [s, s] as [string, string])], (v) => model.setSortBy(v as SortBy));
options(el('label-filter'), [['', 'any'], ...LABEL_RULES.map((r) => [r.label, r.label] as [string, string])], (v) => model.setLabelFilter(v));

/** Colouring by similarity needs distances from the selected head: ask the panel, which holds the tensors. */
function requestSimilarity(): void {
  const { data, colorBy } = model.snapshot;
  const sel = data.selection;
  if (colorBy !== 'similarity' || !data.grid || !sel) return;
  const sim = data.similarity;
  if (sim && sim.recordIndex === sel.recordIndex && sim.head === sel.heads[0]) return;
  channel.post({ type: 'similarity/compute', runId: data.grid.runId, recordIndex: sel.recordIndex, head: sel.heads[0] });
}

function select(cell: { row: number; head: number }, additive: boolean): void {
  const grid = model.snapshot.data.grid;
  if (!grid) return;
  channel.post({ type: 'selection/set', runId: grid.runId, selection: clickSelection(model.snapshot.data.selection, cell, additive) });
}

model.onDidChange((change) => {
  const { data, hover } = model.snapshot;
  el('empty').hidden = !!data.grid || !!data.progress;
  el('measuring').hidden = !!data.grid || !data.progress;
  el('measuring-text').textContent = data.grid ? '' : data.progress?.text ?? '';
  el('measuring-action').hidden = !data.progress?.action;
  el('measuring-action').textContent = data.progress?.action === 'measure' ? 'Measure again' : 'Stop';
  el('main').hidden = !data.grid;
  const d = data.grid?.divergence;
  el('title').textContent = [data.title, data.grid?.weighting, d && `compared with ${d.modelB}: click a head to see it beside its closest head of B`].filter(Boolean).join(' · ');
  if (change === 'data' || change === 'style') view.render();
  else view.update();
  el('details').textContent = data.grid && data.selection ? describeSelection(data.grid, data.selection) : '';
  const tip = el('tooltip');
  tip.hidden = !hover || !data.grid;
  if (hover && data.grid) {
    tip.replaceChildren(...describeCell(data.grid, hover));
    const r = view.cellRect(hover);
    tip.style.left = `${Math.max(4, Math.min(window.innerWidth - tip.offsetWidth - 4, r.right + 6))}px`;
    tip.style.top = `${Math.max(4, Math.min(window.innerHeight - tip.offsetHeight - 4, r.top))}px`;
  }
  if (change !== 'hover') requestSimilarity();
});

el('export').addEventListener('click', () => channel.post({ type: 'export/request' }));
el('open-editor')?.addEventListener('click', () => channel.post({ type: 'editor/open' }));
el('measuring-action').addEventListener('click', () => {
  const p = model.snapshot.data.progress;
  if (p?.action) channel.post({ type: 'heads/measure', runId: p.runId, measure: p.action === 'measure' });
});
gridEl.addEventListener('mousemove', (e) => model.hoverOn(view.hitTest(e.clientX, e.clientY)));
gridEl.addEventListener('mouseleave', () => model.hoverOn(null));
gridEl.addEventListener('click', (e) => {
  const cell = view.hitTest(e.clientX, e.clientY);
  if (cell) select(cell, e.shiftKey);
});
gridEl.addEventListener('focus', () => view.update());
gridEl.addEventListener('blur', () => view.update());
gridEl.addEventListener('keydown', (e) => {
  if (model.moveFocus(e.key)) {
    e.preventDefault();
    const cell = model.focusedCell;
    if (cell) view.reveal(cell);
  }
  else if (e.key === 'Enter' || e.key === ' ') {
    const cell = model.focusedCell;
    if (cell) select(cell, e.shiftKey);
    e.preventDefault();
  }
});

channel.onMessage((m) => {
  switch (m.type) {
    case 'export/make':
      void (async () => {
        try {
          const svg = view.figure(['Head explorer', el('title').textContent].filter(Boolean).join(' · '));
          channel.post({ type: 'export/didMake', exportId: m.exportId, data: m.format === 'svg' ? new TextEncoder().encode(svg) : await svgToPng(svg) });
        } catch (e) {
          channel.post({ type: 'export/didFail', exportId: m.exportId, message: (e as Error).message });
        }
      })();
      return;
    case 'state/didChange': {
      const wasComparison = !!model.snapshot.data.grid?.divergence;
      model.receive(m.state);
      // A comparison arrives coloured by how much each head differs from model B; a single run leaves that colouring.
      const divergence = !!m.state.grid?.divergence;
      if (divergence !== wasComparison && (model.snapshot.colorBy === 'none' || model.snapshot.colorBy === 'divergence')) {
        model.setColorBy(divergence ? 'divergence' : 'none');
        el<HTMLSelectElement>('color-by').value = model.snapshot.colorBy;
      }
      return;
    }
    default:
      assertNever(m as never);
  }
});
channel.post({ type: 'ready' });
