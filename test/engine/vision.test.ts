// Vision transformers (issue 26): the tiny ViT classifier of test/fixtures/models/vit-attn
// (tools/vision-fixtures/make_vit.py, a plain PyTorch module written as Hugging Face's
// ViTForImageClassification computes it) takes the pixel values its reference holds and returns
// PyTorch's attention (1e-4) and logits, on WebAssembly and native; a text input is refused.
// Through the CLI, an image file is processed as ViTImageProcessor does (the reference's pixel
// values, made with PIL and numpy, bit for bit), and bad images and folders are named.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { unzipSync } from 'fflate';
import { GifWriter } from 'omggif';
import * as ort from 'onnxruntime-web';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AttentionEngine } from '../../src/core/engine/attentionEngine';
import { predictedLabels } from '../../src/core/classification';
import { engineFiles, readModelFolder } from '../../src/models/modelFolder';
import { nativeModel, openNativeEngine } from '../../src/native/nativeEngine';
import { FIXTURES, runCli } from './cli';
import { fixtureFolder } from './sdpaStyle';
import { readNpy } from '../npy';

beforeAll(() => {
  ort.env.wasm.numThreads = 1;
  ort.env.logLevel = 'fatal';
});

const FOLDER = path.join(FIXTURES, 'models', 'vit-attn');
interface Reference { image: string; size: [number, number]; pixelValues: string; logits: number[]; attentions: number[][][][]; rollout: number[][]; rolloutMaxDiscard: number[][]; meanDistance: number[][] }
const references = JSON.parse(fs.readFileSync(path.join(FOLDER, 'reference.json'), 'utf8')) as Reference[];
const floats = (b64: string) => {
  const bytes = Buffer.from(b64, 'base64');
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
};

describe.each([
  ['WebAssembly', async () => {
    const f = engineFiles(readModelFolder(FOLDER));
    return AttentionEngine.create(ort, f.bytes, 'wasm', f.label, f.options);
  }],
  ['native', async () => (await openNativeEngine({ model: nativeModel(readModelFolder(FOLDER)), backend: 'native' })).engine],
] as const)('a ViT classifier on %s', (_name, open) => {
  it('returns PyTorch’s attention and prediction for the pixel values', async () => {
    const engine = await open();
    try {
      for (const ref of references) {
        const out = await engine.run({ ids: [], pixelValues: { data: floats(ref.pixelValues), dims: [1, 3, 32, 32] } }, { logits: 'last' });
        expect(out.layers.map((l) => [l.name, l.kind, l.heads, l.queries, l.keys])).toEqual([['attentions.0', 'self', 4, 17, 17], ['attentions.1', 'self', 4, 17, 17]]);
        let diff = 0;
        out.layers.forEach((l, i) => ref.attentions[i].flat(2).forEach((w, j) => (diff = Math.max(diff, Math.abs(l.data[j] - w)))));
        expect(diff).toBeLessThanOrEqual(1e-4);
        const labels = readModelFolder(FOLDER).labels!;
        const best = ref.logits.indexOf(Math.max(...ref.logits));
        expect(predictedLabels(out.logits, labels)![0].label).toBe(labels[best]);
      }
      await expect(engine.run({ ids: [1, 2, 3] })).rejects.toThrow(/image model: it takes an image, not text/);
    } finally {
      await engine.dispose();
    }
  });
});

