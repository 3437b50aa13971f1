// The mechanism's arithmetic on hand-checked numbers: key transposition, masked scores,
// contributions with and without the output projection, a fused operator's steps, and the
// graph constants the scale is read from.
import { onnx } from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import { Constants, tensorValues } from '../../src/core/engine/mechanismGraph';
import { MechanismError, contributionRecord, fusedSteps, mechanismLayer } from '../../src/core/mechanism';

const meta = { name: 'attentions.0', kind: 'self' as const, layer: 0, scale: 0.5, shaped: false };
const t = (dims: number[], data: number[]) => ({ dims, data: Float32Array.from(data) });

// One head, two queries, two keys, vectors of 2. Keys k0 = (1, 0), k1 = (0, 2), given transposed [dim][key].
const tensors = {
  q: t([1, 1, 2, 2], [1, 1, 2, 0]),
  keysT: t([1, 1, 2, 2], [1, 0, 0, 2]),
  v: t([1, 1, 2, 2], [3, 4, 0, 1]),
  scores: t([1, 1, 2, 2], [0.5, 1, 1, -3.4e38]),
  output: t([1, 1, 2, 2], [1.5, 2.5, 3, 4]),
};
const weights = Float32Array.from([0.5, 0.5, 1, 0]);

describe('mechanismLayer', () => {
  it('stores keys per token, marks masked scores, and weights contributions by ‖v‖ without W_O', () => {
    const m = mechanismLayer(meta, tensors, weights);
    expect(Array.from(m.k)).toEqual([1, 0, 0, 2]); // k0 = (1, 0), k1 = (0, 2): the transposed input read back per token
    expect(Array.from(m.scores).map((s) => (Number.isNaN(s) ? null : s))).toEqual([0.5, 1, 1, null]);
    // ‖v0‖ = 5, ‖v1‖ = 1
    expect(Array.from(m.contribution)).toEqual([2.5, 0.5, 5, 0]);
    expect(m.contributionBasis).toBe('value-norm');
    expect(Array.from(m.headNorms).map((x) => Number(x.toFixed(4)))).toEqual([Number(Math.hypot(1.5, 2.5).toFixed(4)), 5]);
  });

  it('projects each value through its head’s rows of W_O', () => {
    // W_O [2, 3]: v·W_O for v0 = (3, 4) is (3, 4, 7), for v1 = (0, 1) it is (0, 1, 1).
    const projection = { data: Float32Array.from([1, 0, 1, 0, 1, 1]), rows: 2, cols: 3 };
    const m = mechanismLayer(meta, tensors, weights, projection);
    expect(m.contributionBasis).toBe('output-projection');
    expect(m.contribution[0]).toBeCloseTo(0.5 * Math.hypot(3, 4, 7), 5);
    expect(m.contribution[1]).toBeCloseTo(0.5 * Math.hypot(0, 1, 1), 5);
    // A projection whose rows do not match heads × value size is not used.
    expect(mechanismLayer(meta, tensors, weights, { ...projection, rows: 3, data: new Float32Array(9) }).contributionBasis).toBe('value-norm');
  });

  it('refuses tensors that do not fit together, saying which', () => {
    expect(() => mechanismLayer(meta, { ...tensors, v: t([1, 1, 3, 2], [0, 0, 0, 0, 0, 0]) }, weights)).toThrow(MechanismError);
    expect(() => mechanismLayer(meta, { ...tensors, q: t([2, 1, 2, 2], [0, 0, 0, 0, 0, 0, 0, 0]) }, weights)).toThrow(/queries have shape \[2, 1, 2, 2\]/);
  });
});

