/** The attention panel's page root: composes the state, the runner, the views and the controls. */
import { headLabels } from '../../src/core/analysis/headLabels';
import { cellOffsets, cellStats, similarityToHead } from '../../src/core/analysis/headGrid';
import { comparedSummary, summarize } from '../../src/core/analysis/summary';
import { tokenFocus } from '../../src/core/analysis/tokenFocus';
import { assertNever } from '../../src/core/protocol/common';
import type { FromPanel, RunRequest, ToPanel } from '../../src/core/protocol/panel';
import { vscodeChannel } from '../channel';
import { HeadView } from '../views/headView';
import { MatrixView } from '../views/matrixView';
import { TextView } from '../views/textView';
import { ImageView } from '../views/imageView';
import { contributionBasisText } from '../../src/core/mechanism';
import { computeHeadGrid, gridRowsWith, measuringGrid, stopHeadGrid, withDivergence } from './headGridTask';
import { computeLayersWith } from './layerStore';
import { compactLater, pinOnScreen, showMemory } from './storeUpkeep';
import { LayerWorkers } from './layerWorkers';
import { LongRolloutPass } from './longRollout';
import { type RunTimings, wallClock } from '../../src/core/timing';
import { PanelEngines } from './engineDeps';
import { Runner, type RunResult } from './runner';
import { ComparePane } from './comparePane';
import { alignLayersWith } from './comparedRuns';
import { ComparisonRun } from './comparisonRun';
import { PanelState } from './state';
import { viewKey } from './viewKeys';
import { type Change, type ViewMode, appliedContributions } from './snapshot';
import { longContributions } from './derive';
import { renderStatus } from './statusLine';
import { renderLinkList, renderTooltip } from './textForms';
import { Toolbar } from './toolbar';
import { Exporter } from './exporter';
import { GenerationStrip } from './generationStrip';
import { predictionText } from '../../src/core/classification';
import { MechanismPane } from './mechanismPane';
import { MeasuredStatistics } from './measuredStats';

/** Messages of a file the page could not fetch (the browsers' wordings). */
const FETCH_FAILURE = /Failed to fetch|NetworkError|Load failed|Importing a module script failed|error loading dynamically imported module/i;
/** The page is being unloaded (closed or reloaded): it reports nothing more. */
let leaving = false;
window.addEventListener('pagehide', () => (leaving = true));

/** Keys kept per query in the summary the editor and the text list show. */
const SUMMARY_K = 8;
const el = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const data = document.body.dataset;

const channel = vscodeChannel<ToPanel, FromPanel>();
const state = new PanelState();
// A long input's layers are computed from queries and keys in workers, the page staying free.
const layerWorkers = new LayerWorkers();
computeLayersWith((l) => layerWorkers.compute(l));
alignLayersWith(async (l, how) => {
  const aligned = await layerWorkers.compute(l, how);
  document.body.dataset.alignedIn = 'workers'; // for the tests
  return aligned;
});
gridRowsWith((l, task) => layerWorkers.gridRow(l, task));
const rolloutPass = new LongRolloutPass(state, (task) => layerWorkers.rollout(task), (request) => request === current);
const hover = (t: Parameters<PanelState['hoverOn']>[0]) => state.hoverOn(t);
const views = { head: new HeadView(el('view'), hover), matrix: new MatrixView(el('matrix'), hover), text: new TextView(el('arcs'), hover), image: new ImageView(el('image-view'), hover) };
const containers: Record<ViewMode, HTMLElement> = { head: el('view'), matrix: el('matrix'), text: el('arcs'), mechanism: el('mechanism'), image: el('image-view') };
const toolbar = new Toolbar({ viewMode: el('view-mode'), layer: el('layer-select'), heads: el('heads'), aggregate: el('aggregate'), words: el('words'), hide: el('hide'), weighting: el('weighting'), rolloutFusion: el('rollout-fusion'), rolloutDiscard: el('rollout-discard') }, state);
const comparePane = new ComparePane({
  bar: el('compare-bar'), show: el('compare-show'), layerB: el('layer-b'), models: el('compare-models'),
  headB: el('view-b'), matrixB: el('matrix-b'), correspondence: el('correspondence'), headA: el('view'), matrixA: el('matrix'),
}, state, hover);
el('compare').addEventListener('click', () => channel.post({ type: 'compare/request' }));
const statusEls = { notice: el('notice'), progress: el('progress'), progressText: el('progress-text'), error: el('error'), status: el('status') };

