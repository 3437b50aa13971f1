// Reading an ONNX file's tensors, operators and inputs from the protobuf wire format without its
// weights, checked against models encoded by onnx-proto (the decoder the engine's surgery uses).
import { onnx } from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import { type ByteSource, ScanError, bytesSource, elementBytes, scanModel } from '../../src/core/engine/onnxScan';
import { externalFiles, unsafeLocation, weightFootprint } from '../../src/core/engine/modelWeights';

const T = onnx.TensorProto.DataType;
const entries = (location: string, offset: number, length: number) => [['location', location], ['offset', String(offset)], ['length', String(length)]].map(([key, value]) => onnx.StringStringEntryProto.create({ key, value }));
const external = (name: string, dims: number[], dataType: number, location: string, offset: number, length: number) =>
  onnx.TensorProto.create({ name, dims, dataType, dataLocation: onnx.TensorProto.DataLocation.EXTERNAL, externalData: entries(location, offset, length) });
const value = (name: string, elemType: number, dims: Array<number | string>) => onnx.ValueInfoProto.create({ name, type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } } });

/** A model with every place a tensor can hide: raw and typed initializers, external ones, a Constant, an If's branch, a sparse initializer. */
function model(): Uint8Array {
  const branch = (name: string) => onnx.GraphProto.create({
    name,
    node: [onnx.NodeProto.create({ opType: 'Softmax', input: ['x'], output: [`${name}/p`] })],
    initializer: [onnx.TensorProto.create({ name: `${name}/w`, dataType: T.FLOAT, dims: [3], floatData: [1, 2, 3] })],
    output: [value(`${name}/p`, T.FLOAT, [])],
  });
  return onnx.ModelProto.encode(onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }, { domain: 'com.microsoft', version: 1 }],
    graph: onnx.GraphProto.create({
      name: 'g',
      node: [
        onnx.NodeProto.create({ opType: 'Constant', output: ['c'], attribute: [onnx.AttributeProto.create({ name: 'value', type: onnx.AttributeProto.AttributeType.TENSOR, t: onnx.TensorProto.create({ dataType: T.INT64, dims: [2], int64Data: [4, 5] }) })] }),
        onnx.NodeProto.create({ opType: 'MatMulNBits', domain: 'com.microsoft', input: ['x', 'q4', 's'], output: ['y'] }),
        onnx.NodeProto.create({ opType: 'If', input: ['cond'], output: ['z'], attribute: [onnx.AttributeProto.create({ name: 'then_branch', type: onnx.AttributeProto.AttributeType.GRAPH, g: branch('then') }), onnx.AttributeProto.create({ name: 'else_branch', type: onnx.AttributeProto.AttributeType.GRAPH, g: branch('else') })] }),
      ],
      initializer: [
        onnx.TensorProto.create({ name: 'embed', dataType: T.FLOAT16, dims: [1000, 64], rawData: new Uint8Array(128_000) }),
        onnx.TensorProto.create({ name: 'q4', dataType: T.UINT8, dims: [8, 2, 16], rawData: new Uint8Array(256) }),
        external('w1', [256, 256], T.FLOAT, 'model.onnx_data', 0, 262_144),
        external('w2', [256], T.FLOAT, 'model.onnx_data_1', 1024, 1024),
        external('w3', [10], T.FLOAT, 'model.onnx_data', 262_144, 40),
      ],
      sparseInitializer: [onnx.SparseTensorProto.create({ values: onnx.TensorProto.create({ name: 'sv', dataType: T.FLOAT, dims: [2], floatData: [1, 2] }), indices: onnx.TensorProto.create({ name: 'si', dataType: T.INT64, dims: [2], int64Data: [0, 3] }), dims: [4] })],
      input: [value('input_ids', T.INT64, ['batch', 'sequence']), value('past_key_values.0.key', T.FLOAT16, ['batch', 2, 'past', 16]), value('num_logits_to_keep', T.INT64, [])],
      output: [value('logits', T.FLOAT, ['batch', 'sequence', 3000])],
    }),
  })).finish();
}

/** A source that answers at most `chunk` bytes per read and counts what it read. */
function stingySource(bytes: Uint8Array, chunk: number): ByteSource & { read: ByteSource['read']; bytesRead: () => number } {
  let total = 0;
  return {
    size: bytes.length,
    read(offset, length) {
      const part = bytes.subarray(offset, offset + Math.min(length, chunk));
      total += part.length;
      return part;
    },
    bytesRead: () => total,
  };
}

