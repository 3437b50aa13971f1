// Building ONNX models with random weights, for measuring and testing Attention Lens on models of
// real shapes and layouts without downloading any: a small graph builder, deterministic weights,
// float16 conversion, and a writer that streams the protobuf (no buffer ever holds more than one
// tensor) with weights inline or in external data files split into chunks.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
export { onnx };
export const T = onnx.TensorProto.DataType;
const A = onnx.AttributeProto.AttributeType;

export const ai = (name, i) => onnx.AttributeProto.create({ name, type: A.INT, i });
export const af = (name, f) => onnx.AttributeProto.create({ name, type: A.FLOAT, f });
export const aints = (name, ints) => onnx.AttributeProto.create({ name, type: A.INTS, ints });
export const ag = (name, g) => onnx.AttributeProto.create({ name, type: A.GRAPH, g });
const dim = (d) => onnx.TensorShapeProto.Dimension.create(typeof d === 'number' ? { dimValue: d } : { dimParam: d });
/** A value of `elemType` with no declared shape (subgraph outputs). */
export const typedValue = (name, elemType) => onnx.ValueInfoProto.create({ name, type: onnx.TypeProto.create({ tensorType: onnx.TypeProto.Tensor.create({ elemType }) }) });
export const valueInfo = (name, elemType, dims) => onnx.ValueInfoProto.create({ name, type: onnx.TypeProto.create({ tensorType: onnx.TypeProto.Tensor.create({ elemType, shape: onnx.TensorShapeProto.create({ dim: dims.map(dim) }) }) }) });

/** Bytes per element of the types written here. */
const BYTES = { [T.FLOAT]: 4, [T.FLOAT16]: 2, [T.INT64]: 8, [T.INT32]: 4, [T.INT8]: 1, [T.UINT8]: 1, [T.BOOL]: 1 };

/**
 * Nodes and initializers of one graph. Small constants are kept as bytes; weights are described
 * (dims, type, a `produce(emit)` that streams their bytes) and made only when written. A subgraph
 * (`sub()`) has nodes of its own and shares the initializers (the outer scope), as merged decoders do.
 */
export class Graph {
  constructor(parent) {
    this.nodes = [];
    this.inits = parent ? parent.inits : [];
    this.consts = parent ? parent.consts : new Map();
    this.names = parent ? parent.names : new Map();
  }

  sub() {
    return new Graph(this);
  }

  /** Adds a node; returns its output name (or names when `outputs` > 1). */
  node(opType, inputs, attrs = [], { outputs = 1, name, out, domain } = {}) {
    const base = name ?? `/${opType}`;
    const n = this.names.get(base) ?? 0;
    this.names.set(base, n + 1);
    const id = n === 0 ? base : `${base}_${n}`;
    const names = out ? [].concat(out) : Array.from({ length: outputs }, (_, i) => `${id}_output_${i}`);
    this.nodes.push(onnx.NodeProto.create({ opType, name: id, input: inputs, output: names, attribute: attrs, ...(domain ? { domain } : {}) }));
    return names.length === 1 ? names[0] : names;
  }

  /**
   * A weight: `byteLength` bytes streamed by `produce(emit)` when the model is written. `emit`
   * writes the bytes before it returns, so a producer may refill the same buffer.
   */
  weight(name, dims, dataType, produce, byteLength = dims.reduce((a, b) => a * b, 1) * BYTES[dataType]) {
    // A weight asked for again (the two branches of a merged decoder) is the same initializer.
    if (!this.inits.some((i) => i.name === name)) this.inits.push({ name, dims, dataType, produce, byteLength });
    return name;
  }

