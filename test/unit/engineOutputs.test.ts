// The engine's checks on what a model returns, with a stand-in onnxruntime whose session returns
// chosen outputs: outputs that do not follow the input fail clearly, and NaN/∞ weights become 0
// with a warning naming the layer and head.
import { describe, expect, it } from 'vitest';
import { onnx } from 'onnx-proto';
import { AttentionEngine, EngineError, type OrtModule } from '../../src/core/engine/attentionEngine';
import { bytesSource, scanModel } from '../../src/core/engine/onnxScan';
import { warmUpModel } from '../../src/core/engine/warmUp';

/** The graph's output names, as the engine reads them before opening a session. */
const outputNames = (bytes: Uint8Array) => scanModel(bytesSource(bytes)).outputs.map((o) => o.name);

/** An onnxruntime stand-in whose one session outputs `outputs` (name → [dims, data]) for any input. */
function fakeOrt(outputs: Record<string, [number[], Float32Array]>): OrtModule {
  class Tensor {
    constructor(readonly type: string, readonly data: unknown, readonly dims: number[]) {}
  }
  const session = {
    inputNames: ['input_ids', 'attention_mask'],
    outputNames: Object.keys(outputs),
    inputMetadata: [],
    run: async () => Object.fromEntries(Object.entries(outputs).map(([name, [dims, data]]) => [name, { dims, data }])),
    release: async () => undefined,
  };
  return { Tensor, InferenceSession: { create: async () => session } } as unknown as OrtModule;
}

const notProtobuf = new Uint8Array([0xff, 0xff, 0xff]); // the engine then asks the session for its outputs

describe('engine output checks', () => {
  it('rejects an attention output whose shape does not follow the input (a fixed-size export)', async () => {
    const engine = await AttentionEngine.create(fakeOrt({ 'attentions.0': [[1, 2, 8, 8], new Float32Array(2 * 64).fill(1 / 8)] }), notProtobuf, 'wasm');
    const err = await engine.run({ ids: [1, 2, 3] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EngineError);
    expect((err as Error).message).toMatch(/attentions\.0 has shape \[1, 2, 8, 8\], but the input has 3 tokens .*Re-export with dynamic sequence axes/);
  });

  it('sets NaN and infinite weights to 0 and names each head that had them', async () => {
    const data = new Float32Array(2 * 9).fill(1 / 3);
    data[9 + 4] = NaN;
    data[9 + 5] = Infinity;
    const engine = await AttentionEngine.create(fakeOrt({ 'attentions.1': [[1, 2, 3, 3], data] }), notProtobuf, 'wasm');
    const out = await engine.run({ ids: [1, 2, 3] });
    expect(out.warnings).toEqual(['Layer 2 head 2: 2 of 9 weights were not numbers (NaN or infinite) and show as 0']);
    expect(Array.from(out.layers[0].data).every(Number.isFinite)).toBe(true);
    expect([out.layers[0].data[13], out.layers[0].data[14]]).toEqual([0, 0]);
  });

  it('says when a run ran out of memory, and what to do', async () => {
    const ort = fakeOrt({ 'attentions.0': [[1, 1, 1, 1], Float32Array.of(1)] });
    const engine = await AttentionEngine.create(ort, notProtobuf, 'wasm');
    (engine as unknown as { session: { run(): Promise<never> } }).session.run = async () => {
      throw new Error('failed to call OrtRun(). ERROR_CODE: 6, ERROR_MESSAGE: std::bad_alloc');
    };
    const err = await engine.run({ ids: [1, 2, 3] }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'too-large', message: expect.stringMatching(/^The model ran out of WebAssembly memory \(4 GB at most, weights and activations together\) on 3 tokens \(.*bad_alloc\)\. Select less text, or choose a smaller \(quantized\) variant/) });
  });

  it('checks cross attention against decoder × encoder lengths', async () => {
    const engine = await AttentionEngine.create(fakeOrt({ 'cross_attentions.0': [[1, 1, 2, 3], new Float32Array(6).fill(1 / 3)] }), notProtobuf, 'wasm');
    await expect(engine.run({ ids: [1, 2, 3], decoderIds: [0, 1] })).resolves.toMatchObject({ warnings: [] });
    await expect(engine.run({ ids: [1, 2, 3, 4], decoderIds: [0, 1] })).rejects.toThrow(/2 decoder and 4 encoder tokens/);
  });
});

