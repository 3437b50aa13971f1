// Long inputs (issue 24): every fixture architecture run as queries and keys, its rows computed on
// demand, against the weights the same model returns in full and against PyTorch's (the fixtures'
// reference.json, 1e-4 as every reference test), on WebAssembly and natively.
// Causal and bidirectional, grouped-query keys, SDPA and eager exports, fused
// GroupQueryAttention, and T5, whose relative position bias is kept as one row per head.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-web';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunInput, allLayers } from '../../src/core/engine/attentionEngine';
import { type ModelEngine as Engine, openEngine } from '../../src/core/engine/splitEngine';
import { type QueryKeyLayer, layerWeights, weightRows } from '../../src/core/queryKeys';
import { type ModelInfo, engineFiles, readModelFolder } from '../../src/models/modelFolder';
import { loadNativeOrt, nativeModel, openNativeEngine } from '../../src/native/nativeEngine';
import { exposeAttention } from '../../src/core/engine/graphSurgery';
import { QUERY_BLOCKS } from '../../src/core/engine/queryBlocks';
import { inputFeeds } from '../../src/core/engine/inputFeeds';
import { onnx } from 'onnx-proto';
import { llmGenerator, llmReference, maxDifference } from '../llmStandIns';
import { FIXTURES } from './cli';
import { fixtureFolder } from './sdpaStyle';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'attention-lens-qk-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
beforeAll(() => {
  ort.env.wasm.numThreads = 1;
  ort.env.logLevel = 'fatal';
});

/** The fixture's folder, or a copy rewritten into the SDPA export form (" sdpa-form"). */
const folderOf = (name: string) => fixtureFolder(name, tmp);

/**
 * On-demand rows against the model's own weights: the rows are computed in float64 from the
 * float32 queries and keys, the model's in float32, so they differ by the model's rounding. 1e-6
 * natively; onnxruntime-web's kernels round GPT-2's scores (up to |s| ≈ 20 here) a little more:
 * measured 1.13e-6 (float32 arithmetic of two onnxruntime builds differs by up to 8.8e-6 on the
 * LLM stand-ins, see llmVariants.test.ts).
 */
const OWN_WEIGHTS = { WebAssembly: 1.5e-6, native: 1e-6 };

type Opener = (info: ModelInfo, queryKeys: boolean) => Promise<Engine>;
const ENGINES: Array<[string, Opener]> = [
  ['WebAssembly', (info, queryKeys) => {
    const f = engineFiles(info);
    return openEngine(ort, f.bytes, 'wasm', f.label, { ...f.options, queryKeys });
  }],
  ['native', async (info, queryKeys) => (await openNativeEngine({ model: nativeModel(info), backend: 'native', queryKeys })).engine],
];

/** The layers in full, and as queries and keys. */
async function bothWays(open: Opener, info: ModelInfo, input: RunInput) {
  const full = await open(info, false);
  const qk = await open(info, true);
  try {
    const stored = (await allLayers(await full.run(input))).layers;
    const out = await qk.run(input);
    return { stored, out };
  } finally {
    await full.dispose();
    await qk.dispose();
  }
}

/** Every layer's on-demand weights against the stored ones: the largest difference. */
function onDemandDifference(stored: Awaited<ReturnType<typeof bothWays>>['stored'], qk: QueryKeyLayer[]): number {
  expect(qk.map((l) => [l.name, l.heads, l.queries, l.keys])).toEqual(stored.map((l) => [l.name, l.heads, l.queries, l.keys]));
  return Math.max(...qk.map((l, i) => maxDifference(layerWeights(l).data, stored[i].data)));
}

interface Reference {
  ids: number[];
  attentions: Record<string, number[][][][]>;
}

