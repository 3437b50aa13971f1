// Contributions and the mechanism of a long input (issue 24): each key's ‖v·W_Oʰ‖, computed inside the graph through
// W_Oʰ's Gram matrix and returned with the queries and keys, against the mechanism run's
// contributions (the values and the projection read out and multiplied in JavaScript; checked
// against W_O read from the file in mechanism.test.ts), on every fixture architecture, the fused
// operators, grouped-query heads, and a model whose projection is quantized (‖v‖ then, as the
// mechanism says). The contribution rows computed from queries, keys and norms equal the full
// layer's contributions normalised per query; and the mechanism of a query, computed from the values
// the layer keeps, equals the mechanism run's row of it.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-web';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { onnx } from 'onnx-proto';
import { type AttentionLayer, type AttentionRecord, recordOfLayer } from '../../src/core/attention';
import { AttentionEngine, type RunInput, allLayers } from '../../src/core/engine/attentionEngine';
import { openEngine } from '../../src/core/engine/splitEngine';
import { type MechanismLayer, contributionRecord } from '../../src/core/mechanism';
import { type QueryKeyLayer, contributionLayer, layerWeights } from '../../src/core/queryKeys';
import { hasQueryMechanism, queryMechanism } from '../../src/core/queryMechanism';
import { engineFiles, readModelFolder } from '../../src/models/modelFolder';
import { loadNativeOrt, nativeModel, openNativeEngine } from '../../src/native/nativeEngine';
import { llmGenerator, maxDifference } from '../llmStandIns';
import { type AttentionGraphSpec, attentionGraph } from './attentionGraphs';
import { fixtureFolder } from './sdpaStyle';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'attention-lens-norms-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
beforeAll(() => {
  ort.env.wasm.numThreads = 1;
  ort.env.logLevel = 'fatal';
});

type Open = (queryKeys: boolean) => Promise<{ run(input: RunInput): ReturnType<AttentionEngine['run']>; dispose(): Promise<void> }>;

/** The same input through a mechanism engine and a query-key engine. */
async function bothWays(open: (options: { mechanism?: boolean; queryKeys?: boolean }) => ReturnType<Open>, input: RunInput) {
  const full = await open({ mechanism: true });
  const qk = await open({ queryKeys: true });
  try {
    const ran = await full.run(input);
    const layers = (await allLayers(ran)).layers;
    const out = await qk.run(input);
    return { layers, mechanism: ran.mechanism!, queryKeys: out.queryKeys! };
  } finally {
    await full.dispose();
    await qk.dispose();
  }
}

const record = (l: AttentionLayer): AttentionRecord => recordOfLayer(l, { tokens: [], causal: false });

/**
 * Every layer's norms against the mechanism's contributions (weight × norm, for every query and
 * key), and its contribution rows against the full layer's; returns the largest difference of the rows.
 */
function expectSameContributions(run: Awaited<ReturnType<typeof bothWays>>, basis: 'output-projection' | 'value-norm'): number {
  expect(run.queryKeys.map((l) => l.name)).toEqual(run.mechanism.map((m) => m.name));
  let worst = 0;
  for (const l of run.queryKeys) {
    const m: MechanismLayer = run.mechanism.find((x) => x.name === l.name)!;
    const weights = run.layers.find((x) => x.name === l.name)!;
    expect([l.valueNormBasis, m.contributionBasis]).toEqual([basis, basis]);
    expect(l.valueNorms).toHaveLength(l.heads * l.keys);
    const norms = l.valueNorms!;
    for (let h = 0; h < l.heads; h++) {
      for (let i = 0; i < l.queries; i++) {
        for (let j = 0; j < l.keys; j++) {
          const at = (h * l.queries + i) * l.keys + j, norm = norms[h * l.keys + j];
          expect(Math.abs(m.contribution[at] - weights.data[at] * norm), `${l.name} head ${h} query ${i} key ${j}`).toBeLessThan(1e-4 * Math.max(1, norm));
        }
      }
    }
    const rows = layerWeights(contributionLayer(l)).data;
    const full = contributionRecord(record(weights), m.contribution).data;
    worst = Math.max(worst, maxDifference(rows, full));
    // Weights, not contributions, unless asked for.
    expect(maxDifference(layerWeights(l).data, weights.data)).toBeLessThan(1e-5);
    expectSameMechanism(l, m, weights);
  }
  return worst;
}

/**
 * The mechanism of each query computed from what the layer keeps (`queryMechanism`) against the
 * mechanism run's row of it: queries, keys and values of every head, the scores (masked alike),
 * the weights, the output, the contributions and each head's share.
 */