describe('engine on WebGPU: attention stays on the GPU, layers read back in order', () => {
  /** A model whose graph lists these outputs (all the engine reads before opening a session). */
  const modelWithOutputs = (names: string[]) => onnx.ModelProto.encode({ irVersion: 8, graph: { name: 'g', output: names.map((name) => ({ name })) } }).finish();

  /** A stand-in whose session returns GPU-located tensors; logs session options and every read back. */
  function gpuOrt(outputs: Record<string, [number[], Float32Array]>, log: string[]): OrtModule {
    const session = {
      inputNames: ['input_ids'],
      outputNames: Object.keys(outputs),
      inputMetadata: [],
      run: async () => Object.fromEntries(Object.entries(outputs).map(([name, [dims, data]]) => [name, {
        dims,
        location: 'gpu-buffer',
        get data(): never {
          throw new Error('data of a GPU tensor');
        },
        getData: async (release?: boolean) => (log.push(`read ${name}${release ? ' and release' : ''}`), data),
        dispose: () => log.push(`dispose ${name}`),
      }])),
      release: async () => undefined,
    };
    return { Tensor: class {}, InferenceSession: { create: async (_b: unknown, o: { preferredOutputLocation?: unknown }) => (log.push(`create ${JSON.stringify(o.preferredOutputLocation)}`), session) } } as unknown as OrtModule;
  }
  const uniform = (heads: number, n: number) => new Float32Array(heads * n * n).fill(1 / n);

  it('keeps attention outputs on the GPU, returns the first layer, and reads the others after it', async () => {
    const log: string[] = [];
    const bad = uniform(1, 3);
    bad[0] = NaN;
    // The session lists layer 1 before layer 0: the view's order decides what is read first.
    const ort = gpuOrt({ 'attentions.1': [[1, 1, 3, 3], bad], 'attentions.0': [[1, 1, 3, 3], uniform(1, 3)] }, log);
    const engine = await AttentionEngine.create(ort, modelWithOutputs(['attentions.0', 'attentions.1']), 'webgpu');
    expect(log[0]).toBe('create {"attentions.0":"gpu-buffer","attentions.1":"gpu-buffer"}');
    const out = await engine.run({ ids: [1, 2, 3] });
    expect(out.layers.map((l) => l.name)).toEqual(['attentions.0']);
    expect(out.warnings).toEqual([]);
    const more = await out.rest!;
    expect(more.layers.map((l) => l.name)).toEqual(['attentions.1']);
    expect(more.warnings).toEqual(['Layer 2 head 1: 1 of 9 weights were not numbers (NaN or infinite) and show as 0']);
    expect(log.slice(1)).toEqual(['read attentions.0 and release', 'read attentions.1 and release', 'dispose attentions.1']);
  });

  it('checks every output shape before reading any back, and releases the run\'s buffers when one is wrong', async () => {
    const log: string[] = [];
    const ort = gpuOrt({ 'attentions.0': [[1, 1, 3, 3], uniform(1, 3)], 'attentions.1': [[1, 1, 8, 8], uniform(1, 8)] }, log);
    const engine = await AttentionEngine.create(ort, modelWithOutputs(['attentions.0', 'attentions.1']), 'webgpu');
    await expect(engine.run({ ids: [1, 2, 3] })).rejects.toThrow(/attentions\.1 has shape \[1, 1, 8, 8\]/);
    expect(log.filter((l) => l.startsWith('read'))).toEqual([]);
    // Nothing of the failed run stays on the GPU.
    expect(log.filter((l) => l.startsWith('dispose')).sort()).toEqual(['dispose attentions.0', 'dispose attentions.1']);
  });

  it('leaves outputs on the CPU for WebAssembly: every layer at once, nothing to come', async () => {
    const log: string[] = [];
    const ort = fakeOrt({ 'attentions.0': [[1, 1, 2, 2], uniform(1, 2)], 'attentions.1': [[1, 1, 2, 2], uniform(1, 2)] });
    const create = ort.InferenceSession.create;
    (ort.InferenceSession as { create: unknown }).create = async (b: Uint8Array, o: Parameters<typeof create>[1]) => (log.push(`create ${JSON.stringify(o?.preferredOutputLocation)}`), create(b, o!));
    const engine = await AttentionEngine.create(ort, modelWithOutputs(['attentions.0', 'attentions.1']), 'wasm');
    const out = await engine.run({ ids: [1, 2] });
    expect(log).toEqual(['create undefined']);
    expect(out.layers).toHaveLength(2);
    expect(out.rest).toBeUndefined();
  });
});

describe('warm-up model', () => {
  it('is a fresh buffer each time: the proxy worker detaching one leaves the next intact', () => {
    const first = warmUpModel();
    const size = first.byteLength;
    structuredClone(first.buffer, { transfer: [first.buffer] }); // what postMessage with a transfer list does
    expect(first.byteLength).toBe(0);
    expect(warmUpModel().byteLength).toBe(size);
    expect(outputNames(warmUpModel())).toEqual(['y']);
  });
});

