// The CLI's long inputs (issue 24): past --keep-weights-mb, `inspect` keeps each layer's queries and
// keys and computes its weights when it writes them, a layer at a time. Everything it writes equals
// what the same command writes with every weight kept: the JSON's weights, word level, hiding, the
// aggregates and the statistics, and the NumPy archive; an HTML report, which holds every weight at
// once, is refused with a way forward. `compare` likewise, each side by its own weights: every
// distance, mean |A − B| and A − B weight. --keep-weights-mb 0 makes the fixtures' short texts long.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { unzipSync } from 'fflate';
import { afterAll, describe, expect, it } from 'vitest';
import { maxAbsDifference, readNpy } from '../npy';
import { FIXTURES, type InspectJson, expectCliFailure, runCliAsync } from './cli';

const TEXT = 'The cat sat on the mat because it was tired.';
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'attention-lens-cli-long-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** `inspect` on `model`: its JSON (when --json) and stderr. */
async function inspect(model: string, extra: string[]): Promise<{ json?: InspectJson & { heads?: Array<Record<string, unknown>> }; stderr: string }> {
  const r = await runCliAsync(['inspect', '--model', path.join(FIXTURES, 'models', model), '--text', TEXT, ...extra]);
  if (r.status !== 0) throw new Error(`CLI exited ${r.status}: ${r.stderr}`);
  return { json: extra.includes('--json') ? (JSON.parse(r.stdout) as InspectJson) : undefined, stderr: r.stderr };
}

/** The largest difference between two documents' weights, which must name the same outputs in the same shapes. */
function weightDifference(a: InspectJson, b: InspectJson): number {
  expect(b.attention.map((l) => [l.name, l.heads, l.queries, l.keys])).toEqual(a.attention.map((l) => [l.name, l.heads, l.queries, l.keys]));
  let m = 0;
  a.attention.forEach((l, i) => l.weights.forEach((h, hh) => h.forEach((row, q) => row.forEach((v, k) => (m = Math.max(m, Math.abs(v - b.attention[i].weights[hh][q][k])))))));
  return m;
}

