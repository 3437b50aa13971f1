/**
 * Small edits of an ONNX graph the surgery makes: outputs added (cast to float32), rows gathered,
 * tensors renamed, subgraphs walked. Pure.
 */
import { onnx } from 'onnx-proto';

/** The then and else graphs of an If node. */
export function ifBranches(n: onnx.INodeProto): [onnx.IGraphProto, onnx.IGraphProto] | undefined {
  const g = (name: string) => n.attribute?.find((a) => a.name === name)?.g ?? undefined;
  const then = g('then_branch');
  const otherwise = g('else_branch');
  return then && otherwise ? [then, otherwise] : undefined;
}

/** The nodes of `graph` and of every subgraph inside it. */
export function allNodes(graph: onnx.IGraphProto): onnx.INodeProto[] {
  return (graph.node ?? []).flatMap((n) => [n, ...(n.attribute ?? []).flatMap((a) => [...(a.g ? [a.g] : []), ...(a.graphs ?? [])].flatMap(allNodes))]);
}

export const floatOutput = (name: string) => onnx.ValueInfoProto.create({ name, type: onnx.TypeProto.create({ tensorType: onnx.TypeProto.Tensor.create({ elemType: onnx.TensorProto.DataType.FLOAT }) }) });

/** Adds `tensor` as the float32 output `name` of `graph` (fp16 models give the same output type as fp32 ones). */
export function addOutput(graph: onnx.IGraphProto, tensor: string, name: string): string {
  insertAfterProducer(graph, onnx.NodeProto.create({ opType: 'Cast', name: `attention_lens/${name}`, input: [tensor], output: [name], attribute: [onnx.AttributeProto.create({ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: onnx.TensorProto.DataType.FLOAT })] }));
  graph.output = [...(graph.output ?? []), floatOutput(name)];
  return name;
}

/**
 * Adds `node` to `graph` just after the node that makes its first input (at the end when an input
 * or an initializer makes it): where the layer it reads is, so that a node `computeEarly` puts on
 * the model's path after it keeps the list in the topological order ONNX asks for.
 */
export function insertAfterProducer(graph: onnx.IGraphProto, node: onnx.INodeProto): void {
  const nodes = graph.node ?? [];
  const input = node.input?.[0];
  const at = input === undefined ? -1 : nodes.findIndex((n) => n.output?.includes(input));
  graph.node = at < 0 ? [...nodes, node] : [...nodes.slice(0, at + 1), node, ...nodes.slice(at + 1)];
}

/**
 * Makes the model compute `tap` (a float32 tensor read off `source`) before it goes on past the
 * node that reads `source`, and so free `source` there. onnxruntime orders a graph by a depth-first
 * walk back from its outputs: a tap that nothing reads runs after everything the model's own
 * outputs need, and keeps its source alive until then. Taps of two rows of every layer's weights
 * kept every layer's n² weights at once (1.35 GB more at 1,024 tokens on the Qwen2.5-0.5B shape,
 * 24 layers' worth; quadratic). The next tensor `t` on the model's path becomes
 * `Where(max(tap) > +∞, t, t)`: the same values, whatever the tap holds (NaN included), but it can
 * be computed only once the tap is. Nothing changes where no such `t` is found (a graph output).
 */
export function computeEarly(graph: onnx.IGraphProto, tap: string, source: string): void {
  const nodes = graph.node ?? [];
  const ours = (n: onnx.INodeProto) => n.name?.startsWith('attention_lens/') === true;
  // The node that reads the source on the model's path; a fused operator's weights are a side
  // output that only the tap reads: then its main output.
  const reader = nodes.findIndex((n) => !ours(n) && n.input?.includes(source));
  const at = reader >= 0 ? reader : nodes.findIndex((n) => !ours(n) && n.output?.includes(source));
  const next = at < 0 ? undefined : nodes[at].output?.[0];
  if (next && next !== source) holdUntil(graph, next, tap);
}

/**
 * Makes every reader of `t` (a tensor on the model's path, made by a node) in the main graph wait
 * until `tap` is computed, through `waitFor`. Nothing changes where that cannot keep the nodes in
 * order without moving any: `t` is a graph output, the tap is made after a node that reads `t`
 * (which covers a tap computed from `t`: waiting for it would be a cycle), or the tap is held
 * already. Readers inside a subgraph (an If's branch) are not held.
 */
