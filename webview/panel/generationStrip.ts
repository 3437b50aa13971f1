/**
 * The generation strip above the views: the tokens a generation made, as they arrive, with Stop;
 * once the whole sequence is shown, a step slider (and ←/→ on the strip) that shows the row of the
 * query that chose each token, what it nearly chose, and Insert / Copy. Every model- or
 * document-provided text goes in as `textContent`.
 */
import type { GeneratedStep, GenerationRecord } from '../../src/core/protocol/panel';
import { tokenLabel } from '../../src/core/tokens';

/** The strip's elements (written by the page shell). */
export interface StripElements {
  root: HTMLElement;
  status: HTMLElement;
  tokens: HTMLElement;
  slider: HTMLInputElement;
  detail: HTMLElement;
  /** The steps as text: each token, its probability and rank, and the alternatives. */
  list: HTMLOListElement;
  stop: HTMLButtonElement;
  insert: HTMLButtonElement;
  copy: HTMLButtonElement;
}

/** What the strip asks of the page. */
export interface StripActions {
  stop(): void;
  /** Show step `step`'s query row (the sequence is on screen). */
  select(step: GeneratedStep): void;
  use(how: 'insert' | 'copy'): void;
}

/** "·Paris p 0.812 · also likely: ·London 0.051, ·Rome 0.020" (with the rank when the token was not the most probable). */
function stepText(s: GeneratedStep): string {
  const others = s.top.filter((t) => t.id !== s.token.id).slice(0, 4).map((t) => `${tokenLabel(t)} ${t.probability.toFixed(3)}`);
  return `${tokenLabel(s.token)} p ${s.probability.toFixed(3)}${s.rank > 1 ? ` (rank ${s.rank}, sampled)` : ''}${others.length ? ` · also likely: ${others.join(', ')}` : ''}`;
}

function listItem(s: GeneratedStep): HTMLLIElement {
  return Object.assign(document.createElement('li'), { textContent: stepText(s) });
}

const WHY: Record<GenerationRecord['stop'], string> = {
  eos: 'ended at the end-of-sequence token',
  max: 'reached the maximum number of new tokens',
  stopped: 'stopped',
};

/** One generation's strip: live while generating, then a replay of its steps. */
export class GenerationStrip {
  private steps: GeneratedStep[] = [];
  private chips: HTMLButtonElement[] = [];
  private selected = -1;
  private live = false;
  private max = 0;

  constructor(private readonly el: StripElements, private readonly actions: StripActions) {
    el.stop.onclick = () => actions.stop();
    el.insert.onclick = () => actions.use('insert');
    el.copy.onclick = () => actions.use('copy');
    el.slider.oninput = () => this.select(Number(el.slider.value) - 1);
    el.tokens.addEventListener('keydown', (e) => {
      const to = e.key === 'ArrowRight' ? this.selected + 1 : e.key === 'ArrowLeft' ? this.selected - 1 : e.key === 'Home' ? 0 : e.key === 'End' ? this.steps.length - 1 : undefined;
      if (to === undefined || this.live) return;
      e.preventDefault();
      this.select(to);
    });
  }

  /** A generation started: an empty strip with Stop. */
  begin(maxNewTokens: number): void {
    this.reset(true);
    this.max = maxNewTokens;
    this.el.status.textContent = `Generating up to ${maxNewTokens} tokens…`;
  }

  /** A step's texts arrived (in order, while generating). */
  add(step: GeneratedStep): void {
    if (!this.live) return;
    this.steps[step.step] = step;
    this.chips[step.step] = this.chip(step);
    this.el.tokens.append(this.chips[step.step]);
    this.el.list.append(listItem(step));
    this.el.status.textContent = `Generating: ${this.steps.length} of up to ${this.max} tokens… (the picture of the whole sequence follows)`;
  }

  /** The generation ended without a sequence to show (it failed): the strip keeps what was made. */
  end(message: string): void {
    if (!this.live) return;
    this.live = false;
    this.el.stop.hidden = true;
    this.el.status.textContent = message;
  }

  /** The run on screen is a generation's whole sequence: the steps to replay (none: no strip). */
  show(g: GenerationRecord | undefined): void {
    if (!g) {
      this.reset(false);
      this.el.root.hidden = true;
      return;
    }
    this.reset(false);
    this.steps = g.steps;
    this.chips = g.steps.map((s) => this.chip(s));
    this.el.tokens.replaceChildren(...this.chips);
    this.el.list.replaceChildren(...g.steps.map(listItem));
    this.el.status.textContent = `${g.steps.length} generated token${g.steps.length === 1 ? '' : 's'} (${WHY[g.stop]}). Choose a token to see what the model looked at when it chose it.`;
    this.el.slider.hidden = g.steps.length === 0;
    this.el.slider.max = String(g.steps.length);
    this.el.insert.hidden = this.el.copy.hidden = g.output.length === 0;
  }

  /** Shows step `i` (clamped): its chip, the slider, the detail line, and its row in the views. */
  select(i: number): void {
    if (this.live || this.steps.length === 0) return;
    const at = Math.max(0, Math.min(this.steps.length - 1, i));
    this.chips[this.selected]?.setAttribute('aria-selected', 'false');
    this.selected = at;
    const chip = this.chips[at];
    chip.setAttribute('aria-selected', 'true');
    chip.scrollIntoView({ block: 'nearest', inline: 'nearest' });
    this.el.tokens.setAttribute('aria-activedescendant', chip.id);
    this.el.slider.value = String(at + 1);
    const s = this.steps[at];
    this.el.detail.textContent = `Step ${at + 1} of ${this.steps.length}: ${stepText(s)}. The views show the row of the query that chose it (position ${s.query + 1}).`;
    this.actions.select(s);
  }

  /** The step selected, or -1. */
  get selectedStep(): number {
    return this.selected;
  }

  private reset(live: boolean): void {
    this.live = live;
    this.steps = [];
    this.chips = [];
    this.selected = -1;
    this.el.root.hidden = false;
    this.el.tokens.replaceChildren();
    this.el.list.replaceChildren();
    this.el.tokens.removeAttribute('aria-activedescendant');
    this.el.detail.textContent = '';
    this.el.stop.hidden = !live;
    this.el.insert.hidden = this.el.copy.hidden = true;
    this.el.slider.hidden = true;
    this.el.slider.min = '1';
    this.el.slider.value = '1';
  }

  /** A token's chip: its label, shaded by its probability; the alternatives in its title. */
  private chip(s: GeneratedStep): HTMLButtonElement {
    const b = document.createElement('button');
    b.className = 'gen-token';
    b.id = `gen-step-${s.step}`;
    b.tabIndex = -1;
    b.setAttribute('role', 'option');
    b.setAttribute('aria-selected', 'false');
    b.textContent = tokenLabel(s.token);
    b.style.setProperty('--p', String(s.probability));
    b.dataset.step = String(s.step);
    b.title = [`${tokenLabel(s.token)}: p ${s.probability.toFixed(3)}, rank ${s.rank}`, ...s.top.map((t) => `${t.id === s.token.id ? '▸' : ' '} ${tokenLabel(t)}  ${t.probability.toFixed(3)}`)].join('\n');
    b.onclick = () => {
      this.select(s.step);
      this.el.tokens.focus();
    };
    return b;
  }
}
