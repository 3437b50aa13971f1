/**
 * One attention's quadratic middle (scores, mask, softmax, weights) recomputed for a subset of
 * its queries: the rows its weights are checked against (`probeRows`), and the whole attention in
 * blocks of queries one after the other (`blockQueries`), so that a long run never holds a layer's
 * n² scores at once. Every row of the scores depends only on its own query: the ops between the
 * score product and the value product are elementwise, with broadcasting, and a softmax along the
 * keys. Pure: edits an ONNX graph in place.
 */
import { onnx } from 'onnx-proto';
import { allNodes, int64Tensor, waitFor } from './graphEdit';

/**
 * The blocks of queries a long run's attention is computed in: 1/8 of its n² scores alive at a
 * time (235 MB at 4,096 tokens on 14 heads, two blocks). Each block adds about 18 nodes to each
 * layer, and onnxruntime takes longer to open a larger graph: 16 blocks added 9 s to opening the
 * Qwen2.5-0.5B shape (6 s), 8 blocks 3 s, 4 blocks 1.5 s.
 */
export const QUERY_BLOCKS = 8;
/**
 * The fewest queries in a block: onnxruntime's CPU MatMul takes another path for a single row,
 * which rounds differently from the full product (1.8e-6 in a weight, measured on the fixtures);
 * with blocks of 3 rows the weights came out as in the full product (the engine tests hold them
 * to it within 1e-6). Blocks past the last query repeat it and are cut off.
 */
const MIN_BLOCK = 16;

/** Ops whose every input broadcasts against the scores: a side input's rows follow the queries. */
const BROADCAST = new Set(['Add', 'Sub', 'Mul', 'Div', 'Where', 'Max', 'Min', 'Pow', 'And', 'Or', 'Equal', 'Greater', 'Less', 'GreaterOrEqual', 'LessOrEqual']);
/** Ops that act on each element alone, whose other inputs (a dropout's ratio, a clip's bounds) are not per element. */
const ELEMENTWISE = new Set(['Cast', 'Identity', 'Dropout', 'IsNaN', 'IsInf', 'Not', 'Neg', 'Exp', 'Tanh', 'Sqrt', 'Reciprocal', 'Relu', 'Clip', 'Softmax']);

/** The nodes of one attention from its score product to its value product, in graph order. */
export interface AttentionChain {
  nodes: onnx.INodeProto[];
  /** The score product q·kᵀ: its first input holds the queries along axis −2. */
  product: onnx.INodeProto;
  /** The value product weights·v, whose output is the attention's. */
  values: onnx.INodeProto;
}

const attr = (name: string, i: number) => onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INT, i });

/**
 * The nodes between the score product (the MatMul that makes `product`) and the value product (the
 * one that makes `output`): those both reachable from the first and leading to the second.
 * Undefined when one of them is an op whose rows could depend on other queries.
 */
export function attentionChain(graph: onnx.IGraphProto, product: string, output: string, opset: number): AttentionChain | undefined {
  const nodes = graph.node ?? [];
  const start = nodes.find((n) => n.output?.includes(product));
  const end = nodes.find((n) => n.output?.includes(output));
  if (start?.opType !== 'MatMul' || end?.opType !== 'MatMul' || opset < 13) return undefined;
  const after = new Set<onnx.INodeProto>([start]);
  const made = new Set(start.output);
  for (const n of nodes) {
    if (n !== start && (n.input ?? []).some((x) => made.has(x))) {
      after.add(n);
      for (const o of n.output ?? []) made.add(o);
    }
    if (n === end) break;
  }
  const before = new Set<onnx.INodeProto>([end]);
  const needed = new Set(end.input);
  for (const n of [...nodes].reverse()) {
    if (after.has(n) && (n.output ?? []).some((o) => needed.has(o))) {
      before.add(n);
      for (const x of n.input ?? []) needed.add(x);
    }
  }
  const chain = nodes.filter((n) => after.has(n) && before.has(n));
  for (const n of chain.slice(1, -1)) {
    const op = n.opType ?? '';
    if ((n.domain ?? '') !== '' || !(BROADCAST.has(op) || ELEMENTWISE.has(op))) return undefined;
    const axis = n.attribute?.find((a) => a.name === 'axis');
    if (op === 'Softmax' && (axis ? Number(axis.i) !== -1 : opset < 13)) return undefined;
  }
  return { nodes: chain, product: start, values: end };
}

/** Whether a tensor the chain makes, other than its output, is read outside it (a graph output, a Shape): then it cannot go. */
export function readOutside(graph: onnx.IGraphProto, chain: AttentionChain): boolean {
  const inner = new Set(chain.nodes.flatMap((n) => n.output ?? []).filter((o) => o !== chain.values.output![0]));
  const readers = [...allNodes(graph).filter((n) => !chain.nodes.includes(n)).flatMap((n) => n.input ?? []), ...(graph.output ?? []).map((o) => o.name ?? '')];
  return readers.some((x) => inner.has(x));
}

