// The CLI's attention, tokens and offsets against PyTorch/HF references for every fixture model.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES, inspect } from './cli';

interface ModelReference {
  text: string;
  ids: number[];
  tokens: string[];
  offsets: Array<[number, number]>;
  attentions: Record<string, number[][][][]>;
}

// T5's fixture has large activations: fp32 rounding differs between runtimes by ~1.5e-3 (fixtures README).
// *-plain models have no attention outputs: the attention comes from graph surgery.
const MODELS: Array<[string, number]> = [['bert-attn', 1e-4], ['gpt2-attn', 1e-4], ['llama-attn', 1e-4], ['t5-attn', 2e-3], ['bert-plain', 1e-4], ['gpt2-plain', 1e-4], ['bert-sdpa', 1e-4]];

function maxAbsDiff(a: number[][][], b: number[][][]): number {
  let m = 0;
  expect(a.length).toBe(b.length);
  for (let h = 0; h < a.length; h++) {
    expect(a[h].length).toBe(b[h].length);
    for (let q = 0; q < a[h].length; q++) {
      expect(a[h][q].length).toBe(b[h][q].length);
      for (let k = 0; k < a[h][q].length; k++) m = Math.max(m, Math.abs(a[h][q][k] - b[h][q][k]));
    }
  }
  return m;
}

/** Code-point offsets of the reference converted to UTF-16, independently of the code under test. */
function utf16(text: string, cp: number): number {
  return Array.from(text).slice(0, cp).join('').length;
}

describe.each(MODELS)('%s through the CLI', (name, tolerance) => {
  const folder = path.join(FIXTURES, 'models', name);
  const refs = JSON.parse(fs.readFileSync(path.join(folder, 'reference.json'), 'utf8')) as ModelReference[];

  it.each(refs.map((r, i) => [i, r] as const))('text %i matches tokens, offsets and attention', (_i, ref) => {
    const out = inspect(folder, ref.text);
    expect(out.backend).toBe('wasm');
    expect(out.tokens.map((t) => t.id)).toEqual(ref.ids);
    expect(out.tokens.map((t) => t.text)).toEqual(ref.tokens);
    expect(out.tokens.map((t) => [t.start, t.end])).toEqual(ref.offsets.map(([s, e]) => [utf16(ref.text, s), utf16(ref.text, e)]));
    const kinds = Object.keys(ref.attentions);
    expect(new Set(out.attention.map((a) => a.kind))).toEqual(new Set(kinds));
    for (const kind of kinds) {
      const layers = out.attention.filter((a) => a.kind === kind);
      expect(layers.map((l) => l.layer)).toEqual(ref.attentions[kind].map((_, i) => i));
      for (const l of layers) {
        expect(l.weights.length).toBe(l.heads);
        expect(maxAbsDiff(l.weights, ref.attentions[kind][l.layer])).toBeLessThanOrEqual(tolerance);
      }
    }
  });
});
