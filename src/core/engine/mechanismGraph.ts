/**
 * Where the steps of one attention live in an ONNX graph: the queries and keys that enter the
 * score product (after rotary embeddings and grouped-query repetition, before any scaling of the
 * operands), the scale between their dot products and the scores, the scores before the softmax
 * (after scale, mask and bias), the values the weights multiply, the per-head output, and the
 * output projection's weight matrix. Found from what the graph computes, not from op names an
 * exporter happens to use. Pure: graph in, tensor names and constants out.
 */
import { onnx } from 'onnx-proto';

export type Producers = Map<string, onnx.INodeProto>;
export type Consumers = Map<string, Array<{ node: onnx.INodeProto; index: number }>>;

/** The tensors of one attention, by graph tensor name, and the constants read from the graph. */
export interface MechanismTensors {
  /** Queries [batch, heads, query, headDim], unscaled. */
  q: string;
  /** Keys as the score product takes them, transposed: [batch, heads, headDim, key], unscaled. */
  keysT: string;
  /**
   * The same keys as the model stores them, [batch, kvHeads, key, headDim]: before the score
   * product's transpose and before grouped-query repetition (`storedKeys`); undefined when the
   * transpose is another.
   */
  keys?: string;
  /** Values [batch, heads, key, headDim], after grouped-query repetition. */
  v: string;
  /** The same values as the model stores them, [batch, kvHeads, key, headDim]: before grouped-query repetition (`beforeRepeat`). */
  storedValues: string;
  /** Scores entering the softmax [batch, heads, query, key]: scaled, masked, biased. */
  scores: string;
  /** The score product's own output, before any scale, mask or bias. */
  product: string;
  /** Per-head output weights × values [batch, heads, query, headDim]. */
  output: string;
  /**
   * The factor between q·kᵀ and the scores: every constant multiplier and divisor on the operands
   * and on the product, multiplied out. null when one of them is not a constant of the graph.
   */
  scale: number | null;
  /** Whether an op other than scaling, mask and bias changes the scores (soft-capping): scores ≠ scale·q·kᵀ + bias. */
  shaped: boolean;
  /** The output projection W_O [heads·headDim, hidden], row-major, when the MatMul after the heads are concatenated was found. */
  projection?: Projection;
}

/**
 * W_O `[heads·headDim, hidden]`, row-major, and the graph tensor it was read from (`transposed`:
 * that tensor holds it `[hidden, heads·headDim]`, as a Gemm with transB does).
 */
export interface Projection {
  data: Float32Array;
  rows: number;
  cols: number;
  tensor?: string;
  transposed?: boolean;
}

/**
 * A fused attention operator's inputs (ONNX Attention, onnxruntime's GroupQueryAttention): the
 * engine computes the steps from them, with the weights the operator returns.
 */
export interface FusedMechanismTensors {
  fused: true;
  /** Queries [batch, query, heads·headDim] or [batch, heads, query, headDim]. */
  q: string;
  /** Keys and values, likewise, with `kvHeads` heads (repeated per group of query heads). */
  k: string;
  v: string;
  heads: number;
  kvHeads: number;
  /** The operator's `scale` attribute; absent means 1/√headDim. */
  scale?: number;
  /** Soft-capping (`softcap` > 0) makes the scores a function of q·kᵀ other than a multiple. */
  shaped: boolean;
  projection?: Projection;
}

/**
 * The inputs of a fused attention node, or undefined when they do not hold the vectors that
 * meet in the score product: packed QKV, or rotary embeddings applied inside the operator.
 */
export function fusedMechanismTensors(node: onnx.INodeProto, consumers: Consumers, constants: Constants): FusedMechanismTensors | undefined {
  const [q, k, v] = node.input ?? [];
  const attr = (name: string) => node.attribute?.find((a) => a.name === name);
  const int = (name: string) => (attr(name) ? Number(attr(name)!.i ?? 0) : undefined);
  if (!q || !k || !v || int('do_rotary')) return undefined;
  const heads = int('q_num_heads') ?? int('num_heads') ?? 0;
  const kvHeads = int('kv_num_heads') ?? heads;
  const scale = attr('scale')?.f;
  return {
    fused: true,
    q,
    k,
    v,
    heads,
    kvHeads,
    scale: scale ? scale : undefined,
    shaped: (attr('softcap')?.f ?? 0) > 0,
    projection: concatenatedProjection(node.output![0], consumers, constants),
  };
}

/** Ops between the score product and the Softmax that add a mask or bias, or pass the scores on unchanged. */
const BIAS_OPS = new Set(['Add', 'Sub', 'Where', 'Cast', 'Identity']);
/** How many ops the walks look through before giving up. */
const MAX_STEPS = 12;

