/**
 * The mechanism view: one head's attention for one query token, step by step. The query vector;
 * for every key its vector, the element-wise products q∘k (coloured by sign and size), their sum
 * q·k, the score after scale, mask and bias, the softmax weight, the value scaled by the weight,
 * and the key's contribution; then the head's output (Σ weight·v) and its share of the layer's
 * output. Keys are virtualised (only the rows in sight exist) and can be sorted by weight. Vectors
 * are colour strips; pointing at a cell shows its exact value. Text from the model is inert.
 */
import { cellTone, columnScales, headShare, keyOrder } from '../../src/core/figure/mechanismFigure';
import { type MechanismLayer, mechanismRow as vectorOf, queryRow } from '../../src/core/mechanism';
import { cssVar, parseColor, signHues } from '../theme';

/** What the view draws; `tokens` label the queries and keys of this attention. */
export interface MechanismViewState {
  layer: MechanismLayer;
  queryTokens: readonly string[];
  keyTokens: readonly string[];
  head: number;
  query: number;
  sort: 'position' | 'weight';
  /** The attention weights of this head and query, one per key (the head view's numbers). */
  weights: Float32Array;
  /** Said above the steps (e.g. that word merge does not apply here). */
  note?: string;
}

/** Choices made inside the view. */
export interface MechanismPick {
  head?: number;
  query?: number;
  sort?: MechanismViewState['sort'];
}

const ROW = 24;
const STRIP_CELL = 4;
const STRIP_MAX = 160;

/** Renders into `root`; reports choices through `onPick`. */
export class MechanismView {
  private readonly controls = document.createElement('div');
  private readonly summary = document.createElement('div');
  private readonly keysBox = document.createElement('div');
  private readonly spacer = document.createElement('div');
  private readonly footer = document.createElement('div');
  private state: MechanismViewState | undefined;
  private order: number[] = [];
  /** Largest |value| per column kind, so a colour means the same size in every row. */
  private scales = { k: 1, qk: 1, wv: 1 };
  private drawn = '';

  constructor(private readonly root: HTMLElement, private readonly onPick: (p: MechanismPick) => void) {
    this.controls.className = 'mech-controls';
    this.summary.className = 'mech-summary';
    this.keysBox.className = 'mech-keys';
    this.keysBox.tabIndex = 0;
    this.keysBox.setAttribute('role', 'table');
    this.keysBox.setAttribute('aria-label', 'Keys of this query: vector, products, score, weight, weighted value, contribution');
    this.spacer.className = 'mech-spacer';
    // The column names stay in sight while the keys scroll, and move with them sideways.
    this.keysBox.append(header(), this.spacer);
    this.footer.className = 'mech-footer';
    this.keysBox.addEventListener('scroll', () => this.drawRows());
    root.replaceChildren(this.controls, this.summary, this.keysBox, this.footer);
  }

  /** A message instead of the view (computing, or why there is no mechanism). */
  message(text: string, busy: boolean): void {
    this.state = undefined;
    this.root.dataset.state = busy ? 'computing' : 'unavailable';
    this.controls.replaceChildren();
    this.summary.textContent = text;
    this.spacer.replaceChildren();
    this.spacer.style.height = '0';
    this.footer.replaceChildren();
  }

  /** What the view shows, for an exported figure. */
  get shown(): MechanismViewState | undefined {
    return this.state;
  }

