// Today's LLM files (issue 22): tiny stand-ins of Qwen2.5-0.5B, Llama-3.2-1B, SmolLM2-135M and
// Gemma-3-1B in every variant the Hub ships (tools/real-size/llm.mjs), run through the engine the
// CLI and the panel use, against attention a plain PyTorch module computed from each variant's own
// weights (test/fixtures/llm/*.json, written by tools/real-size/llm-references.mjs). The stand-ins
// are generated here (a second each); their SHA-256 must be the one the reference was computed
// for, so a change to the generator cannot leave a stale reference behind.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { onnx as proto } from 'onnx-proto';
import * as ort from 'onnxruntime-web';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AttentionEngine, allLayers } from '../../src/core/engine/attentionEngine';
import { type ModelInfo, engineFiles, readModelFolder } from '../../src/models/modelFolder';
import { nativeModel, openNativeEngine } from '../../src/native/nativeEngine';
import { llmGenerator, llmReference, maxDifference, referenceAttention } from '../llmStandIns';
import { inspectAsync } from './cli';

const SHAPES = ['qwen2.5-0.5b', 'llama-3.2-1b', 'smollm2-135m', 'gemma-3-1b'];
const VARIANTS = ['fp32', 'fp16', 'q4', 'q4f16', 'quantized', 'uint8', 'bnb4', 'merged', 'genai'];

/**
 * How far each variant may be from its reference (attention weights lie in [0, 1]).
 * - Float32 arithmetic (fp32, the merged decoder, and q4 / bnb4 / genai, whose 4-bit weights the
 *   reference dequantizes exactly; onnxruntime-web's MatMulNBits computes in float32 even at accuracy_level 4):
 *   1e-4, as for every float32 model here. Measured: at most 1e-5.
 * - Float16 arithmetic (fp16, q4f16) against float64 with the same float16 weights: every float16
 *   operation rounds to 11 significant bits (relative 4.9e-4); through two layers the scores
 *   (|s| up to ~20 here) move by up to ~2e-2, and a weight p moves by p(1 − p)·Δs ≤ Δs / 4 ≈ 5e-3,
 *   more where rows are sharp: 3e-2 leaves room. Measured: up to 1.1e-2.
 * - 8-bit dynamic quantization (quantized, uint8): the reference quantizes activations as
 *   DynamicQuantizeLinear does, from float64 activations where onnxruntime has float32 ones, so a
 *   value within rounding of a step boundary can take the neighbouring code: one step of the
 *   activation grid on one input moves a score by ~1e-2. 2e-2. Measured: up to 7.9e-3.
 * These tolerances still catch wrong weights: the q4 model's own reference differs from the float32
 * one by far more (checked below).
 */
/**
 * The native engine (onnxruntime-node) against WebAssembly: float32 arithmetic agrees within 1e-5
 * (measured: at most 8.8e-6). Float16 and dynamically quantized variants round differently on the
 * two builds' kernels (measured: up to 1.7e-3 and 7.9e-3) and are held to their reference
 * tolerance instead. genai's MatMulNBits ask for accuracy_level 4: the native engine computes them
 * with int8 activations, as onnxruntime-genai does on CPU, where WebAssembly has only float32
 * kernels; checked below with the level set to 0.
 */
const NATIVE_VS_WASM: Record<string, number> = { fp32: 1e-5, merged: 1e-5, q4: 1e-5, bnb4: 1e-5, quantized: 1e-5 };
const TOLERANCE: Record<string, number> = { fp32: 1e-4, merged: 1e-4, q4: 1e-4, bnb4: 1e-4, genai: 1e-4, fp16: 3e-2, q4f16: 3e-2, quantized: 2e-2, uint8: 2e-2 };

const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'attention-lens-llm-'));
afterAll(() => fs.rmSync(cache, { recursive: true, force: true }));
const made = new Map<string, { folder: string; onnx: string }>();

beforeAll(async () => {
  ort.env.wasm.numThreads = 1;
  ort.env.logLevel = 'fatal';
  const gen = await llmGenerator();
  expect(Object.keys(gen.LLM_SHAPES)).toEqual(SHAPES);
  expect(Object.keys(gen.LLM_VARIANTS)).toEqual(VARIANTS);
  for (const shape of SHAPES) for (const v of VARIANTS) made.set(`${shape}/${v}`, gen.ensureLlmVariant(cache, shape, v, { tiny: true }));
});

/** SHA-256 of the ONNX file and of each external data file its graph names, in the graph's order. */
function digest(info: ModelInfo): string {
  const h = crypto.createHash('sha256');
  for (const f of [info.onnxPath, ...info.external.map((e) => e.path)]) h.update(fs.readFileSync(f));
  return h.digest('hex');
}

