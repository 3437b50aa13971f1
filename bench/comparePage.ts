// Benchmark page: the head correspondence of a comparison (every head of A against every head of
// B by Jensen-Shannon distance) on a 12-head BERT-base-shaped layer, against the definition
// computed row pair by row pair, measured in the same browser run. Bundled by bench/headView.bench.mjs.
import type { AttentionRecord } from '../src/core/attention';
import { correspondence, correspondencePairs } from '../src/core/analysis/compare';
import { rowJsDistance } from '../src/core/analysis/headSimilarity';

const HEADS = 12;

/** A softmax of random logits per row (under a causal mask when `causal`), seeded. */
function record(n: number, seed: number, heads = HEADS, causal = false): AttentionRecord {
  let s = seed;
  const rand = () => ((s = (s * 1664525 + 1013904223) >>> 0) / 4294967296);
  const data = new Float32Array(heads * n * n);
  for (let r = 0; r < heads * n; r++) {
    const end = causal ? (r % n) + 1 : n;
    let sum = 0;
    for (let k = 0; k < end; k++) sum += data[r * n + k] = Math.exp(4 * rand());
    for (let k = 0; k < end; k++) data[r * n + k] /= sum;
  }
  return { id: 'a', label: 'Layer 1', heads, queries: n, keys: n, data, queryTokens: [], keyTokens: [], causal, signed: false, overInput: true, source: { name: 'attentions.0', kind: 'self', layer: 0 } };
}

/** The definition: mean over rows of the JS distance of each pair of rows. */
function naive(a: AttentionRecord, b: AttentionRecord): Float32Array {
  const n = a.queries, out = new Float32Array(a.heads * b.heads);
  for (let ha = 0; ha < a.heads; ha++) {
    for (let hb = 0; hb < b.heads; hb++) {
      let sum = 0;
      for (let q = 0; q < n; q++) sum += rowJsDistance(a.data.subarray((ha * n + q) * n, (ha * n + q + 1) * n), b.data.subarray((hb * n + q) * n, (hb * n + q + 1) * n));
      out[ha * b.heads + hb] = sum / n;
    }
  }
  return out;
}

declare global {
  interface Window {
    runCompare(n: number): { ours: number; naive: number; maxDiff: number };
    runPair(n: number, causal: boolean): { first: number; pair: number; read: number };
  }
}

/**
 * One pair of heads over `n` tokens (a long comparison computes one per task), against one pass
 * that only reads both heads' weights (a sum: the least any measure of the pair reads); the
 * better of three each, in ms, and the first pair, which also makes both heads' row terms.
 */
window.runPair = (n, causal) => {
  const a = record(n, 3, 1, causal), b = record(n, 5, 1, causal);
  const pair = correspondencePairs(a, b);
  // The first pair also makes both heads' row terms (a sum and a logarithm per weight).
  const t0 = performance.now();
  pair(0, 0);
  const first = performance.now() - t0;
  const best = (f: () => unknown) => {
    let ms = Infinity;
    for (let i = 0; i < 3; i++) {
      const t = performance.now();
      f();
      ms = Math.min(ms, performance.now() - t);
    }
    return ms;
  };
  const read = () => {
    let s = 0;
    for (let i = 0; i < a.data.length; i++) s += a.data[i] + b.data[i];
    return s;
  };
  return { first, pair: best(() => pair(0, 0)), read: best(read) };
};

window.runCompare = (n) => {
  const a = record(n, 3), b = record(n, 5);
  let t = performance.now();
  const fast = correspondence(a, b);
  const ours = performance.now() - t;
  t = performance.now();
  const slow = naive(a, b);
  const base = performance.now() - t;
  let maxDiff = 0;
  for (let i = 0; i < fast.length; i++) maxDiff = Math.max(maxDiff, Math.abs(fast[i] - slow[i]));
  return { ours, naive: base, maxDiff };
};
