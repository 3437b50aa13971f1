/**
 * Comparing two runs' attention (two models on one text, or two texts on one model): records
 * over the units both runs share, the difference A − B per head, how far apart every head of A
 * is from every head of B (Jensen-Shannon distance), and which layer of B faces a layer of A. Pure.
 */
import type { AttentionRecord } from '../attention';
import type { AlignedSide, Alignment } from './alignment';

/** Layer of B facing layer `i` of A when A has `layersA` and B `layersB`: proportional, round(i·(L_B−1)/(L_A−1)). */
export function mapLayer(i: number, layersA: number, layersB: number): number {
  if (layersA <= 1 || layersB <= 1) return 0;
  return Math.round((i * (layersB - 1)) / (layersA - 1));
}

/** Whether `r` over `alignment`'s paired units is `r` itself (identical tokenizations): its aligned record is the same weights, relabelled. */
export function alignsAsIs(r: Pick<AttentionRecord, 'queries' | 'keys'>, alignment: Alignment): boolean {
  const n = alignment.pairs.length;
  return alignment.kind === 'tokens' && !alignment.edited && n === r.queries && n === r.keys;
}

/** `r`'s header over the paired units (in pair order), with `data` as given: what `alignedRecord` returns, without its weights. */
export function alignedHeader(r: AttentionRecord, alignment: Alignment, side: 'a' | 'b', data: Float32Array): AttentionRecord {
  const s: AlignedSide = alignment[side];
  const tokens = alignment.pairs.map((p) => s.units[p[side === 'a' ? 0 : 1]]);
  return { ...r, id: `${side}:${r.id}`, queries: tokens.length, keys: tokens.length, data, queryTokens: tokens, keyTokens: tokens };
}

/**
 * `r` (a record of one side) over the paired units only, in pair order: a unit's row is the mean
 * of its tokens' rows, its column the sum of its tokens' columns (a token in several units shares
 * its weight among them). Rows are renormalised when the alignment says so.
 */
export function alignedRecord(r: AttentionRecord, alignment: Alignment, side: 'a' | 'b'): AttentionRecord {
  return allSteps(alignedRecordSteps(r, alignment, side));
}

/** What `steps` returns, its steps run at once (callers that need not yield between them). */
export function allSteps<T>(steps: Generator<void, T>): T {
  let step = steps.next();
  while (!step.done) step = steps.next();
  return step.value;
}

/** `alignedRecord` one head per step (it yields between heads), for callers that keep a page responsive (a long input's word alignment takes seconds a layer). */
export function* alignedRecordSteps(r: AttentionRecord, alignment: Alignment, side: 'a' | 'b'): Generator<void, AttentionRecord> {
  const weights = r.data; // read once: a stored record's weights come through a getter
  // Identical tokenizations: the record as it is (no copy).
  if (alignsAsIs(r, alignment)) return alignedHeader(r, alignment, side, weights);
  const how = headAlignment(alignment, side);
  const n = how.units.length, size = r.queries * r.keys;
  const data = new Float32Array(r.heads * n * n);
  for (let h = 0; h < r.heads; h++) {
    if (h > 0) yield;
    alignHead(weights.subarray(h * size, (h + 1) * size), r.keys, how, data.subarray(h * n * n, (h + 1) * n * n));
  }
  return alignedHeader(r, alignment, side, data);
}

/**
 * What aligning one side's heads takes, as plain arrays (a page's worker is sent it): the tokens of
 * each paired unit in pair order, how many units each token belongs to, whether rows are
 * renormalised, and where every unit is one token owned once (an edit), that token.
 */
export interface HeadAlignment {
  units: number[][];
  owners: number[];
  renormalised: boolean;
  single?: Int32Array;
}