const engines = new PanelEngines((m) => channel.post(m), data);

/** A run whose rollout waits for its remaining layers. */
let held: { req: RunRequest; result: RunResult } | undefined;

const runner = new Runner(
  engines.deps(),
  {
    progress: (req, stage, message, fraction) => {
      // Only the run in progress moves the status; a preparation without one shows only on an empty panel
      // (never over a picture or an error).
      const phase = state.snapshot.phase.name;
      if (req ? req === current && phase === 'running' : phase === 'idle') state.progress(stage, message, fraction);
      if (req) channel.post({ type: 'run/didProgress', runId: req.runId, stage, message });
    },
    finished: (req, result) => {
      if (comparison.owns(req)) return comparison.finished(req, result);
      // A rollout multiplies every layer: wait for the layers still on the GPU rather than draw a partial one.
      if (result.moreToCome && state.snapshot.choices.aggregate === 'rollout' && !result.queryKeys?.length) {
        held = { req, result };
        state.progress('render', 'Reading every layer for the rollout…');
        return;
      }
      show(req, result);
    },
    more: (req, more) => {
      if (comparison.owns(req)) return comparison.more(req, more);
      if (held?.req === req) {
        const { result } = held;
        held = undefined;
        show(req, { ...result, layers: [...result.layers, ...more.layers], warnings: [...result.warnings, ...more.warnings], moreToCome: false });
      } else state.addLayers(req, more);
    },
    stepped: (req, s) => {
      channel.post({ type: 'generate/didStep', runId: req.runId, step: { step: s.step, query: s.query, token: s.token, probability: s.probability, rank: s.rank, top: s.top } });
      if (req !== current || !req.generate) return;
      const text = (id: number) => req.generate!.vocabulary[id] ?? `<${id}>`;
      strip.add({ step: s.step, query: s.query, token: { id: s.token, text: text(s.token) }, probability: s.probability, rank: s.rank, top: s.top.map((t) => ({ ...t, text: text(t.id) })) });
      // For the benchmark: when each step was made, and when its token was painted in the strip.
      const made = wallClock();
      requestAnimationFrame(() => requestAnimationFrame(() => {
        data.generationSteps = JSON.stringify([...(JSON.parse(data.generationSteps ?? '[]') as number[][]), [made, wallClock()]]);
      }));
    },
    generated: (req, tokens, stop) => channel.post({ type: 'generate/didFinish', runId: req.runId, tokens, stop }),
    failed: (req, message) => {
      if (comparison.owns(req)) return comparison.failed(req, message);
      if (req.generate) strip.end(`Generation failed after the tokens shown: ${message}`);
      const report = () => {
        if (leaving) return;
        state.fail(message);
        channel.post({ type: 'run/didFail', runId: req.runId, message });
      };
      // A page being reloaded (Developer: Reload Webviews) loses its files mid-run, and its run
      // fails to fetch them; the reloaded page runs the request again. Such failures are reported
      // a moment later, when a page that is going away no longer exists to report them.
      if (FETCH_FAILURE.test(message)) setTimeout(report, 1000);
      else report();
    },
  },
);

/** Draws a finished run, tells the host, and reports where the time went once the picture is painted. */
function show(req: RunRequest, result: RunResult): void {
  const drawStart = wallClock();
  state.finish(req, result); // draws synchronously
  const drawEnd = wallClock();
  const prediction = el('prediction');
  prediction.hidden = !result.prediction;
  prediction.textContent = result.prediction ? `Predicted: ${predictionText(result.prediction)}` : '';
  channel.post({ type: 'run/didFinish', runId: req.runId, backend: result.backend, millis: result.millis, backendReason: result.backendReason });
  // The picture is on screen after the next frame has been painted.
  requestAnimationFrame(() => requestAnimationFrame(() => {
    const pictureAt = wallClock();
    const host = req.timing;
    const timings: RunTimings = { commandAt: host?.commandAt ?? drawStart, spans: [...(host?.spans ?? []), ...result.spans, { stage: 'draw', start: drawStart, end: drawEnd }, { stage: 'paint', start: drawEnd, end: pictureAt }], pictureAt };
    document.body.dataset.timings = JSON.stringify(timings);
    channel.post({ type: 'run/didDraw', runId: req.runId, timings });
  }));
}

