import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { formatBytes } from '../../src/core/units';
import { buildCatalog, describeFolder } from '../../src/models/modelCatalog';
import { findOnnxFiles, readModelFolder } from '../../src/models/modelFolder';
import { resolveModel } from '../../src/models/modelRegistry';

const FIX = path.resolve(__dirname, '../fixtures/models');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'attention-lens-catalog-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('model catalogue', () => {
  it('describes a model folder with architecture, shape and size', () => {
    expect(describeFolder(path.join(FIX, 'bert-attn'))).toEqual({ description: expect.stringMatching(/^bert · 2 layers × 4 heads · \d+\.\d MB$/), usable: true });
    const notModel = path.join(tmp, 'empty');
    fs.mkdirSync(notModel);
    expect(describeFolder(notModel)).toEqual({ description: expect.stringMatching(/config\.json is missing/), usable: false });
  });

  it('lists every source once, in order, and finds downloaded models', () => {
    const dl = path.join(tmp, 'hub');
    fs.mkdirSync(path.join(dl, 'org--tiny'), { recursive: true });
    fs.cpSync(path.join(FIX, 'gpt2-plain'), path.join(dl, 'org--tiny', 'refs--pr--2'), { recursive: true });
    const bundled = [{ id: 'bundled:x', label: 'X', folder: path.join(FIX, 'gpt2-attn'), bundled: true }];
    const c = buildCatalog({ bundled, added: [path.join(FIX, 'bert-attn'), path.join(FIX, 'gpt2-attn')], settings: [path.join(FIX, 'llama-attn')], downloadRoot: dl, hfCacheRoot: path.join(tmp, 'none') });
    expect(c.map((e) => [e.source, e.entry.label])).toEqual([['bundled', 'X'], ['added', 'bert-attn'], ['settings', 'llama-attn'], ['downloaded', 'org/tiny@refs/pr/2']]);
    expect(c[0].description).toMatch(/^gpt2/);
    // A download in progress is not a model.
    fs.mkdirSync(path.join(dl, '.partial', 'org--tiny', 'main'), { recursive: true });
    expect(buildCatalog({ bundled: [], added: [], settings: [], downloadRoot: dl, hfCacheRoot: path.join(tmp, 'none') }).map((e) => e.entry.label)).toEqual(['org/tiny@refs/pr/2']);
  });

  it('writes sizes for people', () => {
    expect(formatBytes(1.44e9)).toBe('1.4 GB');
    expect(formatBytes(12.34e6)).toBe('12.3 MB');
  });

  it('resolves the model setting', () => {
    const bundled = [{ id: 'bundled:a', label: 'A', folder: '/a', bundled: true }];
    expect(resolveModel('', bundled).id).toBe('bundled:a');
    expect(resolveModel('/models/x', bundled).folder).toBe('/models/x');
    expect(() => resolveModel('bundled:zzz', bundled)).toThrow(/not a bundled model/);
    expect(() => resolveModel('relative/path', bundled)).toThrow(/absolute path/);
    // An ONNX file names a variant: its folder is the one above onnx/.
    expect(resolveModel('/models/qwen/onnx/model_q4.onnx', bundled)).toMatchObject({ folder: '/models/qwen', onnxFile: path.join('onnx', 'model_q4.onnx'), label: 'qwen (model_q4.onnx)' });
    expect(resolveModel('/models/phi-genai/model.onnx', bundled)).toMatchObject({ folder: '/models/phi-genai', onnxFile: 'model.onnx' });
  });
});

