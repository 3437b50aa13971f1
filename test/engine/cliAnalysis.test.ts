// `inspect --stats / --aggregate / --words / --hide` on real models, each checked against the
// plain `--json` weights of the same run (an independent path: the numbers come from onnxruntime,
// the checks recompute the definitions from them here).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES, ROOT, inspect, runCli } from './cli';

const CAUSAL = path.join(ROOT, 'media/models/tiny-causal');
const BERT = path.join(FIXTURES, 'models/bert-attn');
const T5 = path.join(FIXTURES, 'models/t5-attn');
const TEXT = 'And God said, Let there be light: and there was light.';

interface HeadRow { kind: string; layer: number; head: number; previous: number | null; self: number | null; first: number | null; special: number | null; entropy: number | null; labels: string[] }
const stats = (model: string, text: string, extra: string[] = []) => (inspect(model, text, ['--stats', ...extra]) as unknown as { heads: HeadRow[] }).heads;

describe('inspect --stats', () => {
  it('labels the bundled model card’s previous-token head as previous-token', () => {
    const card = fs.readFileSync(path.join(CAUSAL, 'README.md'), 'utf8');
    const [, layer, head] = /Previous-token head: layer (\d+), head (\d+)/.exec(card)!.map(Number);
    const rows = stats(CAUSAL, TEXT);
    const row = rows.find((r) => r.layer === layer - 1 && r.head === head - 1)!;
    expect(row.labels).toContain('previous-token');
    expect(rows).toHaveLength(4 * 8);
  });

  it('agrees with the previous-token share and entropy recomputed from the weights', () => {
    const plain = inspect(CAUSAL, TEXT);
    const rows = stats(CAUSAL, TEXT);
    for (const r of rows.filter((_, i) => i % 5 === 0)) {
      const w = plain.attention[r.layer].weights[r.head];
      const prev = w.slice(1).reduce((s, row, q) => s + row[q], 0) / (w.length - 1);
      expect(r.previous).toBeCloseTo(prev, 5);
      const ent = w.reduce((s, row, q) => s + (q === 0 ? 0 : -row.reduce((e, v) => e + (v > 0 ? v * Math.log(v) : 0), 0) / Math.log(q + 1)), 0) / w.length;
      expect(r.entropy).toBeCloseTo(ent, 5);
    }
  });

  it('gives encoder, decoder and cross heads of T5, without positions for cross attention', () => {
    const rows = stats(T5, 'the cat sat');
    expect(new Set(rows.map((r) => r.kind))).toEqual(new Set(['encoder', 'decoder', 'cross']));
    for (const r of rows.filter((x) => x.kind === 'cross')) expect([r.previous, r.self]).toEqual([null, null]);
    expect(rows.filter((x) => x.kind === 'encoder').every((r) => typeof r.previous === 'number')).toBe(true);
  });

  it('prints a head table with labels and their rules without --json', () => {
    const r = runCli(['inspect', '--model', CAUSAL, '--text', TEXT, '--stats']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/layer\s+head\s+entropy\s+distance\s+previous/);
    expect(r.stdout).toMatch(/previous-token \(previous ≥ 0\.5\)/);
  });
});

describe('inspect --aggregate', () => {
  const plain = inspect(BERT, 'the cat sat on the mat');
  it('mean and max: one head per layer, matching the per-head weights', () => {
    const mean = inspect(BERT, 'the cat sat on the mat', ['--aggregate', 'mean']);
    const max = inspect(BERT, 'the cat sat on the mat', ['--aggregate', 'max']);
    expect(mean.attention.map((a) => [a.name, a.heads])).toEqual(plain.attention.map((a) => [`mean(${a.name})`, 1]));
    const heads = plain.attention[1].weights;
    expect(mean.attention[1].weights[0][2][3]).toBeCloseTo(heads.reduce((s, h) => s + h[2][3], 0) / heads.length, 6);
    expect(max.attention[1].weights[0][2][3]).toBeCloseTo(Math.max(...heads.map((h) => h[2][3])), 6);
  });

  it('rollout: the first layer is ½·mean + ½·I, rows sum to 1', () => {
    const roll = inspect(BERT, 'the cat sat on the mat', ['--aggregate', 'rollout']);
    expect(roll.attention.map((a) => a.name)).toEqual(plain.attention.map((a) => `rollout(${a.name})`));
    const heads = plain.attention[0].weights;
    const q = 2, k = 3;
    expect(roll.attention[0].weights[0][q][k]).toBeCloseTo(0.5 * heads.reduce((s, h) => s + h[q][k], 0) / heads.length, 5);
    for (const row of roll.attention.at(-1)!.weights[0]) expect(row.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 4);
  });
});

