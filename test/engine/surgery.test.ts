// Graph surgery: attention recovered from models that do not output it, and precise refusals
// for graphs whose attention cannot be exposed.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { onnx } from 'onnx-proto';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAttentionName } from '../../src/core/attention';
import * as ort from 'onnxruntime-web';
import { AttentionEngine, type OrtModule } from '../../src/core/engine/attentionEngine';
import { SurgeryError, exposeAttention } from '../../src/core/engine/graphSurgery';
import { bytesSource, scanModel } from '../../src/core/engine/onnxScan';
import { bytesOfFiles } from '../../src/core/engine/mechanismGraph';
import { llmGenerator, llmReference, maxDifference, referenceAttention } from '../llmStandIns';
import { FIXTURES, inspect, runCli } from './cli';
import { sdpaStyle } from './sdpaStyle';

/** The graph's output names, as the engine reads them before opening a session. */
const outputNames = (bytes: Uint8Array) => scanModel(bytesSource(bytes)).outputs.map((o) => o.name);

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'attention-lens-surgery-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A copy of an *-attn fixture whose graph no longer outputs attention (as most Hub exports). */
function stripped(name: string): string {
  const dir = path.join(tmp, `${name}-stripped`);
  fs.cpSync(path.join(FIXTURES, 'models', name), dir, { recursive: true });
  const file = path.join(dir, 'onnx/model.onnx');
  const model = onnx.ModelProto.decode(fs.readFileSync(file));
  model.graph!.output = model.graph!.output!.filter((o) => !parseAttentionName(o.name ?? ''));
  fs.writeFileSync(file, onnx.ModelProto.encode(model).finish());
  return dir;
}

function maxDiff(a: number[][][], b: number[][][]): number {
  return Math.max(...a.flatMap((h, i) => h.flatMap((r, q) => r.map((v, k) => Math.abs(v - b[i][q][k])))));
}

describe.each([
  ['llama-attn', 1e-4], // grouped-query attention and rotary embeddings
  ['t5-attn', 2e-3], // encoder-decoder: encoder, decoder and cross attention told apart
])('surgery on %s without attention outputs', (name, tolerance) => {
  it('finds every attention, classifies it, and matches the reference', () => {
    const ref = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'models', name, 'reference.json'), 'utf8'))[0] as { text: string; attentions: Record<string, number[][][][]> };
    const out = inspect(stripped(name), ref.text);
    for (const [kind, layers] of Object.entries(ref.attentions)) {
      const got = out.attention.filter((a) => a.kind === kind);
      expect(got.map((a) => a.name)).toEqual(layers.map((_, i) => `${kind === 'self' ? '' : `${kind}_`}attentions.${i}`));
      got.forEach((a) => expect(maxDiff(a.weights, layers[a.layer])).toBeLessThanOrEqual(tolerance));
    }
    expect(out.attention).toHaveLength(Object.values(ref.attentions).flat().length);
  });
});

describe.each([
  ['bert-plain', 1e-4, 0.25],
  ['gpt2-plain', 1e-4, 0.25],
  ['llama-attn', 1e-4, 0.25], // grouped-query, rotary
  ['t5-attn', 2e-3, 1], // encoder-decoder, relative position bias, no scaling
])('%s rewritten into the SDPA export form', (name, tolerance, scale) => {
  it('finds every attention, matches the PyTorch reference, and reads the split scale', () => {
    const dir = path.join(tmp, `${name}-sdpa`);
    fs.cpSync(path.join(FIXTURES, 'models', name), dir, { recursive: true });
    const file = path.join(dir, 'onnx/model.onnx');
    const bytes = sdpaStyle(fs.readFileSync(file));
    const ops = onnx.ModelProto.decode(bytes).graph!.node!.map((n) => n.opType);
    expect(ops.filter((o) => o === 'IsNaN').length).toBe(ops.filter((o) => o === 'Softmax').length);
    fs.writeFileSync(file, bytes);
    const ref = JSON.parse(fs.readFileSync(path.join(dir, 'reference.json'), 'utf8'))[0] as { text: string; attentions: Record<string, number[][][][]> };
    const out = inspect(dir, ref.text, ['--mechanism']) as ReturnType<typeof inspect> & { mechanism: Array<{ name: string; scale: number }> };
    for (const [kind, layers] of Object.entries(ref.attentions)) {
      const got = out.attention.filter((a) => a.kind === kind);
      expect(got).toHaveLength(layers.length);
      got.forEach((a) => expect(maxDiff(a.weights, layers[a.layer])).toBeLessThanOrEqual(tolerance));
    }
    expect(out.mechanism.map((m) => m.scale.toFixed(6))).toEqual(out.attention.map(() => scale.toFixed(6)));
  });
});

