/**
 * The surgery behind a long input's contributions: each key's ‖v·W_Oʰ‖ per head (Kobayashi et al.
 * 2020), computed inside the graph and returned with the queries and keys, `[heads][keys]`: linear
 * in the tokens, where the values themselves would take a tensor per layer and the mechanism's
 * scores and outputs are quadratic. Through W_Oʰ's Gram matrix, ‖v·W_Oʰ‖² = v·(W_Oʰ·W_Oʰᵀ)·vᵀ:
 * headDim² products per key instead of headDim × hidden. Without the projection, ‖v‖. Pure.
 */
import { onnx } from 'onnx-proto';
import type { ContributionBasis } from '../mechanism';
import { computeEarly, floatOutput, int64Tensor } from './graphEdit';
import type { FusedMechanismTensors, MechanismTensors } from './mechanismGraph';

/**
 * Adds `attention_lens/<name>/norms` to `graph`, and W_Oʰ·W_Oʰᵀ as `gram` where the projection was
 * found: each key's norm per head, `[1, heads, keys]`, or `[1, kvHeads, keys]` when a fused
 * operator's values are shared by a group of query heads and no projection was found (the reader
 * repeats them). Computed before the model goes past the values,
 * so they are not held to the end of the run. Undefined for a fused operator whose head counts the
 * graph does not give (4-D inputs: their layout is not known here).
 */
export function exposeValueNorms(graph: onnx.IGraphProto, name: string, tensors: MechanismTensors | FusedMechanismTensors, opset: number): { norms: string; basis: ContributionBasis; gram?: string } | undefined {
  const fused = 'fused' in tensors ? tensors : undefined;
  if (fused && (fused.heads <= 0 || fused.kvHeads <= 0 || fused.heads % fused.kvHeads !== 0)) return undefined;
  const p = `attention_lens/${name}/norms`;
  const added: onnx.INodeProto[] = [];
  const constants: onnx.ITensorProto[] = [];
  const node = (opType: string, input: string[], output: string, attribute: onnx.IAttributeProto[] = []) => {
    added.push(onnx.NodeProto.create({ opType, name: `${p}/${output}`, input, output: [`${p}/${output}`], attribute }));
    return `${p}/${output}`;
  };
  const ints = (attr: string, values: number[]) => onnx.AttributeProto.create({ name: attr, type: onnx.AttributeProto.AttributeType.INTS, ints: values });
  const constant = (id: string, values: number[]) => {
    constants.push(int64Tensor(`${p}/constant/${id}`, values));
    return `${p}/constant/${id}`;
  };
  const asFloat = (t: string, id: string) => node('Cast', [t], id, [onnx.AttributeProto.create({ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: onnx.TensorProto.DataType.FLOAT })]);
  const w = tensors.projection?.tensor;
  let v = asFloat(tensors.v, 'values');
  let squares: string;
  let gram: string | undefined;
  if (fused) {
    // [1, keys, kvHeads·dim] → [1, kvHeads, 1, keys, dim] (one row of keys for each group of query heads), or [1, kvHeads, keys, dim] without W_O.
    const split = node('Reshape', [v, constant('split_shape', w ? [0, 0, fused.kvHeads, 1, -1] : [0, 0, fused.kvHeads, -1])], 'split');
    v = node('Transpose', [split], 'by_head', [ints('perm', w ? [0, 2, 3, 1, 4] : [0, 2, 1, 3])]);
  }
  if (w) {
    let rows = asFloat(w, 'projection');
    if (tensors.projection!.transposed) rows = node('Transpose', [rows], 'projection_rows', [ints('perm', [1, 0])]);
    // W_O [heads·dim, hidden] as one block per head: [heads, dim, hidden] (fused: [kvHeads, group, dim, hidden]).
    const cols = tensors.projection!.cols;
    const blocks = fused
      ? constant('blocks_shape', [fused.kvHeads, fused.heads / fused.kvHeads, -1, cols])
      : node('Concat', [constant('minus_one', [-1]), node('Gather', [node('Shape', [v], 'shape'), constant('last', [3])], 'dim', [onnx.AttributeProto.create({ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 0 })]), constant('cols', [cols])], 'blocks', [onnx.AttributeProto.create({ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 0 })]);
    const heads = node('Reshape', [rows, blocks], 'heads');
    gram = node('MatMul', [heads, node('Transpose', [heads], 'heads_t', [ints('perm', fused ? [0, 1, 3, 2] : [0, 2, 1])])], 'gram');
    squares = node('Mul', [node('MatMul', [v, gram], 'v_gram'), v], 'squares');
  } else {
    squares = node('Mul', [v, v], 'squares');
  }
  const sum = opset >= 13
    ? node('ReduceSum', [squares, constant('axes', [-1])], 'sum', [onnx.AttributeProto.create({ name: 'keepdims', type: onnx.AttributeProto.AttributeType.INT, i: 0 })])
    : node('ReduceSum', [squares], 'sum', [ints('axes', [-1]), onnx.AttributeProto.create({ name: 'keepdims', type: onnx.AttributeProto.AttributeType.INT, i: 0 })]);
  // Rounding may leave a square sum a hair below 0.
  added.push(onnx.NodeProto.create({ opType: 'Sqrt', name: `${p}/sqrt`, input: [node('Relu', [sum], 'nonnegative')], output: [p] }));
  graph.initializer = [...(graph.initializer ?? []), ...constants];
  // After whatever makes the values and the projection, so the list stays in topological order.
  const nodes = graph.node ?? [];
  const at = Math.max(...[tensors.v, ...(w ? [w] : [])].map((t) => nodes.findIndex((n) => n.output?.includes(t))));
  graph.node = [...nodes.slice(0, at + 1), ...added, ...nodes.slice(at + 1)];
  // W_Oʰ·W_Oʰᵀ too, [heads][dim][dim] (the mechanism's share of each head: ‖o·W_Oʰ‖), a few hundred kB a layer.
  graph.output = [...(graph.output ?? []), floatOutput(p), ...(gram ? [floatOutput(gram)] : [])];
  computeEarly(graph, p, tensors.v);
  return { norms: p, basis: w ? 'output-projection' : 'value-norm', ...(gram ? { gram } : {}) };
}
