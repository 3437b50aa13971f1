// The command-to-picture breakdown: totals per stage, overlapping stages, the non-inference share.
import { describe, expect, it } from 'vitest';
import { type RunTimings, describeTimings, nonInferenceShare, stageTotals, totalMillis } from '../../src/core/timing';

const t: RunTimings = {
  commandAt: 1000,
  spans: [
    { stage: 'tokenize', start: 1010, end: 1030 },
    { stage: 'runtime', start: 1005, end: 1905 }, // overlaps the model read and the tokenizer
    { stage: 'model', start: 1005, end: 1405 },
    { stage: 'session', start: 1905, end: 2105 },
    { stage: 'inference', start: 2110, end: 2190 },
    { stage: 'inference', start: 2200, end: 2220 }, // a WebGPU attempt and the WASM retry add up
    { stage: 'draw', start: 2220, end: 2500 },
  ],
  pictureAt: 2500,
};

describe('run timings', () => {
  it('adds up each stage and measures the total from the command, not the sum of overlapping stages', () => {
    expect(stageTotals(t)).toEqual({ tokenize: 20, runtime: 900, model: 400, session: 200, inference: 100, draw: 280 });
    expect(totalMillis(t)).toBe(1500);
    expect(nonInferenceShare(t)).toBeCloseTo(1400 / 1500, 10);
  });

  it('describes the breakdown in display order with readable units', () => {
    expect(describeTimings(t)).toBe('1.50 s from the command to the picture: tokenize 20 ms, runtime read 900 ms, model read 400 ms, session create 200 ms, inference 100 ms, first draw 280 ms');
    expect(describeTimings({ commandAt: 0, spans: [], pictureAt: 12.4 })).toBe('12 ms from the command to the picture');
  });
});
