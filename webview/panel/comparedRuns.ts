/**
 * The two runs of a comparison made into what the panel shows: each side's layers over the input
 * in a store (weights as returned, or queries and keys for a long input, computed when read), and
 * both sides' records over the units the alignment pairs. A long side's aligned records are
 * computed from its layers when read too, so a comparison of long inputs holds nothing quadratic
 * but what is on screen. No DOM.
 */
import type { AttentionRecord } from '../../src/core/attention';
import { type Alignment, alignRuns } from '../../src/core/analysis/alignment';
import { type HeadAlignment, alignedHeader, alignedRecord, alignedRecordSteps, alignsAsIs, headAlignment, identicalRecords } from '../../src/core/analysis/compare';
import type { RunRequest } from '../../src/core/protocol/panel';
import { type QueryKeyLayer, sameQueryKeys } from '../../src/core/queryKeys';
import { onDemandNotice } from './derive';
import { inTasks } from './headGridTask';
import { type LayerStore, computedRecordStore, plain, prepareRecords, queryKeysOf, queryKeysToCompute, runRecords, storedRecord, storedRecords } from './layerStore';
import type { RunResult } from './runner';
import type { LoadedRun } from './snapshot';

/** A comparison ready for the panel: A is the run, B sits beside it. */
export interface ComparedRuns {
  run: LoadedRun;
  /** A's records over the paired units. */
  records: AttentionRecord[];
  /** Where `records` keep their weights when not in the run's store. */
  store: LayerStore | undefined;
  b: LoadedRun;
  /** B's records over the paired units, and where they keep their weights. */
  recordsB: AttentionRecord[];
  storeB: LayerStore;
  alignment: Alignment;
  /** Every compared weight of A equals B's. */
  identical: boolean;
  notice: string;
}

/** One side's layers over the input, in a store of their own (`onDemand`: some kept as queries and keys). */
type Side = ReturnType<typeof runRecords>;

const NO_WEIGHTS = new Float32Array(0);

/** Run `request` (A, with `a`) and `b` compared; throws when the two runs share nothing to compare. */
export function compareRuns(request: RunRequest, a: RunResult, b: { request: RunRequest; result: RunResult }, compactAbove: number): ComparedRuns {
  const alignment = alignRuns({ text: request.text, tokens: request.tokens }, { text: b.request.text, tokens: b.request.tokens }, request.compare?.sameModel === true);
  const rawA = side(request, a, compactAbove), rawB = side(b.request, b.result, compactAbove);
  const alignedA = aligned(rawA, alignment, 'a', compactAbove), alignedB = aligned(rawB, alignment, 'b', compactAbove);
  const identical = rawA.onDemand || rawB.onDemand
    // Long runs: the same queries and keys give the same weights; nothing is computed to know it.
    ? rawA.onDemand && rawB.onDemand && rawA.records.length === rawB.records.length && [...rawA.records, ...rawB.records].every((r) => alignsAsIs(r, alignment))
      && rawA.records.every((r, i) => {
        const x = queryKeysOf(r), y = queryKeysOf(rawB.records[i]);
        return x !== undefined && y !== undefined && sameQueryKeys(x, y);
      })
    : identicalRecords(alignedA.records, alignedB.records);
  const loaded = (req: RunRequest, result: RunResult, s: Side | undefined): LoadedRun => ({ request: req, records: s?.records ?? [], store: s?.store, backend: result.backend, backendReason: result.backendReason, millis: result.millis, ...(s?.onDemand ? { onDemand: true } : {}) });
  const kept = ([['A', request, rawA], ['B', b.request, rawB]] as const).flatMap(([name, req, s]) => (s.onDemand ? [`Run ${name}: ${onDemandNotice(req.ids.length, s.store)}`] : []));
  const warnings = [...a.warnings, ...b.result.warnings].map((w) => `Warning: ${w}.`);
  return {
    run: loaded(request, a, rawA),
    records: alignedA.records,
    // A's aligned records that are its layers share the run's store (kept once, pinned once).
    store: alignedA.store === rawA.store ? undefined : alignedA.store,
    // B's layers stay where its aligned records are computed from them (a long run), else they go.
    b: loaded(b.request, b.result, rawB.onDemand ? rawB : undefined),
    recordsB: alignedB.records,
    storeB: alignedB.store,
    alignment,
    identical,
    notice: [request.notice, `Compared by ${alignment.description}.`, identical ? 'The two runs are identical: every difference is 0.' : '', ...kept, ...warnings].filter(Boolean).join(' '),
  };
}

/** Aligns a long side's layer in the page's workers, once the page has set it. */
let alignLater: ((l: QueryKeyLayer, how: HeadAlignment) => Promise<Float32Array>) | undefined;

/** The page aligns long sides' layers with `align` (a failure aligns them on the page instead). */
export function alignLayersWith(align: typeof alignLater): void {
  alignLater = align;
}

/** A run's layers over the input, as the model returned them or as queries and keys. */
function side(request: RunRequest, result: RunResult, compactAbove: number): Side {
  return runRecords(result.layers, result.queryKeys, { tokens: request.tokens, decoderTokens: request.decoderTokens, causal: request.model.causal }, compactAbove, (r) => r.overInput);
}

/**
 * A side's records over the paired units: its layers themselves (identical tokenizations), records
 * computed from its layers when read (a long run), or made now and kept like a run's layers.
 */
function aligned(s: Side, alignment: Alignment, which: 'a' | 'b', compactAbove: number): { records: AttentionRecord[]; store: LayerStore } {
  const headers = s.records.map((r) => alignedHeader(r, alignment, which, NO_WEIGHTS));
  if (s.records.every((r) => alignsAsIs(r, alignment))) return { records: headers.map((h, i) => storedRecord(h, s.store, i)), store: s.store };
  if (s.onDemand) {
    // Made when read; off the page's thread aligned in the workers (else the side's layer computed
    // there, then aligned here a few million cells per task: a head per task from 2,048 tokens).
    const how = headAlignment(alignment, which);
    const later = async (i: number) => {
      // In the workers, a head at a time: the side's layer never reaches the page (940 MB at 4,096 tokens on 14 heads).
      const layer = alignLater && queryKeysToCompute(s.records[i]);
      const inWorkers = layer && (await alignLater!(layer, how).catch(() => undefined));
      if (inWorkers) return inWorkers;
      await prepareRecords([s.records[i]]);
      const r = plain(s.records[i]);
      return (await inTasks(alignedRecordSteps(r, alignment, which), r.queries * r.keys, () => true))!.data;
    };
    return computedRecordStore(headers, (i) => alignedRecord(plain(s.records[i]), alignment, which).data, (i) => s.records[i], later);
  }
  return storedRecords(s.records.map((r) => alignedRecord(r, alignment, which)), compactAbove);
}
