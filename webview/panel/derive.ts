/**
 * The records the panel's views show, derived from a run's layers by the analysis choices (word
 * level, hidden tokens, aggregates) and the weighting (weights or contributions); for a long input
 * kept as queries and keys, as records computed when read. No DOM.
 */
import { type AttentionRecord, recordOfLayer } from '../../src/core/attention';
import { maxOverHeads, meanOverHeads, overHeadsHeader } from '../../src/core/analysis/aggregate';
import { type AnalysisChoices, type RunTexts, aggregateRecords, perHeadRecords } from '../../src/core/analysis/transform';
import { type ContributionBasis, contributionRecord } from '../../src/core/mechanism';
import { contributionLayer } from '../../src/core/queryKeys';
import { hasQueryMechanism } from '../../src/core/queryMechanism';
import { formatBytes } from '../../src/core/units';
import type { MoreLayers } from '../../src/core/engine/attentionEngine';
import { type LayerStore, computedLayer, computedRecordStore, isStored, plain, queryKeysOf, runLayers, storedRecord, storedRecords } from './layerStore';
import { type ContributionSet, type LoadedRun, type Weighting, appliedContributions } from './snapshot';
import { rolloutKey } from './longRollout';

/**
 * The per-head records (`base`) and what the views show (`records`: an aggregate per layer, or
 * `base`), kept in a store of their own when they are new arrays made from a stored run.
 */
export function derive(run: LoadedRun, choices: AnalysisChoices, weighting: Weighting, contributions: ContributionSet | undefined, compactAbove?: number): Derived {
  const texts: RunTexts = { tokens: run.request.tokens, text: run.request.text, decoderTokens: run.request.decoderTokens };
  if (run.onDemand) return deriveOnDemand(run, texts, choices, weighting, contributions);
  const applied = appliedContributions({ weighting, contributions }, run.request.runId);
  const layers = applied ? run.records.map((r) => {
    const c = applied.byName.get(r.source.name);
    return c ? contributionRecord(r, c) : r;
  }) : run.records;
  const base = perHeadRecords(layers, texts, choices);
  if (run.store && compactAbove !== undefined && base.some((r) => !isStored(r))) {
    // Made from 16-bit copies off screen, so their full precision is not worth keeping: 16 bits only.
    const stored = storedRecords(base, compactAbove, false);
    return { base: stored.records, records: aggregateRecords(stored.records, choices.aggregate, choices.rollout), baseStore: stored.store, recordStore: undefined, weightStore: undefined };
  }
  return { base, records: aggregateRecords(base, choices.aggregate, choices.rollout), baseStore: undefined, recordStore: undefined, weightStore: undefined };
}

/**
 * What a long run's contributions are made with: every layer kept as queries and keys came with
 * each key's value norm (‖v·W_Oʰ‖, or ‖v‖ where the projection was not found); undefined when one
 * did not, or a layer kept its weights (it has no values).
 */
export function longContributions(records: readonly AttentionRecord[]): ContributionBasis | undefined {
  const layers = records.map(queryKeysOf);
  if (layers.length === 0 || layers.some((l) => !l?.valueNorms)) return undefined;
  return layers.every((l) => l!.valueNormBasis === 'output-projection') ? 'output-projection' : 'value-norm';
}

/** Whether every layer of a long run kept its values (and value norms): the mechanism view computes a query's from them. */
export function longMechanism(records: readonly AttentionRecord[]): boolean {
  return records.length > 0 && records.every((r) => hasQueryMechanism(queryKeysOf(r)));
}

/**
 * A long input kept as queries and keys: word level, hiding and a mean or max over heads as
 * records whose weights are computed from the layer's when read (kept while on screen), like the
 * layers themselves, so no choice computes and holds every layer at once. Contributions are
 * layers computed so too (each weight times its key's value norm, `contributionLayer`). A rollout
 * (a product over every layer) is the run's once its pass has made it for these choices (the
 * heads until then).
 */
