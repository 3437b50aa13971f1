// `attention-lens generate` as a user runs it: the JSON document (ids, tokens with offsets into the
// text and its continuation, steps with probabilities, alternatives and attention rows), the
// text mode, a seed that gives the same tokens on both engines, the cut at the model's positions,
// and mistakes on the command line.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as os from 'node:os';
import { describe, expect, it } from 'vitest';
import { readModelFolder } from '../../src/models/modelFolder';
import { FIXTURES, ROOT, expectCliFailure, runCliAsync } from './cli';

interface GenerateJson {
  backend: string;
  text: string;
  output: string;
  stop: string;
  ids: number[];
  tokens: Array<{ id: number; text: string; start: number; end: number; special: boolean; generated: boolean }>;
  sourceTokens?: unknown[];
  steps: Array<{ step: number; query: number; token: { id: number; text: string }; probability: number; rank: number; top: Array<{ id: number; probability: number }>; attention: Array<{ name: string; kind: string; heads: number; keys: number; weights: number[][] }> }>;
}

const BUNDLED = path.join(ROOT, 'media/models/tiny-causal');
const TEXT = 'In the beginning God created the';

async function generateJson(model: string, text: string, extra: string[] = []): Promise<GenerateJson> {
  const r = await runCliAsync(['generate', '--model', model, '--text', text, '--json', ...extra]);
  if (r.status !== 0) throw new Error(`CLI exited ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout) as GenerateJson;
}

describe('attention-lens generate', () => {
  it('continues the text and writes each step: its token, probability, alternatives and attention row', async () => {
    const d = await generateJson(BUNDLED, TEXT, ['--max-new-tokens', '6']);
    expect([d.backend, d.stop, d.steps.length]).toEqual(['native', 'max', 6]);
    const prompt = d.tokens.filter((t) => !t.generated);
    const made = d.tokens.filter((t) => t.generated);
    expect(d.ids).toEqual(d.tokens.map((t) => t.id));
    expect(made.map((t) => t.id)).toEqual(d.steps.map((s) => s.token.id));
    // Offsets: the prompt's into the text, the output's into text + output.
    for (const t of prompt) expect(t.end).toBeLessThanOrEqual(TEXT.length);
    expect(made.map((t) => (TEXT + d.output).slice(t.start, t.end)).join('')).toBe(d.output);
    d.steps.forEach((s, i) => {
      expect(s.query).toBe(prompt.length - 1 + i);
      expect([s.rank, s.top[0].id]).toEqual([1, s.token.id]); // greedy
      expect(s.top.map((t) => t.probability)).toEqual([...s.top.map((t) => t.probability)].sort((a, b) => b - a));
      expect(s.attention).toHaveLength(4); // the bundled model's 4 layers
      for (const a of s.attention) {
        expect([a.heads, a.weights.length, a.keys, a.weights[0].length]).toEqual([8, 8, s.query + 1, s.query + 1]);
        for (const row of a.weights) expect(row.reduce((x, y) => x + y, 0)).toBeCloseTo(1, 4);
      }
    });
    // The text mode: a line per step, then the text and its continuation.
    const text = await runCliAsync(['generate', '--model', BUNDLED, '--text', TEXT, '--max-new-tokens', '6']);
    expect(text.status).toBe(0);
    const lines = text.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^\S+ · \d+ tokens · greedy · up to 6 new tokens · native$/);
    expect(lines.filter((l) => /^\s+\d+ {2}".*" +p 0\.\d{3}.* looked at /.test(l))).toHaveLength(6);
    expect(lines.at(-1)).toBe(TEXT + d.output);
  });

  it('samples the same tokens for the same seed on both engines, others for another seed', async () => {
    const sampling = ['--max-new-tokens', '8', '--temperature', '0.8', '--top-k', '50', '--top-p', '0.9', '--seed', '7'];
    const [native, wasm, other] = await Promise.all([
      generateJson(BUNDLED, TEXT, sampling),
      generateJson(BUNDLED, TEXT, [...sampling, '--backend', 'wasm']),
      generateJson(BUNDLED, TEXT, [...sampling.slice(0, -1), '8']),
    ]);
    expect(wasm.backend).toBe('wasm');
    expect(wasm.ids).toEqual(native.ids);
    expect(other.ids).not.toEqual(native.ids);
  });

  it('writes an encoder-decoder model’s output from its start token, with cross-attention rows over the source', async () => {
    const d = await generateJson(path.join(FIXTURES, 'models/t5-attn'), 'The license grants', ['--max-new-tokens', '3']);
    expect(d.sourceTokens).toBeDefined();
    expect(d.ids[0]).toBe(0); // T5's decoder_start_token_id
    expect(d.steps.map((s) => s.query)).toEqual([0, 1, 2]);
    const cross = d.steps[2].attention.filter((a) => a.kind === 'cross');
    expect(cross.length).toBeGreaterThan(0);
    for (const a of cross) expect(a.keys).toBe(d.sourceTokens!.length);
  });

  it('reads the end-of-sequence ids from generation_config.json, else config.json, and ignores an unreadable one', () => {
    const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'attention-lens-eos-'));
    try {
      fs.cpSync(path.join(FIXTURES, 'models/gpt2-attn'), folder, { recursive: true });
      expect(readModelFolder(folder).eosTokenIds).toEqual([0]); // config.json's
      fs.writeFileSync(path.join(folder, 'generation_config.json'), JSON.stringify({ eos_token_id: [5, 6] }));
      expect(readModelFolder(folder).eosTokenIds).toEqual([5, 6]);
      fs.writeFileSync(path.join(folder, 'generation_config.json'), '{ not json');
      expect(readModelFolder(folder).eosTokenIds).toEqual([0]);
    } finally {
      fs.rmSync(folder, { recursive: true, force: true });
    }
  });

  it('cuts the maximum to the positions left, and says what is wrong on the command line', async () => {
    const genesis = fs.readFileSync(path.join(ROOT, 'sample/genesis.txt'), 'utf8');
    const r = await runCliAsync(['generate', '--model', BUNDLED, '--text', genesis.slice(0, 1900), '--max-new-tokens', '400', '--json']);
    expect(r.status).toBe(0);
    const [, left] = /warning: --max-new-tokens 400 is more than the (\d+) positions left of the model's 512: generating at most \1\./.exec(r.stderr) ?? [];
    expect((JSON.parse(r.stdout) as GenerateJson).steps.length).toBeLessThanOrEqual(Number(left));
    const full = await runCliAsync(['generate', '--model', BUNDLED, '--text', genesis.slice(0, 2400)]);
    expect([full.status, full.stdout]).toEqual([1, '']);
    expect(full.stderr).toMatch(/the text fills the model's 512 positions: no room to generate\. Give a shorter text\./);
    expectCliFailure(['generate', '--model', BUNDLED, '--text', TEXT, '--top-p', '1.5'], /--top-p takes a number above 0, at most 1 \(got "1\.5"\)/);
    expectCliFailure(['generate', '--model', BUNDLED, '--text', TEXT, '--temperature', 'hot'], /--temperature takes a number from 0/);
    expectCliFailure(['generate', '--model', BUNDLED], /give exactly one of --text and --text-file/);
    expectCliFailure(['generate', '--text', TEXT], /--model is required/);
  });
});