  /** A small constant (int64, int32, bool, float or float16 bits), one initializer per distinct value. */
  constant(dataType, dims, values) {
    const key = `${dataType}:${dims.join('x')}:${Array.from(values).join(',')}`;
    if (!this.consts.has(key)) {
      const name = `/const_${this.consts.size}`;
      const data = dataType === T.INT64 ? new BigInt64Array(Array.from(values, BigInt))
        : dataType === T.INT32 ? Int32Array.from(values)
          : dataType === T.BOOL || dataType === T.UINT8 ? Uint8Array.from(values)
            : dataType === T.INT8 ? Int8Array.from(values)
              : dataType === T.FLOAT16 ? toHalf(Float32Array.from(values))
                : Float32Array.from(values);
      const bytes = new Uint8Array(data.buffer);
      this.inits.push({ name, dims, dataType, bytes, byteLength: bytes.length });
      this.consts.set(key, name);
    }
    return this.consts.get(key);
  }

  ints(values) {
    return this.constant(T.INT64, [values.length], values);
  }
}

// ---------------------------------------------------------------------------------------------
// Deterministic weights.

/** FNV-1a, never 0 (xorshift's fixed point). */
export function hash(s) {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0 || 1;
}

/**
 * Normal-ish values, mean 0 and standard deviation `std`: the sum of four 16-bit uniforms
 * (Irwin–Hall) from two xorshift32 draws. Bounded (±3.46 std), deterministic, fast; continues from
 * `rng.state`.
 */
export function fillNormal(a, rng, std = 0.02) {
  const scale = std / (65536 * Math.sqrt(1 / 3));
  let x = rng.state | 0;
  for (let i = 0; i < a.length; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    const u = x >>> 0;
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    const w = x >>> 0;
    a[i] = ((u & 0xffff) + (u >>> 16) + (w & 0xffff) + (w >>> 16) - 131070) * scale;
  }
  rng.state = x;
}

/** Float32 → IEEE half bit patterns, round to nearest, ties to even (as numpy's astype(float16)). */
export function toHalf(src) {
  const out = new Uint16Array(src.length);
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  for (let i = 0; i < src.length; i++) {
    f[0] = src[i];
    const b = u[0];
    const sign = (b >>> 16) & 0x8000;
    const exp = (b >>> 23) & 0xff;
    let mant = b & 0x7fffff;
    if (exp === 0xff) { out[i] = sign | 0x7c00 | (mant ? 0x200 : 0); continue; }
    const e = exp - 112;
    if (e >= 0x1f) { out[i] = sign | 0x7c00; continue; }
    if (e <= 0) {
      if (e < -10) { out[i] = sign; continue; }
      mant |= 0x800000;
      const shift = 14 - e;
      let half = mant >> shift;
      const rest = mant & ((1 << shift) - 1);
      const mid = 1 << (shift - 1);
      if (rest > mid || (rest === mid && (half & 1))) half++;
      out[i] = sign | half;
      continue;
    }
    let half = (e << 10) | (mant >> 13);
    const rest = mant & 0x1fff;
    if (rest > 0x1000 || (rest === 0x1000 && (half & 1))) half++;
    out[i] = sign | half;
  }
  return out;
}

export const asBytes = (a) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

// ---------------------------------------------------------------------------------------------
// Writing. The protobuf is streamed: the graph's fields first, each initializer after them (field
// order is free in protobuf; lengths are known from the shapes before any weight is made). With
// `external`, initializers of at least `threshold` bytes go to data files instead, each file up to
// `chunkBytes`, named `<base>`, `<base>_1`, `<base>_2`, … (Transformers.js's chunk names).

const MODEL_GRAPH = (7 << 3) | 2;
const GRAPH_INITIALIZER = (5 << 3) | 2;
const TENSOR_RAW_DATA = (9 << 3) | 2;

/**
 * Writes `model` ({ graph: { name, nodes, inputs, outputs, docString }, inits, opsets, producer, producerVersion }) to
 * `file`. `external`: { location (the first file's name), chunkBytes, threshold } or undefined.
 * Returns the data files written (names relative to the .onnx file's folder).
 */
