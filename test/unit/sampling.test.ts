// Choosing the next token (src/core/generation/sampling.ts): greedy, seeded sampling with
// temperature, top-k and top-p, and the alternatives shown for each step.
import { describe, expect, it } from 'vitest';
import { alternatives, argmax, chooseToken, probabilities, samples, seededRandom } from '../../src/core/generation/sampling';

const logits = Float32Array.of(1, 3, 2, 3, -1, 0.5);

describe('sampling', () => {
  it('is greedy without options: the largest logit, the lowest id among equals', () => {
    expect(samples(undefined)).toBe(false);
    expect(samples({ temperature: 0, seed: 3 })).toBe(false);
    expect(argmax(logits)).toBe(1);
    expect(chooseToken(logits, undefined, () => 0.99)).toBe(1);
    expect(chooseToken(logits, {}, () => 0.99)).toBe(1);
  });

  it('gives the same draws for the same seed, and others for another', () => {
    const a = seededRandom(42), b = seededRandom(42), c = seededRandom(43);
    const xs = Array.from({ length: 5 }, a);
    expect(Array.from({ length: 5 }, b)).toEqual(xs);
    expect(Array.from({ length: 5 }, c)).not.toEqual(xs);
    for (const x of xs) expect(x >= 0 && x < 1).toBe(true);
    // Drawing many: every token appears about as often as its probability says.
    const random = seededRandom(7);
    const p = probabilities(logits);
    const counts = new Array(logits.length).fill(0);
    for (let i = 0; i < 20000; i++) counts[chooseToken(logits, { seed: 7 }, random)]++;
    counts.forEach((n, id) => expect(Math.abs(n / 20000 - p[id])).toBeLessThan(0.015));
  });

  it('sharpens or flattens with the temperature, and filters by top-k, then top-p', () => {
    const cold = probabilities(logits, 0.1), hot = probabilities(logits, 10);
    expect(cold[1] + cold[3]).toBeGreaterThan(0.999);
    expect(Math.max(...hot) - Math.min(...hot)).toBeLessThan(0.2);
    const drawn = (s: Parameters<typeof chooseToken>[1]) => {
      const random = seededRandom(1);
      return new Set(Array.from({ length: 2000 }, () => chooseToken(logits, s, random)));
    };
    expect(drawn({ topK: 2 })).toEqual(new Set([1, 3]));
    expect(drawn({ topK: 3 })).toEqual(new Set([1, 2, 3]));
    // p = softmax: tokens 1 and 3 hold 0.384 each, 2 holds 0.141: top-p 0.5 keeps 1 and 3 (0.768), 0.8 adds 2.
    expect(drawn({ topP: 0.5 })).toEqual(new Set([1, 3]));
    expect(drawn({ topP: 0.8 })).toEqual(new Set([1, 2, 3]));
    expect(drawn({ topP: 0.01 })).toEqual(new Set([1])); // at least one token
  });

  it('lists what the model nearly chose: the most probable tokens, the chosen one’s probability and rank', () => {
    const p = probabilities(logits);
    const a = alternatives(logits, 2, 3);
    expect(a.top.map((t) => t.id)).toEqual([1, 3, 2]);
    expect(a.top[0].probability).toBeCloseTo(p[1], 12);
    expect([a.probability, a.rank]).toEqual([p[2], 3]);
    expect(alternatives(logits, 3, 1)).toMatchObject({ top: [{ id: 1 }], rank: 2 }); // equal logits: the lower id ranks first
    expect(p.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 12);
  });
});
