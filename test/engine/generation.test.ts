// Generation with attention (src/core/generation): on the GPT-2, Llama and T5 fixtures (T5 also in
// Optimum's split layout, with a key/value cache), on both
// engines, greedy generation chooses the largest logit of one full forward pass over the final
// sequence at every step, and each step's attention rows equal that pass's rows at the step's query
// (1e-5); a seed gives the same tokens on WebAssembly and native; a model without logits says so.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-web';
import { beforeAll, describe, expect, it } from 'vitest';
import { type RunInput, type RunOptions, allLayers } from '../../src/core/engine/attentionEngine';
import { type ModelEngine as Engine, openEngine } from '../../src/core/engine/splitEngine';
import { generate } from '../../src/core/generation/generate';
import { argmax } from '../../src/core/generation/sampling';
import { type ModelInfo, engineFiles, readModelFolder } from '../../src/models/modelFolder';
import { nativeModel, openNativeEngine } from '../../src/native/nativeEngine';
import { type AttentionGraphSpec, attentionGraph } from './attentionGraphs';
import { FIXTURES } from './cli';

beforeAll(() => {
  ort.env.wasm.numThreads = 1;
  ort.env.logLevel = 'fatal';
});

type Opener = (info: ModelInfo) => Promise<Engine>;
const ENGINES: Array<[string, Opener]> = [
  ['WebAssembly', (info) => {
    const f = engineFiles(info);
    return openEngine(ort, f.bytes, 'wasm', f.label, f.options);
  }],
  ['native', async (info) => (await openNativeEngine({ model: nativeModel(info), backend: 'native' })).engine],
];

/** The fixture's first reference text's ids, cut to a short prompt. */
function prompt(folder: string): number[] {
  const [ref] = JSON.parse(fs.readFileSync(path.join(folder, 'reference.json'), 'utf8')) as Array<{ ids: number[] }>;
  return ref.ids.slice(0, 7);
}

const STEPS = 6;

describe.each(ENGINES)('generation on %s', (_name, open) => {
  it.each(['gpt2-attn', 'llama-attn', 't5-attn'])('%s: greedy tokens are the full pass’s largest logits, and each step’s rows are its rows at that query', async (model) => {
    const folder = path.join(FIXTURES, 'models', model);
    const info = readModelFolder(folder);
    const engine = await open(info);
    try {
      const ids = prompt(folder);
      const config = JSON.parse(fs.readFileSync(path.join(folder, 'config.json'), 'utf8')) as { decoder_start_token_id?: number };
      const encoderDecoder = config.decoder_start_token_id !== undefined;
      const seen: number[] = [];
      const { steps, stop } = await generate(engine, ids, { maxNewTokens: STEPS, eos: [], decoderStart: config.decoder_start_token_id }, (s) => void seen.push(s.step));
      expect([steps.length, stop, seen]).toEqual([STEPS, 'max', [0, 1, 2, 3, 4, 5]]);

      // One pass over the final sequence: logits and attention at every position.
      const tokens = steps.map((s) => s.token);
      const decoder = encoderDecoder ? [config.decoder_start_token_id!, ...tokens.slice(0, -1)] : undefined;
      const input = encoderDecoder ? { ids, decoderIds: decoder! } : { ids: [...ids, ...tokens.slice(0, -1)] };
      const full = await engine.run(input, { logits: 'all' });
      const { layers } = await allLayers(full);
      const logits = full.logits!;
      for (const s of steps) {
        expect(s.query).toBe(encoderDecoder ? s.step : ids.length - 1 + s.step);
        expect(s.token).toBe(argmax(logits.data.subarray(s.query * logits.vocab, (s.query + 1) * logits.vocab)));
        expect(s.rank).toBe(1);
        expect(s.top[0].id).toBe(s.token);
        const rows = layers.filter((l) => l.kind !== 'encoder');
        expect(s.attention.map((a) => a.name)).toEqual(rows.map((l) => l.name));
        for (const [i, l] of rows.entries()) {
          const a = s.attention[i];
          expect(a.keys).toBe(l.kind === 'cross' ? ids.length : s.query + 1);
          let diff = 0;
          for (let h = 0; h < l.heads; h++) for (let k = 0; k < a.keys; k++) diff = Math.max(diff, Math.abs(a.weights[h * a.keys + k] - l.data[(h * l.queries + s.query) * l.keys + k]));
          expect(diff).toBeLessThanOrEqual(1e-5);
          // Each head's row is a distribution over the keys it may see.
          for (let h = 0; h < l.heads; h++) expect(a.weights.subarray(h * a.keys, (h + 1) * a.keys).reduce((x, y) => x + y, 0)).toBeCloseTo(1, 4);
        }
      }
    } finally {
      await engine.dispose();
    }
  });
});