/** Builds the nodes that gather rows of an attention's tensors; `nodes` collects them in order. */
class RowGraph {
  readonly nodes: onnx.INodeProto[] = [];
  /** Side inputs made broadcastable, once for every block. */
  private readonly sides = new Map<string, { tensor: string; last: string }>();
  constructor(private readonly graph: onnx.IGraphProto, private readonly prefix: string) {}

  /** A node of op `opType`; returns its (first) output. */
  op(opType: string, input: string[], name: string, attribute: onnx.IAttributeProto[] = []): string {
    const output = `${this.prefix}/${name}`;
    this.nodes.push(onnx.NodeProto.create({ opType, name: output, input, output: [output], attribute }));
    return output;
  }

  /** An int64 constant of the graph (shared by every attention). */
  constant(name: string, values: number[], dims?: number[]): string {
    const full = `attention_lens/constant/${name}`;
    if (!(this.graph.initializer ?? []).some((t) => t.name === full)) this.graph.initializer = [...(this.graph.initializer ?? []), int64Tensor(full, values, dims)];
    return full;
  }

  /** The number of queries: dimension −2 of the score product's first input, a scalar. */
  queries(q: string): string {
    return this.op('Gather', [this.op('Shape', [q], 'q_shape'), this.constant('minus_two', [-2], [])], 'queries', [attr('axis', 0)]);
  }

  /**
   * `side` (an input of an op that broadcasts against the scores) with at least two dimensions,
   * and the last index along its dimension −2: a rank-0 or rank-1 tensor gains leading ones, which
   * broadcast alike.
   */
  broadcastable(side: string, tag: string): { tensor: string; last: string } {
    const shape = this.op('Shape', [side], `${tag}/shape`);
    const pad = this.op('Max', [this.op('Sub', [this.constant('two', [2]), this.op('Shape', [shape], `${tag}/rank`)], `${tag}/missing`), this.constant('zero', [0])], `${tag}/pad`);
    const ones = this.op('ConstantOfShape', [pad], `${tag}/ones`, [onnx.AttributeProto.create({ name: 'value', type: onnx.AttributeProto.AttributeType.TENSOR, t: int64Tensor('one', [1]) })]);
    const full = this.op('Concat', [ones, shape], `${tag}/full_shape`, [attr('axis', 0)]);
    const tensor = this.op('Reshape', [side, full], `${tag}/reshaped`);
    const rows = this.op('Gather', [full, this.constant('minus_two', [-2], [])], `${tag}/rows`, [attr('axis', 0)]);
    return { tensor, last: this.op('Sub', [rows, this.constant('one_scalar', [1], [])], `${tag}/last`) };
  }

  /**
   * The chain's nodes again for rows `rows` (int64, 1-D) of the queries, up to `upTo`; returns the
   * new name of every tensor the chain made. Side inputs of broadcasting ops are gathered along
   * dimension −2 (a dimension of 1, such as a padding mask's, by its one row). `zeroQueries`: from
   * queries of zeros, so that the scores hold only what the chain adds to them (bias and mask).
   */
  clone(chain: AttentionChain, rows: string, tag: string, upTo?: string, zeroQueries = false): Map<string, string> {
    const renamed = new Map<string, string>();
    const sides = this.sides;
    const queries = (t: string) => {
      const q = this.op('Gather', [t, rows], `${tag}/q`, [attr('axis', -2)]);
      // Zeros of the queries' type and shape (queries are finite).
      return zeroQueries ? this.op('Sub', [q, q], `${tag}/zero_q`) : q;
    };
    const take = (t: string, i: number, n: onnx.INodeProto): string => {
      if (t === '' || renamed.has(t)) return renamed.get(t) ?? t;
      if (n === chain.product) return i === 0 ? queries(t) : t;
      if (n === chain.values || !BROADCAST.has(n.opType ?? '') || this.fewerThanTwoDims(t)) return t;
      if (!sides.has(t)) sides.set(t, this.broadcastable(t, `side${sides.size}`));
      const side = sides.get(t)!;
      const index = this.op('Min', [rows, side.last], `${tag}/side_rows${renamed.size}_${i}`);
      return this.op('Gather', [side.tensor, index], `${tag}/side${renamed.size}_${i}`, [attr('axis', -2)]);
    };
    for (const n of chain.nodes) {
      const input = (n.input ?? []).map((t, i) => take(t, i, n));
      const output = (n.output ?? []).map((o, i) => (o === '' || i > 0 ? '' : `${this.prefix}/${tag}/${o}`));
      this.nodes.push(onnx.NodeProto.create({ ...n, name: `${this.prefix}/${tag}/${n.name ?? n.opType}`, input, output }));
      if (output[0]) renamed.set(n.output![0], output[0]);
      if (n.output?.includes(upTo ?? '')) break;
    }
    return renamed;
  }

  /** Whether `t` is an initializer of rank 0 or 1: it has no dimension of queries, and broadcasts as it is. */
  private fewerThanTwoDims(t: string): boolean {
    const init = (this.graph.initializer ?? []).find((x) => x.name === t);
    return init !== undefined && (init.dims ?? []).length < 2;
  }