describe("engine inputs and options for today's decoder exports", () => {
  /** A stand-in session declaring `inputs` (name → [type, shape]); records the feeds of each run and the session options. */
  function feedingOrt(inputs: Record<string, [string, Array<number | string>]>, outputs: Record<string, [string, number[], unknown]>, log: { feeds?: Record<string, { type: string; dims: number[]; data: unknown }>; options?: Record<string, unknown> }): OrtModule {
    class Tensor {
      constructor(readonly type: string, readonly data: unknown, readonly dims: number[]) {}
    }
    const session = {
      inputNames: Object.keys(inputs),
      outputNames: Object.keys(outputs),
      inputMetadata: Object.entries(inputs).map(([name, [type, shape]]) => ({ name, isTensor: true, type, shape })),
      run: async (feeds: Record<string, { type: string; dims: number[]; data: unknown }>) => {
        log.feeds = feeds;
        return Object.fromEntries(Object.entries(outputs).map(([name, [type, dims, data]]) => [name, { type, dims, data }]));
      },
      release: async () => undefined,
    };
    return { Tensor, InferenceSession: { create: async (_b: unknown, o: Record<string, unknown>) => ((log.options = o), session) } } as unknown as OrtModule;
  }
  const model = (initializerType: number) => onnx.ModelProto.encode({ irVersion: 8, graph: { name: 'g', initializer: [{ name: 'w', dataType: initializerType, dims: [2], rawData: new Uint8Array(initializerType === 10 ? 4 : 8) }], output: [{ name: 'attentions.0' }] } }).finish();

  it('feeds positions from where the export counts, one logit to keep, GroupQueryAttention lengths and a float16 empty past', async () => {
    const log: Parameters<typeof feedingOrt>[2] = {};
    const ort = feedingOrt({
      input_ids: ['int64', ['batch', 'sequence']],
      position_ids: ['int64', ['batch', 'sequence']],
      num_logits_to_keep: ['int64', []],
      seqlens_k: ['int32', ['batch']],
      total_sequence_length: ['int32', []],
      'past_key_values.0.key': ['float16', ['batch', 2, 'past', 16]],
    }, { 'attentions.0': ['float32', [1, 1, 3, 3], new Float32Array(9).fill(1 / 3)] }, log);
    const engine = await AttentionEngine.create(ort, model(1), 'wasm', 'model.onnx', { firstPosition: 1 });
    await engine.run({ ids: [5, 6, 7] });
    const f = log.feeds!;
    expect(Array.from(f.position_ids.data as BigInt64Array, Number)).toEqual([1, 2, 3]);
    expect([f.num_logits_to_keep.dims, Array.from(f.num_logits_to_keep.data as BigInt64Array, Number)]).toEqual([[], [1]]);
    expect([f.seqlens_k.type, f.seqlens_k.dims, Array.from(f.seqlens_k.data as Int32Array)]).toEqual(['int32', [1], [2]]);
    expect([f.total_sequence_length.type, f.total_sequence_length.dims, Array.from(f.total_sequence_length.data as Int32Array)]).toEqual(['int32', [], [3]]);
    expect([f['past_key_values.0.key'].type, f['past_key_values.0.key'].dims]).toEqual(['float16', [1, 2, 0, 16]]);
  });

  it('opens float16 models on WebAssembly at optimization level basic (no float32 copies), everything else at all', async () => {
    const level = async (type: number, backend: 'wasm' | 'webgpu') => {
      const log: Parameters<typeof feedingOrt>[2] = {};
      await AttentionEngine.create(feedingOrt({ input_ids: ['int64', ['b', 's']] }, { 'attentions.0': ['float32', [1, 1, 1, 1], Float32Array.of(1)] }, log), model(type), backend);
      return log.options!.graphOptimizationLevel;
    };
    expect(await level(10, 'wasm')).toBe('basic');
    expect(await level(1, 'wasm')).toBe('all');
    expect(await level(10, 'webgpu')).toBe('all');
  });

  it('widens a model’s own float16 attention outputs', async () => {
    const log: Parameters<typeof feedingOrt>[2] = {};
    const half = Uint16Array.of(0x3c00, 0x3800, 0x0000, 0x3400); // 1, 0.5, 0, 0.25
    const engine = await AttentionEngine.create(feedingOrt({ input_ids: ['int64', ['b', 's']] }, { 'attentions.0': ['float16', [1, 1, 2, 2], half] }, log), model(1), 'wasm');
    const out = await engine.run({ ids: [1, 2] });
    expect(Array.from(out.layers[0].data)).toEqual([1, 0.5, 0, 0.25]);
  });
});