/** The run the panel is showing or working on. */
let current: RunRequest | undefined;

function start(request: RunRequest): void {
  current = request;
  engines.startingRun(request.runId);
  held = undefined; // a rollout held for an older run is not coming
  state.begin(request);
  comparison.begin(request);
  if (request.generate) {
    strip.begin(request.generate.maxNewTokens);
    data.generationSteps = '[]';
    void runner.generate(request);
    return;
  }
  // A generation's whole sequence keeps the tokens that arrived on screen until its picture replaces them.
  if (!request.generation) strip.show(undefined);
  if (request.image) void views.image.setImage(request.image.bytes, request.image.mime, request.image.width, request.image.height).catch(() => undefined);
  void runner.start(request);
}

const strip = new GenerationStrip(
  { root: el('generation'), status: el('gen-status'), tokens: el('gen-tokens'), slider: el('gen-slider'), detail: el('gen-detail'), list: el('gen-steps'), stop: el('gen-stop'), insert: el('gen-insert'), copy: el('gen-copy') },
  {
    stop: () => current && runner.stopGeneration(current.runId),
    select: (step) => {
      const g = state.snapshot.run?.request.generation;
      if (g) state.focusQuery(step.query, g.decoder);
    },
    use: (how) => {
      const request = state.snapshot.run?.request;
      if (request?.generation) channel.post({ type: 'generation/use', runId: request.runId, how });
    },
  },
);
el('generate').addEventListener('click', () => channel.post({ type: 'generate/request' }));

const comparison = new ComparisonRun({
  state,
  startRun: (req) => void runner.start(req, false), // B's: its first picture comes from the workers, no array readied for it
  show,
  post: (m) => channel.post(m),
  isCurrent: (req) => req === current,
});

const exporter = new Exporter({
  state,
  measure: () => views.head.measure(),
  viewWidth: () => el('view').clientWidth,
  matrix: () => views.matrix.figureInput(),
  text: () => views.text.figureInput(),
  mechanism: () => mechanismPane.shown,
  comparison: () => comparePane.figures(),
  post: (m) => channel.post(m),
});
el('export').addEventListener('click', () => channel.post({ type: 'export/request' }));

const measuredStats = new MeasuredStatistics(state, (req, ids) => runner.sideRun(req, ids));

/** A translation's sequence waiting for its cross-attention layers (they may arrive after the first picture). */
let crossFor: RunRequest | undefined;

/** A generation's sequence is on screen: its steps in the strip; a translation opens on its cross attention, as a matrix. */
function showGeneration(request: RunRequest): void {
  const g = request.generation;
  strip.show(g);
  crossFor = g?.decoder ? request : undefined;
  // A caption's cross attention is over the image: its heat map; a translation's a matrix.
  if (crossFor) state.setViewMode(request.image ? 'image' : 'matrix');
  openOnCross();
}

/** Shows the last cross-attention layer of the translation on screen, once it has arrived. */
function openOnCross(): void {
  const records = state.snapshot.records;
  if (!crossFor || state.snapshot.run?.request !== crossFor) return;
  let cross = records.length - 1;
  while (cross >= 0 && records[cross].source.kind !== 'cross') cross--;
  if (cross < 0 || state.snapshot.layersPending) return;
  crossFor = undefined;
  state.selectRecord(cross);
}

const mechanismPane = new MechanismPane(el('mechanism'), el('tooltip'), state, (req, names) => runner.mechanism(req, names));

/** The run whose contributions are being computed (once per run). */
let contributionsFor = -1;

/** With contributions chosen and not yet computed for the current run: computes every layer's, once. */
function ensureContributions(): void {
  const s = state.snapshot;
  const run = s.run;
  if (s.weighting !== 'contribution' || !run || s.layersPending || s.contributions?.runId === run.request.runId || contributionsFor === run.request.runId) return;
  const runId = (contributionsFor = run.request.runId);
  // A long input's come with its queries and keys (each key's value norm): its layers are computed as contributions when shown.
  const basis = run.onDemand ? longContributions(run.records) : undefined;
  if (run.onDemand) return basis ? state.setContributions({ runId, byName: new Map(), basis }) : state.setWeighting('attention', 'Contributions are not available for this run: some of its layers came without each key’s value norm, which a long input’s contributions are computed from.');
  state.setWeighting('contribution', 'Computing each head’s contributions (a second WebAssembly session of the model)…');
  runner.mechanism(run.request).then(
    (layers) => {
      const byName = new Map(layers.map((l) => [l.name, l.contribution]));
      state.setContributions({ runId, byName, basis: layers.every((l) => l.contributionBasis === 'output-projection') ? 'output-projection' : 'value-norm' });
    },
    (e: Error) => {
      if (state.snapshot.run?.request.runId !== runId) return;
      contributionsFor = -1;
      state.setWeighting('attention', `Contributions are not available for this model: ${e.message}`);
    },
  );
}