export function writeModel(file, model, external) {
  if (os.endianness() !== 'LE') throw new Error('raw_data is little-endian; this generator writes host-order numbers and needs a little-endian machine.');
  const dir = path.dirname(file);
  const chunks = [];
  const placed = new Map();
  if (external) {
    let current;
    for (const init of model.inits) {
      if (init.byteLength < (external.threshold ?? 1024)) continue;
      if (!current || (current.size > 0 && current.size + init.byteLength > external.chunkBytes)) {
        current = { location: chunks.length === 0 ? external.location : `${external.location}_${chunks.length}`, size: 0, inits: [] };
        chunks.push(current);
      }
      placed.set(init, { location: current.location, offset: current.size });
      current.inits.push(init);
      current.size += init.byteLength;
    }
  }
  const graphHead = onnx.GraphProto.encode(onnx.GraphProto.create({
    name: model.graph.name,
    node: model.graph.nodes,
    input: model.graph.inputs,
    output: model.graph.outputs,
    docString: model.graph.docString,
  })).finish();
  const tensors = model.inits.map((init) => {
    const where = placed.get(init);
    const externalData = where ? [['location', where.location], ['offset', String(where.offset)], ['length', String(init.byteLength)]].map(([key, value]) => onnx.StringStringEntryProto.create({ key, value })) : undefined;
    const head = onnx.TensorProto.encode(onnx.TensorProto.create({
      name: init.name, dims: init.dims, dataType: init.dataType,
      ...(where ? { externalData, dataLocation: onnx.TensorProto.DataLocation.EXTERNAL } : {}),
    })).finish();
    const rawLen = where ? 0 : init.byteLength;
    const bodyLen = head.length + (where ? 0 : 1 + varintLength(rawLen) + rawLen);
    return { init, head, rawLen, where, bodyLen, fieldLen: 1 + varintLength(bodyLen) + bodyLen };
  });
  const graphLen = graphHead.length + tensors.reduce((s, t) => s + t.fieldLen, 0);
  const modelHead = onnx.ModelProto.encode(onnx.ModelProto.create({
    irVersion: model.irVersion ?? 8,
    opsetImport: model.opsets.map(([domain, version]) => onnx.OperatorSetIdProto.create({ domain, version })),
    producerName: model.producer,
    ...(model.producerVersion ? { producerVersion: model.producerVersion } : {}),
  })).finish();

  // Data files first: the .onnx file appears last, so its presence means the model is whole.
  for (const c of chunks) {
    const fd = fs.openSync(path.join(dir, c.location), 'w');
    try {
      for (const init of c.inits) emitData(init, (b) => fs.writeSync(fd, b));
    } finally {
      fs.closeSync(fd);
    }
  }
  const fd = fs.openSync(file, 'w');
  try {
    const out = (bytes) => fs.writeSync(fd, bytes);
    out(modelHead);
    out(Buffer.concat([Buffer.from([MODEL_GRAPH]), varint(graphLen)]));
    out(graphHead);
    for (const t of tensors) {
      out(Buffer.concat([Buffer.from([GRAPH_INITIALIZER]), varint(t.bodyLen), t.head, ...(t.where ? [] : [Buffer.from([TENSOR_RAW_DATA]), varint(t.rawLen)])]));
      if (!t.where) emitData(t.init, out);
    }
  } finally {
    fs.closeSync(fd);
  }
  return chunks.map((c) => ({ location: c.location, bytes: c.size }));
}

/** Streams one initializer's bytes, checking that the producer made exactly what it promised. */
function emitData(init, out) {
  if (init.bytes) {
    out(init.bytes);
    return;
  }
  let n = 0;
  init.produce((b) => {
    n += b.byteLength;
    out(b);
  });
  if (n !== init.byteLength) throw new Error(`${init.name}: produced ${n} bytes, expected ${init.byteLength}`);
}

function varintLength(n) {
  let len = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    len++;
  }
  return len;
}

function varint(n) {
  const bytes = [];
  while (n >= 128) {
    bytes.push((n % 128) | 128);
    n = Math.floor(n / 128);
  }
  bytes.push(n);
  return Buffer.from(bytes);
}
