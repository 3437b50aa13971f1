/**
 * When a run's progress notification shows (RunNotifications draws it): only for a run still
 * running `afterMs` after it was added. A quicker one shows none: a toast that came and went within
 * a warm run (tens of ms) only flickered, and drew on the window while the panel drew the picture;
 * the panel shows every run's progress. No vscode here: the timers are tested alone.
 */
import type { Run, RunRegistry } from './runRegistry';

export class LateProgress {
  /** Runs whose notification is still to come, by id. */
  private readonly later = new Map<number, ReturnType<typeof setTimeout>>();

  constructor(private readonly runs: RunRegistry, private readonly afterMs: number, private readonly show: (run: Run) => void) {}

  /** A run was added: its notification shows in `afterMs` if it is still running then. */
  added(run: Run): void {
    this.ended(run.id);
    this.later.set(run.id, setTimeout(() => {
      this.later.delete(run.id);
      const now = this.runs.get(run.id);
      if (now?.status === 'running') this.show(now);
    }, this.afterMs));
  }

  /** A run ended or was removed: no notification to come. */
  ended(id: number): void {
    clearTimeout(this.later.get(id));
    this.later.delete(id);
  }

  dispose(): void {
    for (const id of [...this.later.keys()]) this.ended(id);
  }
}