  render(s: MechanismViewState): void {
    this.state = s;
    const m = s.layer;
    const h = s.head;
    this.root.dataset.state = 'ready';
    this.root.dataset.layer = m.name;
    this.root.dataset.head = String(h);
    this.root.dataset.query = String(s.query);
    this.renderControls(s);

    const q = vectorOf(m.q, m.queries, m.headDim, h, queryRow(m, s.query));
    // The same order and colour scales as the exported figure (src/core/figure/mechanismFigure.ts).
    this.order = keyOrder(s.weights, s.sort);
    this.scales = columnScales(m, h, s.query, s.weights);
    // Columns as wide as the strips they hold.
    this.root.style.setProperty('--mech-k', `${stripWidth(m.headDim)}px`);
    this.root.style.setProperty('--mech-v', `${stripWidth(m.valueDim)}px`);

    const scale = m.scale === null ? 'a factor that is not a constant of the graph' : `${fmt(m.scale)}${Math.abs(m.scale * Math.sqrt(m.headDim) - 1) < 1e-4 ? ` = 1/√${m.headDim}` : ''}`;
    const steps = [
      `Query "${s.queryTokens[s.query] ?? s.query}" (#${s.query}), head ${h + 1} of ${m.name}: ${m.headDim} dimensions.`,
      `score = ${scale} × q·k${m.shaped ? ', then soft-capped' : ''}, plus the mask and any position bias; weight = softmax(score) over the keys; output = Σ weight × v.`,
    ];
    if (s.note) steps.unshift(s.note);
    this.summary.replaceChildren(
      ...steps.map((t) => Object.assign(document.createElement('p'), { textContent: t })),
      labelled('q', strip(q, maxAbs(q), 'q')),
    );

    this.spacer.style.height = `${m.keys * ROW}px`;
    this.drawn = '';
    this.drawRows();

    const out = vectorOf(m.output, m.queries, m.valueDim, h, queryRow(m, s.query));
    const share = headShare(m, h, s.query);
    const basis = m.contributionBasis === 'output-projection' ? '‖α·v·W_Oʰ‖, through the output projection' : '‖α·v‖ (the output projection was not found in the graph)';
    this.footer.replaceChildren(
      labelled('output = Σ weight × v', strip(out, maxAbs(out), 'output')),
      Object.assign(document.createElement('p'), { textContent: `This head's share of the layer's output for this token: ${(share * 100).toFixed(1)} % (${m.contributionBasis === 'output-projection' ? '‖o·W_Oʰ‖' : '‖o‖'} over all ${m.heads} heads). Contribution column: ${basis}.` }),
    );
  }

  private renderControls(s: MechanismViewState): void {
    const head = select('Head', Array.from({ length: s.layer.heads }, (_, h) => [String(h), String(h + 1)]), String(s.head), (v) => this.onPick({ head: Number(v) }));
    const query = select('Query', s.queryTokens.map((t, i) => [String(i), `${i} ${t}`]), String(s.query), (v) => this.onPick({ query: Number(v) }));
    const sort = select('Keys by', [['position', 'position'], ['weight', 'weight']], s.sort, (v) => this.onPick({ sort: v as MechanismViewState['sort'] }));
    head.select.id = 'mech-head';
    query.select.id = 'mech-query';
    sort.select.id = 'mech-sort';
    this.controls.replaceChildren(head.label, query.label, sort.label);
  }

  /** Creates the rows in sight (and a few around them); others do not exist. */
  private drawRows(): void {
    const s = this.state;
    if (!s) return;
    const m = s.layer;
    const top = this.keysBox.scrollTop;
    const height = this.keysBox.clientHeight || 400;
    const first = Math.max(0, Math.floor(top / ROW) - 5);
    const last = Math.min(m.keys, Math.ceil((top + height) / ROW) + 5);
    const key = `${first}:${last}`;
    if (key === this.drawn) return;
    this.drawn = key;
    const h = s.head;
    const q = vectorOf(m.q, m.queries, m.headDim, h, queryRow(m, s.query));
    const rows: HTMLElement[] = [];
    for (let r = first; r < last; r++) {
      const j = this.order[r];
      const kv = vectorOf(m.k, m.keys, m.headDim, h, j);
      const v = vectorOf(m.v, m.keys, m.valueDim, h, j);
      const prod = kv.map((x, d) => x * q[d]);
      const dot = prod.reduce((a, b) => a + b, 0);
      const score = m.scores[(h * m.queries + queryRow(m, s.query)) * m.keys + j];
      const weight = s.weights[j];
      const row = document.createElement('div');
      row.className = 'mech-row';
      row.setAttribute('role', 'row');
      row.style.top = `${r * ROW}px`;
      row.dataset.key = String(j);
      row.dataset.weight = String(weight);
      const masked = Number.isNaN(score);
      row.classList.toggle('masked', masked);
      row.append(
        cell('mech-token', `${j} ${s.keyTokens[j] ?? ''}`),
        strip(kv, this.scales.k, 'k'),
        strip(prod, this.scales.qk, 'q∘k'),
        cell('mech-num', fmt(dot)),
        cell('mech-num', masked ? 'masked' : fmt(score)),
        weightCell(weight),
        strip(v.map((x) => x * weight), this.scales.wv, 'weight × v'),
        cell('mech-num', fmt(m.contribution[(h * m.queries + queryRow(m, s.query)) * m.keys + j])),
      );
      rows.push(row);
    }
    this.spacer.replaceChildren(...rows);
  }
}


