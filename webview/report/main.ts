/**
 * The standalone HTML report's page: reads the run from `#report-data`, then draws the head view
 * (an image model's run: the image view, a heat map of the patch or word under the pointer) and
 * the matrix of the chosen layer and heads (click a head to show or hide it, double-click to
 * show only it; hover a token for its strongest partners), every head as a thumbnail grid (click
 * one to show it), and the head statistics with their labels. Everything it needs is in the file;
 * it makes no request. Text from the model or the document is only ever set as text.
 */
import { type AttentionLayer, type AttentionRecord, recordOfLayer } from '../../src/core/attention';
import { headLabels } from '../../src/core/analysis/headLabels';
import { STAT_NAMES, allHeadStats } from '../../src/core/analysis/headStats';
import { THUMBNAIL_SIZE, patchMap, thumbnail } from '../../src/core/analysis/headGrid';
import { type TokenTarget, tokenFocus } from '../../src/core/analysis/tokenFocus';
import { categoriesFor } from '../../src/core/analysis/transform';
import type { ReportData } from '../../src/core/export/htmlReport';
import { headColor } from '../../src/core/palette';
import { tokenLabel } from '../../src/core/tokens';
import { HeadView } from '../views/headView';
import { ImageView } from '../views/imageView';
import { MatrixView } from '../views/matrixView';

/** Links per query on long inputs, as the panel's default. */
const MAX_LINKS = 12;

