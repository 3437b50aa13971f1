// The mechanism (--mechanism) against the identities that define attention, for every fixture
// model, eager and SDPA (the real bert-sdpa export, and the others rewritten into that form),
// with and without attention outputs, and an image model: softmax(scores) over the unmasked keys
// gives the weights, scores = scale·q·kᵀ on unmasked keys (not T5: it adds a position bias and
// does not scale), and each head's output is Σₖ weight·v.
import { afterAll, describe, expect, it } from 'vitest';
import { FIXTURES, inspect, runCli } from './cli';
import { fixtureFolder } from './sdpaStyle';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { onnx } from 'onnx-proto';

interface MechanismJson {
  name: string;
  kind: string;
  layer: number;
  heads: number;
  headDim: number;
  scale: number | null;
  q: number[][][];
  k: number[][][];
  v: number[][][];
  scores: Array<Array<Array<number | null>>>;
  output: number[][][];
  contribution: number[][][];
  contributionBasis: string;
}

const TEXT = 'The cat sat on the mat because it was tired.';
const dot = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i], 0);
/** |a − b| relative to the row's scale, so large scores and small weights are held to the same 1e-4. */
const rel = (a: number, b: number, scale: number) => Math.abs(a - b) / Math.max(1, Math.abs(scale));

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'attention-lens-mechanism-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** The fixture's folder, or a copy rewritten into the SDPA export form (" sdpa-form"). */
const folderOf = (name: string) => fixtureFolder(name, tmp);

describe.each([
  ['bert-attn', true],
  ['bert-plain', true],
  ['bert-sdpa', true], // exported with SDPA attention
  ['gpt2-attn', true],
  ['gpt2-plain', true],
  ['gpt2-plain sdpa-form', true],
  ['llama-attn', true], // grouped-query keys and values, rotary queries and keys
  ['llama-attn sdpa-form', true],
  ['t5-attn', false], // relative position bias: scores are not a multiple of q·kᵀ
  ['t5-attn sdpa-form', false],
])('%s', (name, scaled) => {
  it('the mechanism reproduces the weights, the scores and the outputs', () => {
    const out = inspect(folderOf(name), TEXT, ['--mechanism']) as MechanismRun;
    const masked = expectMechanism(out, scaled);
    if (name.startsWith('gpt2') || name.startsWith('llama')) expect(masked).toBeGreaterThan(0); // causal: later keys are masked
    expect(out.mechanism.every((m) => m.contributionBasis === 'output-projection')).toBe(true);
  });
});

it('an image model’s mechanism (the ViT fixture, patches as tokens) holds the same identities', () => {
  const vit = path.join(FIXTURES, 'models/vit-attn');
  const r = runCli(['inspect', '--model', vit, '--image', path.join(vit, 'photo.jpg'), '--json', '--mechanism']);
  expect(r.status).toBe(0);
  const out = JSON.parse(r.stdout) as MechanismRun;
  expect(out.mechanism.map((m) => [m.name, m.heads, m.q[0].length])).toEqual([['attentions.0', 4, 17], ['attentions.1', 4, 17]]);
  expect(expectMechanism(out, true)).toBe(0);
});

type MechanismRun = ReturnType<typeof inspect> & { mechanism: MechanismJson[] };

/** Checks every identity of `out`'s mechanism against its weights; returns how many scores were masked. */
function expectMechanism(out: MechanismRun, scaled: boolean): number {
  expect(out.mechanism.map((m) => m.name)).toEqual(out.attention.map((a) => a.name));
  let masked = 0;
  for (const m of out.mechanism) {
    const weights = out.attention.find((a) => a.name === m.name)!.weights;
    expect(m.q).toHaveLength(m.heads);
    for (let h = 0; h < m.heads; h++) {
      m.scores[h].forEach((row, i) => {
        // Softmax over the unmasked keys.
        const live = row.map((s, j) => [s, j] as const).filter(([s]) => s !== null) as Array<readonly [number, number]>;
        masked += row.length - live.length;
        const top = Math.max(...live.map(([s]) => s));
        const sum = live.reduce((a, [s]) => a + Math.exp(s - top), 0);
        for (const [s, j] of live) expect(Math.abs(Math.exp(s - top) / sum - weights[h][i][j])).toBeLessThan(1e-4);
        row.forEach((s, j) => s === null && expect(weights[h][i][j]).toBeLessThan(1e-6));
        if (scaled) {
          expect(m.scale).not.toBeNull();
          for (const [s, j] of live) expect(rel(s, m.scale! * dot(m.q[h][i], m.k[h][j]), s)).toBeLessThan(1e-4);
        }
        // Σₖ weight·v, dimension by dimension.
        m.output[h][i].forEach((o, d) => expect(rel(o, weights[h][i].reduce((a, w, j) => a + w * m.v[h][j][d], 0), o)).toBeLessThan(1e-4));
        // Contributions are weights times a per-key norm: zero exactly where the weight is.
        m.contribution[h][i].forEach((c, j) => expect(c === 0).toBe(weights[h][i][j] === 0));
      });
    }
  }
  return masked;
}

it("contributions are ‖α·v·W_Oʰ‖ with W_O read by its Hugging Face name (GPT-2's c_proj, a Gemm in the graph)", () => {
  const folder = path.join(FIXTURES, 'models/gpt2-plain');
  const out = inspect(folder, TEXT, ['--mechanism']) as ReturnType<typeof inspect> & { mechanism: MechanismJson[] };
  const inits = new Map((onnx.ModelProto.decode(fs.readFileSync(path.join(folder, 'onnx/model.onnx'))).graph!.initializer ?? []).map((t) => [t.name, t]));
  for (const m of out.mechanism) {
    const t = inits.get(`m.transformer.h.${m.layer}.attn.c_proj.weight`)!; // Conv1D: [in, out]
    const [rows, cols] = t.dims!.map(Number);
    const w = new Float32Array(new Uint8Array(t.rawData!).buffer);
    expect(rows).toBe(m.heads * m.headDim);
    const weights = out.attention.find((a) => a.name === m.name)!.weights;
    for (let h = 0; h < m.heads; h++) {
      for (let j = 0; j < m.v[h].length; j++) {
        const projected = Array.from({ length: cols }, (_, c) => m.v[h][j].reduce((a, x, d) => a + x * w[(h * m.headDim + d) * cols + c], 0));
        const norm = Math.sqrt(dot(projected, projected));
        for (let i = 0; i < weights[h].length; i++) expect(Math.abs(m.contribution[h][i][j] - weights[h][i][j] * norm)).toBeLessThan(1e-4 * Math.max(1, norm));
      }
    }
  }
});

it('--layer limits the mechanism to one attention output, and --mechanism needs --json', () => {
  const out = inspect(path.join(FIXTURES, 'models/bert-sdpa'), 'Hello there.', ['--mechanism', '--layer', '2']) as ReturnType<typeof inspect> & { mechanism: MechanismJson[] };
  expect(out.mechanism.map((m) => m.name)).toEqual(['attentions.1']);
  expect(out.mechanism[0].scale).toBeCloseTo(1 / Math.sqrt(out.mechanism[0].headDim), 6);
  expect(out.attention).toHaveLength(2); // the attention itself is still complete
  const r = runCli(['inspect', '--model', path.join(FIXTURES, 'models/bert-sdpa'), '--text', 'Hi', '--mechanism']);
  expect(r.status).not.toBe(0);
  expect(r.stderr).toMatch(/--mechanism adds to the JSON output: add --json/);
});
