/**
 * The numeric check of WebGPU against WebAssembly: the same ids through the engine on each backend,
 * every layer (the WebGPU ones read after the first picture too), every head and row compared.
 * Prints a few lines per length; bench/gpu/engineOnGpu.ts calls it before its timings.
 */
import type { AttentionLayer } from '../../src/core/attention';
import { AttentionEngine, type OrtModule, allLayers } from '../../src/core/engine/attentionEngine';

/** What a WebGPU run may differ from a WebAssembly one by, weight for weight. */
export const TOLERANCE = 1e-4;

export interface Comparison {
  tokens: number;
  layers: number;
  heads: number;
  maxAbsDiff: number;
  /** Where the largest difference is: layer name, head, query row, key column. */
  at: string;
  meanAbsDiff: number;
  maxRowSumDeviation: Record<string, number>;
  pass: boolean;
}

/** The largest |Σ_k w − 1| over every row of every head of every layer. */
function maxRowSumDeviation(layers: AttentionLayer[]): number {
  let worst = 0;
  for (const l of layers) {
    for (let r = 0; r < l.heads * l.queries; r++) {
      let sum = 0;
      for (let k = 0, o = r * l.keys; k < l.keys; k++) sum += l.data[o + k];
      worst = Math.max(worst, Math.abs(sum - 1));
    }
  }
  return worst;
}

export function compare(tokens: number, a: AttentionLayer[], b: AttentionLayer[], names: [string, string]): Comparison {
  if (a.length !== b.length) throw new Error(`${tokens} tokens: ${names[0]} gave ${a.length} layers, ${names[1]} ${b.length}`);
  let max = 0;
  let at = '';
  let sum = 0;
  let count = 0;
  for (let i = 0; i < a.length; i++) {
    const [x, y] = [a[i], b[i]];
    if (x.name !== y.name || x.data.length !== y.data.length || x.heads !== y.heads || x.queries !== y.queries || x.keys !== y.keys) {
      throw new Error(`${tokens} tokens, layer ${i}: ${x.name} [${x.heads}, ${x.queries}, ${x.keys}] against ${y.name} [${y.heads}, ${y.queries}, ${y.keys}]`);
    }
    for (let j = 0; j < x.data.length; j++) {
      const d = Math.abs(x.data[j] - y.data[j]);
      sum += d;
      if (!(d <= max)) {
        // NaN counts as the worst (the engine zeroes NaN, so this should not happen).
        max = Number.isNaN(d) ? Infinity : d;
        const row = Math.floor(j / x.keys);
        at = `${x.name} head ${Math.floor(row / x.queries)} row ${row % x.queries} key ${j % x.keys}`;
      }
    }
    count += x.data.length;
  }
  return {
    tokens,
    layers: a.length,
    heads: a[0]?.heads ?? 0,
    maxAbsDiff: max,
    at,
    meanAbsDiff: sum / count,
    maxRowSumDeviation: { [names[0]]: maxRowSumDeviation(a), [names[1]]: maxRowSumDeviation(b) },
    pass: max <= TOLERANCE,
  };
}

/**
 * Runs the engine at each length on each backend (one engine at a time, released before the next),
 * keeping every layer, then compares. With one backend only (no GPU), prints its row sums alone.
 */
export async function compareBackends(
  ort: OrtModule,
  bytes: Uint8Array,
  backends: Array<'webgpu' | 'wasm'>,
  lengths: number[],
  ids: (n: number) => number[],
  log: (s: string) => void,
): Promise<Comparison[]> {
  const results = new Map<string, Map<number, AttentionLayer[]>>();
  for (const backend of backends) {
    const t = performance.now();
    const engine = await AttentionEngine.create(ort, bytes, backend);
    const byLength = new Map<number, AttentionLayer[]>();
    for (const n of lengths) {
      const out = await allLayers(await engine.run({ ids: ids(n) }));
      if (out.warnings.length > 0) log(`check: ${backend} ${n} tokens: ${out.warnings.length} warnings, first: ${out.warnings[0]}`);
      byLength.set(n, out.layers);
    }
    await engine.dispose();
    results.set(backend, byLength);
    log(`check: ${backend} ran ${lengths.join(', ')} tokens in ${((performance.now() - t) / 1000).toFixed(1)} s (create included)`);
  }
  const comparisons: Comparison[] = [];
  for (const n of lengths) {
    if (backends.length < 2) {
      const [b] = backends;
      const layers = results.get(b)!.get(n)!;
      log(`check ${n} tokens: ${b} alone (no second backend), ${layers.length} layers × ${layers[0]?.heads} heads, max |row sum − 1| ${maxRowSumDeviation(layers).toExponential(2)}`);
      continue;
    }
    const c = compare(n, results.get(backends[0])!.get(n)!, results.get(backends[1])!.get(n)!, [backends[0], backends[1]]);
    comparisons.push(c);
    const sums = Object.entries(c.maxRowSumDeviation).map(([b, v]) => `${b} ${v.toExponential(2)}`).join(', ');
    log(`check ${n} tokens, ${c.layers} layers × ${c.heads} heads, ${backends[0]} vs ${backends[1]}:`);
    log(`  max |Δ| ${c.maxAbsDiff.toExponential(2)} (${c.at}), mean |Δ| ${c.meanAbsDiff.toExponential(2)}`);
    log(`  max |row sum − 1|: ${sums}`);
    log(`  max |Δ| ≤ ${TOLERANCE.toExponential(0)}: ${c.pass ? 'PASS' : 'FAIL'}`);
  }
  return comparisons;
}