describe('position limits', () => {
  /** A model folder with these config.json and tokenizer_config.json fields (the ONNX file is a stand-in). */
  function folder(name: string, config: object, tokConfig?: object): string {
    const dir = path.join(tmp, name);
    fs.mkdirSync(path.join(dir, 'onnx'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
    fs.writeFileSync(path.join(dir, 'tokenizer.json'), '{}');
    fs.writeFileSync(path.join(dir, 'onnx/model.onnx'), 'x');
    if (tokConfig) fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify(tokConfig));
    return dir;
  }

  it('leaves out the positions RoBERTa-style models reserve for padding', () => {
    expect(readModelFolder(folder('roberta', { model_type: 'roberta', max_position_embeddings: 514, pad_token_id: 1 })).maxPositions).toBe(512);
    expect(readModelFolder(folder('xlmr', { model_type: 'xlm-roberta', max_position_embeddings: 514 })).maxPositions).toBe(512);
    expect(readModelFolder(folder('bert', { model_type: 'bert', max_position_embeddings: 512, pad_token_id: 0 })).maxPositions).toBe(512);
  });

  it('takes the tokenizer’s model_max_length when it is a real, smaller limit', () => {
    expect(readModelFolder(folder('small-tok', { model_type: 'gpt2', n_positions: 1024 }, { model_max_length: 256 })).maxPositions).toBe(256);
    expect(readModelFolder(folder('sentinel', { model_type: 'gpt2', n_positions: 1024 }, { model_max_length: 1e30 })).maxPositions).toBe(1024);
    expect(readModelFolder(folder('only-tok', { model_type: 't5' }, { model_max_length: 512 })).maxPositions).toBe(512);
    expect(readModelFolder(folder('nothing', { model_type: 'mystery' })).maxPositions).toBe(512);
  });
});

describe('model folder messages', () => {
  const base = () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'msg-'));
    fs.mkdirSync(path.join(dir, 'onnx'));
    fs.writeFileSync(path.join(dir, 'tokenizer.json'), '{}');
    fs.writeFileSync(path.join(dir, 'onnx/model.onnx'), 'x');
    return dir;
  };

  it('says a config.json is too large rather than missing', () => {
    const dir = base();
    fs.writeFileSync(path.join(dir, 'config.json'), Buffer.alloc(17 * 1024 * 1024, 32));
    expect(() => readModelFolder(dir)).toThrow(/config\.json is 18 MB, too large to be a configuration file/);
  });

  it('says a config.json link loops, and that a missing one does not exist', () => {
    const dir = base();
    fs.symlinkSync('config.json', path.join(dir, 'config.json'));
    expect(() => readModelFolder(dir)).toThrow(/config\.json is a symbolic link that loops/);
    expect(() => readModelFolder(base())).toThrow(/config\.json is missing: .* does not exist/);
  });

  it('says which other file of the folder is a looping or dangling link, not that it is missing', () => {
    const loop = base();
    fs.writeFileSync(path.join(loop, 'config.json'), '{}');
    fs.rmSync(path.join(loop, 'tokenizer.json'));
    fs.symlinkSync('tokenizer.json', path.join(loop, 'tokenizer.json'));
    expect(() => readModelFolder(loop)).toThrow(/tokenizer\.json is a symbolic link that loops/);
    const dangling = base();
    fs.writeFileSync(path.join(dangling, 'config.json'), '{}');
    const onnx = path.join(dangling, 'onnx', 'model.onnx');
    fs.rmSync(onnx);
    fs.symlinkSync('../blobs/0123abcd', onnx); // a Hugging Face cache whose blob was deleted
    expect(() => readModelFolder(dangling)).toThrow(/onnx\/model\.onnx is a symbolic link to a file that does not exist: .* → \.\.\/blobs\/0123abcd/);
  });
});