/** `alignment`'s side `side` as `alignHead` takes it. */
export function headAlignment(alignment: Alignment, side: 'a' | 'b'): HeadAlignment {
  const s: AlignedSide = alignment[side];
  const units = alignment.pairs.map((p) => s.members[p[side === 'a' ? 0 : 1]]);
  // Units of one token each, owned once (tokens paired through an edit): the same sums, as one
  // read per weight (a long input's layer is 14 × 4,096² of them).
  const single = units.every((u) => u.length === 1 && s.owners[u[0]] === 1) ? Int32Array.from(units, (u) => u[0]) : undefined;
  return { units, owners: s.owners, renormalised: alignment.renormalised, ...(single ? { single } : {}) };
}

/**
 * One head's weights `[queries][keys]` over the paired units, into `out` `[n][n]` (zeros): a
 * unit's row is the mean of its tokens' rows, its column the sum of its tokens' columns, each
 * token's weight shared among the units it belongs to; rows renormalised when `how` says so.
 */
export function alignHead(head: ArrayLike<number>, keys: number, how: HeadAlignment, out: Float32Array): void {
  const n = how.units.length, at = how.single;
  for (let qi = 0; qi < n; qi++) {
    const row = qi * n;
    if (at) {
      const from = at[qi] * keys;
      for (let ki = 0; ki < n; ki++) out[row + ki] = head[from + at[ki]];
    } else {
      const queries = how.units[qi];
      for (const q of queries) {
        const from = q * keys;
        for (let ki = 0; ki < n; ki++) {
          let sum = 0;
          for (const k of how.units[ki]) sum += head[from + k] / how.owners[k];
          out[row + ki] += sum / queries.length;
        }
      }
    }
    if (how.renormalised) {
      let total = 0;
      for (let ki = 0; ki < n; ki++) total += out[row + ki];
      if (total > 0) for (let ki = 0; ki < n; ki++) out[row + ki] /= total;
    }
  }
}

/** A − B for every head (both aligned, with the same heads), on a scale signed around 0. */
export function differenceRecord(a: AttentionRecord, b: AttentionRecord, label = `${a.label} − ${b.label}`): AttentionRecord {
  sameShape(a, b);
  const ad = a.data, bd = b.data;
  const data = new Float32Array(ad.length);
  for (let i = 0; i < data.length; i++) data[i] = ad[i] - bd[i];
  return { ...a, id: `diff(${a.id},${b.id})`, label, data, signed: true };
}

/** Per head, the mean absolute difference between `a` and `b` over every cell (causal: over the cells on or before the diagonal). */
export function meanAbsDifference(a: AttentionRecord, b: AttentionRecord): Float32Array {
  sameShape(a, b);
  const out = new Float32Array(a.heads);
  const { queries: nq, keys: nk } = a;
  const ad = a.data, bd = b.data;
  for (let h = 0; h < a.heads; h++) {
    let sum = 0, cells = 0;
    for (let q = 0; q < nq; q++) {
      const end = a.causal ? Math.min(nk, q + 1) : nk;
      for (let k = 0, i = (h * nq + q) * nk; k < end; k++, i++) sum += Math.abs(ad[i] - bd[i]);
      cells += end;
    }
    out[h] = cells ? sum / cells : 0;
  }
  return out;
}

function sameShape(a: AttentionRecord, b: AttentionRecord): void {
  if (a.heads !== b.heads || a.queries !== b.queries || a.keys !== b.keys) throw new Error(`records of different shapes: ${a.heads}×${a.queries}×${a.keys} and ${b.heads}×${b.queries}×${b.keys}`);
}

/**
 * Every head of `a` against every head of `b` (aligned, same queries and keys, any head counts):
 * the mean over rows of the Jensen-Shannon distance of the rows, each normalised to sum to 1.
 * `[a.heads × b.heads]`, row-major; 0 means the same pattern.
 */
export function correspondence(a: AttentionRecord, b: AttentionRecord): Float32Array {
  return allSteps(correspondenceSteps(a, b));
}

