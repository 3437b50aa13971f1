// Rewrites an eager export into the form torch.onnx gives scaled-dot-product attention
// (attn_implementation="sdpa"): the scale moves from the score product onto Q and K (√scale on
// each), and a NaN guard Where(IsNaN(p), 0, p) sits between the Softmax and the value product.
// Attention outputs are dropped, as SDPA exports have none. Only the one real SDPA fixture
// (bert-sdpa) could be exported here; this gives the other architectures the same shape with
// their PyTorch references still valid (the arithmetic is the same up to float rounding).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { onnx } from 'onnx-proto';
import { parseAttentionName } from '../../src/core/attention';
import { FIXTURES } from './cli';

const F = onnx.TensorProto.DataType.FLOAT;

/** The float value of a one-element initializer or Constant node output, read independently of the code under test. */
function scalarOf(graph: onnx.IGraphProto, name: string): number {
  const fromTensor = (t: onnx.ITensorProto) => (t.rawData && t.rawData.length >= 4 ? new DataView(t.rawData.buffer, t.rawData.byteOffset, 4).getFloat32(0, true) : t.floatData![0]);
  const init = graph.initializer?.find((t) => t.name === name);
  if (init) return fromTensor(init);
  const node = graph.node?.find((n) => n.output?.[0] === name && n.opType === 'Constant');
  if (node?.attribute?.[0]?.t) return fromTensor(node.attribute[0].t);
  throw new Error(`${name} is not a scalar constant`);
}

export function sdpaStyle(bytes: Uint8Array): Uint8Array {
  const model = onnx.ModelProto.decode(bytes);
  const graph = model.graph!;
  graph.output = graph.output!.filter((o) => !parseAttentionName(o.name ?? ''));
  const nodes = [...graph.node!];
  const producer = new Map(nodes.flatMap((n) => (n.output ?? []).map((o) => [o, n] as const)));
  let rewritten = 0;
  for (const sm of nodes.filter((n) => n.opType === 'Softmax')) {
    // Softmax ← Add(mask/bias …) ← Mul(MatMul, scale) (or Div(MatMul, 1/scale), as the ViT's) ← MatMul(Q, Kᵀ), as every eager fixture has it.
    let t = sm.input![0];
    let scaleNode: onnx.INodeProto | undefined;
    for (let i = 0; i < 4 && !scaleNode; i++) {
      const p = producer.get(t);
      if (!p) break;
      if ((p.opType === 'Mul' || p.opType === 'Div') && producer.get(p.input![0])?.opType === 'MatMul') scaleNode = p;
      else t = p.input![0];
    }
    if (!scaleNode) continue;
    const matmul = producer.get(scaleNode.input![0])!;
    const root = `sdpa_style/${rewritten}`;
    const factor = scalarOf(graph, scaleNode.input![1]);
    graph.initializer!.push(onnx.TensorProto.create({ name: `${root}/sqrt_scale`, dataType: F, dims: [], floatData: [Math.sqrt(scaleNode.opType === 'Div' ? 1 / factor : factor)] }));
    const [q, k] = matmul.input!;
    const scaled = [q, k].map((x, i) => {
      nodes.push(onnx.NodeProto.create({ opType: 'Mul', name: `${root}/scale_${i}`, input: [x, `${root}/sqrt_scale`], output: [`${root}/scaled_${i}`] }));
      return `${root}/scaled_${i}`;
    });
    matmul.input = scaled;
    // The product now feeds what the scaling fed.
    for (const n of nodes) n.input = (n.input ?? []).map((x) => (x === scaleNode!.output![0] ? matmul.output![0] : x));
    nodes.splice(nodes.indexOf(scaleNode), 1);
    // The NaN guard after the Softmax.
    const p = sm.output![0];
    const guarded = `${root}/guarded`;
    for (const n of nodes) n.input = (n.input ?? []).map((x) => (x === p ? guarded : x));
    graph.initializer!.push(onnx.TensorProto.create({ name: `${root}/zero`, dataType: F, dims: [], floatData: [0] }));
    nodes.push(onnx.NodeProto.create({ opType: 'IsNaN', name: `${root}/isnan`, input: [p], output: [`${root}/nan`] }));
    nodes.push(onnx.NodeProto.create({ opType: 'Where', name: `${root}/where`, input: [`${root}/nan`, `${root}/zero`, p], output: [guarded] }));
    rewritten++;
  }
  if (rewritten === 0) throw new Error('no eager attention to rewrite');
  // Nodes must stay in topological order: sort by dependencies.
  graph.node = topological(nodes, new Set([...(graph.input ?? []).map((i) => i.name!), ...(graph.initializer ?? []).map((i) => i.name!)]));
  return onnx.ModelProto.encode(model).finish();
}

function topological(nodes: onnx.INodeProto[], available: Set<string>): onnx.INodeProto[] {
  const out: onnx.INodeProto[] = [];
  const pending = [...nodes];
  while (pending.length > 0) {
    const i = pending.findIndex((n) => (n.input ?? []).every((x) => x === '' || available.has(x)));
    if (i < 0) throw new Error('cycle');
    const [n] = pending.splice(i, 1);
    out.push(n);
    for (const o of n.output ?? []) available.add(o);
  }
  return out;
}

/**
 * The folder of fixture `name` ("gpt2-plain"), or, for "<fixture> sdpa-form", a copy of it under
 * `tmp` rewritten into the SDPA export form (made once).
 */
export function fixtureFolder(name: string, tmp: string): string {
  const [fixture, form] = name.split(' ');
  if (!form) return path.join(FIXTURES, 'models', fixture);
  const dir = path.join(tmp, fixture);
  if (!fs.existsSync(dir)) {
    fs.cpSync(path.join(FIXTURES, 'models', fixture), dir, { recursive: true });
    const file = path.join(dir, 'onnx/model.onnx');
    fs.writeFileSync(file, sdpaStyle(fs.readFileSync(file)));
  }
  return dir;
}
