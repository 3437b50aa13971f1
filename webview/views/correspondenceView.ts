/**
 * The head correspondence of a comparison: every head of A (rows) against every head of B
 * (columns), coloured by Jensen-Shannon distance (strong where the patterns agree), each row's
 * best match outlined, and the best matches listed. Click a cell or a list entry, or press Enter
 * on the focused cell, to see that pair side by side.
 */
import { addCanvas } from '../canvas';
import { bestMatches } from '../../src/core/analysis/compare';
import {
  CORRESPONDENCE_AXIS as AXIS, CORRESPONDENCE_CELL as CELL, CORRESPONDENCE_FONT_PX as FONT_PX, type CorrespondenceInput,
  axisCaptions, correspondenceAlpha, correspondenceSize, distanceText,
} from '../../src/core/figure/correspondenceFigure';
import { cssVar, editorFont, parseColor, signHues } from '../theme';

/** What the view draws. */
export type CorrespondenceState = CorrespondenceInput;

/** Canvas matrix of head distances with a list of best matches. */
export class CorrespondenceView {
  private readonly canvas: HTMLCanvasElement;
  private readonly list: HTMLOListElement;
  private state: CorrespondenceState | undefined;
  private focus = { a: 0, b: 0 };

  constructor(private readonly host: HTMLElement, private readonly onPick: (headA: number, headB: number) => void) {
    this.canvas = addCanvas(host, 'correspondence-matrix');
    this.list = document.createElement('ol');
    this.list.className = 'matches';
    host.append(this.list);
    this.canvas.addEventListener('mousemove', (e) => {
      const cell = this.cellAt(e);
      this.canvas.title = cell && this.state ? `A head ${cell.a + 1} ↔ B head ${cell.b + 1}: Jensen-Shannon distance ${this.state.distances[cell.a * this.state.headsB + cell.b].toFixed(3)}` : '';
    });
    this.canvas.addEventListener('click', (e) => {
      const cell = this.cellAt(e);
      if (cell) this.onPick(cell.a, cell.b);
    });
    host.addEventListener('keydown', (e) => {
      const s = this.state;
      if (!s) return;
      const moves: Record<string, () => void> = {
        ArrowUp: () => (this.focus.a = Math.max(0, this.focus.a - 1)),
        ArrowDown: () => (this.focus.a = Math.min(s.headsA - 1, this.focus.a + 1)),
        ArrowLeft: () => (this.focus.b = Math.max(0, this.focus.b - 1)),
        ArrowRight: () => (this.focus.b = Math.min(s.headsB - 1, this.focus.b + 1)),
        Enter: () => this.onPick(this.focus.a, this.focus.b),
      };
      if (!Object.hasOwn(moves, e.key)) return;
      e.preventDefault();
      moves[e.key]();
      this.render(s);
    });
  }

  /** What the view shows, for export. */
  get shown(): CorrespondenceState | undefined {
    return this.state;
  }

  /** A line in place of the matrix (while it is computed). */
  message(text: string): void {
    this.state = undefined;
    this.canvas.width = this.canvas.height = 0;
    Object.assign(this.canvas.style, { width: '0px', height: '0px' });
    const li = document.createElement('li');
    li.textContent = text;
    li.className = 'note';
    this.list.replaceChildren(li);
    delete this.host.dataset.bestMatches;
  }

  render(s: CorrespondenceState): void {
    this.state = s;
    this.focus = { a: Math.min(this.focus.a, s.headsA - 1), b: Math.min(this.focus.b, s.headsB - 1) };
    const dpr = window.devicePixelRatio || 1;
    const { width, height } = correspondenceSize(s);
    Object.assign(this.canvas, { width: Math.round(width * dpr), height: Math.round(height * dpr) });
    Object.assign(this.canvas.style, { width: `${width}px`, height: `${height}px` });
    const ctx = this.canvas.getContext('2d')!;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const [r, g, b] = parseColor(signHues().positive);
    const fg = cssVar('--vscode-editor-foreground', '#cccccc');
    const best = bestMatches(s.distances, s.headsA, s.headsB);
    ctx.font = editorFont(FONT_PX);
    ctx.textAlign = 'center';
    ctx.textBaseline = 'middle';
    for (let a = 0; a < s.headsA; a++) {
      for (let hb = 0; hb < s.headsB; hb++) {
        const d = s.distances[a * s.headsB + hb];
        const x = AXIS + hb * CELL, y = AXIS + a * CELL;
        ctx.fillStyle = `rgba(${r}, ${g}, ${b}, ${correspondenceAlpha(d).toFixed(3)})`;
        ctx.fillRect(x + 1, y + 1, CELL - 2, CELL - 2);
        ctx.fillStyle = fg;
        ctx.fillText(distanceText(d), x + CELL / 2, y + CELL / 2);
      }
      const m = best[a].head;
      ctx.strokeStyle = fg;
      ctx.lineWidth = 2;
      ctx.strokeRect(AXIS + m * CELL + 1, AXIS + a * CELL + 1, CELL - 2, CELL - 2);
    }
    ctx.strokeStyle = cssVar('--vscode-focusBorder', '#007fd4');
    ctx.setLineDash([3, 2]);
    ctx.strokeRect(AXIS + this.focus.b * CELL, AXIS + this.focus.a * CELL, CELL, CELL);
    ctx.setLineDash([]);
    ctx.fillStyle = fg;
    for (let hb = 0; hb < s.headsB; hb++) ctx.fillText(String(hb + 1), AXIS + hb * CELL + CELL / 2, AXIS - 10);
    for (let a = 0; a < s.headsA; a++) ctx.fillText(String(a + 1), AXIS - 12, AXIS + a * CELL + CELL / 2);
    ctx.textAlign = 'left';
    const captions = axisCaptions(s);
    ctx.fillText(captions.b, AXIS, 10);
    ctx.save();
    ctx.translate(10, AXIS);
    ctx.rotate(Math.PI / 2);
    ctx.fillText(captions.a, 0, 0);
    ctx.restore();
    this.list.replaceChildren(...best.map((m, a) => {
      const li = document.createElement('li');
      li.textContent = `A head ${a + 1} ~ B head ${m.head + 1} (JS ${m.distance.toFixed(3)})`;
      li.title = 'Show this pair side by side';
      li.onclick = () => this.onPick(a, m.head);
      return li;
    }));
    this.host.dataset.bestMatches = best.map((m) => m.head).join(',');
  }

  private cellAt(e: MouseEvent): { a: number; b: number } | undefined {
    const s = this.state;
    if (!s) return undefined;
    const rect = this.canvas.getBoundingClientRect();
    const hb = Math.floor((e.clientX - rect.left - AXIS) / CELL), a = Math.floor((e.clientY - rect.top - AXIS) / CELL);
    return a >= 0 && a < s.headsA && hb >= 0 && hb < s.headsB ? { a, b: hb } : undefined;
  }
}