/** Both ways: every weight kept, and queries and keys (with the note saying so). */
async function bothWays(model: string, extra: string[]) {
  const [full, long] = await Promise.all([inspect(model, extra), inspect(model, [...extra, '--keep-weights-mb', '0'])]);
  expect(full.stderr).not.toMatch(/queries and keys/);
  expect(long.stderr).toMatch(/^note: \d+ tokens: (\d+) of \1 attention outputs are kept as queries and keys \(.+\), each one's weights computed when written, instead of .+ of weights at once/m);
  return { full: full.json!, long: long.json! };
}

// The weights from queries and keys are computed in float64 from the model's float32 queries and
// keys; the model's own float32 arithmetic rounds its weights (engine/queryKeys.test.ts): 1.5e-6,
// and T5's unscaled scores more (1e-5).
const CASES: Array<[string, string, number]> = [
  ['llama-attn', 'native', 1.5e-6], ['gpt2-plain', 'native', 1.5e-6],
  ['bert-attn', 'native', 1.5e-6], ['t5-attn', 'native', 1e-5], ['t5-attn', 'wasm', 1e-5],
];

describe('inspect past --keep-weights-mb', () => {
  it.each(CASES)('%s on %s writes the weights every weight kept gives (grouped-query, surgery, bidirectional, encoder-decoder with position bias)', async (model, backend, tolerance) => {
    const { full, long } = await bothWays(model, ['--json', '--backend', backend]);
    expect(long.backend).toBe(backend);
    expect(weightDifference(full, long)).toBeLessThanOrEqual(tolerance);
  });

  it.each([
    ['gpt2-plain', ['--words', '--hide', 'special', '--aggregate', 'rollout', '--rollout-discard', '0.2']],
    ['bert-attn', ['--words', '--aggregate', 'mean']],
    ['llama-attn', ['--hide', 'first', '--aggregate', 'max', '--stats']],
    ['gpt2-plain', ['--stats']],
  ])('%s %j: word level, hiding, the aggregates and the statistics as every weight kept gives them', async (model, extra) => {
    const { full, long } = await bothWays(model, ['--json', ...extra]);
    expect(weightDifference(full, long)).toBeLessThanOrEqual(1e-5);
    if (!extra.includes('--stats')) return;
    expect(long.heads!.length).toBe(full.heads!.length);
    full.heads!.forEach((h, i) => {
      for (const [k, v] of Object.entries(h)) {
        if (typeof v === 'number') expect(Math.abs(v - (long.heads![i][k] as number))).toBeLessThanOrEqual(1e-5);
        else expect(long.heads![i][k]).toEqual(v); // labels, position, and induction (a probe run of its own)
      }
    });
  });

  it('prints the layer asked for as every weight kept prints it', async () => {
    const args = ['inspect', '--model', path.join(FIXTURES, 'models/gpt2-plain'), '--text', TEXT, '--layer', '2', '--head', '3'];
    const [full, long] = await Promise.all([runCliAsync(args), runCliAsync([...args, '--keep-weights-mb', '0'])]);
    expect([full.status, long.status]).toEqual([0, 0]);
    expect(long.stderr).toMatch(/^note: .*queries and keys/);
    const table = (out: string) => out.split('\n').slice(1); // the first line has the run's time
    expect(table(long.stdout)).toEqual(table(full.stdout));
    expect(table(full.stdout).length).toBeGreaterThan(10);
  });

  it('writes a NumPy archive a layer at a time, equal to every weight kept; refuses an HTML report, saying what to do', async () => {
    const [full, long] = [path.join(tmp, 'full.npz'), path.join(tmp, 'long.npz')];
    await Promise.all([inspect('llama-attn', ['--export', full]), inspect('llama-attn', ['--export', long, '--keep-weights-mb', '0'])]);
    const npy = (f: string) => readNpy(unzipSync(fs.readFileSync(f))['attentions.npy']);
    expect(npy(long).shape).toEqual(npy(full).shape);
    expect(maxAbsDifference(npy(full), npy(long))).toBeLessThanOrEqual(1.5e-6);
    // The JSON document and a figure of one layer, likewise.
    const files = (ext: string) => [path.join(tmp, `full.${ext}`), path.join(tmp, `long.${ext}`)];
    for (const ext of ['json', 'svg']) {
      const [f, l] = files(ext);
      await Promise.all([inspect('llama-attn', ['--export', f, '--layer', '2']), inspect('llama-attn', ['--export', l, '--layer', '2', '--keep-weights-mb', '0'])]);
    }
    const [fj, lj] = files('json').map((f) => JSON.parse(fs.readFileSync(f, 'utf8')) as InspectJson);
    expect(weightDifference(fj, lj)).toBeLessThanOrEqual(1.5e-6);
    // The same links of the same pairs drawn, their weights written to 6 digits.
    const links = (f: string) => Array.from(fs.readFileSync(f, 'utf8').matchAll(/<line [^>]*data-query="(\d+)" data-key="(\d+)" data-weight="([\d.]+)"/g), (m) => [Number(m[1]), Number(m[2]), Number(m[3])]);
    const [fl, ll] = files('svg').map(links);
    expect(fl.length).toBeGreaterThan(10);
    expect(ll.map(([q, k]) => [q, k])).toEqual(fl.map(([q, k]) => [q, k]));
    ll.forEach(([, , w], i) => expect(Math.abs(w - fl[i][2])).toBeLessThanOrEqual(2.5e-6)); // 1.5e-6 apart, each rounded to 1e-6
    const report = path.join(tmp, 'report.html');
    expectCliFailure(['inspect', '--model', path.join(FIXTURES, 'models/llama-attn'), '--text', TEXT, '--export', report, '--keep-weights-mb', '0'],
      /an HTML report holds every layer's weights at once, and these \d+ tokens pass --keep-weights-mb \(0\.0 MB\): export \.npz or \.json \(written a layer at a time\), or \.svg or \.png \(one layer\); or raise --keep-weights-mb/);
    expect(fs.existsSync(report)).toBe(false);
    expectCliFailure(['inspect', '--model', path.join(FIXTURES, 'models/llama-attn'), '--text', TEXT, '--keep-weights-mb', '-1'], /--keep-weights-mb takes a number of megabytes from 0 \(got "-1"\)/);
  });
});

/** The largest difference between two JSON values' numbers; anything else must be equal. */
function numericDifference(x: unknown, y: unknown, at = ''): number {
  if (typeof x === 'number' && typeof y === 'number') return Math.abs(x - y);
  if (Array.isArray(x) && Array.isArray(y)) {
    expect(y.length, at).toBe(x.length);
    return x.reduce((m: number, v, i) => Math.max(m, numericDifference(v, y[i], `${at}[${i}]`)), 0);
  }
  if (x && y && typeof x === 'object' && typeof y === 'object') {
    expect(Object.keys(y as object), at).toEqual(Object.keys(x as object));
    return Object.entries(x).reduce((m: number, [k, v]) => Math.max(m, numericDifference(v, (y as Record<string, unknown>)[k], `${at}.${k}`)), 0);
  }
  expect(y, at).toEqual(x);
  return 0;
}

describe('compare past --keep-weights-mb', () => {
  const model = (name: string) => ['--model', path.join(FIXTURES, 'models', name)];
  it.each([
    ['two models, one tokenizer (token for token)', [...model('bert-attn'), ...model('bert-plain')], true],
    ['two tokenizers (aligned at the words)', [...model('gpt2-attn'), ...model('llama-attn')], false],
    ['two texts on one model (aligned by the edit)', [...model('gpt2-plain'), '--text-b', 'The dog sat on the mat because it was tired.'], false],
    // 32·n² bytes of weights: llama-attn's 16 tokens reach 8,000 bytes, gpt2-attn's 15 do not.
    ['one long side and one not, every layer against layer 1 of B', [...model('llama-attn'), ...model('gpt2-attn'), '--layer-b', '1'], false, '0.008'],
  ] as Array<[string, string[], boolean, string?]>)('%s: distances, mean |A − B| and A − B as every weight kept gives them', async (_what, models, identical, keep = '0') => {
    const args = ['compare', ...models, '--text', TEXT, '--json', '--diff'];
    const [full, long] = await Promise.all([runCliAsync(args), runCliAsync([...args, '--keep-weights-mb', keep])]);
    expect([full.status, long.status], long.stderr).toEqual([0, 0]);
    expect(full.stderr).not.toMatch(/queries and keys/);
    expect(long.stderr).toMatch(/^note: model A: \d+ tokens: its layers are kept as queries and keys/m);
    if (keep === '0') expect(long.stderr).toMatch(/^note: model B: \d+ tokens: its layers are kept as queries and keys/m);
    else expect(long.stderr).not.toMatch(/model B: .*queries and keys/);
    const [f, l] = [JSON.parse(full.stdout) as { identical: boolean; layers: unknown[] }, JSON.parse(long.stdout) as { identical: boolean; layers: unknown[] }];
    expect([f.identical, l.identical]).toEqual([identical, identical]);
    expect(numericDifference(f, l)).toBeLessThanOrEqual(1.5e-6);
  });
});
