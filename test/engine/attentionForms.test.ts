// Graph surgery on the ways exporters write attention: eager, SDPA decomposed (Q and K scaled
// separately, NaN guard after the Softmax), casts and dropout on the way to the values,
// grouped-query key/value expansion, and the fused opset-23 Attention operator. Each hand-built
// graph runs in onnxruntime and must give the weights an independent computation gives.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { onnx } from 'onnx-proto';
import * as ort from 'onnxruntime-web';
import { AttentionEngine } from '../../src/core/engine/attentionEngine';
import { exposeAttention } from '../../src/core/engine/graphSurgery';
import { FIXTURES, inspect } from './cli';
import { type AttentionForm, type AttentionGraphSpec, attentionGraph, expectedAttention } from './attentionGraphs';

ort.env.wasm.numThreads = 1;

const IDS = [5, 17, 2, 99, 42, 7, 3];

async function exposed(bytes: Uint8Array, ids: number[], mask = ids.map(() => 1)): Promise<Array<{ name: string; dims: readonly number[]; data: Float32Array }>> {
  const { bytes: rewritten, found } = exposeAttention(bytes);
  const session = await ort.InferenceSession.create(rewritten);
  const feeds = {
    input_ids: new ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, ids.length]),
    attention_mask: new ort.Tensor('int64', BigInt64Array.from(mask.map(BigInt)), [1, ids.length]),
  };
  const out = await session.run(feeds, found.map((f) => f.name));
  await session.release();
  return found.map((f) => ({ name: f.name, dims: out[f.name].dims, data: out[f.name].data as Float32Array }));
}

function maxDiff(data: Float32Array, expected: number[][][]): number {
  const flat = expected.flat(2);
  expect(data.length).toBe(flat.length);
  return flat.reduce((m, v, i) => Math.max(m, Math.abs(v - data[i])), 0);
}

const FORMS: AttentionForm[] = ['eager', 'sdpa', 'cast', 'prescaled', 'attention23'];

const PADDED = [1, 1, 1, 0, 1, 1, 1];

describe.each(FORMS)('%s attention', (form) => {
  it.each([
    ['multi-head, bidirectional', 4, false, undefined],
    ['grouped-query, causal', 2, true, undefined],
    ['grouped-query, bidirectional, a masked key', 2, false, PADDED],
    ['multi-head, causal, a masked key', 4, true, PADDED],
  ] as const)('%s: every layer found, named in order, and equal to the reference', async (_label, kvHeads, causal, mask) => {
    const spec: AttentionGraphSpec = { form, layers: 2, hidden: 16, heads: 4, kvHeads, causal, vocab: 128, seed: 11 };
    const got = await exposed(attentionGraph(spec), IDS, mask ? [...mask] : undefined);
    const want = expectedAttention(spec, IDS, mask ? [...mask] : undefined);
    expect(got.map((g) => g.name)).toEqual(['attentions.0', 'attentions.1']);
    got.forEach((g, l) => {
      expect(g.dims).toEqual([1, 4, IDS.length, IDS.length]);
      // 'cast' rounds the weights to fp16 before the values, so later layers see slightly different
      // inputs; the exposed weights themselves are taken before that cast (1e-5, not fp16's 1e-3).
      expect(maxDiff(g.data, want[l])).toBeLessThan(form === 'cast' && l > 0 ? 1e-3 : 1e-5);
    });
    // Not uniform: the check above would be weak if every row were flat.
    expect(Math.max(...want[0].flat(2))).toBeGreaterThan(0.5);
    if (mask) expect(want[0].every((rows) => rows.every((row) => row[3] === 0))).toBe(true);
  });
});

describe("onnxruntime's GroupQueryAttention", () => {
  it.each([[4, 'multi-head'], [2, 'grouped-query'], [1, 'multi-query']] as const)('%i key/value heads (%s): the weights of the unfused computation', async (kvHeads, _label) => {
    // The kernel wants a head size that is a multiple of 8, and is always causal.
    const spec: AttentionGraphSpec = { form: 'gqa-contrib', layers: 2, hidden: 32, heads: 4, kvHeads, causal: true, vocab: 128, seed: 9 };
    const got = await exposed(attentionGraph(spec), IDS);
    const want = expectedAttention(spec, IDS);
    const unfused = await exposed(attentionGraph({ ...spec, form: 'sdpa' }), IDS);
    expect(got.map((g) => [g.name, ...g.dims])).toEqual([['attentions.0', 1, 4, 7, 7], ['attentions.1', 1, 4, 7, 7]]);
    got.forEach((g, l) => {
      expect(maxDiff(g.data, want[l])).toBeLessThan(1e-5);
      expect(Math.max(...g.data.map((v, i) => Math.abs(v - unfused[l].data[i])))).toBeLessThan(1e-5);
    });
  });
});

