// Vision transformers (issue 26): the tiny ViT classifier of test/fixtures/models/vit-attn
// (tools/vision-fixtures/make_vit.py, a plain PyTorch module written as Hugging Face's
// ViTForImageClassification computes it) takes the pixel values its reference holds and returns
// PyTorch's attention (1e-4) and logits, on WebAssembly and native; a text input is refused.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-web';
import { beforeAll, describe, expect, it } from 'vitest';
import { AttentionEngine } from '../../src/core/engine/attentionEngine';
import { predictedLabels } from '../../src/core/classification';
import { engineFiles, readModelFolder } from '../../src/models/modelFolder';
import { nativeModel, openNativeEngine } from '../../src/native/nativeEngine';
import { FIXTURES } from './cli';

beforeAll(() => {
  ort.env.wasm.numThreads = 1;
  ort.env.logLevel = 'fatal';
});

const FOLDER = path.join(FIXTURES, 'models', 'vit-attn');
interface Reference { image: string; size: [number, number]; pixelValues: string; logits: number[]; attentions: number[][][][] }
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
