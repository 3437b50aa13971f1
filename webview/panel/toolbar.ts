/** The panel toolbar: the layer selector and the head buttons, wired to the state's actions. */
import { headColor } from '../../src/core/palette';
import type { PanelState } from './state';

/** Builds the controls for a new run and restyles them when the selection changes. */
export class Toolbar {
  constructor(private readonly select: HTMLSelectElement, private readonly heads: HTMLElement, private readonly state: PanelState) {
    select.onchange = () => state.selectRecord(Number(select.value));
  }

  /** New run: one option per record, one button per head. */
  rebuild(): void {
    const s = this.state.snapshot;
    this.select.replaceChildren(...(s.run?.records ?? []).map((r, i) => {
      const o = document.createElement('option');
      o.value = String(i);
      o.textContent = r.label;
      return o;
    }));
    this.heads.replaceChildren(...s.visibleHeads.map((_, h) => {
      const b = document.createElement('button');
      b.className = 'head';
      b.textContent = String(h + 1);
      b.title = `Head ${h + 1}: click to show or hide, double-click (or Shift+click) to show only this head`;
      b.style.setProperty('--head-color', headColor(h));
      b.onclick = (e) => (e.shiftKey ? this.state.soloHead(h) : this.state.toggleHead(h));
      b.ondblclick = () => this.state.soloHead(h);
      return b;
    }));
    this.update();
  }

  /** Selection changed: the chosen record and which heads are pressed. */
  update(): void {
    const s = this.state.snapshot;
    this.select.value = String(s.recordIndex);
    this.heads.querySelectorAll<HTMLButtonElement>('button.head').forEach((b, h) => {
      b.setAttribute('aria-pressed', String(s.visibleHeads[h]));
      b.classList.toggle('off', !s.visibleHeads[h]);
    });
  }
}