export function holdUntil(graph: onnx.IGraphProto, t: string, tap: string): void {
  const nodes = graph.node ?? [];
  const at = nodes.findIndex((n) => n.output?.includes(t));
  const tapAt = nodes.findIndex((n) => n.output?.includes(tap));
  const held = `${tap}/after`;
  const firstReader = nodes.findIndex((n) => n.input?.includes(t));
  if (at < 0 || tapAt < 0 || (graph.output ?? []).some((o) => o.name === t)) return;
  if ((firstReader >= 0 && firstReader <= tapAt) || nodes.some((n) => n.output?.includes(held))) return;
  for (const n of nodes) n.input = (n.input ?? []).map((x) => (x === t ? held : x));
  const after = Math.max(at, tapAt) + 1;
  graph.node = [...nodes.slice(0, after), ...waitFor(graph, t, tap, held), ...nodes.slice(after)];
}

/**
 * Nodes that make `held`, the values of `t`, once `after` has been computed:
 * `Where(max(after) > +∞, t, t)`, the same values whatever `after` holds (NaN included; cast to
 * float32 first, so any float type serves). onnxruntime runs a node once its inputs are made, so
 * what reads `held` runs after `after`, whatever order its walk would have chosen.
 */
export function waitFor(graph: onnx.IGraphProto, t: string, after: string, held: string): onnx.INodeProto[] {
  const node = (opType: string, input: string[], output: string, attribute: onnx.IAttributeProto[] = []) => onnx.NodeProto.create({ opType, name: output, input, output: [output], attribute });
  const int = (name: string, i: number) => onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INT, i });
  return [
    node('Cast', [after], `${held}/as_float`, [int('to', onnx.TensorProto.DataType.FLOAT)]),
    node('ReduceMax', [`${held}/as_float`], `${held}/max`, [int('keepdims', 0)]),
    node('Greater', [`${held}/max`, floatConstant(graph, 'infinity', Infinity)], `${held}/never`),
    node('Where', [`${held}/never`, t, t], held),
  ];
}

/** The float32 scalar `value` as an initializer of the graph, `attention_lens/constant/<name>` (added once). */
export function floatConstant(graph: onnx.IGraphProto, name: string, value: number): string {
  const full = `attention_lens/constant/${name}`;
  if (!(graph.initializer ?? []).some((t) => t.name === full)) {
    graph.initializer = [...(graph.initializer ?? []), onnx.TensorProto.create({ name: full, dataType: onnx.TensorProto.DataType.FLOAT, dims: [], floatData: [value] })];
  }
  return full;
}

/** An int64 tensor `name` holding `values` (dimensions `dims`: a vector of them by default). */
export function int64Tensor(name: string, values: readonly number[], dims: number[] = [values.length]): onnx.TensorProto {
  return onnx.TensorProto.create({ name, dataType: onnx.TensorProto.DataType.INT64, dims, rawData: new Uint8Array(BigInt64Array.from(values.map(BigInt)).buffer) });
}

/**
 * Removes the nodes of `graph` whose outputs nothing reads (no node, here or in a subgraph, and no
 * output of the graph), until none is left. onnxruntime runs such nodes all the same: a language
 * model's head, once its logits are no longer an output, would still compute them.
 */
export function removeDeadNodes(graph: onnx.IGraphProto): void {
  for (;;) {
    const read = new Set([...allNodes(graph).flatMap((n) => n.input ?? []), ...(graph.output ?? []).map((o) => o.name ?? '')]);
    const nodes = graph.node ?? [];
    const live = nodes.filter((n) => (n.output ?? []).some((o) => o !== '' && read.has(o)));
    if (live.length === nodes.length) return;
    graph.node = live;
  }
}

/** Renames an internal tensor everywhere it appears, so an added output can take its name. */
export function renameTensor(graph: onnx.IGraphProto, from: string, to: string): void {
  for (const n of graph.node ?? []) {
    n.input = (n.input ?? []).map((x) => (x === from ? to : x));
    n.output = (n.output ?? []).map((x) => (x === from ? to : x));
  }
  for (const v of [...(graph.valueInfo ?? []), ...(graph.output ?? [])]) if (v.name === from) v.name = to;
}

/**
 * Adds rows `rows` (negative: from the end) of `tensor` `[batch, heads, queries, keys]` as the
 * float32 output `name` `[batch, heads, rows, keys]`: a few rows of a quadratic tensor, linear to return.
 */
export function addRowsOutput(graph: onnx.IGraphProto, tensor: string, rows: readonly number[], name: string): string {
  const indices = `${name}/indices`;
  graph.initializer = [...(graph.initializer ?? []), int64Tensor(indices, rows)];
  const gathered = `${name}/gathered`;
  insertAfterProducer(graph, onnx.NodeProto.create({ opType: 'Gather', name: `attention_lens/${gathered}`, input: [tensor, indices], output: [gathered], attribute: [onnx.AttributeProto.create({ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 2 })] }));
  return addOutput(graph, gathered, name);
}
