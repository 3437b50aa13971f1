/**
 * Notifications about runs, as a subscriber of the registry: a cancellable progress notification
 * while a run is running, and an error with ways forward when it fails.
 */
import * as vscode from 'vscode';
import { Disposable } from '../disposable';
import { type ErrorAction, showError } from '../errorMessages';
import type { Run, RunRegistry } from './runRegistry';

/** Progress and failure notifications for every run. */
export class RunNotifications extends Disposable {
  /** Open progress notifications by run id. */
  private readonly open = new Map<number, { report(message: string): void; end(): void }>();
  /** Runs whose failure was already shown. */
  private readonly failed = new Set<number>();

  /** `actionFor` may offer one more way forward for a failed run's model (Re-download for a Hub download). */
  constructor(private readonly runs: RunRegistry, private readonly actionFor: (modelId: string) => ErrorAction | undefined = () => undefined) {
    super();
    this._register(runs.onDidAdd((run) => this.showProgress(run)));
    this._register(runs.onDidChange((run) => this.onChange(run)));
    this._register(runs.onDidRemove((run) => this.open.get(run.id)?.end()));
    this._register({ dispose: () => [...this.open.values()].forEach((p) => p.end()) });
  }

  private showProgress(run: Run): void {
    void vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Attention Lens: ${run.model.label}`, cancellable: true },
      (progress, token) =>
        new Promise<void>((resolve) => {
          const end = () => {
            this.open.delete(run.id);
            resolve();
          };
          this.open.set(run.id, { report: (message) => progress.report({ message }), end });
          token.onCancellationRequested(() => this.runs.cancel(run.id));
        }),
    );
  }

  private onChange(run: Run): void {
    const p = this.open.get(run.id);
    if (run.status === 'running') {
      if (run.progress) p?.report(run.progress);
      return;
    }
    p?.end();
    if (run.status === 'failed' && !this.failed.has(run.id)) {
      this.failed.add(run.id);
      showError(new Error(run.error), true, this.actionFor(run.model.id));
    }
  }
}