/**
 * The mechanism of the attention whose `softmax` feeds `valueMatMul` (probabilities × values),
 * or undefined when the score product behind the softmax cannot be found.
 */
export function mechanismTensors(softmax: onnx.INodeProto, valueMatMul: onnx.INodeProto, producer: Producers, consumers: Consumers, constants: Constants): MechanismTensors | undefined {
  const path = scorePath(softmax.input![0], producer, constants);
  if (!path) return undefined;
  const q = unscaled(path.matmul.input![0], producer, constants);
  const k = unscaled(path.matmul.input![1], producer, constants);
  const factors = [path.factor, q.factor, k.factor];
  const scale = factors.some((f) => f === null) ? null : factors.reduce<number>((a, f) => a * (f as number), 1);
  return {
    q: q.tensor,
    keysT: k.tensor,
    keys: storedKeys(k.tensor, producer, constants),
    v: valueMatMul.input![1],
    storedValues: beforeRepeat(valueMatMul.input![1], producer, constants),
    scores: softmax.input![0],
    product: path.matmul.output![0],
    output: valueMatMul.output![0],
    scale,
    shaped: path.shaped,
    projection: outputProjection(valueMatMul.output![0], consumers, constants),
  };
}

/**
 * The keys behind the score product's operand `keysT` [batch, heads, headDim, key]: the input of
 * its transpose (`[0, 1, 3, 2]`), and before that, where the heads are a grouped-query repetition
 * as Hugging Face's `repeat_kv` exports it (Unsqueeze at axis 2, Expand, Reshape), its input.
 */
function storedKeys(keysT: string, producer: Producers, constants: Constants): string | undefined {
  const transpose = madeBy(keysT, 'Transpose', producer);
  if (transpose?.attribute?.find((a) => a.name === 'perm')?.ints?.map(Number).join(',') !== '0,1,3,2') return undefined;
  return beforeRepeat(transpose.input![0], producer, constants);
}

/** The node of op `op` (default domain) that makes `t`, or undefined. */
function madeBy(t: string | undefined, op: string, producer: Producers): onnx.INodeProto | undefined {
  const n = t === undefined ? undefined : producer.get(t);
  return n?.opType === op && (n.domain ?? '') === '' ? n : undefined;
}

/**
 * `t` [batch, heads, tokens, dim] before a grouped-query repetition of its heads as Hugging Face's
 * `repeat_kv` exports it (Unsqueeze at axis 2, Expand, Reshape): its input; `t` itself otherwise.
 */
export function beforeRepeat(t: string, producer: Producers, constants: Constants): string {
  const expand = madeBy(madeBy(t, 'Reshape', producer)?.input?.[0], 'Expand', producer);
  const unsqueeze = madeBy(expand?.input?.[0], 'Unsqueeze', producer);
  const axes = unsqueeze && (unsqueeze.attribute?.find((a) => a.name === 'axes')?.ints?.map(Number) ?? [constants.scalar(unsqueeze.input?.[1])]);
  return unsqueeze && axes?.length === 1 && axes[0] === 2 ? unsqueeze.input![0] : t;
}

/**
 * The score product Q·Kᵀ behind `tensor` (a Softmax's input), looking through scaling, masks,
 * position bias and soft-capping, with the constant factor applied after it.
 */
export function scorePath(tensor: string, producer: Producers, constants: Constants, depth = 0): { matmul: onnx.INodeProto; factor: number | null; shaped: boolean } | undefined {
  const p = producer.get(tensor);
  if (!p || depth > MAX_STEPS || (p.domain ?? '') !== '') return undefined;
  const op = p.opType ?? '';
  const inputs = p.input ?? [];
  if (op === 'MatMul') return { matmul: p, factor: 1, shaped: false };
  if (op === 'Mul' || op === 'Div') {
    for (const [i, x] of inputs.entries()) {
      if (op === 'Div' && i === 1) break;
      const hit = scorePath(x, producer, constants, depth + 1);
      if (!hit) continue;
      const c = constants.scalar(inputs[1 - i]);
      const factor = hit.factor === null || c === undefined ? null : op === 'Mul' ? hit.factor * c : hit.factor / c;
      return { ...hit, factor };
    }
    return undefined;
  }
  if (BIAS_OPS.has(op)) {
    for (const [i, x] of inputs.entries()) {
      if (op === 'Where' && i === 0) continue;
      if (op === 'Sub' && i === 1) break;
      const hit = scorePath(x, producer, constants, depth + 1);
      if (hit) return hit;
    }
    return undefined;
  }
  if (op === 'Tanh') {
    // Soft-capping (cap·tanh(s / cap)): the scores are a function of the product, not a multiple.
    const hit = scorePath(inputs[0], producer, constants, depth + 1);
    return hit && { ...hit, shaped: true };
  }
  return undefined;
}