describe('inspect --image', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'attention-lens-vision-'));
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
  type Doc = { image: { width: number; height: number }; pixelValues: { shape: number[]; sha256: string }; tokens: Array<{ text: string; special: boolean; patch?: { row: number; col: number; x: number; y: number; width: number; height: number } }>; attention: Array<{ weights: number[][][] }>; prediction: Array<{ label: string }> };

  it.each(references.map((r) => r.image))('%s: the processor’s pixel values (PIL’s), PyTorch’s attention, patches with boxes in the image', (name) => {
    const ref = references.find((r) => r.image === name)!;
    const r = runCli(['inspect', '--model', FOLDER, '--image', path.join(FOLDER, name), '--json']);
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout) as Doc;
    // The tensor the model received is the reference's, bit for bit.
    expect(out.pixelValues).toEqual({ shape: [1, 3, 32, 32], sha256: crypto.createHash('sha256').update(Buffer.from(ref.pixelValues, 'base64')).digest('hex') });
    expect(out.image).toEqual({ file: path.join(FOLDER, name), width: ref.size[0], height: ref.size[1] });
    let diff = 0;
    out.attention.forEach((a, l) => a.weights.flat(2).forEach((w, i) => (diff = Math.max(diff, Math.abs(w - ref.attentions[l].flat(2)[i])))));
    expect(diff).toBeLessThanOrEqual(1e-4);
    expect(out.tokens[0]).toMatchObject({ text: '[CLS]', special: true });
    expect(out.tokens).toHaveLength(17);
    // Patch (1, 2) of the 4 × 4 grid on the 32 × 32 resize: x from 16 of 32, y from 8 of 32, in the original's pixels.
    const [w, h] = ref.size;
    expect(out.tokens[1 + 4 + 2]).toMatchObject({ text: 'patch 1,2', special: false, patch: { row: 1, col: 2, x: (16 * w) / 32, y: (8 * h) / 32, width: (8 * w) / 32, height: (8 * h) / 32 } });
    const best = ref.logits.indexOf(Math.max(...ref.logits));
    expect(out.prediction[0].label).toBe(readModelFolder(FOLDER).labels![best]);
  });

  it('gives each head’s mean attention distance in pixels, and the rollout, as an independent computation does', () => {
    const ref = references[0];
    const image = path.join(FOLDER, ref.image);
    const r = runCli(['inspect', '--model', FOLDER, '--image', image, '--json', '--stats']);
    const heads = (JSON.parse(r.stdout) as { heads: Array<{ layer: number; head: number; pixelDistance: number; labels: string[] }> }).heads;
    expect(heads).toHaveLength(8);
    for (const h of heads) expect(Math.abs(h.pixelDistance - ref.meanDistance[h.layer][h.head])).toBeLessThan(1e-4);
    // A text model's heads have none.
    const text = runCli(['inspect', '--model', path.join(FIXTURES, 'models/gpt2-attn'), '--text', 'The cat sat.', '--json', '--stats']);
    expect((JSON.parse(text.stdout) as { heads: Array<{ pixelDistance: number | null }> }).heads.every((h) => h.pixelDistance === null)).toBe(true);
    const rolled = runCli(['inspect', '--model', FOLDER, '--image', image, '--json', '--aggregate', 'rollout']);
    const last = (JSON.parse(rolled.stdout) as { attention: Array<{ name: string; weights: number[][][] }> }).attention.at(-1)!;
    expect(last.name).toBe('rollout(attentions.1)');
    let diff = 0;
    last.weights[0].forEach((row, q) => row.forEach((w, k) => (diff = Math.max(diff, Math.abs(w - ref.rollout[q][k])))));
    expect(diff).toBeLessThan(1e-4);
    // vit-explain's choices: the heads' max, the lowest half of each layer discarded.
    const fused = runCli(['inspect', '--model', FOLDER, '--image', image, '--json', '--aggregate', 'rollout', '--rollout-fusion', 'max', '--rollout-discard', '0.5']);
    const maxLast = (JSON.parse(fused.stdout) as { attention: Array<{ weights: number[][][] }> }).attention.at(-1)!;
    diff = 0;
    maxLast.weights[0].forEach((row, q) => row.forEach((w, k) => (diff = Math.max(diff, Math.abs(w - ref.rolloutMaxDiscard[q][k])))));
    expect(diff).toBeLessThan(1e-4);
    expect(runCli(['inspect', '--model', FOLDER, '--image', image, '--rollout-fusion', 'max']).stderr).toMatch(/--rollout-fusion and --rollout-discard go with --aggregate rollout/);
  });

  it('exports the pixel values and each token’s patch to NumPy', () => {
    const ref = references[0];
    const file = path.join(tmp, 'run.npz');
    const r = runCli(['inspect', '--model', FOLDER, '--image', path.join(FOLDER, ref.image), '--export', file]);
    expect(r.status).toBe(0);
    const npz = unzipSync(fs.readFileSync(file));
    const pixels = readNpy(npz['pixel_values.npy']);
    expect(pixels.shape).toEqual([1, 3, 32, 32]);
    expect(Float32Array.from(pixels.values as number[])).toEqual(floats(ref.pixelValues));
    const patches = readNpy(npz['patches.npy']);
    expect(patches.shape).toEqual([17, 6]);
    expect((patches.values as number[]).slice(0, 12)).toEqual([-1, -1, -1, -1, -1, -1, 0, 0, 0, 0, ref.size[0] / 4, ref.size[1] / 4]);
    expect(readNpy(npz['attentions.npy']).shape).toEqual([2, 4, 17, 17]);
  });

  it('says what is wrong with a text model, a corrupt or huge image, an SVG, an animated GIF and a missing processor config', () => {
    const fail = (model: string, image: string) => {
      const r = runCli(['inspect', '--model', model, '--image', image]);
      expect(r.status).not.toBe(0);
      return r.stderr;
    };
    const png = path.join(FOLDER, 'landscape.png');
    expect(fail(path.join(FIXTURES, 'models/gpt2-attn'), png)).toMatch(/gpt2-attn is a text model \(gpt2\): it takes text, not an image/);
    const corrupt = path.join(tmp, 'corrupt.png');
    fs.writeFileSync(corrupt, fs.readFileSync(png).subarray(0, 200));
    expect(fail(FOLDER, corrupt)).toMatch(/corrupt\.png is a corrupt or truncated PNG/);
    // A 20,000 × 20,000 header: refused before anything is decoded.
    const huge = Buffer.from(fs.readFileSync(png));
    huge.writeUInt32BE(20000, 16);
    huge.writeUInt32BE(20000, 20);
    fs.writeFileSync(path.join(tmp, 'huge.png'), huge);
    expect(fail(FOLDER, path.join(tmp, 'huge.png'))).toMatch(/huge\.png is 20000 × 20000 pixels, too large: images up to 50 million pixels/);
    fs.writeFileSync(path.join(tmp, 'drawing.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
    expect(fail(FOLDER, path.join(tmp, 'drawing.svg'))).toMatch(/drawing\.svg is not an image Attention Lens can read: PNG, JPEG, WebP, BMP and GIF are \(SVG is not supported/);
    const noConfig = path.join(tmp, 'no-config');
    fs.cpSync(FOLDER, noConfig, { recursive: true });
    fs.rmSync(path.join(noConfig, 'preprocessor_config.json'));
    expect(fail(noConfig, png)).toMatch(/preprocessor_config\.json is missing in .*: an image model \(vit\) needs its image processor's settings/);
    const unknown = path.join(tmp, 'unknown-processor');
    fs.cpSync(FOLDER, unknown, { recursive: true });
    fs.writeFileSync(path.join(unknown, 'preprocessor_config.json'), JSON.stringify({ image_processor_type: 'SiglipImageProcessor' }));
    expect(fail(unknown, png)).toMatch(/unknown-processor\/preprocessor_config\.json: .*SiglipImageProcessor/);
    // An animated GIF: its first frame, said.
    const gif = new Uint8Array(4096);
    const writer = new GifWriter(gif, 4, 4, { palette: [0x000000, 0xff0000, 0x00ff00, 0xffffff], loop: 0 });
    writer.addFrame(0, 0, 4, 4, new Array(16).fill(1));
    writer.addFrame(0, 0, 4, 4, new Array(16).fill(2));
    fs.writeFileSync(path.join(tmp, 'anim.gif'), gif.subarray(0, writer.end()));
    const r = runCli(['inspect', '--model', FOLDER, '--image', path.join(tmp, 'anim.gif'), '--json']);
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/anim\.gif is animated \(2 frames\): its first frame is used\./);
  });
});

describe('a ViT exported with SDPA attention (no attention outputs: found by graph surgery)', () => {
  it('gives PyTorch’s attention for every fixture image', () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'attention-lens-vit-sdpa-'));
    try {
      const folder = fixtureFolder('vit-attn sdpa-form', tmp);
      for (const ref of references) {
        const r = runCli(['inspect', '--model', folder, '--image', path.join(FOLDER, ref.image), '--json', '--backend', 'wasm']);
        expect(r.status).toBe(0);
        const out = JSON.parse(r.stdout) as { attention: Array<{ name: string; weights: number[][][] }> };
        expect(out.attention.map((a) => a.name)).toEqual(['attentions.0', 'attentions.1']);
        let diff = 0;
        out.attention.forEach((a, l) => a.weights.forEach((head, h) => head.forEach((row, q) => row.forEach((w, k) => (diff = Math.max(diff, Math.abs(w - ref.attentions[l][h][q][k])))))));
        expect(diff).toBeLessThanOrEqual(1e-4);
      }
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});

describe('compare --image: two image models on one image', () => {
  const PATCH16 = path.join(FIXTURES, 'models', 'vit-patch16');
  const image = path.join(FOLDER, 'landscape.png');
  type Heads = number[][][];

  it('meets at the coarser grid: A − B is the 4 × 4 model’s rows pooled into the 2 × 2 model’s patches, minus the 2 × 2 model’s, from PyTorch’s weights', () => {
    const r = runCli(['compare', '--model', FOLDER, '--model', PATCH16, '--image', image, '--json', '--diff', '--backend', 'wasm']);
    expect(r.status).toBe(0);
    const doc = JSON.parse(r.stdout) as { alignment: { kind: string; units: unknown }; layers: Array<{ layerA: number; layerB: number; diff: Heads }> };
    expect(doc.alignment.kind).toBe('areas');
    const a = references.find((x) => x.image === 'landscape.png')!.attentions;
    const b = (JSON.parse(fs.readFileSync(path.join(PATCH16, 'reference.json'), 'utf8')) as { attentions: Heads[] }).attentions;
    // Token t ≥ 1 of the 4 × 4 grid is patch (r, c) = ((t−1)/4, (t−1)%4); it lies in area (r/2, c/2) of the 2 × 2 grid, token 1 + 2·(r/2) + c/2.
    const area = (t: number) => Math.floor((t - 1) / 8) * 2 + Math.floor(((t - 1) % 4) / 2);
    const patchesIn = (u: number) => Array.from({ length: 16 }, (_, i) => i + 1).filter((t) => area(t) === u);
    // An area's row: the mean of its patches' rows, each key area the sum of its patches' weights, renormalised over the areas.
    const pooled = (rows: number[][]) => [0, 1, 2, 3].map((u) => {
      const sums = [0, 1, 2, 3].map((v) => patchesIn(u).reduce((s, q) => s + patchesIn(v).reduce((x, k) => x + rows[q][k], 0), 0) / patchesIn(u).length);
      const total = sums.reduce((x, y) => x + y, 0);
      return sums.map((x) => x / total);
    });
    const own = (rows: number[][]) => [1, 2, 3, 4].map((q) => {
      const total = [1, 2, 3, 4].reduce((s, k) => s + rows[q][k], 0);
      return [1, 2, 3, 4].map((k) => rows[q][k] / total);
    });
    let diff = 0;
    for (const l of doc.layers) {
      expect(l.diff.length).toBe(4);
      l.diff.forEach((head, h) => {
        const expected = pooled(a[l.layerA][h]).map((row, q) => row.map((w, k) => w - own(b[l.layerB][h])[q][k]));
        head.forEach((row, q) => row.forEach((w, k) => (diff = Math.max(diff, Math.abs(w - expected[q][k])))));
      });
    }
    expect(diff).toBeLessThanOrEqual(1e-4);
  });

  it('pairs patch with patch on the same grid, and refuses text flags and a captioner', () => {
    const same = runCli(['compare', '--model', FOLDER, '--model', FOLDER, '--image', image]);
    expect(same.stdout).toMatch(/^alignment: patches: both models cut the image into the same 16 patches/);
    expect(runCli(['compare', '--model', FOLDER, '--model', PATCH16, '--image', image, '--text', 'x']).stderr).toMatch(/--image compares two models \(two --model\) on one image, without --text/);
    const captioner = runCli(['compare', '--model', FOLDER, '--model', path.join(FIXTURES, 'models', 'vit-gpt2-captioner'), '--image', image]);
    expect(captioner.stderr).toMatch(/model B .* is an image captioner/);
  });
});