describe.each(ENGINES)('on %s', (engine, open) => {
  describe.each([
    ['bert-attn', false, false],
    ['bert-plain', false, false],
    ['bert-sdpa', false, false], // exported with SDPA attention
    ['gpt2-attn', true, false],
    ['gpt2-plain', true, false],
    ['gpt2-plain sdpa-form', true, false],
    ['llama-attn', true, true], // rotary queries and keys, two query heads per key head
    ['llama-attn sdpa-form', true, true],
  ])('%s', (name, causal, grouped) => {
    it('computes every row as the model does: equal to its own weights and to PyTorch', async () => {
      const folder = folderOf(name);
      const refs = JSON.parse(fs.readFileSync(path.join(folder, 'reference.json'), 'utf8')) as Reference[];
      const info = readModelFolder(folder);
      for (const ref of refs) {
        const { stored, out } = await bothWays(open, info, { ids: ref.ids });
        expect(out.layers).toEqual([]); // nothing quadratic came back
        const qk = out.queryKeys!;
        expect(qk.every((l) => l.causal === causal)).toBe(true);
        if (grouped) expect(qk.every((l) => l.kvHeads < l.heads)).toBe(true);
        expect(onDemandDifference(stored, qk)).toBeLessThanOrEqual(OWN_WEIGHTS[engine as keyof typeof OWN_WEIGHTS]);
        const torch = ref.attentions.self;
        for (const l of qk) {
          for (let h = 0; h < l.heads; h++) {
            const rows = weightRows(l, h, 0, l.queries);
            expect(maxDifference(rows, torch[l.layer][h].flat())).toBeLessThanOrEqual(1e-4);
          }
        }
      }
    });
  });

  it('computes T5\'s rows with its relative position bias, as the model does: encoder, decoder and cross attention', async () => {
    const info = readModelFolder(path.join(FIXTURES, 'models/t5-attn'));
    const [ref] = JSON.parse(fs.readFileSync(path.join(info.folder, 'reference.json'), 'utf8')) as Reference[];
    const { stored, out } = await bothWays(open, info, { ids: ref.ids, decoderIds: [0, ...ref.ids.slice(0, 10)] });
    expect(out.layers).toEqual([]); // nothing quadratic came back
    const qk = out.queryKeys!;
    // Self attention carries T5's buckets (the decoder's causal); cross attention has no bias.
    expect(qk.map((l) => [l.name, l.bias !== undefined, l.causal])).toEqual([
      ['encoder_attentions.0', true, false], ['encoder_attentions.1', true, false],
      ['decoder_attentions.0', true, true], ['decoder_attentions.1', true, true],
      ['cross_attentions.0', false, false], ['cross_attentions.1', false, false],
    ]);
    // T5 does not scale its scores, so float32 rounds its weights more than other models': the
    // model's own weights differ from PyTorch's by up to 7.6e-6 here (encoder layer 2, natively),
    // ours from the model's by 8.0e-6, and its cross attention, which has no bias, by 4.3e-6.
    expect(onDemandDifference(stored, qk)).toBeLessThanOrEqual(1e-5);
    for (const l of qk.filter((x) => x.kind === 'encoder')) {
      for (let h = 0; h < l.heads; h++) expect(maxDifference(weightRows(l, h, 0, l.queries), ref.attentions.encoder[l.layer][h].flat())).toBeLessThanOrEqual(1e-4);
    }
  });

  it('keeps a split T5\'s encoder (as the Hub ships it) as queries and keys with its relative bias; its decoders keep their weights', async () => {
    const info = readModelFolder(path.join(FIXTURES, 'models/t5-split'));
    const ref = JSON.parse(fs.readFileSync(path.join(info.folder, 'reference.json'), 'utf8')) as { prompt: number[]; full: { decoderIds: number[] } };
    const { stored, out } = await bothWays(open, info, { ids: ref.prompt, decoderIds: ref.full.decoderIds });
    const qk = out.queryKeys!;
    expect(qk.length).toBeGreaterThan(0);
    expect(qk.every((l) => l.kind === 'encoder' && l.bias !== undefined && !l.causal)).toBe(true);
    expect(out.layers.map((l) => l.name)).toEqual(stored.filter((l) => l.kind !== 'encoder').map((l) => l.name));
    expect(onDemandDifference(stored.filter((l) => l.kind === 'encoder'), qk)).toBeLessThanOrEqual(1e-5); // as for t5-attn above
  });
});

