// The native engine reads a single-file model's graph without its weights (onnxSkeleton.ts): the
// large initializers point back into the file at their own bytes; the rest is the model as it was.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { onnx } from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import { bytesSource } from '../../src/core/engine/onnxScan';
import { skeletonModel } from '../../src/core/engine/onnxSkeleton';
import { skeletonCaseModel, values } from '../skeletonCases';

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

  it('points only the main graph\'s raw initializers into the file: typed fields, sparse initializers and a branch\'s initializers stay as they are', () => {
    const bytes = skeletonCaseModel();
    const skeleton = skeletonModel(bytesSource(bytes), 'model.onnx')!;
    const before = onnx.ModelProto.decode(bytes), after = onnx.ModelProto.decode(skeleton.bytes);
    expect([skeleton.tensors, skeleton.weightBytes]).toEqual([1, values(1).byteLength]);
    const [raw, typed, small] = after.graph!.initializer!;
    expect(raw.dataLocation).toBe(onnx.TensorProto.DataLocation.EXTERNAL);
    const entry = Object.fromEntries(raw.externalData!.map((e) => [e.key, e.value]));
    expect(same(bytes.subarray(Number(entry.offset), Number(entry.offset) + Number(entry.length)), before.graph!.initializer![0].rawData)).toBe(true);
    const encoded = (x: onnx.ITensorProto) => onnx.TensorProto.encode(x).finish();
    expect([typed, small].every((t, i) => same(encoded(t), encoded(before.graph!.initializer![i + 1])))).toBe(true);
    expect(typed.floatData!.length).toBe(values(2).length);
    // Everything but the main graph's initializers, the sparse one and the If's branches included, byte for byte.
    const rest = (m: onnx.ModelProto) => onnx.ModelProto.encode({ ...m, graph: { ...m.graph!, initializer: [] } }).finish();
    expect(same(rest(after), rest(before))).toBe(true);
    expect(after.graph!.sparseInitializer!.length).toBe(1);
    expect(after.graph!.node!.find((n) => n.opType === 'If')!.attribute![0].g!.initializer![0].rawData!.byteLength).toBe(values(6).byteLength);
  });

  it('leaves a model with no weight that large alone', () => {
    const bytes = new Uint8Array(fs.readFileSync(path.join(FIXTURES, 'gpt2-plain/onnx/model.onnx')));
    expect(skeletonModel(bytesSource(bytes), 'model.onnx', bytes.byteLength)).toBeUndefined();
  });
});
