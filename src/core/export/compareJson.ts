/**
 * The JSON document of a comparison, as `attention-lens compare --json` prints it and the panel's
 * data export of a comparison saves it: both token lists, the alignment (each unit's tokens on
 * both sides), and per layer pair the head correspondence, best matches and, where heads
 * correspond, the mean |A − B| and (with `diff`) the A − B weights. Each layer pair is compared
 * as it is written, its A − B right after: records computed when read (long inputs) are computed
 * once for both. Rows are views (no copy); `writeJson` streams them. Pure.
 */
import type { Alignment } from '../analysis/alignment';
import { bestMatches, differenceRecord, layerComparison } from '../analysis/compare';
import type { AttentionRecord } from '../attention';
import { rowViews } from './runJson';
import type { TokenInfo } from '../tokens';

export interface CompareJsonInput {
  /** The folders, and the ONNX file where one was chosen (two variants of one folder). */
  models: Array<{ folder: string; onnx?: string; architecture: string }>;
  texts: [string, string];
  tokens: [readonly TokenInfo[], readonly TokenInfo[]];
  alignment: Alignment;
  /** Aligned records of A and B; layer i of A is compared with `layerOf(i)` of B. */
  a: readonly AttentionRecord[];
  b: readonly AttentionRecord[];
  layerOf: (i: number) => number;
  /** Hears each layer pair before it is compared (as the document is written). */
  progress?: (done: number, of: number) => void;
  identical: boolean;
  /** Add A − B where heads correspond. */
  diff: boolean;
  notice?: string;
}

/** The document, ready for `writeJson`. */
export function compareJson(p: CompareJsonInput) {
  const al = p.alignment;
  const tokens = (list: readonly TokenInfo[]) => list.map(({ id, text, start, end, special }) => ({ id, text, start, end, special }));
  return {
    models: p.models,
    texts: p.texts,
    tokens: [tokens(p.tokens[0]), tokens(p.tokens[1])],
    alignment: { kind: al.kind, edited: al.edited, renormalised: al.renormalised, description: al.description, units: al.pairs.map(([i, j]) => ({ a: al.a.members[i], b: al.b.members[j], text: al.a.units[i].text })) },
    identical: p.identical,
    layers: p.a.map((_, i) => ({
      toJSON: () => {
        p.progress?.(i, p.a.length);
        const l = layerComparison(p.a, p.b, i, p.layerOf(i));
        return {
          layerA: l.layerA, layerB: l.layerB, labelA: l.labelA, labelB: l.labelB, headsA: l.headsA, headsB: l.headsB,
          jsDistance: Array.from({ length: l.headsA }, (_, h) => l.distances.subarray(h * l.headsB, (h + 1) * l.headsB)),
          bestMatch: bestMatches(l.distances, l.headsA, l.headsB),
          meanAbsDifference: l.meanAbsDifference ?? null,
          // Made when written, after the pair's comparison: one layer pair's A − B at a time.
          ...(p.diff && l.meanAbsDifference ? { diff: { toJSON: () => rowViews(differenceRecord(p.a[l.layerA], p.b[l.layerB])) } } : {}),
        };
      },
    })),
    ...(p.notice ? { notice: p.notice } : {}),
  };
}