describe('the LLM stand-ins, as the Hub ships them', () => {
  const cache = path.join(tmp, 'llm');
  const SHAPES = ['qwen2.5-0.5b', 'llama-3.2-1b', 'smollm2-135m', 'gemma-3-1b'];
  // Float32 arithmetic throughout: the model's rows and ours agree to float32 rounding.
  const EXACT = ['fp32', 'q4', 'merged', 'genai'];

  it.each(SHAPES)('%s: rows on demand equal the weights the model returns, in every float32 variant (fused GroupQueryAttention included)', async (shape) => {
    const gen = await llmGenerator();
    const ref = llmReference(shape);
    for (const variant of EXACT) {
      const { folder, onnx } = gen.ensureLlmVariant(cache, shape, variant, { tiny: true });
      const info = readModelFolder(folder, onnx);
      const { stored, out } = await bothWays(ENGINES[0][1], info, { ids: ref.ids });
      const qk = out.queryKeys ?? [];
      // genai's operator applies the rotary embedding inside: its layers keep their weights.
      expect([...qk.map((l) => l.name), ...out.layers.map((l) => l.name)].sort()).toEqual(stored.map((l) => l.name).sort());
      if (variant !== 'genai') expect(out.layers, variant).toEqual([]);
      for (const l of qk) {
        const s = stored.find((x) => x.name === l.name)!;
        expect(maxDifference(layerWeights(l).data, s.data), `${variant} ${l.name}`).toBeLessThanOrEqual(OWN_WEIGHTS.WebAssembly);
        expect(l.causal).toBe(true);
      }
    }
  });
});

describe('padding', () => {
  // Padding tokens that no query sees (attention_mask 0): the rows of the others are what the
  // same text gives without them, and every row is the model's own.
  it.each([
    ['bert-attn', false],
    ['gpt2-plain', true],
    ['llama-attn', true],
  ])('%s: padded keys get no weight, and the real rows equal the unpadded run', async (name, causal) => {
    const folder = folderOf(name);
    const [ref] = JSON.parse(fs.readFileSync(path.join(folder, 'reference.json'), 'utf8')) as Reference[];
    const info = readModelFolder(folder);
    const n = ref.ids.length;
    const padded = { ids: [...ref.ids, ...ref.ids.slice(1, 4)], attentionMask: [...ref.ids.map(() => 1), 0, 0, 0] };
    const { stored, out } = await bothWays(ENGINES[0][1], info, padded);
    const qk = out.queryKeys!;
    expect(qk.every((l) => l.causal === causal && l.keyMask !== undefined)).toBe(true);
    expect(onDemandDifference(stored, qk)).toBeLessThanOrEqual(OWN_WEIGHTS.WebAssembly);
    const plain = (await bothWays(ENGINES[0][1], info, { ids: ref.ids })).stored;
    for (const l of qk) {
      for (let h = 0; h < l.heads; h++) {
        const rows = weightRows(l, h, 0, n);
        for (let i = 0; i < n; i++) {
          const row = rows.subarray(i * l.keys, (i + 1) * l.keys);
          expect(Array.from(row.subarray(n))).toEqual([0, 0, 0]);
          const unpadded = plain[l.layer].data.subarray((h * n + i) * n, (h * n + i + 1) * n);
          expect(maxDifference(row.subarray(0, n), unpadded)).toBeLessThanOrEqual(1e-5);
        }
      }
    }
  });
});

