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
  graph.node = [...(graph.node ?? []), onnx.NodeProto.create({ opType: 'Cast', name: `attention_lens/${name}`, input: [tensor], output: [name], attribute: [onnx.AttributeProto.create({ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: onnx.TensorProto.DataType.FLOAT })] })];
  graph.output = [...(graph.output ?? []), floatOutput(name)];
  return name;
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
  const raw = new Uint8Array(BigInt64Array.from(rows.map(BigInt)).buffer);
  graph.initializer = [...(graph.initializer ?? []), onnx.TensorProto.create({ name: indices, dataType: onnx.TensorProto.DataType.INT64, dims: [rows.length], rawData: raw })];
  const gathered = `${name}/gathered`;
  graph.node = [...(graph.node ?? []), onnx.NodeProto.create({ opType: 'Gather', name: `attention_lens/${gathered}`, input: [tensor, indices], output: [gathered], attribute: [onnx.AttributeProto.create({ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 2 })] })];
  return addOutput(graph, gathered, name);
}
