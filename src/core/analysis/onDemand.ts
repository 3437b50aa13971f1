/**
 * A long run's attention as records whose weights are computed when read (the CLI's long inputs):
 * layers kept as queries and keys (`queryKeys.ts`), and what is made from them (word level, hidden
 * tokens, a mean or max over heads, the rollout, a comparison's alignment), each the same numbers
 * the full tensors give. A pass that reads the records one after another (the JSON document, the
 * statistics, a NumPy archive) holds the last record read at each of these steps, never every
 * layer. Pure.
 */
import { type AttentionLayer, type AttentionRecord, type RunTokens, compareLayers, recordOfLayer } from '../attention';
import { type QueryKeyLayer, layerWeights } from '../queryKeys';
import { type Aggregation, type RolloutMatrix, type RolloutOptions, fusedRecord, maxOverHeads, meanOverHeads, overHeadsHeader, rolloutHeader, rolloutLength, rolloutStep } from './aggregate';
import { type AnalysisChoices, type RunTexts, perHeadRecords, rolloutLayers } from './transform';
import type { Alignment } from './alignment';
import { alignedHeader, alignedRecord, alignsAsIs } from './compare';

/** Weights computed when asked, the last one kept (asked again, it is not computed again). */
class LastComputed {
  private key: object | undefined;
  private data: Float32Array | undefined;

  get(key: object, compute: () => Float32Array): Float32Array {
    if (this.key !== key || !this.data) {
      // Let go of the last one first: two layers are never held for one.
      this.key = this.data = undefined;
      this.data = compute();
      this.key = key;
    }
    return this.data;
  }
}

/**
 * `headers` whose `data` is `compute(i)` when read, one step's last computed record kept. `data`
 * is not enumerable: a spread (`{ ...r }`, as headers are made) does not compute it; read it
 * (`{ ...r, data: r.data }`) where a copy needs it.
 */
export function computedRecords(headers: readonly AttentionRecord[], compute: (i: number) => Float32Array): AttentionRecord[] {
  const last = new LastComputed();
  return headers.map((h, i) => {
    const r = { ...h };
    Object.defineProperty(r, 'data', { get: () => last.get(r, () => compute(i)), enumerable: false, configurable: true });
    return r;
  });
}

/**
 * A run's layers in view order as records: those returned whole as they are, those kept as
 * queries and keys computed when read.
 */
export function onDemandRun(layers: readonly AttentionLayer[], queryKeys: readonly QueryKeyLayer[], run: RunTokens): { records: AttentionRecord[]; layers: AttentionLayer[]; weightsOf: (name: string) => Float32Array } {
  const kept = new Map(queryKeys.map((l) => [l.name, l]));
  const all: AttentionLayer[] = [...layers, ...queryKeys.map((q) => ({ name: q.name, kind: q.kind, layer: q.layer, heads: q.heads, queries: q.queries, keys: q.keys, data: new Float32Array(0) }))].sort(compareLayers);
  const whole = new Map(layers.map((l) => [l.name, l.data]));
  const weightsOf = (name: string) => whole.get(name) ?? layerWeights(kept.get(name)!).data;
  const records = computedRecords(all.map((l) => recordOfLayer(l, run)), (i) => weightsOf(all[i].name));
  return { records, layers: all, weightsOf };
}

/** `perHeadRecords` of records computed when read: word level and hiding made from each layer when it is read. */
export function onDemandPerHead(records: readonly AttentionRecord[], run: RunTexts, choices: Pick<AnalysisChoices, 'words' | 'hide'>): AttentionRecord[] {
  if (!choices.words && choices.hide.length === 0) return [...records];
  return computedRecords(perHeadRecords(records, run, choices, true), (i) => perHeadRecords([{ ...records[i], data: records[i].data }], run, choices)[0].data);
}

/**
 * `aggregateRecords` of records computed when read: a mean or max over heads made from each record
 * when read; the rollout through layer i from the rollout before it, kept from the last one read
 * (read in layer order, each layer is multiplied in once).
 */
export function onDemandAggregates(base: readonly AttentionRecord[], aggregate: Aggregation | undefined, options: RolloutOptions = {}): AttentionRecord[] {
  if (aggregate === undefined) return [...base];
  if (aggregate !== 'rollout') return computedRecords(base.map((r) => overHeadsHeader(r, aggregate)), (i) => (aggregate === 'mean' ? meanOverHeads : maxOverHeads)(base[i]).data);
  const layers = rolloutLayers(base);
  if (layers.length === 0) return [];
  const n = rolloutLength(layers);
  const fusion = options.fusion ?? 'mean';
  let at: { i: number; matrix: RolloutMatrix } | undefined;
  return computedRecords(layers.map((l) => rolloutHeader(l, options)), (i) => {
    if (!at || at.i > i) at = undefined;
    for (let j = at ? at.i + 1 : 0; j <= i; j++) at = { i: j, matrix: rolloutStep(at?.matrix, fusedRecord(layers[j], fusion), n, options.discard) };
    return at!.matrix.data;
  });
}

/** A side's records over the units `alignment` pairs: themselves where it pairs token with token, else computed from each when read. */
export function onDemandAligned(records: readonly AttentionRecord[], alignment: Alignment, side: 'a' | 'b'): AttentionRecord[] {
  if (records.every((r) => alignsAsIs(r, alignment))) return [...records];
  return computedRecords(records.map((r) => alignedHeader(r, alignment, side, new Float32Array(0))), (i) => alignedRecord({ ...records[i], data: records[i].data }, alignment, side).data);
}
