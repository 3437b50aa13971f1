// `attention-lens compare` on the fixture and bundled models, checked against separate
// `inspect --json` runs and the definitions (Jensen-Shannon distance, mean |A − B|, words).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES, type InspectJson, ROOT, runCliAsync as runCli } from './cli';

interface CompareJson {
  texts: [string, string];
  tokens: Array<Array<{ id: number; text: string; start: number; end: number; special: boolean }>>;
  alignment: { kind: string; edited: boolean; renormalised: boolean; description: string; units: Array<{ a: number[]; b: number[]; text: string }> };
  identical: boolean;
  layers: Array<{ layerA: number; layerB: number; headsA: number; headsB: number; jsDistance: number[][]; bestMatch: Array<{ head: number; distance: number }>; meanAbsDifference: number[] | null; diff?: number[][][] }>;
  notice?: string;
}

const model = (name: string) => path.join(FIXTURES, 'models', name);
const bundled = (name: string) => path.join(ROOT, 'media/models', name);

async function compare(args: string[]): Promise<CompareJson> {
  const r = await runCli(['compare', ...args, '--json']);
  if (r.status !== 0) throw new Error(`CLI exited ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout) as CompareJson;
}

async function inspect(folder: string, text: string): Promise<InspectJson> {
  const r = await runCli(['inspect', '--model', folder, '--text', text, '--json']);
  if (r.status !== 0) throw new Error(`CLI exited ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout) as InspectJson;
}

/** Jensen-Shannon distance (base 2) of two distributions, from the definition. */
function js(p: number[], q: number[]): number {
  const kl = (x: number[], m: number[]) => x.reduce((s, v, i) => (v > 0 ? s + v * Math.log2(v / m[i]) : s), 0);
  const m = p.map((v, i) => (v + q[i]) / 2);
  return Math.sqrt(Math.max(0, (kl(p, m) + kl(q, m)) / 2));
}

const TEXT = 'The quick brown fox jumps over the lazy dog.';