describe('what a long run computes and holds', () => {
  // onnxruntime runs a graph in an order of its own (a depth-first walk back from the outputs) and
  // runs every node, read or not. Its own profile says which nodes ran, in which order, and the
  // shape of what each made.
  const ortNode = loadNativeOrt();
  type Ran = { name: string; bytes: number; dims: number[] };

  /** The nodes as onnxruntime ran them, once, on `ids`, with the bytes and dimensions of each one's (first) output. */
  async function ranNodes(bytes: Uint8Array, ids: number[]): Promise<Ran[]> {
    const dir = fs.mkdtempSync(path.join(tmp, 'profile-'));
    const session = await ortNode.InferenceSession.create(bytes, { enableProfiling: true, profileFilePrefix: path.join(dir, 'run') });
    await session.run(inputFeeds(ortNode, session, { ids }));
    session.endProfiling();
    await session.release();
    const [file] = fs.readdirSync(dir);
    type Event = { cat: string; name: string; args: { output_size?: string; output_type_shape?: Array<Record<string, number[]>> } };
    const events = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as Event[];
    return events.filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time')).map((e) => ({
      name: e.name.slice(0, -'_kernel_time'.length),
      bytes: Number(e.args.output_size ?? 0),
      dims: Object.values(e.args.output_type_shape?.[0] ?? {})[0] ?? [],
    }));
  }

  it.each(['bert-attn', 'gpt2-plain', 'llama-attn'])('%s: no layer\'s scores exist whole, its blocks of queries run one after the other, each layer\'s probe rows before the next layer, and no logits are computed', async (name) => {
    const folder = folderOf(name);
    const heads = 4;
    const ids = Array.from({ length: 200 }, (_, i) => 5 + ((i * 37) % 2900));
    const layer = heads * ids.length * ids.length * 4;
    const bytes = fs.readFileSync(path.join(folder, 'onnx/model.onnx'));
    const surgery = exposeAttention(bytes, name, { queryKeys: true, keepInline: true });
    expect(surgery.queryKeys.length).toBeGreaterThan(1);
    const ran = await ranNodes(surgery.bytes, ids);
    /** The largest scores or weights made, [batch, heads, queries, keys] (the mask the model makes once, [batch, 1, n, n], is none). */
    const perHead = (r: Ran[]) => Math.max(...r.filter((x) => x.dims.length === 4 && x.dims[1] === heads && x.dims[3] === ids.length).map((x) => x.bytes));
    // The model run in full makes a whole layer's scores (the check can fail).
    expect(perHead(await ranNodes(exposeAttention(bytes, name, { keepInline: true }).bytes, ids))).toBeGreaterThanOrEqual(layer);
    // 200 queries in 8 blocks of 25: 1/8 of a layer's scores at a time.
    expect(perHead(ran)).toBeLessThanOrEqual(layer / QUERY_BLOCKS);
    // Every attention whose output the model reads again is in blocks, run in order.
    const blocked = surgery.queryKeys.slice(0, -1);
    for (const qk of blocked) {
      const at = (b: number, step: string) => ran.findIndex((r) => r.name.startsWith(`attention_lens/${qk.attention}/blocks/block${b}/`) && r.name.includes(step));
      for (let b = 0; b + 1 < QUERY_BLOCKS; b++) expect(at(b, 'MatMul_1') === -1 ? at(b, 'MatMul') : at(b, 'MatMul_1'), `${qk.attention} block ${b}`).toBeLessThan(at(b + 1, '/q'));
      expect(at(QUERY_BLOCKS - 1, '/q')).toBeGreaterThan(0);
    }
    // Each layer's probe rows (and the bias's) and its value norms run before the next layer
    // begins: left to the end of the run, they held every layer's queries and repeated keys (or
    // values) until then.
    const order = surgery.queryKeys.map((qk) => {
      const at = (prefix: string) => ran.flatMap((r, i) => (r.name.startsWith(`attention_lens/${qk.attention}/${prefix}`) ? [i] : []));
      const [probes, norms] = [at('probe_rows/'), at('norms/')];
      return { first: Math.min(...at('')), taps: [probes.length, norms.length], last: Math.max(...probes, ...norms) };
    });
    for (let i = 0; i + 1 < order.length; i++) {
      expect(order[i].taps.every((n) => n > 0)).toBe(true);
      expect(order[i].last, surgery.queryKeys[i].attention).toBeLessThan(order[i + 1].first);
    }
    // The head's logits ([1, n, 3000]) are no output, and the nodes that made them are gone.
    const model = onnx.ModelProto.decode(surgery.bytes);
    expect(model.graph!.output!.map((o) => o.name)).not.toContain('logits');
    const lmHeads = onnx.ModelProto.decode(bytes).graph!.node!.filter((n) => n.output?.includes('logits') || n.name?.includes('lm_head') || n.name?.includes('cls'));
    expect(lmHeads.length).toBeGreaterThan(0);
    for (const h of lmHeads) expect(ran.map((r) => r.name)).not.toContain(h.name);
  });

  it('keeps an attention whole where something else reads its scores, and gives the same rows', async () => {
    const folder = folderOf('llama-attn');
    const [ref] = JSON.parse(fs.readFileSync(path.join(folder, 'reference.json'), 'utf8')) as Reference[];
    const bytes = fs.readFileSync(path.join(folder, 'onnx/model.onnx'));
    const model = onnx.ModelProto.decode(bytes);
    const graph = model.graph!;
    const softmax = graph.node!.find((n) => n.opType === 'Softmax')!;
    graph.node!.push(onnx.NodeProto.create({ opType: 'Shape', name: 'read_scores', input: [softmax.input![0]], output: ['scores_shape'] }));
    graph.output!.push(onnx.ValueInfoProto.create({ name: 'scores_shape', type: onnx.TypeProto.create({ tensorType: onnx.TypeProto.Tensor.create({ elemType: onnx.TensorProto.DataType.INT64 }) }) }));
    const read = exposeAttention(onnx.ModelProto.encode(model).finish(), 'read', { queryKeys: true, keepInline: true });
    const plain = exposeAttention(bytes, 'plain', { queryKeys: true, keepInline: true });
    const names = (b: Uint8Array) => onnx.ModelProto.decode(b).graph!.node!.map((n) => n.name ?? '');
    expect(names(plain.bytes).some((n) => n.startsWith('attention_lens/attentions.0/blocks/'))).toBe(true);
    expect(names(read.bytes).some((n) => n.startsWith('attention_lens/attentions.0/blocks/'))).toBe(false);
    expect(names(read.bytes)).toContain(softmax.name);
    const probes = async (b: Uint8Array) => {
      const session = await ortNode.InferenceSession.create(b);
      try {
        const results = await session.run(inputFeeds(ortNode, session, { ids: ref.ids }));
        return read.queryKeys.map((qk) => Array.from(results[qk.probe].data as Float32Array));
      } finally {
        await session.release();
      }
    };
    expect(await probes(read.bytes)).toEqual(await probes(plain.bytes));
  });

  it('returns grouped-query keys once per key head, as the model stores them, not repeated per query head', async () => {
    const folder = folderOf('llama-attn'); // 4 query heads sharing 2 key heads
    const [ref] = JSON.parse(fs.readFileSync(path.join(folder, 'reference.json'), 'utf8')) as Reference[];
    const surgery = exposeAttention(fs.readFileSync(path.join(folder, 'onnx/model.onnx')), 'llama-attn', { queryKeys: true, keepInline: true });
    const session = await ortNode.InferenceSession.create(surgery.bytes);
    try {
      const results = await session.run(inputFeeds(ortNode, session, { ids: ref.ids }));
      for (const qk of surgery.queryKeys) {
        expect(qk.transposed).toBe(false);
        expect(results[qk.keys].dims).toEqual([1, 2, ref.ids.length, 16]);
        expect(results[qk.q].dims).toEqual([1, 4, ref.ids.length, 16]);
      }
    } finally {
      await session.release();
    }
  });

  it('keeps the logits for a full run, and the rows of a long run are unchanged by all this', async () => {
    const info = readModelFolder(folderOf('llama-attn'));
    const [ref] = JSON.parse(fs.readFileSync(path.join(info.folder, 'reference.json'), 'utf8')) as Reference[];
    const full = await ENGINES[1][1](info, false);
    const long = await ENGINES[1][1](info, true);
    try {
      expect([full.hasLogits, long.hasLogits]).toEqual([true, false]);
      const stored = (await allLayers(await full.run({ ids: ref.ids }))).layers;
      expect(onDemandDifference(stored, (await long.run({ ids: ref.ids })).queryKeys!)).toBeLessThanOrEqual(OWN_WEIGHTS.native);
    } finally {
      await full.dispose();
      await long.dispose();
    }
  });
});