/** `tensor` without constant multipliers and divisors in front of it (SDPA exports scale Q and K by √scale each). */
function unscaled(tensor: string, producer: Producers, constants: Constants): { tensor: string; factor: number | null } {
  let factor: number | null = 1;
  for (let step = 0; step < MAX_STEPS; step++) {
    const p = producer.get(tensor);
    if (!p || (p.opType !== 'Mul' && p.opType !== 'Div') || (p.domain ?? '') !== '') break;
    const [a, b] = p.input ?? [];
    const cb = constants.scalar(b);
    const ca = p.opType === 'Mul' ? constants.scalar(a) : undefined;
    if (cb !== undefined) {
      factor = factor === null ? null : p.opType === 'Mul' ? factor * cb : factor / cb;
      tensor = a;
    } else if (ca !== undefined) {
      factor = factor === null ? null : factor * ca;
      tensor = b;
    } else break;
  }
  return { tensor, factor };
}

/**
 * W_O: the heads' outputs [batch, heads, query, headDim] are transposed to [batch, query, heads,
 * headDim], reshaped (once or more) to rows of heads·headDim and multiplied by a constant matrix
 * (MatMul, or Gemm as GPT-2's Conv1D exports). Shape reads on the way are ignored. Any other
 * arrangement leaves the projection unknown (and the contributions fall back to ‖α·v‖).
 */
function outputProjection(output: string, consumers: Consumers, constants: Constants): Projection | undefined {
  const transpose = next(output, consumers);
  const perm = transpose?.attribute?.find((a) => a.name === 'perm')?.ints?.map(Number);
  if (transpose?.opType !== 'Transpose' || perm?.join(',') !== '0,2,1,3') return undefined;
  const reshape = next(transpose.output![0], consumers);
  return reshape?.opType === 'Reshape' ? concatenatedProjection(reshape.output![0], consumers, constants) : undefined;
}

/** The one consumer of `t` that uses its values (Shape only reads its dimensions). */
function next(t: string, consumers: Consumers): onnx.INodeProto | undefined {
  const c = (consumers.get(t) ?? []).filter((x) => x.node.opType !== 'Shape');
  return c.length === 1 && c[0].index === 0 && (c[0].node.domain ?? '') === '' ? c[0].node : undefined;
}

/** W_O after the heads are concatenated in `t` (rows of heads·headDim): through reshapes to a MatMul or Gemm with a constant. */
function concatenatedProjection(t: string, consumers: Consumers, constants: Constants): Projection | undefined {
  let node = next(t, consumers);
  for (let step = 0; node?.opType === 'Reshape' && step < MAX_STEPS; step++) node = next(node.output![0], consumers);
  const tensor = node?.input?.[1];
  if (node?.opType === 'MatMul') {
    const w = constants.matrix(tensor!);
    return w && { ...w, tensor };
  }
  if (node?.opType === 'Gemm') {
    const attr = (name: string) => node!.attribute?.find((a) => a.name === name);
    if (Number(attr('transA')?.i ?? 0) !== 0 || (attr('alpha')?.f ?? 1) !== 1) return undefined;
    const w = constants.matrix(tensor!);
    return w && (Number(attr('transB')?.i ?? 0) === 1 ? { ...transposed(w), tensor, transposed: true } : { ...w, tensor });
  }
  return undefined;
}

function transposed(m: Projection): Projection {
  const data = new Float32Array(m.data.length);
  for (let r = 0; r < m.rows; r++) for (let c = 0; c < m.cols; c++) data[c * m.rows + r] = m.data[r * m.cols + c];
  return { data, rows: m.cols, cols: m.rows };
}

/** Constant tensors of the graph: initializers and Constant nodes, through Identity, Cast and scalar arithmetic. */
export class Constants {
  private readonly initializers = new Map<string, onnx.ITensorProto>();

  constructor(graph: onnx.IGraphProto, private readonly producer: Producers, private readonly external?: ExternalBytes) {
    for (const t of graph.initializer ?? []) this.initializers.set(t.name ?? '', t);
  }

