/**
 * The records the panel's views show, derived from a run's layers by the analysis choices (word
 * level, hidden tokens, aggregates) and the weighting (weights or contributions). No DOM.
 */
import type { AttentionRecord } from '../../src/core/attention';
import { type AnalysisChoices, type RunTexts, aggregateRecords, perHeadRecords } from '../../src/core/analysis/transform';
import { contributionRecord } from '../../src/core/mechanism';
import { formatBytes } from '../../src/core/units';
import { type LayerStore, isStored, storedRecords } from './layerStore';
import type { ContributionSet, LoadedRun, Weighting } from './snapshot';

/**
 * The per-head records (`base`) and what the views show (`records`: an aggregate per layer, or
 * `base`), kept in a store of their own when they are new arrays made from a stored run.
 */
export function derive(run: LoadedRun, choices: AnalysisChoices, weighting: Weighting, contributions: ContributionSet | undefined, compactAbove?: number): Derived {
  if (run.onDemand) {
    // A long input kept as queries and keys: its layers as they are (anything else would compute and hold every layer at once).
    choices = { ...choices, words: false, hide: [], aggregate: undefined };
    weighting = 'attention';
  }
  const texts: RunTexts = { tokens: run.request.tokens, text: run.request.text, decoderTokens: run.request.decoderTokens };
  const byContribution = weighting === 'contribution' && contributions?.runId === run.request.runId;
  const layers = byContribution ? run.records.map((r) => {
    const c = contributions.byName.get(r.source.name);
    return c ? contributionRecord(r, c) : r;
  }) : run.records;
  const base = perHeadRecords(layers, texts, choices);
  if (run.store && compactAbove !== undefined && base.some((r) => !isStored(r))) {
    // Made from 16-bit copies off screen, so their full precision is not worth keeping: 16 bits only.
    const stored = storedRecords(base, compactAbove, false);
    return { base: stored.records, records: aggregateRecords(stored.records, choices.aggregate), baseStore: stored.store };
  }
  return { base, records: aggregateRecords(base, choices.aggregate), baseStore: undefined };
}

export interface Derived {
  base: AttentionRecord[];
  records: AttentionRecord[];
  baseStore?: LayerStore;
}

/** What a long run keeps, for people. */
export function onDemandNotice(tokens: number, store: LayerStore): string {
  return `${tokens.toLocaleString('en-US')} tokens: each layer's weights are computed from its queries and keys when shown (${formatBytes(store.heldBytes)} held instead of ${formatBytes(store.naiveBytes)}).`;
}