/** One summary (top keys per query) serves the text list and, for attention over the input, the editor. */
function publishSummary(): void {
  const s = state.snapshot;
  const record = state.record;
  if (!record || !s.run) return;
  const heads = state.shownHeads;
  const summary = heads.length > 0 ? summarize(s.run.request.runId, record, heads, SUMMARY_K, s.run.request.tokens) : undefined;
  if (summary && s.grid && heads.length === 1 && s.choices.aggregate === undefined) {
    summary.headLabels = headLabels(cellStats(s.grid, cellOffsets(s.grid.rows)[s.recordIndex] + heads[0])).map((l) => l.label);
  }
  const b = state.recordB;
  if (summary && s.compare && b) summary.compare = comparedSummary(summary, b, state.visibleHeadsB.flatMap((v, h) => (v ? [h] : [])));
  renderLinkList(el('link-list'), el('link-list-title'), record, summary);
  // Only the run over the editor's selection reaches the editor (not model B shown alone after A failed).
  if (summary && record.overInput && s.run.request.runId === current?.runId && s.run.request.model === current.model) channel.post({ type: 'view/didChange', summary });
}

/** Measures the explorer's grid of the records shown (every head of every layer), telling the host how far it is. */
function measureGrid(): void {
  const s = state.snapshot, run = s.run;
  if (!run) return;
  const applied = appliedContributions(s, run.request.runId);
  const c = s.compare;
  void computeHeadGrid(run.request, s.base, (done, of) => channel.post({ type: 'heads/didProgress', runId: run.request.runId, done, of }))
    .then((grid) => (grid && c ? withDivergence(grid, s.records, c.records, (i) => state.layerBOf(i), run.request.compare?.sameModel ? 'the edited text' : c.b.request.model.label) : grid))
    .then((grid) => grid && state.setGrid(applied ? { ...grid, weighting: contributionBasisText(applied.basis) } : grid));
}