  /** The value of a one-element constant, or undefined. */
  scalar(name: string | undefined, depth = 0): number | undefined {
    if (name === undefined || depth > MAX_STEPS) return undefined;
    const values = this.values(name);
    if (values) return values.length === 1 ? values[0] : undefined;
    const p = this.producer.get(name);
    if (!p || (p.domain ?? '') !== '') return undefined;
    const [a, b] = (p.input ?? []).map((x) => this.scalar(x, depth + 1));
    switch (p.opType) {
      case 'Identity':
      case 'Cast':
        return a;
      case 'Sqrt':
        return a === undefined ? undefined : Math.sqrt(a);
      case 'Reciprocal':
        return a === undefined ? undefined : 1 / a;
      case 'Mul':
        return a === undefined || b === undefined ? undefined : a * b;
      case 'Div':
        return a === undefined || b === undefined ? undefined : a / b;
      default:
        return undefined;
    }
  }

  /** A 2-D float constant (initializer or Constant), row-major. */
  matrix(name: string): Projection | undefined {
    const t = this.tensor(name);
    const dims = (t?.dims ?? []).map(Number);
    const data = t && tensorValues(t, this.external);
    return data && dims.length === 2 ? { data, rows: dims[0], cols: dims[1] } : undefined;
  }

  private values(name: string): Float32Array | undefined {
    const t = this.tensor(name);
    return t && tensorValues(t, this.external);
  }

  private tensor(name: string): onnx.ITensorProto | undefined {
    const init = this.initializers.get(name);
    if (init) return init;
    const p = this.producer.get(name);
    if (p?.opType !== 'Constant' || (p.domain ?? '') !== '') return p?.opType === 'Identity' ? this.tensor(p.input![0]) : undefined;
    const attr = p.attribute?.[0];
    if (attr?.name === 'value') return attr.t ?? undefined;
    if (attr?.name === 'value_float') return onnx.TensorProto.create({ dataType: onnx.TensorProto.DataType.FLOAT, floatData: [attr.f ?? 0] });
    return undefined;
  }
}

/**
 * `length` bytes at `offset` of a model's external data file, by its location in the graph;
 * undefined when the file is not at hand or is shorter.
 */
export type ExternalBytes = (location: string, offset: number, length: number) => Uint8Array | undefined;

/** An `ExternalBytes` over files held in memory (views into them, no copies). */
export function bytesOfFiles(files: ReadonlyMap<string, Uint8Array>): ExternalBytes {
  return (location, offset, length) => {
    const file = files.get(location);
    return file && offset + length <= file.byteLength ? file.subarray(offset, offset + length) : undefined;
  };
}

/**
 * The bytes of an external tensor, from its file; undefined when the file or the range is not
 * there, or the tensor is longer than `maxBytes`.
 */
export function externalRaw(t: onnx.ITensorProto, external: ExternalBytes | undefined, maxBytes = Infinity): Uint8Array | undefined {
  const entry = (key: string) => t.externalData?.find((e) => e.key === key)?.value ?? undefined;
  const length = Number(entry('length') ?? NaN);
  const offset = Number(entry('offset') ?? 0);
  if (!(length <= maxBytes) || !(offset >= 0) || !Number.isSafeInteger(offset + length)) return undefined;
  return external?.(entry('location') ?? '', offset, length);
}

/**
 * A tensor's values as float32 (float32, float64, float16, and int64 for axes and counts; raw,
 * typed or external fields); undefined for other types, and for external data whose file is not given.
 */
export function tensorValues(t: onnx.ITensorProto, external?: ExternalBytes): Float32Array | undefined {
  const isExternal = t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL;
  const raw = isExternal ? externalRaw(t, external) : t.rawData && t.rawData.length > 0 ? t.rawData : undefined;
  if (isExternal && !raw) return undefined;
  const view = raw && new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  switch (t.dataType) {
    case onnx.TensorProto.DataType.FLOAT:
      if (view) return Float32Array.from({ length: raw.length / 4 }, (_, i) => view.getFloat32(i * 4, true));
      return Float32Array.from(t.floatData ?? []);
    case onnx.TensorProto.DataType.DOUBLE:
      if (view) return Float32Array.from({ length: raw.length / 8 }, (_, i) => view.getFloat64(i * 8, true));
      return Float32Array.from(t.doubleData ?? []);
    case onnx.TensorProto.DataType.FLOAT16:
      if (view) return Float32Array.from({ length: raw.length / 2 }, (_, i) => halfToFloat(view.getUint16(i * 2, true)));
      return Float32Array.from(t.int32Data ?? [], halfToFloat);
    case onnx.TensorProto.DataType.INT64:
      // Axes and counts (an Unsqueeze's axes), small enough to be exact.
      if (view) return Float32Array.from({ length: raw.length / 8 }, (_, i) => Number(view.getBigInt64(i * 8, true)));
      return Float32Array.from(t.int64Data ?? [], (v) => Number(v));
    default:
      return undefined;
  }
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}