describe('inspect --words and --hide', () => {
  it('merges word pieces: tokens become words and attention stays row-stochastic', () => {
    const text = 'unbelievably tokenization works';
    const plain = inspect(BERT, text);
    const words = inspect(BERT, text, ['--words']) as unknown as { tokens: Array<{ text: string; tokens: number[] }>; attention: Array<{ weights: number[][][]; queries: number }> };
    expect(words.tokens.length).toBeLessThan(plain.tokens.length);
    expect(words.tokens.map((w) => w.text)).toEqual(['[CLS]', 'unbelievably', 'tokenization', 'works', '[SEP]']);
    expect(words.tokens.flatMap((w) => w.tokens)).toEqual(plain.tokens.map((_, i) => i));
    for (const row of words.attention[0].weights[0]) expect(row.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 4);
  });

  it('hides special tokens and renormalises', () => {
    const plain = inspect(BERT, 'the cat sat');
    const hidden = inspect(BERT, 'the cat sat', ['--hide', 'special']);
    expect(hidden.tokens.map((t) => t.text)).toEqual(plain.tokens.filter((t) => !t.special).map((t) => t.text));
    const w = plain.attention[0].weights[0];
    const row = w[1].slice(1, -1);
    const sum = row.reduce((s, v) => s + v, 0);
    expect(hidden.attention[0].weights[0][0]).toEqual(row.map((v) => expect.closeTo(v / sum, 5)));
  });

  it('rejects unknown choices with the usage line', () => {
    expect(runCli(['inspect', '--model', BERT, '--text', 'a', '--aggregate', 'median']).stderr).toMatch(/--aggregate must be one of mean, max, rollout/);
    expect(runCli(['inspect', '--model', BERT, '--text', 'a', '--hide', 'pads']).stderr).toMatch(/--hide takes special, first/);
  });
});

describe('inspect for a person at a terminal', () => {
  it('prints each token with its strongest attended tokens for --layer/--head, matching the JSON weights', () => {
    const r = runCli(['inspect', '--model', CAUSAL, '--text', TEXT, '--layer', '2', '--head', '4', '--top', '2']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/Layer 2 · head 4: each token's 2 most attended \(· leading space/);
    const json = inspect(CAUSAL, TEXT);
    const w = json.attention[1].weights[3];
    const rows = r.stdout.split('\n').filter((l) => /^\s+\d+ {2}/.test(l));
    expect(rows).toHaveLength(json.tokens.length);
    const q = 5;
    const best = w[q].map((v, k) => [v, k] as const).sort((a, b) => b[0] - a[0]).slice(0, 2);
    for (const [v] of best) expect(rows[q]).toContain(v.toFixed(3));
  });

  it('defaults to the last layer and the mean of its heads, and rejects out-of-range choices', () => {
    expect(runCli(['inspect', '--model', CAUSAL, '--text', 'a b', '--top', '1']).stdout).toMatch(/Layer 4 · mean of all 8 heads/);
    expect(runCli(['inspect', '--model', CAUSAL, '--text', 'a b', '--layer', '9']).stderr).toMatch(/--layer 9 is out of range: this model has 4 attention outputs/);
    expect(runCli(['inspect', '--model', CAUSAL, '--text', 'a b', '--head', '0']).stderr).toMatch(/--head takes a whole number from 1/);
  });

  it('prints the full usage for --help, help and no arguments, and exits 0', () => {
    for (const args of [['--help'], ['help'], [], ['inspect', '--help']]) {
      const r = runCli(args);
      expect([args, r.status]).toEqual([args, 0]);
      for (const flag of ['--model', '--text-file', '--target', '--json', '--layer', '--head', '--top', '--stats', '--aggregate', '--words', '--hide', 'attention-lens download', '--file', '--cache-dir']) expect(r.stdout).toContain(flag);
    }
  });
});