let toolbarKey = '';
state.onDidChange((change: Change) => {
  const s = state.snapshot;
  const record = state.record;
  if (record && s.run) {
    if (change !== 'hover') {
      // Controls and the visible container change with the selection, never with a hover (the hot path).
      const key = `${s.run.request.runId}|${s.records.length}|${s.visibleHeads.length}|${s.records[0]?.id}|${s.records[0]?.label}`;
      if (key !== toolbarKey) {
        toolbarKey = key;
        toolbar.rebuild();
      } else toolbar.update();
      for (const [mode, c] of Object.entries(containers)) c.hidden = mode !== s.viewMode;
    }
    comparePane.draw(change, containers[s.viewMode]);
    if (s.viewMode === 'mechanism') mechanismPane.update(change);
    else {
      const view = views[s.viewMode];
      // In a comparison the main view shows A, or A − B.
      const shown = comparePane.mainRecord() ?? record;
      const viewState = { record: shown, visibleHeads: s.visibleHeads, maxLinksPerQuery: s.run.request.maxLinksPerQuery, maxArcs: s.run.request.maxLinksPerQuery, hover: s.hover, text: s.run.request.text };
      if (change === 'hover') {
        view.update(viewState);
        if (s.hover && s.reveal && 'reveal' in view) view.reveal(s.hover);
      } else if (change !== 'phase' && change !== 'grid' && change !== 'precision') view.render(viewState);
      const focus = s.hover ? tokenFocus(shown, state.shownHeads, s.hover) : undefined;
      renderTooltip(el('tooltip'), focus, s.hover, shown, state.shownHeads, s.hover ? view.labelRect(s.hover) : new DOMRect());
      // A tooltip the editor's cursor opened fades while the pointer is elsewhere, so it never hides what it points at.
      el('tooltip').classList.toggle('passive', s.hoverSource === 'editor');
    }
    if (change === 'run') queueMicrotask(() => state.snapshot.run === s.run && showGeneration(s.run!.request));
    // An image opens on the image view; text leaves it.
    if (change === 'run' && (s.run.request.image ? s.viewMode !== 'image' : s.viewMode === 'image')) queueMicrotask(() => state.setViewMode(s.run?.request.image ? 'image' : 'head'));
    if (change === 'records') queueMicrotask(openOnCross);
    if (change === 'run' || change === 'records' || change === 'selection') {
      pinOnScreen(state);
      compactLater(state);
    }
    if (change === 'run' || change === 'records' || change === 'selection' || change === 'grid' || change === 'precision') publishSummary();
    if (change === 'run' || change === 'records' || change === 'selection' || change === 'grid') channel.post({ type: 'selection/didChange', runId: s.run.request.runId, selection: state.headSelection });
    // After this change has been handled: it may change the state again.
    if (change === 'run' || change === 'records') queueMicrotask(ensureContributions);
    if (change === 'run' || change === 'records' || change === 'selection') queueMicrotask(() => rolloutPass.ensure());
    // The grid covers every layer: with layers still on their way, it waits for them ('records').
    const gridDue = (change === 'run' && !s.layersPending) || change === 'records';
    if (gridDue && s.run.onDemand) {
      // A long input's grid (minutes, in the panel's worker) waits until an explorer on screen asks for it ('heads/measure'); an older pass goes.
      stopHeadGrid();
      channel.post({ type: 'heads/didProgress', runId: s.run.request.runId, done: 0, of: s.base.length, waiting: true });
    } else if (gridDue) measureGrid();
    if (change === 'grid' && s.grid) channel.post({ type: 'heads/didCompute', grid: s.grid });
    if (change === 'grid') measuredStats.update();
    // After this task: layers decoded or computed for a pass are let go by then.
    if (change === 'run' || change === 'records' || change === 'selection' || change === 'grid' || change === 'precision') setTimeout(() => showMemory(state), 0);
  }
  renderStatus(statusEls, s, views.head.stats.links);
});

// The mechanism view's own controls (selects, the scrolling key list) keep their keys.
for (const c of [containers.head, containers.matrix, containers.text]) {
  c.addEventListener('keydown', (e) => {
    if (viewKey(state, e.key)) e.preventDefault();
  });
}

channel.onMessage((m) => {
  switch (m.type) {
    case 'ready/reply':
      engines.setReady(m.runtime, m.native);
      if (m.prepare) runner.prepare(m.prepare);
      if (m.request) start(m.request);
      return;
    case 'file/chunk':
    case 'file/didFail':
      engines.receive(m);
      return;
    case 'model/prepare':
      runner.prepare(m.prepare);
      return;
    case 'run/start':
      start(m.request);
      return;
    case 'generate/stop':
      runner.stopGeneration(m.runId);
      return;
    case 'editor/didFocusToken':
      state.focusFromEditor(m.runId, m.index);
      return;
    case 'selection/set':
      if (state.snapshot.run?.request.runId === m.runId) state.setSelection(m.selection.recordIndex, m.selection.heads);
      return;
    case 'export/make':
      void exporter.make(m.exportId, m.format);
      return;
    case 'export/cancel':
      exporter.cancel(m.exportId);
      return;
    case 'heads/measure': {
      if (state.snapshot.run?.request.runId !== m.runId || state.snapshot.grid) return;
      const stopped = m.measure ? undefined : stopHeadGrid();
      if (m.measure && !measuringGrid()) measureGrid();
      else if (stopped) channel.post({ type: 'heads/didProgress', runId: m.runId, ...stopped, stopped: true });
      return;
    }
    case 'similarity/compute': {
      const s = state.snapshot;
      if (s.run?.request.runId !== m.runId || !s.base[m.recordIndex]) return;
      const distances = similarityToHead(s.base, m.recordIndex, m.head);
      channel.post({ type: 'similarity/didCompute', runId: m.runId, recordIndex: m.recordIndex, head: m.head, distances });
      return;
    }
    case 'engine/didOpen':
    case 'engine/didRun':
    case 'engine/didRunLayer':
    case 'engine/didFail':
    case 'engine/runAhead':
    case 'engine/didRunAhead':
      engines.receive(m);
      return;
    default:
      assertNever(m);
  }
});
channel.post({ type: 'ready' });
