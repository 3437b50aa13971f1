/** The attention panel's page: runs the model, owns the view state, wires controls and messages. */
import { type AttentionLayer, weightAt } from '../src/core/attention';
import { type RunRequest, type ViewSummary, assertNever } from '../src/core/protocol';
import { NEGLIGIBLE, attendedBy, meanRow, scopeLabel, summarize, topK } from '../src/core/summary';
import { type TokenInfo, tokenLabel } from '../src/core/tokens';
import { type Backend, AttentionEngine, EngineError, type OrtModule } from './engine/attentionEngine';
import { chooseBackend, fetchModel, loadOrt } from './engine/runtime';
import { vscodeChannel } from './channel';
import { HEAD_COLORS, HeadView, type HoverTarget, type ViewState } from './views/headView';

const SUMMARY_K = 8;
const channel = vscodeChannel();
const el = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const body = document.body.dataset;

interface Loaded {
  request: RunRequest;
  layers: AttentionLayer[];
  backend: Backend;
  millis: number;
}

let current: Loaded | undefined;
let layerIndex = 0;
let visibleHeads: boolean[] = [];
let hover: HoverTarget | null = null;
let generation = 0;
let engine: { key: string; engine: AttentionEngine } | undefined;
let bytesCache: { url: string; bytes: Uint8Array } | undefined;

const view = new HeadView(el('view'), (t) => setHover(t));

channel.onMessage((m) => {
  switch (m.type) {
    case 'run/start':
      void start(m.request);
      return;
    case 'editor/focusToken':
      if (current?.request.runId === m.runId && isEditorKind()) setHover(m.index >= 0 ? { side: 'query', index: m.index } : null, true);
      return;
    default:
      assertNever(m);
  }
});
channel.post({ type: 'ready' });

// ---- running ---------------------------------------------------------------------------------

async function start(req: RunRequest): Promise<void> {
  const gen = ++generation;
  const stale = () => gen !== generation;
  showError(undefined);
  const notice = [req.model.untrained ? `${req.model.label}: random weights, the links show the plumbing, not language.` : '', req.notice ?? ''].filter(Boolean).join(' ');
  el('notice').hidden = !notice;
  el('notice').textContent = notice;
  try {
    progress(req, 'runtime', 'Loading onnxruntime…');
    const ort = await loadOrt(body.ort!, body.ortWasmMjs!, body.ortWasm!);
    const choice = await chooseBackend(req.backend);
    let fallbackReason = choice.fallbackReason;
    let eng: AttentionEngine;
    let out;
    try {
      eng = await engineFor(ort, req, choice.backend, stale);
      progress(req, 'inference', `Running ${req.model.label} on ${choice.backend === 'webgpu' ? 'WebGPU' : 'WebAssembly'} (${req.tokens.length} tokens)…`);
      out = await eng.run({ ids: req.ids, decoderIds: req.decoderIds });
    } catch (e) {
      const modelProblem = e instanceof EngineError && (e.code === 'no-attention' || e.code === 'unknown-input');
      if (stale() || modelProblem || choice.backend !== 'webgpu' || req.backend !== 'auto') throw e;
      // The GPU failed (lost device, unsupported op, out of memory): the CPU path still works.
      fallbackReason = `WebGPU failed (${(e as Error).message.split('\n')[0]})`;
      eng = await engineFor(ort, req, 'wasm', stale);
      out = await eng.run({ ids: req.ids, decoderIds: req.decoderIds });
    }
    if (stale()) return;
    progress(req, 'render', 'Drawing…');
    current = { request: req, layers: out.layers, backend: eng.backend, millis: out.millis };
    layerIndex = 0;
    visibleHeads = out.layers[0].heads > 0 ? Array(out.layers[0].heads).fill(true) : [];
    hover = null;
    buildControls();
    refresh(true);
    el('progress').hidden = true;
    channel.post({ type: 'run/done', runId: req.runId, backend: eng.backend, millis: out.millis, fallbackReason });
  } catch (e) {
    if (stale()) return;
    const message = e instanceof Error ? e.message : String(e);
    el('progress').hidden = true;
    showError(message);
    channel.post({ type: 'run/failed', runId: req.runId, message });
  }
}

async function engineFor(ort: OrtModule, req: RunRequest, backend: Backend, stale: () => boolean): Promise<AttentionEngine> {
  const key = `${req.model.onnxUri}|${backend}`;
  if (engine?.key === key) return engine.engine;
  if (bytesCache?.url !== req.model.onnxUri) {
    progress(req, 'model', `Loading ${req.model.onnxLabel}…`);
    const bytes = await fetchModel(req.model.onnxUri, req.model.onnxLabel, (loaded, total) =>
      progress(req, 'model', `Loading ${req.model.onnxLabel}: ${mb(loaded)}${total ? ` of ${mb(total)}` : ''}`, total ? loaded / total : undefined));
    bytesCache = { url: req.model.onnxUri, bytes };
  }
  progress(req, 'model', `Preparing ${req.model.label} for ${backend === 'webgpu' ? 'WebGPU' : 'WebAssembly'}…`);
  const created = await AttentionEngine.create(ort, bytesCache.bytes, backend, req.model.onnxLabel);
  if (stale()) {
    await created.dispose();
    throw new Error('superseded');
  }
  await engine?.engine.dispose();
  engine = { key, engine: created };
  return created;
}

