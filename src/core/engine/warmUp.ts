/**
 * A one-operator ONNX model (Softmax over 4 floats) for warming up onnxruntime: creating a session
 * on it compiles the WebAssembly runtime (and, on WebGPU, creates the device) while the real model
 * is still being read. Pure: built with the ONNX protobuf package, no file.
 */
import { onnx } from 'onnx-proto';

let cached: Uint8Array | undefined;

/**
 * The warm-up model's bytes (input `x` and output `y`, float32 [1, 4]): a fresh copy each call,
 * since onnxruntime's proxy worker takes (detaches) the buffer it is given.
 */
export function warmUpModel(): Uint8Array {
  if (cached) return new Uint8Array(cached);
  const tensor = (name: string) => ({
    name,
    type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim: [{ dimValue: 1 }, { dimValue: 4 }] } } },
  });
  cached = onnx.ModelProto.encode({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    producerName: 'attention-lens-warm-up',
    graph: {
      name: 'warm-up',
      node: [{ opType: 'Softmax', input: ['x'], output: ['y'], name: 'softmax' }],
      input: [tensor('x')],
      output: [tensor('y')],
    },
  }).finish();
  return new Uint8Array(cached);
}
