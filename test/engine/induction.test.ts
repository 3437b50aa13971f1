// Induction heads: the statistic finds the induction head of a hand-built two-layer model made to
// have one (test/engine/inductionGraph.ts), and none in the same model with that head's key on the
// token instead, through the CLI's --stats (the probe made from the model's vocabulary, seeded).
// The extension's panel measures the same probe (e2e covers the explorer).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { inductionProbe } from '../../src/core/analysis/induction';
import { FIXTURES, inspect } from './cli';
import { INDUCTION_POSITIONS, inductionGraph } from './inductionGraph';

type HeadRow = { kind: string; layer: number; head: number; previous: number | null; duplicate: number | null; induction: number | null; labels: string[] };

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'attention-lens-induction-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A model folder: GPT-2's fixture tokenizer (3,000 ids), a config for the hand-built graph. */
function folder(name: string, induction: boolean): string {
  const dir = path.join(tmp, name);
  fs.cpSync(path.join(FIXTURES, 'models/gpt2-plain'), dir, { recursive: true });
  const config = { model_type: 'gpt2', vocab_size: 3000, n_positions: INDUCTION_POSITIONS, n_layer: 2, n_head: 2, n_embd: 192 };
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
  fs.writeFileSync(path.join(dir, 'onnx/model.onnx'), inductionGraph(3000, induction));
  return dir;
}

const stats = (dir: string) => (inspect(dir, 'The cat sat on the mat.', ['--stats']) as unknown as { heads: HeadRow[] }).heads;

describe('the induction statistic', () => {
  it('finds the induction head of a model made to have one, and labels it', () => {
    const heads = stats(folder('with', true));
    const at = (layer: number, head: number) => heads.find((h) => h.layer === layer && h.head === head)!;
    // The circuit as built: a previous-token head in layer 1, the induction head in layer 2.
    expect(at(0, 0).labels).toContain('previous-token');
    expect(at(1, 0).induction).toBeGreaterThan(0.9);
    expect(at(1, 0).labels).toContain('induction');
    // The others score low: the duplicate-token head attends to the earlier occurrence itself, not to the token after it.
    for (const h of heads.filter((x) => !(x.layer === 1 && x.head === 0))) {
      expect(h.induction).toBeLessThan(0.2);
      expect(h.labels).not.toContain('induction');
    }
  });

  it('finds none in the same model whose second-layer head keys on the token instead', () => {
    const heads = stats(folder('without', false));
    expect(heads.every((h) => h.induction !== null && h.induction < 0.2 && !h.labels.includes('induction'))).toBe(true);
    // Both heads of layer 2 are duplicate-token heads now: the construction still works, only induction is gone.
    expect(heads.filter((h) => h.layer === 1).every((h) => h.labels.includes('duplicate-token') || (h.duplicate ?? 0) > 0.3)).toBe(true);
  });
});

describe('the induction probe', () => {
  it('is seeded, leaves out the excluded ids, repeats distinct ids once after the prefix, and fits the positions', () => {
    const p = inductionProbe(100, new Set([0, 1, 2]), 64, [0]);
    expect(p).toEqual(inductionProbe(100, new Set([0, 1, 2]), 64, [0]));
    expect(p!.period).toBe(31);
    expect(p!.ids).toHaveLength(63);
    const half = p!.ids.slice(1, 32);
    expect(p!.ids.slice(32)).toEqual(half);
    expect(new Set(half).size).toBe(31);
    expect(half.every((id) => id > 2 && id < 100)).toBe(true);
    expect(inductionProbe(100, new Set(), 64, [], 1)!.ids).not.toEqual(inductionProbe(100, new Set(), 64, [], 2)!.ids);
    expect(inductionProbe(3, new Set([0, 1]), 64)).toBeUndefined();
    expect(inductionProbe(100, new Set(), 50)!.period).toBe(25);
  });
});
