// The engine's checks on what a model returns, with a stand-in onnxruntime whose session returns
// chosen outputs: outputs that do not follow the input fail clearly, and NaN/∞ weights become 0
// with a warning naming the layer and head.
import { describe, expect, it } from 'vitest';
import { AttentionEngine, EngineError, type OrtModule } from '../../src/core/engine/attentionEngine';

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
