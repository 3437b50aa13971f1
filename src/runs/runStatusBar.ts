/** The status bar item: a small subscriber of the runs registry showing the latest run's backend and time. */
import * as vscode from 'vscode';
import { Disposable } from '../disposable';
import { backendLabel } from '../core/backend';
import { describeTimings } from '../core/timing';
import type { Run, RunRegistry } from './runRegistry';

/** Shows the latest run; hidden when no run is held. */
export class RunStatusBar extends Disposable {
  private readonly item = this._register(vscode.window.createStatusBarItem('attentionLens.status', vscode.StatusBarAlignment.Right, 100));

  constructor(private readonly runs: RunRegistry) {
    super();
    this.item.name = 'Attention Lens';
    this.item.command = 'attentionLens.showAttention';
    this._register(runs.onDidAdd((run) => this.show(run)));
    this._register(runs.onDidChange((run) => this.show(run)));
    this._register(runs.onDidRemove(() => {
      if (!runs.latest) this.item.hide();
    }));
  }

  private show(run: Run): void {
    if (run.id !== this.runs.latest?.id) return;
    if (run.status === 'running') {
      this.item.text = '$(loading~spin) Attention Lens';
      this.item.tooltip = `Running ${run.model.label}…`;
    } else if (run.status === 'done' && run.backend && run.millis !== undefined) {
      this.item.text = `$(eye) ${backendLabel(run.backend, 'short')} · ${Math.round(run.millis)} ms`;
      const lines = [
        `Attention Lens: last run on ${backendLabel(run.backend)}, inference ${run.millis.toFixed(1)} ms.`,
        run.backendReason ? `Backend: ${run.backendReason}.` : '',
        run.timings ? `${describeTimings(run.timings)}.` : '',
        'Click to inspect the selection.',
      ];
      this.item.tooltip = lines.filter(Boolean).join('\n');
    } else if (run.status === 'failed') {
      this.item.text = '$(error) Attention Lens';
      this.item.tooltip = run.error;
    } else return;
    this.item.show();
  }
}
