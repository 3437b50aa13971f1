// A hand-built model with weights in every place an ONNX file can hold them, for the skeleton
// (src/core/engine/onnxSkeleton.ts): a large raw initializer of the main graph (the one case it
// points back into the file), and, left as they are, a large one in typed fields (float_data), a
// small raw one, a sparse initializer and a large raw initializer inside an If's branch.
// y = If(cond, x + raw + typed + small + sparse + sub, x + raw + typed + small + sparse).
import { onnx } from 'onnx-proto';

/** Elements of each large tensor: 80 KB of float32, above the skeleton's 64 KB. */
export const N = 20_000;
const FLOAT = onnx.TensorProto.DataType.FLOAT;

/** Deterministic values, distinct per tensor. */
export function values(seed: number, n = N): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.fround(Math.sin(seed * 1000 + i) * 0.5));
}

const raw = (name: string, v: Float32Array, dims = [v.length]) =>
  onnx.TensorProto.create({ name, dataType: FLOAT, dims, rawData: new Uint8Array(v.buffer.slice(0)) });
const vector = (name: string, elem = FLOAT, dims: number[] = [N]) =>
  onnx.ValueInfoProto.create({ name, type: { tensorType: { elemType: elem, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } });
const node = (opType: string, input: string[], output: string, attribute: onnx.IAttributeProto[] = []) =>
  onnx.NodeProto.create({ opType, name: output, input, output: [output], attribute });

/** The model's bytes. The sparse initializer holds every 7th element of `values(5)`. */
export function skeletonCaseModel(): Uint8Array {
  const every7 = Array.from({ length: Math.ceil(N / 7) }, (_, i) => i * 7);
  const dense = values(5);
  const sparse = onnx.SparseTensorProto.create({
    values: raw('sparse', Float32Array.from(every7, (i) => dense[i])),
    indices: onnx.TensorProto.create({ name: 'sparse_indices', dataType: onnx.TensorProto.DataType.INT64, dims: [every7.length], int64Data: every7 }),
    dims: [N],
  });
  const branch = (name: string, withSub: boolean) => onnx.GraphProto.create({
    name,
    node: [withSub ? node('Add', ['s4', 'sub'], `${name}_out`) : node('Identity', ['s4'], `${name}_out`)],
    initializer: withSub ? [raw('sub', values(6))] : [],
    output: [vector(`${name}_out`)],
  });
  const graph = onnx.GraphProto.create({
    name: 'skeleton-cases',
    input: [vector('x'), vector('cond', onnx.TensorProto.DataType.BOOL, [])],
    output: [vector('y')],
    initializer: [
      raw('raw', values(1)),
      onnx.TensorProto.create({ name: 'typed', dataType: FLOAT, dims: [N], floatData: Array.from(values(2)) }),
      raw('small', values(3, 1)),
    ],
    sparseInitializer: [sparse],
    node: [
      node('Add', ['x', 'raw'], 's1'),
      node('Add', ['s1', 'typed'], 's2'),
      node('Add', ['s2', 'small'], 's3'),
      node('Add', ['s3', 'sparse'], 's4'),
      node('If', ['cond'], 'y', [
        { name: 'then_branch', type: onnx.AttributeProto.AttributeType.GRAPH, g: branch('then', true) },
        { name: 'else_branch', type: onnx.AttributeProto.AttributeType.GRAPH, g: branch('else', false) },
      ]),
    ],
  });
  return onnx.ModelProto.encode({ irVersion: 8, opsetImport: [{ domain: '', version: 17 }], graph }).finish();
}

/** y as float64 sums of the float32 terms, each rounded as onnxruntime's float32 Adds round them. */
export function skeletonCaseOutput(x: Float32Array, cond: boolean): Float32Array {
  const [r, t, s, sub, sp] = [values(1), values(2), values(3, 1)[0], values(6), values(5)];
  return Float32Array.from(x, (xi, i) => {
    let v = Math.fround(Math.fround(Math.fround(xi + r[i]) + t[i]) + s);
    v = Math.fround(v + (i % 7 === 0 ? sp[i] : 0));
    return cond ? Math.fround(v + sub[i]) : v;
  });
}
