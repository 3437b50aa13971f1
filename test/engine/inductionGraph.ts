// A hand-built two-layer, attention-only causal model made to have an induction head (Olsson et
// al. 2022), as an ONNX graph. The residual stream has three parts: the token (a random ±1/8
// vector of 64 dimensions), the previous token (written by layer 0) and the position (one-hot).
// Layer 0, head 1 is a previous-token head: its query is the position, its key the position + 1,
// its value the token, written into the previous-token part. Layer 1, head 1 is the induction
// head: its query is the token and its key the previous-token part, so a token attends to where
// the token after its earlier occurrence is. Layer 1, head 2 is a duplicate-token head (key: the
// token). `induction: false` gives layer 1, head 1 the token as key too: a model without induction.
import { onnx } from 'onnx-proto';
import { seededRandom } from '../../src/core/generation/sampling';
import { attr, graphBuilder, tensorType } from './attentionGraphs';

const TOKEN = 64;
/** Positions the model has (the position part is one-hot). */
export const INDUCTION_POSITIONS = 64;
const D = 2 * TOKEN + INDUCTION_POSITIONS; // 192
const HEADS = 2;
const DH = D / HEADS; // 96

const F = onnx.TensorProto.DataType.FLOAT;
const I64 = onnx.TensorProto.DataType.INT64;

/** The ONNX model over `vocab` token ids; `[1, S]` input_ids and attention_mask in, the residual stream out. */
export function inductionGraph(vocab: number, induction = true): Uint8Array {
  const random = seededRandom(7);
  const embed = new Float32Array(vocab * D);
  for (let t = 0; t < vocab; t++) for (let d = 0; d < TOKEN; d++) embed[t * D + d] = random() < 0.5 ? -1 / 8 : 1 / 8;
  const positions = new Float32Array(INDUCTION_POSITIONS * D);
  for (let p = 0; p < INDUCTION_POSITIONS; p++) positions[p * D + 2 * TOKEN + p] = 1;
  const zeros = () => new Float32Array(D * D);
  const set = (m: Float32Array, row: number, col: number, v: number) => void (m[row * D + col] = v);
  // Scores of 20 (layer 0) and 30 (layer 1) after the 1/√dh scaling, where they match.
  const a = 20 * Math.sqrt(DH), b = 30 * Math.sqrt(DH);
  const l0 = { q: zeros(), k: zeros(), v: zeros(), o: zeros() };
  for (let p = 0; p < INDUCTION_POSITIONS; p++) {
    set(l0.q, 2 * TOKEN + p, p, a); // head 1: query = position p
    if (p + 1 < INDUCTION_POSITIONS) set(l0.k, 2 * TOKEN + p, p + 1, 1); // key = position p + 1
  }
  for (let d = 0; d < TOKEN; d++) {
    set(l0.v, d, d, 1); // value = the token
    set(l0.o, d, TOKEN + d, 1); // written into the previous-token part
  }
  const l1 = { q: zeros(), k: zeros(), v: zeros(), o: zeros() };
  for (let d = 0; d < TOKEN; d++) {
    set(l1.q, d, d, b); // head 1: query = the token
    set(l1.k, induction ? TOKEN + d : d, d, 1); // key = the previous token (induction), or the token
    set(l1.q, d, DH + d, b); // head 2: query = the token
    set(l1.k, d, DH + d, 1); // key = the token (duplicate-token)
  }

  const { nodes, inits, node, floats, ints } = graphBuilder();
  const int = attr.int;
  const perm = (p: number[]) => attr.ints('perm', p);

  // x = embed[ids] + positions[0 … S−1]
  const s = node('Squeeze', [node('Slice', [node('Shape', ['input_ids'], 'shape'), ints('i1', [1]), ints('i2', [2])], 'len1')], 'len');
  const range = node('Range', [ints('zero', [0], []), s, ints('one', [1], [])], 'range');
  let x = node('Add', [node('Gather', [floats('embed', [vocab, D], embed), 'input_ids'], 'tok', [int('axis', 0)]), node('Gather', [floats('pos', [INDUCTION_POSITIONS, D], positions), range], 'posx', [int('axis', 0)])], 'x0');
  // Causal bias: (1 − tril(ones[S, S])) · −1e9, and −1e9 on masked keys.
  const square = node('Concat', ['len1', 'len1'], 'square', [int('axis', 0)]);
  const ones = node('ConstantOfShape', [square], 'ones', [onnx.AttributeProto.create({ name: 'value', type: onnx.AttributeProto.AttributeType.TENSOR, t: onnx.TensorProto.create({ dataType: F, dims: [1], floatData: [1] }) })]);
  const upper = node('Sub', [floats('onef', [], [1]), node('Trilu', [ones], 'tril', [int('upper', 0)])], 'upper');
  const keyMask = node('Mul', [node('Sub', ['onef', node('Cast', ['attention_mask'], 'maskf', [int('to', F)])], 'notmask'), floats('neg', [], [-1e9])], 'keybias');
  const bias = node('Add', [node('Mul', [upper, 'neg'], 'causal'), node('Unsqueeze', [keyMask, ints('axes12', [1, 2])], 'keybias4')], 'bias');
  ints('bshd', [1, -1, HEADS, DH]);
  ints('bsd', [1, -1, D]);
  [l0, l1].forEach((w, l) => {
    const p = `l${l}`;
    const heads = (t: string) => node('Transpose', [node('Reshape', [t, 'bshd'], `${t}/r`)], `${t}/t`, [perm([0, 2, 1, 3])]);
    const q = heads(node('MatMul', [x, floats(`${p}/wq`, [D, D], w.q)], `${p}/q`));
    const k = heads(node('MatMul', [x, floats(`${p}/wk`, [D, D], w.k)], `${p}/k`));
    const v = heads(node('MatMul', [x, floats(`${p}/wv`, [D, D], w.v)], `${p}/v`));
    const scores = node('Div', [node('MatMul', [q, node('Transpose', [k], `${p}/kt`, [perm([0, 1, 3, 2])])], `${p}/qk`), floats(`${p}/sqrt_d`, [], [Math.sqrt(DH)])], `${p}/scores`);
    const probs = node('Softmax', [node('Add', [scores, bias], `${p}/masked`)], `${p}/probs`, [int('axis', -1)]);
    const ctx = node('Reshape', [node('Transpose', [node('MatMul', [probs, v], `${p}/ctx`)], `${p}/ctx_t`, [perm([0, 2, 1, 3])]), 'bsd'], `${p}/y`);
    x = node('Add', [x, node('MatMul', [ctx, floats(`${p}/wo`, [D, D], w.o)], `${p}/out`)], `${p}/res`);
  });
  node('Identity', [x], 'last_hidden_state');
  return onnx.ModelProto.encode(onnx.ModelProto.create({
    irVersion: 10,
    opsetImport: [onnx.OperatorSetIdProto.create({ domain: '', version: 17 })],
    graph: onnx.GraphProto.create({
      name: 'induction',
      node: nodes,
      initializer: inits,
      input: [onnx.ValueInfoProto.create({ name: 'input_ids', type: tensorType(I64, [1, 'sequence']) }), onnx.ValueInfoProto.create({ name: 'attention_mask', type: tensorType(I64, [1, 'sequence']) })],
      output: [onnx.ValueInfoProto.create({ name: 'last_hidden_state', type: tensorType(F, [1, 'sequence', D]) })],
    }),
  })).finish();
}