// ---- view state --------------------------------------------------------------------------------

function layer(): AttentionLayer | undefined {
  return current?.layers[layerIndex];
}

/** Self and encoder attention are over the selected text, so the editor can show them. */
function isEditorKind(): boolean {
  const l = layer();
  return l !== undefined && (l.kind === 'self' || l.kind === 'encoder');
}

function tokensFor(l: AttentionLayer, side: 'query' | 'key'): TokenInfo[] {
  const req = current!.request;
  const dec = req.decoderTokens ?? req.tokens;
  if (l.kind === 'decoder') return dec;
  if (l.kind === 'cross') return side === 'query' ? dec : req.tokens;
  return req.tokens;
}

function viewState(): ViewState {
  const l = layer()!;
  return {
    layer: l,
    queryTokens: tokensFor(l, 'query'),
    keyTokens: tokensFor(l, 'key'),
    visibleHeads,
    causal: l.kind === 'decoder' || (l.kind === 'self' && current!.request.model.causal),
    maxLinksPerQuery: current!.request.maxLinksPerQuery,
    hover,
  };
}

function shownHeads(): number[] {
  return visibleHeads.flatMap((v, h) => (v ? [h] : []));
}

/** Redraws after a change of layer or heads (`full`) or of hover only. */
function refresh(full: boolean): void {
  if (!current) return;
  const state = viewState();
  if (full) {
    view.render(state);
    const heads = shownHeads();
    // One summary (top keys per query) serves the text list and, for self/encoder attention, the editor.
    const summary = heads.length > 0 ? summarize(current.request.runId, state.layer, heads, SUMMARY_K) : undefined;
    renderTextView(state, summary);
    updateHeadButtons();
    if (summary && isEditorKind()) channel.post({ type: 'view/summary', summary });
  } else view.update(state);
  renderTooltip(state);
  const s = view.stats;
  el('status').textContent = `${current.request.model.label} · ${current.backend === 'webgpu' ? 'WebGPU' : 'WASM'} · ${current.request.tokens.length} tokens · ${current.millis.toFixed(0)} ms · ${s.links} links`;
  document.body.dataset.state = 'ready';
  document.body.dataset.backend = current.backend;
}

function setHover(target: HoverTarget | null, scroll = false): void {
  if (hover?.side === target?.side && hover?.index === target?.index) return;
  hover = target;
  refresh(false);
  if (scroll && target) view.reveal(target);
}

// ---- controls ----------------------------------------------------------------------------------

function buildControls(): void {
  const select = el<HTMLSelectElement>('layer-select');
  select.replaceChildren(...current!.layers.map((l, i) => {
    const o = document.createElement('option');
    o.value = String(i);
    o.textContent = `${l.kind === 'self' ? '' : `${l.kind} `}layer ${l.layer + 1}`;
    return o;
  }));
  select.value = String(layerIndex);
  select.onchange = () => selectLayer(Number(select.value));
  const heads = el('heads');
  heads.replaceChildren(...visibleHeads.map((_, h) => {
    const b = document.createElement('button');
    b.className = 'head';
    b.textContent = String(h + 1);
    b.title = `Head ${h + 1}: click to show or hide, double-click (or Shift+click) to show only this head`;
    b.style.setProperty('--head-color', HEAD_COLORS[h % HEAD_COLORS.length]);
    b.onclick = (e) => (e.shiftKey ? solo(h) : toggle(h));
    b.ondblclick = () => solo(h);
    return b;
  }));
}

function updateHeadButtons(): void {
  el('heads').querySelectorAll<HTMLButtonElement>('button.head').forEach((b, h) => {
    b.setAttribute('aria-pressed', String(visibleHeads[h]));
    b.classList.toggle('off', !visibleHeads[h]);
  });
}

function selectLayer(i: number): void {
  if (!current || i < 0 || i >= current.layers.length) return;
  layerIndex = i;
  el<HTMLSelectElement>('layer-select').value = String(i);
  const heads = current.layers[i].heads;
  if (visibleHeads.length !== heads) visibleHeads = Array(heads).fill(true);
  hover = null;
  refresh(true);
}

function toggle(h: number): void {
  visibleHeads = visibleHeads.map((v, i) => (i === h ? !v : v));
  refresh(true);
}