describe('fusedSteps', () => {
  it('splits 3-D inputs into heads, repeats key/value heads per group, and scores only unmasked keys', () => {
    // 2 query heads sharing 1 key/value head, 2 tokens, head size 1.
    const q = t([1, 2, 2], [1, 2, 3, 4]); // token 0: heads (1, 2); token 1: (3, 4)
    const k = t([1, 2, 1], [1, -1]);
    const v = t([1, 2, 1], [10, 20]);
    const w = Float32Array.from([1, 0, 0.25, 0.75, 1, 0, 0.5, 0.5]); // [head][query][key]
    const { tensors: s, scale } = fusedSteps('attentions.0', { heads: 2, kvHeads: 1 }, q, k, v, w);
    expect(scale).toBe(1);
    expect(Array.from(s.q.data)).toEqual([1, 3, 2, 4]); // head 0: tokens (1, 3); head 1: (2, 4)
    expect(Array.from(s.keysT.data)).toEqual([1, -1, 1, -1]); // both heads see the one key head
    expect(Array.from(s.scores.data)).toEqual([1, -Infinity, 3, -3, 2, -Infinity, 4, -4]);
    expect(Array.from(s.output.data)).toEqual([10, 17.5, 10, 15]);
    expect(fusedSteps('attentions.0', { heads: 2, kvHeads: 1, scale: 0.5 }, q, k, v, w).tensors.scores.data[0]).toBe(0.5);
  });

  it('refuses inputs that do not split into the heads', () => {
    expect(() => fusedSteps('attentions.3', { heads: 3, kvHeads: 1 }, t([1, 2, 4], new Array(8).fill(0)), t([1, 2, 1], [0, 0]), t([1, 2, 1], [0, 0]), new Float32Array(8))).toThrow(/attentions\.3: the fused operator's queries have shape \[1, 2, 4\]/);
  });
});

describe('graph constants', () => {
  const scalar = (name: string, f: number) => onnx.TensorProto.create({ name, dataType: onnx.TensorProto.DataType.FLOAT, dims: [], floatData: [f] });
  it('folds scalar arithmetic of initializers and Constant nodes (an exporter’s √scale)', () => {
    const nodes = [
      onnx.NodeProto.create({ opType: 'Constant', output: ['d'], attribute: [onnx.AttributeProto.create({ name: 'value_float', type: onnx.AttributeProto.AttributeType.FLOAT, f: 64 })] }),
      onnx.NodeProto.create({ opType: 'Sqrt', input: ['d'], output: ['sqrt_d'] }),
      onnx.NodeProto.create({ opType: 'Div', input: ['one', 'sqrt_d'], output: ['scale'] }),
      onnx.NodeProto.create({ opType: 'Sqrt', input: ['scale'], output: ['root'] }),
      onnx.NodeProto.create({ opType: 'Shape', input: ['x'], output: ['dynamic'] }),
    ];
    const graph = onnx.GraphProto.create({ node: nodes, initializer: [scalar('one', 1)] });
    const producer = new Map(nodes.flatMap((n) => n.output!.map((o) => [o, n] as const)));
    const c = new Constants(graph, producer);
    expect(c.scalar('scale')).toBeCloseTo(0.125, 7);
    expect(c.scalar('root')).toBeCloseTo(Math.sqrt(0.125), 7);
    expect(c.scalar('dynamic')).toBeUndefined();
  });

  it('reads float16 and float64 raw data', () => {
    const half = onnx.TensorProto.create({ dataType: onnx.TensorProto.DataType.FLOAT16, rawData: Uint8Array.from([0x00, 0x3c, 0x00, 0xc0, 0x00, 0x38]) }); // 1, -2, 0.5
    expect(Array.from(tensorValues(half)!)).toEqual([1, -2, 0.5]);
    const dbl = onnx.TensorProto.create({ dataType: onnx.TensorProto.DataType.DOUBLE, rawData: new Uint8Array(Float64Array.from([0.25, -8]).buffer) });
    expect(Array.from(tensorValues(dbl)!)).toEqual([0.25, -8]);
  });
});

describe('contributionRecord', () => {
  it('replaces weights by contributions normalised per query and head, keeping rows of zeros', () => {
    const r = { id: 'attentions.0', label: 'Layer 1', heads: 1, queries: 2, keys: 2, data: Float32Array.from([0.5, 0.5, 1, 0]), queryTokens: [], keyTokens: [], causal: false, signed: false, overInput: true, source: { name: 'attentions.0', kind: 'self' as const, layer: 0 } };
    const c = contributionRecord(r, Float32Array.from([3, 1, 0, 0]));
    expect(Array.from(c.data)).toEqual([0.75, 0.25, 0, 0]);
    expect(c.id).not.toBe(r.id);
    expect(Array.from(r.data)).toEqual([0.5, 0.5, 1, 0]); // the weights themselves are untouched
    expect(() => contributionRecord(r, new Float32Array(3))).toThrow(MechanismError);
  });
});
