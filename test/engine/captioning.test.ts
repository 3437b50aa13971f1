// Image captioning (issue 26): the tiny ViT + GPT-2 captioner of test/fixtures/models/vit-gpt2-captioner
// (tools/vision-fixtures/make_captioner.py: plain PyTorch modules written as Hugging Face's
// VisionEncoderDecoderModel computes them, in Optimum's split layout, without attention outputs).
// On WebAssembly and native: the image is processed as the fixture's processor does it, the caption
// is PyTorch's greedy caption with the key/value cache and without it, each word's rows (its
// decoder self attention and its cross attention over the image's patches) are PyTorch's (1e-5),
// and one pass over the caption gives PyTorch's encoder, decoder and cross attention.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-web';
import { beforeAll, describe, expect, it } from 'vitest';
import { type RunInput, type RunOptions, allLayers } from '../../src/core/engine/attentionEngine';
import { openEngine } from '../../src/core/engine/splitEngine';
import { generate } from '../../src/core/generation/generate';
import { imageInput } from '../../src/models/imageInputs';
import { type ModelInfo, engineFiles, readModelFolder } from '../../src/models/modelFolder';
import { nativeModel, openNativeEngine } from '../../src/native/nativeEngine';
import { FIXTURES, runCli } from './cli';

beforeAll(() => {
  ort.env.wasm.numThreads = 1;
  ort.env.logLevel = 'fatal';
});

const FOLDER = path.join(FIXTURES, 'models', 'vit-gpt2-captioner');
type Rows = number[][][];
interface Reference {
  image: string;
  pixelValues: string;
  steps: Array<{ query: number; token: number; decoder: Rows; cross: Rows }>;
  full: { decoderIds: number[]; encoder: Rows[]; decoder: Rows[]; cross: Rows[] };
}
const references = JSON.parse(fs.readFileSync(path.join(FOLDER, 'reference.json'), 'utf8')) as Reference[];
const floats = (b64: string) => {
  const bytes = Buffer.from(b64, 'base64');
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
};
/** 4 × 4 patches of 8 pixels and the class token. */
const PATCHES = 17;

describe('a captioner’s folder', () => {
  it('is an image model with a tokenizer, split into an image encoder and text decoders, its text limits its decoder’s', () => {
    const info = readModelFolder(FOLDER);
    expect([info.architecture, info.encoderDecoder, info.causal, info.vision?.patchSize, info.maxPositions, info.layers, info.heads, info.vocabSize, info.decoderStartTokenId, info.eosTokenIds]).toEqual(['VisionEncoderDecoderModel', true, false, 8, 64, 2, 4, 3000, 0, [0]]);
    expect([info.onnxPath, info.decoders?.decoder, info.decoders?.withPast].map((f) => f && path.relative(FOLDER, f))).toEqual(['onnx/encoder_model.onnx', 'onnx/decoder_model.onnx', 'onnx/decoder_with_past_model.onnx']);
  });
});

describe.each([
  ['WebAssembly', (info: ModelInfo) => {
    const f = engineFiles(info);
    return openEngine(ort, f.bytes, 'wasm', f.label, f.options);
  }],
  ['native', async (info: ModelInfo) => (await openNativeEngine({ model: nativeModel(info), backend: 'native' })).engine],
] as const)('captioning on %s', (_name, open) => {
  it('writes PyTorch’s caption with the cache and without, each word’s rows PyTorch’s, and one pass PyTorch’s attention', async () => {
    const info = readModelFolder(FOLDER);
    const engine = await open(info);
    try {
      expect([engine.hasLogits, engine.hasPast]).toEqual([true, true]);
      for (const ref of references) {
        const image = await imageInput(info, path.join(FOLDER, ref.image));
        expect(Array.from(image.pixelValues.data)).toEqual(Array.from(floats(ref.pixelValues)));
        const fed: string[] = [];
        const counting = { hasLogits: true, hasPast: true, run: (i: RunInput, o?: RunOptions) => (fed.push(`${i.past ? 'past' : 'image'}+${i.decoderIds!.length}`), engine.run(i, o)) };
        const options = { maxNewTokens: ref.steps.length, eos: [], decoderStart: 0, pixelValues: image.pixelValues };
        const cached = await generate(counting, [], options);
        const rerun = await generate(engine, [], { ...options, rerun: true });
        expect(fed).toEqual(['image+1', ...ref.steps.slice(1).map(() => 'past+1')]);
        for (const run of [cached, rerun]) {
          expect(run.steps.map((s) => s.token)).toEqual(ref.steps.map((s) => s.token));
          for (const [i, s] of run.steps.entries()) {
            expect(s.attention.map((a) => `${a.kind}.${a.layer}:${a.keys}`)).toEqual(['decoder.0', 'decoder.1'].map((n) => `${n}:${s.query + 1}`).concat(['cross.0', 'cross.1'].map((n) => `${n}:${PATCHES}`)));
            let diff = 0;
            for (const a of s.attention) ref.steps[i][a.kind as 'decoder' | 'cross'][a.layer].forEach((row, h) => row.forEach((w, k) => (diff = Math.max(diff, Math.abs(a.weights[h * a.keys + k] - w)))));
            expect(diff).toBeLessThanOrEqual(1e-5);
          }
        }
        const { layers } = await allLayers(await engine.run({ ids: [], pixelValues: image.pixelValues, decoderIds: ref.full.decoderIds }));
        const d = ref.full.decoderIds.length;
        expect(layers.map((l) => `${l.name}[${l.queries}×${l.keys}]`)).toEqual([`encoder_attentions.0[${PATCHES}×${PATCHES}]`, `encoder_attentions.1[${PATCHES}×${PATCHES}]`, `decoder_attentions.0[${d}×${d}]`, `decoder_attentions.1[${d}×${d}]`, `cross_attentions.0[${d}×${PATCHES}]`, `cross_attentions.1[${d}×${PATCHES}]`]);
        let diff = 0;
        for (const l of layers) ref.full[l.kind as 'encoder' | 'decoder' | 'cross'][l.layer].forEach((head, h) => head.forEach((row, q) => row.forEach((w, k) => (diff = Math.max(diff, Math.abs(l.data[(h * l.queries + q) * l.keys + k] - w))))));
        expect(diff).toBeLessThanOrEqual(1e-5);
      }
    } finally {
      await engine.dispose();
    }
  });
});

