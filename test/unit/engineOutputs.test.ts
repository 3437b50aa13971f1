// The engine's checks on what a model returns, with a stand-in onnxruntime whose session returns
// chosen outputs: outputs that do not follow the input fail clearly, and NaN/∞ weights become 0
// with a warning naming the layer and head.
import { describe, expect, it } from 'vitest';
import { onnx } from 'onnx-proto';
import { AttentionEngine, EngineError, type OrtModule } from '../../src/core/engine/attentionEngine';
import { graphOutputNames } from '../../src/core/engine/graphSurgery';
import { warmUpModel } from '../../src/core/engine/warmUp';

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
    expect(graphOutputNames(warmUpModel())).toEqual(['y']);
  });
});