/**
 * One pair of heads at a time: `pair(ha, hb)` is the mean over rows of the Jensen-Shannon
 * distance of head `ha`'s row in A and head `hb`'s in B, each row scaled to sum to 1 (a row
 * without weight stays 0). Uses JS = ½·Σ(p·log p + q·log q) − ½·Σ(p+q)·log((p+q)/2), with each
 * row's Σ p·log p computed once, so a pair of rows costs one logarithm per key. The rows are
 * scaled as they are read, never copied: a long input's layer (940 MB at 4,096 tokens on 14
 * heads) is held once, not twice.
 */
export function correspondencePairs(a: AttentionRecord, b: AttentionRecord): (ha: number, hb: number) => number {
  if (a.queries !== b.queries || a.keys !== b.keys) throw new Error(`records over different tokens: ${a.queries}×${a.keys} and ${b.queries}×${b.keys}`);
  const { queries: nq, keys: nk } = a;
  // Each head's row scales and entropy terms are made when a pair first needs them (one logarithm
  // per weight, as a pair costs), so a caller's task holds at most two heads' and one pair's work.
  const sideA = rowTerms(a.data, a.heads, nq, nk), sideB = rowTerms(b.data, b.heads, nq, nk);
  const ad = sideA.data, bd = sideB.data;
  return (ha, hb) => {
    const [sa, ea] = sideA.head(ha), [sb, eb] = sideB.head(hb);
    let sum = 0;
    for (let q = 0; q < nq; q++) {
      const ra = (ha * nq + q) * nk, rb = (hb * nq + q) * nk;
      const xa = sa[q], xb = sb[q];
      let cross = 0;
      for (let k = 0; k < nk; k++) {
        const m = ad[ra + k] * xa + bd[rb + k] * xb;
        if (m > 0) cross += m * (Math.log2(m) - 1);
      }
      const d = 0.5 * (ea[q] + eb[q]) - 0.5 * cross;
      // The three sums cancel for identical rows up to rounding (~1e-18): that is a distance of 0, not 1e-9.
      sum += d > ROUNDING ? Math.sqrt(Math.min(1, d)) : 0;
    }
    return nq ? sum / nq : 0;
  };
}

/**
 * `correspondence` for heads `headsA` of A (default all) against every head of B, one pair of heads
 * a step (a caller yields between steps: a pair at 4,096 tokens takes a task of its own); returns
 * `[headsA.length × b.heads]`, row-major.
 */
export function* correspondenceSteps(a: AttentionRecord, b: AttentionRecord, headsA: readonly number[] = Array.from({ length: a.heads }, (_, h) => h)): Generator<void, Float32Array> {
  const pair = correspondencePairs(a, b);
  const out = new Float32Array(headsA.length * b.heads);
  for (let i = 0; i < out.length; i++) {
    out[i] = pair(headsA[Math.floor(i / b.heads)], i % b.heads);
    if (i + 1 < out.length) yield;
  }
  return out;
}

/**
 * A record's weights (read once: a stored record's come through a getter) and, per head when
 * first asked, each row's scale to sum 1 (0 for a row without weight) and Σ p·log₂ p of the row so
 * scaled.
 */
function rowTerms(weights: Float32Array, heads: number, queries: number, keys: number): { data: Float32Array; head(h: number): [Float64Array, Float64Array] } {
  const made: Array<[Float64Array, Float64Array] | undefined> = new Array(heads);
  return {
    data: weights,
    head(h) {
      let terms = made[h];
      if (terms) return terms;
      const scales = new Float64Array(queries), entropy = new Float64Array(queries);
      for (let q = 0; q < queries; q++) {
        const start = (h * queries + q) * keys, end = start + keys;
        let total = 0;
        for (let k = start; k < end; k++) total += weights[k];
        const x = (scales[q] = total > 0 ? 1 / total : 0);
        let e = 0;
        for (let k = start; k < end; k++) {
          const p = weights[k] * x;
          if (p > 0) e += p * Math.log2(p);
        }
        entropy[q] = e;
      }
      return (made[h] = terms = [scales, entropy]);
    },
  };
}

/** Divergence below which `correspondencePairs` counts rows as identical: the rounding of its sums, far below any real difference (a distance of 1e-7). */
const ROUNDING = 1e-14;

