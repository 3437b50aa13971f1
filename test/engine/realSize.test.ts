// Real-size models (issue 14): BERT-base- and GPT-2-small-shaped ONNX models with random weights,
// generated on demand by tools/real-size/generate.mjs into the cache (never committed), run
// through the engine. Their graphs output only last_hidden_state, so every attention comes from
// graph surgery on an eager graph of real size: 12 layers × 12 heads, 128 and 512 tokens.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as ort from 'onnxruntime-web';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AttentionLayer, recordOfLayer } from '../../src/core/attention';
import { AttentionEngine } from '../../src/core/engine/attentionEngine';
import { type ModelInfo, readModelFolder, readOnnxBytes } from '../../src/models/modelFolder';
import { ModelTokenizer } from '../../src/models/tokenizer';
import { ROOT } from './cli';

const GENERATOR = path.join(ROOT, 'tools/real-size/generate.mjs');
type Shape = 'bert-base' | 'gpt2-small';
interface Generator {
  ensureRealSizeModel(shape: Shape, opts?: { cacheDir?: string; log?: (line: string) => void }): Promise<string>;
  realSizeCacheDir(opts?: { cacheDir?: string }): string;
}
/** The generator is plain JavaScript (it runs with bare node); loaded by URL so TypeScript does not look for its types. */
const generator = (): Promise<Generator> => import(/* @vite-ignore */ pathToFileURL(GENERATOR).href) as Promise<Generator>;

/** Long enough for 1024 tokens with either tokenizer. */
const TEXT = Array.from({ length: 120 }, (_, i) => `Line ${i}: the quick brown fox jumps over the lazy dog, and (x[${i}] + y) * ${i % 7} == z;`).join('\n');

const folders: Partial<Record<Shape, string>> = {};
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'attention-lens-real-size-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

