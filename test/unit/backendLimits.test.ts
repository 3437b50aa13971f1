// What each backend can hold, and where a model goes: the checks the panel, the host's question
// before a large model and the CLI all make before reading a byte of it.
import { describe, expect, it } from 'vitest';
import { LIMITS, describeFootprint, fitOn, placeModel, tooLargeMessage, wasmBytes, wasmOnlyReason } from '../../src/core/engine/backendLimits';
import { EngineError } from '../../src/core/engine/engineError';
import type { WeightFootprint } from '../../src/core/engine/modelWeights';

const GB = 1e9;
const model = (f: Partial<WeightFootprint>): WeightFootprint => ({ protoBytes: 1e6, weightBytes: 1 * GB, halfBytes: 0, largest: { name: 'embed', bytes: 0.5 * GB }, externalBytes: 1 * GB, ...f });
const hardware = { maxBufferSize: 4 * GB, hardware: true };

describe('fitOn', () => {
  it('lets a 1 GB model onto either backend', () => {
    expect(fitOn('wasm', model({}))).toEqual({ backend: 'wasm', fits: true, reasons: [] });
    expect(fitOn('webgpu', model({}), hardware).fits).toBe(true);
  });

  it('counts float16 weights three times on WebAssembly (their float32 copies) and names each limit passed', () => {
    const fp16 = model({ weightBytes: 2.5 * GB, halfBytes: 2.4 * GB, largest: { name: 'model.embed_tokens.weight', bytes: 2.3 * 2 ** 30 } });
    expect(wasmBytes(fp16)).toBe(7.3 * GB);
    const fit = fitOn('wasm', fp16, undefined, [1.9 * GB, 2.2 * 2 ** 30]);
    expect(fit.fits).toBe(false);
    expect(fit.reasons).toEqual([
      expect.stringMatching(/^WebAssembly would hold 7\.3 GB \(2\.4 GB of float16 weights become float32 copies\), past the 3\.8 GB/),
      expect.stringMatching(/largest tensor \(model\.embed_tokens\.weight, 2\.5 GB\) is past the 2\.1 GB WebAssembly takes in one piece/),
      expect.stringMatching(/one external data file is 2\.4 GB.*split the data into chunks/),
    ]);
  });

  it('holds WebGPU to the adapter’s largest buffer, and every backend to the 2 GB protobuf', () => {
    expect(fitOn('webgpu', model({ largest: { name: 'lm_head', bytes: 1.2 * GB } }), { maxBufferSize: 2 ** 30, hardware: true }).reasons).toEqual([expect.stringMatching(/lm_head, 1\.2 GB\) is past this GPU's largest buffer \(1\.1 GB\)/)]);
    const single = model({ protoBytes: 2.2 * GB, externalBytes: 0 });
    expect(fitOn('wasm', single).reasons[0]).toMatch(/\.onnx file is 2\.2 GB, past the 2 GB every protobuf is limited to/);
    expect(fitOn('webgpu', single, hardware).fits).toBe(false);
    expect(LIMITS.protobuf).toBe(2 ** 31 - 1);
  });
});

describe('placeModel', () => {
  const big = model({ weightBytes: 5 * GB, externalBytes: 5 * GB, largest: { name: 'embed', bytes: 1 * GB } });

  it('keeps the suggested backend when the model fits it', () => {
    expect(placeModel('onnx/model.onnx', model({}), [], 'auto', { backend: 'wasm', reason: 'no adapter' })).toEqual({ backend: 'wasm', reason: 'no adapter' });
    expect(placeModel('onnx/model.onnx', undefined, [], 'auto', { backend: 'webgpu', reason: 'hardware' }).backend).toBe('webgpu');
  });

  it('in auto, moves a model too large for WebAssembly to a hardware GPU, and says why', () => {
    const p = placeModel('onnx/model.onnx', big, [], 'auto', { backend: 'wasm', reason: 'no', gpu: hardware });
    expect(p.backend).toBe('webgpu');
    expect(p.reason).toMatch(/^onnx\/model\.onnx is too large for WebAssembly \(WebAssembly would hold 5\.0 GB.*\), so WebGPU runs it$/);
  });

  it('in auto, moves a tensor too large for the GPU’s buffers to WebAssembly', () => {
    const p = placeModel('m.onnx', model({ largest: { name: 'lm_head', bytes: 0.9 * GB } }), [], 'auto', { backend: 'webgpu', reason: 'hw', gpu: { maxBufferSize: 2 ** 28, hardware: true } });
    expect(p).toEqual({ backend: 'wasm', reason: expect.stringMatching(/too large for WebGPU .*lm_head.*so WebAssembly runs it/) });
  });

  it('refuses, before reading anything, a model no available backend holds: sizes, limits, the way forward', () => {
    const refuse = (setting: 'auto' | 'wasm', gpu?: typeof hardware) => {
      try {
        placeModel('onnx/model.onnx', big, [], setting, { backend: 'wasm', reason: 'r', gpu });
      } catch (e) {
        expect(e).toBeInstanceOf(EngineError);
        expect((e as EngineError).code).toBe('too-large');
        return (e as Error).message;
      }
      throw new Error('not refused');
    };
    expect(refuse('auto')).toMatch(/^onnx\/model\.onnx is too large to load here \(5\.0 GB of weights.*\)\. WebAssembly: .*past the 3\.8 GB.*Choose a smaller variant of the model \(model_q4\.onnx.* WebGPU: no WebGPU adapter is available\.$/);
    expect(refuse('auto', { ...hardware, hardware: false })).toMatch(/this machine has only a software adapter/);
    expect(refuse('wasm', hardware)).toMatch(/Set attentionLens\.backend to "auto" or "webgpu"\.$/);
  });
});

describe('what a model costs, for people', () => {
  it('describes the footprint and names GroupQueryAttention models as WebAssembly-only', () => {
    expect(describeFootprint(model({ halfBytes: 0.4 * GB, quantization: '4-bit' }))).toBe('1.0 GB of weights (4-bit quantized), 400.0 MB of them float16, 1.0 GB in external data; largest tensor 500.0 MB');
    expect(tooLargeMessage('x.onnx', model({}), [])).toMatch(/^x\.onnx is too large to load here/);
    expect(wasmOnlyReason([':MatMul', 'com.microsoft:GroupQueryAttention'])).toMatch(/GroupQueryAttention/);
    expect(wasmOnlyReason([':MatMul', ':Softmax'])).toBeUndefined();
  });
});