it('gives the same JSON for a model with and without attention outputs', () => {
  const text = 'The cat sat on the mat.';
  const withOutputs = inspect(path.join(FIXTURES, 'models/gpt2-attn'), text);
  const viaSurgery = inspect(stripped('gpt2-attn'), text);
  expect(viaSurgery.attention.map((a) => [a.name, a.kind, a.layer, a.heads, a.queries, a.keys])).toEqual(withOutputs.attention.map((a) => [a.name, a.kind, a.layer, a.heads, a.queries, a.keys]));
  expect(maxDiff(viaSurgery.attention[1].weights, withOutputs.attention[1].weights)).toBeLessThan(1e-6);
});

/** A minimal graph: input x → `nodes` → output y. */
function graphBytes(nodes: onnx.INodeProto[], opset = 17, initializer: onnx.ITensorProto[] = []): Uint8Array {
  const f = onnx.TypeProto.create({ tensorType: onnx.TypeProto.Tensor.create({ elemType: onnx.TensorProto.DataType.FLOAT }) });
  return onnx.ModelProto.encode(onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [onnx.OperatorSetIdProto.create({ domain: '', version: opset }), onnx.OperatorSetIdProto.create({ domain: 'com.microsoft', version: 1 })],
    graph: onnx.GraphProto.create({
      name: 'g',
      node: nodes,
      initializer,
      input: [onnx.ValueInfoProto.create({ name: 'x', type: f })],
      output: [onnx.ValueInfoProto.create({ name: 'y', type: f })],
    }),
  })).finish();
}