  /** `t` once `after` has been computed, whatever it holds: so that onnxruntime runs `after` first. */
  gate(t: string, after: string, tag: string): string {
    const held = `${this.prefix}/${tag}/gated`;
    this.nodes.push(...waitFor(this.graph, t, after, held));
    return held;
  }
}

/** Puts `added` into the graph's node list just before `at` (everything they read is made before it). */
function insertBefore(graph: onnx.IGraphProto, at: onnx.INodeProto, added: onnx.INodeProto[]): void {
  const nodes = graph.node ?? [];
  const i = nodes.indexOf(at);
  graph.node = [...nodes.slice(0, i), ...added, ...nodes.slice(i)];
}

/**
 * Rows `PROBE_ROWS` (the first query's and the last's) of the weights tensor `weights` on `chain`,
 * computed again from the queries by the model's own ops: `[batch, heads, 2, keys]`, the tensor's
 * type. The full weights need not exist for them. With a softmax on the chain, also `bias`: what
 * the model adds to the scores of five queries (below).
 */
export function probeRows(graph: onnx.IGraphProto, chain: AttentionChain, weights: string, name: string): { probe: string; bias?: string } {
  const g = new RowGraph(graph, name);
  const queries = g.queries(chain.product.input![0]);
  const last = g.op('Sub', [queries, g.constant('one_scalar', [1], [])], 'last_query');
  const rows = g.op('Concat', [g.constant('zero', [0]), g.op('Reshape', [last, g.constant('one', [1])], 'last_query_1d')], 'rows', [attr('axis', 0)]);
  const probe = g.clone(chain, rows, 'rows', weights).get(weights)!;
  // Five rows of the scores from queries of zeros, just before the softmax: what the model adds
  // to q·kᵀ there (a position bias, the mask), `[batch, heads or 1, 5, keys]`. For a bias that
  // depends only on j − i, the first row holds it for keys at or after the query and the last row
  // for keys at or before it: all of it; the rows a quarter, half and three quarters down show
  // whether it does (queryKeyRun.ts, `relativeBias`).
  const softmax = chain.nodes.find((n) => n.opType === 'Softmax');
  let bias: string | undefined;
  if (softmax) {
    const at = (k: number) => g.op('Reshape', [g.op('Div', [g.op('Mul', [queries, g.constant(`times_${k}`, [k], [])], `quarter_${k}_times`), g.constant('four', [4], [])], `quarter_${k}`), g.constant('one', [1])], `quarter_${k}_1d`);
    const biasRows = g.op('Concat', [rows, at(1), at(2), at(3)], 'bias_rows', [attr('axis', 0)]);
    bias = g.clone(chain, biasRows, 'bias', softmax.input![0], true).get(softmax.input![0]);
  }
  insertBefore(graph, chain.values, g.nodes);
  return { probe, ...(bias ? { bias } : {}) };
}

/**
 * Replaces the attention on `chain` by `QUERY_BLOCKS` copies, each for a block of consecutive
 * queries (the last rows repeated where they do not divide evenly), run one after the other
 * (each block's queries wait for the previous block's output), their
 * outputs concatenated along the queries and cut back to the number of queries. The output keeps
 * its name and values; at most two blocks' scores are alive at once instead of the layer's.
 */
export function blockQueries(graph: onnx.IGraphProto, chain: AttentionChain, name: string): void {
  const g = new RowGraph(graph, name);
  const queries = g.queries(chain.product.input![0]);
  const even = g.op('Div', [g.op('Add', [queries, g.constant('blocks_less_one', [QUERY_BLOCKS - 1], [])], 'rounded_up'), g.constant('blocks', [QUERY_BLOCKS], [])], 'even_size');
  const size = g.op('Max', [even, g.constant('min_block', [MIN_BLOCK], [])], 'block_size');
  const last = g.op('Sub', [queries, g.constant('one_scalar', [1], [])], 'last_query');
  const output = chain.values.output![0];
  const outputs: string[] = [];
  let previous: string | undefined;
  for (let b = 0; b < QUERY_BLOCKS; b++) {
    const start = g.op('Mul', [size, g.constant(`block_${b}`, [b], [])], `block${b}/start`);
    const range = g.op('Range', [start, g.op('Add', [start, size], `block${b}/end`), g.constant('one_scalar', [1], [])], `block${b}/range`);
    let rows = g.op('Min', [range, last], `block${b}/rows`);
    if (previous) rows = g.gate(rows, previous, `block${b}/wait`);
    previous = g.clone(chain, rows, `block${b}`).get(output)!;
    outputs.push(previous);
  }
  const joined = g.op('Concat', outputs, 'joined', [attr('axis', -2)]);
  const ends = g.op('Reshape', [queries, g.constant('one', [1])], 'ends');
  g.nodes.push(onnx.NodeProto.create({ opType: 'Slice', name: `${name}/slice`, input: [joined, g.constant('zero', [0]), ends, g.constant('minus_two_1d', [-2])], output: [output] }));
  insertBefore(graph, chain.values, g.nodes);
  const gone = new Set(chain.nodes);
  graph.node = (graph.node ?? []).filter((n) => !gone.has(n));
}