describe('the fused Attention operator', () => {
  it.each([23, 24])('opset %i gives the weights of its unfused equivalent, with and without a mask', async (opset) => {
    for (const [causal, mask] of [[false, undefined], [true, undefined], [false, PADDED]] as const) {
      const base = { layers: 2, hidden: 16, heads: 4, kvHeads: 2, causal, vocab: 128, seed: 5 };
      const fused = await exposed(attentionGraph({ ...base, form: 'attention23', opset }), IDS, mask ? [...mask] : undefined);
      const unfused = await exposed(attentionGraph({ ...base, form: 'sdpa' }), IDS, mask ? [...mask] : undefined);
      fused.forEach((f, l) => expect(Math.max(...f.data.map((v, i) => Math.abs(v - unfused[l].data[i])))).toBeLessThan(1e-5));
    }
  });

  it('keeps weights it already returns in mode 3, without a second output', () => {
    const { bytes } = exposeAttention(attentionGraph({ form: 'attention23', layers: 1, hidden: 8, heads: 2, kvHeads: 2, causal: false, vocab: 16, seed: 1 }));
    // Exposing twice must find the same output the first pass added, not add another.
    const again = exposeAttention(bytes);
    expect(again.found.map((f) => f.name)).toEqual(['attentions.0']);
    const model = onnx.ModelProto.decode(again.bytes);
    const att = model.graph!.node!.find((n) => n.opType === 'Attention')!;
    expect(att.output).toHaveLength(4);
    expect(att.attribute!.filter((a) => a.name === 'qk_matmul_output_mode').map((a) => Number(a.i))).toEqual([3]);
  });
});

describe('through the CLI, in a model folder', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'attention-lens-forms-'));
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it.each(['attention23', 'gqa-contrib', 'sdpa'] as const)('a %s export runs like an eager one, matches the reference, and shows its mechanism', (form) => {
    const dir = path.join(tmp, form);
    fs.cpSync(path.join(FIXTURES, 'models/bert-plain'), dir, { recursive: true });
    // The bert tokenizer's vocabulary is 3000 ids.
    const spec: AttentionGraphSpec = { form, layers: 2, hidden: 32, heads: 4, kvHeads: 2, causal: true, vocab: 3000, seed: 3 };
    fs.writeFileSync(path.join(dir, 'onnx/model.onnx'), attentionGraph(spec));
    const out = inspect(dir, 'The cat sat on the mat.', ['--mechanism']) as ReturnType<typeof inspect> & { mechanism: Array<{ name: string; scale: number; scores: Array<Array<Array<number | null>>> }> };
    const want = expectedAttention(spec, out.tokens.map((t) => t.id));
    expect(out.attention.map((a) => [a.name, a.kind, a.layer, a.heads])).toEqual([['attentions.0', 'self', 0, 4], ['attentions.1', 'self', 1, 4]]);
    expect(out.mechanism.map((m) => [m.name, m.scale.toFixed(6)])).toEqual([['attentions.0', (1 / Math.sqrt(8)).toFixed(6)], ['attentions.1', (1 / Math.sqrt(8)).toFixed(6)]]);
    expect(out.mechanism[0].scores[0][0].slice(1).every((s) => s === null)).toBe(true); // causal: the first query sees only itself
    out.attention.forEach((a) => expect(Math.max(...a.weights.flat(2).map((v, i) => Math.abs(v - want[a.layer].flat(2)[i])))).toBeLessThan(1e-5));
  });
});

describe('the mechanism of each form', () => {
  /** The mechanism of `spec` for IDS, through a mechanism engine. */
  async function mechanismOf(spec: AttentionGraphSpec) {
    const engine = await AttentionEngine.create(ort, attentionGraph(spec), 'wasm', 'model.onnx', { mechanism: true });
    try {
      return await engine.run({ ids: IDS });
    } finally {
      await engine.dispose();
    }
  }

  // The fused operators hide their steps: they are computed from the operator's inputs and weights.
  it.each([['eager', 16], ['sdpa', 16], ['cast', 16], ['prescaled', 16], ['attention23', 16], ['gqa-contrib', 32]] as const)('%s: the scale 1/√d, unscaled q and k, W_O, and the same steps as the unfused graph', async (form, hidden) => {
    const spec: AttentionGraphSpec = { form, layers: 2, hidden, heads: 4, kvHeads: 2, causal: true, vocab: 128, seed: 11 };
    const dim = hidden / 4;
    const n = IDS.length;
    const { layers, mechanism } = await mechanismOf(spec);
    const reference = (await mechanismOf({ ...spec, form: 'sdpa' })).mechanism!;
    expect(mechanism!.map((m) => [m.name, m.heads, m.queries, m.keys, m.headDim, m.contributionBasis])).toEqual([
      ['attentions.0', 4, n, n, dim, 'output-projection'],
      ['attentions.1', 4, n, n, dim, 'output-projection'],
    ]);
    for (const [l, m] of mechanism!.entries()) {
      expect(m.scale).toBeCloseTo(1 / Math.sqrt(dim), 6); // sdpa: √scale on q times √scale on k
      for (let h = 0; h < 4; h++) {
        for (let i = 0; i < n; i++) {
          for (let j = 0; j < n; j++) {
            const s = m.scores[(h * n + i) * n + j];
            expect(Number.isNaN(s)).toBe(j > i); // causal keys are masked
            if (j > i) continue;
            const qk = Array.from({ length: dim }, (_, d) => m.q[(h * n + i) * dim + d] * m.k[(h * n + j) * dim + d]).reduce((a, b) => a + b, 0);
            expect(Math.abs(s - m.scale! * qk)).toBeLessThan(1e-4);
          }
        }
      }
      expect(layers[l].name).toBe(m.name);
      // Same weights, same vectors: each step equals the unfused SDPA graph's ('cast' multiplies the
      // values by fp16-rounded weights, so its outputs, and everything after layer 0, differ by ~1e-3).
      const tolerance = form === 'cast' ? 1e-2 : 1e-4;
      for (const key of ['q', 'k', 'v', 'output', 'contribution', 'headNorms'] as const) {
        expect(Math.max(...m[key].map((x, i) => Math.abs(x - reference[l][key][i])))).toBeLessThan(tolerance);
      }
    }
  });
});