describe('surgery refuses precisely', () => {
  it('explains fused com.microsoft attention', () => {
    const bytes = graphBytes([onnx.NodeProto.create({ opType: 'MultiHeadAttention', domain: 'com.microsoft', name: 'mha0', input: ['x', 'x', 'x'], output: ['y'] })]);
    expect(() => exposeAttention(bytes)).toThrow(/fused com\.microsoft MultiHeadAttention operator \(node mha0\).*eager attention/);
  });

  it('leaves an opset-23 Attention alone whose scores already feed the graph in another mode', () => {
    const mode = onnx.AttributeProto.create({ name: 'qk_matmul_output_mode', type: onnx.AttributeProto.AttributeType.INT, i: 1 });
    const bytes = graphBytes([onnx.NodeProto.create({ opType: 'Attention', name: 'att', input: ['x', 'x', 'x'], output: ['y', '', '', 'qk'], attribute: [mode] })], 23);
    expect(() => exposeAttention(bytes)).toThrow(/the Attention node att already returns its scores before the softmax \(qk_matmul_output_mode 1\)/);
  });

  it('keeps external data where it is, and moves only small external tensors into the graph when their bytes are given', () => {
    const entries = (offset: number, length: number) => ['model.onnx_data', String(offset), String(length)].map((value, i) => onnx.StringStringEntryProto.create({ key: ['location', 'offset', 'length'][i], value }));
    const big = onnx.TensorProto.create({ name: 'w', dataType: 1, dims: [2048], dataLocation: onnx.TensorProto.DataLocation.EXTERNAL, externalData: entries(0, 8192) });
    const axes = onnx.TensorProto.create({ name: 'axes', dataType: 7, dims: [1], dataLocation: onnx.TensorProto.DataLocation.EXTERNAL, externalData: entries(8192, 8) });
    const nodes = [
      onnx.NodeProto.create({ opType: 'MatMul', input: ['x', 'x'], output: ['s'] }),
      onnx.NodeProto.create({ opType: 'Softmax', input: ['s'], output: ['p'] }),
      onnx.NodeProto.create({ opType: 'MatMul', input: ['p', 'x'], output: ['y'] }),
    ];
    const bytes = graphBytes(nodes, 17, [big, axes]);
    const kept = onnx.ModelProto.decode(exposeAttention(bytes).bytes).graph!.initializer!;
    expect(kept.map((t) => [t.name, t.dataLocation, t.externalData?.map((e) => e.value)])).toEqual([['w', 1, ['model.onnx_data', '0', '8192']], ['axes', 1, ['model.onnx_data', '8192', '8']]]);
    const data = new Uint8Array(8200);
    new DataView(data.buffer).setBigInt64(8192, -1n, true);
    const inlined = onnx.ModelProto.decode(exposeAttention(bytes, 'model.onnx', { externalData: bytesOfFiles(new Map([['model.onnx_data', data]])) }).bytes).graph!.initializer!;
    expect(inlined[0].dataLocation).toBe(1); // 8 KB stays out
    expect([inlined[1].dataLocation ?? 0, inlined[1].externalData, Array.from(inlined[1].rawData!)]).toEqual([0, [], [255, 255, 255, 255, 255, 255, 255, 255]]);
  });

  it('explains a graph with no attention Softmax', () => {
    const bytes = graphBytes([onnx.NodeProto.create({ opType: 'Softmax', input: ['x'], output: ['y'] })]);
    expect(() => exposeAttention(bytes)).toThrow(SurgeryError);
    expect(() => exposeAttention(bytes)).toThrow(/No attention found in model\.onnx: no Softmax feeds a MatMul/);
  });

  it('explains bytes that are not ONNX', () => {
    expect(() => exposeAttention(new Uint8Array([1, 2, 3, 255, 255]), 'onnx/model.onnx')).toThrow(/onnx\/model\.onnx is not a readable ONNX protobuf/);
  });

  it('reports fused attention through the CLI as one specific line', () => {
    const dir = path.join(tmp, 'fused');
    fs.cpSync(path.join(FIXTURES, 'models/bert-plain'), dir, { recursive: true });
    // A valid graph that onnxruntime loads: attention fused into com.microsoft MultiHeadAttention.
    const f = onnx.TypeProto.create({ tensorType: onnx.TypeProto.Tensor.create({ elemType: onnx.TensorProto.DataType.FLOAT }) });
    const bytes = onnx.ModelProto.encode(onnx.ModelProto.create({
      irVersion: 8,
      opsetImport: [onnx.OperatorSetIdProto.create({ domain: '', version: 17 }), onnx.OperatorSetIdProto.create({ domain: 'com.microsoft', version: 1 })],
      graph: onnx.GraphProto.create({
        name: 'fused',
        node: [onnx.NodeProto.create({ opType: 'MultiHeadAttention', domain: 'com.microsoft', name: 'Attention_0', input: ['input_ids', 'input_ids', 'input_ids'], output: ['y'],
          attribute: [onnx.AttributeProto.create({ name: 'num_heads', type: onnx.AttributeProto.AttributeType.INT, i: 2 })] })],
        input: [onnx.ValueInfoProto.create({ name: 'input_ids', type: f })],
        output: [onnx.ValueInfoProto.create({ name: 'y', type: f })],
      }),
    })).finish();
    fs.writeFileSync(path.join(dir, 'onnx/model.onnx'), bytes);
    const r = runCli(['inspect', '--model', dir, '--text', 'hi']);
    expect(r.status).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/fused com\.microsoft MultiHeadAttention operator \(node Attention_0\)/);
  });
});

describe('graph outputs before the first session', () => {
  const read = (name: string) => new Uint8Array(fs.readFileSync(path.join(FIXTURES, 'models', name, 'onnx/model.onnx')));

  it('reads the output names from the wire format, as a full decode does', () => {
    for (const name of ['gpt2-attn', 'bert-plain', 't5-attn']) {
      const bytes = read(name);
      expect(outputNames(bytes)).toEqual(onnx.ModelProto.decode(bytes).graph!.output!.map((o) => o.name));
    }
    expect(outputNames(read('gpt2-attn'))).toContain('attentions.0');
  });

  it('throws on a truncated file instead of returning a partial list', () => {
    const bytes = read('gpt2-plain');
    expect(() => outputNames(bytes.subarray(0, bytes.length >> 1))).toThrow();
  });

  it('opens one onnxruntime session for a model that needs surgery, and one for a model that does not', async () => {
    ort.env.wasm.numThreads = 1;
    let opened = 0;
    const counting = { ...ort, InferenceSession: { create: (...args: unknown[]) => { opened++; return (ort.InferenceSession.create as (...a: unknown[]) => unknown)(...args); } } } as unknown as OrtModule;
    for (const [name, surgery] of [['gpt2-plain', true], ['gpt2-attn', false]] as const) {
      opened = 0;
      const engine = await AttentionEngine.create(counting, read(name), 'wasm');
      expect(engine.exposed.length > 0).toBe(surgery);
      expect(engine.attentionOutputs.length).toBeGreaterThan(0);
      expect(opened).toBe(1);
      await engine.dispose();
    }
  });
});