function expectSameMechanism(l: QueryKeyLayer, m: MechanismLayer, weights: AttentionLayer): void {
  expect(hasQueryMechanism(l)).toBe(true);
  const close = (a: ArrayLike<number>, b: ArrayLike<number>, what: string) => {
    expect(a.length, what).toBe(b.length);
    for (let x = 0; x < a.length; x++) {
      if (Number.isNaN(b[x])) expect(a[x], `${what} ${x}`).toBeNaN();
      else expect(Math.abs(a[x] - b[x]), `${what} ${x}`).toBeLessThan(1e-4 * Math.max(1, Math.abs(b[x])));
    }
  };
  const [n, keys, d, dv] = [m.queries, m.keys, m.headDim, m.valueDim];
  for (const query of new Set([0, Math.floor(n / 2), n - 1])) {
    const mine = queryMechanism(l, query);
    const one = mine.layer;
    expect([one.heads, one.queries, one.firstQuery, one.keys, one.headDim, one.valueDim, one.contributionBasis]).toEqual([m.heads, 1, query, keys, d, dv, m.contributionBasis]);
    expect(one.scale).toBeCloseTo(m.scale!, 6);
    const rows = (data: Float32Array, cols: number) => Float32Array.from({ length: m.heads * cols }, (_, x) => data[(Math.floor(x / cols) * n + query) * cols + (x % cols)]);
    close(one.q, rows(m.q, d), 'q');
    close(one.k, m.k, 'k');
    close(one.v, m.v, 'v');
    const scores = rows(m.scores, keys);
    if (l.bias) {
      // A position bias is kept relative to the query's own key: each row's scores are the model's less one constant (which the softmax does not see).
      for (let h = 0; h < m.heads; h++) {
        const at = h * keys + query, shift = scores[at] - one.scores[at];
        for (let j = 0; j < keys; j++) scores[h * keys + j] -= shift;
      }
    }
    close(one.scores, scores, 'scores');
    close(mine.weights, rows(weights.data, keys), 'weights');
    close(one.output, rows(m.output, dv), 'output');
    close(one.contribution, rows(m.contribution, keys), 'contribution');
    close(one.headNorms, rows(m.headNorms, 1), 'head norms');
  }
}

const IDS = [5, 17, 2, 99, 41, 8, 63, 20, 11];