describe.each(SHAPES)('%s stand-in', (shape) => {
  const ref = llmReference(shape);

  it.each(VARIANTS)('%s: the engine gives the reference attention, on WebAssembly and natively', async (variant) => {
    const { folder, onnx } = made.get(`${shape}/${variant}`)!;
    const info = readModelFolder(folder, onnx);
    const r = ref.variants[variant];
    expect(path.relative(folder, info.onnxPath)).toBe(r.file);
    expect(digest(info), `the generator no longer makes the ${variant} files the reference was computed from: run node tools/real-size/llm-references.mjs`).toBe(r.sha256);
    const files = engineFiles(info);
    const engine = await AttentionEngine.create(ort, files.bytes, 'wasm', files.label, files.options);
    try {
      const { layers } = await allLayers(await engine.run({ ids: ref.ids }));
      const [L, H, n] = r.shape;
      expect(layers.map((l) => [l.name, l.heads, l.queries, l.keys])).toEqual(Array.from({ length: L }, (_, i) => [`attentions.${i}`, H, n, n]));
      const got = new Float32Array(L * H * n * n);
      layers.forEach((l, i) => got.set(l.data, i * H * n * n));
      expect(maxDifference(got, referenceAttention(r))).toBeLessThanOrEqual(TOLERANCE[variant]);
      const native = async (onnxPath: string) => {
        const { engine: e } = await openNativeEngine({ model: { ...nativeModel(info), onnxPath }, backend: 'native' });
        try {
          const out = (await e.run({ ids: ref.ids })).layers;
          expect(out.map((l) => l.name)).toEqual(layers.map((l) => l.name));
          const all = new Float32Array(L * H * n * n);
          out.forEach((l, i) => all.set(l.data, i * H * n * n));
          return all;
        } finally {
          await e.dispose();
        }
      };
      if (variant !== 'genai') {
        const gotNative = await native(info.onnxPath);
        expect(maxDifference(gotNative, referenceAttention(r))).toBeLessThanOrEqual(TOLERANCE[variant]);
        if (NATIVE_VS_WASM[variant]) expect(maxDifference(gotNative, got)).toBeLessThanOrEqual(NATIVE_VS_WASM[variant]);
      } else {
        // The same graph with accuracy_level 0 (float32 activations), beside the original to share its data.
        const m = proto.ModelProto.decode(fs.readFileSync(info.onnxPath));
        for (const node of m.graph!.node!) for (const a of node.attribute ?? []) if (a.name === 'accuracy_level') a.i = 0;
        const level0 = path.join(path.dirname(info.onnxPath), 'model_level0.onnx');
        fs.writeFileSync(level0, proto.ModelProto.encode(m).finish());
        const gotLevel0 = await native(level0);
        expect(maxDifference(gotLevel0, referenceAttention(r))).toBeLessThanOrEqual(TOLERANCE.genai);
        expect(maxDifference(gotLevel0, got)).toBeLessThanOrEqual(1e-5);
      }
    } finally {
      await engine.dispose();
    }
  });

  it('keeps the layouts apart: external data in chunks, the If of the merged decoder, GroupQueryAttention, quantized operators', () => {
    const info = (v: string) => readModelFolder(made.get(`${shape}/${v}`)!.folder, made.get(`${shape}/${v}`)!.onnx);
    const fp32 = info('fp32');
    const chunks = fp32.external.map((e) => e.location);
    expect(chunks.length).toBeGreaterThanOrEqual(2);
    expect(chunks).toEqual(chunks.map((_, i) => (i === 0 ? 'model.onnx_data' : `model.onnx_data_${i}`)));
    expect(fp32.notices).toEqual([]); // config.json announces exactly these chunks
    expect(fp32.footprint.externalBytes).toBeGreaterThan(0.9 * fp32.footprint.weightBytes);
    const genai = info('genai');
    expect(genai.external.map((e) => e.location)).toEqual(['model.onnx.data']);
    expect(genai.architecture).toMatch(/onnxruntime-genai/);
    expect(info('q4').footprint.quantization).toBe('4-bit');
    expect(info('quantized').footprint.quantization).toBe('8-bit');
    expect(info('bnb4').footprint.quantization).toBe('4-bit');
    expect(info('fp16').footprint.halfBytes).toBeGreaterThan(0.9 * info('fp16').footprint.weightBytes);
    // Gemma 3's exports count positions from 1.
    expect(fp32.firstPosition).toBe(shape === 'gemma-3-1b' ? 1 : 0);
    // The tolerances above discriminate: 4-bit weights move attention by far more than 1e-4.
    expect(maxDifference(referenceAttention(ref.variants.q4), referenceAttention(ref.variants.fp32))).toBeGreaterThan(100 * TOLERANCE.q4);
  });
});

describe('the CLI on the stand-ins', () => {
  it.each(SHAPES.flatMap((s) => [[s, 'fp32'], [s, 'genai']]))('%s %s: tokenizes like the reference and prints its attention', async (shape, variant) => {
    const ref = llmReference(shape);
    const { folder, onnx } = made.get(`${shape}/${variant}`)!;
    const want = referenceAttention(ref.variants[variant]);
    const backends = ['wasm', 'native'];
    const outs = await Promise.all(backends.map((backend) => inspectAsync(folder, ref.text, [...(variant === 'genai' ? [] : ['--onnx', onnx]), '--backend', backend])));
    for (const [i, backend] of backends.entries()) {
      const out = outs[i];
      expect(out.backend).toBe(backend);
      expect(out.tokens.map((t) => t.id)).toEqual(ref.ids);
      const got = Float32Array.from(out.attention.flatMap((a) => a.weights.flat(2)));
      // genai natively: int8 activations, as its accuracy_level asks (see NATIVE_VS_WASM).
      if (backend === 'wasm' || variant !== 'genai') expect(maxDifference(got, want)).toBeLessThanOrEqual(TOLERANCE[variant]);
      else expect(out.attention.every((a) => a.weights.every((h) => h.every((row) => Math.abs(row.reduce((x, y) => x + y, 0) - 1) < 1e-4)))).toBe(true);
    }
  });
});