describe('input variants', () => {
  it('feeds an empty past to KV-cache exports (past_key_values.N.key/value, use_cache_branch)', () => {
    const dir = path.join(tmp, 'with-past');
    fs.cpSync(path.join(FIXTURES, 'models/gpt2-plain'), dir, { recursive: true });
    const file = path.join(dir, 'onnx/model.onnx');
    const model = onnx.ModelProto.decode(fs.readFileSync(file));
    const g = model.graph!;
    const dim = (d: number | string) => onnx.TensorShapeProto.Dimension.create(typeof d === 'number' ? { dimValue: d } : { dimParam: d });
    const tensor = (elemType: number, dims: Array<number | string>) => onnx.TypeProto.create({ tensorType: onnx.TypeProto.Tensor.create({ elemType, shape: onnx.TensorShapeProto.create({ dim: dims.map(dim) }) }) });
    for (const kv of ['key', 'value']) g.input!.push(onnx.ValueInfoProto.create({ name: `past_key_values.0.${kv}`, type: tensor(1, ['batch', 4, 'past_sequence_length', 16]) }));
    g.input!.push(onnx.ValueInfoProto.create({ name: 'use_cache_branch', type: tensor(9, [1]) }));
    // Consume them so the graph keeps them as inputs (ORT checks the fed shapes against the declared 4 and 16).
    g.node!.push(onnx.NodeProto.create({ opType: 'Shape', input: ['past_key_values.0.key'], output: ['past_shape'] }));
    g.node!.push(onnx.NodeProto.create({ opType: 'Cast', input: ['use_cache_branch'], output: ['cache_flag'], attribute: [onnx.AttributeProto.create({ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: 7 })] }));
    g.output!.push(onnx.ValueInfoProto.create({ name: 'past_shape', type: tensor(7, [4]) }), onnx.ValueInfoProto.create({ name: 'cache_flag', type: tensor(7, [1]) }));
    fs.writeFileSync(file, onnx.ModelProto.encode(model).finish());

    const ref = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'models/gpt2-plain/reference.json'), 'utf8'))[0] as { text: string; attentions: { self: number[][][][] } };
    const out = inspect(dir, ref.text);
    out.attention.forEach((a) => expect(maxDiff(a.weights, ref.attentions.self[a.layer])).toBeLessThanOrEqual(1e-4));
  });
});

describe('the rewritten model', () => {
  it('points at the original bytes for its large weights instead of holding a second copy of them', () => {
    const bytes = new Uint8Array(fs.readFileSync(path.join(FIXTURES, 'models/gpt2-plain/onnx/model.onnx')));
    const out = exposeAttention(bytes);
    expect(out.inlineData?.data).toBe(bytes);
    expect(out.bytes.length).toBeLessThan(bytes.length / 4);
    const pointing = onnx.ModelProto.decode(out.bytes).graph!.initializer!.filter((t) => t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL);
    expect(pointing.length).toBeGreaterThan(0);
    // Each points at exactly its raw data in the original file.
    const original = new Map(onnx.ModelProto.decode(bytes).graph!.initializer!.map((t) => [t.name, t.rawData!]));
    for (const t of pointing) {
      const [location, offset, length] = ['location', 'offset', 'length'].map((k) => t.externalData!.find((e) => e.key === k)!.value!);
      expect(location).toBe(out.inlineData!.path);
      expect(Buffer.from(bytes.subarray(Number(offset), Number(offset) + Number(length))).equals(Buffer.from(original.get(t.name)!))).toBe(true);
    }
  });
});

