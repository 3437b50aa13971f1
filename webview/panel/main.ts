/** The attention panel's page root: composes the state, the runner, the view and the controls. */
import { similarityToHead } from '../../src/core/analysis/headGrid';
import { summarize } from '../../src/core/analysis/summary';
import { tokenFocus } from '../../src/core/analysis/tokenFocus';
import { AttentionEngine } from '../../src/core/engine/attentionEngine';
import type { FromPanel, RunRequest, ToPanel } from '../../src/core/protocol/panel';
import { assertNever } from '../../src/core/protocol/common';
import { vscodeChannel } from '../channel';
import { HeadView } from '../views/headView';
import { computeHeadGrid } from './headGridTask';
import { chooseBackend, fetchModel, loadOrt } from './ortRuntime';
import { Runner } from './runner';
import { PanelState } from './state';
import { renderStatus } from './statusLine';
import { renderLinkList, renderTooltip } from './textForms';
import { Toolbar } from './toolbar';

/** Keys kept per query in the summary the editor and the text list show. */
const SUMMARY_K = 8;
const el = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const data = document.body.dataset;

const channel = vscodeChannel<ToPanel, FromPanel>();
const state = new PanelState();
const view = new HeadView(el('view'), (t) => state.hoverOn(t));
const toolbar = new Toolbar(el<HTMLSelectElement>('layer-select'), el('heads'), state);
const statusEls = { notice: el('notice'), progress: el('progress'), progressText: el('progress-text'), error: el('error'), status: el('status') };

const runner = new Runner(
  { loadOrt: () => loadOrt(data.ort!, data.ortWasmMjs!, data.ortWasm!), chooseBackend, fetchModel, createEngine: AttentionEngine.create },
  {
    progress: (req, stage, message, fraction) => {
      state.progress(stage, message, fraction);
      channel.post({ type: 'run/didProgress', runId: req.runId, stage, message });
    },
    finished: (req, result) => {
      state.finish(req, result);
      channel.post({ type: 'run/didFinish', runId: req.runId, backend: result.backend, millis: result.millis, fallbackReason: result.fallbackReason });
    },
    failed: (req, message) => {
      state.fail(message);
      channel.post({ type: 'run/didFail', runId: req.runId, message });
    },
  },
);

function start(request: RunRequest): void {
  state.begin(request);
  void runner.start(request);
}

state.onDidChange((change) => {
  const s = state.snapshot;
  const record = state.record;
  if (record && s.run) {
    const viewState = { record, visibleHeads: s.visibleHeads, maxLinksPerQuery: s.run.request.maxLinksPerQuery, hover: s.hover };
    if (change === 'run' || change === 'selection') {
      if (change === 'run') toolbar.rebuild();
      else toolbar.update();
      view.render(viewState);
      // One summary (top keys per query) serves the text list and, for attention over the input, the editor.
      const heads = state.shownHeads;
      const summary = heads.length > 0 ? summarize(s.run.request.runId, record, heads, SUMMARY_K) : undefined;
      renderLinkList(el('link-list'), record, summary);
      if (summary && record.overInput) channel.post({ type: 'view/didChange', summary });
      channel.post({ type: 'selection/didChange', runId: s.run.request.runId, selection: { recordIndex: s.recordIndex, heads } });
      if (change === 'run') void computeHeadGrid(s.run).then((grid) => grid && channel.post({ type: 'heads/didCompute', grid }));
    } else if (change === 'hover') {
      view.update(viewState);
      if (s.hover && s.reveal) view.reveal(s.hover);
    }
    const focus = s.hover ? tokenFocus(record, state.shownHeads, s.hover) : undefined;
    renderTooltip(el('tooltip'), focus, s.hover?.index ?? -1, s.hover?.side ?? 'query', s.hover ? view.labelRect(s.hover) : new DOMRect());
  }
  renderStatus(statusEls, s, view.stats.links);
});

el('view').addEventListener('keydown', (e) => {
  if (state.key(e.key)) e.preventDefault();
});

channel.onMessage((m) => {
  switch (m.type) {
    case 'ready/reply':
      if (m.request) start(m.request);
      return;
    case 'run/start':
      start(m.request);
      return;
    case 'editor/didFocusToken':
      state.focusFromEditor(m.runId, m.index);
      return;
    case 'selection/set':
      if (state.snapshot.run?.request.runId === m.runId) state.setSelection(m.selection.recordIndex, m.selection.heads);
      return;
    case 'similarity/compute': {
      const run = state.snapshot.run;
      if (run?.request.runId !== m.runId || !run.records[m.recordIndex]) return;
      const distances = similarityToHead(run.records, m.recordIndex, m.head);
      channel.post({ type: 'similarity/didCompute', runId: m.runId, recordIndex: m.recordIndex, head: m.head, distances });
      return;
    }
    default:
      assertNever(m);
  }
});
channel.post({ type: 'ready' });
