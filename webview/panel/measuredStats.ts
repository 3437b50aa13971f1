/**
 * The head statistics measured apart from the input, added to the grid on screen once it is
 * there: the induction scores of the run's model (its probe run once per model, on the run's
 * session) and, for a generation, the retrieval scores of its steps. No DOM.
 */
import { type HeadGrid, withStatistic } from '../../src/core/analysis/headGrid';
import type { StatName } from '../../src/core/analysis/headStats';
import { inductionScores } from '../../src/core/analysis/induction';
import { retrievalScores } from '../../src/core/analysis/retrieval';
import type { AttentionLayer } from '../../src/core/attention';
import type { RunRequest } from '../../src/core/protocol/panel';
import type { PanelState } from './state';

export class MeasuredStatistics {
  /** Induction scores by model file, by attention output name. */
  private readonly induction = new Map<string, Promise<Map<string, Float32Array> | undefined>>();
  /** What each grid has (a grid made from one that had them keeps them). */
  private readonly measured = new WeakMap<HeadGrid, ReadonlySet<StatName>>();

  /** `sideRun`: every layer of ids through the session of a request's run (undefined where there is none to use). */
  constructor(private readonly state: PanelState, private readonly sideRun: (req: RunRequest, ids: readonly number[]) => Promise<AttentionLayer[] | undefined>) {}

  /** The grid on screen changed: adds what it lacks. */
  update(): void {
    const { run, grid } = this.state.snapshot;
    if (!run || !grid || run.onDemand) return;
    const done = this.measured.get(grid);
    const g = run.request.generation;
    if (g && !g.decoder && !done?.has('retrieval')) {
      const ids = Array.from(run.request.ids);
      const steps = g.steps.map((s) => ({ query: s.query, token: s.token.id }));
      return this.set(grid, 'retrieval', new Map(run.records.filter((r) => r.source.kind === 'self').map((r) => [r.source.name, retrievalScores(r, ids, steps)])));
    }
    const probe = run.request.induction;
    if (!probe || done?.has('induction')) return;
    const file = run.request.model.onnxFile;
    let scores = this.induction.get(file);
    if (!scores) {
      scores = this.sideRun(run.request, probe.ids).then((layers) => layers && new Map(layers.filter((l) => l.kind === 'self').map((l) => [l.name, inductionScores(l, probe)])), () => undefined);
      this.induction.set(file, scores);
      void scores.then((m) => m || this.induction.delete(file)); // not measured (a long input's session): try with the next run
    }
    void scores.then((m) => m && this.state.snapshot.grid === grid && this.set(grid, 'induction', m));
  }

  /** Shows the grid with statistic `name` of every row's heads, by the record's attention name. */
  private set(grid: HeadGrid, name: StatName, byName: Map<string, ArrayLike<number>>): void {
    const base = this.state.snapshot.base;
    const next = withStatistic(grid, name, (row) => byName.get(base[row.recordIndex]?.source.name ?? ''));
    this.measured.set(next, new Set([...(this.measured.get(grid) ?? []), name]));
    this.state.setGrid(next);
  }
}