describe('a captioner with a merged decoder (decoder_model_merged.onnx alone, as tools/kv-fixtures/merge_decoders.py makes it from the two)', () => {
  it('runs the branch without a past: the same caption and rows, the sequence run again each step', async () => {
    const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'attention-lens-merged-'));
    try {
      fs.cpSync(FOLDER, folder, { recursive: true });
      for (const f of ['decoder_model.onnx', 'decoder_with_past_model.onnx']) fs.rmSync(path.join(folder, 'onnx', f));
      const info = readModelFolder(folder);
      expect([info.decoders?.decoder && path.basename(info.decoders.decoder), info.decoders?.withPast]).toEqual(['decoder_model_merged.onnx', undefined]);
      const f = engineFiles(info);
      const engine = await openEngine(ort, f.bytes, 'wasm', f.label, f.options);
      try {
        expect(engine.hasPast).toBe(false);
        const ref = references[0];
        const image = await imageInput(info, path.join(folder, ref.image));
        const { steps } = await generate(engine, [], { maxNewTokens: ref.steps.length, eos: [], decoderStart: 0, pixelValues: image.pixelValues });
        expect(steps.map((s) => s.token)).toEqual(ref.steps.map((s) => s.token));
        let diff = 0;
        for (const [i, s] of steps.entries()) for (const a of s.attention) ref.steps[i][a.kind as 'decoder' | 'cross'][a.layer].forEach((row, h) => row.forEach((w, k) => (diff = Math.max(diff, Math.abs(a.weights[h * a.keys + k] - w)))));
        expect(diff).toBeLessThanOrEqual(1e-5);
      } finally {
        await engine.dispose();
      }
    } finally {
      fs.rmSync(folder, { recursive: true, force: true });
    }
  });
});

describe('attention-lens generate --image', () => {
  it('captions the image: the caption PyTorch writes, the patches as the source with their boxes, each word’s cross-attention row over them', () => {
    const ref = references[1];
    const r = runCli(['generate', '--model', FOLDER, '--image', path.join(FOLDER, ref.image), '--max-new-tokens', String(ref.steps.length), '--json', '--backend', 'wasm']);
    expect(r.stderr).toBe('');
    const doc = JSON.parse(r.stdout) as {
      image: { file: string; width: number; height: number }; pixelValues: { shape: number[]; sha256: string };
      sourceTokens: Array<{ text: string; special: boolean; patch?: { row: number; col: number; x: number; y: number; width: number; height: number } }>;
      steps: Array<{ token: { id: number }; attention: Array<{ kind: string; layer: number; keys: number; weights: number[][] }> }>;
    };
    expect([doc.image.width, doc.image.height, doc.pixelValues.shape]).toEqual([70, 45, [1, 3, 32, 32]]);
    expect(doc.pixelValues.sha256).toBe(crypto.createHash('sha256').update(Buffer.from(ref.pixelValues, 'base64')).digest('hex'));
    expect(doc.sourceTokens.length).toBe(PATCHES);
    expect(doc.sourceTokens[0]).toMatchObject({ text: '[CLS]', special: true });
    // Patch 1,2 of a 70 × 45 image squeezed to 32 × 32: 8-pixel patches are 17.5 × 11.25 pixels of the original.
    expect(doc.sourceTokens[7]).toMatchObject({ text: 'patch 1,2', patch: { row: 1, col: 2, x: 35, y: 11.25, width: 17.5, height: 11.25 } });
    expect(doc.steps.map((s) => s.token.id)).toEqual(ref.steps.map((s) => s.token));
    let diff = 0;
    doc.steps.forEach((s, i) => s.attention.filter((a) => a.kind === 'cross').forEach((a) => a.weights.forEach((row, h) => row.forEach((w, k) => (diff = Math.max(diff, Math.abs(w - ref.steps[i].cross[a.layer][h][k])))))));
    expect(diff).toBeLessThanOrEqual(1e-5);
  });

  it('refuses a model that does not caption, and tells inspect to leave captioning to generate', () => {
    const classifier = runCli(['generate', '--model', path.join(FIXTURES, 'models', 'vit-attn'), '--image', path.join(FOLDER, 'photo.jpg')]);
    expect([classifier.status, classifier.stderr.trim()]).toEqual([1, expect.stringMatching(/^attention-lens: vit-attn \(ViTForImageClassification\) does not caption images: .* use attention-lens inspect --image\.$/)]);
    const inspect = runCli(['inspect', '--model', FOLDER, '--image', path.join(FOLDER, 'photo.jpg')]);
    expect([inspect.status, inspect.stderr.trim()]).toEqual([1, expect.stringMatching(/is an image captioner: .* Run attention-lens generate --model .* --image <file>\.$/)]);
    const both = runCli(['generate', '--model', FOLDER, '--image', path.join(FOLDER, 'photo.jpg'), '--text', 'a']);
    expect(both.stderr).toMatch(/give one of --text, --text-file and --image/);
  });
});