function bytesOf(base64: string): Uint8Array {
  const binary = atob(base64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
const decode = (base64: string) => new Float32Array(bytesOf(base64).buffer);

function make<K extends keyof HTMLElementTagNameMap>(tag: K, props: Partial<HTMLElementTagNameMap[K]> = {}, ...children: Array<Node | string>): HTMLElementTagNameMap[K] {
  const e = Object.assign(document.createElement(tag), props);
  e.append(...children);
  return e;
}

const data = JSON.parse(document.getElementById('report-data')!.textContent!) as ReportData;
const layers: AttentionLayer[] = data.layers.map((l) => ({ ...l, data: decode(l.data) }));
const records: AttentionRecord[] = layers.map((l) => recordOfLayer(l, { tokens: data.tokens, decoderTokens: data.decoderTokens, causal: data.causal }));

const state = { record: 0, visible: records[0] ? Array<boolean>(records[0].heads).fill(true) : [], hover: null as TokenTarget | null };

// Header: title, what and when, the text.
document.body.append(
  make('h1', { textContent: data.title }),
  make('p', { className: 'meta', textContent: `${data.model} · ${data.tokens.length} tokens · ${records.length} attention outputs · made ${data.created.slice(0, 16).replace('T', ' ')} by Attention Lens` }),
  make('div', { className: 'text', textContent: data.image ? `${data.image.name} (${data.image.width} × ${data.image.height})` : data.text }),
);

// Controls and the two views.
const layerSelect = make('select', { ariaLabel: 'Layer' }, ...records.map((r, i) => make('option', { value: String(i), textContent: r.label })));
const heads = make('div', { className: 'heads', role: 'group', ariaLabel: 'Heads' });
document.body.append(make('div', { className: 'controls' }, make('label', {}, 'Attention ', layerSelect), heads));
const headPane = data.image
  ? make('div', { id: 'image-view', className: 'view', ariaLabel: 'Image: the heat map of the patch or word under the pointer' })
  : make('div', { id: 'view', className: 'view', tabIndex: 0, ariaLabel: 'Head view: queries left, keys right' });
const matrixPane = make('div', { id: 'matrix', className: 'view', ariaLabel: 'Matrix: queries down, keys across' });
document.body.append(make('div', { className: 'panes' }, headPane, matrixPane));
const tooltip = make('div', { className: 'tooltip', hidden: true, role: 'tooltip' });
document.body.append(tooltip);
const hover = (t: TokenTarget | null) => {
  state.hover = t;
  update();
};
// An image's run draws the image with its heat map where a text's draws the head view.
const headView = data.image ? new ImageView(headPane, hover) : new HeadView(headPane, hover);
if (data.image) void (headView as ImageView).setImage(bytesOf(data.image.data), data.image.mime, data.image.width, data.image.height);
const matrixView = new MatrixView(matrixPane, hover);

// Every head as a thumbnail, and the statistics.
const gridBox = make('div', { className: 'grid' });
const stats = allHeadStats(records, categoriesFor({ tokens: data.tokens, text: data.text, decoderTokens: data.decoderTokens }));
const statsTable = make('table', { className: 'stats' });
document.body.append(make('h2', { textContent: 'Every head' }), gridBox, make('h2', { textContent: 'Head statistics' }), statsTable);

function shown(): number[] {
  return state.visible.flatMap((v, h) => (v ? [h] : []));
}

function viewState() {
  const record = records[state.record];
  return { record, visibleHeads: state.visible, maxLinksPerQuery: MAX_LINKS, hover: state.hover };
}

function render(): void {
  const record = records[state.record];
  if (!record) return;
  layerSelect.value = String(state.record);
  heads.replaceChildren(...state.visible.map((v, h) => {
    const b = make('button', { className: `head${v ? '' : ' off'}`, textContent: String(h + 1), title: `Head ${h + 1}: click to show or hide, double-click to show only this head` });
    b.style.setProperty('--head-color', headColor(h));
    b.setAttribute('aria-pressed', String(v));
    b.onclick = () => {
      state.visible = state.visible.map((x, i) => (i === h ? !x : x));
      render();
    };
    b.ondblclick = () => {
      state.visible = state.visible.map((_, i) => i === h);
      render();
    };
    return b;
  }));
  headView.render(viewState());
  matrixView.render(viewState());
  for (const c of gridBox.querySelectorAll('canvas')) c.classList.toggle('selected', Number(c.dataset.record) === state.record && state.visible[Number(c.dataset.head)] && shown().length === 1);
}

function update(): void {
  const record = records[state.record];
  headView.update(viewState());
  matrixView.update(viewState());
  const focus = state.hover ? tokenFocus(record, shown(), state.hover) : undefined;
  tooltip.hidden = !focus;
  if (focus && state.hover) {
    tooltip.textContent = `${tokenLabel(focus.token)} ${focus.relation}\n${focus.partners.map((p) => `${tokenLabel(p.token).padEnd(12)} ${p.weight.toFixed(3)}`).join('\n')}`;
    const r = headView.labelRect(state.hover);
    tooltip.style.left = `${Math.min(window.innerWidth - 260, r.right + 8)}px`;
    tooltip.style.top = `${Math.max(4, r.top)}px`;
  }
}

layerSelect.onchange = () => {
  state.record = Number(layerSelect.value);
  state.visible = Array<boolean>(records[state.record].heads).fill(true);
  state.hover = null;
  render();
};

// The grid: one row per attention output, one thumbnail per head (max-pooled, so no link disappears).
const size = Math.min(THUMBNAIL_SIZE, Math.max(...records.map((r) => Math.max(r.queries, r.keys))));
const most = Math.max(0, ...records.map((r) => r.heads));
gridBox.style.gridTemplateColumns = `10em repeat(${most}, 50px)`;
records.forEach((r, i) => {
  gridBox.append(make('span', { className: 'row-label', textContent: r.label }));
  for (let h = 0; h < most; h++) {
    if (h >= r.heads) {
      gridBox.append(make('span'));
      continue;
    }
    const canvas = make('canvas', { width: size, height: size, title: `${r.label} head ${h + 1}: ${headLabels(stats[i][h]).map((l) => l.label).join(', ') || 'no label'}` });
    canvas.dataset.record = String(i);
    canvas.dataset.head = String(h);
    const ctx = canvas.getContext('2d')!;
    // An image's heads are maps of the image where their keys are patches, as in the head explorer.
    const pixels = (data.image && patchMap(r, h, size)) || thumbnail(r, h, size);
    const img = ctx.createImageData(size, size);
    for (let p = 0; p < pixels.length; p++) {
      img.data.set([209, 134, 22, pixels[p]], p * 4);
    }
    ctx.putImageData(img, 0, 0);
    canvas.onclick = () => {
      state.record = i;
      state.visible = Array.from({ length: r.heads }, (_, x) => x === h);
      render();
    };
    gridBox.append(canvas);
  }
});

// The statistics table: one row per head.
statsTable.append(make('tr', {}, ...['layer', 'head', ...STAT_NAMES, 'labels'].map((c) => make('th', { textContent: c }))));
records.forEach((r, i) => stats[i].forEach((s, h) => {
  const cells = STAT_NAMES.map((n) => (s[n] === null ? '–' : s[n]!.toFixed(n === 'distance' ? 1 : 2)));
  statsTable.append(make('tr', {}, ...[r.label, String(h + 1), ...cells, headLabels(s).map((l) => l.label).join(', ')].map((t) => make('td', { textContent: t }))));
}));

render();
document.body.dataset.state = 'ready';