beforeAll(() => {
  // The command line, as a person runs it: one folder per line, generated on first use, cached after.
  const r = spawnSync(process.execPath, [GENERATOR, 'bert-base', 'gpt2-small'], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  const lines = r.stdout.trim().split('\n');
  expect(lines).toHaveLength(2);
  [folders['bert-base'], folders['gpt2-small']] = lines;
  ort.env.wasm.numThreads = 1;
  ort.env.logLevel = 'fatal';
});

describe('the generator', () => {
  it('prints folders in the cache that readModelFolder recognises: architecture, causality, max positions', () => {
    const bert = readModelFolder(folders['bert-base']!);
    expect(bert).toMatchObject({ architecture: 'BertModel', modelType: 'bert', causal: false, encoderDecoder: false, maxPositions: 512, layers: 12, heads: 12, vocabSize: 30522 });
    const gpt2 = readModelFolder(folders['gpt2-small']!);
    expect(gpt2).toMatchObject({ architecture: 'GPT2Model', modelType: 'gpt2', causal: true, encoderDecoder: false, maxPositions: 1024, layers: 12, heads: 12, vocabSize: 50257 });
    for (const info of [bert, gpt2]) {
      expect(path.relative(info.folder, info.onnxPath)).toBe(path.join('onnx', 'model.onnx'));
      expect(info.onnxBytes).toBeGreaterThan(400e6); // ~110 M and ~124 M float32 parameters
      expect(path.dirname(info.folder)).toBe(process.env.ATTENTION_LENS_CACHE ? path.join(process.env.ATTENTION_LENS_CACHE, 'real-size') : path.join(os.homedir(), '.cache/attention-lens/real-size'));
    }
  });

  it('reuses a cached model without rewriting it', async () => {
    const { ensureRealSizeModel } = await generator();
    const file = path.join(folders['bert-base']!, 'onnx/model.onnx');
    const before = fs.statSync(file);
    const t0 = performance.now();
    expect(await ensureRealSizeModel('bert-base')).toBe(folders['bert-base']);
    expect(performance.now() - t0).toBeLessThan(500);
    const after = fs.statSync(file);
    expect([after.mtimeMs, after.ino, after.size]).toEqual([before.mtimeMs, before.ino, before.size]);
  });

  it('writes into a temporary folder and renames it: no partial model in the cache, before or after a failure', async () => {
    const { ensureRealSizeModel, realSizeCacheDir } = await generator();
    const cacheDir = path.join(tmp, 'cache');
    const dir = realSizeCacheDir({ cacheDir });
    // A failure while generating leaves neither the model folder nor its temporary folder.
    await expect(ensureRealSizeModel('bert-base', { cacheDir, log: () => { throw new Error('interrupted'); } })).rejects.toThrow('interrupted');
    expect(fs.readdirSync(dir)).toEqual([]);
    // While it is written, only the temporary folder exists; afterwards only the model folder.
    const seen: string[][] = [];
    const folder = await ensureRealSizeModel('bert-base', { cacheDir, log: () => seen.push(fs.readdirSync(dir)) });
    expect(folder).toBe(path.join(dir, 'bert-base-v1'));
    expect(seen[0]).toHaveLength(1);
    expect(seen[0][0]).toMatch(/^\.tmp-bert-base-v1-/);
    expect(fs.readdirSync(dir)).toEqual(['bert-base-v1']);
    // Deterministic weights: the same bytes as the shared cache's copy (compared on a slice of the file).
    const head = (f: string) => { const fd = fs.openSync(f, 'r'); const b = Buffer.alloc(1 << 20); fs.readSync(fd, b, 0, b.length, 200e6); fs.closeSync(fd); return b; };
    expect(head(path.join(folder, 'onnx/model.onnx')).equals(head(path.join(folders['bert-base']!, 'onnx/model.onnx')))).toBe(true);
    fs.rmSync(folder, { recursive: true, force: true });
  });
});

/** Checks one run: 12 self layers × 12 heads of [n, n], rows summing to 1, and (for causal models) nothing above the diagonal. */
function checkLayers(layers: AttentionLayer[], n: number, causal: boolean): void {
  expect(layers.map((l) => [l.name, l.kind, l.layer, l.heads, l.queries, l.keys])).toEqual(
    Array.from({ length: 12 }, (_, i) => [`attentions.${i}`, 'self', i, 12, n, n]),
  );
  let worstSum = 0;
  let future = 0;
  let peak = 0;
  for (const l of layers) {
    const d = l.data;
    for (let r = 0; r < l.heads * n; r++) {
      const q = r % n;
      let s = 0;
      for (let k = 0; k < n; k++) {
        const w = d[r * n + k];
        s += w;
        if (k > q) future = Math.max(future, w);
        if (q > 0) peak = Math.max(peak, w); // a causal first row attends only to itself
      }
      worstSum = Math.max(worstSum, Math.abs(s - 1));
    }
  }
  expect(worstSum).toBeLessThanOrEqual(1e-4);
  if (causal) expect(future).toBe(0);
  else expect(future).toBeGreaterThan(0);
  expect(peak).toBeLessThan(1); // random weights: spread, not one-hot
}

describe.each([
  ['bert-base', [128, 512]],
  ['gpt2-small', [128]],
] as const)('%s through the engine (graph surgery, WASM)', (shape, lengths) => {
  let info: ModelInfo;
  let engine: AttentionEngine;
  let tokenizer: ModelTokenizer;
  beforeAll(async () => {
    info = readModelFolder(folders[shape]!);
    tokenizer = ModelTokenizer.load(info.folder);
    engine = await AttentionEngine.create(ort, readOnnxBytes(info), 'wasm');
  });
  afterAll(() => engine?.dispose());

  it('finds the 12 attention Softmaxes by surgery', () => {
    expect(engine.exposed.map((f) => [f.name, f.kind, f.layer])).toEqual(Array.from({ length: 12 }, (_, i) => [`attentions.${i}`, 'self', i]));
    expect(engine.attentionOutputs).toEqual(Array.from({ length: 12 }, (_, i) => `attentions.${i}`));
  });

  it.each(lengths.map((n) => [n]))('%i tokens: 12 layers × 12 heads, rows sum to 1, causal only when the model is', async (n) => {
    const { tokens, truncatedFrom } = await tokenizer.tokenize(TEXT, n);
    expect(tokens).toHaveLength(n);
    expect(truncatedFrom).toBeGreaterThan(n);
    const out = await engine.run({ ids: tokens.map((t) => t.id) });
    expect(out.warnings).toEqual([]);
    checkLayers(out.layers, n, shape === 'gpt2-small');
    const records = out.layers.map((l) => recordOfLayer(l, { tokens, causal: info.causal }));
    expect(records.every((r) => r.causal === (shape === 'gpt2-small') && r.overInput && r.queryTokens.length === n)).toBe(true);
  });
});
