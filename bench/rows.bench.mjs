// `npm run bench:rows`: a long input's attention rows computed from queries and keys (issue 24), as
// the panel computes a layer when it is shown: `layerWeights` of src/core/queryKeys.ts against a
// plain baseline in the same run, one query against one key with the same float64 sums and
// softmax. A Qwen2.5-0.5B-shaped layer (14 query heads sharing 2 key heads, head size 64),
// causal, random queries and keys, at 512, 1,024 and 2,048 tokens; each timing the best of three.
// Both must give the same weights.
// Then the rollout of a long input (`rolloutStep` of src/core/analysis/aggregate.ts, a layer times
// the rollout before it, as the panel's worker makes it) against the plain product each row at a
// time (the rollout's own loop before long inputs had it: every key of every row), at 1,024 and
// 2,048 tokens of causal layers; both must give the same bits.
import { importFromSrc } from './srcModules.mjs';

const { layerWeights, rolloutStep } = await importFromSrc(["export { layerWeights } from './src/core/queryKeys';", "export { rolloutStep } from './src/core/analysis/aggregate';"]);

/** The baseline: every weight as its definition reads, one query and one key at a time. */
function plainLayer(l) {
  const { heads, queries, keys, headDim: d, q, k } = l;
  const out = new Float32Array(heads * queries * keys);
  const scores = new Float64Array(keys);
  for (let h = 0; h < heads; h++) {
    const kBase = Math.floor(h / (heads / l.kvHeads)) * keys * d;
    for (let i = 0; i < queries; i++) {
      const last = l.causal ? i + keys - queries : keys - 1;
      let max = -Infinity;
      for (let j = 0; j <= last; j++) {
        let dot = 0;
        for (let x = 0; x < d; x++) dot += q[(h * queries + i) * d + x] * k[kBase + j * d + x];
        scores[j] = l.scale * dot;
        if (scores[j] > max) max = scores[j];
      }
      let sum = 0;
      for (let j = 0; j <= last; j++) sum += scores[j] = Math.exp(scores[j] - max);
      const row = (h * queries + i) * keys;
      for (let j = 0; j <= last; j++) out[row + j] = scores[j] / sum;
    }
  }
  return out;
}

function best(f) {
  let ms = Infinity, value;
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    value = f();
    ms = Math.min(ms, performance.now() - t);
  }
  return { ms, value };
}

let seed = 1;
const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
console.log('a causal layer of 14 heads (2 key heads, head size 64) from queries and keys: layerWeights against one query × one key at a time, same run, best of three');
console.log('tokens | layerWeights | plain | plain ÷ ours | GFLOP/s (q·k products) | max |Δ|');
console.log('---:|---:|---:|---:|---:|---:');
for (const n of [512, 1024, 2048]) {
  const l = { name: 'attentions.0', kind: 'self', layer: 0, heads: 14, kvHeads: 2, queries: n, keys: n, headDim: 64, scale: 0.125, causal: true, q: Float32Array.from({ length: 14 * n * 64 }, rnd), k: Float32Array.from({ length: 2 * n * 64 }, rnd) };
  const ours = best(() => layerWeights(l).data);
  const plain = best(() => plainLayer(l));
  let diff = 0;
  for (let i = 0; i < ours.value.length; i++) diff = Math.max(diff, Math.abs(ours.value[i] - plain.value[i]));
  const flops = 14 * ((n * (n + 1)) / 2) * 64 * 2;
  console.log(`${n} | ${ours.ms.toFixed(0)} ms | ${plain.ms.toFixed(0)} ms | ${(plain.ms / ours.ms).toFixed(2)}× | ${(flops / ours.ms / 1e6).toFixed(2)} | ${diff}`);
}

/** The baseline: Ã (½·fused + ½·I, rows renormalised) times the rollout before, row by row over every key, in float64. */
function plainRolloutStep(previous, fused, n) {
  const out = new Float32Array(n * n);
  const t = new Float64Array(n), row = new Float64Array(n);
  for (let q = 0; q < n; q++) {
    let sum = 0;
    for (let k = 0; k < n; k++) sum += t[k] = 0.5 * fused[q * n + k] + (q === k ? 0.5 : 0);
    for (let k = 0; k < n; k++) t[k] /= sum;
    row.fill(0);
    for (let j = 0; j < n; j++) {
      const v = t[j];
      if (v === 0) continue;
      for (let k = 0; k < n; k++) row[k] += v * previous[j * n + k];
    }
    out.set(row, q * n);
  }
  return out;
}

/** A causal layer's heads already fused: each row random and summing to 1 over the keys up to the query. */
function causalFused(n) {
  const m = new Float32Array(n * n);
  for (let q = 0; q < n; q++) {
    let sum = 0;
    for (let k = 0; k <= q; k++) sum += m[q * n + k] = Math.abs(rnd()) + 1e-3;
    for (let k = 0; k <= q; k++) m[q * n + k] /= sum;
  }
  return m;
}

console.log('');
console.log('a long input\'s rollout, one causal layer times the rollout before it: rolloutStep (WebAssembly: four rows by four keys at a time, only up to each row\'s last weight) against the plain product row by row over every key, same run (ours the best of three, plain once)');
console.log('tokens | rolloutStep | plain | plain ÷ ours | same bits');
console.log('---:|---:|---:|---:|---');
for (const n of [1024, 2048]) {
  const first = rolloutStep(undefined, causalFused(n), n);
  const fused = causalFused(n);
  const ours = best(() => rolloutStep(first, fused, n).data);
  const t = performance.now();
  const plain = plainRolloutStep(first.data, fused, n);
  const plainMs = performance.now() - t;
  let same = true;
  for (let i = 0; i < plain.length && same; i++) same = plain[i] === ours.value[i];
  console.log(`${n} | ${ours.ms.toFixed(0)} ms | ${plainMs.toFixed(0)} ms | ${(plainMs / ours.ms).toFixed(2)}× | ${same ? 'yes' : 'NO'}`);
}
