/**
 * The attention rollout of a long input kept as queries and keys: a product over every layer, so
 * no layer of it can be computed from its own queries and keys when shown. It is made once, in
 * layer order, with progress: each layer's heads are computed one at a time and fused in the
 * page's worker, then multiplied by the rollout before it. Choosing another aggregate, other
 * words or hiding, or starting a new run stops it. What it makes is one n × n matrix per layer,
 * kept as a run's layers are: compacted to 16 bits in the page with full precision in Blobs, the
 * layer on screen read back (24 layers at 2,048 tokens: 201 MB in the page, 403 MB in Blobs).
 */
import type { AttentionRecord } from '../../src/core/attention';
import { type RolloutMatrix, type RolloutOptions, fusedRecord, rolloutHeader } from '../../src/core/analysis/aggregate';
import { type AnalysisChoices, rolloutLayers } from '../../src/core/analysis/transform';
import type { RunRequest } from '../../src/core/protocol/panel';
import type { RolloutTask } from '../../src/core/queryKeys';
import { formatBytes } from '../../src/core/units';
import { nextTask } from './headGridTask';
import { COMPACT_ABOVE_BYTES, LayerStore, prepareRecords, queryKeysOf, storedRecord } from './layerStore';
import { type ContributionSet, type Weighting, appliedContributions } from './snapshot';
import type { PanelState } from './state';

/** A long run's rollout for the choices `key` names: one record per layer, their weights in `store`. */
export interface LongRollout {
  key: string;
  records: AttentionRecord[];
  store: LayerStore;
}

/** What a rollout of run `runId` is made for (its words, hidden tokens, fusion and discard, and weights or contributions); undefined when no rollout is chosen. */
export function rolloutKey(runId: number, choices: AnalysisChoices, weighting: { weighting: Weighting; contributions?: ContributionSet }): string | undefined {
  const contributions = appliedContributions(weighting, runId) !== undefined;
  return choices.aggregate === 'rollout' ? JSON.stringify([runId, choices.words, choices.hide, choices.rollout?.fusion ?? 'mean', choices.rollout?.discard ?? 0, contributions]) : undefined;
}

/**
 * The rollout through each of `base`'s layers (`rolloutLayers`), one layer per `step` (a worker's),
 * compacted as it goes; undefined once `stopped()`. `progress` hears how many layers are done.
 */
export async function longRollout(base: readonly AttentionRecord[], options: RolloutOptions, step: (task: RolloutTask) => Promise<RolloutMatrix>, progress: (done: number, of: number) => void, stopped: () => boolean, compactAbove = COMPACT_ABOVE_BYTES): Promise<{ records: AttentionRecord[]; store: LayerStore } | undefined> {
  const layers = rolloutLayers(base);
  const fusion = options.fusion ?? 'mean', discard = options.discard ?? 0;
  const store = new LayerStore([], compactAbove);
  let previous: RolloutMatrix | undefined;
  for (let i = 0; i < layers.length; i++) {
    progress(i, layers.length);
    await nextTask();
    if (stopped()) return undefined;
    const r = layers[i], n = r.queries;
    // A run's layer goes to the worker as queries and keys; a record made from one (words, hiding) is made here, then fused.
    const layer = queryKeysOf(r);
    let fused: Float32Array | undefined;
    if (!layer) {
      await prepareRecords([r]);
      if (stopped()) return undefined;
      fused = fusedRecord(r, fusion);
    }
    previous = await step({ previous, layer, fused, n, fusion, discard });
    if (stopped()) return undefined;
    store.append([previous.data]);
    await store.compact(nextTask, stopped);
  }
  progress(layers.length, layers.length);
  return stopped() ? undefined : { records: layers.map((l, i) => storedRecord(rolloutHeader(l, options), store, i)), store };
}

/** What a long run's rollout takes, for people: `layers` matrices of n × n. */
export function rolloutCost(layers: number, n: number): string {
  const bytes = 4 * layers * n * n;
  return bytes > COMPACT_ABOVE_BYTES ? `${formatBytes(bytes / 2)} in the page in 16 bits, ${formatBytes(bytes)} in full precision outside it` : formatBytes(bytes);
}

/**
 * Starts the rollout of the run on screen when it is a long run, rollout is chosen and it is not
 * made yet (`ensure`, after every new run or choice); shows its progress and hands it to the state.
 */
export class LongRolloutPass {
  /** The key of the pass running. */
  private running: string | undefined;

  constructor(private readonly state: PanelState, private readonly step: (task: RolloutTask) => Promise<RolloutMatrix>, private readonly isCurrent: (request: RunRequest) => boolean) {}

  ensure(): void {
    const s = this.state.snapshot, run = s.run;
    if (!run?.onDemand || s.compare || s.layersPending) return;
    const key = rolloutKey(run.request.runId, s.choices, s);
    if (!key || run.rollout?.key === key || this.running === key) return;
    this.running = key;
    const { request } = run;
    const stopped = () => this.running !== key || rolloutKey(this.state.snapshot.run?.request.runId ?? -1, this.state.snapshot.choices, this.state.snapshot) !== key || !this.isCurrent(request);
    const layers = rolloutLayers(s.base), n = layers[0]?.queries ?? 0;
    const progress = (done: number, of: number) => {
      if (!stopped()) this.state.progress('render', `Rollout: layer ${Math.min(done + 1, of)} of ${of} (every layer's rollout, ${n.toLocaleString('en-US')} × ${n.toLocaleString('en-US')}, takes ${rolloutCost(of, n)}); choose Heads to stop`, done / of);
    };
    const end = (made?: LongRollout, error?: Error) => {
      const mine = this.running === key;
      if (mine) this.running = undefined;
      // Stopped by another choice or a new run: that shows its own state (the same run settles when nothing else runs).
      if (!mine || !this.isCurrent(request)) return;
      this.state.setRollout(made);
      if (error) {
        this.state.warn(`the rollout could not be computed (${error.message})`);
        this.state.setChoices({ aggregate: undefined });
      }
    };
    longRollout(s.base, s.choices.rollout ?? {}, this.step, progress, stopped).then((made) => end(made && !stopped() ? { key, ...made } : undefined), (e: Error) => end(undefined, e));
  }
}