describe('merged decoders: attention inside the branches of an If', () => {
  /** The tiny Qwen stand-in's legacy merged decoder (tools/real-size/llm.mjs), and its PyTorch reference. */
  async function merged(): Promise<{ bytes: Uint8Array; ids: number[]; reference: Float32Array }> {
    const { folder, onnx: file } = (await llmGenerator()).ensureLlmVariant(path.join(tmp, 'llm'), 'qwen2.5-0.5b', 'merged', { tiny: true });
    const ref = llmReference('qwen2.5-0.5b');
    return { bytes: fs.readFileSync(path.join(folder, file)), ids: ref.ids, reference: referenceAttention(ref.variants.merged) };
  }
  const run = async (bytes: Uint8Array, ids: number[]) => {
    const engine = await AttentionEngine.create(ort, bytes, 'wasm');
    const { layers } = await engine.run({ ids });
    await engine.dispose();
    return Float32Array.from(layers.flatMap((l) => Array.from(l.data)));
  };

  it('replaces the If on use_cache_branch by its branch without a past, the one that runs', async () => {
    const { bytes, ids, reference } = await merged();
    expect(onnx.ModelProto.decode(bytes).graph!.node!.map((n) => n.opType)).toEqual(['If']);
    const out = exposeAttention(bytes);
    const ops = onnx.ModelProto.decode(out.bytes).graph!.node!.map((n) => n.opType);
    expect(ops).not.toContain('If');
    expect(out.found.map((f) => [f.name, f.op])).toEqual([['attentions.0', 'Softmax'], ['attentions.1', 'Softmax']]);
    expect(out.withoutPast).toBe(true);
    expect(maxDifference(await run(bytes, ids), reference)).toBeLessThanOrEqual(1e-4);
    // The graph ignores a past now: generation must re-run the sequence, not feed it a cache.
    const engine = await AttentionEngine.create(ort, bytes, 'wasm');
    expect(engine.hasPast).toBe(false);
    await expect(engine.run({ ids: [1], past: { length: 1, tensors: new Map() } })).rejects.toThrow(/takes no key\/value cache/);
    await engine.dispose();
  });

  it('pairs the attentions of both branches of any other If as new outputs of it', async () => {
    const { bytes, ids, reference } = await merged();
    // The condition through an Identity: no longer the merged decoder's input itself.
    const model = onnx.ModelProto.decode(bytes);
    const g = model.graph!;
    g.node = [onnx.NodeProto.create({ opType: 'Identity', input: ['use_cache_branch'], output: ['branch_flag'] }), ...g.node!];
    g.node.find((n) => n.opType === 'If')!.input = ['branch_flag'];
    const paired = onnx.ModelProto.encode(model).finish();
    const out = exposeAttention(paired);
    const rewritten = onnx.ModelProto.decode(out.bytes).graph!;
    const ifNode = rewritten.node!.find((n) => n.opType === 'If')!;
    expect(ifNode.output!.slice(-2)).toEqual(['attentions.0', 'attentions.1']);
    expect(ifNode.attribute!.map((a) => a.g!.output!.slice(-2).map((o) => o.name))).toEqual([['attention_lens/then/attentions.0', 'attention_lens/then/attentions.1'], ['attention_lens/else/attentions.0', 'attention_lens/else/attentions.1']]);
    expect(maxDifference(await run(paired, ids), reference)).toBeLessThanOrEqual(1e-4);
  });

  it('refuses an If whose branches hold different numbers of attentions', async () => {
    const { bytes } = await merged();
    const model = onnx.ModelProto.decode(bytes);
    const g = model.graph!;
    g.node = [onnx.NodeProto.create({ opType: 'Identity', input: ['use_cache_branch'], output: ['branch_flag'] }), ...g.node!];
    const ifNode = g.node.find((n) => n.opType === 'If')!;
    ifNode.input = ['branch_flag'];
    const then = ifNode.attribute!.find((a) => a.name === 'then_branch')!.g!;
    const softmax = then.node!.find((n) => n.opType === 'Softmax')!;
    softmax.opType = 'LogSoftmax'; // one attention fewer in the branch with a past
    expect(() => exposeAttention(onnx.ModelProto.encode(model).finish(), 'onnx/decoder_model_merged.onnx')).toThrow(/the two branches of the If node optimum::if hold 1 and 2 attentions, so they cannot be paired/);
  });
});