function deriveOnDemand(run: LoadedRun, texts: RunTexts, choices: AnalysisChoices, weighting: Weighting, contributions: ContributionSet | undefined): Derived {
  const byContribution = appliedContributions({ weighting, contributions }, run.request.runId) !== undefined;
  const weighted = byContribution && longContributions(run.records) ? contributionRecords(run.records) : undefined;
  const layers = weighted?.records ?? run.records;
  const perHead = choices.words || choices.hide.length > 0
    ? computedRecordStore(perHeadRecords(layers, texts, choices, true), (i) => perHeadRecords([plain(layers[i])], texts, choices)[0].data, (i) => layers[i])
    : undefined;
  const base = perHead?.records ?? layers;
  const weightStore = weighted?.store;
  if (choices.aggregate === 'rollout') {
    const made = run.rollout?.key === rolloutKey(run.request.runId, choices, { weighting, contributions }) ? run.rollout : undefined;
    return { base, records: made?.records ?? base, baseStore: perHead?.store, recordStore: made?.store, weightStore };
  }
  const how = choices.aggregate === 'mean' || choices.aggregate === 'max' ? choices.aggregate : undefined;
  const shown = how
    ? computedRecordStore(base.map((r) => overHeadsHeader(r, how)), (i) => (how === 'mean' ? meanOverHeads : maxOverHeads)(plain(base[i])).data, (i) => base[i])
    : undefined;
  return { base, records: shown?.records ?? base, baseStore: perHead?.store, recordStore: shown?.store, weightStore };
}

/**
 * A long run's layers as their contributions, computed from queries, keys and value norms when
 * read (in the page's workers, like the layers): the queries and keys are the run's, so this
 * store holds nothing of its own but the layer on screen.
 */
function contributionRecords(layers: readonly AttentionRecord[]): { records: AttentionRecord[]; store: LayerStore } {
  const sources = layers.map((r) => ({ ...computedLayer(contributionLayer(queryKeysOf(r)!)), heldBytes: 0 }));
  return storedRecords(layers.map((r) => ({ ...r, id: `${r.id}|contribution` })), Infinity, false, sources);
}

export interface Derived {
  base: AttentionRecord[];
  records: AttentionRecord[];
  baseStore: LayerStore | undefined;
  /** Where `records` keep their weights when they are made on demand (a long input's mean or max over heads). */
  recordStore: LayerStore | undefined;
  /** A long input's layers as contributions, computed when read (`base` and `records` are made from them). */
  weightStore: LayerStore | undefined;
}

/** What a long run keeps, for people. */
export function onDemandNotice(tokens: number, store: LayerStore): string {
  return `${tokens.toLocaleString('en-US')} tokens: each layer's weights are computed from its queries and keys when shown (${formatBytes(store.keptBytes)} held instead of ${formatBytes(store.naiveBytes)}).`;
}

/**
 * `run` with the layers that arrived after its first appended (`more`: weights read back from a
 * GPU, or queries and keys from the native engine), and a long run's `notice` counting them.
 */
export function withLaterLayers(run: LoadedRun, more: MoreLayers, notice: string): { run: LoadedRun; notice: string } {
  const { request, store } = run;
  const tokens = { tokens: request.tokens, decoderTokens: request.decoderTokens, causal: request.model.causal };
  const before = run.onDemand && store ? onDemandNotice(request.ids.length, store) : undefined;
  const arrived = runLayers(more.layers, more.queryKeys);
  const at = run.records.length;
  store?.append(arrived.map((a) => a.source));
  const added = arrived.map((a, i) => (store ? storedRecord(recordOfLayer(a.layer, tokens), store, at + i) : recordOfLayer(a.layer, tokens)));
  return { run: { ...run, records: [...run.records, ...added] }, notice: before && store ? notice.replace(before, onDemandNotice(request.ids.length, store)) : notice };
}