/** For each head of A, the head of B closest to it in `matrix` (from `correspondence`) and that distance. */
export function bestMatches(matrix: Float32Array, headsA: number, headsB: number): Array<{ head: number; distance: number }> {
  return Array.from({ length: headsA }, (_, ha) => {
    let head = 0;
    for (let hb = 1; hb < headsB; hb++) if (matrix[ha * headsB + hb] < matrix[ha * headsB + head]) head = hb;
    return { head, distance: matrix[ha * headsB + head] };
  });
}

/** One layer of A, the layer of B it is compared with, and how their heads relate. */
export interface LayerComparison {
  layerA: number;
  layerB: number;
  labelA: string;
  labelB: string;
  /** `[headsA × headsB]` Jensen-Shannon distances. */
  distances: Float32Array;
  headsA: number;
  headsB: number;
  /** Per head, mean |A − B| when the head counts match (heads then correspond by index). */
  meanAbsDifference?: Float32Array;
}

/**
 * Compares the aligned records of A with those of B, layer by layer: layer i of A with
 * `layerOf(i)` of B (proportional by default); `progress` hears each layer before it is compared.
 */
export function layerComparisons(a: readonly AttentionRecord[], b: readonly AttentionRecord[], layerOf: (i: number) => number = (i) => mapLayer(i, a.length, b.length), progress?: (done: number, of: number) => void): LayerComparison[] {
  return a.map((_, i) => {
    progress?.(i, a.length);
    return layerComparison(a, b, i, layerOf(i));
  });
}

/** Layer `i` of A compared with layer `j` of B. */
export function layerComparison(a: readonly AttentionRecord[], b: readonly AttentionRecord[], i: number, j: number): LayerComparison {
  const ra = a[i], rb = b[j];
  return {
    layerA: i, layerB: j, labelA: ra.label, labelB: rb.label,
    distances: correspondence(ra, rb), headsA: ra.heads, headsB: rb.heads,
    meanAbsDifference: ra.heads === rb.heads ? meanAbsDifference(ra, rb) : undefined,
  };
}

/** True when every compared weight of A equals B's exactly (a model compared with itself). */
export function identicalRecords(a: readonly AttentionRecord[], b: readonly AttentionRecord[]): boolean {
  return a.length === b.length && a.every((r, i) => {
    const x = r.data, y = b[i].data;
    return x.length === y.length && x.every((v, k) => v === y[k]);
  });
}

/** How far each head of A is from model B in one layer, for the explorer's cells. */
export interface HeadDivergence {
  /** Per head of A: mean |A − B| when heads correspond by index, else the distance to its best match. */
  values: Float32Array;
  /** Per head of A, the head of B it is compared with (itself by index, or its best match). */
  partner: Int16Array;
  measure: 'mean |A − B|' | 'JS distance to the best match';
}

/**
 * Each head of `a` against `b` (aligned): by index when the head counts match, else by best match;
 * in steps, one pair of heads each (it yields before each), so a page stays responsive (a pair
 * at 4,096 tokens is 16.8 million logarithms).
 */
export function* headDivergenceSteps(a: AttentionRecord, b: AttentionRecord): Generator<void, HeadDivergence> {
  if (a.heads === b.heads) return { values: meanAbsDifference(a, b), partner: Int16Array.from({ length: a.heads }, (_, h) => h), measure: 'mean |A − B|' };
  const pair = correspondencePairs(a, b);
  const values = new Float32Array(a.heads), partner = new Int16Array(a.heads);
  for (let ha = 0; ha < a.heads; ha++) {
    const row = new Float32Array(b.heads);
    for (let hb = 0; hb < b.heads; hb++) {
      yield;
      row[hb] = pair(ha, hb);
    }
    const [best] = bestMatches(row, 1, b.heads);
    partner[ha] = best.head;
    values[ha] = best.distance;
  }
  return { values, partner, measure: 'JS distance to the best match' };
}