describe.each(ENGINES)('incremental generation with a key/value cache on %s', (_name, open) => {
  // Exports with past inputs (tools/kv-fixtures/make.py): GPT-2 and Llama (grouped-query, RoPE) as
  // plain PyTorch modules; reference.json holds PyTorch's greedy tokens and rows, from a full pass
  // at every step.
  it.each(['gpt2-past', 'llama-past'])('%s: the cache and the re-run give PyTorch’s tokens and rows, and each other’s', async (model) => {
    const folder = path.join(FIXTURES, 'models', model);
    const ref = JSON.parse(fs.readFileSync(path.join(folder, 'reference.json'), 'utf8')) as { prompt: number[]; steps: Array<{ query: number; token: number; attention: number[][][] }> };
    const engine = await open(readModelFolder(folder));
    try {
      expect(engine.hasPast).toBe(true);
      const keys: number[] = [];
      // How many tokens each run was fed: the prompt, then one at a time.
      const fed: number[] = [];
      const counting = { hasLogits: engine.hasLogits, hasPast: engine.hasPast, run: (input: RunInput, options?: RunOptions) => (fed.push(input.ids.length), engine.run(input, options)) };
      const cached = await generate(counting, ref.prompt, { maxNewTokens: ref.steps.length, eos: [] }, (s) => void keys.push(s.attention.map((a) => a.keys)[0]));
      const rerun = await generate(engine, ref.prompt, { maxNewTokens: ref.steps.length, eos: [], rerun: true });
      for (const run of [cached, rerun]) {
        expect(run.steps.map((s) => s.token)).toEqual(ref.steps.map((s) => s.token));
        for (const [i, s] of run.steps.entries()) {
          expect(s.query).toBe(ref.steps[i].query);
          let diff = 0;
          s.attention.forEach((a, l) => ref.steps[i].attention[l].forEach((row, h) => row.forEach((w, k) => (diff = Math.max(diff, Math.abs(a.weights[h * a.keys + k] - w))))));
          expect(diff).toBeLessThanOrEqual(1e-5);
        }
      }
      // Each step of the cached run saw every key up to its query: the prompt's and the tokens before.
      expect(keys).toEqual(ref.steps.map((s) => s.query + 1));
      expect(fed).toEqual([ref.prompt.length, ...ref.steps.slice(1).map(() => 1)]);
    } finally {
      await engine.dispose();
    }
  });

  // Optimum's split layout (tools/kv-fixtures/make_t5.py): encoder_model.onnx, decoder_model.onnx and
  // decoder_with_past_model.onnx, without attention outputs (found by surgery, as on the Hub's).
  it('t5-split: the encoder runs once, the with-past decoder takes one token a step, and both paths give PyTorch’s tokens and rows', async () => {
    const folder = path.join(FIXTURES, 'models', 't5-split');
    type Rows = number[][][];
    const ref = JSON.parse(fs.readFileSync(path.join(folder, 'reference.json'), 'utf8')) as {
      prompt: number[]; decoderStart: number; steps: Array<{ query: number; token: number; decoder: Rows; cross: Rows }>;
      full: { decoderIds: number[]; encoder: number[][][][]; decoder: number[][][][]; cross: number[][][][] };
    };
    const info = readModelFolder(folder);
    expect([path.basename(info.onnxPath), path.basename(info.decoders!.decoder), path.basename(info.decoders!.withPast!)]).toEqual(['encoder_model.onnx', 'decoder_model.onnx', 'decoder_with_past_model.onnx']);
    const engine = await open(info);
    try {
      expect([engine.hasLogits, engine.hasPast]).toEqual([true, true]);
      const fed: string[] = [];
      const counting = { hasLogits: true, hasPast: true, run: (input: RunInput, options?: RunOptions) => (fed.push(`${input.past ? 'past' : 'source'}+${input.decoderIds!.length}`), engine.run(input, options)) };
      const options = { maxNewTokens: ref.steps.length, eos: [], decoderStart: ref.decoderStart };
      const cached = await generate(counting, ref.prompt, options);
      const rerun = await generate(engine, ref.prompt, { ...options, rerun: true });
      expect(fed).toEqual(['source+1', ...ref.steps.slice(1).map(() => 'past+1')]);
      for (const run of [cached, rerun]) {
        expect(run.steps.map((s) => s.token)).toEqual(ref.steps.map((s) => s.token));
        for (const [i, s] of run.steps.entries()) {
          expect(s.query).toBe(ref.steps[i].query);
          expect(s.attention.map((a) => `${a.kind}.${a.layer}:${a.keys}`)).toEqual([0, 1].map((l) => `decoder.${l}:${s.query + 1}`).concat([0, 1].map((l) => `cross.${l}:${ref.prompt.length}`)));
          let diff = 0;
          for (const a of s.attention) ref.steps[i][a.kind as 'decoder' | 'cross'][a.layer].forEach((row, h) => row.forEach((w, k) => (diff = Math.max(diff, Math.abs(a.weights[h * a.keys + k] - w)))));
          expect(diff).toBeLessThanOrEqual(1e-5);
        }
      }
      // Show Attention on the split model: encoder, decoder and cross attention of one pass, as PyTorch's.
      const { layers } = await allLayers(await engine.run({ ids: ref.prompt, decoderIds: ref.full.decoderIds }));
      expect(layers.map((l) => `${l.name}[${l.queries}×${l.keys}]`)).toEqual(['encoder', 'decoder', 'cross'].flatMap((kind) => [0, 1].map((i) => {
        const [q, k] = kind === 'encoder' ? [7, 7] : kind === 'decoder' ? [6, 6] : [6, 7];
        return `${kind}_attentions.${i}[${q}×${k}]`;
      })));
      let diff = 0;
      for (const l of layers) ref.full[l.kind as 'encoder' | 'decoder' | 'cross'][l.layer].forEach((head, h) => head.forEach((row, q) => row.forEach((w, k) => (diff = Math.max(diff, Math.abs(l.data[(h * l.queries + q) * l.keys + k] - w))))));
      expect(diff).toBeLessThanOrEqual(1e-5);
    } finally {
      await engine.dispose();
    }
  });

  it('continues a run from its cache: one new token attends over every key', async () => {
    const folder = path.join(FIXTURES, 'models', 'gpt2-past');
    const engine = await open(readModelFolder(folder));
    try {
      const first = await engine.run({ ids: [5, 6, 7] }, { cache: true });
      expect(first.cache!.length).toBe(3);
      const next = await engine.run({ ids: [8], past: first.cache }, { cache: true, logits: 'last' });
      expect(next.cache!.length).toBe(4);
      expect(next.layers.map((l) => [l.queries, l.keys])).toEqual([[1, 4], [1, 4]]);
      const whole = await engine.run({ ids: [5, 6, 7, 8] });
      const last = whole.layers[1];
      const row = Array.from(last.data.subarray(3 * 4, 4 * 4));
      expect(Array.from(next.layers[1].data.subarray(0, 4)).map((v, i) => Math.abs(v - row[i]) < 1e-5)).toEqual([true, true, true, true]);
    } finally {
      await engine.dispose();
    }
  });
});