function maxAbs(a: Float32Array): number {
  let m = 0;
  for (const x of a) m = Math.max(m, Math.abs(x));
  return m || 1;
}

function fmt(x: number): string {
  return Math.abs(x) >= 1000 || (x !== 0 && Math.abs(x) < 1e-3) ? x.toExponential(2) : x.toFixed(4);
}

function cell(className: string, text: string): HTMLElement {
  const c = document.createElement('span');
  c.className = className;
  c.setAttribute('role', 'cell');
  c.textContent = text;
  return c;
}

function weightCell(w: number): HTMLElement {
  const c = cell('mech-weight', w.toFixed(4));
  c.style.setProperty('--w', String(Math.max(0, Math.min(1, w))));
  return c;
}

function header(): HTMLElement {
  const row = document.createElement('div');
  row.className = 'mech-row mech-head';
  row.setAttribute('role', 'row');
  for (const [cls, t] of [['mech-token', 'key'], ['', 'k'], ['', 'q∘k'], ['mech-num', 'q·k'], ['mech-num', 'score'], ['mech-num', 'weight'], ['', 'weight × v'], ['mech-num', 'contribution']]) {
    const c = cell(cls, t);
    c.setAttribute('role', 'columnheader');
    row.appendChild(c);
  }
  return row;
}

function labelled(label: string, content: HTMLElement): HTMLElement {
  const p = document.createElement('div');
  p.className = 'mech-vector';
  p.append(Object.assign(document.createElement('span'), { textContent: label }), content);
  return p;
}

function select(label: string, items: Array<[string, string]>, value: string, onChange: (v: string) => void): { label: HTMLLabelElement; select: HTMLSelectElement } {
  const l = document.createElement('label');
  const s = document.createElement('select');
  s.replaceChildren(...items.map(([v, t]) => Object.assign(document.createElement('option'), { value: v, textContent: t })));
  s.value = value;
  s.onchange = () => onChange(s.value);
  l.append(`${label} `, s);
  return { label: l, select: s };
}

/**
 * A vector as a row of cells on a canvas: blue for positive, red for negative, stronger for larger
 * |value| relative to `scale`. The exact value of the cell under the pointer is its tooltip.
 */
function cellWidthFor(n: number): number {
  return Math.max(1, Math.min(STRIP_CELL, Math.floor(STRIP_MAX / Math.max(1, n))));
}

function stripWidth(n: number): number {
  return n * cellWidthFor(n);
}

function strip(values: Float32Array, scale: number, what: string): HTMLElement {
  const cellWidth = cellWidthFor(values.length);
  const canvas = document.createElement('canvas');
  canvas.className = 'mech-strip';
  canvas.setAttribute('role', 'cell');
  const dpr = window.devicePixelRatio || 1;
  canvas.width = Math.round(values.length * cellWidth * dpr);
  canvas.height = Math.round(12 * dpr);
  canvas.style.width = `${values.length * cellWidth}px`;
  canvas.style.height = '12px';
  const ctx = canvas.getContext('2d');
  if (ctx) {
    const pos = parseColor(signHues().positive);
    const neg = parseColor(signHues().negative);
    values.forEach((x, d) => {
      const tone = cellTone(x, scale);
      const [r, g, b] = tone.positive ? pos : neg;
      ctx.fillStyle = `rgba(${r}, ${g}, ${b}, ${tone.alpha.toFixed(3)})`;
      ctx.fillRect(Math.round(d * cellWidth * dpr), 0, Math.ceil(cellWidth * dpr), canvas.height);
    });
  }
  canvas.title = `${what}: ${values.length} values`;
  canvas.addEventListener('mousemove', (e) => {
    const d = Math.min(values.length - 1, Math.max(0, Math.floor(e.offsetX / cellWidth)));
    canvas.title = `${what}[${d}] = ${values[d]}`;
  });
  canvas.setAttribute('aria-label', `${what}: ${values.length} values, largest |value| ${maxAbs(values).toFixed(3)}`);
  return canvas;
}
