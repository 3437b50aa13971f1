// holdUntil (src/core/engine/graphEdit.ts): the model's path waits for a tap that nothing reads,
// and the node list stays in the topological order ONNX asks for; where it cannot without moving
// nodes (or would make a cycle, or a tap held twice), the graph is left as it was.
import { onnx } from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import { holdUntil } from '../../src/core/engine/graphEdit';

const node = (opType: string, input: string[], output: string) => onnx.NodeProto.create({ opType, name: output, input, output: [output] });

/** x → Relu → t → Neg → y, with `tap` nodes placed where `tapAt` says (index into the list). */
function graph(tapNodes: onnx.INodeProto[], tapAt: number): onnx.IGraphProto {
  const main = [node('Relu', ['x'], 't'), node('Neg', ['t'], 'y')];
  return onnx.GraphProto.create({
    node: [...main.slice(0, tapAt), ...tapNodes, ...main.slice(tapAt)],
    input: [onnx.ValueInfoProto.create({ name: 'x' })],
    output: [onnx.ValueInfoProto.create({ name: 'y' }), onnx.ValueInfoProto.create({ name: 'tap' })],
  });
}

/** Whether every node's inputs are made before it (graph inputs, initializers or earlier nodes). */
function inOrder(g: onnx.IGraphProto): boolean {
  const made = new Set([...(g.input ?? []).map((i) => i.name ?? ''), ...(g.initializer ?? []).map((t) => t.name ?? '')]);
  for (const n of g.node ?? []) {
    if (!(n.input ?? []).every((i) => i === '' || made.has(i))) return false;
    for (const o of n.output ?? []) made.add(o);
  }
  return true;
}

const encoded = (g: onnx.IGraphProto) => Buffer.from(onnx.GraphProto.encode(g).finish()).toString('base64');

describe('holdUntil', () => {
  it('makes every reader of t read a copy made once the tap is, in order', () => {
    const g = graph([node('Exp', ['x'], 'tap')], 0);
    holdUntil(g, 't', 'tap');
    expect(inOrder(g)).toBe(true);
    const neg = g.node!.find((n) => n.opType === 'Neg')!;
    expect(neg.input).toEqual(['tap/after']);
    const where = g.node!.find((n) => n.output?.includes('tap/after'))!;
    expect([where.opType, where.input![1], where.input![2]]).toEqual(['Where', 't', 't']);
    // The copy waits for the tap: its condition is computed from it.
    const condition = g.node!.find((n) => n.output?.includes(where.input![0]))!;
    const reads = (name: string): boolean => name === 'tap' || (g.node!.find((n) => n.output?.includes(name))?.input ?? []).some(reads);
    expect(reads(condition.output![0])).toBe(true);
  });

  it('holds a tap made after t, before its reader', () => {
    const g = graph([node('Exp', ['x'], 'tap')], 1);
    holdUntil(g, 't', 'tap');
    expect(inOrder(g)).toBe(true);
    expect(g.node!.find((n) => n.opType === 'Neg')!.input).toEqual(['tap/after']);
  });

  it.each([
    ['a tap made after a reader of t', graph([node('Exp', ['x'], 'tap')], 2)],
    ['a tap computed from t (a cycle)', graph([node('Exp', ['t'], 'tap')], 1)],
  ])('leaves the graph alone for %s', (_, g) => {
    const before = encoded(g);
    holdUntil(g, 't', 'tap');
    expect(encoded(g)).toBe(before);
  });

  it('holds a tap once, and never a graph output', () => {
    const g = graph([node('Exp', ['x'], 'tap')], 0);
    holdUntil(g, 't', 'tap');
    const once = encoded(g);
    holdUntil(g, 't', 'tap');
    expect(encoded(g)).toBe(once);
    const out = graph([node('Exp', ['x'], 'tap')], 0);
    const before = encoded(out);
    holdUntil(out, 'y', 'tap');
    expect(encoded(out)).toBe(before);
  });
});