describe('sampling through a model', () => {
  it('gives the same tokens for the same seed on WebAssembly and native, stops at an end-of-sequence id, and can be stopped', async () => {
    const folder = path.join(FIXTURES, 'models', 'gpt2-attn');
    const info = readModelFolder(folder);
    const ids = prompt(folder);
    const sampling = { temperature: 0.9, topK: 40, topP: 0.95, seed: 1234 };
    const runs = await Promise.all(ENGINES.map(async ([, open]) => {
      const engine = await open(info);
      try {
        return (await generate(engine, ids, { maxNewTokens: 8, eos: [], sampling })).steps.map((s) => s.token);
      } finally {
        await engine.dispose();
      }
    }));
    expect(runs[1]).toEqual(runs[0]);
    const engine = await ENGINES[0][1](info);
    try {
      const again = await generate(engine, ids, { maxNewTokens: 8, eos: [], sampling });
      expect(again.steps.map((s) => s.token)).toEqual(runs[0]);
      const other = await generate(engine, ids, { maxNewTokens: 8, eos: [], sampling: { ...sampling, seed: 99 } });
      expect(other.steps.map((s) => s.token)).not.toEqual(runs[0]);
      // The third token sampled taken as the end of the sequence: it stops there.
      const eos = await generate(engine, ids, { maxNewTokens: 8, eos: [runs[0][2]], sampling });
      expect([eos.steps.length <= 3, eos.stop, eos.steps.at(-1)!.token]).toEqual([true, 'eos', runs[0][2]]);
      const abort = new AbortController();
      const stopped = await generate(engine, ids, { maxNewTokens: 8, eos: [], signal: abort.signal }, (s) => {
        if (s.step === 1) abort.abort();
      });
      expect([stopped.steps.length, stopped.stop]).toEqual([2, 'stopped']);
    } finally {
      await engine.dispose();
    }
  });

  it('refuses a model without logits, saying it shows attention but cannot generate', async () => {
    const spec: AttentionGraphSpec = { form: 'sdpa', layers: 1, hidden: 16, heads: 4, kvHeads: 4, causal: true, vocab: 64, seed: 2 };
    const engine = await openEngine(ort, attentionGraph(spec), 'wasm');
    try {
      expect(engine.hasLogits).toBe(false);
      await expect(generate(engine, [1, 2, 3], { maxNewTokens: 2, eos: [] })).rejects.toThrow(/no logits output: it shows attention but cannot generate/);
      await expect(engine.run({ ids: [1, 2, 3] }, { logits: 'last' })).rejects.toThrow(/cannot generate/);
    } finally {
      await engine.dispose();
    }
  });
});