describe('attention-lens compare', async () => {
  it('finds a model identical to itself: zero difference, distance 0 on the diagonal, and says so', async () => {
    const r = await runCli(['compare', '--model', model('gpt2-attn'), '--model', model('gpt2-attn'), '--text', TEXT, '--json', '--diff']);
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/identical: every difference is 0/);
    const out = JSON.parse(r.stdout) as CompareJson;
    expect(out.alignment.kind).toBe('tokens');
    expect(out.identical).toBe(true);
    for (const l of out.layers) {
      expect(l.jsDistance.map((row, h) => row[h])).toEqual(Array(l.headsA).fill(0));
      expect(l.bestMatch.map((m) => m.head)).toEqual(Array.from({ length: l.headsA }, (_, h) => h));
      expect(l.meanAbsDifference).toEqual(Array(l.headsA).fill(0));
      expect(l.diff!.flat(2).every((v) => v === 0)).toBe(true);
    }
  });

  it('finds no difference between a model with attention outputs and the same weights without them (graph surgery)', async () => {
    for (const [a, b] of [['bert-attn', 'bert-plain'], ['gpt2-attn', 'gpt2-plain']]) {
      const out = await compare(['--model', model(a), '--model', model(b), '--text', TEXT]);
      expect(out.alignment.kind).toBe('tokens');
      for (const l of out.layers) for (const d of l.meanAbsDifference!) expect(d).toBeLessThan(1e-6);
    }
  });

  it('matches separate inspect runs: the distances and mean |A − B| follow from their weights', async () => {
    const out = await compare(['--model', model('bert-attn'), '--model', model('bert-sdpa'), '--text', 'Attention is all you need.', '--diff']);
    const a = (await inspect(model('bert-attn'), 'Attention is all you need.')).attention;
    const b = (await inspect(model('bert-sdpa'), 'Attention is all you need.')).attention;
    for (const l of out.layers) {
      const wa = a[l.layerA].weights, wb = b[l.layerB].weights;
      for (let ha = 0; ha < l.headsA; ha++) {
        for (let hb = 0; hb < l.headsB; hb++) {
          const expected = wa[ha].reduce((s, row, q) => s + js(row, wb[hb][q]), 0) / wa[ha].length;
          expect(l.jsDistance[ha][hb]).toBeCloseTo(expected, 4);
        }
        const cells = wa[ha].flat();
        const mad = cells.reduce((s, v, i) => s + Math.abs(v - wb[ha].flat()[i]), 0) / cells.length;
        expect(l.meanAbsDifference![ha]).toBeCloseTo(mad, 6);
        expect(l.diff![ha][2][3]).toBeCloseTo(wa[ha][2][3] - wb[ha][2][3], 6);
      }
    }
  });

  it('aligns a WordPiece and a byte-level tokenizer at the words of the text', async () => {
    // Punctuation, multi-byte characters, a leading space and two spaces in a row.
    const text = ' Héllo, wörld!  naïve 𝔘nicode.';
    const out = await compare(['--model', model('bert-attn'), '--model', model('gpt2-attn'), '--text', text]);
    expect(out.alignment.kind).toBe('words');
    expect(out.alignment.renormalised).toBe(true);
    expect(out.alignment.description).toMatch(/^words: the tokenizers differ/);
    expect(out.alignment.units.map((u) => u.text)).toEqual(['Héllo', ',', 'wörld', '!', 'naïve', '𝔘nicode', '.']);
    // Each word gathers exactly the tokens whose spans overlap it, on both sides; specials and spaces belong to none.
    let from = 0;
    for (const u of out.alignment.units) {
      const start = text.indexOf(u.text, from), end = start + u.text.length;
      from = end;
      for (const [side, members] of [[0, u.a], [1, u.b]] as const) {
        const overlapping = out.tokens[side].flatMap((t, i) => (!t.special && t.start < end && start < t.end ? [i] : []));
        expect(members).toEqual(overlapping);
      }
    }
    const gpt2 = out.tokens[1];
    const spaceOnly = gpt2.findIndex((t) => text.slice(t.start, t.end) === ' ');
    expect(spaceOnly).toBeGreaterThan(0);
    expect(out.alignment.units.some((u) => u.b.includes(spaceOnly))).toBe(false);
  });

  it('compares the two bundled models: shapes, proportional layers, no heads paired by index across head counts, and the same answer twice', async () => {
    const args = ['--model', bundled('tiny-masked'), '--model', bundled('tiny-causal'), '--text', TEXT];
    const out = await compare(args);
    expect(out.layers.map((l) => [l.layerA, l.layerB, l.headsA, l.headsB])).toEqual([[0, 0, 6, 8], [1, 1, 6, 8], [2, 2, 6, 8], [3, 3, 6, 8]]);
    for (const l of out.layers) {
      expect(l.jsDistance.length).toBe(6);
      expect(l.jsDistance.every((row) => row.length === 8 && row.every((d) => d >= 0 && d <= 1))).toBe(true);
      expect(l.meanAbsDifference).toBeNull();
      expect(l.bestMatch.map((m, h) => m.distance)).toEqual(l.jsDistance.map((row) => Math.min(...row)));
    }
    expect((await compare(args)).layers).toEqual(out.layers);
    // Different depths: 2 layers of BERT against 4 of the causal model map to 0 and 3; --layer-b overrides.
    expect((await compare(['--model', model('bert-attn'), '--model', bundled('tiny-causal'), '--text', TEXT])).layers.map((l) => l.layerB)).toEqual([0, 3]);
    expect((await compare(['--model', model('bert-attn'), '--model', bundled('tiny-causal'), '--text', TEXT, '--layer-b', '2'])).layers.map((l) => l.layerB)).toEqual([1, 1]);
  });

  it('compares two texts on one model through the tokens they share', async () => {
    const out = await compare(['--model', model('bert-attn'), '--text', 'the cat sat on the mat', '--text-b', 'the dog sat on the mat']);
    expect(out.alignment).toMatchObject({ kind: 'tokens', edited: true });
    const [ta, tb] = out.tokens;
    // Every token but "ca ##t" / "do ##g" is paired with its twin, specials included.
    expect(out.alignment.units.map((u) => [ta[u.a[0]].text, tb[u.b[0]].text])).toEqual(
      ['[CLS]', 'the', 'sa', '##t', 'on', 'the', 'mat', '[SEP]'].map((t) => [t, t]),
    );
    expect(out.layers[0].meanAbsDifference!.every((d) => d > 0)).toBe(true);
  });

  it('compares two ONNX files of one folder (--onnx after each --model) as it compares the folders they came from', async () => {
    // A folder holding two exports of one model: with attention outputs (model.onnx) and without (graph surgery).
    const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'attention-lens-variants-'));
    try {
      fs.cpSync(model('gpt2-attn'), folder, { recursive: true });
      fs.copyFileSync(path.join(model('gpt2-plain'), 'onnx/model.onnx'), path.join(folder, 'onnx/model_plain.onnx'));
      const [variants, folders] = await Promise.all([
        compare(['--model', folder, '--model', folder, '--onnx', 'onnx/model_plain.onnx', '--text', TEXT, '--diff']),
        compare(['--model', model('gpt2-attn'), '--model', model('gpt2-plain'), '--text', TEXT, '--diff']),
      ]);
      expect((variants as unknown as { models: unknown[] }).models).toEqual([{ folder, architecture: 'gpt2' }, { folder, onnx: 'onnx/model_plain.onnx', architecture: 'gpt2' }]);
      expect(variants.layers).toEqual(folders.layers);
      expect(variants.alignment.kind).toBe('tokens');
      // Each --onnx is its model's: one given after A that is not there is named.
      const r = await runCli(['compare', '--model', folder, '--onnx', 'onnx/model_q4.onnx', '--model', folder, '--text', TEXT]);
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/model_q4\.onnx/);
    } finally {
      fs.rmSync(folder, { recursive: true, force: true });
    }
  });

  it('refuses what it cannot compare, with a message', async () => {
    const fails = async (args: string[], message: RegExp) => {
      const r = await runCli(['compare', ...args]);
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(message);
    };
    await fails(['--model', model('bert-attn'), '--text', 'a'], /add --text-b, or a second --model/);
    await fails(['--onnx', 'onnx/model.onnx', '--model', model('bert-attn'), '--model', model('bert-attn'), '--text', 'a'], /--onnx follows the --model/);
    await fails(['--model', model('bert-attn'), '--onnx', 'onnx/model.onnx', '--onnx', 'onnx/model.onnx', '--model', model('bert-attn'), '--text', 'a'], /--onnx follows the --model whose file it chooses, once each/);
    await fails(['--model', model('bert-attn'), '--onnx', '../model.onnx', '--model', model('bert-attn'), '--text', 'a'], /--onnx names an ONNX file inside the model folder/);
    await fails(['--model', model('bert-attn'), '--model', model('gpt2-attn'), '--text', 'a', '--text-b', 'b'], /not both at once/);
    await fails(['--model', model('bert-attn'), '--model', model('gpt2-attn'), '--text', 'a', '--diff'], /add --json/);
    await fails(['--model', model('bert-attn'), '--model', model('gpt2-attn'), '--text', 'a', '--layer-b', '9'], /--layer-b 9 is out of range/);
    await fails(['--model', model('bert-attn'), '--model', path.join(FIXTURES, 'models'), '--text', 'a'], /config\.json|not a model|model folder/i);
  });

  it('cuts a text too long for one model for both, and says so', async () => {
    // The causal bundled model accepts fewer positions than the text has tokens.
    const long = Array.from({ length: 400 }, (_, i) => `word${i}`).join(' ');
    const r = await runCli(['compare', '--model', model('bert-attn'), '--model', bundled('tiny-causal'), '--text', long, '--json']);
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as CompareJson;
    expect(out.notice).toMatch(/both models see its first \d+ characters/);
    expect(out.texts[0]).toBe(out.texts[1]);
    expect(out.texts[0].length).toBeLessThan(long.length);
    expect(long.startsWith(out.texts[0])).toBe(true);
  });
});