describe('scanModel', () => {
  const bytes = model();
  const scan = scanModel(bytesSource(bytes));

  it('finds every tensor with its type, shape, size and external location', () => {
    expect(scan.tensors.map((t) => [t.name, t.dataType, t.dims, t.bytes, t.external])).toEqual([
      ['c', T.INT64, [2], 16, undefined],
      ['then/w', T.FLOAT, [3], 12, undefined],
      ['else/w', T.FLOAT, [3], 12, undefined],
      ['embed', T.FLOAT16, [1000, 64], 128_000, undefined],
      ['q4', T.UINT8, [8, 2, 16], 256, undefined],
      ['w1', T.FLOAT, [256, 256], 262_144, { location: 'model.onnx_data', offset: 0, length: 262_144 }],
      ['w2', T.FLOAT, [256], 1024, { location: 'model.onnx_data_1', offset: 1024, length: 1024 }],
      ['w3', T.FLOAT, [10], 40, { location: 'model.onnx_data', offset: 262_144, length: 40 }],
      ['sv', T.FLOAT, [2], 8, undefined],
      ['si', T.INT64, [2], 16, undefined],
    ]);
    expect(scan.protoBytes).toBe(bytes.length);
  });

  it('lists operators (in subgraphs too) with their domains, the inputs and outputs, and the opsets', () => {
    expect(scan.ops).toEqual([':Constant', ':If', ':Softmax', 'com.microsoft:MatMulNBits']);
    expect(scan.inputs).toEqual([
      { name: 'input_ids', elemType: T.INT64, dims: ['batch', 'sequence'] },
      { name: 'past_key_values.0.key', elemType: T.FLOAT16, dims: ['batch', 2, 'past', 16] },
      { name: 'num_logits_to_keep', elemType: T.INT64, dims: [] },
    ]);
    expect(scan.outputs.map((o) => o.name)).toEqual(['logits']);
    expect(scan.opsets).toEqual({ '': 17, 'com.microsoft': 1 });
  });

  it('reads the same through a source that answers a few bytes at a time, skipping the weights', () => {
    const stingy = stingySource(bytes, 7);
    expect(scanModel(stingy)).toEqual(scan);
    const reader = stingySource(bytes, 1 << 20);
    scanModel(reader);
    // The 128 KB embedding is skipped, not read: far less than the file is touched.
    expect(reader.bytesRead()).toBeLessThan(bytes.length);
  });

  it('says where a truncated or foreign file breaks', () => {
    expect(() => scanModel(bytesSource(bytes.subarray(0, bytes.length - 100)))).toThrow(ScanError);
    expect(() => scanModel(bytesSource(new TextEncoder().encode('this is not a model')))).toThrow(/ends early|runs past|overruns|wire type|malformed/);
    expect(scanModel(bytesSource(new Uint8Array(0))).tensors).toEqual([]);
  });

  it('sums a footprint and groups external files by location', () => {
    const f = weightFootprint(scan);
    expect(f.weightBytes).toBe(16 + 24 + 128_000 + 256 + 262_144 + 1024 + 40 + 24);
    expect(f.halfBytes).toBe(128_000);
    expect(f.largest).toEqual({ name: 'w1', bytes: 262_144 });
    expect(f.externalBytes).toBe(262_144 + 1024 + 40);
    expect(f.quantization).toBe('4-bit');
    expect(externalFiles(scan)).toEqual([
      { location: 'model.onnx_data', needed: 262_184, tensors: 2 },
      { location: 'model.onnx_data_1', needed: 2048, tensors: 1 },
    ]);
    expect(elementBytes(T.FLOAT16, 3)).toBe(6);
    expect(elementBytes(22, 3)).toBe(2); // int4: half a byte each, rounded up
  });
});

describe('unsafeLocation', () => {
  it('accepts files beside the model and refuses every way out of its folder', () => {
    for (const ok of ['model.onnx_data', 'model.onnx_data_1', 'weights/model.onnx.data', './model.onnx_data']) expect(unsafeLocation(ok)).toBeUndefined();
    expect(unsafeLocation('../secrets.bin')).toMatch(/\.\./);
    expect(unsafeLocation('weights/../../x')).toMatch(/\.\./);
    expect(unsafeLocation('..\\x')).toMatch(/\.\./);
    expect(unsafeLocation('/etc/passwd')).toMatch(/absolute/);
    expect(unsafeLocation('\\\\server\\share\\w.bin')).toMatch(/absolute/);
    expect(unsafeLocation('C:/Windows/w.bin')).toMatch(/absolute/);
    expect(unsafeLocation('data.bin:stream')).toMatch(/stream/);
    expect(unsafeLocation('a\u0000b')).toMatch(/control/);
    expect(unsafeLocation(' ')).toMatch(/empty/);
  });
});
