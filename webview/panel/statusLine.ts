/** The panel's status: the notice, progress bar, error and status line, and the page's `data-state`. */
import { backendLabel } from '../../src/core/backend';
import { contributionBasisText } from '../../src/core/mechanism';
import { type PanelSnapshot, appliedContributions } from './snapshot';

/** The elements this module owns. */
export interface StatusElements {
  notice: HTMLElement;
  progress: HTMLElement;
  progressText: HTMLElement;
  error: HTMLElement;
  status: HTMLElement;
}

/** Shows `s`'s phase; `links` is the number of links the view drew. */
export function renderStatus(el: StatusElements, s: PanelSnapshot, links: number): void {
  const p = s.phase;
  const applied = s.run && appliedContributions(s, s.run.request.runId);
  const notice = [s.notice, s.weightingNote, applied ? `Links show ${contributionBasisText(applied.basis)}.` : ''].filter(Boolean).join(' ');
  el.notice.hidden = !notice;
  el.notice.textContent = notice;
  document.body.dataset.weighting = applied ? 'contribution' : 'attention';
  el.progress.hidden = p.name !== 'running';
  el.error.hidden = p.name !== 'error';
  el.error.textContent = p.name === 'error' ? p.message : '';
  if (p.name === 'running') {
    el.progressText.textContent = p.message;
    el.status.textContent = `${s.loading ?? 'Model'}: ${p.message || 'starting…'}`;
    const bar = el.progress.querySelector<HTMLElement>('.bar')!;
    bar.classList.toggle('indeterminate', p.fraction === undefined);
    bar.style.width = p.fraction === undefined ? '' : `${Math.round(p.fraction * 100)}%`;
  }
  if (p.name === 'error') el.status.textContent = 'Failed';
  if (p.name === 'ready' && s.run) {
    const { request, backend, millis, backendReason } = s.run;
    el.status.textContent = `${request.model.label} · ${backendLabel(backend, 'short')} · ${request.tokens.length} tokens · ${millis.toFixed(0)} ms · ${links} links`;
    el.status.title = backendReason ? `${backendLabel(backend)}: ${backendReason}` : '';
    document.body.dataset.backend = backend;
    if (s.layersPending) el.status.textContent += ` · the other layers arriving…`;
    if (s.computing) el.status.textContent = `Computing ${s.computing} from its queries and keys…`;
  }
  document.body.dataset.layersPending = String(s.layersPending);
  document.body.dataset.computing = s.computing ?? '';
  if (p.name !== 'idle') document.body.dataset.state = p.name;
}
