// The bundled default models, run in Node (WASM) on fixed texts: shapes, rows that sum to 1, no
// attention to the future in the causal model, and the previous-token head its model card names.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, inspect } from './cli';

const MODELS = path.join(ROOT, 'media/models');
const TEXTS = [
  'And God said, Let there be light: and there was light. And God saw the light, that it was good.',
  'def area(radius):\n    return 3.14159 * (radius ** 2)\n\nprint([area(r) for r in range(3)])',
];

interface Manifest {
  id: string;
  folder: string;
  default?: boolean;
}
const manifest = JSON.parse(fs.readFileSync(path.join(MODELS, 'models.json'), 'utf8')) as Manifest[];

function config(folder: string): { num_hidden_layers: number; num_attention_heads: number; is_decoder: boolean } {
  return JSON.parse(fs.readFileSync(path.join(MODELS, folder, 'config.json'), 'utf8'));
}

describe('bundled models', () => {
  it('ship a trained causal default and a masked model, each under 15 MB', () => {
    expect(manifest.map((m) => m.id).sort()).toEqual(['tiny-causal', 'tiny-masked']);
    expect(manifest.find((m) => m.default)?.id).toBe('tiny-causal');
    for (const m of manifest) {
      expect(fs.statSync(path.join(MODELS, m.folder, 'onnx/model.onnx')).size).toBeLessThan(15e6);
      expect(fs.readFileSync(path.join(MODELS, m.folder, 'README.md'), 'utf8')).toMatch(/held-out/i);
    }
  });

  describe.each(manifest.map((m) => [m.id, m.folder] as const))('%s', (_id, folder) => {
    const cfg = config(folder);
    it.each(TEXTS.map((t, i) => [i, t] as const))('text %i: shapes, rows sum to 1, causality', (_i, text) => {
      const out = inspect(path.join(MODELS, folder), text);
      const n = out.tokens.length;
      expect(out.attention.map((a) => a.name)).toEqual(Array.from({ length: cfg.num_hidden_layers }, (_, l) => `attentions.${l}`));
      for (const a of out.attention) {
        expect([a.kind, a.heads, a.queries, a.keys]).toEqual(['self', cfg.num_attention_heads, n, n]);
        for (const head of a.weights) {
          head.forEach((row, q) => {
            expect(Math.abs(row.reduce((s, w) => s + w, 0) - 1)).toBeLessThanOrEqual(1e-4);
            if (cfg.is_decoder) expect(Math.max(...row.slice(q + 1), 0)).toBe(0);
          });
        }
      }
    });
  });
});

describe('the causal model card', () => {
  const card = fs.readFileSync(path.join(MODELS, 'tiny-causal/README.md'), 'utf8');
  const m = /Previous-token head: layer (\d+), head (\d+), mean weight on the previous token \*\*([\d.]+)\*\*/.exec(card);

  it('names a previous-token head measured on held-out text, with mean weight ≥ 0.6 (issue 3)', () => {
    expect(m).not.toBeNull();
    expect(Number(m![3])).toBeGreaterThanOrEqual(0.6);
  });

  // A head spreading its weight evenly over these ~40-token texts would give ~0.05; a broken export far less than 0.5.
  // The shipped head gives about 0.87 and 0.67 on them.
  it('names a head that still attends to the previous token in the shipped ONNX', () => {
    const [layer, head] = [Number(m![1]) - 1, Number(m![2]) - 1]; // the card numbers from 1, like the panel
    for (const text of TEXTS) {
      const w = inspect(path.join(MODELS, 'tiny-causal'), text).attention[layer].weights[head];
      const prev = w.slice(1).map((row, i) => row[i]);
      expect(prev.reduce((s, x) => s + x, 0) / prev.length).toBeGreaterThanOrEqual(0.5);
    }
  });
});