describe('split encoder-decoder exports (Optimum’s layout)', () => {
  /** A copy of the split T5 fixture in `name`, with its ONNX files renamed by `rename` (undefined: left out). */
  function splitFolder(name: string, rename: (file: string) => string | undefined = (f) => f): string {
    const folder = path.join(tmp, name);
    fs.mkdirSync(path.join(folder, 'onnx'), { recursive: true });
    for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json']) fs.copyFileSync(path.join(FIX, 't5-split', f), path.join(folder, f));
    for (const f of fs.readdirSync(path.join(FIX, 't5-split', 'onnx'))) {
      const to = rename(f);
      if (to) fs.copyFileSync(path.join(FIX, 't5-split', 'onnx', f), path.join(folder, 'onnx', to));
    }
    return folder;
  }
  const names = (info: ReturnType<typeof readModelFolder>) => [info.onnxPath, info.decoders?.decoder, info.decoders?.withPast].map((f) => f && path.relative(info.folder, f));

  it('opens the encoder with its decoders, and offers each variant once, by its encoder', () => {
    const folder = splitFolder('variants', (f) => f);
    for (const f of fs.readdirSync(path.join(folder, 'onnx'))) fs.copyFileSync(path.join(folder, 'onnx', f), path.join(folder, 'onnx', f.replace('.onnx', '_quantized.onnx')));
    expect(findOnnxFiles(folder)).toEqual(['onnx/encoder_model.onnx', 'onnx/encoder_model_quantized.onnx']);
    // A variant chosen by any of its parts opens the whole set, with the same suffix.
    expect(names(readModelFolder(folder, 'onnx/decoder_model_quantized.onnx'))).toEqual(['onnx/encoder_model_quantized.onnx', 'onnx/decoder_model_quantized.onnx', 'onnx/decoder_with_past_model_quantized.onnx']);
    const info = readModelFolder(folder, 'onnx/encoder_model.onnx');
    expect(names(info)).toEqual(['onnx/encoder_model.onnx', 'onnx/decoder_model.onnx', 'onnx/decoder_with_past_model.onnx']);
    // Every file counts in the size: the encoder's alone would let a model past the limits.
    const sizes = ['encoder_model', 'decoder_model', 'decoder_with_past_model'].map((f) => fs.statSync(path.join(folder, 'onnx', `${f}.onnx`)).size);
    expect(info.onnxBytes).toBe(sizes.reduce((a, b) => a + b, 0));
    expect(info.footprint.protoBytes).toBe(info.onnxBytes);
  });

  it('takes a merged decoder when there is no decoder_model.onnx (it re-runs: no with-past decoder)', () => {
    const folder = splitFolder('merged', (f) => (f === 'decoder_model.onnx' ? 'decoder_model_merged.onnx' : f === 'decoder_with_past_model.onnx' ? undefined : f));
    expect(names(readModelFolder(folder))).toEqual(['onnx/encoder_model.onnx', 'onnx/decoder_model_merged.onnx', undefined]);
  });

  it('names the missing part of a set: a decoder without its encoder, an encoder without a decoder', () => {
    const noEncoder = splitFolder('no-encoder', (f) => (f === 'encoder_model.onnx' ? undefined : f));
    expect(() => readModelFolder(noEncoder, 'onnx/decoder_model.onnx')).toThrow(/onnx\/decoder_model\.onnx is one part of a split encoder-decoder export, and .* lacks the rest: it needs onnx\/encoder_model\.onnx with onnx\/decoder_model\.onnx/);
    const noDecoder = splitFolder('no-decoder', (f) => (f === 'encoder_model.onnx' ? f : undefined));
    expect(() => readModelFolder(noDecoder)).toThrow(/onnx\/encoder_model\.onnx is one part of a split encoder-decoder export/);
  });

  it('leaves a decoder-only model’s decoder_model_merged.onnx a model of its own', () => {
    const folder = path.join(tmp, 'gpt2-merged');
    fs.cpSync(path.join(FIX, 'gpt2-attn'), folder, { recursive: true });
    fs.renameSync(path.join(folder, 'onnx', 'model.onnx'), path.join(folder, 'onnx', 'decoder_model_merged.onnx'));
    const info = readModelFolder(folder);
    expect([path.relative(folder, info.onnxPath), info.decoders]).toEqual(['onnx/decoder_model_merged.onnx', undefined]);
  });
});
