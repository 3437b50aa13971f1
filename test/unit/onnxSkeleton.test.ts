// The native engine reads a single-file model's graph without its weights (onnxSkeleton.ts): the
// large initializers point back into the file at their own bytes; the rest is the model as it was.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { onnx } from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import { bytesSource } from '../../src/core/engine/onnxScan';
import { skeletonModel } from '../../src/core/engine/onnxSkeleton';

const FIXTURES = path.join(__dirname, '../fixtures/models');
/** Byte for byte (vitest's deep equality takes seconds over megabytes). */
const same = (a: Uint8Array, b: Uint8Array | null | undefined) => !!b && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

describe('skeletonModel', () => {
  it.each(['gpt2-plain', 't5-attn', 'llama-attn'])('%s: large initializers point at their bytes in the file; everything else is unchanged', (name) => {
    const bytes = new Uint8Array(fs.readFileSync(path.join(FIXTURES, name, 'onnx/model.onnx')));
    const minBytes = 16 * 1024;
    const skeleton = skeletonModel(bytesSource(bytes), 'model.onnx', minBytes)!;
    const before = onnx.ModelProto.decode(bytes), after = onnx.ModelProto.decode(skeleton.bytes);
    const large = before.graph!.initializer!.filter((t) => t.rawData!.byteLength >= minBytes);
    expect(large.length).toBeGreaterThan(0);
    expect([skeleton.tensors, skeleton.weightBytes]).toEqual([large.length, large.reduce((n, t) => n + t.rawData!.byteLength, 0)]);
    expect(skeleton.bytes.byteLength).toBeLessThan(bytes.byteLength - skeleton.weightBytes + 100 * large.length);
    after.graph!.initializer!.forEach((t, i) => {
      const was = before.graph!.initializer![i];
      const encoded = (x: onnx.ITensorProto) => onnx.TensorProto.encode(x).finish();
      if (was.rawData!.byteLength < minBytes) return void expect(same(encoded(t), encoded(was))).toBe(true);
      expect(t.dataLocation).toBe(onnx.TensorProto.DataLocation.EXTERNAL);
      expect(t.rawData!.byteLength).toBe(0);
      const entry = Object.fromEntries(t.externalData!.map((e) => [e.key, e.value]));
      expect(entry.location).toBe('model.onnx');
      expect(same(bytes.subarray(Number(entry.offset), Number(entry.offset) + Number(entry.length)), was.rawData)).toBe(true);
      const bare = (x: onnx.ITensorProto) => encoded({ ...x, externalData: [], dataLocation: 0, rawData: new Uint8Array(0) });
      expect(same(bare(t), bare(was))).toBe(true);
    });
    const rest = (m: onnx.ModelProto) => onnx.ModelProto.encode({ ...m, graph: { ...m.graph!, initializer: [] } }).finish();
    expect(same(rest(after), rest(before))).toBe(true);
  });

  it('leaves a model with no weight that large alone', () => {
    const bytes = new Uint8Array(fs.readFileSync(path.join(FIXTURES, 'gpt2-plain/onnx/model.onnx')));
    expect(skeletonModel(bytesSource(bytes), 'model.onnx', bytes.byteLength)).toBeUndefined();
  });
});
