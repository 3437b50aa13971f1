// `npm run bench:rows`: a long input's attention rows computed from queries and keys (issue 24), as
// the panel computes a layer when it is shown: `layerWeights` of src/core/queryKeys.ts against a
// plain baseline in the same run, one query against one key with the same float64 sums and
// softmax. A Qwen2.5-0.5B-shaped layer (14 query heads sharing 2 key heads, head size 64),
// causal, random queries and keys, at 512, 1,024 and 2,048 tokens; each timing the best of three.
// Both must give the same weights.
import { importFromSrc } from './srcModules.mjs';

const { layerWeights } = await importFromSrc(["export { layerWeights } from './src/core/queryKeys';"]);

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