describe('on WebAssembly', () => {
  const folderOpen = (name: string) => {
    const f = engineFiles(readModelFolder(fixtureFolder(name, tmp)));
    return (options: { mechanism?: boolean; queryKeys?: boolean }) => openEngine(ort, f.bytes, 'wasm', f.label, { ...f.options, ...options });
  };

  it.each(['bert-attn', 'bert-sdpa', 'gpt2-plain', 'gpt2-plain sdpa-form', 'llama-attn', 'llama-attn sdpa-form'])('%s: each key’s ‖v·W_Oʰ‖ as the mechanism gives it, and the rows of contributions as the full layer’s', async (name) => {
    const run = await bothWays(folderOpen(name), { ids: IDS });
    expect(run.queryKeys.length).toBeGreaterThan(0);
    if (name.startsWith('llama')) expect(run.queryKeys.every((l) => l.kvHeads < l.heads)).toBe(true);
    expect(expectSameContributions(run, 'output-projection')).toBeLessThanOrEqual(1e-6);
  });

  it('t5-attn: with its relative position bias in the scores, encoder, decoder and cross attention', async () => {
    const run = await bothWays(folderOpen('t5-attn'), { ids: IDS, decoderIds: [0, ...IDS.slice(0, 5)] });
    expect(run.queryKeys.map((l) => [l.name, l.bias !== undefined])).toEqual([
      ['encoder_attentions.0', true], ['encoder_attentions.1', true], ['decoder_attentions.0', true], ['decoder_attentions.1', true], ['cross_attentions.0', false], ['cross_attentions.1', false],
    ]);
    // T5's rows meet its own weights within 1e-5, as in queryKeys.test.ts: it does not scale its scores, so float32 rounds its weights more.
    expect(expectSameContributions(run, 'output-projection')).toBeLessThanOrEqual(1e-5);
  });

  it('pads: padding keys have no contribution, and the others are as the full layer’s', async () => {
    const run = await bothWays(folderOpen('bert-attn'), { ids: [...IDS, 0, 0], attentionMask: [...IDS.map(() => 1), 0, 0] });
    expect(expectSameContributions(run, 'output-projection')).toBeLessThanOrEqual(1e-6);
    for (const l of run.queryKeys) {
      const rows = layerWeights(contributionLayer(l)).data;
      for (let r = 0; r < l.heads * l.queries; r++) expect([rows[r * l.keys + l.keys - 2], rows[r * l.keys + l.keys - 1]]).toEqual([0, 0]);
    }
  });

  // The fused operators take the values of their key heads, [1, keys, kvHeads·dim]: each is multiplied by the Gram matrix of every query head of its group.
  it.each([['gqa-contrib', 32], ['attention23', 16], ['eager', 16]] as const)('a %s graph with grouped-query heads', async (form, hidden) => {
    const spec: AttentionGraphSpec = { form, layers: 2, hidden, heads: 4, kvHeads: 2, causal: true, vocab: 128, seed: 11 };
    const bytes = attentionGraph(spec);
    const run = await bothWays((options) => AttentionEngine.create(ort, bytes, 'wasm', 'model.onnx', options), { ids: IDS.map((i) => i % 128) });
    expect(run.queryKeys.map((l) => [l.heads, l.kvHeads])).toEqual([[4, 2], [4, 2]]);
    expect(expectSameContributions(run, 'output-projection')).toBeLessThanOrEqual(1e-6);
  });

  it('a fused operator whose projection is not a constant: ‖v‖ of each key head, shared by its group', async () => {
    const model = onnx.ModelProto.decode(attentionGraph({ form: 'gqa-contrib', layers: 2, hidden: 32, heads: 4, kvHeads: 2, causal: true, vocab: 128, seed: 5 }));
    const graph = model.graph!;
    // W_O times 1, computed in the graph: the same model, but W_O is no longer a constant the surgery reads.
    graph.initializer!.push(onnx.TensorProto.create({ name: 'one_f', dataType: onnx.TensorProto.DataType.FLOAT, dims: [], floatData: [1] }));
    for (const l of [0, 1]) {
      graph.node!.unshift(onnx.NodeProto.create({ opType: 'Mul', name: `l${l}/wo_times_one`, input: [`l${l}/wo`, 'one_f'], output: [`l${l}/wo_computed`] }));
      for (const n of graph.node!) if (n.opType === 'MatMul') n.input = n.input!.map((x) => (x === `l${l}/wo` ? `l${l}/wo_computed` : x));
    }
    const bytes = onnx.ModelProto.encode(model).finish();
    const run = await bothWays((options) => AttentionEngine.create(ort, bytes, 'wasm', 'model.onnx', options), { ids: IDS.map((i) => i % 128) });
    expect(expectSameContributions(run, 'value-norm')).toBeLessThanOrEqual(1e-6);
    for (const l of run.queryKeys) expect(Array.from(l.valueNorms!.subarray(0, l.keys))).toEqual(Array.from(l.valueNorms!.subarray(l.keys, 2 * l.keys))); // heads 0 and 1 share key head 0
  });

  it('a projection held in 4 bits (MatMulNBits) is not read: the norms are ‖v‖, as the mechanism’s', async () => {
    const gen = await llmGenerator();
    const { folder, onnx } = gen.ensureLlmVariant(path.join(tmp, 'llm'), 'qwen2.5-0.5b', 'q4', { tiny: true });
    const f = engineFiles(readModelFolder(folder, onnx));
    const run = await bothWays((options) => openEngine(ort, f.bytes, 'wasm', f.label, { ...f.options, ...options }), { ids: IDS });
    expect(expectSameContributions(run, 'value-norm')).toBeLessThanOrEqual(1e-6);
  });
});

describe('natively', () => {
  it('llama-attn: the norms come with the queries and keys', async () => {
    const info = readModelFolder(fixtureFolder('llama-attn', tmp));
    const ours = await bothWays(async (options) => (await openNativeEngine({ model: nativeModel(info), backend: 'native', ...options })).engine, { ids: IDS });
    expect(loadNativeOrt()).toBeDefined();
    expect(expectSameContributions(ours, 'output-projection')).toBeLessThanOrEqual(1e-6);
  });
});

it('a layer without norms has no contributions, nor one without values a mechanism, and each says so', () => {
  const l: QueryKeyLayer = { name: 'attentions.0', kind: 'self', layer: 0, heads: 1, kvHeads: 1, queries: 1, keys: 1, headDim: 1, scale: 1, q: new Float32Array(1), k: new Float32Array(1), causal: false };
  expect(() => contributionLayer(l)).toThrow(/attentions\.0 has no value norms for its 1 heads and 1 keys/);
  expect(hasQueryMechanism(l)).toBe(false);
  expect(() => queryMechanism(l, 0)).toThrow(/attentions\.0 was not returned with its values, so its mechanism cannot be shown from its queries and keys/);
  const kept = { ...l, values: new Float32Array(1), valueDim: 1, valueNorms: new Float32Array(1), valueNormBasis: 'value-norm' as const };
  expect(() => queryMechanism(kept, 1)).toThrow(/query 1 is outside attentions\.0's 1 queries/);
  expect(queryMechanism(kept, 0).layer.firstQuery).toBe(0);
});
