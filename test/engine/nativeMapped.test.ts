// The native engine reads a single-file model's graph and lets onnxruntime map its weights from
// the file (nativeEngine.ts, onnxSkeleton.ts): the attention is what the model gives when read
// whole, and a file rewritten in place under an open session is refused before a run, which
// would otherwise end the process at the first read past the file's new end.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AttentionEngine } from '../../src/core/engine/attentionEngine';
import { loadNativeOrt, nativeModel, openNativeEngine } from '../../src/native/nativeEngine';
import { readModelFolder } from '../../src/models/modelFolder';
import { FIXTURES } from './cli';
import { bytesSource } from '../../src/core/engine/onnxScan';
import { skeletonModel } from '../../src/core/engine/onnxSkeleton';
import { N, skeletonCaseModel, skeletonCaseOutput, values } from '../skeletonCases';

const IDS = [2, 17, 431, 88, 1203, 17, 952, 3];
const folder = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'attention-lens-mapped-')), 'gpt2-plain');
fs.cpSync(path.join(FIXTURES, 'models/gpt2-plain'), folder, { recursive: true });
const onnx = path.join(folder, 'onnx/model.onnx');
const original = fs.readFileSync(onnx);
afterAll(() => fs.rmSync(path.dirname(folder), { recursive: true, force: true }));

describe('a single-file model on the native engine', () => {
  it('gives the attention of the model read whole, and refuses to run once its file is rewritten in place', async () => {
    const open = () => openNativeEngine({ model: nativeModel(readModelFolder(folder)), backend: 'native' });
    const { engine } = await open();
    const mapped = await engine.run({ ids: IDS });
    // The same graph surgery on the whole file's bytes, in memory: the same weights, bit for bit.
    const whole = await AttentionEngine.create(loadNativeOrt(), new Uint8Array(original), 'native', 'onnx/model.onnx');
    const inMemory = await whole.run({ ids: IDS });
    await whole.dispose();
    expect(mapped.layers.map((l) => l.name)).toEqual(inMemory.layers.map((l) => l.name));
    mapped.layers.forEach((l, i) => expect(Buffer.from(l.data.buffer).equals(Buffer.from(inMemory.layers[i].data.buffer))).toBe(true));

    // Copied over in place (the same file, shorter): refused, and this process goes on.
    fs.writeFileSync(onnx, original.subarray(0, 4096));
    await expect(engine.run({ ids: IDS })).rejects.toThrow(/model\.onnx changed on disk since the model was opened .* Run again/);
    // Put back: still not the file the session mapped; opened afresh, it runs as before.
    fs.writeFileSync(onnx, original);
    await expect(engine.run({ ids: IDS })).rejects.toThrow(/changed on disk/);
    await engine.dispose();
    const again = await open();
    const rerun = await again.engine.run({ ids: IDS });
    rerun.layers.forEach((l, i) => expect(Buffer.from(l.data.buffer).equals(Buffer.from(mapped.layers[i].data.buffer))).toBe(true));
    await again.engine.dispose();
  });

  it('follows a link to a blob, as in the Hugging Face cache: the blob is mapped, and a blob rewritten in place is refused', async () => {
    const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'attention-lens-linked-'));
    try {
      const blob = path.join(cache, 'blobs', '0123abcd');
      fs.mkdirSync(path.dirname(blob), { recursive: true });
      fs.writeFileSync(blob, original);
      const snapshot = path.join(cache, 'snapshots', 'main');
      fs.cpSync(folder, snapshot, { recursive: true });
      fs.rmSync(path.join(snapshot, 'onnx/model.onnx'));
      fs.symlinkSync(path.relative(path.join(snapshot, 'onnx'), blob), path.join(snapshot, 'onnx/model.onnx'));
      const { engine } = await openNativeEngine({ model: nativeModel(readModelFolder(snapshot)), backend: 'native' });
      const linked = await engine.run({ ids: IDS });
      const { engine: plain } = await openNativeEngine({ model: nativeModel(readModelFolder(folder)), backend: 'native' });
      const direct = await plain.run({ ids: IDS });
      await plain.dispose();
      linked.layers.forEach((l, i) => expect(Buffer.from(l.data.buffer).equals(Buffer.from(direct.layers[i].data.buffer))).toBe(true));
      fs.writeFileSync(blob, original.subarray(0, 4096));
      await expect(engine.run({ ids: IDS })).rejects.toThrow(/0123abcd changed on disk/);
      await engine.dispose();
    } finally {
      fs.rmSync(cache, { recursive: true, force: true });
    }
  });

  it('reads weights from every place a file holds them: the skeleton runs as the whole file does (typed fields, a sparse initializer, a branch\'s initializer)', async () => {
    const ort = loadNativeOrt();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'attention-lens-skeleton-'));
    try {
      const bytes = skeletonCaseModel();
      fs.writeFileSync(path.join(dir, 'model.onnx'), bytes);
      const skeleton = skeletonModel(bytesSource(bytes), 'model.onnx')!;
      expect(skeleton.tensors).toBe(1);
      const whole = await ort.InferenceSession.create(bytes);
      const mapped = await ort.InferenceSession.create(skeleton.bytes, { extra: { session: { model_external_initializers_file_folder_path: dir } } });
      try {
        const x = values(7);
        for (const cond of [true, false]) {
          const feeds = { x: new ort.Tensor('float32', x, [N]), cond: new ort.Tensor('bool', Uint8Array.of(cond ? 1 : 0), []) };
          const [a, b] = [await whole.run(feeds), await mapped.run(feeds)];
          const expected = skeletonCaseOutput(x, cond);
          expect(Buffer.from((a.y.data as Float32Array).buffer).equals(Buffer.from(expected.buffer))).toBe(true);
          expect(Buffer.from((b.y.data as Float32Array).buffer).equals(Buffer.from(expected.buffer))).toBe(true);
        }
      } finally {
        await whole.release();
        await mapped.release();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