function solo(h: number): void {
  visibleHeads = visibleHeads.map((_, i) => i === h);
  refresh(true);
}

el('view').addEventListener('keydown', (e) => {
  if (!current) return;
  const l = layer()!;
  const side = hover?.side ?? 'query';
  const n = side === 'query' ? l.queries : l.keys;
  const at = hover?.index ?? -1;
  const moves: Record<string, () => void> = {
    ArrowDown: () => setHover({ side, index: Math.min(n - 1, at + 1) }, true),
    ArrowUp: () => setHover({ side, index: Math.max(0, at - 1) }, true),
    ArrowLeft: () => setHover({ side: 'query', index: Math.min(l.queries - 1, Math.max(0, at)) }),
    ArrowRight: () => setHover({ side: 'key', index: Math.min(l.keys - 1, Math.max(0, at)) }),
    Escape: () => setHover(null),
    PageDown: () => selectLayer(layerIndex + 1),
    PageUp: () => selectLayer(layerIndex - 1),
  };
  const f = moves[e.key];
  if (f) {
    e.preventDefault();
    f();
  }
});

// ---- text forms: tooltip and the accessible list --------------------------------------------------

function renderTooltip(state: ViewState): void {
  const tip = el('tooltip');
  const heads = shownHeads();
  if (!state.hover || heads.length === 0) {
    tip.hidden = true;
    return;
  }
  const { side, index } = state.hover;
  const l = state.layer;
  const rows: Array<[string, number, string]> = [];
  if (side === 'query') {
    const mean = meanRow(l, heads, index);
    for (const k of topK(mean, 5)) if (mean[k] >= NEGLIGIBLE) rows.push([tokenLabel(state.keyTokens[k]), mean[k], `#${k}`]);
  } else {
    const col = new Float32Array(l.queries); // mean weight each query gives this key
    for (let q = 0; q < l.queries; q++) {
      for (const h of heads) col[q] += weightAt(l, h, q, index) / heads.length;
    }
    for (const q of topK(col, 5)) if (col[q] >= NEGLIGIBLE) rows.push([tokenLabel(state.queryTokens[q]), col[q], `#${q}`]);
  }
  const token = side === 'query' ? state.queryTokens[index] : state.keyTokens[index];
  const title = document.createElement('div');
  title.className = 'tip-title';
  title.textContent = `${tokenLabel(token)} (#${index}) ${side === 'query' ? 'attends to' : 'is attended by'} · ${scopeLabel(l, heads)}`;
  const table = document.createElement('table');
  for (const [label, w, idx] of rows) {
    const tr = table.insertRow();
    tr.insertCell().textContent = label;
    tr.insertCell().textContent = idx;
    tr.insertCell().textContent = w.toFixed(4);
  }
  tip.replaceChildren(title, table);
  const r = view.labelRect(state.hover);
  tip.hidden = false;
  tip.style.left = `${Math.max(4, Math.min(window.innerWidth - tip.offsetWidth - 4, side === 'query' ? r.right + 8 : r.left - tip.offsetWidth - 8))}px`;
  tip.style.top = `${Math.max(4, Math.min(window.innerHeight - tip.offsetHeight - 4, r.top))}px`;
}

function renderTextView(state: ViewState, summary: ViewSummary | undefined): void {
  const frag = document.createDocumentFragment();
  for (let q = 0; summary && q < summary.queries; q++) {
    const best = attendedBy(summary, q).slice(0, 3);
    const li = document.createElement('li');
    li.dataset.query = String(q);
    li.dataset.top = String(best[0]?.key ?? -1);
    li.textContent = `${tokenLabel(state.queryTokens[q])} → ${best.map(({ key, weight }) => `${tokenLabel(state.keyTokens[key])} ${weight.toFixed(3)}`).join(', ')}`;
    frag.appendChild(li);
  }
  el('link-list').replaceChildren(frag);
}

// ---- status ------------------------------------------------------------------------------------------

function progress(req: RunRequest, stage: 'runtime' | 'model' | 'inference' | 'render', message: string, fraction?: number): void {
  el('progress').hidden = false;
  el('progress-text').textContent = message;
  const bar = el('progress').querySelector<HTMLElement>('.bar')!;
  bar.classList.toggle('indeterminate', fraction === undefined);
  bar.style.width = fraction === undefined ? '' : `${Math.round(fraction * 100)}%`;
  document.body.dataset.state = 'running';
  channel.post({ type: 'run/progress', runId: req.runId, stage, message });
}

function showError(message: string | undefined): void {
  el('error').hidden = !message;
  el('error').textContent = message ?? '';
  if (message) {
    document.body.dataset.state = 'error';
    el('status').textContent = 'Failed';
  }
}

function mb(n: number): string {
  return `${(n / 1048576).toFixed(1)} MB`;
}
